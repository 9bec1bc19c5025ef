//! A real browser over TLS: Debian's headless chromium, driven by selenium
//! (tests/browser/wss_title.py), loads `https://a.test:PORT/` from upgate
//! (a static index.html under `root`) whose script opens
//! `wss://a.test:PORT/ws`, sends a message and writes the echo into the
//! page title. Certificate checks stay on: chromium pins a.test's key with
//! `--ignore-certificate-errors-spki-list` (never
//! `--ignore-certificate-errors`).
//!
//! The same page served by Debian's nginx proves the harness; pinning
//! another key gets chromium's "Privacy error" page, so the pin is what
//! lets it in. Needs
//! chromium, chromium-driver (apt) and selenium (pip, in
//! `target/test-venv`, as `cargo xtask test` installs it); any of them
//! missing fails the test. The wait for the title is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod tls_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tls_support::{Dir, Pki, Program, Served, free_port, main_conf};
use tokio::net::TcpListener;
use upgate_examples::websocket::{self, Mode};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The whole browser run: start, load, the echo, quit.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);
const MESSAGE: &str = "hello from chromium over wss";

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>waiting</title></head>
<body><script>
const ws = new WebSocket("wss://" + location.host + "/ws");
ws.onopen = () => ws.send("hello from chromium over wss");
ws.onmessage = (e) => { document.title = "echo: " + e.data; ws.close(); };
ws.onerror = () => { document.title = "error: websocket failed"; };
</script></body></html>
"#;

fn require_browser() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).is_file(),
            "{path} is missing: apt-get install {package}"
        );
    }
}

/// Which key chromium pins.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pin {
    /// a.test's, the key the server uses.
    ServerKey,
    /// b.test's: the server's certificate must then be refused.
    OtherKey,
}

/// Serves the page and /ws with `program`, loads it in chromium; the title
/// it ended with.
async fn browser_title(program: Program, pin: Pin) -> String {
    require_browser();
    let python = common::python_with("selenium");
    let dir = Dir::new("tls-browser");
    let pki = Pki::new(&dir);
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    dir.write("www/index.html", PAGE);
    let pinned = if pin == Pin::ServerKey {
        &pki.a
    } else {
        &pki.b
    };
    dir.write("pin.spki.der", pinned.spki_der());

    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws = l.local_addr().unwrap().port();
    tokio::spawn(websocket::serve(l, Mode::Echo));
    let port = free_port();
    let conf = main_conf(
        &dir,
        &format!(
            "map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
             server {{\n listen 127.0.0.1:{port} ssl;\n server_name a.test;\n\
             ssl_protocols TLSv1.2 TLSv1.3;\n\
             ssl_certificate {crt};\n ssl_certificate_key {key};\n\
             location /ws {{ proxy_pass http://127.0.0.1:{ws};\n proxy_http_version 1.1;\n\
             proxy_set_header Upgrade $http_upgrade;\n\
             proxy_set_header Connection $connection_upgrade;\n }}\n\
             location / {{ root {www};\n index index.html;\n }}\n}}\n",
            crt = dir.file("a.crt"),
            key = dir.file("a.key"),
            www = dir.file("www"),
        ),
    );
    let _server = Served::start(program, &dir, &conf, &[port]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/wss_title.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg("--url")
        .arg(format!("https://a.test:{port}/"))
        .arg("--spki-der")
        .arg(dir.path().join("pin.spki.der"))
        .args([
            "--host",
            "a.test",
            "--chromium",
            CHROMIUM,
            "--driver",
            CHROMEDRIVER,
        ])
        .args([
            "--until",
            "echo:",
            "--until",
            "error:",
            "--until",
            "Privacy error",
        ])
        .args(["--timeout", "30"]);
    let run = tokio::task::spawn_blocking(move || common::run_bounded(&mut command, BROWSER_LIMIT))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let title = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TITLE "))
        .map(str::to_string);
    match title {
        Some(t) => t,
        None => panic!(
            "{program:?}: the browser run printed no title\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&run.stderr)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_gets_the_wss_echo_through_upgate() {
    let title = browser_title(Program::Upgate, Pin::ServerKey).await;
    assert_eq!(title, format!("echo: {MESSAGE}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_gets_the_wss_echo_through_nginx() {
    tls_support::require_nginx();
    let title = browser_title(Program::Nginx, Pin::ServerKey).await;
    assert_eq!(title, format!("echo: {MESSAGE}"));
}

/// The pin is what lets chromium in: pinning another key, upgate's
/// certificate (from a CA chromium does not know) gets the interstitial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_refuses_the_certificate_without_the_pin() {
    let title = browser_title(Program::Upgate, Pin::OtherKey).await;
    assert_eq!(title, "Privacy error");
}
