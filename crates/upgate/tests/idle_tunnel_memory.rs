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

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use common::TempDir;
use common::process::Upgate;
use common::tunnels::{SWITCHING, config, free_port, open, read_head, resident_bytes, tunnels};

/// A fifth of nginx's ~18,150 bytes.
const BUDGET: usize = 18_150 / 5;

/// Answers every request with a 101 and holds the socket until the test
/// ends (the tunnel stays idle).
async fn backend(listener: TcpListener) {
    let mut held = Vec::new();
    while let Ok((mut s, _)) = listener.accept().await {
        read_head(&mut s).await;
        let _ = s.write_all(SWITCHING).await;
        held.push(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tunnel_costs_the_server_a_fifth_of_nginx() {
    let n = tunnels(3000);
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
    let warm = open(port, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident_bytes(pid);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(open(port, None).await);
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
