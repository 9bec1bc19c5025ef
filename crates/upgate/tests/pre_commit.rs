//! The pre-commit hooks of .pre-commit-hooks.yaml, run by the real
//! pre-commit (PyPI pre-commit, which `cargo xtask test` installs into
//! target/test-venv) with `pre-commit try-repo`: `upgate-lint` passes clean
//! files and fails on a finding, showing it; `upgate-check` fails on a file
//! nginx -t rejects. Both take several files in one run, and a conf.d
//! snippet among them.
//!
//! The hook repository is a temp git repository holding the working tree's
//! .pre-commit-hooks.yaml and tools/pre-commit/upgate-hook, not the
//! checkout itself: try-repo on a dirty checkout commits only the tracked
//! files' changes (an uncommitted new hook would be missed), and its clone
//! of the whole history would cost more than the hooks. `UPGATE_BIN` points
//! the wrapper at the binary cargo built for these tests; the wrapper's own
//! build (`cargo build --release`) is checked with a stand-in cargo.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Run, TempDir, find_on_path, run_bounded};

/// pre-commit starts a Python and runs git a few times; far less than this.
const LIMIT: Duration = Duration::from_secs(180);

/// A WebSocket location done right, as a whole nginx.conf.
const GOOD_MAIN: &str = "events {}
http {
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
    server {
        listen 127.0.0.1:8080;
        location /socket/ws {
            proxy_pass http://127.0.0.1:9000;
            proxy_http_version 1.1;
            proxy_read_timeout 1h;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Upgrade $http_upgrade;
        }
    }
}
";

/// A conf.d file: http-level, no events or http block of its own.
const GOOD_SNIPPET: &str = "server {
    listen 127.0.0.1:8081;
    location / {
        return 204;
    }
}
";

/// GOOD_MAIN without its Upgrade line: the backend answers 426.
fn bad_ws() -> String {
    GOOD_MAIN.replace("            proxy_set_header Upgrade $http_upgrade;\n", "")
}

/// nginx -t: unknown directive "proxy_frobnicate".
const REJECTED: &str = "events {}
http {
    server {
        listen 127.0.0.1:8082;
        proxy_frobnicate on;
    }
}
";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// target/test-venv's pre-commit (what `cargo xtask test` installs), else
/// $PATH's. None is a failure, not a skip.
fn pre_commit() -> PathBuf {
    let venv = workspace().join("target/test-venv/bin/pre-commit");
    if venv.is_file() {
        return venv;
    }
    find_on_path("pre-commit").unwrap_or_else(|| {
        panic!(
            "pre-commit is not installed: run `cargo xtask test` (installs it into \
             target/test-venv), or pip install pre-commit"
        )
    })
}

/// `git ARGS` in `dir`, with an identity of its own: a temp repository
/// must not depend on the user's git config.
fn git(dir: &Path, args: &[&str]) {
    let run = run_bounded(
        Command::new("git")
            .args([
                "-c",
                "user.name=upgate tests",
                "-c",
                "user.email=tests@upgate.invalid",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir),
        LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        run.success,
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&run.stderr)
    );
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A git repository holding the hooks as they are in the working tree.
fn hook_repo(dir: &Path) {
    let from = workspace();
    for file in [".pre-commit-hooks.yaml", "tools/pre-commit/upgate-hook"] {
        let to = dir.join(file);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        // fs::copy keeps the mode: the wrapper stays executable.
        fs::copy(from.join(file), &to).unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "hooks"]);
}

/// A git repository of nginx configurations, committed, as a user's is.
fn config_repo(dir: &Path) {
    write(&dir.join("nginx.conf"), GOOD_MAIN);
    write(&dir.join("conf.d/app.conf"), GOOD_SNIPPET);
    write(&dir.join("bad/ws.conf"), &bad_ws());
    write(&dir.join("bad/rejected.conf"), REJECTED);
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "configs"]);
}

struct Setup {
    _tmp: TempDir,
    hooks: PathBuf,
    configs: PathBuf,
    home: PathBuf,
}

fn setup(name: &str) -> Setup {
    let tmp = TempDir::new(&format!("pre-commit-{name}")).unwrap_or_else(|e| panic!("{e}"));
    let hooks = tmp.path().join("hooks");
    let configs = tmp.path().join("configs");
    let home = tmp.path().join("home");
    for dir in [&hooks, &configs, &home] {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    }
    hook_repo(&hooks);
    config_repo(&configs);
    Setup {
        _tmp: tmp,
        hooks,
        configs,
        home,
    }
}

/// `pre-commit try-repo HOOKS HOOK --files FILES` in the config repository.
fn try_repo(setup: &Setup, hook: &str, files: &[&str]) -> (Run, String) {
    let mut command = Command::new(pre_commit());
    command
        .arg("try-repo")
        .arg(&setup.hooks)
        .arg(hook)
        .args(["--color", "never", "--verbose", "--files"])
        .args(files)
        .current_dir(&setup.configs)
        // pre-commit's cache and git's config: nothing of the user's.
        .env("PRE_COMMIT_HOME", setup.home.join("pre-commit"))
        .env("HOME", &setup.home)
        .env("XDG_CACHE_HOME", setup.home.join("cache"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1")
        .env("UPGATE_BIN", env!("CARGO_BIN_EXE_upgate"));
    let run = run_bounded(&mut command, LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (run, text)
}

#[test]
fn lint_hook_passes_clean_files_and_fails_on_findings() {
    let setup = setup("lint");
    let (run, out) = try_repo(&setup, "upgate-lint", &["nginx.conf", "conf.d/app.conf"]);
    assert!(run.success, "clean files failed the hook:\n{out}");
    assert!(
        out.contains("upgate lint") && out.contains("Passed"),
        "{out}"
    );
    assert!(
        out.contains("read as http-level snippet"),
        "conf.d/app.conf was not read as a snippet:\n{out}"
    );

    let (run, out) = try_repo(&setup, "upgate-lint", &["nginx.conf", "bad/ws.conf"]);
    assert!(!run.success, "a finding passed the hook:\n{out}");
    assert!(out.contains("Failed"), "{out}");
    assert!(
        out.contains("websocket-missing-upgrade-header") && out.contains("bad/ws.conf"),
        "the finding is not shown:\n{out}"
    );
    // Lint's exit code, as pre-commit reports it: 2 is an error finding.
    assert!(out.contains("exit code: 2"), "{out}");
}

#[test]
fn check_hook_runs_dash_t_on_each_file() {
    let setup = setup("check");
    let (run, out) = try_repo(&setup, "upgate-check", &["nginx.conf", "conf.d/app.conf"]);
    assert!(
        run.success,
        "files nginx -t accepts failed the hook:\n{out}"
    );
    assert!(out.contains("upgate -t") && out.contains("Passed"), "{out}");
    // Both files were checked, each on its own.
    assert_eq!(out.matches("test is successful").count(), 2, "{out}");

    let (run, out) = try_repo(
        &setup,
        "upgate-check",
        &["bad/rejected.conf", "nginx.conf", "bad/ws.conf"],
    );
    assert!(
        !run.success,
        "a file nginx -t rejects passed the hook:\n{out}"
    );
    assert!(
        out.contains("unknown directive \"proxy_frobnicate\"") && out.contains("rejected.conf"),
        "nginx's message is not shown:\n{out}"
    );
    // A failure does not stop the files after it from being checked.
    assert_eq!(out.matches("test is successful").count(), 2, "{out}");
}

/// The hook's arguments (pre-commit puts them before the file names) reach
/// every `-t` run, quotes and all.
#[test]
fn check_hook_passes_its_options_to_each_run() {
    let tmp = TempDir::new("pre-commit-args").unwrap_or_else(|e| panic!("{e}"));
    let snippet = tmp.path().join("it's.conf");
    write(&snippet, "location / { return 204; }\n");
    let other = tmp.path().join("-dash.conf");
    write(&other, "location /x { return 204; }\n");
    let run = run_bounded(
        Command::new(workspace().join("tools/pre-commit/upgate-hook"))
            .args([
                "check",
                "-q",
                "--context",
                "server",
                "it's.conf",
                "-dash.conf",
            ])
            .current_dir(tmp.path())
            .env("UPGATE_BIN", env!("CARGO_BIN_EXE_upgate")),
        LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.success, "{err}");
    // -q reached upgate: no "syntax is ok" lines.
    assert!(!err.contains("syntax is ok"), "{err}");
}

/// Without UPGATE_BIN the wrapper builds the package with cargo, from the
/// hook's checkout, into $CARGO_TARGET_DIR (a relative one being the
/// caller's), then runs what it built. A stand-in cargo records how it was
/// called and links the real binary where the build would put it.
#[test]
fn wrapper_builds_with_cargo_when_no_binary_is_given() {
    let tmp = TempDir::new("pre-commit-build").unwrap_or_else(|e| panic!("{e}"));
    let hooks = tmp.path().join("hooks");
    fs::create_dir_all(&hooks).unwrap_or_else(|e| panic!("{e}"));
    hook_repo(&hooks);
    let bin = tmp.path().join("bin");
    let log = tmp.path().join("cargo.log");
    write(
        &bin.join("cargo"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$PWD\" \"$CARGO_TARGET_DIR\" \"$*\" > '{}'\n\
             mkdir -p \"$CARGO_TARGET_DIR/release\"\n\
             ln -sf '{}' \"$CARGO_TARGET_DIR/release/upgate\"\n",
            log.display(),
            env!("CARGO_BIN_EXE_upgate")
        ),
    );
    let mut perms = fs::metadata(bin.join("cargo"))
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs::set_permissions(bin.join("cargo"), perms).unwrap_or_else(|e| panic!("{e}"));
    let work = tmp.path().join("work");
    write(&work.join("nginx.conf"), GOOD_MAIN);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = run_bounded(
        Command::new(hooks.join("tools/pre-commit/upgate-hook"))
            .args(["lint", "nginx.conf"])
            .current_dir(&work)
            .env("PATH", path)
            .env("CARGO_TARGET_DIR", "tgt")
            .env("NO_COLOR", "1")
            .env_remove("UPGATE_BIN"),
        LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.success, "{err}");
    let logged = fs::read_to_string(&log).unwrap_or_else(|e| panic!("cargo was not run: {e}"));
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 3, "{logged}");
    assert_eq!(
        canonical(Path::new(lines[0])),
        canonical(&hooks),
        "cargo's cwd"
    );
    assert_eq!(
        canonical(Path::new(lines[1])),
        canonical(&work.join("tgt")),
        "the target dir"
    );
    assert_eq!(lines[2], "build --release --locked -q -p upgate");
    assert!(work.join("tgt/release/upgate").exists());
}
