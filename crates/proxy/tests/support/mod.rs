//! A real nginx for differential tests: started as a child with its own
//! prefix directory (`-p`, `-e stderr`, `daemon off; master_process off;`),
//! on free loopback ports, killed by a Drop guard; and a recording backend
//! that keeps the raw bytes nginx sends upstream. Every wait is bounded.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long one response may take.
pub const IO_LIMIT: Duration = Duration::from_secs(5);

/// The nginx binary, or a failure telling how to get it.
pub fn nginx_binary() -> PathBuf {
    let candidates = [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ];
    let from_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(from_path)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("install nginx (apt-get install nginx): no nginx binary found"))
}

/// `nginx -v` says "nginx version: nginx/1.22.1"; returns "1.22.1".
pub fn nginx_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("-v").output();
    let text = match out {
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => panic!(
            "install nginx (apt-get install nginx): {} -v failed: {e}",
            bin.display()
        ),
    };
    match text.trim().rsplit_once("nginx/") {
        Some((_, v)) => v.trim().to_owned(),
        None => panic!("unexpected `nginx -v` output: {text}"),
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A running nginx, stopped on drop.
pub struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with `http_block` (the inside of `http { }`) and waits
    /// until each of `ports` accepts connections.
    pub fn start(http_block: &str, ports: &[u16]) -> Nginx {
        let bin = nginx_binary();
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("upgate-nginx-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        if let Err(e) = fs::create_dir_all(dir.join("logs")) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log stderr info;\nevents {{ worker_connections 256; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
             {http_block}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        if let Err(e) = fs::write(&conf_path, conf) {
            panic!("cannot write {}: {e}", conf_path.display());
        }
        let stderr = match fs::File::create(dir.join("stderr.log")) {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        };
        let child = Command::new(&bin)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!(
                "install nginx (apt-get install nginx): cannot run {}: {e}",
                bin.display()
            ),
        };
        let mut nginx = Nginx { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        for &port in ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = nginx.child.try_wait() {
                    panic!("nginx exited ({status}): {}", nginx.stderr());
                }
                if Instant::now() > deadline {
                    panic!("nginx did not listen on {port}: {}", nginx.stderr());
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        nginx
    }

    /// What nginx wrote to its error log so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Sends `raw` on a fresh connection and reads one response (two when the
/// first is `100 Continue`), bounded by [`IO_LIMIT`]. `head_request`: the
/// response has no body whatever its Content-Length says.
pub fn exchange(port: u16, raw: &[u8], head_request: bool) -> Vec<u8> {
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => panic!("connect {port}: {e}"),
    };
    let _ = s.set_read_timeout(Some(IO_LIMIT));
    let _ = s.set_write_timeout(Some(IO_LIMIT));
    let _ = s.write_all(raw);
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = Instant::now() + IO_LIMIT;
    while Instant::now() < deadline && !response_complete(&got, head_request) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    got
}

/// Whether `got` holds a whole response (interim 100 responses skipped).
fn response_complete(got: &[u8], head_request: bool) -> bool {
    let mut rest = got;
    loop {
        if !rest.starts_with(b"HTTP/") {
            return false; // HTTP/0.9 or nothing yet: read until close
        }
        let Some(end) = find(rest, b"\r\n\r\n").map(|i| i + 4) else {
            return false;
        };
        if rest.starts_with(b"HTTP/1.1 100 ") {
            rest = &rest[end..];
            continue;
        }
        if head_request {
            return true;
        }
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        return match head
            .split("\r\ncontent-length: ")
            .nth(1)
            .and_then(|t| t.split("\r\n").next())
        {
            Some(n) => n
                .trim()
                .parse::<usize>()
                .is_ok_and(|n| rest.len() >= end + n),
            None => false,
        };
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A backend that records each request's raw bytes and answers `ok`.
pub struct Backend {
    pub port: u16,
    recorded: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    pub fn start() -> Backend {
        let listener = match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("backend bind: {e}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let _ = listener.set_nonblocking(true);
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (rec, halt) = (recorded.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let bytes = serve(conn);
                        if let Ok(mut r) = rec.lock() {
                            r.push(bytes);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend {
            port,
            recorded,
            stop,
            thread: Some(thread),
        }
    }

    /// The requests recorded since the last call.
    pub fn take(&self) -> Vec<Vec<u8>> {
        self.recorded
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// Like `take`, but waits (up to `wait`) for a request to be recorded:
    /// the backend records after it has answered, so the client may see the
    /// answer before the recording exists.
    pub fn take_within(&self, wait: Duration) -> Vec<Vec<u8>> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let got = self.take();
            if !got.is_empty() || std::time::Instant::now() >= deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Reads one request (head and Content-Length body), answers, closes.
fn serve(mut conn: TcpStream) -> Vec<u8> {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(IO_LIMIT));
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = Instant::now() + IO_LIMIT;
    while Instant::now() < deadline {
        if let Some(end) = find(&got, b"\r\n\r\n").map(|i| i + 4) {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len = head
                .split("\r\ncontent-length: ")
                .nth(1)
                .and_then(|t| t.split("\r\n").next())
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + len {
                break;
            }
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let _ = conn.shutdown(Shutdown::Both);
    got
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
