//! `upgate parse` against `crossplane parse` (PyPI crossplane 0.5.8) on
//! every file of ../shared/corpus: the two JSON documents must be equal
//! (as JSON values), except for the cases listed in [`KNOWN_DIFFERENCES`],
//! where crossplane reads the file differently from nginx (see
//! docs/crossplane.md). A listed case that agrees fails too, so the list
//! stays true.
//!
//! Each file is read in the situation nginx was given it (HOW-JUDGED.md): a
//! main file directly, a snippet through a wrapper that includes it in the
//! block nginx accepted it in. Without that, crossplane's context checks
//! reject every snippet ("not allowed here"), which says nothing about
//! either parser. Files are copied to a temp directory first, and every
//! run is bounded.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Entry, TempDir, copy_tree, corpus, find_on_path, run_bounded};
use serde_json::Value;

/// The `crossplane parse` flags each file is compared under.
const MODES: &[(&str, &[&str])] = &[
    ("default", &[]),
    ("comments", &["--include-comments"]),
    ("combine", &["--combine"]),
    ("single", &["--single-file"]),
];

/// Every mode; the modes in which a wrapped snippet is read at all (with
/// `--single-file` only the wrapper is); `--combine` alone.
const ALL: &[&str] = &["default", "comments", "combine", "single"];
const READ: &[&str] = &["default", "comments", "combine"];
const COMBINE: &[&str] = &["combine"];
const PLAIN: &[&str] = &["default", "combine"];

/// Where the two differ on purpose: (file, modes, the heading in
/// docs/crossplane.md that explains it).
const KNOWN_DIFFERENCES: &[(&str, &[&str], &str)] = &[
    // upgate parse checks syntax only (by design).
    (
        "crossplane/bad-args/nginx.conf",
        ALL,
        "directive checks are not syntax",
    ),
    // crossplane's mistakes.
    (
        "crossplane/messy/nginx.conf",
        ALL,
        "escapes; a backslash ending a comment",
    ),
    ("crossplane/non-unicode/nginx.conf", READ, "escapes"),
    (
        "home-assistant-addons/deconz/rootfs/etc/nginx/nginx.conf",
        ALL,
        "escapes",
    ),
    (
        "crossplane/comments-between-args/nginx.conf",
        PLAIN,
        "comments between arguments without --include-comments",
    ),
    (
        "crossplane/missing-semicolon/broken-above.conf",
        ALL,
        "a missing semicolon before a closing brace",
    ),
    (
        "crossplane/missing-semicolon/broken-below.conf",
        ALL,
        "a missing semicolon before a closing brace",
    ),
    (
        "crossplane/quote-behavior/nginx.conf",
        ALL,
        "text glued to a quoted word",
    ),
    (
        "nginx-proxy-manager/etc/nginx/conf.d/production.conf.template",
        READ,
        "a brace where a directive should start",
    ),
    (
        "crossplane/includes-globbed/servers/locations/not-included.conf",
        READ,
        "an unterminated last directive",
    ),
    (
        "crossplane/includes-regular/conf.d/bar.conf",
        READ,
        "an unterminated last directive",
    ),
    (
        "crossplane/includes-regular/conf.d/foo.conf",
        READ,
        "an unterminated last directive",
    ),
    (
        "nginx-conf/nginx.conf",
        COMBINE,
        "the file of directives after an include",
    ),
    (
        "debian-nginx-common/etc/nginx/nginx.conf",
        COMBINE,
        "the file of directives after an include",
    ),
    (
        "nginx-proxy-manager/etc/nginx/nginx.conf",
        COMBINE,
        "the file of directives after an include",
    ),
    (
        "nginx-proxy-manager/etc/nginx/conf.d/default.conf",
        COMBINE,
        "the file of directives after an include",
    ),
];

const LIMIT: Duration = Duration::from_secs(60);

fn known(file: &str, mode: &str) -> Option<&'static str> {
    KNOWN_DIFFERENCES
        .iter()
        .find(|(f, modes, _)| *f == file && modes.contains(&mode))
        .map(|(_, _, why)| *why)
}

/// The directory nginx's prefix was (HOW-JUDGED.md), relative to the copy
/// of the file's source.
fn config_root(source_dir: &Path, entry: &Entry) -> PathBuf {
    match entry.source.as_str() {
        "nginx-conf" => return PathBuf::new(),
        "debian-nginx-common" | "nginx-proxy-manager" => return PathBuf::from("etc/nginx"),
        _ => {}
    }
    let file_dir = Path::new(&entry.rel)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut dir = file_dir.clone();
    loop {
        if source_dir.join(&dir).join("nginx.conf").is_file() {
            return dir;
        }
        if !dir.pop() {
            return file_dir;
        }
    }
}

fn wrapper(kind: &str, file: &str) -> String {
    match kind {
        "main" => format!("events {{}}\ninclude {file};\n"),
        "http" => format!("events {{}}\nhttp {{\n    include {file};\n}}\n"),
        "server" => format!(
            "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        include {file};\n    }}\n}}\n"
        ),
        "location" => format!(
            "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        location / {{\n            include {file};\n        }}\n    }}\n}}\n"
        ),
        "stream" => format!("events {{}}\nstream {{\n    include {file};\n}}\n"),
        _ => String::new(),
    }
}

/// The file to give both tools (relative to the source's copy), writing
/// the wrapper when the entry needs one.
fn target(source_dir: &Path, entry: &Entry) -> std::io::Result<PathBuf> {
    if entry.wrap == "direct" {
        return Ok(PathBuf::from(&entry.rel));
    }
    let root = config_root(source_dir, entry);
    let inside = Path::new(&entry.rel)
        .strip_prefix(&root)
        .unwrap_or(Path::new(&entry.rel));
    let name = root.join(format!("__wrap_{}__.conf", entry.wrap));
    fs::write(
        source_dir.join(&name),
        wrapper(&entry.wrap, &inside.display().to_string()),
    )?;
    Ok(name)
}

fn json_of(program: &Path, args: &[&str], file: &Path, cwd: &Path) -> Result<Value, String> {
    let run = run_bounded(
        Command::new(program)
            .arg("parse")
            .args(args)
            .arg(file)
            .current_dir(cwd),
        LIMIT,
    )?;
    serde_json::from_slice(&run.stdout).map_err(|e| {
        format!(
            "{} printed no JSON ({e}): {}",
            program.display(),
            String::from_utf8_lossy(&run.stderr)
        )
    })
}

/// The outcome of one file in one mode.
enum Verdict {
    Agree,
    Listed,
    Failure(String),
}

/// An entry's index and its verdicts, one per mode.
type Outcome = (usize, Result<Vec<Verdict>, String>);

/// Copies the entry's source to `dir`, then compares the two tools on it in
/// every mode.
fn compare(
    crossplane: &Path,
    corpus_dir: &Path,
    dir: &Path,
    entry: &Entry,
) -> Result<Vec<Verdict>, String> {
    let source_dir = dir.join(&entry.source);
    copy_tree(&corpus_dir.join(&entry.source), &source_dir).map_err(|e| e.to_string())?;
    let file = target(&source_dir, entry).map_err(|e| e.to_string())?;
    let upgate = Path::new(env!("CARGO_BIN_EXE_upgate"));
    let name = entry.name();
    let mut verdicts = Vec::new();
    for (mode, args) in MODES {
        let want = json_of(crossplane, args, &file, &source_dir)?;
        let got = json_of(upgate, args, &file, &source_dir)?;
        verdicts.push(match (want == got, known(&name, mode)) {
            (true, None) => Verdict::Agree,
            (false, Some(_)) => Verdict::Listed,
            (true, Some(why)) => Verdict::Failure(format!(
                "{name} [{mode}]: listed as a known difference ({why}) but the two agree"
            )),
            (false, None) => Verdict::Failure(format!(
                "{name} [{mode}] ({} {})\n  crossplane: {want}\n  upgate:     {got}",
                entry.wrap,
                file.display()
            )),
        });
    }
    Ok(verdicts)
}

#[test]
fn upgate_parse_agrees_with_crossplane() -> Result<(), String> {
    let crossplane = find_on_path("crossplane").unwrap_or_else(|| {
        panic!("crossplane is not on PATH: install crossplane (pip install crossplane)")
    });
    let version = run_bounded(Command::new(&crossplane).arg("--version"), LIMIT)?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    assert_eq!(
        version, "crossplane 0.5.8",
        "the known differences were recorded with crossplane 0.5.8 (pip install crossplane==0.5.8)"
    );
    let (corpus_dir, entries) = corpus();
    let tmp = TempDir::new("crossplane").map_err(|e| e.to_string())?;

    // crossplane starts a Python each time: spread the files over threads.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = entries.get(i) else { break };
                    let dir = tmp.path().join(i.to_string());
                    let result = compare(&crossplane, &corpus_dir, &dir, entry);
                    if let Ok(mut results) = results.lock() {
                        results.push((i, result));
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().map_err(|e| e.to_string())?;
    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.len(), entries.len(), "a worker thread died");

    let mut failures = Vec::new();
    let mut agree = vec![0usize; MODES.len()];
    let mut listed = vec![0usize; MODES.len()];
    for (_, result) in results {
        for (m, verdict) in result?.into_iter().enumerate() {
            match verdict {
                Verdict::Agree => agree[m] += 1,
                Verdict::Listed => listed[m] += 1,
                Verdict::Failure(text) => failures.push(text),
            }
        }
    }
    println!("crossplane agreement: {}/{}", agree[0], entries.len());
    for (m, (mode, _)) in MODES.iter().enumerate() {
        println!(
            "  {mode}: {} agree, {} known differences, of {}",
            agree[m],
            listed[m],
            entries.len()
        );
    }
    for failure in &failures {
        println!("{failure}");
    }
    assert!(
        failures.is_empty(),
        "{} disagreements with crossplane (listed above)",
        failures.len()
    );
    Ok(())
}

#[test]
fn parse_exit_status_and_nginx_style_errors() -> Result<(), String> {
    let tmp = TempDir::new("parse-cli").map_err(|e| e.to_string())?;
    let ok = tmp.path().join("ok.conf");
    let bad = tmp.path().join("bad.conf");
    fs::write(&ok, "events {}\n").map_err(|e| e.to_string())?;
    fs::write(&bad, "include missing.conf;\n").map_err(|e| e.to_string())?;
    let upgate = Path::new(env!("CARGO_BIN_EXE_upgate"));

    let run = run_bounded(Command::new(upgate).arg("parse").arg(&ok), LIMIT)?;
    assert!(run.success && run.stderr.is_empty());

    let run = run_bounded(Command::new(upgate).arg("parse").arg(&bad), LIMIT)?;
    assert!(!run.success);
    let json: Value = serde_json::from_slice(&run.stdout).map_err(|e| e.to_string())?;
    assert_eq!(json["status"], "failed");
    assert_eq!(
        String::from_utf8_lossy(&run.stderr).trim(),
        format!(
            "upgate: [emerg] open() \"{}\" failed (2: No such file or directory) in {}:1",
            tmp.path().join("missing.conf").display(),
            bad.display()
        )
    );
    Ok(())
}
