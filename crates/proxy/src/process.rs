//! The main-level directives that shape the process (src/core/nginx.c's
//! `ngx_core_module_init_conf`, src/event/ngx_event.c): `daemon`,
//! `master_process`, `worker_processes`, `worker_connections`,
//! `worker_rlimit_nofile`, `worker_shutdown_timeout`, `user`, `pid`,
//! and what upgate does with each (docs/operations.md):
//!
//! - `daemon on` (the default): detach after the listeners are bound
//!   (`ngx_daemon`: fork, setsid, stdin and stdout to /dev/null), then
//!   write the pid file; `daemon off`: stay in the foreground.
//! - `worker_processes N|auto`: N tokio worker threads in one process
//!   (`auto`: one per CPU).
//! - `worker_connections N`: at most N connections at once, as nginx counts
//!   them per worker (each client connection, each tunnel's upstream side,
//!   each listening socket); over it a new connection is closed at once and
//!   the error log says `N worker_connections are not enough`.
//! - `worker_rlimit_nofile N`: `setrlimit(RLIMIT_NOFILE)` before serving.
//! - `user` / `group`: see `privileges.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use upgate_conf::Config;
use upgate_runtime::timeouts::parse_time;

/// Debian's `--pid-path` (what `-V` says).
pub const DEFAULT_PID: &str = "/run/nginx.pid";

/// nginx's default `worker_connections`.
pub const DEFAULT_WORKER_CONNECTIONS: usize = 512;

/// The process settings of a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MainConf {
    pub daemon: bool,
    pub master_process: bool,
    /// `None`: `auto`.
    pub worker_processes: Option<usize>,
    pub worker_connections: usize,
    pub worker_rlimit_nofile: Option<u64>,
    pub worker_shutdown_timeout: Option<Duration>,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
    /// The pid file, under the prefix.
    pub pid: PathBuf,
}

impl MainConf {
    /// Reads the main and events levels (nginx's defaults where unset).
    pub fn read(config: &Config, prefix: &Path) -> MainConf {
        let mut conf = MainConf {
            daemon: true,
            master_process: true,
            worker_processes: Some(1),
            worker_connections: DEFAULT_WORKER_CONNECTIONS,
            worker_rlimit_nofile: None,
            worker_shutdown_timeout: None,
            user: None,
            pid: PathBuf::from(DEFAULT_PID),
        };
        let Some(main) = config.main() else {
            return conf;
        };
        let mut pid = None;
        for d in main.block.directives() {
            let arg = |i: usize| d.args.get(i).map(|a| a.text().into_owned());
            let first = arg(0).unwrap_or_default();
            match d.name.value.as_slice() {
                b"daemon" => conf.daemon = first == "on",
                b"master_process" => conf.master_process = first == "on",
                b"worker_processes" => {
                    conf.worker_processes = if first == "auto" {
                        None
                    } else {
                        first.parse().ok().or(Some(1))
                    }
                }
                b"worker_rlimit_nofile" => conf.worker_rlimit_nofile = first.parse().ok(),
                b"worker_shutdown_timeout" => {
                    conf.worker_shutdown_timeout = parse_time(first.as_bytes())
                }
                b"user" => conf.user = Some((first, arg(1))),
                b"pid" => pid = Some(first),
                b"events" => {
                    for e in d.children() {
                        if e.is("worker_connections")
                            && let Some(n) = e.args.first().and_then(|a| a.text().parse().ok())
                        {
                            conf.worker_connections = n;
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(p) = pid {
            conf.pid = upgate_conf::fs::full_name(prefix, Path::new(&p));
        }
        conf
    }

    /// The tokio worker threads: `worker_processes`, `auto` = one per CPU.
    pub fn threads(&self) -> usize {
        self.worker_processes
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

/// `worker_rlimit_nofile`: raises (or lowers) both limits, as
/// `ngx_worker_process_init` does; the error is nginx's `[alert]` text.
pub fn set_nofile(n: u64) -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_NOFILE, n, n)
        .map_err(|e| format!("setrlimit(RLIMIT_NOFILE, {n}) failed ({})", e as i32))
}

/// `ngx_daemon`: fork (the parent exits), setsid, stdin and stdout to
/// /dev/null; stderr is kept for the error log. Must be called before any
/// thread starts (no tokio runtime may be running).
pub fn daemonize() -> Result<(), String> {
    nix::unistd::daemon(true, true).map_err(|e| format!("daemon() failed ({})", e as i32))?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("open(\"/dev/null\") failed ({e})"))?;
    nix::unistd::dup2_stdin(&null).map_err(|e| format!("dup2(STDIN) failed ({})", e as i32))?;
    nix::unistd::dup2_stdout(&null).map_err(|e| format!("dup2(STDOUT) failed ({})", e as i32))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> MainConf {
        let dir = std::env::temp_dir().join(format!("upgate-process-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("nginx.conf");
        let _ = std::fs::write(&file, text);
        let mut options = upgate_conf::LoadOptions::new(&file);
        options.prefix = dir.clone();
        let loaded = upgate_conf::load(&options);
        let c = MainConf::read(&loaded.config, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        c
    }

    #[test]
    fn defaults_are_nginx_s() {
        let c = conf("events {}\n");
        assert!(c.daemon && c.master_process);
        assert_eq!(c.worker_connections, 512);
        assert_eq!(c.pid, PathBuf::from("/run/nginx.pid"));
        assert_eq!(c.threads(), 1);
    }

    #[test]
    fn reads_the_main_level() {
        let c = conf(
            "daemon off; master_process off; worker_processes 3; pid logs/x.pid;\n\
             worker_rlimit_nofile 4096; worker_shutdown_timeout 2s;\n\
             events { worker_connections 64; }\n",
        );
        assert!(!c.daemon && !c.master_process);
        assert_eq!(c.threads(), 3);
        assert_eq!(c.worker_connections, 64);
        assert_eq!(c.worker_rlimit_nofile, Some(4096));
        assert_eq!(c.worker_shutdown_timeout, Some(Duration::from_secs(2)));
        assert!(c.pid.ends_with("logs/x.pid"));
        assert!(conf("worker_processes auto; events {}\n").threads() >= 1);
    }
}
