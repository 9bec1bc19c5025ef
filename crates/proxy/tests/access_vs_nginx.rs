//! Differential tests of the preaccess and access phases against a running
//! nginx: auth_basic (every htpasswd scheme, realms, `off`, satisfy,
//! error pages), auth_request (the subrequest's status, WWW-Authenticate
//! and `auth_request_set` reaching the backend), limit_req (bursts counted
//! per key, status, dry run) and limit_conn (a WebSocket tunnel holding
//! its slot). Each configuration is served by nginx, then by upgate on the
//! same ports, and every response compared (status line, headers but Date,
//! body). The backends hold the secret: it reaches exactly the clients
//! nginx lets in. Limits use rates far below the test's pace, so counts
//! decide and timings do not.

#![allow(clippy::expect_used)]

mod serve_support;

use std::time::Duration;

use serve_support::{Dir, Nginx, Seen, Upgate, free_port, nginx_version, run_all, same_as_nginx};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An htpasswd line per scheme, each for the password "password":
/// nginx's own (`$apr1$`, `{PLAIN}`, `{SHA}`, `{SSHA}`) and crypt(3)'s as
/// Debian's libxcrypt writes them (perl's `crypt`).
const HTPASSWD: &str = "# users\n\
des:sa3tHJ3/KuYvI\n\
md5:$1$$I2o9Z7NcvQAKp7wyCTlia0\n\
sha256:$5$salt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1\n\
sha512:$6$rounds=1000$salt$O0nhCLTaysO7YRx7RhswA9LUudDbe8n/29Fg0mCv48MlTSygeX82/gn5a5m7.zIERei.MTm0LX6AbQbQLYGS5.\n\
bcrypt:$2y$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu\n\
yescrypt:$y$j9T$abcdefgh$79JhsKZwfY/UU2qrk3QcffpHl7EyEEJK0pA5pD1wu73\n\
apr1:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n\
plain:{PLAIN}password\n\
sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n\
ssha:{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0\n\
broken:$1$\n\
comment:{PLAIN}password:a comment\n";

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn get(path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n").into_bytes()
}

fn handshake(path: &str, headers: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

fn status(seen: &[Vec<Seen>], i: usize) -> u16 {
    seen[i].first().map_or(0, Seen::status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_basic_schemes_realms_and_satisfy() {
    let dir = Dir::new("htpasswd");
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, HTPASSWD).expect("write htpasswd");
    let conf = r#"events {}
http {
    access_log off;
    set_real_ip_from 127.0.0.1;
    server {
        listen 127.0.0.1:{P1};
        location / { return 200 "secret for $remote_user ($http_authorization)\n"; }
    }
    server {
        listen 127.0.0.1:{P0};
        location / {
            auth_basic "closed site";
            auth_basic_user_file {FILE};
            proxy_pass http://127.0.0.1:{P1};
            location /open/ {
                auth_basic off;
                proxy_pass http://127.0.0.1:{P1};
            }
            location /realm/ {
                auth_basic "realm of $host";
                proxy_pass http://127.0.0.1:{P1};
            }
            location /paged/ {
                error_page 401 /login;
                proxy_pass http://127.0.0.1:{P1};
            }
            location /ret/ {
                return 200 "return answers first\n";
            }
            location /paged-file/ {
                error_page 401 /401.html;
                proxy_pass http://127.0.0.1:{P1};
            }
        }
        location = /login { return 200 "login page\n"; }
        location = /401.html { root {ROOT}; }
        location /any/ {
            satisfy any;
            allow 10.0.0.0/8;
            deny all;
            auth_basic "any";
            auth_basic_user_file {FILE};
            proxy_pass http://127.0.0.1:{P1};
        }
        location /missing/ {
            auth_basic "missing";
            auth_basic_user_file {FILE}.nx;
            proxy_pass http://127.0.0.1:{P1};
        }
    }
}
"#
    .replace("{FILE}", &file.display().to_string())
    .replace("{ROOT}", &dir.path().display().to_string());
    std::fs::write(dir.path().join("401.html"), "<p>log in first</p>\n").expect("write page");
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for user in [
        "des", "md5", "sha256", "sha512", "bcrypt", "yescrypt", "apr1", "plain", "sha", "ssha",
        "broken", "comment", "nobody",
    ] {
        for password in ["password", "wrong"] {
            let auth = format!("Authorization: Basic {}\r\n", basic(user, password));
            requests.push(get("/", &auth));
        }
    }
    for auth in [
        "",
        "Authorization: Basic\r\n",
        "Authorization: Basic !!!!\r\n",
        "Authorization: Bearer abc\r\n",
        "Authorization: basic   cGxhaW46cGFzc3dvcmQ=\r\n",
    ] {
        requests.push(get("/", auth));
    }
    let good = format!("Authorization: Basic {}\r\n", basic("plain", "password"));
    for path in [
        "/open/",
        "/realm/",
        "/paged/",
        "/paged-file/",
        "/ret/",
        "/missing/",
    ] {
        requests.push(get(path, ""));
    }
    requests.push(get("/missing/", &good));
    for ip in ["10.0.0.1", "192.168.0.1"] {
        requests.push(get("/any/", &format!("X-Real-IP: {ip}\r\n")));
        requests.push(get("/any/", &format!("X-Real-IP: {ip}\r\n{good}")));
    }
    // A WebSocket handshake is authenticated before it is passed on.
    requests.push(handshake("/", ""));
    requests.push(handshake("/", &good));
    let refs: Vec<&[u8]> = requests.iter().map(Vec::as_slice).collect();
    let seen = same_as_nginx(&conf, 2, &refs).await;
    // The comparison is the test; landmarks make a failure easy to read.
    for (i, user) in ["des", "md5", "sha256", "sha512", "bcrypt", "yescrypt"]
        .iter()
        .enumerate()
    {
        assert_eq!(status(&seen, 2 * i), 200, "{user} with its password");
        assert_eq!(status(&seen, 2 * i + 1), 401, "{user} with another");
    }
    let none = 26;
    assert_eq!(status(&seen, none), 401);
    assert!(
        seen[none][0]
            .headers
            .iter()
            .any(|(n, v)| n == "WWW-Authenticate" && v == "Basic realm=\"closed site\""),
        "{:?}",
        seen[none][0].headers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_request_statuses_headers_and_set() {
    let conf = r#"events {}
http {
    access_log off;
    set_real_ip_from 127.0.0.1;
    server {
        listen 127.0.0.1:{P1};
        location = /auth {
            if ($http_x_token = "good") {
                add_header X-User alice;
                return 204;
            }
            if ($http_x_token = "forbidden") {
                return 403;
            }
            if ($http_x_token = "broken") {
                return 500;
            }
            if ($http_x_token = "redirect") {
                return 302 /elsewhere;
            }
            add_header WWW-Authenticate 'Bearer realm="api"' always;
            return 401;
        }
        location / {
            return 200 "secret for user=$http_x_user uri=$request_uri original=$http_x_original_uri length=$http_content_length\n";
        }
    }
    server {
        listen 127.0.0.1:{P0};
        location / {
            auth_request /_auth;
            auth_request_set $user $upstream_http_x_user;
            proxy_set_header X-User $user;
            proxy_pass http://127.0.0.1:{P1};
        }
        location = /_auth {
            internal;
            proxy_pass http://127.0.0.1:{P1}/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }
        location /any/ {
            satisfy any;
            allow 10.0.0.0/8;
            deny all;
            auth_request /_auth;
            proxy_pass http://127.0.0.1:{P1};
        }
        location /ret/ {
            auth_request /_auth;
            return 200 "return answers first\n";
        }
        location /off/ {
            auth_request /_auth;
            location /off/inner/ {
                auth_request off;
                proxy_pass http://127.0.0.1:{P1};
            }
        }
    }
}
"#;
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for token in ["good", "forbidden", "broken", "redirect", "nope"] {
        requests.push(get("/page?a=1", &format!("X-Token: {token}\r\n")));
    }
    requests.push(get("/page", ""));
    requests.push(get("/_auth", "X-Token: good\r\n"));
    for ip in ["10.0.0.1", "192.168.0.1"] {
        requests.push(get(
            "/any/",
            &format!("X-Real-IP: {ip}\r\nX-Token: nope\r\n"),
        ));
    }
    requests.push(get("/ret/", ""));
    requests.push(get("/off/inner/", ""));
    requests.push(
        b"POST /form HTTP/1.1\r\nHost: x\r\nX-Token: good\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
            .to_vec(),
    );
    requests.push(handshake("/ws", "X-Token: nope\r\n"));
    requests.push(handshake("/ws", "X-Token: forbidden\r\n"));
    let refs: Vec<&[u8]> = requests.iter().map(Vec::as_slice).collect();
    let seen = same_as_nginx(conf, 2, &refs).await;
    assert_eq!(status(&seen, 0), 200);
    assert!(
        String::from_utf8_lossy(&seen[0][0].body).contains("user=alice"),
        "auth_request_set reaches the backend"
    );
    assert_eq!(status(&seen, 1), 403);
    assert_eq!(status(&seen, 2), 500);
    assert_eq!(status(&seen, 4), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_req_counts_per_key() {
    let conf = r#"events {}
http {
    access_log off;
    set_real_ip_from 127.0.0.1;
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    limit_req_zone $http_x_key zone=key:1m rate=1r/m;
    server {
        listen 127.0.0.1:{P1};
        location / { return 200 "secret for $http_x_real_ip\n"; }
    }
    server {
        listen 127.0.0.1:{P0};
        add_header X-Limit $limit_req_status always;
        location /burst/ {
            limit_req zone=one burst=2 nodelay;
            proxy_pass http://127.0.0.1:{P1};
        }
        location /status/ {
            limit_req zone=one nodelay;
            limit_req_status 429;
            proxy_pass http://127.0.0.1:{P1};
        }
        location /key/ {
            limit_req zone=key burst=1 nodelay;
            proxy_pass http://127.0.0.1:{P1};
        }
        location /dry/ {
            limit_req zone=one;
            limit_req_dry_run on;
            proxy_pass http://127.0.0.1:{P1};
        }
        location /both/ {
            limit_req zone=one burst=5 nodelay;
            limit_req zone=key nodelay;
            proxy_pass http://127.0.0.1:{P1};
        }
        location /ret/ {
            limit_req zone=one;
            return 200 "return answers first\n";
        }
        location /paged/ {
            limit_req zone=one nodelay;
            error_page 503 = /busy;
            proxy_pass http://127.0.0.1:{P1};
        }
        location = /busy { return 200 "try later\n"; }
    }
}
"#;
    let ip = |n: u8| format!("X-Real-IP: 10.0.0.{n}\r\n");
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for _ in 0..5 {
        requests.push(get("/burst/", &ip(1)));
    }
    for _ in 0..3 {
        requests.push(get("/status/", &ip(2)));
    }
    for key in ["k1", "k1", "k1", "k2"] {
        requests.push(get("/key/", &format!("{}X-Key: {key}\r\n", ip(3))));
    }
    for _ in 0..3 {
        requests.push(get("/key/", &ip(3)));
    }
    for _ in 0..3 {
        requests.push(get("/dry/", &ip(4)));
    }
    for key in ["b1", "b1", "b2"] {
        requests.push(get("/both/", &format!("{}X-Key: {key}\r\n", ip(5))));
    }
    for _ in 0..3 {
        requests.push(get("/ret/", &ip(6)));
    }
    for _ in 0..2 {
        requests.push(get("/paged/", &ip(7)));
    }
    // Reconnecting WebSocket clients get the same counts.
    for _ in 0..4 {
        requests.push(handshake("/burst/ws", &ip(8)));
    }
    let refs: Vec<&[u8]> = requests.iter().map(Vec::as_slice).collect();
    let seen = same_as_nginx(conf, 2, &refs).await;
    let statuses: Vec<u16> = (0..5).map(|i| status(&seen, i)).collect();
    assert_eq!(statuses, [200, 200, 200, 503, 503], "burst=2 lets three in");
    assert_eq!(status(&seen, 6), 429, "limit_req_status");
}

/// A raw backend: a request with Upgrade gets a 101 and the connection
/// stays open until the client closes; any other gets a 200.
async fn upgrade_backend(listener: TcpListener) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            if text.contains("upgrade: websocket") {
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                    .await;
                let _ = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await;
            } else {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nsecret\n")
                    .await;
            }
        });
    }
}

/// Opens a connection, sends `request` and reads the response head (a
/// tunnel stays open while the stream lives).
async fn open_head(port: u16, request: &[u8]) -> (TcpStream, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(request).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let line = String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    (s, line)
}

/// What the limit_conn scenario saw: a tunnel held by 10.0.0.1, the
/// requests made while it lives, then after it closed; and WebSocket
/// upgrades through auth_request.
async fn limit_conn_scenario(port: u16) -> (Vec<Vec<Seen>>, Vec<Vec<Seen>>, Vec<String>) {
    let (tunnel, line) = open_head(port, &handshake("/ws/", "X-Real-IP: 10.0.0.1\r\n")).await;
    assert!(line.starts_with("HTTP/1.1 101"), "{line}");
    let mut upgrades = Vec::new();
    for token in ["good", "bad"] {
        let (s, line) = open_head(
            port,
            &handshake("/ws-auth/", &format!("X-Token: {token}\r\n")),
        )
        .await;
        upgrades.push(line);
        drop(s);
    }
    let during: Vec<Vec<u8>> = vec![
        handshake("/ws/", "X-Real-IP: 10.0.0.1\r\n"),
        get("/other/", "X-Real-IP: 10.0.0.1\r\n"),
        get("/other/", "X-Real-IP: 10.0.0.2\r\n"),
        get("/free/", "X-Real-IP: 10.0.0.1\r\n"),
    ];
    let refs: Vec<&[u8]> = during.iter().map(Vec::as_slice).collect();
    let while_open = run_all(port, &refs).await;
    drop(tunnel);
    // The slot is given back when the tunnel's end is seen: bounded wait.
    let again = get("/other/", "X-Real-IP: 10.0.0.1\r\n");
    let mut after = Vec::new();
    for _ in 0..50 {
        after = run_all(port, &[again.as_slice()]).await;
        if after[0].first().map(Seen::status) == Some(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (while_open, after, upgrades)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_conn_counts_a_tunnel_while_it_lives() {
    let backend = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend_port = backend.local_addr().expect("addr").port();
    tokio::spawn(upgrade_backend(backend));
    let port = free_port();
    let conf = format!(
        r#"events {{}}
http {{
    access_log off;
    set_real_ip_from 127.0.0.1;
    limit_conn_zone $binary_remote_addr zone=addr:1m;
    server {{
        listen 127.0.0.1:{port};
        add_header X-Conn $limit_conn_status always;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        location /ws/ {{
            limit_conn addr 1;
            proxy_pass http://127.0.0.1:{backend_port};
        }}
        location /other/ {{
            limit_conn addr 1;
            limit_conn_status 429;
            proxy_pass http://127.0.0.1:{backend_port};
        }}
        location /free/ {{
            proxy_pass http://127.0.0.1:{backend_port};
        }}
        location /ws-auth/ {{
            auth_request /_auth;
            proxy_pass http://127.0.0.1:{backend_port};
        }}
        location = /_auth {{
            internal;
            if ($http_x_token = "good") {{
                return 204;
            }}
            return 401;
        }}
    }}
}}
"#
    );
    let from_nginx = {
        let _nginx = Nginx::start(&conf, &[port]);
        limit_conn_scenario(port).await
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let from_upgate = {
        let _upgate = Upgate::start_as(&conf, "nginx", &nginx_version());
        limit_conn_scenario(port).await
    };
    type Scenario = (Vec<Vec<Seen>>, Vec<Vec<Seen>>, Vec<String>);
    let shape = |(during, after, _): &Scenario| -> Vec<_> {
        during
            .iter()
            .chain(after)
            .map(|s| s.iter().map(serve_support::comparable).collect::<Vec<_>>())
            .collect()
    };
    assert_eq!(
        shape(&from_nginx),
        shape(&from_upgate),
        "nginx left, upgate right"
    );
    assert_eq!(from_nginx.2, from_upgate.2, "upgrades through auth_request");
    assert_eq!(
        from_upgate.2,
        [
            "HTTP/1.1 101 Switching Protocols",
            "HTTP/1.1 401 Unauthorized"
        ]
    );
    let statuses: Vec<u16> = from_upgate.0.iter().map(|s| s[0].status()).collect();
    assert_eq!(statuses, [503, 429, 200, 200]);
    assert_eq!(from_upgate.1[0][0].status(), 200, "the slot is given back");
}

/// valid_referers: hosts, wildcards, URI prefixes, `none`, `blocked`,
/// `server_names`, regexes, inheritance (a level with its own list keeps
/// its parent's regexes), and `$invalid_referer` in `if` and add_header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_referers_as_nginx_judges_them() {
    let conf = r#"events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{P1};
        location / { return 200 "secret\n"; }
    }
    server {
        listen 127.0.0.1:{P0};
        server_name site.test *.cdn.test ~^img\d+\.test$;
        valid_referers ~\.search\. server-level.example;
        location /img/ {
            valid_referers none blocked server_names example.com *.example.org
                           .example.net www.example.* a.com/pics/ ~\.google\.;
            if ($invalid_referer) {
                return 403;
            }
            proxy_pass http://127.0.0.1:{P1};
        }
        location /inherited/ {
            if ($invalid_referer) {
                return 403;
            }
            proxy_pass http://127.0.0.1:{P1};
        }
        location /own/ {
            valid_referers own.example;
            add_header X-Invalid "[$invalid_referer]" always;
            proxy_pass http://127.0.0.1:{P1};
        }
    }
}
"#;
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for referer in [
        None,
        Some("XXXXXXXXXXXXXXXX"),
        Some("http://x"),
        Some("http://example.com/a"),
        Some("HTTPS://EXAMPLE.COM:8443/a"),
        Some("http://ftp.example.com/"),
        Some("http://a.b.example.org/"),
        Some("http://example.org/"),
        Some("http://example.net/"),
        Some("http://x.example.net/"),
        Some("http://www.example.de/"),
        Some("http://a.com/pics/1.png"),
        Some("http://a.com:80/pics/1.png"),
        Some("http://a.com/other"),
        Some("http://evil.test/?example.com"),
        Some("https://www.google.com/search"),
        Some("http://site.test/"),
        Some("http://x.cdn.test/"),
        Some("http://img42.test/"),
        Some("http://www.search.example/"),
        Some("http://server-level.example/"),
        Some("http://own.example/"),
    ] {
        let header = referer.map_or(String::new(), |r| format!("Referer: {r}\r\n"));
        for path in ["/img/", "/inherited/", "/own/"] {
            requests.push(get(path, &header));
        }
    }
    let refs: Vec<&[u8]> = requests.iter().map(Vec::as_slice).collect();
    let seen = same_as_nginx(conf, 2, &refs).await;
    assert_eq!(status(&seen, 0), 200, "none");
    assert_eq!(status(&seen, 3 * 13), 403, "a.com outside /pics/");
}

/// What stub_status shows around an idle connection and one still sending
/// its head.
async fn stub_status_scenario(port: u16) -> Vec<Vec<Seen>> {
    let status = get("/status", "");
    let mut seen = run_all(port, &[status.as_slice()]).await;
    let _idle = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut partial = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    partial
        .write_all(b"GET / HTTP/1.1\r\n")
        .await
        .expect("write");
    // Until the server has seen both (bounded): the polls count as
    // requests, which `normalized` takes out.
    for _ in 0..100 {
        let poll = run_all(port, &[status.as_slice()]).await;
        let page = poll[0]
            .first()
            .map(|s| String::from_utf8_lossy(&s.body).into_owned())
            .unwrap_or_default();
        if page.contains("Reading: 1 Writing: 1 Waiting: 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let others: Vec<Vec<u8>> = vec![
        status.clone(),
        b"HEAD /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_vec(),
        get("/status/inner", ""),
    ];
    let refs: Vec<&[u8]> = others.iter().map(Vec::as_slice).collect();
    seen.extend(run_all(port, &refs).await);
    seen
}

/// A stub_status page with its counters line made independent of how many
/// polls it took: ` ACCEPTS-HANDLED ACCEPTS-REQUESTS `... as ` A-H A-R `
/// (each poll adds one to all three); other bodies as they are.
fn normalized(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if !text.starts_with("Active connections:") {
        return body.to_vec();
    }
    let lines: Vec<String> = text
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, line)| {
            if i != 2 {
                return line.to_string();
            }
            let n: Vec<i64> = line
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            match n.as_slice() {
                [a, h, r] => format!(" {} {} \n", a - h, a - r),
                _ => line.to_string(),
            }
        })
        .collect();
    lines.concat().into_bytes()
}

/// stub_status: nginx's page byte for byte (accepts, handled, requests,
/// reading, writing, waiting), HEAD, 405 for other methods, a nested
/// location without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stub_status_counts_as_nginx() {
    let port = free_port();
    let conf = format!(
        r#"events {{}}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location /status {{
            stub_status;
            add_header X-Active $connections_active;
            add_header X-Waiting $connections_waiting;
            location /status/inner {{ return 200 "inner\n"; }}
        }}
    }}
}}
"#
    );
    let from_nginx = {
        let _nginx = Nginx::start(&conf, &[port]);
        stub_status_scenario(port).await
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let from_upgate = {
        let _upgate = Upgate::start_as(&conf, "nginx", &nginx_version());
        // Nginx::start connected once to see the port listen
        drop(TcpStream::connect(("127.0.0.1", port)).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
        stub_status_scenario(port).await
    };
    let shape = |all: &[Vec<Seen>]| -> Vec<_> {
        all.iter()
            .map(|s| {
                s.iter()
                    .map(|seen| {
                        let (line, mut headers, body) = serve_support::comparable(seen);
                        let page = normalized(&body);
                        if page != body {
                            // its length follows the counters' digits
                            headers.retain(|(n, _)| n != "Content-Length");
                        }
                        (line, headers, String::from_utf8_lossy(&page).into_owned())
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(
        shape(&from_nginx),
        shape(&from_upgate),
        "nginx left, upgate right"
    );
    assert_eq!(
        String::from_utf8_lossy(&normalized(&from_upgate[1][0].body)),
        "Active connections: 3 \nserver accepts handled requests\n 0 2 \nReading: 1 Writing: 1 Waiting: 1 \n"
    );
}

/// A PROXY protocol v2 header for TCP over IPv4 (with one TLV).
fn proxy_v2(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x11); // AF_INET, STREAM
    let tlv = [0x04u8, 0, 2, b'h', b'i'];
    h.extend_from_slice(&((12 + tlv.len()) as u16).to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&tlv);
    h
}

/// `listen ... proxy_protocol` with realip from it: v1 (TCP4, TCP6,
/// UNKNOWN), v2, a broken header; `$remote_addr` and allow/deny see the
/// address the header carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_as_nginx_reads_it() {
    let conf = r#"events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{P0} proxy_protocol;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        location / {
            return 200 "$remote_addr pp=$proxy_protocol_addr:$proxy_protocol_port real=$realip_remote_addr\n";
        }
        location /port {
            return 200 "$remote_addr:$remote_port\n";
        }
        location /guarded {
            allow 10.0.0.0/8;
            deny all;
            proxy_pass http://127.0.0.1:{P1};
        }
    }
    server {
        listen 127.0.0.1:{P1};
        location / { return 200 "secret for $http_x_forwarded_for\n"; }
    }
}
"#;
    let http = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for header in [
        "PROXY TCP4 10.1.2.3 127.0.0.1 5555 80\r\n",
        "PROXY TCP6 2001:db8::1 ::1 6666 443\r\n",
    ] {
        requests.push(format!("{header}{}", http("/port")).into_bytes());
    }
    for header in [
        "PROXY TCP4 10.1.2.3 127.0.0.1 5555 80\r\n",
        "PROXY TCP4 192.168.0.9 127.0.0.1 5555 80\r\n",
        "PROXY TCP6 2001:db8::1 ::1 6666 443\r\n",
        "PROXY UNKNOWN\r\n",
        "PROXY TCP4 10.1.2.3\r\n",
        "GARBAGE\r\n",
    ] {
        for path in ["/", "/guarded"] {
            requests.push(format!("{header}{}", http(path)).into_bytes());
        }
    }
    for path in ["/", "/guarded"] {
        let mut r = proxy_v2([10, 9, 8, 7], [127, 0, 0, 1], 4444, 80);
        r.extend_from_slice(http(path).as_bytes());
        requests.push(r);
    }
    // no header at all
    requests.push(http("/").into_bytes());
    let refs: Vec<&[u8]> = requests.iter().map(Vec::as_slice).collect();
    let seen = same_as_nginx(conf, 2, &refs).await;
    assert_eq!(String::from_utf8_lossy(&seen[0][0].body), "10.1.2.3:5555\n");
    assert_eq!(status(&seen, 3), 200, "10.1.2.3 is let in");
    assert_eq!(status(&seen, 5), 403, "192.168.0.9 is not");
}
