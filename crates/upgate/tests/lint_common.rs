//! Helpers for the `upgate lint` tests (included with `#[path]` by
//! lint.rs, lint_sarif.rs and lint_corpus.rs): where testdata and ../shared
//! are, a self-removing temp directory, running the binary, reading its
//! JSON, and running the real nginx -t.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lint")
}

/// ../shared, or $UPGATE_SHARED.
pub fn shared() -> PathBuf {
    match std::env::var("UPGATE_SHARED") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// The seed configs of ../shared/seed-configs, sorted.
pub fn seeds() -> Vec<PathBuf> {
    let dir = shared().join("seed-configs");
    let mut seeds: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set UPGATE_SHARED)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 6, "seed configs missing");
    seeds
}

/// True when expected files should be rewritten from the output.
pub fn bless() -> bool {
    std::env::var_os("UPGATE_BLESS").is_some()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "upgate-lint-test-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
}

pub fn upgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upgate"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run upgate: {e}"))
}

/// `upgate lint --format json ARGS`: exit code and findings.
pub fn lint_json(args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["lint", "--format", "json"];
    all.extend_from_slice(args);
    let out = upgate(&all);
    let code = out.status.code().unwrap_or(-1);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "upgate lint {args:?}: not JSON ({e}); exit {code}; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = json["findings"].as_array().cloned().unwrap_or_default();
    (code, findings)
}

/// The exit code `upgate lint` gives for these findings: 2 with an error
/// among them, 1 with only warnings or infos, 0 for none.
pub fn expected_code(findings: &[Value]) -> i32 {
    if findings.iter().any(|f| f["severity"] == "error") {
        2
    } else {
        i32::from(!findings.is_empty())
    }
}

/// One line per finding: `rule severity file line`, the file relative to `base`.
pub fn summary(findings: &[Value], base: &Path) -> String {
    findings
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap_or_default();
            let rel = Path::new(file)
                .strip_prefix(base)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| file.to_string());
            format!(
                "{} {} {} {}\n",
                f["rule"].as_str().unwrap_or_default(),
                f["severity"].as_str().unwrap_or_default(),
                rel,
                f["line"]
            )
        })
        .collect()
}

/// Compares with an expected file, or writes it when blessing.
pub fn expect_file(path: &Path, actual: &str) {
    if bless() {
        fs::write(path, actual).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPGATE_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{} differs", path.display());
}

pub const NGINX: &str = "/usr/sbin/nginx";

/// Runs the real `nginx -t` on a file; fails (not skips) without nginx.
pub fn nginx_t(conf: &Path) -> Result<(), String> {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: the lint --fix tests check the fixed files with the real nginx -t (apt-get install nginx)"
    );
    let prefix = TempDir::new("nginx-prefix");
    fs::create_dir_all(prefix.path().join("logs")).unwrap_or_else(|e| panic!("{e}"));
    let pid = format!("pid {}/nginx.pid;", prefix.path().display());
    let out = Command::new(NGINX)
        .arg("-t")
        .arg("-q")
        .arg("-p")
        .arg(prefix.path())
        .args(["-e", "stderr", "-g", &pid, "-c"])
        .arg(conf)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {NGINX}: {e}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `upgate -t -q -c FILE`.
pub fn upgate_t(conf: &Path) -> Result<(), String> {
    let out = upgate(&["-t", "-q", "-c", &conf.display().to_string()]);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
