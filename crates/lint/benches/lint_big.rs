//! Lint of the 5,000-server configuration from
//! ../shared/tools/gen_big_conf.py (issue #6: under 1 s; gixy-next needs 7 s
//! for 500 servers). Three measurements: loading (upgate-conf) plus linting
//! (and freeing the tree), linting a loaded tree alone, and rendering the
//! report for people (what `upgate lint` prints: some 26,000 findings). The
//! generated file is written once to the temp directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use upgate_lint::output::{Lines, human};
use upgate_lint::{NoResolve, Options, lint, load_options};

fn big_conf() -> Option<PathBuf> {
    let shared = std::env::var("UPGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let out = std::env::temp_dir().join("upgate-lint-bench-5000.conf");
    if !out.exists() {
        let status = Command::new("python3")
            .arg(shared.join("tools/gen_big_conf.py"))
            .args(["--servers", "5000", "--locations", "6", "-o"])
            .arg(&out)
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
    }
    Some(out)
}

fn bench(c: &mut Criterion) {
    let Some(conf) = big_conf() else {
        eprintln!("cannot generate the big configuration (python3 and ../shared/tools needed)");
        return;
    };
    let mut group = c.benchmark_group("lint-5000-servers");
    group.sample_size(10);
    group.bench_function("load+lint", |b| {
        b.iter(|| {
            let loaded = upgate_conf::load(&load_options(&conf));
            let report = lint(&loaded, &Options::new(&NoResolve));
            std::hint::black_box(report.findings.len())
        })
    });
    let loaded = upgate_conf::load(&load_options(&conf));
    group.bench_function("lint", |b| {
        b.iter(|| std::hint::black_box(lint(&loaded, &Options::new(&NoResolve)).findings.len()))
    });
    let report = lint(&loaded, &Options::new(&NoResolve));
    group.bench_function("render-human", |b| {
        b.iter(|| {
            let lines = Lines::new(&loaded.config.sources);
            std::hint::black_box(human::render(&report, &lines, false).len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
