//! Memory of idle tunnels: nginx holds about 18 KB per idle WebSocket tunnel
//! (request pool, connection, and both tunnel buffers); upgate's target is a
//! quarter of that. This opens idle tunnels over loopback TCP and measures
//! the process's resident memory per tunnel (kernel socket buffers are not
//! counted, for either). Linux only: it reads /proc/self/statm.

use std::net::TcpStream as StdStream;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use upgate_proxy::tunnel::{TunnelConfig, tunnel};

/// Tunnels per round, fewer when the open files limit is low (8 sockets
/// per tunnel over the two rounds).
fn tunnels() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1024);
    (soft.saturating_sub(64) / 8).clamp(50, 1500)
}
/// A quarter of nginx's ~18 KB.
const BUDGET: usize = 18 * 1024 / 4;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A connected pair: the far end as a plain std socket (outside tokio, as a
/// remote peer would be), the near end for the tunnel.
async fn pair(l: &TcpListener) -> (StdStream, TcpStream) {
    let addr = match l.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let far = tokio::task::spawn_blocking(move || StdStream::connect(addr));
    let near = match l.accept().await {
        Ok((s, _)) => s,
        Err(e) => panic!("accept: {e}"),
    };
    match far.await {
        Ok(Ok(far)) => (far, near),
        other => panic!("connect: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tunnels_fit_a_quarter_of_nginx() {
    let l = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let cfg = TunnelConfig::default();
    // Warm up allocator and runtime with one batch, then measure another.
    let n = tunnels();
    let mut keep = Vec::new();
    let mut tasks = Vec::new();
    let mut before = 0;
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            before = resident_bytes();
        }
        for _ in 0..n {
            let (client_far, client) = pair(&l).await;
            let (upstream_far, upstream) = pair(&l).await;
            let cfg = cfg.clone();
            tasks.push(tokio::spawn(async move {
                tunnel(client, upstream, Bytes::new(), Bytes::new(), &cfg).await
            }));
            keep.push((client_far, upstream_far));
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per_tunnel = resident_bytes().saturating_sub(before) / n;
    println!("idle tunnel: {per_tunnel} bytes resident each over {n} tunnels (budget {BUDGET})");
    assert!(
        per_tunnel <= BUDGET,
        "{per_tunnel} bytes per idle tunnel, budget {BUDGET}"
    );
    for t in &tasks {
        assert!(!t.is_finished());
    }
    drop(keep);
}
