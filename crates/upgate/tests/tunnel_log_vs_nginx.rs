//! The access log line of an upgraded request, written when its tunnel
//! ends: `$status $request_length $bytes_sent $body_bytes_sent
//! $upstream_bytes_sent $upstream_bytes_received` equal Debian's nginx's for
//! the same bytes (a scripted client: fixed key, fixed masks, two echoed
//! messages, a close handshake), and `$request_time` covers the tunnel's
//! life. Then upgate's own `$upgate_tunnel_close` says why it ended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod tls_support;

use std::time::{Duration, Instant};

use tls_support::{Dir, Program, Served, free_port, main_conf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use upgate_examples::websocket::{self, Mode};

const LIMIT: Duration = Duration::from_secs(10);
/// How long the scripted client keeps the tunnel open.
const HOLD: Duration = Duration::from_millis(300);

/// A masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend(mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads until `want` more bytes came (or the stream ends).
async fn read_at_least(s: &mut TcpStream, got: &mut Vec<u8>, want: usize) {
    let start = got.len();
    let mut buf = [0u8; 4096];
    while got.len() < start + want {
        match tokio::time::timeout(LIMIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("read timed out after {:?}", String::from_utf8_lossy(got)),
        }
    }
}

/// Runs the script through `program` with `log_format` and returns the
/// access log line.
async fn logged(program: Program, format: &str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = l.local_addr().unwrap().port();
    tokio::spawn(websocket::serve(l, Mode::Echo));
    let port = free_port();
    let dir = Dir::new("tunnel-log");
    let conf = main_conf(
        &dir,
        &format!(
            "map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
             log_format t '{format}';\n\
             server {{\n listen 127.0.0.1:{port};\n access_log {log} t;\n\
             location /ws/ {{ proxy_pass http://127.0.0.1:{backend};\n\
             proxy_http_version 1.1;\n proxy_set_header Upgrade $http_upgrade;\n\
             proxy_set_header Connection $connection_upgrade;\n }}\n}}\n",
            log = dir.file("access.log"),
        ),
    );
    let server = Served::start(program, &dir, &conf, &[port]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(
        b"GET /ws/ HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        read_at_least(&mut s, &mut got, 1).await;
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    got.clear();
    for text in [&b"hello"[..], b"second message"] {
        s.write_all(&frame(0x1, text)).await.unwrap();
        read_at_least(&mut s, &mut got, 2 + text.len()).await;
    }
    tokio::time::sleep(HOLD).await;
    // A close frame with 1000; the backend answers with its own.
    s.write_all(&frame(0x8, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    read_at_least(&mut s, &mut got, 4).await;
    drop(s);
    let path = dir.path().join("access.log");
    let end = Instant::now() + LIMIT;
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            return line.to_string();
        }
        assert!(
            Instant::now() < end,
            "{program:?} logged nothing: {}",
            server.error_log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const FORMAT: &str = "$status $request_length $bytes_sent $body_bytes_sent \
                      $upstream_bytes_sent $upstream_bytes_received $request_time";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnels_log_line_counts_what_nginx_counts() {
    tls_support::require_nginx();
    let nginx = logged(Program::Nginx, FORMAT).await;
    let upgate = logged(Program::Upgate, FORMAT).await;
    let fields = |line: &str| line.split(' ').map(str::to_string).collect::<Vec<_>>();
    let (n, u) = (fields(&nginx), fields(&upgate));
    assert_eq!(n.len(), 7, "{nginx}");
    assert_eq!(n[..6], u[..6], "nginx: {nginx}\nupgate: {upgate}");
    for (who, f) in [("nginx", &n), ("upgate", &u)] {
        let t: f64 = f[6].parse().unwrap();
        assert!(
            t >= HOLD.as_secs_f64() && t < 5.0,
            "{who}'s $request_time {t} does not cover the tunnel"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgate_tunnel_close_says_why_it_ended() {
    let line = logged(Program::Upgate, "$status $upgate_tunnel_close").await;
    // The backend closes its side first after the close handshake, or the
    // client's close arrives first: either is a close by a peer.
    assert!(
        line == "101 upstream_closed" || line == "101 client_closed",
        "{line}"
    );
}
