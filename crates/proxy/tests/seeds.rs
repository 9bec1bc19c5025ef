//! The seeds' scenarios (../shared/seed-configs), served by upgate in front
//! of the strict RFC 6455 echo backend and, side by side, by nginx:
//! the correct configs upgrade and echo through real WebSocket clients; the
//! broken variants (no Upgrade, no Connection, HTTP/1.0 upstream, a
//! location-level proxy_set_header hiding the server's) fail with the status
//! and body nginx's clients see; an idle tunnel is cut at proxy_read_timeout
//! and kept open by pings. The configs are used as written except for ports
//! and backend addresses (text substitution) and log paths.
//!
//! nginx is required: the tests fail, never skip, without it.

mod serve_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serve_support::{Nginx, Upgate, exchange, free_port, parse_responses};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use upgate_examples::websocket::{Mode, serve};

fn seed_dir() -> PathBuf {
    match std::env::var_os("UPGATE_SHARED") {
        Some(s) => PathBuf::from(s).join("seed-configs"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed-configs"),
    }
}

fn read_seed(name: &str) -> String {
    let p = seed_dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Starts a strict echo backend; returns its port.
async fn echo_backend() -> u16 {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(serve(listener, Mode::Echo));
    port
}

/// A seed made runnable: listen and upstream addresses replaced, logs in
/// the server's directory, wrapped in `events {}` / `http {}` as needed.
/// Returns the config and the WebSocket paths it serves.
fn runnable(name: &str, port: u16, b: [u16; 2]) -> (String, Vec<&'static str>) {
    let text = read_seed(name);
    let listen = format!("listen 127.0.0.1:{port};");
    let s0 = format!("server 127.0.0.1:{};", b[0]);
    let s1 = format!("server 127.0.0.1:{};", b[1]);
    let (text, paths) = match name {
        "000-http-global-map.conf" => (
            text.replace("listen 8080;", &listen)
                .replace("server 127.0.0.1:8010;", &s0)
                .replace(
                    "access_log /dev/stdout proxy;",
                    "access_log logs/access.log proxy;",
                ),
            vec!["/"],
        ),
        "001-port-forward.conf" => (
            text.replace("listen 8020;", &listen)
                .replace("server 192.168.100.10:8010;", &s0),
            vec!["/"],
        ),
        "002-hash-consistent.conf" => (
            format!(
                "http {{\n{}\n}}\n",
                text.replace("listen 80;", &listen)
                    .replace("server 10.0.12.108:9000;", &s0)
                    .replace("server 10.0.12.109:9000;", &s1)
            ),
            vec!["/"],
        ),
        "002-timeouts.conf" => (
            text.replace(
                "    server {\n",
                &format!("    upstream webscoket {{ {s0} }}\n    server {{\n        {listen}\n"),
            )
            .replace("proxy_read_timeout 60s;", "proxy_read_timeout 2s;"),
            vec!["/"],
        ),
        "003-chat-scenarios.conf" => (
            text.replace("listen 8080;", &listen)
                .replace("server 127.0.0.1:8010;", &s0),
            vec!["/chat/ws", "/chat2/ws"],
        ),
        "004-two-backends.conf" => (
            text.replace("listen 80;", &listen)
                .replace("server localhost:8010;", &s0)
                .replace("server localhost:8011;", &s1)
                .replace(
                    "access_log /var/log/nginx/yourdomain.log;",
                    "access_log logs/yourdomain.log;",
                ),
            vec!["/"],
        ),
        other => panic!("unknown seed {other}"),
    };
    let text = if text.contains("events") {
        text
    } else {
        format!("events {{}}\n{text}")
    };
    (text, paths)
}

const CORRECT: [&str; 5] = [
    "000-http-global-map.conf",
    "001-port-forward.conf",
    "002-hash-consistent.conf",
    "003-chat-scenarios.conf",
    "004-two-backends.conf",
];

/// Upgrades through a real client and echoes one message.
async fn ws_echo(port: u16, path: &str) -> Result<(), String> {
    let url = format!("ws://127.0.0.1:{port}{path}");
    let connect = tokio_tungstenite::connect_async(url.as_str());
    let (mut ws, resp) = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Err(format!("{url}: {e}")),
        Err(_) => return Err(format!("{url}: handshake timed out")),
    };
    if resp.status().as_u16() != 101 {
        return Err(format!("{url}: status {}", resp.status()));
    }
    ws.send(Message::text("hello through the proxy"))
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "hello through the proxy" => Ok(()),
        other => Err(format!("{url}: no echo: {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_seeds_upgrade_and_echo_like_nginx() {
    let b = [echo_backend().await, echo_backend().await];
    let mut passed = 0;
    let mut total = 0;
    for name in CORRECT {
        let (up_port, ng_port) = (free_port(), free_port());
        let (up_conf, paths) = runnable(name, up_port, b);
        let (ng_conf, _) = runnable(name, ng_port, b);
        let upgate = Upgate::start(&up_conf);
        let nginx = Nginx::start(&ng_conf, &[ng_port]);
        for path in paths {
            total += 1;
            let theirs = ws_echo(ng_port, path).await;
            let ours = ws_echo(up_port, path).await;
            assert!(
                theirs.is_ok(),
                "{name} {path}: nginx: {theirs:?}\n{}",
                nginx.log()
            );
            assert!(ours.is_ok(), "{name} {path}: upgate: {ours:?}");
            passed += 1;
        }
        drop(upgate);
    }
    eprintln!("seeds (correct): {passed}/{total}");
}

/// The variants that break WebSockets, as users break them.
fn broken_variants(conf: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let drop_line = |needle: &str| -> String {
        conf.lines()
            .filter(|l| !l.contains(needle))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if conf.contains("proxy_set_header Upgrade") {
        out.push(("no Upgrade header", drop_line("proxy_set_header Upgrade")));
    }
    if conf.contains("proxy_set_header Connection") {
        out.push((
            "no Connection header",
            drop_line("proxy_set_header Connection"),
        ));
    }
    if conf.contains("proxy_http_version 1.1") {
        out.push(("HTTP/1.0 upstream", drop_line("proxy_http_version 1.1")));
    }
    if conf.contains("proxy_redirect off;") {
        // Seed 000: a location-level proxy_set_header hides the server's.
        out.push((
            "location-level proxy_set_header",
            conf.replace(
                "proxy_redirect off;",
                "proxy_redirect off;\n            proxy_set_header X-Foo bar;",
            ),
        ));
    }
    out
}

fn handshake(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_variants_fail_as_behind_nginx() {
    let b = [echo_backend().await, echo_backend().await];
    let mut passed = 0;
    let mut total = 0;
    for name in CORRECT {
        let (probe, paths) = runnable(name, 1, b);
        for (i, (what, _)) in broken_variants(&probe).iter().enumerate() {
            let (up_port, ng_port) = (free_port(), free_port());
            let (up_conf, _) = runnable(name, up_port, b);
            let (ng_conf, _) = runnable(name, ng_port, b);
            let up_text = &broken_variants(&up_conf)[i].1;
            let ng_text = &broken_variants(&ng_conf)[i].1;
            let upgate = Upgate::start(up_text);
            let nginx = Nginx::start(ng_text, &[ng_port]);
            for path in &paths {
                total += 1;
                let req = handshake(path);
                let (theirs, _) = exchange(ng_port, &req, &[false], 1).await;
                let (ours, _) = exchange(up_port, &req, &[false], 1).await;
                let theirs = parse_responses(&theirs, &[false]);
                let ours = parse_responses(&ours, &[false]);
                let t = theirs.first().map(|s| (s.status(), s.body.clone()));
                let o = ours.first().map(|s| (s.status(), s.body.clone()));
                assert!(
                    t.as_ref().is_some_and(|(st, _)| *st != 101),
                    "{name} ({what}) {path}: nginx upgraded: {t:?}\n{}",
                    nginx.log()
                );
                assert_eq!(o, t, "{name} ({what}) {path}: upgate and nginx differ");
                passed += 1;
            }
            drop(nginx);
            drop(upgate);
        }
    }
    eprintln!("seeds (broken variants): {passed}/{total}");
    assert!(total >= 12, "too few variants: {total}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misspelt_upstream_is_refused_like_nginx() {
    // Seed 002-timeouts as written: `proxy_pass http://webscoket;` names no
    // upstream and no host.
    let text = format!(
        "events {{}}\n{}",
        read_seed("002-timeouts.conf").replace(
            "    server {\n",
            "    server {\n        listen 127.0.0.1:1;\n"
        )
    );
    let theirs = Nginx::check(&text);
    let ours = Upgate::check(&text);
    let Err(theirs) = theirs else {
        panic!("nginx -t accepted the misspelt upstream")
    };
    let Err(ours) = ours else {
        panic!("upgate accepted the misspelt upstream")
    };
    let wanted = "host not found in upstream \"webscoket\"";
    assert!(theirs.contains(wanted), "nginx: {theirs}");
    assert!(ours.contains(wanted), "upgate: {ours}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snippet_is_wrapped_by_the_loader() {
    // Seed 002-hash-consistent is a conf.d snippet (upstream + server).
    let b = [echo_backend().await, echo_backend().await];
    let port = free_port();
    let text = read_seed("002-hash-consistent.conf")
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "server 10.0.12.108:9000;",
            &format!("server 127.0.0.1:{};", b[0]),
        )
        .replace(
            "server 10.0.12.109:9000;",
            &format!("server 127.0.0.1:{};", b[1]),
        );
    let upgate = Upgate::start(&text);
    let r = ws_echo(port, "/").await;
    assert!(r.is_ok(), "{r:?}");
    drop(upgate);
}

/// Opens a tunnel; `ping_every` keeps it busy for `busy`; then waits for the
/// server to close. Returns how long after the last traffic the close came,
/// or `None` if it stayed open for `limit`.
async fn idle_close(
    port: u16,
    ping_every: Option<Duration>,
    busy: Duration,
    limit: Duration,
) -> Option<Duration> {
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut ws, _) = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok(x) => x,
        Err(e) => panic!("{url}: {e}"),
    };
    let start = Instant::now();
    if let Some(every) = ping_every {
        while start.elapsed() < busy {
            tokio::time::sleep(every).await;
            if ws
                .send(Message::Ping(b"keep".to_vec().into()))
                .await
                .is_err()
            {
                return Some(Duration::ZERO);
            }
            // The pong comes back through the tunnel.
            match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
                Ok(Some(Ok(Message::Pong(_)))) => {}
                other => panic!("no pong through the tunnel: {other:?}"),
            }
        }
    }
    let quiet = Instant::now();
    match tokio::time::timeout(limit, ws.next()).await {
        Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => Some(quiet.elapsed()),
        Ok(Some(Ok(other))) => panic!("unexpected message {other:?}"),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tunnel_is_cut_at_proxy_read_timeout_and_kept_by_pings() {
    let b = [echo_backend().await, echo_backend().await];
    let (up_port, ng_port) = (free_port(), free_port());
    let (up_conf, _) = runnable("002-timeouts.conf", up_port, b);
    let (ng_conf, _) = runnable("002-timeouts.conf", ng_port, b);
    let upgate = Upgate::start(&up_conf);
    let nginx = Nginx::start(&ng_conf, &[ng_port]);
    let limit = Duration::from_secs(6);
    let busy = Duration::from_millis(3500);
    let ping = Some(Duration::from_millis(700));
    let (ours_idle, theirs_idle, ours_busy, theirs_busy) = tokio::join!(
        idle_close(up_port, None, Duration::ZERO, limit),
        idle_close(ng_port, None, Duration::ZERO, limit),
        idle_close(up_port, ping, busy, limit),
        idle_close(ng_port, ping, busy, limit),
    );
    let window = Duration::from_millis(1500)..Duration::from_millis(4500);
    for (who, got) in [
        ("upgate", ours_idle),
        ("nginx", theirs_idle),
        ("upgate after pings", ours_busy),
        ("nginx after pings", theirs_busy),
    ] {
        let Some(d) = got else {
            panic!("{who}: the idle tunnel was not cut")
        };
        assert!(
            window.contains(&d),
            "{who}: cut after {d:?}, want about 2 s\n{}",
            nginx.log()
        );
    }
    // Both tunnels of each server are gone.
    let end = Instant::now() + Duration::from_secs(2);
    while upgate.live_connections() > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upgate.live_connections(), 0, "connections leaked");
}
