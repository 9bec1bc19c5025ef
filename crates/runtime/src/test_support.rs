//! Helpers for the unit tests: a server block from text, compiled with the
//! prefix `/prefix/`, and one request through it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::files::{Files, MemFiles};
use crate::{ClientRequest, CompileOptions, Header, Outcome, Request, Runtime};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Compiles `server { listen 8080; server_name example.com; BODY }`.
pub fn runtime(body: &str) -> Runtime {
    http_runtime(&format!(
        "server {{ listen 8080; server_name example.com;\n{body}\n}}"
    ))
}

/// Compiles `events {} http { HTTP }`.
pub fn http_runtime(http: &str) -> Runtime {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("upgate-rt-unit-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nginx.conf");
    std::fs::write(&path, format!("events {{}}\nhttp {{ {http} }}\n")).unwrap();
    let mut options = upgate_conf::LoadOptions::new(&path);
    options.check_environment = false;
    let loaded = upgate_conf::load(&options);
    std::fs::remove_dir_all(&dir).ok();
    let compile = CompileOptions {
        prefix: b"/prefix/".to_vec(),
        ..CompileOptions::default()
    };
    Runtime::compile_with(&loaded.config, &compile).unwrap()
}

/// Runs `f` on the request for `method uri` after the phases.
pub fn with_request<T>(
    body: &str,
    method: &str,
    uri: &str,
    files: &dyn Files,
    f: impl FnOnce(&mut Request<'_>) -> T,
) -> T {
    let rt = runtime(body);
    let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut c = ClientRequest::new(method.as_bytes(), uri.as_bytes(), client, local);
    c.headers = vec![Header {
        name: b"Host",
        value: b"example.com",
    }];
    let mut r = rt.process_with(&c, files);
    f(&mut r)
}

/// [`with_request`] for a GET with no files.
pub fn request_for<T>(body: &str, uri: &str, f: impl FnOnce(&mut Request<'_>) -> T) -> T {
    with_request(body, "GET", uri, &MemFiles::default(), f)
}

/// The outcome in short: `static URI PATH`, `respond STATUS [BODY]`,
/// `redirect STATUS LOCATION`, `proxy`.
pub fn decide(body: &str, method: &str, uri: &str, files: &dyn Files) -> String {
    with_request(body, method, uri, files, |r| match r.outcome.clone() {
        Outcome::Static => {
            let path = r.map_uri_to_path().unwrap().path;
            format!(
                "static {} {}",
                String::from_utf8_lossy(&r.uri),
                String::from_utf8_lossy(&path)
            )
        }
        Outcome::Respond(resp) => match resp.location {
            Some(l) => format!("redirect {} {}", resp.status, String::from_utf8_lossy(&l)),
            None if resp.body.is_empty() => format!("respond {}", resp.status),
            None => format!(
                "respond {} {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            ),
        },
        Outcome::Proxy => "proxy".into(),
        Outcome::Delay(d) => format!("delay {}", d.as_millis()),
        Outcome::StubStatus => "stub_status".into(),
        Outcome::AuthRequest(sr) => format!("auth_request {}", String::from_utf8_lossy(&sr.uri)),
        Outcome::NoListener => "no listener".into(),
    })
}
