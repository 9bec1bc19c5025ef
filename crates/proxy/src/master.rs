//! The privileged master (`master_process on`, started as root): nginx's
//! `ngx_master_process_cycle` with one worker (see privileges.rs for the
//! split). It starts the worker, answers its requests for sockets and
//! files, forwards every signal to it, and starts a new one when it dies
//! (nginx's respawn); it returns once the worker exits after a stop.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use upgate_runtime::listen::ListenAddr;

use crate::error_log::{ErrorLog, Level};
use crate::listener::{StdListener, bind_std, delete_socket_file};
use crate::privileges::{WORKER_FD_ENV, serve_worker};
use crate::server::Bound;

/// The sockets bound at start, until the worker takes them, and the unix
/// socket files this master made (deleted when it exits, as nginx's master
/// deletes them in `ngx_close_listening_sockets`).
#[derive(Default)]
struct Sockets {
    bound: HashMap<ListenAddr, StdListener>,
    unix_files: HashSet<ListenAddr>,
}

type Listeners = Arc<Mutex<Sockets>>;

/// Runs the master until the worker has exited after a stop signal; writes
/// the pid file once its signal handlers are in place and removes it at the
/// end. `false` when it could not start.
pub fn run(bound: Vec<Bound>, log: &ErrorLog, pid: &std::path::Path) -> bool {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log.log(Level::Emerg, &e.to_string());
            return false;
        }
    };
    let unix_files = bound
        .iter()
        .filter(|(a, _)| matches!(a, ListenAddr::Unix(_)))
        .map(|(a, _)| a.clone())
        .collect();
    let listeners: Listeners = Arc::new(Mutex::new(Sockets {
        bound: bound.into_iter().collect(),
        unix_files,
    }));
    let started = runtime.block_on(cycle(Arc::clone(&listeners), log, pid));
    if started {
        let _ = std::fs::remove_file(pid);
    }
    let sockets = match listeners.lock() {
        Ok(mut g) => std::mem::take(&mut *g),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    drop(sockets.bound);
    for addr in &sockets.unix_files {
        if let Err(e) = delete_socket_file(addr) {
            log.log(Level::Emerg, &e);
        }
    }
    started
}

/// `false` when it could not start (no pid file was written).
async fn cycle(listeners: Listeners, log: &ErrorLog, pid_file: &std::path::Path) -> bool {
    let kinds = [
        (SignalKind::hangup(), Signal::SIGHUP),
        (SignalKind::user_defined1(), Signal::SIGUSR1),
        (SignalKind::user_defined2(), Signal::SIGUSR2),
        (SignalKind::window_change(), Signal::SIGWINCH),
        (SignalKind::quit(), Signal::SIGQUIT),
        (SignalKind::terminate(), Signal::SIGTERM),
        (SignalKind::interrupt(), Signal::SIGINT),
    ];
    let mut streams = Vec::new();
    for (kind, sig) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((s, sig)),
            Err(e) => {
                log.log(Level::Emerg, &format!("sigaction() failed ({e})"));
                return false;
            }
        }
    }
    if let Err(e) = crate::serve::write_pid(pid_file) {
        log.log(Level::Emerg, &e);
        return false;
    }
    let mut stopping = false;
    let mut quick_exits = 0;
    loop {
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut child = match spawn(&listeners, &ready) {
            Ok(c) => c,
            Err(e) => {
                log.log(
                    Level::Alert,
                    &format!("could not start a worker process ({e})"),
                );
                return true;
            }
        };
        let pid = child.id().unwrap_or_default();
        log.log(Level::Notice, &format!("start worker process {pid}"));
        let started = Instant::now();
        // Signals wait until the worker has its handlers (it asks for its
        // first listener after installing them), at most two seconds: a
        // SIGHUP before that would end it.
        let mut pending: Vec<Signal> = Vec::new();
        let worker = nix::unistd::Pid::from_raw(pid as i32);
        let status = loop {
            let any_signal = futures_any(&mut streams);
            let is_ready = || {
                ready.load(std::sync::atomic::Ordering::Acquire)
                    || started.elapsed() > Duration::from_secs(2)
            };
            tokio::select! {
                status = child.wait() => break status,
                sig = any_signal => {
                    if matches!(sig, Signal::SIGQUIT | Signal::SIGTERM | Signal::SIGINT) {
                        stopping = true;
                    }
                    if is_ready() {
                        let _ = nix::sys::signal::kill(worker, sig);
                    } else {
                        pending.push(sig);
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(10)), if !pending.is_empty() => {
                    if is_ready() {
                        for sig in pending.drain(..) {
                            let _ = nix::sys::signal::kill(worker, sig);
                        }
                    }
                }
            }
        };
        if stopping {
            return true;
        }
        let how = match &status {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(s)) {
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(sig)) => format!("exited on signal {sig}"),
                _ => "exited".to_string(),
            },
            Err(e) => format!("could not be waited for ({e})"),
        };
        log.log(Level::Alert, &format!("worker process {pid} {how}"));
        if started.elapsed() < Duration::from_secs(1) {
            quick_exits += 1;
            if quick_exits >= 3 {
                log.log(
                    Level::Alert,
                    "the worker process keeps exiting at start: the master exits",
                );
                return true;
            }
        } else {
            quick_exits = 0;
        }
    }
}

/// The first signal of any stream.
async fn futures_any(streams: &mut [(tokio::signal::unix::Signal, Signal)]) -> Signal {
    let futures = streams.iter_mut().map(|(s, sig)| {
        let sig = *sig;
        Box::pin(async move {
            s.recv().await;
            sig
        })
    });
    futures_select_all(futures).await
}

async fn futures_select_all<F>(futures: impl Iterator<Item = std::pin::Pin<Box<F>>>) -> Signal
where
    F: std::future::Future<Output = Signal>,
{
    let mut futures: Vec<_> = futures.collect();
    std::future::poll_fn(move |cx| {
        for f in &mut futures {
            if let std::task::Poll::Ready(sig) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready(sig);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Starts the worker: this binary again, with the same arguments and the
/// worker's end of a new socket pair; a thread answers its requests.
fn spawn(
    listeners: &Listeners,
    ready: &Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<tokio::process::Child> {
    let (master_end, worker_end) = UnixStream::pair()?;
    {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        fcntl(&worker_end, FcntlArg::F_SETFD(FdFlag::empty())).map_err(std::io::Error::from)?;
    }
    let child = tokio::process::Command::new("/proc/self/exe")
        .arg0("upgate: worker process")
        .args(std::env::args_os().skip(1))
        .env(WORKER_FD_ENV, worker_end.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(false)
        .spawn()?;
    drop(worker_end);
    let listeners = Arc::clone(listeners);
    let unlinks = Arc::clone(&listeners);
    let ready = Arc::clone(ready);
    std::thread::Builder::new()
        .name("upgate-master".into())
        .spawn(move || {
            serve_worker(
                master_end,
                |addr| {
                    ready.store(true, std::sync::atomic::Ordering::Release);
                    let mut sockets = match listeners.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    if let Some(l) = sockets.bound.remove(&addr) {
                        return Ok(l.into_fd());
                    }
                    // A unix path this master bound before and the worker asks
                    // for again: its socket died with a previous worker, the
                    // file is stale.
                    if sockets.unix_files.contains(&addr) {
                        let _ = delete_socket_file(&addr);
                    }
                    let l = bind_std(&addr)?;
                    if matches!(addr, ListenAddr::Unix(_)) {
                        sockets.unix_files.insert(addr);
                    }
                    Ok(l.into_fd())
                },
                |addr| {
                    // Only the files of sockets this master bound: the worker
                    // is trusted, but not with any path.
                    let mut sockets = match unlinks.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    if !sockets.unix_files.remove(&addr) {
                        return Err(std::io::Error::from_raw_os_error(
                            nix::errno::Errno::EPERM as i32,
                        ));
                    }
                    match &addr {
                        ListenAddr::Unix(path) => std::fs::remove_file(path),
                        ListenAddr::Inet(_) => Ok(()),
                    }
                },
            )
        })?;
    Ok(child)
}
