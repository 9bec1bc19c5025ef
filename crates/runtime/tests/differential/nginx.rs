//! Running the real nginx for the differential tests: one child process per
//! configuration (`daemon off; master_process off;`, its own `-p` prefix,
//! `-e stderr`), killed by a drop guard; free ports found by binding
//! 127.0.0.1:0; a raw HTTP/1.1 client over `TcpStream`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NGINX: &str = "/usr/sbin/nginx";

/// Fails the test (never skips) when nginx is not installed.
pub fn require_nginx() {
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} is missing: install nginx (apt-get install nginx)"
    );
}

/// `n` distinct ports that were free a moment ago.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// A running nginx, killed when dropped.
pub struct Nginx {
    child: Child,
    pub prefix: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The wrapper around the generated `http {}` block.
pub fn main_conf(prefix: &Path, http_body: &str) -> String {
    let p = prefix.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
         error_log stderr crit;\nevents {{ worker_connections 512; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {p}/tmp/body;\n\
         proxy_temp_path {p}/tmp/proxy;\n    fastcgi_temp_path {p}/tmp/fastcgi;\n\
         uwsgi_temp_path {p}/tmp/uwsgi;\n    scgi_temp_path {p}/tmp/scgi;\n\
         server_names_hash_bucket_size 128;\n{http_body}\n}}\n"
    )
}

impl Nginx {
    /// Writes `conf` under `prefix` and starts nginx; waits until `probe`
    /// accepts connections.
    pub fn start(prefix: &Path, conf: &str, probe: SocketAddr) -> Result<Nginx, String> {
        for d in ["conf", "logs", "tmp"] {
            std::fs::create_dir_all(prefix.join(d)).map_err(|e| e.to_string())?;
        }
        let conf_path = prefix.join("conf/nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg("stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {NGINX}: {e}"))?;
        let mut nginx = Nginx {
            child,
            prefix: prefix.to_path_buf(),
        };
        let started = Instant::now();
        let pid = prefix.join("nginx.pid");
        loop {
            // nginx writes its pid file once every socket is bound: a port
            // taken by another process makes it exit before that.
            if pid.is_file()
                && TcpStream::connect_timeout(&probe, Duration::from_millis(200)).is_ok()
                && matches!(nginx.child.try_wait(), Ok(None))
            {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = nginx.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!("nginx exited ({status}): {err}"));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("nginx did not start listening in 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes, reads to EOF; `None` when the connection is refused.
pub fn send(addr: SocketAddr, raw: &[u8]) -> Option<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(raw).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    Some(parse_reply(&buf))
}

fn parse_reply(buf: &[u8]) -> Reply {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let body = buf.get(end + 4..).unwrap_or_default().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}
