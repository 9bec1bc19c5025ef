//! Misbehaving backends against nginx: a fault-injecting backend (the
//! request's last path segment names the fault) behind nginx and behind
//! upgate (announcing itself as that nginx), each with the same
//! configuration, and what the client saw compared: the status line, the
//! body, `$upstream_status` (sent back in a header) and how the connection
//! ended.
//!
//! Each fault is tried twice:
//! - alone (`/one/FAULT`, a single peer): nginx's 502 or 504, a truncated
//!   response, a tunnel that ends;
//! - as the first peer of an upstream with a healthy second one and
//!   `max_fails=1` (`/pair_FAULT/FAULT`, three requests): whether the fault
//!   is retried on the healthy peer (proxy_next_upstream's default `error
//!   timeout`) and whether it marks the peer failed, so that the next
//!   requests go to the healthy peer only.
//!
//! Two answers differ from nginx's on purpose (docs/security.md):
//! - a backend line that is no status line is upgate's 502 (and, being an
//!   invalid header, marks the peer failed); nginx passes the bytes on as an
//!   HTTP/0.9 answer;
//! - a Content-Length body reset half way: both send the head and close
//!   short of the length; upgate forwards the body bytes that arrived first
//!   (as nginx does with proxy_buffering off), nginx's buffer holds them.
//!
//! Afterwards upgate holds no client connection, no task and no descriptor
//! more than before the faults (every buffer belongs to a task).
//!
//! nginx is required: the test fails, never skips, without it.

mod serve_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serve_support::{Nginx, Upgate, free_port, nginx_version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest a request waits for the server to end the connection.
const GIVE_UP: Duration = Duration::from_secs(8);

/// What the backend does after reading a request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Nothing listens on the peer's port.
    Refused,
    /// Resets the connection (SO_LINGER 0) before writing anything.
    ResetBeforeHead,
    /// Writes half a head, then resets.
    ResetMidHead,
    /// Writes half a head, then closes in order.
    CloseMidHead,
    /// A line that is no status line, then closes.
    Garbage,
    /// A 64 KiB header line, more than proxy_buffer_size.
    HugeHeader,
    /// Writes nothing for longer than proxy_read_timeout.
    Stall,
    /// A whole response, one byte every 100 ms (each read re-arms
    /// proxy_read_timeout).
    SlowDrip,
    /// The head and 10 of 100 body bytes, then resets.
    ResetMidBody,
    /// A chunked head and one chunk, then resets: the client must not get
    /// a last chunk that would make the body look whole.
    ResetMidChunks,
    /// Answers 101 to an Upgrade request, then closes.
    UpgradeThenClose,
}

const FAULTS: [Fault; 11] = [
    Fault::Refused,
    Fault::ResetBeforeHead,
    Fault::ResetMidHead,
    Fault::CloseMidHead,
    Fault::Garbage,
    Fault::HugeHeader,
    Fault::Stall,
    Fault::SlowDrip,
    Fault::ResetMidBody,
    Fault::ResetMidChunks,
    Fault::UpgradeThenClose,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Refused => "refused",
            Fault::ResetBeforeHead => "reset_before_head",
            Fault::ResetMidHead => "reset_mid_head",
            Fault::CloseMidHead => "close_mid_head",
            Fault::Garbage => "garbage",
            Fault::HugeHeader => "huge_header",
            Fault::Stall => "stall",
            Fault::SlowDrip => "slow_drip",
            Fault::ResetMidBody => "reset_mid_body",
            Fault::ResetMidChunks => "reset_mid_chunks",
            Fault::UpgradeThenClose => "upgrade_then_close",
        }
    }

    fn from_path(path: &str) -> Option<Fault> {
        let last = path.rsplit('/').next()?;
        FAULTS.into_iter().find(|f| f.name() == last)
    }
}

/// Reads a request head; `None` when the client went away first.
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(GIVE_UP, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Closes with an RST (SO_LINGER 0), as a crashed backend's kernel does.
fn reset(s: TcpStream) {
    #[allow(deprecated)] // blocks on drop only with a non-zero linger
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

async fn misbehave(mut s: TcpStream) {
    let Some(head) = read_head(&mut s).await else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or_default();
    let Some(fault) = Fault::from_path(path) else {
        let _ = s
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ndripped\n";
    match fault {
        Fault::Refused => {}
        Fault::ResetBeforeHead => reset(s),
        Fault::ResetMidHead => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            reset(s);
        }
        Fault::CloseMidHead => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        }
        Fault::Garbage => {
            let _ = s.write_all(b"garbage from the backend\r\n\r\n").await;
        }
        Fault::HugeHeader => {
            let mut answer = b"HTTP/1.1 200 OK\r\nX-Huge: ".to_vec();
            answer.resize(answer.len() + 64 * 1024, b'h');
            answer.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            let _ = s.write_all(&answer).await;
        }
        Fault::Stall => tokio::time::sleep(Duration::from_secs(3)).await,
        Fault::SlowDrip => {
            for b in ok.chunks(1) {
                if s.write_all(b).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Fault::ResetMidBody => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            reset(s);
        }
        Fault::ResetMidChunks => {
            let _ = s
                .write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n",
                )
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            reset(s);
        }
        Fault::UpgradeThenClose => {
            let _ = s
                .write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                )
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Serves `handle` on every connection of a new 127.0.0.1 listener.
async fn backend<F, Fut>(handle: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map_or(0, |a| a.port());
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(handle(s));
        }
    });
    port
}

async fn healthy(mut s: TcpStream) {
    while read_head(&mut s).await.is_some() {
        let answer =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nhealthy\n";
        if s.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// The configuration, for a fault backend on `fault`.
fn conf(port: u16, fault: u16, dead: u16, good: u16) -> String {
    let peer = |f: Fault| if f == Fault::Refused { dead } else { fault };
    let mut upstreams = String::new();
    let mut locations =
        format!("        location /healthy {{ proxy_pass http://127.0.0.1:{good}; }}\n");
    for f in FAULTS {
        let name = f.name();
        upstreams.push_str(&format!(
            "    upstream pair_{name} {{\n        server 127.0.0.1:{} max_fails=1 fail_timeout=30s;\n        server 127.0.0.1:{good};\n    }}\n",
            peer(f)
        ));
        locations.push_str(&format!(
            "        location /one/{name} {{ proxy_pass http://127.0.0.1:{}; }}\n        location /pair_{name}/ {{ proxy_pass http://pair_{name}; }}\n",
            peer(f)
        ));
    }
    format!(
        "events {{}}\nhttp {{\n    access_log off;\n    proxy_read_timeout 1s;\n    proxy_http_version 1.1;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         \x20   proxy_set_header Upgrade $http_upgrade;\n\
         \x20   proxy_set_header Connection $connection_upgrade;\n\
         \x20   add_header X-Upstream-Status $upstream_status always;\n\
         {upstreams}    server {{\n        listen 127.0.0.1:{port};\n{locations}    }}\n}}\n"
    )
}

/// How the connection ended for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Closed,
    Reset,
    /// Still open at [`GIVE_UP`].
    Open,
}

/// What the client saw, in the terms compared.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    status_line: String,
    upstream_status: Option<String>,
    body: Vec<u8>,
    end: End,
}

fn seen(received: &[u8], end: End) -> Seen {
    let split = received.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(n) => (&received[..n], received[n + 4..].to_vec()),
        None => (received, Vec::new()),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let upstream_status = lines.find_map(|l| {
        l.strip_prefix("X-Upstream-Status: ")
            .or_else(|| l.strip_prefix("x-upstream-status: "))
            .map(str::to_string)
    });
    Seen {
        status_line,
        upstream_status,
        body,
        end,
    }
}

/// Sends `request` on a new connection and reads until the server ends
/// it or [`GIVE_UP`].
async fn ask(port: u16, request: &[u8]) -> Seen {
    let mut s = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => s,
        Err(e) => panic!("connect {port}: {e}"),
    };
    if let Err(e) = s.write_all(request).await {
        panic!("write: {e}");
    }
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let until = tokio::time::Instant::now() + GIVE_UP;
    let end = loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Err(_) => break End::Open,
            Ok(Ok(0)) => break End::Closed,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break End::Reset,
            Ok(Err(e)) => panic!("read: {e}"),
        }
    };
    seen(&received, end)
}

fn request(path: &str, fault: Fault) -> Vec<u8> {
    let upgrade = if fault == Fault::UpgradeThenClose {
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    } else {
        "Connection: close\r\n"
    };
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n{upgrade}\r\n").into_bytes()
}

/// upgate's answer is nginx's, or the deliberate difference the module's
/// doc names; `turn` counts the requests of a pair (0 alone).
fn compare(f: Fault, theirs: &Seen, ours: &Seen, turn: usize) -> Result<(), String> {
    let differ = || Err(format!("nginx {theirs:?}\n upgate {ours:?}"));
    match f {
        _ if theirs == ours => Ok(()),
        Fault::Garbage => {
            // the first and third requests of a pair reach the fault (the
            // peer marked failed only in upgate keeps the third away)
            let want = match turn {
                0 => ("HTTP/1.1 502 Bad Gateway", "502"),
                _ => ("HTTP/1.1 200 OK", "200"),
            };
            let got = (ours.status_line.as_str(), ours.upstream_status.as_deref());
            if got != (want.0, Some(want.1)) || ours.end != End::Closed {
                return differ();
            }
            Ok(())
        }
        Fault::ResetMidBody => {
            let short = |s: &Seen| b"0123456789".starts_with(&s.body);
            let head = |s: &Seen| (s.status_line.clone(), s.upstream_status.clone(), s.end);
            if head(theirs) != head(ours) || !short(theirs) || !short(ours) {
                return differ();
            }
            Ok(())
        }
        _ => differ(),
    }
}

/// This process's open descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_faults_end_as_with_nginx_and_leak_nothing() {
    let good = backend(healthy).await;
    let dead = free_port();
    let (nginx_fault, upgate_fault) = (backend(misbehave).await, backend(misbehave).await);
    let (nginx_port, upgate_port) = (free_port(), free_port());
    let nginx = Nginx::start(&conf(nginx_port, nginx_fault, dead, good), &[nginx_port]);
    let upgate = Upgate::start_as(
        &conf(upgate_port, upgate_fault, dead, good),
        "nginx",
        &nginx_version(),
    );
    // A first request through, so that what upgate makes once is made.
    let warm = ask(upgate_port, &request("/healthy", Fault::Stall)).await;
    assert_eq!(warm.status_line, "HTTP/1.1 200 OK", "{warm:?}");
    let (tasks_before, fds_before) = (alive_tasks(), open_fds());

    // Each fault alone, all at once.
    let alone = FAULTS.map(|f| async move {
        let req = request(&format!("/one/{}", f.name()), f);
        let (theirs, ours) = tokio::join!(ask(nginx_port, &req), ask(upgate_port, &req));
        (f, theirs, ours)
    });
    let mut mismatches = Vec::new();
    for (f, theirs, ours) in futures_util::future::join_all(alone).await {
        eprintln!(
            "alone {:<20} nginx {theirs:?}\n{:27} upgate {ours:?}",
            f.name(),
            ""
        );
        if let Err(e) = compare(f, &theirs, &ours, 0) {
            mismatches.push(format!("{}: {e}", f.name()));
        }
    }

    // Each fault as the first of two peers: three requests in turn.
    let pairs = FAULTS.map(|f| async move {
        let path = format!("/pair_{0}/{0}", f.name());
        let mut both = Vec::new();
        for _ in 0..3 {
            let req = request(&path, f);
            both.push(tokio::join!(ask(nginx_port, &req), ask(upgate_port, &req)));
        }
        (f, both)
    });
    for (f, both) in futures_util::future::join_all(pairs).await {
        for (i, (theirs, ours)) in both.into_iter().enumerate() {
            eprintln!(
                "pair  {:<20} #{i} nginx {:?} {:?} / upgate {:?} {:?}",
                f.name(),
                theirs.status_line,
                theirs.upstream_status,
                ours.status_line,
                ours.upstream_status
            );
            if let Err(e) = compare(f, &theirs, &ours, i) {
                mismatches.push(format!("pair {} request {i}: {e}", f.name()));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // Nothing left behind: connections, tasks, descriptors.
    let end = Instant::now() + Duration::from_secs(5);
    while (upgate.live_connections() > 0 || alive_tasks() > tasks_before || open_fds() > fds_before)
        && Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upgate.live_connections(), 0, "client connections left open");
    assert!(
        alive_tasks() <= tasks_before,
        "{} tasks alive, {tasks_before} before",
        alive_tasks()
    );
    assert!(
        open_fds() <= fds_before,
        "{} descriptors open, {fds_before} before",
        open_fds()
    );
    drop(nginx);
}
