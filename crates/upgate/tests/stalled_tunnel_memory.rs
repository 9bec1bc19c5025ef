//! Tunnels whose client never reads while the backend writes as fast as it
//! can, against nginx: memory must stay bounded, which needs the proxy to
//! stop reading the backend while its write to the client is blocked (a
//! proxy that kept reading would buffer without end). For each server
//! (nginx, then upgate, on the same configuration) 1,000 tunnels (fewer if
//! the open-files limit says so) are opened with a small client receive
//! buffer and never read; the backend floods every one. Once the backend's
//! writes have all blocked (backpressure reached it), two figures are read:
//! what the backend got to write per tunnel (the kernel's socket buffers on
//! the way, plus whatever the proxy read and holds), which for upgate must
//! not exceed nginx's by more than noise; and the server's resident memory
//! per tunnel, which for upgate must stay within [`BUDGET`]. nginx holds its
//! proxy_buffer_size buffers whether the tunnel is idle or stalled (about
//! 18 KB per tunnel); upgate holds no buffer while idle (2.8 KB) and, when
//! stalled, what the client did not take of the last 64 KiB read (about
//! 30 KB on average). Linux only (/proc); every wait is bounded.
//!
//! nginx is required: the test fails, never skips, without it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use common::TempDir;
use common::process::Running;
use common::tunnels::{IO_LIMIT, SWITCHING, config, free_port, open, read_head, resident_bytes};

const NGINX: &str = "/usr/sbin/nginx";
/// What one stalled tunnel may cost upgate: at most one read's remainder
/// (64 KiB, half that on average) and the connection's state.
const BUDGET: usize = 48 * 1024;
/// The backend's writes, each as large as a busy WebSocket server's.
const CHUNK: usize = 64 * 1024;
/// How long the backend's total may stay still to count as blocked.
const STILL: Duration = Duration::from_secs(1);
/// The longest the test waits for backpressure to reach the backend.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// Answers every upgrade with a 101, then writes until the write blocks
/// for good (or the test ends); `written` counts every byte.
async fn flood(listener: TcpListener, written: Arc<AtomicU64>) {
    while let Ok((s, _)) = listener.accept().await {
        let written = Arc::clone(&written);
        tokio::spawn(async move { flood_one(s, &written).await });
    }
}

async fn flood_one(mut s: TcpStream, written: &AtomicU64) {
    read_head(&mut s).await;
    if s.write_all(SWITCHING).await.is_err() {
        return;
    }
    let chunk = vec![b'w'; CHUNK];
    let until = tokio::time::Instant::now() + 2 * SETTLE_LIMIT;
    loop {
        match tokio::time::timeout_at(until, s.write(&chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                written.fetch_add(n as u64, Ordering::Relaxed);
            }
            _ => return,
        }
    }
}

/// What one server held with `n` stalled tunnels.
#[derive(Debug)]
struct Held {
    per_tunnel: usize,
    /// The backend's bytes per tunnel when its writes had all blocked.
    flooded_per_tunnel: u64,
}

async fn stalled(name: &'static str, binary: &Path, n: usize) -> Held {
    let dir = TempDir::new(&format!("stalled-tunnels-{name}")).unwrap_or_else(|e| panic!("{e}"));
    // A small send buffer for the backend's sockets (accepted sockets
    // inherit it): less kernel memory held per tunnel, the same test.
    let listener = TcpSocket::new_v4()
        .and_then(|s| {
            s.set_send_buffer_size(64 * 1024)?;
            s.bind(([127, 0, 0, 1], 0).into())?;
            s.listen(1024)
        })
        .unwrap_or_else(|e| panic!("backend listener: {e}"));
    let backend_port = listener.local_addr().map_or(0, |a| a.port());
    let written = Arc::new(AtomicU64::new(0));
    let backend = tokio::spawn(flood(listener, Arc::clone(&written)));
    let port = free_port();
    std::fs::write(
        dir.path().join("nginx.conf"),
        config(dir.path(), port, backend_port, n),
    )
    .unwrap_or_else(|e| panic!("write nginx.conf: {e}"));
    let server = Running::start(name, binary, dir.path(), port, IO_LIMIT);
    let pid = server.pid();
    // What a first tunnel allocates once is not a tunnel's.
    let warm = open(port, Some(16 * 1024)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident_bytes(pid);

    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(open(port, Some(16 * 1024)).await);
    }
    // Backpressure reached the backend when its total stays still.
    let end = Instant::now() + SETTLE_LIMIT;
    let mut last = written.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(STILL).await;
        let now = written.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        assert!(
            Instant::now() < end,
            "{name}: the backend still writes after {SETTLE_LIMIT:?} ({now} bytes): the proxy reads on"
        );
        last = now;
    }
    let after = resident_bytes(pid);
    assert!(before > 0 && after > 0, "{name}: no VmRSS for {pid}");
    drop((held, warm, server));
    backend.abort();
    Held {
        per_tunnel: after.saturating_sub(before) / n,
        flooded_per_tunnel: last / (n as u64 + 1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tunnels_hold_bounded_memory_like_nginx() {
    let nginx = PathBuf::from(NGINX);
    assert!(
        nginx.is_file(),
        "install nginx (apt-get install nginx): no {NGINX}"
    );
    let n = common::tunnels::tunnels(1000);
    let theirs = stalled("nginx", &nginx, n).await;
    let ours = stalled("upgate", Path::new(env!("CARGO_BIN_EXE_upgate")), n).await;
    println!(
        "{n} stalled tunnels: nginx {} B resident each ({} B flooded each), \
         upgate {} B ({} B flooded each)",
        theirs.per_tunnel, theirs.flooded_per_tunnel, ours.per_tunnel, ours.flooded_per_tunnel
    );
    assert!(
        ours.per_tunnel <= BUDGET,
        "upgate holds {} bytes per stalled tunnel, budget {BUDGET}",
        ours.per_tunnel
    );
    assert!(
        ours.flooded_per_tunnel <= theirs.flooded_per_tunnel * 3 / 2 + (256 << 10),
        "the backend wrote {} bytes per stalled tunnel through upgate, {} through nginx: \
         upgate reads on while the client's write is blocked",
        ours.flooded_per_tunnel,
        theirs.flooded_per_tunnel
    );
}
