//! What an idle WebSocket tunnel costs the whole server, not only the
//! tunnel's copy loop (that is crates/proxy/tests/tunnel_memory.rs): the
//! binary proxies to a backend that answers 101 and holds the socket, the
//! test opens idle tunnels through it and reads the server's resident
//! memory per tunnel. nginx 1.22 holds about 18,150 bytes per idle tunnel
//! (`cargo xtask bench tunnels` measures it side by side); issue 13's goal
//! is a fifth of that. The connection's task, the request left behind and
//! the access log line waiting for the tunnel's end all count here. Linux
//! only (/proc); every wait is bounded.

mod common;

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use common::TempDir;
use common::process::Upgate;

/// A fifth of nginx's ~18,150 bytes.
const BUDGET: usize = 18_150 / 5;
const IO_LIMIT: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// Raises this process's open-files limit to its hard limit (the server,
/// started after, inherits it) and returns how many tunnels fit: each is
/// two sockets here and two in the server.
fn tunnels() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    let soft = if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    (soft.saturating_sub(256) as usize / 2).clamp(100, 3000)
}

fn config(dir: &Path, port: u16, backend: u16, n: usize) -> String {
    let d = dir.display();
    let connections = 2 * n + 256;
    format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log error;\n\
         events {{ worker_connections {connections}; }}\n\
         http {{\n\
         \x20   access_log {d}/access.log;\n\
         \x20   client_body_temp_path {d}/body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         \x20   upstream ws {{ server 127.0.0.1:{backend}; keepalive 64; }}\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       location / {{\n\
         \x20           proxy_pass http://ws;\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Upgrade $http_upgrade;\n\
         \x20           proxy_set_header Connection $connection_upgrade;\n\
         \x20           proxy_read_timeout 1h;\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n"
    )
}

/// Answers every request with a 101 and holds the socket until the test
/// ends (the tunnel stays idle).
async fn backend(listener: TcpListener) {
    let mut held = Vec::new();
    while let Ok((mut s, _)) = listener.accept().await {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            )
            .await;
        held.push(s);
    }
}

/// One idle tunnel: the upgrade answered with 101.
async fn open(port: u16) -> TcpStream {
    let work = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(
            b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>((s, head))
    };
    match timeout(IO_LIMIT, work).await {
        Ok(Ok((s, head))) if head.starts_with(b"HTTP/1.1 101") => s,
        other => panic!("no 101: {other:?}"),
    }
}

fn resident_bytes(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tunnel_costs_the_server_a_fifth_of_nginx() {
    let n = tunnels();
    let dir = match TempDir::new("idle-tunnel-memory") {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let backend_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let backend = tokio::spawn(backend(listener));
    let port = free_port();
    if let Err(e) = std::fs::write(
        dir.path().join("nginx.conf"),
        config(dir.path(), port, backend_port, n),
    ) {
        panic!("write nginx.conf: {e}");
    }
    let up = Upgate::start(dir.path());
    let pid = up.pid();
    // What a first connection allocates once is not a tunnel's.
    let warm = open(port).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident_bytes(pid);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(open(port).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = resident_bytes(pid);
    assert!(before > 0 && after > 0, "no VmRSS for {pid}");
    let per_tunnel = after.saturating_sub(before) / n;
    println!("idle tunnel: {per_tunnel} bytes resident each over {n} tunnels (budget {BUDGET})");
    assert!(
        per_tunnel <= BUDGET,
        "{per_tunnel} bytes per idle tunnel over {n}, budget {BUDGET}\n{}",
        up.error_log()
    );
    drop((held, warm, up));
    backend.abort();
}
