//! `cargo xtask soak [--minutes N] [--tunnels N] [--quick]`: the release
//! upgate under long traffic, its memory and descriptors watched.
//!
//! upgate runs as users of a two-core machine run it (a master and a worker
//! with two threads, `worker_processes 2`) on a configuration with the `$connection_upgrade` map, an HTTP
//! upstream with `keepalive 64` and two WebSocket upstreams; the steady
//! tunnels' echo backend is a process of its own (examples/backends'
//! echo-backend), so that this process holds one descriptor per steady
//! tunnel. upgate's worker holds two per tunnel: where the hard open-files
//! limit is lower than that needs, the tunnels are cut to what fits, and the
//! run says so. Through upgate this process keeps `--tunnels`
//! steady tunnels (default 10,000) and a twentieth as many churn tunnels,
//! each sending a message every ten seconds and checking the echo, and
//! eight keepalive HTTP clients with a request every 10 ms. Every minute
//! the master gets a SIGHUP (a reload: a new worker, the old one keeps the
//! tunnels it holds until they end, as nginx's does, and closes its idle
//! keepalive connections); every three minutes the HTTP backend and the
//! churn tunnels' backend go down for a second (their connections die, the
//! churn tunnels are opened again, HTTP requests meanwhile are 502).
//!
//! Sampled every 10 s (2 s with `--quick`): the sum of resident memory and
//! of open descriptors over upgate's processes (master and workers), their
//! count, and the traffic's counters. The verdict compares the mean of a
//! window after warm-up (one minute, starting a minute after every tunnel
//! was open) with the mean of the last window: both sums within 5 % is
//! flat. It also needs every steady tunnel held to the end (none ended and
//! opened again), no echo that differs, and no HTTP error but the 502s of a
//! restart. target/soak/soak.json keeps every sample, target/soak/soak.svg
//! plots them; the exit status is the verdict.
//!
//! `--quick` is the smoke run: 2 minutes, 500 tunnels, a reload every 20 s,
//! a restart every 45 s, windows of 20 s.

mod plot;
mod traffic;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};

use crate::bench::servers::{self, Cpus, Server};
use crate::bench::{procfs, runtime, until_signal};
use traffic::{Counters, Counts, Kind, Restartable, TunnelPlan};

/// How far the end may be from the start and still be flat.
const FLAT: f64 = 0.05;
/// Tunnels opened at once.
const OPENING: usize = 200;
const HTTP_CLIENTS: usize = 8;
const HTTP_GAP: Duration = Duration::from_millis(10);
const MESSAGE_PERIOD: Duration = Duration::from_secs(10);
/// How long all tunnels may take to open.
const OPEN_LIMIT: Duration = Duration::from_secs(300);
/// A restarted backend is down this long.
const DOWN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq)]
struct Options {
    minutes: f64,
    tunnels: usize,
    reload_every: Duration,
    restart_every: Duration,
    sample_every: Duration,
    /// The length of the start and end windows.
    window: Duration,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = if quick {
            Options {
                minutes: 2.0,
                tunnels: 500,
                reload_every: Duration::from_secs(20),
                restart_every: Duration::from_secs(45),
                sample_every: Duration::from_secs(2),
                window: Duration::from_secs(20),
            }
        } else {
            Options {
                minutes: 30.0,
                tunnels: 10_000,
                reload_every: Duration::from_secs(60),
                restart_every: Duration::from_secs(180),
                sample_every: Duration::from_secs(10),
                window: Duration::from_secs(60),
            }
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| *v > 0.0)
                    .ok_or_else(|| format!("{flag} needs a positive number"))
            };
            match arg.as_str() {
                "--quick" => {}
                "--minutes" => o.minutes = value("--minutes")?,
                "--tunnels" => o.tunnels = value("--tunnels")? as usize,
                other => return Err(format!("unknown soak option {other:?}")),
            }
        }
        // Room for a start window a window after the tunnels opened, and
        // an end window after it.
        let least = 3.0 * o.window.as_secs_f64() / 60.0;
        if o.minutes < least {
            return Err(format!("--minutes must be at least {least} here"));
        }
        Ok(o)
    }
}

/// One sample of upgate's processes and the traffic.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    seconds: f64,
    processes: usize,
    rss_bytes: u64,
    fds: usize,
    #[serde(flatten)]
    counts: Counts,
}

/// A window's mean against another's.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
struct Drift {
    start: f64,
    end: f64,
    /// (end - start) / start.
    change: f64,
}

impl Drift {
    fn flat(&self) -> bool {
        self.change.abs() <= FLAT
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    command: String,
    minutes: f64,
    tunnels: usize,
    churn_tunnels: usize,
    /// When every tunnel was first open, in seconds from the start.
    all_open_at: f64,
    reloads: usize,
    backend_restarts: usize,
    rss: Option<Drift>,
    fds: Option<Drift>,
    end: Counts,
    failures: Vec<String>,
    pass: bool,
    reload_seconds: Vec<f64>,
    restart_seconds: Vec<f64>,
    samples: Vec<Sample>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if cfg!(debug_assertions) {
        return servers::rerun_optimized(&root, "soak", args);
    }
    servers::build(&root)?;
    build_echo_backend(&root)?;
    // upgate's worker is one process (worker_processes are its threads)
    // holding two descriptors per tunnel: the hard open-files limit caps
    // the tunnels one machine can soak.
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(20_000, |(_, hard)| hard as usize);
    let fits = hard.saturating_sub(1024) / 2;
    let mut options = options;
    let mut churn = (options.tunnels / 20).max(10);
    if options.tunnels + churn > fits {
        churn = (fits / 21).max(10);
        options.tunnels = fits.saturating_sub(churn);
        eprintln!(
            "soak: the hard open-files limit is {hard}: {} steady and {churn} churn tunnels \
             (two descriptors each in upgate's worker) fit",
            options.tunnels
        );
    }
    // Each steady tunnel is a client socket here, each churn tunnel a
    // client and a backend socket.
    servers::raise_nofile(options.tunnels + 2 * churn + 4096)?;
    let out = servers::target_dir(&root).join("soak");
    let work = out.join("run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let upgate = servers::target_dir(&root).join("release/upgate");
    let echo_backend = servers::target_dir(&root).join("release/echo-backend");
    eprintln!(
        "soak: {} min, {} tunnels + {churn} churn tunnels, {HTTP_CLIENTS} HTTP clients, \
         a reload every {} s, backends restarted every {} s",
        options.minutes,
        options.tunnels,
        options.reload_every.as_secs(),
        options.restart_every.as_secs()
    );
    let mut summary = runtime()?.block_on(until_signal(soak(
        &options,
        churn,
        &upgate,
        &echo_backend,
        &work,
    )))?;
    summary.command = std::iter::once("soak")
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let json = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    servers::write(&out.join("soak.json"), &json)?;
    servers::write(&out.join("soak.svg"), &svg(&summary))?;
    print!("{}", table(&summary));
    eprintln!(
        "soak: {} and {}",
        out.join("soak.json").display(),
        out.join("soak.svg").display()
    );
    if summary.pass {
        Ok(())
    } else {
        Err(format!("soak failed: {}", summary.failures.join("; ")))
    }
}

fn conf(port: u16, http: u16, echo: u16, churn: u16, tunnels: usize, files: u64) -> String {
    let connections = 2 * tunnels + 2048;
    format!(
        "daemon off;\nworker_processes 2;\nworker_rlimit_nofile {files};\n\
         pid logs/nginx.pid;\nerror_log logs/error.log warn;\n\
         events {{ worker_connections {connections}; }}\n\
         http {{\n\
         \x20   access_log logs/access.log combined buffer=64k flush=1s;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         \x20   upstream http_backend {{ server 127.0.0.1:{http}; keepalive 64; }}\n\
         \x20   upstream ws_echo {{ server 127.0.0.1:{echo}; }}\n\
         \x20   upstream churn_echo {{ server 127.0.0.1:{churn}; }}\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096;\n\
         \x20       location /http {{\n\
         \x20           proxy_pass http://http_backend;\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Connection \"\";\n\
         \x20       }}\n\
         {ws}{churn_ws}\
         \x20   }}\n\
         }}\n",
        ws = ws_location("/ws", "ws_echo"),
        churn_ws = ws_location("/churn", "churn_echo"),
    )
}

fn ws_location(path: &str, upstream: &str) -> String {
    format!(
        "        location {path} {{\n\
         \x20           proxy_pass http://{upstream};\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Upgrade $http_upgrade;\n\
         \x20           proxy_set_header Connection $connection_upgrade;\n\
         \x20           proxy_read_timeout 1h;\n\
         \x20       }}\n"
    )
}

async fn soak(
    options: &Options,
    churn: usize,
    upgate: &Path,
    echo_backend: &Path,
    work: &Path,
) -> Result<Summary, String> {
    let began = Instant::now();
    let echo_port = servers::free_port()?;
    let _echo = Child::start(echo_backend, &format!("127.0.0.1:{echo_port}")).await?;
    let mut http = Restartable::start(Kind::Http, 0)?;
    let mut churn_echo = Restartable::start(Kind::Echo, 0)?;
    let port = servers::free_port()?;
    // What the worker may open: all it needs, or the hard limit.
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(20_000, |(_, hard)| hard);
    let want = 2 * (options.tunnels + churn) as u64 + 4096;
    let text = conf(
        port,
        http.port,
        echo_port,
        churn_echo.port,
        options.tunnels + churn,
        want.min(hard),
    );
    let mut server = Server::start("upgate", upgate, work, &text, &[port], Cpus::All).await?;
    let master = server.pid();

    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let opening = Arc::new(Semaphore::new(OPENING));
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..(options.tunnels + churn) as u64 {
        let steady = id < options.tunnels as u64;
        let plan = TunnelPlan {
            port,
            path: if steady { "/ws" } else { "/churn" },
            id,
            churn: !steady,
            period: MESSAGE_PERIOD,
        };
        tasks.spawn(traffic::tunnel(
            plan,
            Arc::clone(&counters),
            Arc::clone(&opening),
            stop.clone(),
        ));
    }
    for _ in 0..HTTP_CLIENTS {
        tasks.spawn(traffic::http_client(
            port,
            "/http",
            HTTP_GAP,
            began,
            Arc::clone(&counters),
            stop.clone(),
        ));
    }

    let total = (options.tunnels + churn) as u64;
    let open_by = Instant::now() + OPEN_LIMIT;
    while counters.open.load(Ordering::Relaxed) < total {
        server.check_alive()?;
        if Instant::now() > open_by {
            let _ = stop_tx.send(true);
            return Err(format!(
                "only {} of {total} tunnels open after {} s",
                counters.open.load(Ordering::Relaxed),
                OPEN_LIMIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_open_at = began.elapsed().as_secs_f64();
    eprintln!("soak: {total} tunnels open after {all_open_at:.0} s");

    let end = began + Duration::from_secs_f64(options.minutes * 60.0);
    let mut next_sample = Instant::now();
    let mut next_reload = Instant::now() + options.reload_every;
    let mut next_restart = Instant::now() + options.restart_every;
    let mut next_report = Instant::now() + Duration::from_secs(60);
    let (mut samples, mut reloads, mut restarts) = (Vec::new(), Vec::new(), Vec::new());
    while Instant::now() < end {
        server.check_alive()?;
        let now = Instant::now();
        if now >= next_sample {
            samples.push(sample(master, began, &counters));
            next_sample += options.sample_every;
        }
        if now >= next_reload {
            kill(Pid::from_raw(master as i32), Signal::SIGHUP)
                .map_err(|e| format!("SIGHUP to upgate: {e}"))?;
            reloads.push(began.elapsed().as_secs_f64());
            next_reload += options.reload_every;
        }
        if now >= next_restart {
            let at = began.elapsed();
            // 502s are expected while the backend is down and a moment
            // after (cached upstream connections to the old one).
            let until = at + DOWN + Duration::from_secs(3);
            counters
                .restart_until_ms
                .store(until.as_millis() as u64, Ordering::Relaxed);
            restarts.push(at.as_secs_f64());
            let (a, b) = tokio::join!(http.restart(DOWN), churn_echo.restart(DOWN));
            a?;
            b?;
            next_restart += options.restart_every;
        }
        if now >= next_report {
            if let Some(s) = samples.last() {
                eprintln!(
                    "soak: {:>4.0} s  {} tunnels  {} messages  {} HTTP ok  {} processes  \
                     {:.1} MiB  {} fds",
                    s.seconds,
                    s.counts.open,
                    s.counts.messages,
                    s.counts.http_ok,
                    s.processes,
                    s.rss_bytes as f64 / 1048576.0,
                    s.fds
                );
            }
            next_report += Duration::from_secs(60);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    samples.push(sample(master, began, &counters));
    let _ = stop_tx.send(true);
    let drain = tokio::time::timeout(Duration::from_secs(20), async {
        while tasks.join_next().await.is_some() {}
    });
    if drain.await.is_err() {
        tasks.abort_all();
    }
    let error_log = server.error_log();
    drop(server);

    let end_counts = samples.last().map(|s| s.counts).unwrap_or_default();
    let start_from = all_open_at + options.window.as_secs_f64();
    let (rss, fds) = drifts(&samples, start_from, options.window.as_secs_f64());
    let mut failures = verdict(rss, fds, &end_counts, options.tunnels as u64, total);
    let alerts = error_log
        .lines()
        .filter(|l| l.contains("[alert]") || l.contains("[emerg]") || l.contains("[crit]"))
        .count();
    if alerts > 0 {
        failures.push(format!("{alerts} alert/crit/emerg lines in the error log"));
    }
    Ok(Summary {
        command: String::new(),
        minutes: options.minutes,
        tunnels: options.tunnels,
        churn_tunnels: churn,
        all_open_at,
        reloads: reloads.len(),
        backend_restarts: restarts.len(),
        rss,
        fds,
        end: end_counts,
        pass: failures.is_empty(),
        failures,
        reload_seconds: reloads,
        restart_seconds: restarts,
        samples,
    })
}

/// `cargo build --release -p upgate-examples --bin echo-backend`.
fn build_echo_backend(root: &Path) -> Result<(), String> {
    servers::build_release(root, &["-p", "upgate-examples", "--bin", "echo-backend"])
}

/// A backend process in a process group of its own, killed on drop.
struct Child(std::process::Child);

impl Child {
    async fn start(binary: &Path, addr: &str) -> Result<Child, String> {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new(binary)
            .arg(addr)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        let child = Child(child);
        let end = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if Instant::now() > end {
                return Err(format!("{} did not listen on {addr}", binary.display()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(child)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sample(master: u32, began: Instant, counters: &Counters) -> Sample {
    let pids = procfs::tree(master);
    let fds = pids
        .iter()
        .map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).map_or(0, Iterator::count))
        .sum();
    Sample {
        seconds: began.elapsed().as_secs_f64(),
        processes: pids.len(),
        rss_bytes: procfs::rss(master),
        fds,
        counts: counters.read(),
    }
}

/// The start window's mean against the last window's, for resident memory
/// and descriptors; `None` when a window has no sample.
fn drifts(samples: &[Sample], start_from: f64, window: f64) -> (Option<Drift>, Option<Drift>) {
    let last = samples.last().map_or(0.0, |s| s.seconds);
    let mean = |from: f64, to: f64, f: &dyn Fn(&Sample) -> f64| {
        let picked: Vec<f64> = samples
            .iter()
            .filter(|s| s.seconds >= from && s.seconds <= to)
            .map(f)
            .collect();
        (!picked.is_empty()).then(|| picked.iter().sum::<f64>() / picked.len() as f64)
    };
    let drift = |f: &dyn Fn(&Sample) -> f64| {
        let start = mean(start_from, start_from + window, f)?;
        let end = mean(last - window, last, f)?;
        let change = if start > 0.0 {
            (end - start) / start
        } else {
            0.0
        };
        Some(Drift { start, end, change })
    };
    (drift(&|s| s.rss_bytes as f64), drift(&|s| s.fds as f64))
}

/// What failed, empty for a pass.
fn verdict(
    rss: Option<Drift>,
    fds: Option<Drift>,
    end: &Counts,
    steady: u64,
    total: u64,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, drift) in [("resident memory", rss), ("open descriptors", fds)] {
        match drift {
            None => failures.push(format!("no samples to judge {name}")),
            Some(d) if !d.flat() => failures.push(format!(
                "{name} went from {:.0} to {:.0} ({:+.1} %, more than {:.0} %)",
                d.start,
                d.end,
                d.change * 100.0,
                FLAT * 100.0
            )),
            Some(_) => {}
        }
    }
    if end.dropped > 0 {
        failures.push(format!(
            "{} of {steady} steady tunnels ended and were opened again",
            end.dropped
        ));
    }
    if end.open < total {
        failures.push(format!("{} of {total} tunnels open at the end", end.open));
    }
    if end.mismatches > 0 {
        failures.push(format!("{} echoes differed", end.mismatches));
    }
    if end.http_errors > 0 {
        failures.push(format!(
            "{} HTTP requests failed outside a restart",
            end.http_errors
        ));
    }
    if end.messages == 0 || end.http_ok == 0 {
        failures.push("no traffic went through".into());
    }
    failures
}

fn table(s: &Summary) -> String {
    let drift = |d: Option<Drift>, unit: f64, fmt: &dyn Fn(f64) -> String| match d {
        Some(d) => format!(
            "{} → {} ({:+.1} %)",
            fmt(d.start / unit),
            fmt(d.end / unit),
            d.change * 100.0
        ),
        None => "—".into(),
    };
    let e = &s.end;
    format!(
        "| soak | |\n|---|---|\n\
         | minutes | {} |\n\
         | tunnels held at the end | {} of {} ({} steady + {} churn) |\n\
         | steady tunnels dropped | {} |\n\
         | churn tunnels reopened after backend restarts | {} |\n\
         | messages echoed (mismatched) | {} ({}) |\n\
         | HTTP requests: 200 / 502 in restarts / errors | {} / {} / {} |\n\
         | keepalive reconnects (reloads) | {} |\n\
         | reloads / backend restarts | {} / {} |\n\
         | resident memory, all processes (MiB) | {} |\n\
         | open descriptors, all processes | {} |\n\
         | verdict | {} |\n",
        s.minutes,
        e.open,
        s.tunnels + s.churn_tunnels,
        s.tunnels,
        s.churn_tunnels,
        e.dropped,
        e.reopened,
        e.messages,
        e.mismatches,
        e.http_ok,
        e.http_restart_502,
        e.http_errors,
        e.http_reconnects,
        s.reloads,
        s.backend_restarts,
        drift(s.rss, 1048576.0, &|v| format!("{v:.1}")),
        drift(s.fds, 1.0, &|v| format!("{v:.0}")),
        if s.pass {
            "PASS (flat within 5 %)".to_string()
        } else {
            format!("FAIL: {}", s.failures.join("; "))
        }
    )
}

fn svg(s: &Summary) -> String {
    let series = |title, f: &dyn Fn(&Sample) -> f64| plot::Series {
        title,
        points: s.samples.iter().map(|x| (x.seconds, f(x))).collect(),
    };
    plot::render(
        &format!(
            "upgate soak: {} min, {} tunnels, reloads (solid) and backend restarts (dashed)",
            s.minutes,
            s.tunnels + s.churn_tunnels
        ),
        &[
            series("resident memory, MiB", &|x| x.rss_bytes as f64 / 1048576.0),
            series("open descriptors", &|x| x.fds as f64),
            series("open tunnels", &|x| x.counts.open as f64),
        ],
        &s.reload_seconds,
        &s.restart_seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_default_quick_and_overridden() -> Result<(), String> {
        let o = Options::parse(&[])?;
        assert_eq!((o.minutes, o.tunnels), (30.0, 10_000));
        let q = Options::parse(&args("--quick"))?;
        assert_eq!((q.minutes, q.tunnels), (2.0, 500));
        assert_eq!(q.reload_every, Duration::from_secs(20));
        let q = Options::parse(&args("--quick --minutes 1 --tunnels 50"))?;
        assert_eq!((q.minutes, q.tunnels), (1.0, 50));
        assert!(Options::parse(&args("--minutes 2")).is_err(), "too short");
        assert!(Options::parse(&args("--minutes x")).is_err());
        assert!(Options::parse(&args("--nope")).is_err());
        Ok(())
    }

    fn at(seconds: f64, rss: u64, fds: usize) -> Sample {
        Sample {
            seconds,
            processes: 2,
            rss_bytes: rss,
            fds,
            counts: Counts::default(),
        }
    }

    #[test]
    fn drift_compares_the_start_window_with_the_last() {
        let samples: Vec<Sample> = (0..=30)
            .map(|i| {
                let t = i as f64 * 10.0;
                // memory grows 1 % a minute; descriptors stay put
                at(t, (1000.0 * (1.0 + 0.01 * t / 60.0)) as u64, 500)
            })
            .collect();
        let (rss, fds) = drifts(&samples, 60.0, 60.0);
        let (rss, fds) = (
            rss.unwrap_or_else(|| panic!("no rss")),
            fds.unwrap_or_else(|| panic!("no fds")),
        );
        assert!(rss.change > 0.02 && rss.change < 0.04, "{rss:?}");
        assert!(rss.flat());
        assert_eq!(fds.change, 0.0);
        let none = drifts(&samples, 400.0, 60.0);
        assert_eq!(none.0, None);
    }

    #[test]
    fn verdict_names_each_failure() {
        let flat = Some(Drift {
            start: 100.0,
            end: 104.0,
            change: 0.04,
        });
        let grew = Some(Drift {
            start: 100.0,
            end: 110.0,
            change: 0.10,
        });
        let mut end = Counts {
            open: 10,
            messages: 5,
            http_ok: 5,
            ..Counts::default()
        };
        assert!(verdict(flat, flat, &end, 8, 10).is_empty());
        assert_eq!(verdict(grew, flat, &end, 8, 10).len(), 1);
        end.dropped = 1;
        end.open = 9;
        end.mismatches = 2;
        end.http_errors = 3;
        let failures = verdict(flat, None, &end, 8, 10);
        assert_eq!(failures.len(), 5, "{failures:?}");
    }

    #[test]
    fn the_configuration_loads() -> Result<(), String> {
        let text = conf(8080, 8081, 8082, 8083, 100, 4096);
        assert!(text.contains("map $http_upgrade $connection_upgrade"));
        assert!(text.contains("location /churn"));
        let dir = std::env::temp_dir().join(format!("upgate-soak-conf-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("logs")).map_err(|e| e.to_string())?;
        let path = dir.join("nginx.conf");
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        let mut options = upgate_conf::LoadOptions::new(&path);
        options.prefix = dir.clone();
        options.check_environment = false;
        let loaded = upgate_conf::load(&options);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(loaded.error.is_none(), "{:?}", loaded.error);
        Ok(())
    }
}
