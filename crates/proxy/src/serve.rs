//! `upgate -c FILE`: load, bind, serve until a signal says otherwise, as
//! nginx's `main` (src/core/nginx.c) and `ngx_single_process_cycle` /
//! `ngx_master_process_cycle` (src/os/unix/ngx_process_cycle.c) do:
//!
//! 1. the startup log (`-e FILE` or stderr, at `notice`) takes the
//!    configuration's warnings and errors; lines at `warn` and above also
//!    go to stderr while starting, as with nginx's `ngx_use_stderr`;
//! 2. `worker_rlimit_nofile`, then the listeners are bound, then (`daemon
//!    on`, the default) the process detaches, then the pid file is written;
//! 3. stderr is sent to the first `error_log` file (`ngx_log_redirect_stderr`)
//!    and the configuration's error logs take every line from here on;
//! 4. one tokio runtime with `worker_processes` threads serves until:
//!
//! - SIGHUP: reload (`reload.rs`); a failed reload keeps the old tables and
//!   logs its `[emerg] ... in FILE:LINE` to the error log(s) in force;
//! - SIGUSR1: reopen the log files, nothing else (logrotate);
//! - SIGTERM, SIGINT: fast stop: close every connection now;
//! - SIGQUIT: graceful stop: stop accepting, close idle keepalive
//!   connections, finish requests and tunnels (bounded by
//!   `worker_shutdown_timeout` when set);
//! - SIGUSR2, SIGWINCH (nginx's binary upgrade): a `[notice]` that upgate
//!   does not do it.
//!
//! The pid file is removed on exit, so that `upgate -s reload|stop|quit|reopen`
//! works like `nginx -s`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use upgate_conf::LoadOptions;

use crate::error_log::{ErrorLog, Level, open_append};
use crate::process::{MainConf, daemonize, set_nofile};
use crate::reload::{Generation, load_generation_with};
use crate::server::{Bound, Server, bind_listeners};

/// Serves until stopped; `false` when it could not start (the reason is
/// logged: the startup log, and stderr).
///
/// `startup_log` is `-e`'s file, already under the prefix (`None`: stderr);
/// it also takes every line when the configuration names no `error_log`.
/// `metrics`: `--metrics ADDR` (see [`crate::metrics`]).
pub fn run(
    options: LoadOptions,
    startup_log: Option<PathBuf>,
    metrics: Option<SocketAddr>,
) -> bool {
    if let Some(fd) = crate::privileges::worker_fd() {
        return run_worker(fd, &options, startup_log.as_deref(), metrics);
    }
    let startup = ErrorLog::startup(startup_log.as_deref());
    let say = |level: Level, message: &str| {
        startup.log(level, message);
        if level <= Level::Warn && !startup.has_stderr() {
            eprintln!("upgate: [{}] {message}", level.as_str());
        }
    };
    let generation = match load_generation_with(&options, startup_log.as_deref()) {
        Ok(g) => g,
        Err(failure) => {
            for (level, w) in &failure.warnings {
                say(*level, w);
            }
            for line in failure.message.lines() {
                say(Level::Emerg, line);
            }
            return false;
        }
    };
    for (level, w) in &generation.warnings {
        say(*level, w);
    }
    let main = generation.main.clone();
    if let Some(n) = main.worker_rlimit_nofile
        && let Err(e) = set_nofile(n)
    {
        say(Level::Alert, &e);
    }
    let bound = match bind_listeners(&generation.tables) {
        Ok(b) => b,
        Err(e) => {
            say(Level::Emerg, &e);
            return false;
        }
    };
    // A master does not serve: its worker binds the metrics address.
    let split = crate::privileges::should_split(&main);
    let metrics = match metrics.filter(|_| !split).map(crate::exporter::bind) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            say(Level::Emerg, &e);
            return false;
        }
        None => None,
    };
    if main.daemon
        && let Err(e) = daemonize()
    {
        say(Level::Emerg, &e);
        return false;
    }
    redirect_stderr(&generation.tables.error_log);
    if split {
        let log = generation.tables.error_log;
        return crate::master::run(bound, &log, &main.pid);
    }
    let runtime = match worker_runtime(main.threads()) {
        Ok(r) => r,
        Err(e) => {
            say(Level::Emerg, &e.to_string());
            return false;
        }
    };
    let (ok, pid) = runtime.block_on(serve(
        generation,
        Some(bound),
        &options,
        startup_log.as_deref(),
        metrics,
    ));
    drop(runtime);
    if let Some(pid) = pid {
        let _ = std::fs::remove_file(pid);
    }
    ok
}

/// The worker of a privileged master (privileges.rs): load as root, switch
/// to `user`, serve; listeners, log files and configuration files come
/// from the master. The master logged the warnings and owns the pid file.
fn run_worker(
    fd: std::os::fd::RawFd,
    options: &LoadOptions,
    startup_log: Option<&Path>,
    metrics: Option<SocketAddr>,
) -> bool {
    let startup = ErrorLog::startup(startup_log);
    let generation = match load_generation_with(options, startup_log) {
        Ok(g) => g,
        Err(failure) => {
            for line in failure.message.lines() {
                startup.log(Level::Emerg, line);
            }
            return false;
        }
    };
    if let Err(e) = crate::privileges::become_worker(fd, &generation.main) {
        generation.tables.error_log.log(Level::Emerg, &e);
        return false;
    }
    let metrics = match metrics.map(crate::exporter::bind) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            generation.tables.error_log.log(Level::Emerg, &e);
            return false;
        }
        None => None,
    };
    let runtime = match worker_runtime(generation.main.threads()) {
        Ok(r) => r,
        Err(e) => {
            generation
                .tables
                .error_log
                .log(Level::Emerg, &e.to_string());
            return false;
        }
    };
    runtime
        .block_on(serve(generation, None, options, startup_log, metrics))
        .0
}

/// The runtime connections are served on: with `worker_processes 1`, one
/// thread runs everything, as nginx's one worker does (no wake-ups across
/// threads); with N, N worker threads.
fn worker_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// `ngx_create_pidfile`.
pub(crate) fn write_pid(path: &Path) -> Result<(), String> {
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
        format!(
            "open() \"{}\" failed ({})",
            path.display(),
            crate::proxy::errno(&e)
        )
    })
}

/// `ngx_log_redirect_stderr`: when the first error log is a file, stderr
/// goes there too (a panic message lands in the log, not in the void).
fn redirect_stderr(log: &ErrorLog) {
    if let Some(path) = log.first_file()
        && let Ok(f) = open_append(path)
    {
        let _ = nix::unistd::dup2_stderr(&f);
    }
}

/// The signal loop: whether it started, and the pid file to remove at the
/// end (`None`: the worker of a master, which owns the pid file). `bound`:
/// the listeners bound before the runtime; `None` in a worker (it asks its
/// master). The signal handlers are in place before the pid file is
/// written (and, in a worker, before its first request to the master), so
/// that a signal sent once the pid file exists is never lost.
async fn serve(
    generation: Generation,
    bound: Option<Vec<Bound>>,
    options: &LoadOptions,
    startup_log: Option<&Path>,
    metrics: Option<std::net::TcpListener>,
) -> (bool, Option<PathBuf>) {
    let Generation {
        mut tables,
        main,
        ignored,
        ..
    } = generation;
    let families = metrics
        .as_ref()
        .map(|_| crate::metrics::Families::default());
    if let Some(f) = &families {
        tables.metrics = Some(f.for_runtime(&tables.rt, 0));
    }
    let mut main = main;
    let signals = [
        SignalKind::hangup(),
        SignalKind::user_defined1(),
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::quit(),
        SignalKind::user_defined2(),
        SignalKind::window_change(),
    ];
    let mut streams = Vec::new();
    for kind in signals {
        match signal(kind) {
            Ok(s) => streams.push(s),
            Err(e) => {
                tables
                    .error_log
                    .log(Level::Emerg, &format!("sigaction() failed ({e})"));
                return (false, None);
            }
        }
    }
    for (level, text) in &ignored {
        tables.error_log.log(*level, text);
    }
    let owns_pid = bound.is_some();
    let started = match bound {
        Some(bound) => Server::start_bound(tables, bound),
        None => {
            let log_copy = tables.error_log.first_file().map(Path::to_path_buf);
            let r = Server::start(tables);
            if let Err(e) = &r {
                let log = ErrorLog::startup(log_copy.as_deref());
                log.log(Level::Emerg, e);
            }
            r
        }
    };
    let mut server = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("upgate: [emerg] {e}");
            return (false, None);
        }
    };
    let log = |server: &Server, level: Level, message: &str| {
        server.shared.tables.load().error_log.log(level, message);
    };
    if owns_pid && let Err(e) = write_pid(&main.pid) {
        log(&server, Level::Emerg, &e);
        return (false, None);
    }
    server.set_worker_connections(main.worker_connections);
    if let (Some(listener), Some(f)) = (metrics, &families) {
        let registry = std::sync::Arc::new(f.registry(std::sync::Arc::downgrade(&server.shared)));
        let shutdown = server.shared.shutdown.subscribe();
        tokio::spawn(crate::exporter::serve(listener, registry, shutdown));
    }
    log(
        &server,
        Level::Notice,
        &format!(
            "upgate/{} (nginx 1.28 semantics), {} worker threads",
            env!("CARGO_PKG_VERSION"),
            main.threads()
        ),
    );
    log(&server, Level::Notice, "start worker processes");
    let [hup, usr1, term, int, quit, usr2, winch] = &mut streams[..] else {
        return (false, owns_pid.then_some(main.pid));
    };
    let grace = loop {
        tokio::select! {
            _ = hup.recv() => {
                log(&server, Level::Notice, "signal 1 (SIGHUP) received, reconfiguring");
                let ok = reconfigure(
                    &mut server,
                    options,
                    startup_log,
                    &mut main,
                    owns_pid,
                    families.as_ref(),
                )
                .await;
                if let Some(f) = &families {
                    f.reloaded(ok);
                }
            }
            _ = usr1.recv() => {
                log(&server, Level::Notice, "signal 10 (SIGUSR1) received, reopening logs");
                reopen(&server);
            }
            _ = usr2.recv() => no_upgrade(&server, "12 (SIGUSR2)"),
            _ = winch.recv() => no_upgrade(&server, "28 (SIGWINCH)"),
            _ = term.recv() => {
                log(&server, Level::Notice, "signal 15 (SIGTERM) received, exiting");
                break Some(Duration::ZERO);
            }
            _ = int.recv() => {
                log(&server, Level::Notice, "signal 2 (SIGINT) received, exiting");
                break Some(Duration::ZERO);
            }
            _ = quit.recv() => {
                log(&server, Level::Notice, "signal 3 (SIGQUIT) received, shutting down");
                log(&server, Level::Notice, "gracefully shutting down");
                break main.worker_shutdown_timeout;
            }
        }
    };
    let tables = server.shared.tables.load_full();
    server.stop(grace).await;
    tables.error_log.log(Level::Notice, "exit");
    (true, owns_pid.then_some(main.pid))
}

/// nginx's binary upgrade signals: upgate has one process, so there is no
/// old master to keep; a reload already swaps the configuration without
/// cutting a connection.
fn no_upgrade(server: &Server, which: &str) {
    server.shared.tables.load().error_log.log(
        Level::Notice,
        &format!(
            "signal {which} received: upgate does no binary upgrade (ignored); \
             a reload (SIGHUP, -s reload) applies a new configuration without cutting \
             connections, and a new upgate binary takes a restart"
        ),
    );
}

/// SIGUSR1: `ngx_reopen_files`.
/// The logs of older generations still in use (a tunnel's access log line)
/// are reopened too.
fn reopen(server: &Server) {
    let tables = server.shared.tables.load_full();
    tables.error_log.log(Level::Notice, "reopening logs");
    for generation in server.shared.live_generations() {
        if let Err(e) = generation.access_logs.reopen() {
            tables.error_log.log(Level::Alert, &e);
        }
        if let Err(e) = generation.error_log.reopen() {
            tables.error_log.log(Level::Alert, &e);
        }
    }
    redirect_stderr(&tables.error_log);
}

/// SIGHUP: load the files again; on error the running generation stays and
/// the error log in force says why (`[emerg] ... in FILE:LINE`). Whether
/// the new generation serves.
async fn reconfigure(
    server: &mut Server,
    options: &LoadOptions,
    startup_log: Option<&Path>,
    main: &mut MainConf,
    owns_pid: bool,
    families: Option<&crate::metrics::Families>,
) -> bool {
    let current = server.shared.tables.load_full();
    // Reading and compiling the files blocks: off the thread that serves
    // the connections (with worker_processes 1 there is only that one).
    let load = {
        let options = options.clone();
        let startup_log = startup_log.map(Path::to_path_buf);
        tokio::task::spawn_blocking(move || load_generation_with(&options, startup_log.as_deref()))
    };
    let loaded = match load.await {
        Ok(result) => result,
        Err(e) => Err(crate::reload::LoadFailure {
            message: format!("reload failed: {e}"),
            warnings: Vec::new(),
        }),
    };
    let loaded = loaded.and_then(|mut generation| {
        // limit zones keep their state across the reload
        match generation.tables.rt.zones.adopt(&current.rt.zones) {
            Ok(()) => Ok(generation),
            Err(message) => Err(crate::reload::LoadFailure {
                message,
                warnings: generation.warnings,
            }),
        }
    });
    match loaded {
        Ok(mut generation) => {
            if let Some(f) = families {
                generation.tables.metrics =
                    Some(f.for_runtime(&generation.tables.rt, current.generation + 1));
            }
            for (level, w) in &generation.warnings {
                current.error_log.log(*level, w);
            }
            for (level, text) in &generation.ignored {
                generation.tables.error_log.log(*level, text);
            }
            if owns_pid && generation.main.pid != main.pid {
                if let Err(e) = write_pid(&generation.main.pid) {
                    current.error_log.log(Level::Alert, &e);
                } else {
                    let _ = std::fs::remove_file(&main.pid);
                }
            }
            let close_after = generation.main.worker_shutdown_timeout;
            server.set_worker_connections(generation.main.worker_connections);
            *main = generation.main;
            let new_log_first = generation
                .tables
                .error_log
                .first_file()
                .map(Path::to_path_buf);
            match server.reload_with(generation.tables, close_after) {
                Ok(()) => {
                    let tables = server.shared.tables.load();
                    tables.error_log.log(Level::Notice, "reconfiguring");
                    if new_log_first.is_some() {
                        redirect_stderr(&tables.error_log);
                    }
                    true
                }
                Err(e) => {
                    server.shared.tables.load().error_log.log(Level::Emerg, &e);
                    false
                }
            }
        }
        Err(failure) => {
            for (level, w) in &failure.warnings {
                current.error_log.log(*level, w);
            }
            for line in failure.message.lines() {
                current.error_log.log(Level::Emerg, line);
            }
            // Not an [alert]: nginx logs only the [emerg] line.
            current.error_log.log(
                Level::Notice,
                "reload failed: the old configuration goes on serving",
            );
            false
        }
    }
}
