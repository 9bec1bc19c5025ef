//! The privileged master (`master_process on`, started as root): nginx's
//! `ngx_master_process_cycle` with one worker (see privileges.rs for the
//! split). It starts the worker, answers its requests for sockets and
//! files, forwards every signal to it, and starts a new one when it dies
//! (nginx's respawn); it returns once the worker exits after a stop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use upgate_runtime::listen::ListenAddr;

use crate::error_log::{ErrorLog, Level};
use crate::privileges::{WORKER_FD_ENV, serve_worker};
use crate::server::{Bound, bind_std};

type Listeners = Arc<Mutex<HashMap<SocketAddr, std::net::TcpListener>>>;

/// Runs the master until the worker has exited after a stop signal.
pub fn run(bound: Vec<Bound>, log: &ErrorLog) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log.log(Level::Emerg, &e.to_string());
            return;
        }
    };
    let listeners: Listeners = Arc::new(Mutex::new(
        bound
            .into_iter()
            .filter_map(|(a, l)| match a {
                ListenAddr::Inet(sa) => Some((sa, l)),
                _ => None,
            })
            .collect(),
    ));
    runtime.block_on(cycle(listeners, log));
}

async fn cycle(listeners: Listeners, log: &ErrorLog) {
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
                return;
            }
        }
    }
    let mut stopping = false;
    let mut quick_exits = 0;
    loop {
        let mut child = match spawn(&listeners) {
            Ok(c) => c,
            Err(e) => {
                log.log(
                    Level::Alert,
                    &format!("could not start a worker process ({e})"),
                );
                return;
            }
        };
        let pid = child.id().unwrap_or_default();
        log.log(Level::Notice, &format!("start worker process {pid}"));
        let started = Instant::now();
        let status = loop {
            let any_signal = futures_any(&mut streams);
            tokio::select! {
                status = child.wait() => break status,
                sig = any_signal => {
                    if matches!(sig, Signal::SIGQUIT | Signal::SIGTERM | Signal::SIGINT) {
                        stopping = true;
                    }
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
                }
            }
        };
        if stopping {
            return;
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
                return;
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
fn spawn(listeners: &Listeners) -> std::io::Result<tokio::process::Child> {
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
    std::thread::Builder::new()
        .name("upgate-master".into())
        .spawn(move || {
            serve_worker(master_end, |addr| {
                let pre = match listeners.lock() {
                    Ok(mut g) => g.remove(&addr),
                    Err(p) => p.into_inner().remove(&addr),
                };
                match pre {
                    Some(l) => Ok(OwnedFd::from(l)),
                    None => bind_std(addr).map(OwnedFd::from),
                }
            })
        })?;
    Ok(child)
}
