//! The exact upstream request head (NGINX-BEHAVIOUR 1-4, 9, 26).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{head, request, runtime};

const CONF: &str = r#"
events {}
http {
    map $http_x_m $mapped { default other; foo exact; }
    server {
        listen 127.0.0.1:8080;
        server_name example.com;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        location /order {
            proxy_pass http://127.0.0.1:19090;
            proxy_http_version 1.1;
            proxy_set_header X-B b-from-config;
            proxy_set_header host Custom.Host;
            proxy_set_header X-Dupvar $http_x_dup;
            proxy_set_header X-XFF $proxy_add_x_forwarded_for;
            proxy_set_header X-Cookie $http_cookie;
            proxy_set_header X-Mapped $mapped;
            proxy_set_header X-Empty "";
            proxy_set_header X-Var $http_x_missing;
        }
        location /inherit {
            proxy_pass http://b;
        }
        location /own {
            proxy_pass http://b;
            proxy_set_header X-Foo foo;
        }
        location /api {
            proxy_pass http://b/;
        }
    }
}
"#;

const LOCAL: &str = "127.0.0.1:8080";

#[test]
fn order_names_and_dropped_headers() {
    let rt = runtime(CONF);
    let headers = [
        ("Host", "example.com"),
        ("user-agent", "UA/1"),
        ("X-B", "client"),
        ("X-Dup", "one"),
        ("X-Dup", "two"),
        ("X-Forwarded-For", "1.1.1.1"),
        ("X-Forwarded-For", "2.2.2.2"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
        ("x-m", "FOO"),
        ("X-Empty", "e"),
        ("X-Var", "v"),
        ("TE", "trailers"),
        ("Keep-Alive", "300"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("X_Under", "u"),
        ("Content-Type", "text/plain"),
        ("Mixed-CASE", "v"),
    ];
    let req = request("POST", "/order?a=1", LOCAL, &headers);
    assert_eq!(
        head(&rt, &req),
        "POST /order?a=1 HTTP/1.1 | X-B: b-from-config | host: Custom.Host | X-Dupvar: one, two \
         | X-XFF: 1.1.1.1, 2.2.2.2, 10.0.0.7 | X-Cookie: a=1; b=2 | X-Mapped: exact \
         | Connection: close | user-agent: UA/1 | X-Dup: one | X-Dup: two \
         | X-Forwarded-For: 1.1.1.1 | X-Forwarded-For: 2.2.2.2 | Cookie: a=1 | Cookie: b=2 \
         | x-m: FOO | Content-Type: text/plain | Mixed-CASE: v"
    );
}

#[test]
fn server_list_inherited_or_replaced() {
    let rt = runtime(CONF);
    let hs = [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
    ];
    let req = request("GET", "/inherit", LOCAL, &hs);
    assert_eq!(
        head(&rt, &req),
        "GET /inherit HTTP/1.0 | Upgrade: websocket | Connection: upgrade | Host: b"
    );
    let req = request("GET", "/own", LOCAL, &hs);
    assert_eq!(
        head(&rt, &req),
        "GET /own HTTP/1.0 | X-Foo: foo | Host: b | Connection: close"
    );
}

#[test]
fn uri_part_mapping() {
    let rt = runtime(CONF);
    let hs = [("Host", "example.com")];
    for (target, sent) in [
        ("/api/x?q=1", "GET //x?q=1 HTTP/1.0"),
        ("/apix", "GET /x HTTP/1.0"),
        ("/api/a%20b", "GET //a%20b HTTP/1.0"),
        ("/api/%41", "GET //A HTTP/1.0"),
        ("/api/a%2Fb/../c", "GET //a/c HTTP/1.0"),
        ("/api//x", "GET //x HTTP/1.0"),
    ] {
        let req = request("GET", target, LOCAL, &hs);
        let h = head(&rt, &req);
        assert!(h.starts_with(sent), "{target}: {h}");
    }
}

/// NGINX-BEHAVIOUR 24: the default proxy_redirect, and 4: hide/pass lists.
#[test]
fn redirect_default_and_hidden_headers() {
    let rt = runtime(
        r#"
events {}
http {
    server {
        listen 127.0.0.1:8080;
        proxy_hide_header X-Custom;
        location /redir/ {
            proxy_pass http://127.0.0.1:19090/redir/;
            proxy_pass_header Server;
        }
        location /plain {
            proxy_pass http://127.0.0.1:19090;
            proxy_hide_header X-Other;
        }
    }
}
"#,
    );
    let hs = [("Host", "example.com")];
    let req = request("GET", "/redir/a", LOCAL, &hs);
    let mut r = rt.process(&req);
    assert_eq!(
        r.proxy_redirect(b"http://127.0.0.1:19090/redir/x")
            .as_deref(),
        Some(&b"/redir/x"[..])
    );
    assert_eq!(r.proxy_redirect(b"http://elsewhere/x"), None);
    let hidden = r.hidden_response_headers();
    assert!(hidden.contains(&"X-Custom".to_string()) && !hidden.contains(&"Server".to_string()));
    let req = request("GET", "/plain", LOCAL, &hs);
    let mut r = rt.process(&req);
    assert_eq!(
        r.proxy_redirect(b"http://127.0.0.1:19090/y").as_deref(),
        Some(&b"/y"[..])
    );
    let hidden = r.hidden_response_headers();
    assert!(!hidden.contains(&"X-Custom".to_string()) && hidden.contains(&"Server".to_string()));
}

#[test]
fn runtime_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<upgate_runtime::Runtime>();
}

/// proxy_redirect as ngx_http_proxy_merge_loc_conf and the rewrite handlers
/// apply it: regex rules replace the whole value (captures usable), `off`
/// is inherited until a level sets rules, which nested levels inherit; the
/// Refresh header is rewritten after "url=".
#[test]
fn proxy_redirect_regex_and_inheritance() {
    let rt = runtime(
        r#"
events {}
http {
    server {
        listen 127.0.0.1:8080;
        location / {
            proxy_pass http://127.0.0.1:8081;
            proxy_redirect ~^(.+)/regex_w_([^/]+) $1/$2/test.html;
            proxy_redirect ~*re+gexp? /replaced/test.html;
        }
        location /off/ {
            proxy_pass http://127.0.0.1:8081/;
            proxy_redirect off;
            location /off/on/ {
                proxy_pass http://127.0.0.1:8081;
                proxy_redirect http://127.0.0.1:8081/off/ /;
                location /off/on/on/ {
                    proxy_pass http://127.0.0.1:8081;
                }
            }
            location /off/still/ {
                proxy_pass http://127.0.0.1:8081;
            }
        }
    }
}
"#,
    );
    let hs = [("Host", "example.com")];
    let redirect = |uri: &str, value: &[u8], prefix: usize| {
        let req = request("GET", uri, LOCAL, &hs);
        let mut r = rt.process(&req);
        r.proxy_redirect_at(value, prefix)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    assert_eq!(
        redirect("/x", b"http://127.0.0.1:8081/regex_w_captures/test.html", 0).as_deref(),
        Some("http://127.0.0.1:8081/captures/test.html")
    );
    assert_eq!(
        redirect("/x", b"http://127.0.0.1:8081/ReeegEX/test.html", 0).as_deref(),
        Some("/replaced/test.html")
    );
    assert_eq!(
        redirect("/x", b"7; url=http://127.0.0.1:8081/ReeegEX/t", 7).as_deref(),
        Some("7; url=/replaced/test.html")
    );
    assert_eq!(redirect("/x", b"http://127.0.0.1:8081/other", 0), None);
    assert_eq!(redirect("/off/x", b"http://127.0.0.1:8081/x", 0), None);
    assert_eq!(
        redirect("/off/still/x", b"http://127.0.0.1:8081/x", 0),
        None
    );
    assert_eq!(
        redirect("/off/on/x", b"http://127.0.0.1:8081/off/on/x", 0).as_deref(),
        Some("/on/x")
    );
    assert_eq!(
        redirect("/off/on/on/x", b"http://127.0.0.1:8081/off/on/on/x", 0).as_deref(),
        Some("/on/on/x")
    );
}
