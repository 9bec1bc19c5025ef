//! Shared by the TLS tests (`tls_end_to_end`, `tls_scan`, `tls_browser`):
//! a small PKI made with rcgen for each run, upgate or Debian's nginx
//! started on a configuration in a scratch directory (`daemon off;
//! master_process off;`, its own prefix, killed on drop), free loopback
//! ports (this file); the PKI (`pki.rs`), rustls client configurations and
//! a bounded HTTP/1.1 exchange over any stream (`client.rs`), TLS backends
//! (`backends.rs`). Every wait is bounded; nothing here skips: a missing program
//! panics with what to install.

#![allow(dead_code, unused_imports)]

mod backends;
mod client;
mod pki;

pub use backends::{tls_backend, tls_ws_backend};
pub use client::*;
pub use pki::{Issued, Pki, rsa_key};

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Debian's nginx, the reference.
pub const NGINX: &str = "/usr/sbin/nginx";
/// How long one exchange (connect, handshake, request, response) may take.
pub const IO_LIMIT: Duration = Duration::from_secs(10);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// Fails the test (never skips) without nginx.
pub fn require_nginx() {
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} is missing: this test compares with Debian's nginx (apt-get install nginx)"
    );
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("upgate-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["", "tmp", "logs"] {
            if let Err(e) = fs::create_dir_all(dir.join(sub)) {
                panic!("cannot create {}: {e}", dir.display());
            }
        }
        Dir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `self/name` as a string, for configuration text.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) {
        if let Err(e) = fs::write(self.0.join(name), content) {
            panic!("cannot write {name}: {e}");
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Which server runs the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Upgate,
    Nginx,
}

impl Program {
    pub fn binary(self) -> &'static str {
        match self {
            Program::Upgate => env!("CARGO_BIN_EXE_upgate"),
            Program::Nginx => NGINX,
        }
    }
}

/// The main-level wrapper around an `http {}` body: one process in the
/// foreground, files in `dir`.
pub fn main_conf(dir: &Dir, http_body: &str) -> String {
    let d = dir.path().display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\nevents {{ worker_connections 1024; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/tmp/body;\n\
         \x20   proxy_temp_path {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n\
         {http_body}\n}}\n"
    )
}

/// A running upgate or nginx, killed when dropped.
pub struct Served {
    child: Child,
    dir: PathBuf,
    pub program: Program,
}

impl Served {
    /// Writes `conf` as `dir/nginx.conf`, starts `program` on it (`-p DIR/
    /// -c nginx.conf -e error.log`) and waits (10 s at most) until every
    /// port in `ports` accepts; panics with the error log otherwise.
    pub fn start(program: Program, dir: &Dir, conf: &str, ports: &[u16]) -> Served {
        Served::start_with(program, dir, conf, ports, &[])
    }

    /// [`Served::start`] with more arguments on the command line (upgate's
    /// `--metrics ADDR`).
    pub fn start_with(
        program: Program,
        dir: &Dir,
        conf: &str,
        ports: &[u16],
        args: &[&str],
    ) -> Served {
        if program == Program::Nginx {
            require_nginx();
        }
        dir.write("nginx.conf", conf);
        let _ = fs::remove_file(dir.path().join("nginx.pid"));
        let child = Command::new(program.binary())
            .arg("-p")
            .arg(format!("{}/", dir.path().display()))
            .args(["-c", "nginx.conf", "-e", "error.log"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.binary()));
        let mut served = Served {
            child,
            dir: dir.path().to_path_buf(),
            program,
        };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = served.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = served.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "{program:?} exited at start ({status}) on\n{conf}\nstderr: {err}\nerror.log: {}",
                    served.error_log()
                );
            }
            let up = ports.iter().all(|p| {
                std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], *p)),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if up {
                return served;
            }
            assert!(
                Instant::now() < end,
                "{program:?} did not listen on {ports:?} in 10 s: {}",
                served.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
