//! Helpers for the runtime's integration tests: load a configuration from
//! text (written to a temp file, read by `upgate_conf::load` as nginx
//! reads it) and run requests through the tables.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use upgate_conf::{LoadOptions, load};
use upgate_runtime::{ClientRequest, Header, Runtime};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory under the temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("upgate-rt-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads `text` as nginx.conf (a snippet is detected) and compiles it.
pub fn runtime(text: &str) -> Runtime {
    let dir = TempDir::new("conf");
    let path = dir.0.join("nginx.conf");
    std::fs::write(&path, text).expect("write conf");
    let mut options = LoadOptions::new(&path);
    options.check_environment = false;
    let loaded = load(&options);
    if let Some(e) = &loaded.error
        && e.phase == upgate_conf::Phase::Parse
    {
        panic!("config does not load: {}", e.message);
    }
    Runtime::compile(&loaded.config).expect("compile")
}

pub const CLIENT: &str = "10.0.0.7:50000";

/// A request to `local` with `headers` (name, value).
pub fn request<'a>(
    method: &'a str,
    target: &'a str,
    local: &str,
    headers: &'a [(&'a str, &'a str)],
) -> ClientRequest<'a> {
    let client: SocketAddr = CLIENT.parse().expect("addr");
    let local: SocketAddr = local.parse().expect("addr");
    let mut r = ClientRequest::new(method.as_bytes(), target.as_bytes(), client, local);
    r.headers = headers
        .iter()
        .map(|(n, v)| Header {
            name: n.as_bytes(),
            value: v.as_bytes(),
        })
        .collect();
    r
}

/// The upstream head as text, lines joined with " | ".
pub fn head(rt: &Runtime, req: &ClientRequest<'_>) -> String {
    let mut r = rt.process(req);
    let up = r.upstream_request().expect("proxied");
    String::from_utf8_lossy(&up.to_bytes())
        .trim_end()
        .split("\r\n")
        .collect::<Vec<_>>()
        .join(" | ")
}
