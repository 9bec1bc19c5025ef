//! `cargo xtask test`: everything CI runs, on a fresh machine. It installs
//! what the tests compare against when it is missing — Debian's nginx (the
//! reference for the differential tests), perl's IO::Socket::SSL,
//! Net::SSLeay and Protocol::WebSocket (nginx's own test suite), the
//! openssl command, sslscan (tests/tls_scan.rs), chromium and its driver
//! (tests/tls_browser.rs), tmux (tests/metrics.rs runs `upgate top` in it),
//! the Python packages crossplane, selenium, pre-commit (tests/pre_commit.rs)
//! and prometheus-client (tests/metrics.rs) into a virtual environment under
//! `target/`, and node's `ws` (tests/websocket_pragmas.rs) into
//! `target/node` — then runs `cargo fmt --check`,
//! clippy, `cargo test --workspace`, builds the criterion benchmarks
//! (`cargo build --benches`) and runs the files of nginx's test suite listed
//! in `testdata/nginx-tests/passing` against the debug binary.
//!
//! A tool that cannot be installed (no root, no apt) is an error with a
//! message saying what to install: the tests never skip a reference.
//!
//! Options: `--no-install` (use what is there), `--skip-nginx-tests`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn run(args: &[String]) -> Result<(), String> {
    let mut install = true;
    let mut nginx_tests = true;
    for a in args {
        match a.as_str() {
            "--no-install" => install = false,
            "--skip-nginx-tests" => nginx_tests = false,
            other => return Err(format!("test: unknown option {other:?}")),
        }
    }
    let root = workspace_root();
    let shared = shared_dir(&root);
    if install {
        install_debian_packages()?;
    }
    let venv = root.join("target/test-venv");
    if install {
        install_python_packages(&venv)?;
        install_node_packages(&root.join("target/node"))?;
    }
    let path = format!(
        "{}:{}:/usr/sbin",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // Each step says how long it took: CI's budget is spent by the slowest.
    let cargo = |args: &[&str]| -> Result<(), String> {
        eprintln!("xtask test: cargo {}", args.join(" "));
        let started = std::time::Instant::now();
        let result = status(
            crate::cargo::command()
                .args(args)
                .current_dir(&root)
                .env("PATH", &path)
                .env("UPGATE_SHARED", &shared),
        );
        eprintln!(
            "xtask test: cargo {} took {:.0} s",
            args.first().copied().unwrap_or_default(),
            started.elapsed().as_secs_f64()
        );
        result
    };
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])?;
    // The criterion benchmarks are not run here (timings on a shared CI
    // machine prove nothing), but one that stops building fails CI. Built
    // in the dev profile, on the artifacts the tests left: in the release
    // profile this step alone took seven of CI's minutes.
    cargo(&["build", "--workspace", "--benches"])?;
    if nginx_tests {
        // The binary `cargo test` built (debug: overflow checks on, so it is
        // the stricter of the two); a release build took three more minutes
        // and proves nothing the same code in debug does not.
        cargo(&["build", "-p", "upgate"])?;
        let started = std::time::Instant::now();
        run_nginx_tests(&root, &shared, &path)?;
        eprintln!(
            "xtask test: nginx's own tests took {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `$UPGATE_SHARED`, else `../shared` beside the checkout.
fn shared_dir(root: &Path) -> PathBuf {
    match std::env::var_os("UPGATE_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("../shared"),
    }
}

fn status(command: &mut Command) -> Result<(), String> {
    match command.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{command:?} failed ({s})")),
        Err(e) => Err(format!("cannot run {command:?}: {e}")),
    }
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What the tests need from Debian, each with the check that says it is
/// there.
fn install_debian_packages() -> Result<(), String> {
    let nginx_present = Path::new("/usr/sbin/nginx").is_file()
        || succeeds(Command::new("sh").args(["-c", "command -v nginx"]));
    let perl_has =
        |module: &str| succeeds(Command::new("perl").args([&format!("-M{module}"), "-e1"]));
    let mut wanted: Vec<&str> = Vec::new();
    if !nginx_present {
        wanted.push("nginx");
    }
    if !perl_has("IO::Socket::SSL") {
        wanted.push("libio-socket-ssl-perl");
    }
    if !perl_has("Net::SSLeay") {
        wanted.push("libnet-ssleay-perl");
    }
    if !perl_has("Protocol::WebSocket") {
        wanted.push("libprotocol-websocket-perl");
    }
    if !succeeds(Command::new("openssl").arg("version")) {
        wanted.push("openssl");
    }
    // tests/pre_commit.rs: pre-commit runs hooks from git repositories.
    if !succeeds(Command::new("git").arg("--version")) {
        wanted.push("git");
    }
    // tests/websocket_pragmas.rs: node's `ws` as a client (npm installs it).
    if !succeeds(Command::new("npm").arg("--version")) {
        wanted.push("npm");
    }
    // tests/metrics.rs: `upgate top` in a terminal, read back with capture-pane.
    if !Path::new("/usr/bin/tmux").is_file() {
        wanted.push("tmux");
    }
    if !Path::new("/usr/bin/sslscan").is_file() {
        wanted.push("sslscan");
    }
    if !Path::new("/usr/bin/chromium").is_file() {
        wanted.push("chromium");
    }
    if !Path::new("/usr/bin/chromedriver").is_file() {
        wanted.push("chromium-driver");
    }
    if wanted.is_empty() {
        return Ok(());
    }
    eprintln!("xtask test: installing {}", wanted.join(" "));
    let root = succeeds(Command::new("sh").args(["-c", "[ \"$(id -u)\" = 0 ]"]));
    if !root || !succeeds(Command::new("sh").args(["-c", "command -v apt-get"])) {
        return Err(format!(
            "the tests need {} (Debian packages); install them as root with apt-get, or run \
             `cargo xtask test --no-install` to use what is there",
            wanted.join(" ")
        ));
    }
    status(Command::new("apt-get").args(["update", "-qq"]))?;
    status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&wanted)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    // Debian starts the service on install; the tests run their own
    // instances on free ports.
    let _ = succeeds(Command::new("systemctl").args(["stop", "nginx"]))
        || succeeds(Command::new("service").args(["nginx", "stop"]));
    Ok(())
}

/// The Python packages crossplane (the JSON the parse tests compare with),
/// selenium (tests/tls_browser.rs drives chromium with it), pre-commit
/// (tests/pre_commit.rs runs the repository's hooks with it) and
/// prometheus-client (tests/metrics.rs parses `/metrics` with it) in `venv`.
fn install_python_packages(venv: &Path) -> Result<(), String> {
    let python = venv.join("bin/python3");
    let has =
        |module: &str| succeeds(Command::new(&python).args(["-c", &format!("import {module}")]));
    if venv.join("bin/crossplane").is_file()
        && has("selenium")
        && has("prometheus_client")
        && venv.join("bin/pre-commit").is_file()
    {
        return Ok(());
    }
    if !python.is_file() {
        status(Command::new("python3").arg("-m").arg("venv").arg(venv)).map_err(|e| {
            format!(
                "{e}: crossplane, selenium and pre-commit need Python 3 with venv (Debian: apt-get install python3-venv)"
            )
        })?;
    }
    eprintln!(
        "xtask test: installing crossplane, selenium, pre-commit and prometheus-client into {}",
        venv.display()
    );
    status(Command::new(venv.join("bin/pip")).args([
        "install",
        "-q",
        "crossplane",
        "selenium",
        "pre-commit",
        "prometheus-client",
    ]))
}

/// node's `ws` package (tests/websocket_pragmas.rs runs a client with it)
/// under `dir/node_modules`.
fn install_node_packages(dir: &Path) -> Result<(), String> {
    if dir.join("node_modules/ws/package.json").is_file() {
        return Ok(());
    }
    eprintln!("xtask test: installing ws (node) into {}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    status(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .arg("ws@8"),
    )
}

/// The files of nginx's test suite that upgate passes, against the debug
/// binary: every one must pass (the list may only grow).
fn run_nginx_tests(root: &Path, shared: &Path, path: &str) -> Result<(), String> {
    let list = root.join("testdata/nginx-tests/passing");
    let script = shared.join("tools/nginx-tests.sh");
    let binary = root.join("target/debug/upgate");
    eprintln!("xtask test: nginx's own tests ({})", list.display());
    let out = Command::new("bash")
        .arg(&script)
        .arg("-k")
        .arg(&binary)
        .arg(format!("@{}", list.display()))
        .env("PATH", path)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let last = text.lines().rev().find(|l| l.contains(" passed, "));
    match last {
        Some(l) if l.contains(" 0 failed") && out.status.success() => Ok(()),
        Some(l) => Err(format!("nginx's tests: {l}")),
        None => Err("nginx's tests printed no summary".into()),
    }
}
