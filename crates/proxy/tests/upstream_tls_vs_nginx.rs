//! `proxy_pass https://` side by side with nginx (`/usr/sbin/nginx`; the
//! test fails without it): the same configuration and the same rustls
//! backends for both. A certificate nginx rejects upgate rejects with the
//! same status and the same error log text (OpenSSL's verify code), and the
//! backend sees the same SNI, or none, for each proxy_ssl_server_name /
//! proxy_ssl_name combination.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;
mod tls_backend;

use std::time::{Duration, Instant};

use serve_support::{Dir, Nginx, Upgate, exchange, free_port, parse_responses};
use tls_backend::{Backend, Ca, self_signed};

async fn get(port: u16, path: &str) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let (raw, _) = exchange(port, req.as_bytes(), &[false], 1).await;
    parse_responses(&raw, &[false])
        .first()
        .map_or(0, |s| s.status())
}

/// The level and message of the error log line about `path`: the message
/// between `*N ` and `, client:`.
async fn message(log: impl Fn() -> String, path: &str) -> String {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let text = log();
        let found = text.lines().find(|l| {
            (l.contains("[error]") || l.contains("[crit]"))
                && l.contains(&format!("request: \"GET {path} HTTP/1.1\""))
        });
        if let Some(line) = found {
            let level = line.split_once(" [").map_or("", |(_, r)| r);
            let level = level.split(']').next().unwrap_or("");
            let after = line.split_once(": *").map_or(line, |(_, r)| r);
            let after = after.split_once(' ').map_or(after, |(_, r)| r);
            let text = after.split(", client:").next().unwrap_or("");
            return format!("[{level}] {text}");
        }
        if Instant::now() > end {
            return format!("no error line for {path}:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn conf(listen: u16, locations: &str, upstreams: &str) -> String {
    format!(
        "events {{}}\nhttp {{\n access_log off;\n proxy_ssl_protocols TLSv1.2 TLSv1.3;\n {upstreams}\n server {{\n  listen 127.0.0.1:{listen};\n{locations}\n }}\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_errors_are_502_with_the_same_log_text() {
    let pki = Dir::new("pki-diff");
    let ca = Ca::new("upgate test CA");
    let ca_file = pki.path().join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let good = Backend::start(&ca.leaf(&["localhost"], false), None).await;
    let expired = Backend::start(&ca.leaf(&["localhost"], true), None).await;
    let untrusted = Backend::start(&self_signed(&["localhost"]), None).await;
    let foreign = Backend::start(&Ca::new("another CA").leaf(&["localhost"], false), None).await;
    let loc = |path: &str, port: u16, name: &str| {
        format!(
            "  location /{path} {{ proxy_pass https://127.0.0.1:{port}; proxy_ssl_verify on; proxy_ssl_trusted_certificate {}; proxy_ssl_name {name}; proxy_ssl_session_reuse off; }}\n",
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
    let (pn, pu) = (free_port(), free_port());
    let nginx = Nginx::start(&conf(pn, &locations, ""), &[pn]);
    let up = Upgate::start(&format!(
        "error_log error.log info;\n{}",
        conf(pu, &locations, "")
    ));
    let upgate_log =
        || std::fs::read_to_string(up.dir.path().join("error.log")).unwrap_or_default();
    for (path, status) in [
        ("/good", 200),
        ("/name", 502),
        ("/expired", 502),
        ("/untrusted", 502),
        ("/foreign", 502),
    ] {
        assert_eq!(get(pn, path).await, status, "nginx {path}: {}", nginx.log());
        assert_eq!(
            get(pu, path).await,
            status,
            "upgate {path}: {}",
            upgate_log()
        );
        if status == 502 {
            let (n, u) = (
                message(|| nginx.log(), path).await,
                message(upgate_log, path).await,
            );
            assert_eq!(u, n, "error log line for {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_sees_the_same_sni() {
    let cert = self_signed(&["localhost"]);
    let (bn, bu) = (
        Backend::start(&cert, None).await,
        Backend::start(&cert, None).await,
    );
    let locations = |port: u16| {
        format!(
            "  location /off {{ proxy_pass https://sni_backend/; }}\n  location /on {{ proxy_pass https://sni_backend/; proxy_ssl_server_name on; }}\n  location /named {{ proxy_pass https://sni_backend/; proxy_ssl_server_name on; proxy_ssl_name $host.example:443; }}\n  location /ip {{ proxy_pass https://127.0.0.1:{port}/; proxy_ssl_server_name on; }}\n  location /off-named {{ proxy_pass https://sni_backend/; proxy_ssl_name other.example; }}"
        )
    };
    let upstream = |port: u16| format!("upstream sni_backend {{ server 127.0.0.1:{port}; }}");
    let (pn, pu) = (free_port(), free_port());
    let nginx = Nginx::start(&conf(pn, &locations(bn.port), &upstream(bn.port)), &[pn]);
    let _up = Upgate::start(&conf(pu, &locations(bu.port), &upstream(bu.port)));
    for path in ["/off", "/on", "/named", "/ip", "/off-named"] {
        assert_eq!(get(pn, path).await, 200, "nginx {path}: {}", nginx.log());
        assert_eq!(get(pu, path).await, 200, "upgate {path}");
    }
    let sni =
        |b: &Backend| -> Vec<Option<String>> { b.hellos().into_iter().map(|h| h.sni).collect() };
    assert_eq!(sni(&bu), sni(&bn));
    assert_eq!(
        sni(&bn),
        [
            None,
            Some("sni_backend".into()),
            Some("a.example".into()),
            None,
            None
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_resumed_as_nginx_resumes_them() {
    let cert = self_signed(&["localhost"]);
    let (bn, bu) = (
        Backend::start(&cert, None).await,
        Backend::start(&cert, None).await,
    );
    let locations = |port: u16| {
        format!(
            "  location /reuse {{ proxy_pass https://127.0.0.1:{port}; }}\n  location /fresh {{ proxy_pass https://127.0.0.1:{port}; proxy_ssl_session_reuse off; }}"
        )
    };
    let (pn, pu) = (free_port(), free_port());
    let nginx = Nginx::start(&conf(pn, &locations(bn.port), ""), &[pn]);
    let _up = Upgate::start(&conf(pu, &locations(bu.port), ""));
    for path in ["/reuse", "/reuse", "/reuse", "/fresh", "/fresh"] {
        assert_eq!(get(pn, path).await, 200, "nginx {path}: {}", nginx.log());
        assert_eq!(get(pu, path).await, 200, "upgate {path}");
    }
    let resumed = |b: &Backend| -> Vec<bool> { b.hellos().iter().map(|h| h.resumed).collect() };
    assert_eq!(resumed(&bu), resumed(&bn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_failures_are_502_with_the_same_log_text() {
    let clients = Ca::new("client CA");
    let tls13 = Backend::start_with(
        &self_signed(&["localhost"]),
        None,
        &[&rustls::version::TLS13],
    )
    .await;
    let wants_cert = Backend::start(&self_signed(&["localhost"]), Some(&clients)).await;
    let locations = format!(
        "  location /old {{ proxy_pass https://127.0.0.1:{}; proxy_ssl_protocols TLSv1.2; }}\n  location /nocert {{ proxy_pass https://127.0.0.1:{}; }}\n",
        tls13.port, wants_cert.port
    );
    let (pn, pu) = (free_port(), free_port());
    let nginx = Nginx::start(&conf(pn, &locations, ""), &[pn]);
    let up = Upgate::start(&format!(
        "error_log error.log info;\n{}",
        conf(pu, &locations, "")
    ));
    let upgate_log =
        || std::fs::read_to_string(up.dir.path().join("error.log")).unwrap_or_default();
    for path in ["/old", "/nocert"] {
        assert_eq!(get(pn, path).await, 502, "nginx {path}: {}", nginx.log());
        assert_eq!(get(pu, path).await, 502, "upgate {path}: {}", upgate_log());
        let (n, u) = (
            message(|| nginx.log(), path).await,
            message(upgate_log, path).await,
        );
        assert_eq!(u, n, "error log line for {path}");
    }
}
