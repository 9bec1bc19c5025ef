//! Request smuggling and hostile input, against the running proxy and
//! against nginx (Debian's) on the same configuration and the same
//! kind of recording backend. Each case is sent on one connection to nginx
//! and to upgate at once; both the client's view (the responses, whether the connection
//! closed) and the backend's view (the requests it parsed, tunnel bytes,
//! bytes it could not parse) are kept. upgate passes a case when
//! - the client saw what nginx's client saw, or the same up to a point where
//!   upgate refused (an error status or a close) and then sent nothing more
//!   or only what nginx sent after that point;
//! - the backend saw what nginx's backend saw, or a prefix of it when
//!   upgate refused earlier; and when the clients' views are equal, the
//!   backends' are equal too;
//! - upgate closed wherever nginx closed;
//! - no `SMUGGLED` byte (a backend's answer meant for nobody) reached
//!   upgate's client unless it reached nginx's too.
//!
//! The table of cases and outcomes is docs/security.md; this test checks
//! that it lists every case. nginx is required: the test fails, never skips,
//! without it.

#[path = "smuggling_vs_nginx/backend.rs"]
mod backend;
#[path = "smuggling_vs_nginx/cases.rs"]
mod cases;
mod serve_support;

use std::time::Duration;

use backend::{Backend, Event};
use cases::Case;
use serve_support::{Nginx, Seen, Upgate, find, free_port, nginx_version, parse_responses};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONF: &str = r#"events {}
http {
    access_log off;
    client_header_timeout 1s;
    client_body_timeout 1s;
    client_max_body_size 1k;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    upstream backend { server 127.0.0.1:{B}; keepalive 8; }
    server {
        listen 127.0.0.1:{P};
        proxy_set_header X-Proxied 1;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Proxied 1;
        }
        location /ws {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Proxied 1;
        }
        location /old { proxy_pass http://127.0.0.1:{B}; }
        location = /drop { return 444; }
        location /ret { return 200 ret; }
    }
}
"#;

/// Everything one connection showed.
#[derive(Debug)]
struct View {
    responses: Vec<Seen>,
    closed: bool,
    raw: Vec<u8>,
    backend: Vec<Event>,
}

/// Sends the case on a fresh connection to `port` and reads until the
/// server closes, nothing arrives for the case's quiet time, or 6 s pass.
async fn run(case: &Case, port: u16, backend: &Backend) -> View {
    backend.reset(case.reply.clone());
    let mut raw = Vec::new();
    let mut closed = false;
    if let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    {
        let _ = s.write_all(&case.client).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
        let mut buf = vec![0u8; 65536];
        loop {
            let wait = case.quiet.min(deadline - tokio::time::Instant::now());
            match tokio::time::timeout(wait, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
    } else {
        closed = true;
    }
    // What the proxy does after the client is gone reaches the backend
    // within a moment (or never).
    tokio::time::sleep(Duration::from_millis(50)).await;
    blank_dates(&mut raw);
    View {
        responses: parse_responses(&raw, &case.heads),
        closed,
        raw,
        backend: backend.events(),
    }
}

/// Dates differ between the runs, even where a response ends up inside
/// another's body.
fn blank_dates(raw: &mut [u8]) {
    const DATE: &[u8] = b"\r\nDate: ";
    let mut at = 0;
    while let Some(i) = find(&raw[at..], DATE) {
        let start = at + i + DATE.len();
        let end = (start + 29).min(raw.len());
        raw[start..end].fill(b'-');
        at = end;
    }
}

/// The parts of a response both proxies must agree on.
fn key(s: &Seen) -> (String, Vec<u8>) {
    (s.status_line.clone(), s.body.clone())
}

/// A response that refuses: an error status, or nothing parseable.
fn refuses(s: Option<&Seen>) -> bool {
    s.is_none_or(|s| s.status() >= 400 || s.status() == 0)
}

/// `Ok(note)` when upgate's view is nginx's or stricter; `Err(why)` else.
fn judge(nginx: &View, upgate: &View) -> Result<&'static str, String> {
    let n: Vec<_> = nginx.responses.iter().map(key).collect();
    let u: Vec<_> = upgate.responses.iter().map(key).collect();
    let smuggled = |v: &View| find(&v.raw, b"SMUGGLED").is_some();
    if smuggled(upgate) && !smuggled(nginx) {
        return Err("a response meant for nobody reached the client".into());
    }
    let same_client = n == u;
    if !same_client {
        let k = n.iter().zip(&u).take_while(|(a, b)| a == b).count();
        // After refusing a response (a 502 for what the backend sent) the
        // connection may go on, but only as nginx's did.
        let rest_as_nginx = u.len() == n.len() && u[k + 1..] == n[k + 1..];
        if !refuses(upgate.responses.get(k)) || (u.len() > k + 1 && !rest_as_nginx) {
            return Err(format!(
                "upgate answered response {k} where nginx did differently"
            ));
        }
    }
    if nginx.closed && !upgate.closed {
        return Err("nginx closed the connection, upgate kept it open".into());
    }
    let b = upgate.backend.len();
    if same_client && upgate.backend != nginx.backend {
        return Err("same answers, but the backend saw something else".into());
    }
    if b > nginx.backend.len() || upgate.backend[..] != nginx.backend[..b] {
        return Err("the backend saw what nginx did not send it".into());
    }
    Ok(if same_client { "same" } else { "stricter" })
}

fn describe(v: &View) -> String {
    let responses: Vec<String> = v
        .responses
        .iter()
        .map(|s| {
            let body = String::from_utf8_lossy(&s.body[..s.body.len().min(40)]).into_owned();
            format!("{:?} {body:?}", s.status_line)
        })
        .collect();
    let backend: Vec<String> = v.backend.iter().map(ToString::to_string).collect();
    format!(
        "client: [{}]{}\n  raw: {:?}\n  backend: [{}]",
        responses.join(", "),
        if v.closed { " closed" } else { "" },
        String::from_utf8_lossy(&v.raw[..v.raw.len().min(300)]),
        backend.join("; ")
    )
}

/// How a view reads in the docs' table: the statuses, then `close`.
fn outcome(v: &View) -> String {
    let mut parts: Vec<String> = v
        .responses
        .iter()
        .map(|s| match s.status() {
            0 => "garbage".to_string(),
            n => n.to_string(),
        })
        .collect();
    if v.closed {
        parts.push("close".into());
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(" ")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_cases_are_refused_as_nginx_refuses_them() {
    // Each proxy has its own backend, so that a case runs on both at once.
    let (nginx_backend, upgate_backend) = (Backend::start().await, Backend::start().await);
    let (nginx_port, upgate_port) = (free_port(), free_port());
    let conf = |p: u16, b: &Backend| {
        CONF.replace("{P}", &p.to_string())
            .replace("{B}", &b.port.to_string())
    };
    let nginx = Nginx::start(&conf(nginx_port, &nginx_backend), &[nginx_port]);
    let upgate = Upgate::start_as(
        &conf(upgate_port, &upgate_backend),
        "nginx",
        &nginx_version(),
    );

    let cases = cases::cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for case in &cases {
        let (from_nginx, from_upgate) = tokio::join!(
            run(case, nginx_port, &nginx_backend),
            run(case, upgate_port, &upgate_backend)
        );
        match judge(&from_nginx, &from_upgate) {
            Ok(note) => table.push(format!(
                "| `{}` | {} | {} | {} | {note} |",
                case.name,
                case.group,
                outcome(&from_nginx),
                outcome(&from_upgate)
            )),
            Err(why) => failures.push(format!(
                "{}: {why}\n nginx  {}\n upgate {}",
                case.name,
                describe(&from_nginx),
                describe(&from_upgate)
            )),
        }
    }
    println!("| case | group | nginx | upgate | |\n|---|---|---|---|---|");
    println!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}\nnginx log (tail):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n"),
        nginx
            .log()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(upgate);

    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/security.md");
    let text = std::fs::read_to_string(&docs).unwrap_or_default();
    let missing: Vec<&str> = cases
        .iter()
        .map(|c| c.name)
        .filter(|name| !text.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/security.md does not list {missing:?} (paste the table this test prints)"
    );
}
