//! `cargo xtask fuzz [TARGET|all] [--time SECS] [--runs N] [--jobs N] [--sanitizer S]`:
//! runs the cargo-fuzz targets of fuzz/ one after the other and records what
//! each run did.
//!
//! Each target grows a scratch corpus in target/fuzz-corpus/TARGET and reads
//! the kept seeds of fuzz/seeds/TARGET beside it (libFuzzer writes new inputs
//! only into its first corpus directory, so the seeds stay as committed). A
//! crash lands in target/fuzz/artifacts/TARGET/; the way to keep it is to copy
//! it into fuzz/seeds/TARGET, where crates/conf/tests/fuzz_seeds.rs (or the
//! target's own test) replays it on stable.
//!
//! The build uses the toolchain in force with `RUSTC_BOOTSTRAP=1`, which lets
//! stable take the `-Z` flags cargo-fuzz passes (sanitizer, coverage), so a
//! machine needs only `cargo install cargo-fuzz`. AddressSanitizer is on by
//! default; `--sanitizer none` runs about three times as many inputs a
//! second, which is what the deep runs use: every target is safe Rust, where
//! a memory error cannot happen without a panic the fuzzer sees anyway
//! (debug assertions and overflow checks stay on in both builds).
//!
//! `--jobs N` runs libFuzzer's fork mode (`-fork=N`): N child fuzzers on
//! shards of the corpus, their findings merged back by the parent, which is
//! how the slow targets (a whole engine, or a regex compiler, per input)
//! reach their counts on every core.
//!
//! The figures come from libFuzzer's final statistics
//! (`-print_final_stats=1`: `stat::number_of_executed_units`, ...), or in
//! fork mode from the parent's last `#RUNS:` status line, and go to
//! target/fuzz/summary.json and a table on stdout (docs/security.md quotes it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Every target in fuzz/Cargo.toml, in the order `all` runs them.
const TARGETS: [&str; 10] = [
    "http1_request",
    "http1_response",
    "chunked",
    "proxy_protocol",
    "htpasswd",
    "template",
    "conf_parse",
    "conf_compile",
    "fmt",
    "connection",
];

struct Options {
    targets: Vec<&'static str>,
    /// libFuzzer's -max_total_time.
    seconds: u64,
    /// libFuzzer's -runs (0: no bound but the time).
    runs: u64,
    /// libFuzzer's -fork (1: the plain in-process loop).
    jobs: u64,
    /// cargo fuzz's --sanitizer.
    sanitizer: &'static str,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut targets = Vec::new();
        let mut seconds = 60;
        let mut runs = 0;
        let mut jobs = 1;
        let mut sanitizer = "address";
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--time" => seconds = number(args.next(), "--time")?,
                "--runs" => runs = number(args.next(), "--runs")?,
                "--jobs" => jobs = number(args.next(), "--jobs")?.max(1),
                "--sanitizer" => {
                    sanitizer = match args.next().map(String::as_str) {
                        Some("address") => "address",
                        Some("none") => "none",
                        other => {
                            return Err(format!(
                                "--sanitizer takes address or none, not {other:?}"
                            ));
                        }
                    }
                }
                "all" => targets.extend(TARGETS),
                name => match TARGETS.iter().find(|t| **t == name) {
                    Some(t) => targets.push(*t),
                    None => {
                        return Err(format!(
                            "unknown fuzz target {name:?} (targets: {})",
                            TARGETS.join(", ")
                        ));
                    }
                },
            }
        }
        if targets.is_empty() {
            return Err("name a target or `all`".into());
        }
        Ok(Options {
            targets,
            seconds,
            runs,
            jobs,
            sanitizer,
        })
    }
}

fn number(value: Option<&String>, flag: &str) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    value
        .parse()
        .map_err(|_| format!("{flag} {value:?} is not a number"))
}

/// What one target's run did.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Run {
    target: String,
    executions: u64,
    seconds: f64,
    executions_per_second: u64,
    /// Inputs in the scratch corpus at the end.
    corpus: usize,
    new_units: u64,
    peak_rss_mb: u64,
    /// The crash's file, when libFuzzer wrote one.
    crash: Option<String>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_path_buf();
    which_cargo_fuzz()?;
    let out = target_dir(&root).join("fuzz");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    let mut runs = Vec::new();
    for target in &options.targets {
        let run = fuzz_one(&root, target, &options)?;
        eprintln!(
            "fuzz {target}: {} executions in {:.0} s{}",
            run.executions,
            run.seconds,
            run.crash
                .as_deref()
                .map_or(String::new(), |c| format!(", CRASH {c}"))
        );
        runs.push(run);
    }

    // The summary keeps each target's latest run, whichever invocation
    // made it: a long campaign runs the targets in several.
    let summary = out.join("summary.json");
    let earlier: Vec<Run> = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let print = table(&runs);
    let runs = merge(earlier, runs);
    let json = serde_json::to_string_pretty(&runs).map_err(|e| e.to_string())?;
    std::fs::write(&summary, json).map_err(|e| format!("{}: {e}", summary.display()))?;
    print!("{print}");
    eprintln!(
        "summary of every target's latest run: {}\n{}",
        summary.display(),
        table(&runs)
    );

    let crashed: Vec<&str> = runs
        .iter()
        .filter(|r| r.crash.is_some())
        .map(|r| r.target.as_str())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!("crashes in {}", crashed.join(", ")))
    }
}

fn which_cargo_fuzz() -> Result<(), String> {
    let found = crate::cargo::command()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        Ok(())
    } else {
        Err("cargo-fuzz is missing: `cargo install cargo-fuzz`".into())
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn fuzz_one(root: &Path, target: &str, options: &Options) -> Result<Run, String> {
    let base = target_dir(root);
    let corpus = base.join("fuzz-corpus").join(target);
    let artifacts = base.join("fuzz").join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let seeds = root.join("fuzz").join("seeds").join(target);

    let mut command: Command = crate::cargo::command();
    command
        .current_dir(root.join("fuzz"))
        .env("RUSTC_BOOTSTRAP", "1")
        // fuzz/ is its own workspace with its own target directory: a
        // CARGO_TARGET_DIR meant for the main workspace would mix the two.
        .env_remove("CARGO_TARGET_DIR")
        .args(["fuzz", "run", "--sanitizer", options.sanitizer, target])
        .arg(&corpus);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    let mut prefix = artifacts.into_os_string();
    prefix.push("/");
    let mut fuzzer_args = vec![
        format!("-max_total_time={}", options.seconds),
        "-print_final_stats=1".into(),
    ];
    if options.runs > 0 {
        fuzzer_args.push(format!("-runs={}", options.runs));
    }
    if options.jobs > 1 {
        fuzzer_args.push(format!("-fork={}", options.jobs));
    }
    command
        .arg("--")
        .args(&fuzzer_args)
        .arg({
            let mut a = std::ffi::OsString::from("-artifact_prefix=");
            a.push(prefix);
            a
        })
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());

    let started = Instant::now();
    let output = command
        .spawn()
        .and_then(|child| child.wait_with_output())
        .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let log_file = base.join("fuzz").join(format!("{target}.log"));
    std::fs::write(&log_file, log.as_bytes())
        .map_err(|e| format!("{}: {e}", log_file.display()))?;

    let mut run = parse_stats(target, &log);
    if run.seconds == 0.0 {
        run.seconds = started.elapsed().as_secs_f64();
    }
    run.corpus = std::fs::read_dir(&corpus).map_or(0, Iterator::count);
    if !output.status.success() && run.crash.is_none() {
        // A build failure or a fuzzer that did not start: not a figure.
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "cargo fuzz run {target} failed ({}), see {}:\n{}",
            output.status,
            log_file.display(),
            tail.join("\n")
        ));
    }
    Ok(run)
}

/// Reads libFuzzer's log: the final statistics, the time of the last
/// status line and the crash file. In fork mode the parent's `#RUNS: ...`
/// lines count every child's executions; the `stat::` lines there come
/// from one child's log (a crash's) and are not the run's.
fn parse_stats(target: &str, log: &str) -> Run {
    let mut run = Run {
        target: target.to_owned(),
        ..Run::default()
    };
    if log.contains(": fuzzing in separate process(s)") {
        parse_fork_stats(&mut run, log);
        return run;
    }
    for line in log.lines() {
        if let Some((name, value)) = line.strip_prefix("stat::").and_then(|s| s.split_once(':')) {
            let value: u64 = value.trim().parse().unwrap_or(0);
            match name {
                "number_of_executed_units" => run.executions = value,
                "average_exec_per_sec" => run.executions_per_second = value,
                "new_units_added" => run.new_units = value,
                "peak_rss_mb" => run.peak_rss_mb = value,
                _ => {}
            }
        } else if let Some(rest) = line.strip_prefix("Done ") {
            // "Done 10000000 runs in 123 second(s)"
            if let Some(secs) = rest
                .split_once(" runs in ")
                .and_then(|(_, s)| s.split_whitespace().next())
                .and_then(|s| s.parse::<f64>().ok())
            {
                run.seconds = secs;
            }
        } else if let Some(path) = line
            .split_once("Test unit written to ")
            .map(|(_, p)| p.trim())
        {
            run.crash = Some(path.to_owned());
        }
    }
    if run.seconds == 0.0 && run.executions_per_second > 0 {
        run.seconds = run.executions as f64 / run.executions_per_second as f64;
    }
    run
}

/// The parent's view of a `-fork=N` run: the last
/// `#RUNS: cov: .. ft: .. corp: .. exec/s: .. oom/timeout/crash: .. time: Ns ..`
/// line, `INFO: exiting: CODE time: Ns` and the crash file.
fn parse_fork_stats(run: &mut Run, log: &str) {
    let seconds_in = |s: &str| {
        s.split_once("time: ")
            .and_then(|(_, t)| t.split('s').next())
            .and_then(|t| t.trim().parse::<f64>().ok())
    };
    for line in log.lines() {
        if let Some((runs, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(": cov: ")) {
            if let Ok(runs) = runs.parse() {
                run.executions = runs;
                run.seconds = seconds_in(rest).unwrap_or(run.seconds);
            }
        } else if let Some(rest) = line.strip_prefix("INFO: exiting: ") {
            run.seconds = seconds_in(rest).unwrap_or(run.seconds);
        } else if let Some(path) = line
            .split_once("Test unit written to ")
            .map(|(_, p)| p.trim())
        {
            run.crash = Some(path.to_owned());
        }
    }
    if run.seconds > 0.0 {
        run.executions_per_second = (run.executions as f64 / run.seconds) as u64;
    }
}

/// `earlier` with each target's entry replaced by its run in `latest`, in
/// the order of [`TARGETS`].
fn merge(earlier: Vec<Run>, latest: Vec<Run>) -> Vec<Run> {
    let mut all: Vec<Run> = earlier
        .into_iter()
        .filter(|e| !latest.iter().any(|l| l.target == e.target))
        .collect();
    all.extend(latest);
    let rank = |t: &str| TARGETS.iter().position(|k| *k == t).unwrap_or(usize::MAX);
    all.sort_by_key(|r| rank(&r.target));
    all
}

/// The runs as the markdown table docs/security.md keeps.
fn table(runs: &[Run]) -> String {
    let mut out = String::from(
        "| target | executions | time | executions/s | corpus | crashes |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} s | {} | {} | {} |",
            r.target,
            r.executions,
            r.seconds,
            r.executions_per_second,
            r.corpus,
            u8::from(r.crash.is_some())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzers_final_stats() {
        let log = "\
#10000000\tDONE   cov: 812 ft: 3021 corp: 411/9kb lim: 4096 exec/s: 81967 rss: 512Mb
Done 10000000 runs in 122 second(s)
stat::number_of_executed_units: 10000000
stat::average_exec_per_sec:     81967
stat::new_units_added:          1290
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              512
";
        let run = parse_stats("chunked", log);
        assert_eq!(
            run,
            Run {
                target: "chunked".into(),
                executions: 10_000_000,
                seconds: 122.0,
                executions_per_second: 81_967,
                corpus: 0,
                new_units: 1290,
                peak_rss_mb: 512,
                crash: None,
            }
        );
    }

    #[test]
    fn the_summary_keeps_each_targets_latest_run() {
        let run = |target: &str, executions| Run {
            target: target.into(),
            executions,
            ..Run::default()
        };
        let merged = merge(
            vec![run("fmt", 1), run("chunked", 2)],
            vec![run("fmt", 3), run("http1_request", 4)],
        );
        let got: Vec<(&str, u64)> = merged
            .iter()
            .map(|r| (r.target.as_str(), r.executions))
            .collect();
        assert_eq!(got, [("http1_request", 4), ("chunked", 2), ("fmt", 3)]);
    }

    #[test]
    fn reads_the_fork_parents_totals() {
        let log = "\
INFO: -fork=2: fuzzing in separate process(s)
INFO: -fork=2: 411 seed inputs, starting to fuzz in /tmp/libFuzzerTemp.FuzzWithFork1.dir
#5120: cov: 800 ft: 3000 corp: 411 exec/s: 2500 oom/timeout/crash: 0/0/0 time: 3s job: 1 dft_time: 0
#9000000: cov: 812 ft: 3021 corp: 430 exec/s: 3000 oom/timeout/crash: 0/0/0 time: 1799s job: 40 dft_time: 0
INFO: fuzzed for 1800 seconds, wrapping up soon
stat::number_of_executed_units: 123
INFO: exiting: 0 time: 1800s
";
        let run = parse_stats("connection", log);
        assert_eq!(
            (run.executions, run.seconds, run.executions_per_second),
            (9_000_000, 1800.0, 5000)
        );
        assert_eq!(run.crash, None);
    }

    #[test]
    fn finds_the_crash_file() {
        let log = "==1== ERROR: libFuzzer: deadly signal\n\
                   artifact_prefix='/t/'; Test unit written to /t/crash-abc\n\
                   stat::number_of_executed_units: 42\n";
        let run = parse_stats("fmt", log);
        assert_eq!(run.crash.as_deref(), Some("/t/crash-abc"));
        assert_eq!(run.executions, 42);
    }

    #[test]
    fn every_target_of_fuzz_cargo_toml_is_known() -> std::io::Result<()> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml");
        let manifest = std::fs::read_to_string(manifest)?;
        let mut bins: Vec<&str> = manifest
            .split("[[bin]]")
            .skip(1)
            .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("name = ")))
            .map(|n| n.trim_matches('"'))
            .collect();
        let mut known = TARGETS.to_vec();
        bins.sort_unstable();
        known.sort_unstable();
        assert_eq!(bins, known);
        Ok(())
    }

    #[test]
    fn options_name_targets_or_all() -> Result<(), String> {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = Options::parse(&args("all --time 5 --runs 100"))?;
        assert_eq!(o.targets.len(), TARGETS.len());
        assert_eq!((o.seconds, o.runs, o.sanitizer), (5, 100, "address"));
        assert_eq!(o.jobs, 1);
        let o = Options::parse(&args("fmt --sanitizer none --jobs 2"))?;
        assert_eq!((o.targets, o.sanitizer, o.jobs), (vec!["fmt"], "none", 2));
        assert!(Options::parse(&args("fmt --sanitizer thread")).is_err());
        assert!(Options::parse(&args("nope")).is_err());
        assert!(Options::parse(&args("")).is_err());
        assert!(Options::parse(&args("fmt --time x")).is_err());
        Ok(())
    }
}
