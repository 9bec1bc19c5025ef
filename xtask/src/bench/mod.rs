//! `cargo xtask bench`: upgate against Debian's nginx, side by side on this
//! machine, from one generated nginx.conf (issue 13). The whole run by
//! default (under 15 minutes), `--quick` (under 2), or a subset:
//! `bench parse` (the config check), `bench tls`, `bench access`, `bench
//! pragmas` (WS echo through frame-aware tunnels), or one
//! group alone: `bench http`, `bench ws`, `bench tunnels`; `bench
//! instructions` counts instructions per unit of work under callgrind
//! instead ([`instructions`]).
//!
//! Each server runs pinned to CPU 0 (taskset), the bench process (load
//! clients, the backends, wrk) on the other CPUs; the 2-worker row runs the
//! servers on every CPU. Results: a Markdown table on stdout, JSON in
//! target/bench/ (`<timestamp>.json` and `latest.json`; a subset writes
//! `latest-<subset>.json`), and for the whole run the chart
//! docs/bench/latest.svg, which `--svg-from FILE` redraws from a saved JSON.
//!
//! The modules: [`figures`] (the rows and their goals), [`harness`] (the
//! passes), [`servers`] (tools, CPUs, the processes under test),
//! [`config`] (the nginx.conf), [`backends`], [`load`] (our WebSocket load
//! tool), [`wrk`], [`tls`], [`parse`] (the `-t` figures), [`procfs`],
//! [`stats`], [`report`] (table and JSON) and [`svg`].

mod backends;
mod config;
mod figures;
mod harness;
mod instructions;
pub(crate) mod load;
mod parse;
pub(crate) mod procfs;
mod report;
pub(crate) mod servers;
mod stats;
mod svg;
mod tls;
mod wrk;

use std::path::{Path, PathBuf};

use figures::Group;

/// What a run does: the subset, and how long and how wide its loads are.
#[derive(Debug, Clone)]
pub struct Options {
    pub subset: Option<String>,
    pub quick: bool,
    pub runs: usize,
    pub seconds: u64,
    pub tunnels: usize,
    pub conns: usize,
    pub pin: bool,
    pub svg_from: Option<PathBuf>,
}

impl Options {
    /// `[parse|tls|access|http|ws|tunnels] [--quick] [--runs N] [--seconds S] [--tunnels N]
    /// [--conns N] [--no-pin] [--svg-from FILE]`; the numbers given win
    /// over `--quick`'s, wherever they stand.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut subset = None;
        let mut quick = false;
        let mut numbers: [Option<usize>; 4] = [None; 4];
        let mut pin = true;
        let mut svg_from = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let slot = match a.as_str() {
                "--runs" => Some(0),
                "--seconds" => Some(1),
                "--tunnels" => Some(2),
                "--conns" => Some(3),
                _ => None,
            };
            if let Some(slot) = slot {
                let n = it
                    .next()
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|n| *n > 0)
                    .ok_or(format!("bench: {a} wants a positive number"))?;
                numbers[slot] = Some(n);
                continue;
            }
            match a.as_str() {
                "--quick" => quick = true,
                "--no-pin" => pin = false,
                // The old flag of bench tls/access: pinning is the default.
                "--pin" => pin = true,
                "--svg-from" => {
                    svg_from = Some(PathBuf::from(
                        it.next().ok_or("bench: --svg-from wants a JSON file")?,
                    ))
                }
                s if !s.starts_with('-') && subset.is_none() => subset = Some(s.to_string()),
                other => return Err(format!("bench: unknown option {other:?}")),
            }
        }
        // Quick: the same figures, 1 s loads and a tenth of the tunnels,
        // still 3 passes for a median.
        let (runs, seconds, tunnels) = if quick { (3, 1, 1000) } else { (3, 5, 5000) };
        Ok(Options {
            subset,
            quick,
            runs: numbers[0].unwrap_or(runs),
            seconds: numbers[1].map_or(seconds, |s| s as u64),
            tunnels: numbers[2].unwrap_or(tunnels),
            conns: numbers[3].unwrap_or(50),
            pin,
            svg_from,
        })
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let options = Options::parse(args)?;
    if let Some(json) = &options.svg_from {
        let report = report::load(json)?;
        print!("{}", report::table(&report.rows));
        return write_svg(&root, &report);
    }
    let counting = options.subset.as_deref() == Some("instructions");
    let groups = if counting {
        &[]
    } else {
        figures::groups(options.subset.as_deref())?
    };
    if cfg!(debug_assertions) {
        return servers::rerun_optimized(&root, "bench", args);
    }
    servers::build(&root)?;
    if counting {
        let commit = git_head(&root);
        return runtime()?.block_on(until_signal(instructions::run(&root, &options, commit)));
    }
    let setup = setup(&root, &options, groups)?;
    let started = report::timestamp();
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    let tunnels = if groups.contains(&Group::Tunnels) || groups.contains(&Group::Tls) {
        format!(", {} idle tunnels", options.tunnels)
    } else {
        String::new()
    };
    eprintln!(
        "bench: {} passes, {} s loads, {} connections{tunnels}; {}; load average {}",
        options.runs,
        options.seconds,
        options.conns,
        if setup.pinned {
            "servers on CPU 0, load and backends on the others"
        } else {
            "not pinned"
        },
        load_average.as_deref().unwrap_or("?"),
    );
    let began = std::time::Instant::now();
    let result = runtime()?.block_on(until_signal(harness::run(&setup, &options, groups)));
    let _ = std::fs::remove_dir_all(&setup.work);
    let samples = result?;
    eprintln!("bench: measured in {:.0} s", began.elapsed().as_secs_f64());

    let figures: Vec<figures::Figure> = figures::FIGURES
        .into_iter()
        .filter(|f| groups.contains(&f.group))
        .collect();
    let report = report::Report {
        timestamp: started,
        command: std::iter::once("bench")
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        commit: git_head(&root),
        passes: options.runs,
        seconds: options.seconds,
        conns: options.conns,
        tunnels: options.tunnels,
        pinned: setup.pinned,
        nginx: nginx_version(&setup.nginx),
        load_average,
        rows: report::rows(&figures, &samples),
    };
    print!("{}", report::table(&report.rows));
    let dir = servers::target_dir(&root).join("bench");
    let latest = match &options.subset {
        Some(s) => format!("latest-{s}.json"),
        None => "latest.json".into(),
    };
    let saved = report::save(&report, &dir, &latest)?;
    eprintln!(
        "bench: {} and {}",
        saved.display(),
        dir.join(latest).display()
    );
    if options.subset.is_none() {
        write_svg(&root, &report)?;
    }
    Ok(())
}

/// The tools, the CPU split and a work directory.
fn setup(root: &Path, options: &Options, groups: &[Group]) -> Result<harness::Setup, String> {
    let serving = groups
        .iter()
        .any(|g| !matches!(g, Group::Check | Group::CheckExtra));
    if serving {
        // Each tunnel is a client, a proxy and a backend socket here.
        servers::raise_nofile(options.tunnels * 3 + 4096)?;
    }
    let nginx = servers::debian_tool("/usr/sbin/nginx", "nginx")?;
    let wrk = if groups
        .iter()
        .any(|g| matches!(g, Group::Http | Group::Workers | Group::Access))
    {
        servers::debian_tool("/usr/bin/wrk", "wrk")?
    } else {
        PathBuf::new()
    };
    if groups.contains(&Group::Check) {
        servers::debian_tool("/usr/bin/time", "time")?;
    }
    // Before the runtime starts its threads: they inherit the affinity.
    let pinned = serving && options.pin && servers::pin_self();
    if serving && options.pin && !pinned {
        eprintln!("bench: one CPU or no taskset: the servers share the CPUs with the load");
    }
    let work = std::env::temp_dir().join(format!("upgate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    Ok(harness::Setup {
        root: root.to_path_buf(),
        work,
        nginx,
        upgate: servers::target_dir(root).join("release/upgate"),
        wrk,
        pinned,
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))
}

/// Runs `bench` until it ends or a SIGINT, SIGTERM or SIGHUP comes: then
/// it is dropped, and with it every server it started (each killed with
/// its process group), which a signal's default action would leave running.
pub(crate) async fn until_signal<T>(
    bench: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| signal(kind).map_err(|e| format!("signal handler: {e}"));
    let mut int = listen(SignalKind::interrupt())?;
    let mut term = listen(SignalKind::terminate())?;
    let mut hup = listen(SignalKind::hangup())?;
    tokio::select! {
        r = bench => r,
        _ = int.recv() => Err("interrupted".into()),
        _ = term.recv() => Err("terminated".into()),
        _ = hup.recv() => Err("hung up".into()),
    }
}

fn write_svg(root: &Path, report: &report::Report) -> Result<(), String> {
    let dir = root.join("docs/bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("latest.svg");
    servers::write(&path, &svg::render(report))?;
    eprintln!("bench: {}", path.display());
    Ok(())
}

fn git_head(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `nginx/1.22.1`, from `nginx -v` (which writes to stderr).
fn nginx_version(nginx: &Path) -> String {
    std::process::Command::new(nginx)
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stderr)
                .split_whitespace()
                .find(|w| w.starts_with("nginx/"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "nginx".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn quick_is_shorter_and_numbers_win() {
        let o = Options::parse(&args("--seconds 2 --quick")).ok();
        assert_eq!(
            o.as_ref().map(|o| (o.runs, o.seconds, o.tunnels)),
            Some((3, 2, 1000))
        );
        let o = Options::parse(&args("tls --runs 5 --no-pin")).ok();
        assert_eq!(o.as_ref().and_then(|o| o.subset.as_deref()), Some("tls"));
        assert_eq!(o.map(|o| (o.runs, o.seconds, o.pin)), Some((5, 5, false)));
    }

    #[test]
    fn bad_options_are_errors() {
        assert!(Options::parse(&args("--runs 0")).is_err());
        assert!(Options::parse(&args("--runs")).is_err());
        assert!(Options::parse(&args("--frobnicate")).is_err());
        assert!(Options::parse(&args("tls access")).is_err());
    }
}
