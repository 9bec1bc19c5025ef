//! `--nginx-version`: `upgate -t` and `upgate lint` judge a configuration by
//! one release's directive table. `http2 on;` appeared in nginx 1.25.1, so
//! 1.22 and 1.24 call it unknown and 1.26 and 1.28 accept it; without the
//! flag, what any release accepts.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Run, TempDir, run_bounded};

const LIMIT: Duration = Duration::from_secs(30);

/// A whole nginx.conf whose only server says `http2 on;` (line 5).
fn http2_conf(dir: &TempDir) -> PathBuf {
    let conf = dir.path().join("nginx.conf");
    let text =
        "events {}\nhttp {\n    server {\n        listen 8080;\n        http2 on;\n    }\n}\n";
    if let Err(e) = std::fs::write(&conf, text) {
        panic!("cannot write {}: {e}", conf.display());
    }
    conf
}

fn upgate(args: &[&str], prefix: &Path) -> (Run, String) {
    let run = match run_bounded(
        Command::new(env!("CARGO_BIN_EXE_upgate"))
            .args(args)
            .current_dir(prefix),
        LIMIT,
    ) {
        Ok(run) => run,
        Err(e) => panic!("{e}"),
    };
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    (run, stderr)
}

#[test]
fn test_judges_by_the_release_table() {
    let dir = match TempDir::new("nginx-version-t") {
        Ok(dir) => dir,
        Err(e) => panic!("temp dir: {e}"),
    };
    let conf = http2_conf(&dir);
    let file = conf.display().to_string();
    let unknown = format!("[emerg] unknown directive \"http2\" in {file}:5");
    for version in ["1.22", "--nginx-version=1.24.0"] {
        let args: Vec<&str> = if version.starts_with("--") {
            vec!["-t", version, "-c", &file]
        } else {
            vec!["-t", "--nginx-version", version, "-c", &file]
        };
        let (run, stderr) = upgate(&args, dir.path());
        assert!(!run.success, "{args:?}: {stderr}");
        assert!(stderr.contains(&unknown), "{args:?}: {stderr}");
    }
    for args in [
        vec!["-t", "--nginx-version", "1.26", "-c", &file],
        vec!["-t", "--nginx-version=1.28.1", "-c", &file],
        vec!["-t", "-c", &file],
    ] {
        let (run, stderr) = upgate(&args, dir.path());
        assert!(run.success, "{args:?}: {stderr}");
        assert!(stderr.contains("test is successful"), "{args:?}: {stderr}");
    }
}

#[test]
fn test_rejects_versions_without_a_table() {
    let dir = match TempDir::new("nginx-version-bad") {
        Ok(dir) => dir,
        Err(e) => panic!("temp dir: {e}"),
    };
    let conf = http2_conf(&dir);
    let file = conf.display().to_string();
    for bad in ["1.25.1", "1.30", "latest"] {
        let (run, stderr) = upgate(&["-t", "--nginx-version", bad, "-c", &file], dir.path());
        assert_eq!(run.code, Some(1), "{bad}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "invalid value \"{bad}\" for \"--nginx-version\": 1.22, 1.24, 1.26 or 1.28"
            )),
            "{bad}: {stderr}"
        );
    }
    let (run, stderr) = upgate(&["-t", "-c", &file, "--nginx-version"], dir.path());
    assert_eq!(run.code, Some(1), "{stderr}");
    assert!(
        stderr.contains("option \"--nginx-version\" requires a value"),
        "{stderr}"
    );
}

#[test]
fn lint_loads_with_the_release_table() {
    let dir = match TempDir::new("nginx-version-lint") {
        Ok(dir) => dir,
        Err(e) => panic!("temp dir: {e}"),
    };
    let conf = http2_conf(&dir);
    let file = conf.display().to_string();
    // nginx 1.24 would refuse it: lint's nginx-config-error, an error (exit 2).
    let (run, stderr) = upgate(&["lint", "--nginx-version", "1.24", &file], dir.path());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.code, Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("nginx-config-error") && stdout.contains("unknown directive \"http2\""),
        "{stdout}"
    );
    // 1.26, 1.30 (1.28's table) and no flag read it: nothing to report.
    for args in [
        vec!["lint", "--nginx-version", "1.26.3", &file],
        vec!["lint", "--nginx-version", "1.30", &file],
        vec!["lint", &file],
    ] {
        let (run, stderr) = upgate(&args, dir.path());
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert_eq!(run.code, Some(0), "{args:?}: {stdout}{stderr}");
    }
    // A mainline series in between has no table.
    let (run, stderr) = upgate(&["lint", "--nginx-version", "1.25", &file], dir.path());
    assert_eq!(run.code, Some(2), "{stderr}");
    assert!(
        stderr.contains("no directive table for nginx 1.25.0"),
        "{stderr}"
    );
}
