//! `# upgate:` pragmas on real traffic: upgate in front of the example echo
//! backend, with a real browser (Debian's headless chromium, driven by
//! selenium: tests/browser/wss_title.py) and with tungstenite clients.
//!
//! - `websocket_close_on_timeout 1001`: the browser's `onclose` sees 1001 at
//!   proxy_read_timeout and at SIGQUIT's worker_shutdown_timeout; Debian's
//!   nginx on the same file (the pragma is a comment to it) gives 1006.
//! - `websocket_ping`: an idle tunnel outlives proxy_read_timeout by far
//!   while the client answers pings (nginx cuts it at the timeout); a client
//!   that stops answering is closed after two periods.
//!
//! The same with node's `ws` package as the client.
//!
//! Needs chromium, chromium-driver, selenium and `ws` (as `cargo xtask test`
//! installs them: `ws` into target/node) and nginx; any of them missing
//! fails the test. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod tls_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tls_support::{Dir, Program, Served, free_port, main_conf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use upgate_examples::websocket::{self, Mode};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The whole browser run: start, load, the close, quit.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>waiting</title></head>
<body><script>
const ws = new WebSocket("ws://" + location.host + "/ws");
ws.onopen = () => { document.title = "open"; };
ws.onclose = (e) => { document.title = "close: " + e.code + " " + e.reason; };
</script></body></html>
"#;

/// The echo backend on a free port.
async fn echo_backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(websocket::serve(l, Mode::Echo));
    port
}

/// A server with the page at `/` and the WebSocket location `/ws`, whose
/// body is `ws_location` (pragmas and timeouts) besides the proxying.
fn conf(dir: &Dir, main: &str, port: u16, backend: u16, ws_location: &str) -> String {
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    dir.write("www/index.html", PAGE);
    let http = format!(
        "map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         server {{\n listen 127.0.0.1:{port};\n server_name a.test;\n\
         location /ws {{\n {ws_location}\n proxy_pass http://127.0.0.1:{backend};\n\
         proxy_http_version 1.1;\n proxy_set_header Upgrade $http_upgrade;\n\
         proxy_set_header Connection $connection_upgrade;\n }}\n\
         location / {{ root {www};\n index index.html;\n }}\n}}\n",
        www = dir.file("www"),
    );
    format!("{main}{}", main_conf(dir, &http))
}

/// Loads the page in chromium and returns the title its `onclose` set; with
/// `quit_when_open`, the server gets SIGQUIT once the socket is open.
async fn browser_close(program: Program, main: &str, ws_location: &str, quit: bool) -> String {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).is_file(),
            "{path} is missing: apt-get install {package}"
        );
    }
    let python = common::python_with("selenium");
    let dir = Dir::new("ws-pragmas-browser");
    let backend = echo_backend().await;
    let port = free_port();
    let conf = conf(&dir, main, port, backend, ws_location);
    let server = Served::start(program, &dir, &conf, &[port]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/wss_title.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg("--url")
        .arg(format!("http://a.test:{port}/"))
        .args(["--host", "a.test"])
        .args(["--chromium", CHROMIUM, "--driver", CHROMEDRIVER])
        .args(["--until", "close:", "--timeout", "30"]);
    if quit {
        command
            .args(["--signal-on", "open", "--signal-pid"])
            .arg(server.pid().to_string());
    }
    let run = tokio::task::spawn_blocking(move || common::run_bounded(&mut command, BROWSER_LIMIT))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    match stdout.lines().find_map(|l| l.strip_prefix("TITLE ")) {
        Some(t) => t.trim().to_string(),
        None => panic!(
            "{program:?}: the browser printed no title\nstdout: {stdout}\nstderr: {}\nerror.log: {}",
            String::from_utf8_lossy(&run.stderr),
            server.error_log()
        ),
    }
}

const CLOSE_AT_READ_TIMEOUT: &str =
    "# upgate: websocket_close_on_timeout 1001;\n proxy_read_timeout 2s;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_sees_1001_at_proxy_read_timeout_where_nginx_gives_1006() {
    let upgate = browser_close(Program::Upgate, "", CLOSE_AT_READ_TIMEOUT, false).await;
    assert_eq!(upgate, "close: 1001 idle timeout");
    tls_support::require_nginx();
    let nginx = browser_close(Program::Nginx, "", CLOSE_AT_READ_TIMEOUT, false).await;
    assert_eq!(nginx, "close: 1006");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_sees_1001_at_worker_shutdown_timeout() {
    let main = "worker_shutdown_timeout 1s;\n";
    let location = "# upgate: websocket_close_on_timeout 1001;\n proxy_read_timeout 1h;";
    let upgate = browser_close(Program::Upgate, main, location, true).await;
    assert_eq!(upgate, "close: 1001 server shutting down");
    tls_support::require_nginx();
    let nginx = browser_close(Program::Nginx, main, location, true).await;
    assert_eq!(nginx, "close: 1006");
}

/// Reads for `hold`, answering pings (tungstenite does when read); the
/// pings seen, or where the stream ended.
async fn hold_open(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    hold: Duration,
) -> Result<usize, (Duration, String)> {
    let t0 = Instant::now();
    let mut pings = 0;
    loop {
        let left = hold.saturating_sub(t0.elapsed());
        if left.is_zero() {
            return Ok(pings);
        }
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return Ok(pings),
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(other) => return Err((t0.elapsed(), format!("{other:?}"))),
        }
    }
}

const PINGS: &str = "# upgate: websocket_ping 1s;\n proxy_read_timeout 3s;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_keep_an_idle_tunnel_open_past_proxy_read_timeout() {
    for program in [Program::Upgate, Program::Nginx] {
        let dir = Dir::new("ws-pragmas-ping");
        let backend = echo_backend().await;
        let port = free_port();
        let _server = Served::start(
            program,
            &dir,
            &conf(&dir, "", port, backend, PINGS),
            &[port],
        );
        let (mut ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")),
        )
        .await
        .unwrap()
        .unwrap();
        let held = hold_open(&mut ws, Duration::from_secs(10)).await;
        match program {
            Program::Upgate => {
                let pings = held.unwrap_or_else(|(at, what)| panic!("ended at {at:?}: {what}"));
                assert!(pings >= 3, "{pings} pings in 10 s");
                ws.send(Message::text("still here")).await.unwrap();
                let echo = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
                assert!(
                    matches!(&echo, Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "still here"),
                    "{echo:?}"
                );
            }
            Program::Nginx => {
                let (at, _) = held.expect_err("nginx cuts the idle tunnel");
                assert!(
                    at >= Duration::from_millis(2500) && at < Duration::from_secs(6),
                    "nginx closed at {at:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_no_ping_is_closed_after_two_periods() {
    let dir = Dir::new("ws-pragmas-dead");
    let backend = echo_backend().await;
    let port = free_port();
    let ping = "# upgate: websocket_ping 1s;\n proxy_read_timeout 1h;";
    let server = Served::start(
        Program::Upgate,
        &dir,
        &conf(&dir, "", port, backend, ping),
        &[port],
    );
    // A client that reads but never answers: raw bytes, no pong.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed_at = loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break t0.elapsed(),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "not closed in 10 s; read {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    };
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    // A ping (0x89, 8 bytes of payload), then a close 1001 with its reason.
    let body = &got[got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(&body[..2], &[0x89, 8], "{body:02x?}");
    let close = &body[10..];
    assert_eq!(close[0], 0x88, "{body:02x?}");
    assert_eq!(&close[2..4], &1001u16.to_be_bytes());
    assert_eq!(&close[4..], b"peer not responding");
    // Pinged at 1 s, dead at 2 s, closed after the 1 s wait for its close.
    assert!(
        closed_at >= Duration::from_secs(2) && closed_at < Duration::from_secs(5),
        "closed at {closed_at:?}"
    );
    // The line is written once the tunnel's sockets are closed: wait for it.
    let end = Instant::now() + Duration::from_secs(5);
    let mut log = server.error_log();
    while !log.contains("client answered no ping") && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
        log = server.error_log();
    }
    assert!(log.contains("client answered no ping"), "{log}");
}

/// `node tests/node/ws_close.js URL TIMEOUT`: the JSON line it printed and
/// whether the socket closed.
async fn node_ws_close(url: String, timeout_s: u64) -> (serde_json::Value, bool) {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/node/node_modules");
    assert!(
        modules.join("ws").is_dir(),
        "{} has no ws: run `cargo xtask test` (npm install --prefix target/node ws)",
        modules.display()
    );
    let node = common::find_on_path("node").expect("node is not installed");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/ws_close.js");
    let mut command = Command::new(node);
    command
        .arg(script)
        .arg(url)
        .arg(timeout_s.to_string())
        .env("NODE_PATH", modules);
    let run = tokio::task::spawn_blocking(move || {
        common::run_bounded(&mut command, Duration::from_secs(timeout_s + 20))
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let line = stdout.lines().last().unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "node printed {stdout:?} ({e}); stderr: {}",
            String::from_utf8_lossy(&run.stderr)
        )
    });
    (value, run.success)
}

async fn serve_for_node(program: Program, location: &str) -> (Served, u16, Dir) {
    let dir = Dir::new("ws-pragmas-node");
    let backend = echo_backend().await;
    let port = free_port();
    let server = Served::start(
        program,
        &dir,
        &conf(&dir, "", port, backend, location),
        &[port],
    );
    (server, port, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ws_sees_1001_at_proxy_read_timeout_where_nginx_gives_1006() {
    for program in [Program::Upgate, Program::Nginx] {
        if program == Program::Nginx {
            tls_support::require_nginx();
        }
        let (_server, port, _dir) = serve_for_node(program, CLOSE_AT_READ_TIMEOUT).await;
        let (closed, ok) = node_ws_close(format!("ws://127.0.0.1:{port}/ws"), 15).await;
        assert!(ok, "{program:?}: {closed}");
        let open_ms = closed["open_ms"].as_i64().unwrap_or(-1);
        assert!((1900..6000).contains(&open_ms), "{program:?}: {closed}");
        match program {
            Program::Upgate => {
                assert_eq!(closed["code"], 1001, "{closed}");
                assert_eq!(closed["reason"], "idle timeout", "{closed}");
            }
            Program::Nginx => assert_eq!(closed["code"], 1006, "{closed}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ws_answers_upgates_pings_and_outlives_proxy_read_timeout() {
    let (_server, port, _dir) = serve_for_node(Program::Upgate, PINGS).await;
    // proxy_read_timeout is 3 s; 8 s later the socket is still open.
    let (seen, closed) = node_ws_close(format!("ws://127.0.0.1:{port}/ws"), 8).await;
    assert!(!closed, "closed: {seen}");
    assert_eq!(seen["code"], serde_json::Value::Null, "{seen}");
    assert!(seen["pings"].as_i64().unwrap_or(0) >= 5, "{seen}");
}
