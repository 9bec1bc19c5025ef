//! Helpers shared by the corpus tests of `upgate parse` and `upgate fmt`:
//! where the shared corpus is, which files it holds (expected.json), a
//! self-removing temp directory, and subprocesses that cannot hang.

#![allow(dead_code)]

pub mod process;
pub mod tunnels;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// ../shared, or $UPGATE_SHARED.
pub fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("UPGATE_SHARED") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// One file of the corpus: `<source>/<rel>` and how nginx was given it
/// (`direct`, or the block it was included in; HOW-JUDGED.md).
#[derive(Debug, Clone)]
pub struct Entry {
    pub source: String,
    pub rel: String,
    pub wrap: String,
}

impl Entry {
    pub fn name(&self) -> String {
        format!("{}/{}", self.source, self.rel)
    }
}

/// Every file listed in corpus/expected.json; panics when the corpus is
/// missing, so that no test passes by skipping it.
pub fn corpus() -> (PathBuf, Vec<Entry>) {
    let dir = shared_dir().join("corpus");
    let text = fs::read_to_string(dir.join("expected.json")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}/expected.json: {e} (set UPGATE_SHARED to the shared directory)",
            dir.display()
        )
    });
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}/expected.json: {e}", dir.display()));
    let entries: Vec<Entry> = json
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            source: e["source"].as_str().unwrap_or_default().to_string(),
            rel: e["rel"].as_str().unwrap_or_default().to_string(),
            wrap: e["base"][0].as_str().unwrap_or("direct").to_string(),
        })
        .collect();
    assert!(
        !entries.is_empty(),
        "{}/expected.json lists no files",
        dir.display()
    );
    (dir, entries)
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("upgate-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)?;
        Ok(TempDir(path))
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

pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// What a bounded run produced.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `command` with no stdin, killing it after `limit`.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Result<Run, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{command:?} did not finish in {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for {command:?}: {e}")),
        }
    };
    Ok(Run {
        success: status.success(),
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// The first `name` on $PATH that is a file.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A Python 3 that can import `module`: target/test-venv's first (where
/// `cargo xtask test` installs selenium and crossplane), then $PATH's.
/// Panics (never skips) when neither can.
pub fn python_with(module: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python3");
    let candidates = [Some(venv), find_on_path("python3")];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!(
        "no python3 with {module}: run `cargo xtask test` (installs it into target/test-venv) \
         or pip install {module}"
    );
}
