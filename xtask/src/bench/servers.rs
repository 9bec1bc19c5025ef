//! The processes of a run: the tools it needs (upgate and xtask built in
//! release, Debian's nginx and wrk, installed when missing), the CPU split
//! (servers on CPU 0, the bench process with its load and backends on the
//! others) and the servers under test. A [`Server`] runs in a process group
//! of its own and the whole group is killed when it is dropped: on success,
//! on error, on a panic and, through `mod.rs`'s signal handling, on Ctrl-C.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::procfs;

/// How long a server may take to listen on all its ports.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How long an apt-get may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(900);

pub fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A port that was free on 127.0.0.1 a moment ago (the kernel's choice for
/// 127.0.0.1:0), for a server that binds it itself.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Set when `cargo xtask bench` has built both binaries and re-runs itself
/// optimized: the child does not build again.
const BUILT: &str = "UPGATE_BENCH_BUILT";

/// `cargo build --release -p upgate -p xtask`, once per run.
pub fn build(root: &Path) -> Result<(), String> {
    if std::env::var_os(BUILT).is_some() {
        return Ok(());
    }
    build_release(root, &["-p", "upgate", "-p", "xtask"])
}

/// `cargo build --release ARGS` in the workspace.
pub fn build_release(root: &Path, args: &[&str]) -> Result<(), String> {
    let status = crate::cargo::command()
        .args(["build", "--release"])
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build --release {} failed", args.join(" ")))
    }
}

/// The load clients share the machine with the servers: an unoptimized
/// client would measure itself. `cargo xtask` builds xtask in the dev
/// profile, so this builds both in release and runs the release xtask with
/// the same arguments.
pub fn rerun_optimized(root: &Path, command: &str, args: &[String]) -> Result<(), String> {
    build(root)?;
    let xtask = target_dir(root).join("release/xtask");
    let status = Command::new(&xtask)
        .arg(command)
        .args(args)
        .env(BUILT, "1")
        .status()
        .map_err(|e| format!("{}: {e}", xtask.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} {command} failed ({status})", xtask.display()))
    }
}

/// `path`, installing Debian's `package` (as root, with apt-get) when it is
/// missing.
pub fn debian_tool(path: &str, package: &str) -> Result<PathBuf, String> {
    if Path::new(path).is_file() {
        return Ok(path.into());
    }
    eprintln!("bench: {path} is missing, installing Debian's {package}");
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        status_within(&mut c, INSTALL_LIMIT)
    };
    // An old package list may not know the package: update once and retry.
    if apt(&["install", "-y", "-qq", package]).is_err() {
        apt(&["update", "-qq"])?;
        apt(&["install", "-y", "-qq", package])?;
    }
    if package == "nginx" {
        // Debian starts the service on install; the bench runs its own.
        let _ = Command::new("service")
            .args(["nginx", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    if Path::new(path).is_file() {
        Ok(path.into())
    } else {
        Err(format!(
            "{path} is still missing after apt-get install {package}"
        ))
    }
}

/// Runs `command`, killing it if it outlives `limit`.
pub fn status_within(command: &mut Command, limit: Duration) -> Result<(), String> {
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("{command:?} failed ({s})")),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{command:?}: no answer in {} s", limit.as_secs()));
            }
        }
    }
}

/// Soft RLIMIT_NOFILE to at least `want` (the hard limit too, as root);
/// the servers inherit it.
pub fn raise_nofile(want: usize) -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    let want = want as u64;
    let hard = if hard < want {
        match setrlimit(Resource::RLIMIT_NOFILE, want, want) {
            Ok(()) => want,
            Err(_) => hard,
        }
    } else {
        hard
    };
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|e| format!("setrlimit: {e}"))?;
    if hard < want {
        return Err(format!(
            "open files limit {hard} is below the {want} this run needs (ulimit -n, or --tunnels)"
        ));
    }
    Ok(())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Moves every thread of this process (and so the threads and processes
/// it starts later: the runtime, the backends, wrk) off CPU 0. False with
/// one CPU or no taskset. Before the runtime starts, there is one thread.
pub fn pin_self() -> bool {
    let n = cpus();
    n >= 2
        && Command::new("taskset")
            .args(["-a", "-p", "-c", &format!("1-{}", n - 1)])
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Where a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpus {
    /// CPU 0 alone (taskset -c 0).
    Zero,
    /// Every CPU: a child would otherwise inherit the bench's affinity.
    All,
}

/// A server under test; its process group is killed on drop.
pub struct Server {
    child: Child,
    prefix: PathBuf,
    pub name: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The group: nginx's workers and upgate's worker go with the
        // master (SIGKILL to the master alone would leave them serving).
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Writes `conf` to `prefix/nginx.conf`, starts `binary` on it and waits
    /// (at most [`START_LIMIT`]) until every one of `ports` accepts.
    pub async fn start(
        name: &'static str,
        binary: &Path,
        prefix: &Path,
        conf: &str,
        ports: &[u16],
        cpus: Cpus,
    ) -> Result<Server, String> {
        // taskset execs the server: the child's pid is the server's.
        let mask = match cpus {
            Cpus::Zero => "0".to_string(),
            Cpus::All => format!("0-{}", last_cpu()),
        };
        let taskset = ["taskset".to_string(), "-c".to_string(), mask];
        Server::start_under(name, &taskset, binary, prefix, conf, ports, START_LIMIT).await
    }

    /// [`Server::start`] with `launcher` (a program and its arguments that
    /// exec the server, so that its pid is the server's) instead of taskset,
    /// waiting at most `limit`.
    pub async fn start_under(
        name: &'static str,
        launcher: &[String],
        binary: &Path,
        prefix: &Path,
        conf: &str,
        ports: &[u16],
        limit: Duration,
    ) -> Result<Server, String> {
        for d in ["logs", "tmp"] {
            std::fs::create_dir_all(prefix.join(d)).map_err(|e| e.to_string())?;
        }
        write(&prefix.join("nginx.conf"), conf)?;
        let Some((program, args)) = launcher.split_first() else {
            return Err("no launcher".into());
        };
        let child = Command::new(program)
            .args(args)
            .arg(binary)
            .arg("-p")
            .arg(format!("{}/", prefix.display()))
            .args(["-c", "nginx.conf", "-e", "logs/error.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {program} {}: {e}", binary.display()))?;
        let mut server = Server {
            child,
            prefix: prefix.to_path_buf(),
            name,
        };
        let end = Instant::now() + limit;
        loop {
            server.check_alive()?;
            let mut up = true;
            for p in ports {
                let connect = tokio::net::TcpStream::connect(("127.0.0.1", *p));
                up &= matches!(
                    tokio::time::timeout(Duration::from_millis(200), connect).await,
                    Ok(Ok(_))
                );
            }
            if up {
                return Ok(server);
            }
            if Instant::now() > end {
                return Err(format!(
                    "{name} did not listen in {} s: {}",
                    limit.as_secs(),
                    server.error_log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's (master's) process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }

    /// An error naming the server and its log once it has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}): {}",
                self.name,
                self.error_log()
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// Resident bytes of the server (master and workers).
    pub fn rss(&self) -> u64 {
        procfs::rss(self.child.id())
    }

    /// CPU seconds the server (master and workers) has used so far.
    pub fn cpu_seconds(&self) -> procfs::Cpu {
        procfs::cpu_seconds(self.child.id())
    }
}

fn last_cpu() -> usize {
    // The machine's CPUs, not this process's (pinned) share.
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    online
        .trim()
        .rsplit(['-', ','])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| cpus().saturating_sub(1))
}
