//! `proxy_pass https://` end to end against rustls backends on loopback:
//! plain requests and WebSocket over TLS, certificate verification with
//! nginx's error log lines, SNI only with proxy_ssl_server_name, a client
//! certificate for a backend that requires one, keepalive reuse of a TLS
//! connection, session resumption, the handshake bounded by
//! proxy_connect_timeout, and proxy_next_upstream after a failed handshake.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;
mod tls_backend;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serve_support::{Dir, Upgate, exchange, free_port, parse_responses};
use tls_backend::{Backend, Ca, Hello, self_signed};
use tokio_tungstenite::tungstenite::Message;

/// upgate with `locations` in one server; the error log is `error.log`
/// in its directory.
fn start(locations: &str, extra_http: &str) -> (Upgate, u16) {
    let p = free_port();
    let up = Upgate::start(&format!(
        "error_log error.log info;\nevents {{}}\nhttp {{\n access_log off;\n {extra_http}\n server {{\n  listen 127.0.0.1:{p};\n{locations}\n }}\n}}\n"
    ));
    (up, p)
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let (raw, _) = exchange(port, req.as_bytes(), &[false], 1).await;
    let seen = parse_responses(&raw, &[false]);
    let first = seen.first().cloned().unwrap_or_default();
    (
        first.status(),
        String::from_utf8_lossy(&first.body).into_owned(),
    )
}

fn error_log(up: &Upgate) -> String {
    std::fs::read_to_string(up.dir.path().join("error.log")).unwrap_or_default()
}

/// The log line containing `what`, waited for (the log is written after
/// the response).
async fn logged(up: &Upgate, what: &str) -> String {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let log = error_log(up);
        if let Some(line) = log.lines().find(|l| l.contains(what)) {
            return line.to_string();
        }
        if Instant::now() > end {
            panic!("no {what:?} in the error log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_request_over_https_upstream() {
    let b = Backend::start(&self_signed(&["localhost"]), None).await;
    let (up, p) = start(
        &format!(
            "  location / {{ proxy_pass https://127.0.0.1:{}; }}",
            b.port
        ),
        "",
    );
    let (status, body) = get(p, "/x").await;
    assert_eq!(status, 200, "{}", error_log(&up));
    assert!(body.starts_with("sni=- "), "{body}");
    // From variables too, and through an upstream block.
    let (up2, p2) = start(
        &format!(
            "  location /v {{ set $peer \"https://127.0.0.1:{0}\"; proxy_pass $peer; }}\n  location /u {{ proxy_pass https://tls_backend; }}",
            b.port
        ),
        &format!("upstream tls_backend {{ server 127.0.0.1:{}; }}", b.port),
    );
    assert_eq!(get(p2, "/v").await.0, 200, "{}", error_log(&up2));
    assert_eq!(get(p2, "/u").await.0, 200, "{}", error_log(&up2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_through_an_https_backend() {
    let b = Backend::start(&self_signed(&["localhost"]), None).await;
    let (up, p) = start(
        &format!(
            "  location /ws {{ proxy_pass https://127.0.0.1:{}; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; }}",
            b.port
        ),
        "",
    );
    let url = format!("ws://127.0.0.1:{p}/ws");
    let (mut ws, resp) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("handshake in time")
    .unwrap_or_else(|e| panic!("upgrade failed: {e}\n{}", error_log(&up)));
    assert_eq!(resp.status().as_u16(), 101);
    for text in ["one", "two"] {
        ws.send(Message::text(text)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("echo in time");
        assert_eq!(got.unwrap().unwrap(), Message::text(text));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_with_nginx_error_lines() {
    let pki = Dir::new("pki");
    let ca = Ca::new("upgate test CA");
    std::fs::write(pki.path().join("ca.crt"), ca.pem()).unwrap();
    let good = Backend::start(&ca.leaf(&["localhost"], false), None).await;
    let expired = Backend::start(&ca.leaf(&["localhost"], true), None).await;
    let untrusted = Backend::start(&self_signed(&["localhost"]), None).await;
    let other = Ca::new("another CA");
    let foreign = Backend::start(&other.leaf(&["localhost"], false), None).await;
    let ca_file = pki.path().join("ca.crt");
    let loc = |path: &str, port: u16, name: &str| {
        format!(
            "  location /{path} {{ proxy_pass https://127.0.0.1:{port}; proxy_ssl_verify on; proxy_ssl_trusted_certificate {}; proxy_ssl_name {name}; }}\n",
            ca_file.display()
        )
    };
    let locations = [
        loc("good", good.port, "localhost"),
        loc("name", good.port, "wrong.example"),
        loc("expired", expired.port, "localhost"),
        loc("untrusted", untrusted.port, "localhost"),
        loc("foreign", foreign.port, "localhost"),
    ]
    .concat();
    let (up, p) = start(&locations, "");
    assert_eq!(get(p, "/good").await.0, 200, "{}", error_log(&up));
    assert_eq!(get(p, "/name").await.0, 502);
    let line = logged(&up, "does not match").await;
    assert!(
        line.contains("upstream SSL certificate does not match \"wrong.example\" while SSL handshaking to upstream"),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "upstream: \"https://127.0.0.1:{}/name\"",
            good.port
        )),
        "{line}"
    );
    assert_eq!(get(p, "/expired").await.0, 502);
    logged(&up, "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream").await;
    assert_eq!(get(p, "/untrusted").await.0, 502);
    logged(&up, "upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream").await;
    assert_eq!(get(p, "/foreign").await.0, 502);
    logged(&up, "upstream SSL certificate verify error: (21:unable to verify the first certificate) while SSL handshaking to upstream").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_only_with_proxy_ssl_server_name() {
    let b = Backend::start(&self_signed(&["localhost"]), None).await;
    let (up, p) = start(
        &format!(
            "  location /off {{ proxy_pass https://sni_backend/; }}\n  location /on {{ proxy_pass https://sni_backend/; proxy_ssl_server_name on; }}\n  location /named {{ proxy_pass https://sni_backend/; proxy_ssl_server_name on; proxy_ssl_name $host.example:443; }}\n  location /ip {{ proxy_pass https://127.0.0.1:{}/; proxy_ssl_server_name on; }}",
            b.port
        ),
        &format!("upstream sni_backend {{ server 127.0.0.1:{}; }}", b.port),
    );
    for path in ["/off", "/on", "/named", "/ip"] {
        assert_eq!(get(p, path).await.0, 200, "{path}: {}", error_log(&up));
    }
    let sni: Vec<Option<String>> = b.hellos().into_iter().map(|h| h.sni).collect();
    assert_eq!(
        sni,
        [
            None,
            Some("sni_backend".into()),
            Some("a.example".into()),
            None
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_to_a_backend_that_requires_one() {
    let pki = Dir::new("pki");
    let clients = Ca::new("client CA");
    let (crt, key) = clients
        .leaf(&["upgate-client"], false)
        .write(pki.path(), "client");
    let b = Backend::start(&self_signed(&["localhost"]), Some(&clients)).await;
    let (up, p) = start(
        &format!(
            "  location /with {{ proxy_pass https://127.0.0.1:{0}; proxy_ssl_certificate {1}; proxy_ssl_certificate_key {2}; }}\n  location /without {{ proxy_pass https://127.0.0.1:{0}; }}",
            b.port,
            crt.display(),
            key.display()
        ),
        "",
    );
    let (status, body) = get(p, "/with").await;
    assert_eq!(status, 200, "{}", error_log(&up));
    assert!(body.contains("cert=true"), "{body}");
    // TLS 1.3: the refusal comes as an alert after the client's side of
    // the handshake, so nginx too logs it from SSL_read().
    assert_eq!(get(p, "/without").await.0, 502);
    logged(&up, "SSL_read() failed (SSL: error:0A00045C:SSL routines::tlsv13 alert certificate required:SSL alert number 116) while reading response header from upstream").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_reuses_a_tls_connection() {
    let b = Backend::start(&self_signed(&["localhost"]), None).await;
    let (up, p) = start(
        "  location / { proxy_pass https://ka; proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
        &format!(
            "upstream ka {{ server 127.0.0.1:{}; keepalive 4; }}",
            b.port
        ),
    );
    for _ in 0..3 {
        assert_eq!(get(p, "/").await.0, 200, "{}", error_log(&up));
    }
    assert_eq!(b.connections(), 1, "{:?}", b.hellos());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_resumed_only_with_session_reuse() {
    let b = Backend::start(&self_signed(&["localhost"]), None).await;
    let (up, p) = start(
        &format!(
            "  location /reuse {{ proxy_pass https://127.0.0.1:{0}; }}\n  location /fresh {{ proxy_pass https://127.0.0.1:{0}; proxy_ssl_session_reuse off; }}",
            b.port
        ),
        "",
    );
    for path in ["/reuse", "/reuse", "/reuse", "/fresh", "/fresh"] {
        assert_eq!(get(p, path).await.0, 200, "{}", error_log(&up));
    }
    let resumed: Vec<bool> = b.hellos().iter().map(|h: &Hello| h.resumed).collect();
    assert_eq!(resumed, [false, true, true, false, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_is_bounded_by_proxy_connect_timeout() {
    // Accepts TCP and never speaks TLS.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let (up, p) = start(
        &format!(
            "  location / {{ proxy_pass https://127.0.0.1:{port}; proxy_connect_timeout 1s; }}"
        ),
        "",
    );
    let t = Instant::now();
    assert_eq!(get(p, "/").await.0, 504);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    logged(
        &up,
        "upstream timed out (110: Connection timed out) while SSL handshaking to upstream",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_moves_to_the_next_upstream() {
    let pki = Dir::new("pki");
    let ca = Ca::new("upgate test CA");
    let ca_file = pki.path().join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let bad = Backend::start(&self_signed(&["localhost"]), None).await;
    let good = Backend::start(&ca.leaf(&["localhost"], false), None).await;
    let (up, p) = start(
        &format!(
            "  location / {{ proxy_pass https://pair; proxy_ssl_verify on; proxy_ssl_name localhost; proxy_ssl_trusted_certificate {}; }}",
            ca_file.display()
        ),
        &format!(
            "upstream pair {{ server 127.0.0.1:{}; server 127.0.0.1:{}; }}",
            bad.port, good.port
        ),
    );
    for _ in 0..2 {
        assert_eq!(get(p, "/").await.0, 200, "{}", error_log(&up));
    }
    assert_eq!(
        bad.connections(),
        1,
        "the failed peer is skipped for fail_timeout"
    );
}

#[test]
fn configuration_errors_are_nginx_emerg_lines() {
    let err = Upgate::check(
        "events {}\nhttp {\n server {\n  listen 127.0.0.1:1;\n  location / {\n   proxy_pass https://127.0.0.1:1;\n   proxy_ssl_verify on;\n  }\n }\n}\n",
    )
    .err()
    .unwrap_or_default();
    assert!(
        err.starts_with("no proxy_ssl_trusted_certificate for proxy_ssl_verify in ")
            && err.ends_with("nginx.conf:7"),
        "{err}"
    );
    let err = Upgate::check(
        "events {}\nhttp {\n proxy_ssl_certificate /nonexistent/c.crt;\n proxy_ssl_certificate_key /nonexistent/c.key;\n server {\n  listen 127.0.0.1:1;\n  location / { proxy_pass https://127.0.0.1:1; }\n }\n}\n",
    )
    .err()
    .unwrap_or_default();
    assert!(
        err.starts_with("cannot load certificate \"/nonexistent/c.crt\": BIO_new_file() failed"),
        "{err}"
    );
    let pki = Dir::new("pki-empty");
    let empty = pki.path().join("empty.crt");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = Upgate::check(&format!(
        "events {{}}\nhttp {{\n server {{\n  listen 127.0.0.1:1;\n  location / {{\n   proxy_pass https://127.0.0.1:1;\n   proxy_ssl_verify on;\n   proxy_ssl_trusted_certificate {};\n  }}\n }}\n}}\n",
        empty.display()
    ))
    .err()
    .unwrap_or_default();
    assert_eq!(
        err.split(" in ").next().unwrap_or(""),
        format!(
            "SSL_CTX_load_verify_locations(\"{}\") failed (SSL: error:05800088:x509 certificate routines::no certificate or crl found)",
            empty.display()
        )
    );
    assert!(err.ends_with("nginx.conf:8"), "{err}");
    // Not needed where no proxy_pass is https: nginx reads nothing there.
    assert!(
        Upgate::check(
            "events {}\nhttp {\n proxy_ssl_verify on;\n server {\n  listen 127.0.0.1:1;\n  location / { proxy_pass http://127.0.0.1:1; }\n }\n}\n"
        )
        .is_ok()
    );
}

/// A reload re-reads the files: a CA file replaced on disk is trusted by
/// the next generation, not by the running one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reads_the_trusted_certificates_again() {
    let pki = Dir::new("pki-reload");
    let (first, second) = (Ca::new("first CA"), Ca::new("second CA"));
    let ca_file = pki.path().join("ca.crt");
    std::fs::write(&ca_file, first.pem()).unwrap();
    let b = Backend::start(&second.leaf(&["localhost"], false), None).await;
    let p = free_port();
    let conf = format!(
        "events {{}}\nhttp {{\n access_log off;\n server {{\n  listen 127.0.0.1:{p};\n  location / {{ proxy_pass https://127.0.0.1:{}; proxy_ssl_verify on; proxy_ssl_name localhost; proxy_ssl_trusted_certificate {}; }}\n }}\n}}\n",
        b.port,
        ca_file.display()
    );
    let mut up = Upgate::start(&conf);
    assert_eq!(get(p, "/").await.0, 502);
    std::fs::write(&ca_file, second.pem()).unwrap();
    assert_eq!(get(p, "/").await.0, 502, "read once per generation");
    let tables = Upgate::check(&conf).unwrap();
    let reloaded = up.server.as_mut().map(|s| s.reload(tables));
    assert!(matches!(reloaded, Some(Ok(()))));
    assert_eq!(get(p, "/").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocols_rustls_lacks_are_a_warning() {
    let b = Backend::start(&self_signed(&["localhost"]), None).await;
    let (up, p) = start(
        &format!(
            "  location / {{ proxy_pass https://127.0.0.1:{}; proxy_ssl_protocols TLSv1 TLSv1.1 TLSv1.2; }}",
            b.port
        ),
        "",
    );
    assert_eq!(get(p, "/").await.0, 200, "{}", error_log(&up));
    let line = logged(&up, "[warn]").await;
    assert!(
        line.contains("proxy_ssl_protocols: TLSv1 TLSv1.1 never offered (rustls speaks TLSv1.2 and TLSv1.3 only) in ")
            && line.ends_with("nginx.conf:8"),
        "{line}"
    );
}
