//! `upgate -c FILE`: load, bind, serve until a signal says otherwise, as
//! nginx's `ngx_master_process_cycle` / `ngx_single_process_cycle` react:
//!
//! - SIGHUP: reload (`reload.rs`); a failed reload keeps the old tables;
//! - SIGTERM, SIGINT: stop: close the listeners and idle connections, give
//!   running requests and tunnels 5 s (or `worker_shutdown_timeout`);
//! - SIGQUIT: graceful stop: wait for every connection, tunnels included
//!   (bounded by `worker_shutdown_timeout` when set);
//! - SIGUSR1: reopen the logs (by reloading the same files).
//!
//! The `pid` directive's file is written on start and removed on exit, so
//! that `upgate -s reload|stop|quit` works like `nginx -s`.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use upgate_conf::LoadOptions;

use crate::error_log::{Level, line};
use crate::reload::load_generation;
use crate::server::Server;

/// Runs the server on a multi-thread tokio runtime until it is stopped.
pub fn run(options: LoadOptions) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(serve(options))
}

fn notice(message: &str) {
    eprint!("{}", line(Level::Notice, None, message));
}

async fn serve(options: LoadOptions) -> Result<(), String> {
    let generation = load_generation(&options)?;
    let pid_file = generation.pid.clone();
    let mut shutdown_timeout = generation.shutdown_timeout;
    for (level, text) in &generation.ignored {
        generation.tables.error_log.log(*level, text);
    }
    let mut server = Server::start(generation.tables)?;
    notice(&format!("upgate/{}", env!("CARGO_PKG_VERSION")));
    let mut addrs = server.local_addrs();
    addrs.sort();
    for a in &addrs {
        notice(&format!("listening on {a}"));
    }
    notice("start worker processes");
    if let Some(p) = &pid_file
        && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
    {
        eprint!(
            "{}",
            line(
                Level::Alert,
                None,
                &format!("open() \"{}\" failed ({e})", p.display())
            )
        );
    }
    let sig = |k| signal(k).map_err(|e| e.to_string());
    let (mut hup, mut term, mut int, mut quit, mut usr1) = (
        sig(SignalKind::hangup())?,
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::quit())?,
        sig(SignalKind::user_defined1())?,
    );
    let grace = loop {
        tokio::select! {
            _ = hup.recv() => {
                notice("signal 1 (SIGHUP) received, reconfiguring");
                reconfigure(&mut server, &options, &mut shutdown_timeout);
            }
            _ = usr1.recv() => {
                notice("signal 10 (SIGUSR1) received, reopening logs");
                reconfigure(&mut server, &options, &mut shutdown_timeout);
            }
            _ = term.recv() => {
                notice("signal 15 (SIGTERM) received, exiting");
                break Some(shutdown_timeout.unwrap_or(Duration::from_secs(5)));
            }
            _ = int.recv() => {
                notice("signal 2 (SIGINT) received, exiting");
                break Some(shutdown_timeout.unwrap_or(Duration::from_secs(5)));
            }
            _ = quit.recv() => {
                notice("signal 3 (SIGQUIT) received, shutting down");
                break shutdown_timeout;
            }
        }
    };
    server.stop(grace).await;
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    notice("exit");
    Ok(())
}

fn reconfigure(
    server: &mut Server,
    options: &LoadOptions,
    shutdown_timeout: &mut Option<Duration>,
) {
    match load_generation(options) {
        Ok(generation) => {
            *shutdown_timeout = generation.shutdown_timeout;
            for (level, text) in &generation.ignored {
                generation.tables.error_log.log(*level, text);
            }
            match server.reload(generation.tables) {
                Ok(()) => notice("reconfigured"),
                Err(e) => eprint!("{}", line(Level::Emerg, None, &e)),
            }
        }
        Err(e) => {
            for text in e.lines() {
                eprint!("{}", line(Level::Emerg, None, text));
            }
            eprint!(
                "{}",
                line(
                    Level::Alert,
                    None,
                    "reload failed: the old configuration goes on serving"
                )
            );
        }
    }
}
