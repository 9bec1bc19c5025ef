//! `upgate -c FILE --metrics ADDR` on real traffic: requests, WebSocket
//! tunnels through the example echo backend, a handshake the upstream
//! cannot take; then `/metrics` is parsed by the Prometheus project's own
//! OpenMetrics parser (Python's prometheus_client, tests/metrics/parse.py)
//! and every count must equal what the test did. `upgate top` runs in a
//! tmux pane and capture-pane must show the same numbers.
//!
//! Needs python3 with prometheus_client and tmux (as `cargo xtask test`
//! installs them); missing, the test fails. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod tls_support;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tls_support::{Dir, Program, Served, free_port, main_conf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use upgate_examples::websocket::{self, Mode};

const LIMIT: Duration = Duration::from_secs(10);

/// One request on its own connection; the response.
async fn exchange(port: u16, request: &str) -> String {
    let io = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    tokio::time::timeout(LIMIT, io)
        .await
        .expect("exchange in 10 s")
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// `/metrics`, parsed by prometheus_client.
async fn scrape(port: u16) -> Vec<Sample> {
    let response = exchange(
        port,
        "GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    let python = common::python_with("prometheus_client");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/metrics/parse.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the page: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Sample {
                name: v["name"].as_str().unwrap().to_string(),
                labels: v["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
                value: v["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The value of the one sample named `name` with these labels (0 if none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().map_or(0.0, |s| s.value)
}

/// tmux on a socket of its own, killed on drop.
struct Tmux(String);

impl Tmux {
    fn start(command: &str) -> Tmux {
        let name = format!("upgate-top-{}", std::process::id());
        let t = Tmux(name);
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.0,
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "30",
                command,
            ])
            .status()
            .expect("tmux (apt-get install tmux)");
        assert!(ok.success(), "tmux new-session failed");
        t
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened_and_top_shows_it() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = l.local_addr().unwrap().port();
    tokio::spawn(websocket::serve(l, Mode::Echo));
    let dead = free_port();
    let (port, mport) = (free_port(), free_port());
    let dir = Dir::new("metrics");
    let ws_headers = "proxy_http_version 1.1;\n proxy_set_header Upgrade $http_upgrade;\n\
                      proxy_set_header Connection $connection_upgrade;";
    let conf = main_conf(
        &dir,
        &format!(
            "map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
             server {{\n listen 127.0.0.1:{port};\n server_name a.test;\n\
             location / {{ return 200 \"ok\\n\"; }}\n\
             location /ws/ {{ proxy_pass http://127.0.0.1:{backend};\n {ws_headers}\n }}\n\
             location /dead/ {{ proxy_pass http://127.0.0.1:{dead};\n {ws_headers}\n }}\n}}\n"
        ),
    );
    let maddr = format!("127.0.0.1:{mport}");
    let _server = Served::start_with(
        Program::Upgate,
        &dir,
        &conf,
        &[port, mport],
        &["--metrics", &maddr],
    );

    for _ in 0..3 {
        let r = exchange(
            port,
            "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let r = exchange(
        port,
        "GET /nothing HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    // A handshake the upstream cannot take: 502.
    let failed = tokio::time::timeout(
        LIMIT,
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/dead/")),
    )
    .await
    .unwrap();
    assert!(failed.is_err(), "{failed:?}");
    // Two tunnels; the client of the first goes away (its TCP close, no
    // close frame: the tunnel sees the client end first).
    let mut tunnels = Vec::new();
    for _ in 0..2 {
        let (mut ws, _) = tokio::time::timeout(
            LIMIT,
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/")),
        )
        .await
        .unwrap()
        .unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        let echo = tokio::time::timeout(LIMIT, ws.next()).await.unwrap();
        assert!(matches!(echo, Some(Ok(Message::Text(_)))), "{echo:?}");
        tunnels.push(ws);
    }
    drop(tunnels.remove(0));

    // The close is counted when the tunnel's task ends: wait for it.
    let ws = [("server", "a.test"), ("location", "/ws/")];
    let end = Instant::now() + LIMIT;
    let samples = loop {
        let samples = scrape(mport).await;
        let closed = value(
            &samples,
            "upgate_websocket_tunnels_closed_total",
            &[ws[0], ws[1], ("reason", "client_closed")],
        );
        if closed == 1.0 || Instant::now() > end {
            break samples;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at = |location: &str, code: &str| {
        value(
            &samples,
            "upgate_http_requests_total",
            &[("server", "a.test"), ("location", location), ("code", code)],
        )
    };
    assert_eq!(at("/", "2xx"), 4.0, "{samples:?}");
    assert_eq!(at("/ws/", "1xx"), 2.0, "the two 101s");
    assert_eq!(
        value(
            &samples,
            "upgate_websocket_handshake_failures_total",
            &[("location", "/dead/"), ("code", "502")]
        ),
        1.0
    );
    assert_eq!(value(&samples, "upgate_websocket_tunnels_open", &ws), 1.0);
    assert_eq!(
        value(&samples, "upgate_websocket_tunnels_opened_total", &ws),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "upgate_websocket_tunnels_closed_total",
            &[ws[0], ws[1], ("reason", "client_closed")]
        ),
        1.0
    );
    // The closed tunnel carried a frame each way (and the close).
    for direction in ["client_to_upstream", "upstream_to_client"] {
        let bytes = value(
            &samples,
            "upgate_websocket_tunnel_bytes_total",
            &[ws[0], ws[1], ("direction", direction)],
        );
        assert!(bytes >= 7.0, "{direction}: {bytes}");
    }
    assert_eq!(
        value(
            &samples,
            "upgate_websocket_tunnel_duration_seconds_count",
            &ws
        ),
        1.0
    );
    // stub_status's counts: the open tunnel is writing; 4 plain requests,
    // 3 handshakes and this test's scrapes are not requests of the server.
    assert!(value(&samples, "upgate_connections", &[("state", "writing")]) >= 1.0);
    assert_eq!(value(&samples, "upgate_requests_total", &[]), 7.0);
    assert_eq!(value(&samples, "upgate_config_generation", &[]), 0.0);
    assert_eq!(
        value(
            &samples,
            "upgate_upstream_peer_state",
            &[("peer", &format!("127.0.0.1:{backend}")), ("state", "up")]
        ),
        1.0
    );

    // `upgate top` in a terminal shows the same numbers.
    let tmux = Tmux::start(&format!(
        "{} top --interval-ms 200 {maddr}",
        env!("CARGO_BIN_EXE_upgate")
    ));
    let end = Instant::now() + LIMIT;
    let screen = loop {
        let screen = tmux.capture();
        let line = screen.lines().find(|l| l.contains("/ws/"));
        let shown = line.is_some_and(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(2) == Some(&"1") && l.contains("client_closed 1")
        });
        if shown || Instant::now() > end {
            break screen;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let line = screen
        .lines()
        .find(|l| l.contains("/ws/"))
        .unwrap_or_else(|| panic!("no /ws/ line in top:\n{screen}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[..3], ["a.test", "/ws/", "1"], "{screen}");
    assert!(line.contains("client_closed 1"), "{screen}");
    assert!(
        screen.contains("requests 7"),
        "top's connections line: {screen}"
    );
    drop(tunnels);
}
