//! Differential test of the upstream request head against the real nginx
//! (/usr/sbin/nginx; fails, never skips, without it): a backend thread
//! records the exact bytes nginx sends upstream, and
//! `Request::upstream_request().to_bytes()` must produce the same bytes for
//! the same request.
//!
//! A seeded generator makes `proxy_set_header` lists at http, server and
//! location level (nested locations inherit or replace them), empty
//! values, variables (`$http_*`, `$host`, `$proxy_add_x_forwarded_for`,
//! `$arg_*`, `$cookie_*`, a map), names in odd case, duplicates,
//! `proxy_pass` with and without a URI part, `proxy_http_version`,
//! `proxy_pass_request_headers off`; requests carry repeated and hop-by-hop
//! headers, underscores, %-escapes and args. nginx 1.22 returns only the
//! first of repeated headers for `$http_NAME` where 1.23+ (and upgate)
//! join them (testdata/route/known.md), so the generator never reads a
//! repeated header through `$http_` except Cookie and X-Forwarded-For,
//! which both versions join.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod differential;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use differential::generate::Rng;
use differential::nginx::{Nginx, free_ports, main_conf, require_nginx, send};
use upgate_conf::{LoadOptions, load};
use upgate_runtime::{ClientRequest, ClientVersion, Header, Runtime};

/// Records each upstream request head, answers 200, closes.
fn backend() -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            if tx.send(head).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

const NAMES: &[&str] = &[
    "X-A",
    "x-b",
    "Host",
    "host",
    "Connection",
    "Upgrade",
    "X-Real-IP",
    "X-Forwarded-For",
    "TE",
    "Accept",
];
const VALUES: &[&str] = &[
    "a-value",
    "\"\"",
    "$http_x_single",
    "$host",
    "$proxy_add_x_forwarded_for",
    "$arg_a",
    "$cookie_c",
    "$mapped",
    "\"$scheme://$host$request_uri\"",
    "$http_upgrade",
    "$proxy_host",
    "\"upgrade\"",
    "$http_x_forwarded_for",
    "$http_cookie",
    "\"${uri}x\"",
];

fn set_headers(rng: &mut Rng, indent: &str, out: &mut String) {
    for _ in 0..rng.below(4) {
        let _ = writeln!(
            out,
            "{indent}proxy_set_header {} {};",
            rng.pick(NAMES),
            rng.pick(VALUES)
        );
    }
}

/// One configuration: locations `/l0` ... each proxying to the backend.
fn config(rng: &mut Rng, listen: u16, backend: SocketAddr) -> String {
    let mut o = String::new();
    o.push_str("    map $http_x_m $mapped { default other; foo exact; ~^b(.) r$1; }\n");
    set_headers(rng, "    ", &mut o);
    let _ = writeln!(
        o,
        "    server {{\n        listen 127.0.0.1:{listen};\n        server_name example.com;"
    );
    set_headers(rng, "        ", &mut o);
    if rng.chance(40) {
        o.push_str("        proxy_http_version 1.1;\n");
    }
    for l in 0..4 {
        let uri = *rng.pick(&["", "", "/", "/up/", "/x"]);
        match rng.below(8) {
            // variables: the evaluated URI part is sent as it is
            0 => {
                let tail = rng.pick_str(&["$request_uri", "/fixed", "", "$uri?v=$arg_a"]);
                let _ = writeln!(
                    o,
                    "        location /l{l} {{\n            proxy_pass http://{backend}{tail};"
                );
            }
            1 => {
                let _ = writeln!(
                    o,
                    "        location /l{l} {{\n            rewrite ^/l(\\d)/n/(.*)$ /l$1/r/$2 break;\n            proxy_pass http://{backend}{uri};"
                );
            }
            _ => {
                let _ = writeln!(
                    o,
                    "        location /l{l} {{\n            proxy_pass http://{backend}{uri};"
                );
            }
        }
        set_headers(rng, "            ", &mut o);
        if rng.chance(25) {
            o.push_str("            proxy_http_version 1.1;\n");
        }
        if rng.chance(10) {
            o.push_str("            proxy_pass_request_headers off;\n");
        }
        if rng.chance(40) {
            let _ = writeln!(
                o,
                "            location /l{l}/n {{\n                proxy_pass http://{backend}{uri};"
            );
            set_headers(rng, "                ", &mut o);
            o.push_str("            }\n");
        }
        o.push_str("        }\n");
    }
    o.push_str("    }\n");
    o
}

/// (path, headers) of one request.
fn request(rng: &mut Rng) -> (String, Vec<(String, String)>) {
    let mut path = format!("/l{}", rng.below(4));
    path.push_str(rng.pick_str(&["", "/n", "/n/deep", "/a%20b", "/%41/../c", "//x", "x"]));
    if rng.chance(40) {
        path.push_str(rng.pick_str(&["?a=1", "?a=2&b=3", "?c=d"]));
    }
    let mut headers = vec![(
        "Host".to_string(),
        rng.pick_str(&["example.com", "Example.COM:8080"])
            .to_string(),
    )];
    let pool: &[(&str, &[&str])] = &[
        ("X-Single", &["one", "two"]),
        ("X-Forwarded-For", &["1.1.1.1", "2.2.2.2"]),
        ("Cookie", &["c=1", "d=2; c=3"]),
        ("X-M", &["foo", "FOO", "bar", "zzz"]),
        ("Upgrade", &["websocket"]),
        ("Connection", &["Upgrade", "keep-alive"]),
        ("TE", &["trailers"]),
        ("Keep-Alive", &["300"]),
        ("X_Under", &["u"]),
        ("x-lower", &["v"]),
        ("Accept", &["*/*"]),
        ("X-A", &["from-client"]),
    ];
    let mut used: Vec<&str> = Vec::new();
    for _ in 0..rng.below(7) {
        let (name, values) = rng.pick(pool);
        // $http_x_single is read by the config: never repeat it (1.22 reads
        // the first line only); Cookie and X-Forwarded-For may repeat.
        if used.contains(name) && !matches!(*name, "Cookie" | "X-Forwarded-For") {
            continue;
        }
        used.push(name);
        headers.push((name.to_string(), rng.pick(values).to_string()));
    }
    // the last Connection line decides: nginx closes after answering
    headers.push(("Connection".to_string(), "close".to_string()));
    (path, headers)
}

fn predict(
    rt: &Runtime,
    local: SocketAddr,
    path: &str,
    headers: &[(String, String)],
) -> Option<Vec<u8>> {
    let client: SocketAddr = "127.0.0.1:40000".parse().ok()?;
    let mut c = ClientRequest::new(b"GET", path.as_bytes(), client, local);
    c.version = ClientVersion::Http11;
    c.headers = headers
        .iter()
        .map(|(n, v)| Header {
            name: n.as_bytes(),
            value: v.as_bytes(),
        })
        .collect();
    let mut r = rt.process(&c);
    r.upstream_request().map(|u| u.to_bytes())
}

#[test]
fn upstream_head_agrees_with_nginx() {
    require_nginx();
    let configs = std::env::var("UPGATE_HEAD_CONFIGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let per_config = 40;
    let (backend_addr, heads) = backend();
    let root = std::env::temp_dir().join(format!("upgate-head-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let seed = std::env::var("UPGATE_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x004e_ad0f_2026);
    let mut rng = Rng(seed);
    let (mut total, mut agreed) = (0usize, 0usize);
    let mut report = String::new();
    for i in 0..configs {
        let state = rng.clone();
        let mut attempt = 0;
        let (local, conf, prefix, nginx) = loop {
            rng = state.clone();
            let port = free_ports(1)[0];
            let local: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            let body = config(&mut rng, port, backend_addr);
            let prefix = root.join(format!("c{i}-{attempt}"));
            let conf = main_conf(&prefix, &body);
            match Nginx::start(&prefix, &conf, local) {
                Ok(n) => break (local, conf, prefix, n),
                Err(e) if attempt >= 3 => panic!("config {i}: {e}\n{conf}"),
                Err(_) => attempt += 1,
            }
        };
        let mut options = LoadOptions::new(prefix.join("conf/nginx.conf"));
        options.check_environment = false;
        let loaded = load(&options);
        assert!(loaded.error.is_none(), "{:?}", loaded.error);
        let rt = Runtime::compile(&loaded.config).expect("compile");
        for _ in 0..per_config {
            let (path, headers) = request(&mut rng);
            let mut raw = format!("GET {path} HTTP/1.1\r\n");
            for (n, v) in &headers {
                let _ = write!(raw, "{n}: {v}\r\n");
            }
            raw.push_str("\r\n");
            while heads.try_recv().is_ok() {}
            let reply = send(local, raw.as_bytes());
            let theirs = heads.recv_timeout(Duration::from_secs(5)).ok();
            let ours = predict(&rt, local, &path, &headers);
            total += 1;
            if theirs == ours {
                agreed += 1;
            } else if report.len() < 30_000 {
                let _ = write!(
                    report,
                    "config {i}: {}\n  nginx: {:?}\n  ours:  {:?}\n  (client got {:?})\n",
                    raw.replace("\r\n", " | "),
                    theirs.as_deref().map(String::from_utf8_lossy),
                    ours.as_deref().map(String::from_utf8_lossy),
                    reply.map(|r| r.status)
                );
            }
        }
        if std::env::var("UPGATE_DIFF_KEEP").is_ok() && !report.is_empty() {
            let _ = writeln!(report, "--- config {i}:\n{conf}");
        }
        drop(nginx);
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("upstream head differential: {agreed}/{total} requests byte-identical");
    assert_eq!(agreed, total, "disagreements:\n{report}");
}
