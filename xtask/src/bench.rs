//! `cargo xtask bench parse`: upgate against nginx and crossplane, side by
//! side in one run, on the large configuration of
//! ../shared/tools/gen_big_conf.py (one 9.4 MB file, and the same split
//! into 5,000 included files). Medians of 5 alternating runs; the ratios
//! are what to quote (the machines are shared and noisy, absolute times are
//! not comparable between runs).
//!
//! Peak memory comes from GNU time (`/usr/bin/time -f '%e %M'`), wall time
//! from the same. Needs nginx (`apt-get install nginx`), crossplane
//! (`pip install crossplane`) and python3.

use std::path::{Path, PathBuf};
use std::process::Command;

const RUNS: usize = 5;

pub fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("parse") | None => parse(),
        Some("tls") => crate::bench_tls::run(&args[1..]),
        Some("access") => crate::bench_access::run(&args[1..]),
        Some(other) => Err(format!(
            "unknown benchmark {other:?} (known: parse, tls, access)"
        )),
    }
}

/// One measured run: wall seconds and peak resident memory in KiB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    max_rss_kb: f64,
}

fn parse() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = std::env::var("UPGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared"));
    let generator = shared.join("tools/gen_big_conf.py");
    let work = std::env::temp_dir().join(format!("upgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "upgate"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p upgate failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let upgate = target.join("release/upgate");
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("nginx is not installed (apt-get install nginx)")?;

    let big = work.join("big.conf");
    let split = work.join("split");
    generate(
        &generator,
        &["--servers", "5000", "--locations", "6", "-o"],
        &big,
    )?;
    generate(
        &generator,
        &["--servers", "5000", "--locations", "6", "--split-dir"],
        &split,
    )?;
    let split_main = split.join("nginx.conf");

    println!(
        "config: {} ({} bytes); split: {}",
        big.display(),
        file_size(&big),
        split.display()
    );
    for (label, conf) in [("one file", &big), ("5,000 files", &split_main)] {
        let conf = conf.display().to_string();
        let pairs = measure_pair(
            &[nginx, "-t", "-q", "-c", &conf],
            &[&upgate.display().to_string(), "-t", "-q", "-c", &conf],
        )?;
        report(&format!("-t, {label}"), "nginx -t", "upgate -t", pairs);
    }
    let conf = big.display().to_string();
    match which("crossplane") {
        Some(crossplane) => {
            let pairs = measure_pair(
                &[&crossplane, "parse", "-o", "/dev/null", &conf],
                &[&upgate.display().to_string(), "parse", &conf],
            )?;
            report("parse, one file", "crossplane parse", "upgate parse", pairs);
        }
        None => println!("crossplane not found (pip install crossplane): parse comparison skipped"),
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn generate(generator: &Path, args: &[&str], out: &Path) -> Result<(), String> {
    let status = Command::new("python3")
        .arg(generator)
        .args(args)
        .arg(out)
        .status()
        .map_err(|e| format!("python3 {}: {e}", generator.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed", generator.display()))
    }
}

/// Runs the two commands alternately, RUNS times each.
fn measure_pair(reference: &[&str], ours: &[&str]) -> Result<(Vec<Sample>, Vec<Sample>), String> {
    let mut a = Vec::new();
    let mut b = Vec::new();
    for _ in 0..RUNS {
        a.push(measure(reference)?);
        b.push(measure(ours)?);
    }
    Ok((a, b))
}

fn measure(command: &[&str]) -> Result<Sample, String> {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .args(command)
        .stdout(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("/usr/bin/time (apt-get install time): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{} failed:\n{stderr}", command.join(" ")));
    }
    let last = stderr.lines().last().unwrap_or_default();
    let mut fields = last.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(wall)), Some(Ok(max_rss_kb))) => Ok(Sample { wall, max_rss_kb }),
        _ => Err(format!("cannot read GNU time's output: {last:?}")),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn report(what: &str, reference: &str, ours: &str, (a, b): (Vec<Sample>, Vec<Sample>)) {
    let wall_a = median(a.iter().map(|s| s.wall).collect());
    let wall_b = median(b.iter().map(|s| s.wall).collect());
    let rss_a = median(a.iter().map(|s| s.max_rss_kb).collect());
    let rss_b = median(b.iter().map(|s| s.max_rss_kb).collect());
    println!(
        "{what}: {reference} {wall_a:.2} s, {:.0} MB | {ours} {wall_b:.2} s, {:.0} MB | wall {:.3}x ({:.1}x faster), memory {:.3}x",
        rss_a / 1024.0,
        rss_b / 1024.0,
        wall_b / wall_a,
        wall_a / wall_b,
        rss_b / rss_a
    );
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn which(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}
