//! Shared by the engine's integration tests (seeds, conformance, serve):
//! nginx started as a child with its own prefix directory and killed on
//! drop, upgate started in-process on the same configuration text, free
//! loopback ports, and a raw HTTP client that reads whole responses. Every
//! wait is bounded.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use upgate_proxy::server::Server;
use upgate_proxy::tables::Tables;

/// How long one exchange may take.
pub const IO_LIMIT: Duration = Duration::from_secs(5);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// The nginx binary; the test fails (never skips) without one.
pub fn nginx_binary() -> PathBuf {
    let candidates = [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("install nginx (apt-get install nginx): no nginx binary found"))
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory for one server, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("upgate-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        if let Err(e) = fs::create_dir_all(dir.join("logs")) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let _ = fs::create_dir_all(dir.join("conf.d"));
        let _ = fs::write(
            dir.join("mime.types"),
            "types {\n    text/html html htm;\n    text/plain txt;\n    application/json json;\n}\n",
        );
        Dir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `nginx.conf` and returns its path.
    pub fn write_conf(&self, text: &str) -> PathBuf {
        let p = self.0.join("nginx.conf");
        if let Err(e) = fs::write(&p, text) {
            panic!("cannot write {}: {e}", p.display());
        }
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The main-level lines nginx needs to run as a test child, and the temp
/// paths inside `http`.
pub fn for_nginx(conf: &str, dir: &Path) -> String {
    let d = dir.display();
    let head = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n"
    );
    let temps = format!(
        "http {{\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n"
    );
    format!("{head}{}", conf.replacen("http {", &temps, 1))
}

/// `nginx -v` says "nginx version: nginx/1.22.1"; returns "1.22.1".
pub fn nginx_version() -> String {
    let out = Command::new(nginx_binary()).arg("-v").output();
    let text = match out {
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => panic!("install nginx (apt-get install nginx): {e}"),
    };
    match text.trim().rsplit_once("nginx/") {
        Some((_, v)) => v.trim().to_owned(),
        None => panic!("unexpected `nginx -v` output: {text}"),
    }
}

/// A running nginx, killed on drop.
pub struct Nginx {
    child: Child,
    pub dir: Dir,
}

impl Nginx {
    /// `nginx -t` on `conf`: `Err(stderr)` when it fails.
    pub fn check(conf: &str) -> Result<(), String> {
        let dir = Dir::new("nginx-t");
        let path = dir.write_conf(&for_nginx(conf, dir.path()));
        let out = Command::new(nginx_binary())
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&path)
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
            Err(e) => panic!("install nginx (apt-get install nginx): {e}"),
        }
    }

    /// Starts nginx on `conf` (an nginx.conf with `events` and `http`) and
    /// waits until each of `ports` accepts.
    pub fn start(conf: &str, ports: &[u16]) -> Nginx {
        let dir = Dir::new("nginx");
        let path = dir.write_conf(&for_nginx(conf, dir.path()));
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("stderr.log"))
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!("install nginx (apt-get install nginx): {e}"),
        };
        let mut nginx = Nginx { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        for &port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = nginx.child.try_wait() {
                    panic!("nginx exited ({status}): {}", nginx.log());
                }
                if Instant::now() > deadline {
                    panic!("nginx did not listen on {port}: {}", nginx.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        nginx
    }

    pub fn log(&self) -> String {
        let mut s = fs::read_to_string(self.dir.0.join("error.log")).unwrap_or_default();
        s.push_str(&fs::read_to_string(self.dir.0.join("stderr.log")).unwrap_or_default());
        s
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// upgate serving `conf` in this process; stopped on drop of the handle.
pub struct Upgate {
    pub server: Option<Server>,
    pub dir: Dir,
}

impl Upgate {
    /// Loads `conf` like `upgate -c` (snippets wrapped by the loader) and
    /// starts serving; `Err` is the `[emerg]` text.
    pub fn try_start(conf: &str) -> Result<Upgate, String> {
        let dir = Dir::new("upgate");
        let path = dir.write_conf(conf);
        let mut options = upgate_conf::LoadOptions::new(path);
        options.prefix = dir.path().to_path_buf();
        let generation = upgate_proxy::reload::load_generation(&options)?;
        let server = Server::start(generation.tables)?;
        Ok(Upgate {
            server: Some(server),
            dir,
        })
    }

    /// As [`Upgate::start`], announcing itself as `product/version`.
    pub fn start_as(conf: &str, product: &str, version: &str) -> Upgate {
        let dir = Dir::new("upgate");
        let path = dir.write_conf(conf);
        let mut options = upgate_conf::LoadOptions::new(path);
        options.prefix = dir.path().to_path_buf();
        let mut generation = match upgate_proxy::reload::load_generation(&options) {
            Ok(g) => g,
            Err(e) => panic!("upgate did not start: {e}\n{conf}"),
        };
        generation.tables.announce_as(product, version);
        match Server::start(generation.tables) {
            Ok(server) => Upgate {
                server: Some(server),
                dir,
            },
            Err(e) => panic!("upgate did not start: {e}"),
        }
    }

    pub fn start(conf: &str) -> Upgate {
        match Upgate::try_start(conf) {
            Ok(u) => u,
            Err(e) => panic!("upgate did not start: {e}\n{conf}"),
        }
    }

    /// Builds the tables only (`upgate -t` plus compile).
    pub fn check(conf: &str) -> Result<Tables, String> {
        let dir = Dir::new("upgate-t");
        let path = dir.write_conf(conf);
        let mut options = upgate_conf::LoadOptions::new(path);
        options.prefix = dir.path().to_path_buf();
        upgate_proxy::reload::load_generation(&options).map(|g| g.tables)
    }

    pub fn live_connections(&self) -> usize {
        self.server.as_ref().map_or(0, Server::live_connections)
    }
}

/// A response as the client saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub status_line: String,
    /// Header lines in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body ended by its framing (not by the connection's end).
    pub whole: bool,
}

impl Seen {
    pub fn status(&self) -> u16 {
        self.status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits the responses in `raw`; `heads[i]` says whether request i was HEAD.
/// A final response without a length takes the rest.
pub fn parse_responses(mut raw: &[u8], heads: &[bool]) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut i = 0;
    while !raw.is_empty() {
        let Some(end) = find(raw, b"\r\n\r\n").map(|e| e + 4) else {
            out.push(Seen {
                status_line: String::from_utf8_lossy(raw).into_owned(),
                ..Seen::default()
            });
            break;
        };
        let text = String::from_utf8_lossy(&raw[..end - 4]).into_owned();
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        let mut seen = Seen {
            status_line,
            headers,
            body: Vec::new(),
            whole: true,
        };
        raw = &raw[end..];
        let status = seen.status();
        if status == 100 {
            // Interim responses are kept (and compared), not counted.
            out.push(seen);
            continue;
        }
        let head_req = heads.get(i).copied().unwrap_or(false);
        i += 1;
        if head_req || status == 204 || status == 304 || status == 101 {
            out.push(seen);
            continue;
        }
        if let Some(n) = seen
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            seen.whole = raw.len() >= n;
            let n = n.min(raw.len());
            seen.body = raw[..n].to_vec();
            raw = &raw[n..];
        } else if seen
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            let (body, used, whole) = dechunk(raw);
            seen.body = body;
            seen.whole = whole;
            raw = &raw[used..];
        } else {
            seen.body = raw.to_vec();
            seen.whole = false;
            raw = &[];
        }
        out.push(seen);
    }
    out
}

/// Decodes a chunked body; returns it, the bytes used, and whether the
/// last chunk was seen.
fn dechunk(raw: &[u8]) -> (Vec<u8>, usize, bool) {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find(&raw[at..], b"\r\n") else {
            return (body, raw.len(), false);
        };
        let size = std::str::from_utf8(&raw[at..at + eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else {
            return (body, raw.len(), false);
        };
        at += eol + 2;
        if size == 0 {
            return match find(&raw[at..], b"\r\n") {
                Some(e) => (body, at + e + 2, true),
                None => (body, raw.len(), false),
            };
        }
        let take = size.min(raw.len().saturating_sub(at));
        body.extend_from_slice(&raw[at..at + take]);
        at = (at + size + 2).min(raw.len());
    }
}

/// Whether `raw` holds `n` whole responses (reading until close otherwise).
fn complete(raw: &[u8], heads: &[bool], n: usize) -> bool {
    let seen = parse_responses(raw, heads);
    let finals: Vec<&Seen> = seen.iter().filter(|s| s.status() != 100).collect();
    finals.len() >= n && finals.iter().take(n).all(|s| s.whole)
}

/// Sends `request` from 127.0.0.1 to `port` and reads until `n` responses
/// are whole, the server closes, or [`IO_LIMIT`] passes. Returns the raw
/// bytes and whether the server closed.
pub async fn exchange(port: u16, request: &[u8], heads: &[bool], n: usize) -> (Vec<u8>, bool) {
    let mut s = match tokio::time::timeout(IO_LIMIT, TcpStream::connect(("127.0.0.1", port))).await
    {
        Ok(Ok(s)) => s,
        _ => return (Vec::new(), true),
    };
    let _ = s.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16384];
    let deadline = tokio::time::Instant::now() + IO_LIMIT;
    let mut closed = false;
    while !complete(&got, heads, n) {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(k)) => got.extend_from_slice(&buf[..k]),
            Err(_) => break,
        }
    }
    (got, closed)
}

/// The responses to each of `requests` (one connection each).
pub async fn run_all(port: u16, requests: &[&[u8]]) -> Vec<Vec<Seen>> {
    let mut out = Vec::new();
    for req in requests {
        let n = req.windows(4).filter(|w| *w == b"\r\n\r\n").count();
        let (raw, _) = exchange(port, req, &vec![false; n], n).await;
        out.push(parse_responses(&raw, &vec![false; n]));
    }
    out
}

pub fn comparable(s: &Seen) -> (String, Vec<(String, String)>, Vec<u8>) {
    let headers = s
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .cloned()
        .collect();
    (s.status_line.clone(), headers, s.body.clone())
}

/// Runs `conf` (with `{P0}`, `{P1}`... standing for free ports) under
/// nginx, then upgate, and asserts that every response is the same.
pub async fn same_as_nginx(conf: &str, nports: usize, requests: &[&[u8]]) -> Vec<Vec<Seen>> {
    let ports: Vec<u16> = (0..nports).map(|_| free_port()).collect();
    let mut text = conf.to_string();
    for (i, p) in ports.iter().enumerate() {
        text = text.replace(&format!("{{P{i}}}"), &p.to_string());
    }
    let from_nginx = {
        let nginx = Nginx::start(&text, &ports);
        let got = run_all(ports[0], requests).await;
        drop(nginx);
        got
    };
    // Give the ports back before upgate binds them.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let upgate = Upgate::start_as(&text, "nginx", &nginx_version());
    let from_upgate = run_all(ports[0], requests).await;
    drop(upgate);
    for (i, (n, u)) in from_nginx.iter().zip(&from_upgate).enumerate() {
        let n: Vec<_> = n.iter().map(comparable).collect();
        let u: Vec<_> = u.iter().map(comparable).collect();
        assert_eq!(
            n,
            u,
            "request {i}: {}\n(nginx left, upgate right)",
            String::from_utf8_lossy(requests[i])
        );
    }
    from_upgate
}
