//! The built upgate binary run as nginx-tests runs nginx (`-p DIR/ -c
//! nginx.conf -e error.log`, the configuration saying `daemon off;` and
//! `pid DIR/nginx.pid;`), killed on drop if still running; and [`Running`],
//! nginx or upgate started the same way for the tests run against both.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `BINARY -p DIR/ -c nginx.conf -e error.log`, as nginx-tests starts nginx.
fn spawn(binary: &Path, dir: &Path) -> Child {
    Command::new(binary)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .args(["-c", "nginx.conf", "-e", "error.log"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

/// The upgate process, killed on drop if still running.
pub struct Upgate {
    child: Child,
    dir: PathBuf,
}

impl Upgate {
    pub fn start(dir: &Path) -> Upgate {
        let _ = std::fs::remove_file(dir.join("nginx.pid"));
        let child = spawn(Path::new(env!("CARGO_BIN_EXE_upgate")), dir);
        let mut up = Upgate {
            child,
            dir: dir.to_path_buf(),
        };
        let end = Instant::now() + Duration::from_secs(10);
        while !dir.join("nginx.pid").exists() {
            if let Ok(Some(status)) = up.child.try_wait() {
                panic!("upgate exited at start ({status}): {}", up.error_log());
            }
            assert!(Instant::now() < end, "no pid file after 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        up
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        if let Err(e) = nix::sys::signal::kill(pid, sig) {
            panic!("kill({pid}, {sig}) failed: {e}");
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the exit, at most `limit`; the time it took.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.exited() {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Upgate {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// nginx or upgate started on DIR/nginx.conf (`-p DIR/ -e error.log`),
/// once it listens on `port`; killed on drop.
pub struct Running {
    name: &'static str,
    child: Child,
    dir: PathBuf,
}

impl Running {
    pub fn start(
        name: &'static str,
        binary: &Path,
        dir: &Path,
        port: u16,
        limit: Duration,
    ) -> Running {
        let child = spawn(binary, dir);
        let mut running = Running {
            name,
            child,
            dir: dir.to_path_buf(),
        };
        let end = Instant::now() + limit;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = running.child.try_wait() {
                panic!("{name} exited at start ({status}): {}", running.error_log());
            }
            assert!(Instant::now() < end, "{name} did not listen in {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        running
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }

    /// user + system time so far (/proc/PID/stat, in USER_HZ = 100 ticks).
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        // after the ")" that ends the command name: state is field 3,
        // utime and stime fields 14 and 15
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
        match (ticks(14), ticks(15)) {
            (Some(u), Some(s)) => Duration::from_millis((u + s) * 10),
            _ => panic!("{}: unreadable /proc stat: {stat}", self.name),
        }
    }

    pub fn limit_open_files(&self, n: usize) {
        let status = Command::new("prlimit")
            .arg("--pid")
            .arg(self.pid().to_string())
            .arg(format!("--nofile={n}:{n}"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run prlimit (util-linux): {e}"));
        assert!(status.success(), "prlimit failed: {status}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
