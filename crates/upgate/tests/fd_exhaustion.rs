//! Out of file descriptors, against nginx: each server runs with its
//! open-files limit lowered (prlimit) to a few above what it holds idle,
//! then gets more connections than that. Both must
//! - log `accept4() failed (24: Too many open files)`,
//! - not spin while the limit holds (nginx waits accept_mutex_delay before
//!   the next accept; upgate backs off likewise): little CPU in two seconds,
//! - answer a request that needs an upstream socket as nginx does (the
//!   socket() failure is nginx's 500, logged as such), on a connection
//!   accepted before,
//! - recover: once the client closes what was served, the connections
//!   queued in the backlog are accepted and answered, and a new one is too.
//!
//! nginx is required: the test fails, never skips, without it. Linux only
//! (/proc, prlimit from util-linux); every wait is bounded.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use common::TempDir;
use common::process::Running;

const NGINX: &str = "/usr/sbin/nginx";
/// Descriptors allowed above the idle count: the first connection and a
/// few more, fewer than the connections the test opens.
const HEADROOM: usize = 4;
/// Connections opened once the limit is in force.
const QUEUED: usize = 8;
const IO_LIMIT: Duration = Duration::from_secs(10);
/// CPU a server may use in the two seconds it is out of descriptors: a
/// busy accept loop would use all of them.
const CPU_WHILE_EXHAUSTED: Duration = Duration::from_millis(400);

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

fn config(dir: &Path, port: u16, backend: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {d}/body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   keepalive_timeout 60s;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=64;\n\
         \x20       location / {{ return 200 \"ok\\n\"; }}\n\
         \x20       location /up {{ proxy_pass http://127.0.0.1:{backend}; }}\n\
         \x20   }}\n\
         }}\n"
    )
}

/// An upstream that answers every request 200 (it is never reached while
/// the servers are out of descriptors).
async fn backend() -> u16 {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map_or(0, |a| a.port());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nup\n")
                    .await;
            });
        }
    });
    port
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
const GET_UP: &[u8] = b"GET /up HTTP/1.1\r\nHost: a\r\n\r\n";

/// Reads one response head and a `Content-Length` body; its status, or
/// `None` when the connection ended or `wait` passed first.
async fn response(s: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    return head.get(9..12).and_then(|c| c.parse().ok());
                }
            }
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    timeout(wait, read).await.ok().flatten()
}

async fn connect(port: u16) -> TcpStream {
    match timeout(IO_LIMIT, TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(s)) => s,
        other => panic!("connect to {port}: {other:?}"),
    }
}

/// What a server did out of descriptors.
#[derive(Debug)]
struct Outcome {
    logged: bool,
    cpu: Duration,
    /// The answer to a request needing an upstream socket.
    upstream_status: Option<u16>,
    /// `socket() failed (24: ...) while connecting to upstream` logged.
    socket_logged: bool,
    /// Queued connections answered after the first ones closed.
    recovered: usize,
    fresh_after: Option<u16>,
}

async fn exhaust(name: &'static str, binary: &Path, backend: u16) -> Outcome {
    let dir = TempDir::new(&format!("fd-exhaustion-{name}")).unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    std::fs::write(
        dir.path().join("nginx.conf"),
        config(dir.path(), port, backend),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let server = Running::start(name, binary, dir.path(), port, IO_LIMIT);

    let mut first = connect(port).await;
    first.write_all(GET).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response(&mut first, IO_LIMIT).await, Some(200), "{name}");
    server.limit_open_files(server.open_fds() + HEADROOM);

    let mut queued = Vec::new();
    for _ in 0..QUEUED {
        let mut s = connect(port).await;
        s.write_all(GET).await.unwrap_or_else(|e| panic!("{e}"));
        queued.push(s);
    }
    let end = Instant::now() + IO_LIMIT;
    while !server.error_log().contains("Too many open files") && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged = server
        .error_log()
        .lines()
        .any(|l| l.contains("accept") && l.contains("(24: Too many open files)"));

    let before = server.cpu();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = server.cpu().saturating_sub(before);

    // The connections accepted so far hold the last descriptors, so the
    // upstream socket cannot be had.
    first
        .write_all(GET_UP)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let upstream_status = response(&mut first, IO_LIMIT).await;
    drop(first);
    let socket_logged = server.error_log().lines().any(|l| {
        l.contains("socket() failed (24: Too many open files) while connecting to upstream")
    });

    // Close each connection once answered: that frees a descriptor for
    // the next one in the backlog.
    let mut recovered = 0;
    let end = Instant::now() + IO_LIMIT;
    while !queued.is_empty() && Instant::now() < end {
        let mut waiting = Vec::new();
        for mut s in queued {
            match response(&mut s, Duration::from_millis(200)).await {
                Some(200) => recovered += 1,
                _ => waiting.push(s),
            }
        }
        queued = waiting;
    }
    drop(queued);
    let mut fresh = connect(port).await;
    fresh.write_all(GET).await.unwrap_or_else(|e| panic!("{e}"));
    let fresh_after = response(&mut fresh, IO_LIMIT).await;
    Outcome {
        logged,
        cpu,
        upstream_status,
        socket_logged,
        recovered,
        fresh_after,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_backs_off_and_recovers_like_nginx() {
    let nginx = PathBuf::from(NGINX);
    assert!(
        nginx.is_file(),
        "install nginx (apt-get install nginx): no {NGINX}"
    );
    let backend = backend().await;
    let upgate = PathBuf::from(env!("CARGO_BIN_EXE_upgate"));
    let (theirs, ours) = tokio::join!(
        exhaust("nginx", &nginx, backend),
        exhaust("upgate", &upgate, backend)
    );
    eprintln!("nginx: {theirs:?}\nupgate: {ours:?}");
    for (name, o) in [("nginx", &theirs), ("upgate", &ours)] {
        assert!(o.logged, "{name} logged no accept() failure");
        assert!(
            o.cpu < CPU_WHILE_EXHAUSTED,
            "{name} used {:?} of CPU in 2 s out of descriptors",
            o.cpu
        );
        assert_eq!(o.recovered, QUEUED, "{name}: queued connections answered");
        assert_eq!(o.fresh_after, Some(200), "{name}: a new connection after");
        assert!(o.socket_logged, "{name} did not log the socket() failure");
    }
    assert_eq!(ours.upstream_status, theirs.upstream_status);
}
