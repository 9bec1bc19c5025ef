//! The built upgate binary run as nginx-tests runs nginx (`-p DIR/ -c
//! nginx.conf -e error.log`, the configuration saying `daemon off;` and
//! `pid DIR/nginx.pid;`), killed on drop if still running.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The upgate process, killed on drop if still running.
pub struct Upgate {
    child: Child,
    dir: PathBuf,
}

impl Upgate {
    pub fn start(dir: &Path) -> Upgate {
        let _ = std::fs::remove_file(dir.join("nginx.pid"));
        let child = Command::new(env!("CARGO_BIN_EXE_upgate"))
            .arg("-p")
            .arg(format!("{}/", dir.display()))
            .args(["-c", "nginx.conf", "-e", "error.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start upgate: {e}"));
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
