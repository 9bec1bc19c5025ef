//! `cargo xtask bench access`: what access control costs, upgate against
//! Debian's nginx from the same configuration text (`worker_processes 1`,
//! `master_process off`): HTTP GET requests per second over keepalive
//! connections and WebSocket handshakes per second (a new connection
//! each), through a location without access control and through one with
//! `allow`/`deny`, a `limit_req` zone (a rate no client reaches) and
//! `auth_basic` (an `$apr1$` user, htpasswd's default scheme; the file is
//! read on every request, as nginx does). Backends in this process: a
//! keepalive HTTP one and the WebSocket echo of examples/backends.
//!
//! Medians of alternating runs (each on a fresh server), printed as a
//! Markdown table `metric | upgate | nginx | ratio`; the goal is a ratio of
//! at least 1.0x on every row. Options: `--runs N` (3), `--seconds S` (5),
//! `--conns N` (50), `--pin` (servers on CPU 0, clients on the others; see
//! bench tls).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::bench_tls::{
    Options, Server, block_on, free_port, name, prepare, print_run, print_table, rerun_optimized,
    write,
};
use crate::bench_tls_load::Rate;

/// `alice:password` as htpasswd -m writes it (`$apr1$`).
const HTPASSWD: &str = "alice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n";
/// `Authorization: Basic alice:password`.
const AUTHORIZATION: &str = "Basic YWxpY2U6cGFzc3dvcmQ=";

const ROWS: [&str; 4] = [
    "HTTP GET keepalive, no access control, requests/s",
    "HTTP GET keepalive, allow/deny + limit_req + auth_basic, requests/s",
    "WebSocket handshakes, no access control, /s",
    "WebSocket handshakes, allow/deny + limit_req + auth_basic, /s",
];

pub fn run(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if cfg!(debug_assertions) {
        return rerun_optimized(&root, "access", args);
    }
    let options = Options {
        pin: false,
        runs: 3,
        seconds: 5,
        tunnels: 0,
        conns: 50,
    }
    .parse("access", args, false)?;
    let (binaries, work) = prepare(&root, "access", &options, 8192)?;
    write(&work.join("htpasswd"), HTPASSWD)?;
    let result = block_on(bench(&work, &binaries, &options));
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The configuration both servers run, byte for byte.
fn config(work: &Path, port: u16, http: u16, ws: u16) -> String {
    let w = work.display();
    let guard = format!(
        "allow 127.0.0.0/8;\n            deny all;\n\
         \x20           limit_req zone=bench burst=1000 nodelay;\n\
         \x20           auth_basic \"bench\";\n            auth_basic_user_file {w}/htpasswd;"
    );
    let ws_location = |path: &str, extra: &str| {
        format!(
            "        location {path} {{\n            {extra}\n\
             \x20           proxy_pass http://127.0.0.1:{ws};\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_set_header Upgrade $http_upgrade;\n\
             \x20           proxy_set_header Connection $connection_upgrade;\n\
             \x20           proxy_read_timeout 1h;\n        }}\n"
        )
    };
    let http_location = |path: &str, extra: &str| {
        format!(
            "        location {path} {{\n            {extra}\n\
             \x20           proxy_pass http://backend;\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_set_header Connection \"\";\n        }}\n"
        )
    };
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile 8192;\n\
         pid logs/nginx.pid;\nerror_log logs/error.log error;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n    access_log off;\n    keepalive_requests 100000000;\n\
         \x20   client_body_temp_path tmp/body;\n    proxy_temp_path tmp/proxy;\n\
         \x20   fastcgi_temp_path tmp/fastcgi;\n    uwsgi_temp_path tmp/uwsgi;\n\
         \x20   scgi_temp_path tmp/scgi;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         \x20   limit_req_zone $binary_remote_addr zone=bench:1m rate=1000000r/s;\n\
         \x20   upstream backend {{ server 127.0.0.1:{http}; keepalive 64; }}\n\
         \x20   server {{\n        listen 127.0.0.1:{port};\n\
         {}{}{}{}    }}\n}}\n",
        http_location("/plain", ""),
        http_location("/guarded", &guard),
        ws_location("/ws-plain", ""),
        ws_location("/ws-guarded", &guard),
    )
}

/// A keepalive HTTP backend: every request head gets a 2-byte answer.
async fn http_backend(listener: TcpListener) {
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    while let Ok((mut s, _)) = listener.accept().await {
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            let mut have = 0;
            loop {
                let Ok(n) = s.read(&mut buf[have..]).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                have += n;
                let mut answers = 0;
                let mut start = 0;
                while let Some(end) = find(&buf[start..have], b"\r\n\r\n") {
                    start += end + 4;
                    answers += 1;
                }
                buf.copy_within(start..have, 0);
                have -= start;
                for _ in 0..answers {
                    if s.write_all(RESPONSE).await.is_err() {
                        return;
                    }
                }
                if have == buf.len() {
                    return;
                }
            }
        });
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `conns` keepalive connections sending GET `path` one after another for
/// `duration`: 200 responses per second.
async fn http_load(port: u16, path: &str, conns: usize, duration: Duration) -> Rate {
    let request = Arc::new(
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTHORIZATION}\r\n\r\n")
            .into_bytes(),
    );
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (request, done, errors) = (request.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 16 * 1024];
            while Instant::now() < deadline {
                if s.write_all(&request).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                match read_response(&mut s, &mut buf).await {
                    Some(200) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Rate {
        per_second: done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Reads one response with a Content-Length body: its status.
async fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> Option<u16> {
    let mut have = 0;
    let head_end = loop {
        if let Some(i) = find(&buf[..have], b"\r\n\r\n") {
            break i + 4;
        }
        if have == buf.len() {
            return None;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf[have..]))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = have - head_end;
    while body < length {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        body += n;
    }
    Some(status)
}

/// `conns` clients doing connect + WebSocket handshake (101) + close for
/// `duration`.
async fn handshake_load(port: u16, path: &str, conns: usize, duration: Duration) -> Rate {
    let request = Arc::new(
        format!(
            "GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTHORIZATION}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes(),
    );
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (request, done, errors) = (request.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while Instant::now() < deadline {
                let ok = async {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
                    s.write_all(&request).await.ok()?;
                    let mut have = 0;
                    while find(&buf[..have], b"\r\n\r\n").is_none() {
                        let n =
                            tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf[have..]))
                                .await
                                .ok()?
                                .ok()?;
                        if n == 0 || have + n == buf.len() {
                            return None;
                        }
                        have += n;
                    }
                    buf.starts_with(b"HTTP/1.1 101").then_some(())
                }
                .await;
                if ok.is_some() {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Rate {
        per_second: done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        errors: errors.load(Ordering::Relaxed),
    }
}

async fn bench(work: &Path, binaries: &[PathBuf; 2], options: &Options) -> Result<(), String> {
    let http = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let http_port = http.local_addr().map_err(|e| e.to_string())?.port();
    tokio::spawn(http_backend(http));
    let ws = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let ws_port = ws.local_addr().map_err(|e| e.to_string())?.port();
    tokio::spawn(upgate_examples::websocket::serve(
        ws,
        upgate_examples::websocket::Mode::Echo,
    ));
    println!(
        "bench access: {} runs, {} s per load, {} connections; nginx {} and upgate {}, \
         worker_processes 1 each{}",
        options.runs,
        options.seconds,
        options.conns,
        binaries[0].display(),
        binaries[1].display(),
        if options.pin {
            ", servers pinned to CPU 0, clients to the others"
        } else {
            ""
        }
    );
    let duration = Duration::from_secs(options.seconds);
    let mut figures: [Vec<[f64; ROWS.len()]>; 2] = [Vec::new(), Vec::new()];
    for run in 0..options.runs {
        for (which, binary) in binaries.iter().enumerate() {
            let port = free_port()?;
            let prefix = work.join(format!("run{run}-{which}"));
            let conf = config(work, port, http_port, ws_port);
            let mut server = Server::start(binary, &prefix, &conf, &[port], options.pin)?;
            let rates = [
                http_load(port, "/plain", options.conns, duration).await,
                http_load(port, "/guarded", options.conns, duration).await,
                handshake_load(port, "/ws-plain", options.conns, duration).await,
                handshake_load(port, "/ws-guarded", options.conns, duration).await,
            ];
            if !server.alive() {
                return Err(format!(
                    "{} died during the run: {}",
                    binary.display(),
                    server.error_log()
                ));
            }
            for (row, rate) in ROWS.iter().zip(&rates) {
                if rate.errors > 0 {
                    println!("  note: {}: {row}: {} failed", name(which), rate.errors);
                }
            }
            let f = rates.map(|r| r.per_second);
            print_run(run, which, &f);
            figures[which].push(f);
            drop(server);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    print_table(&ROWS, &figures);
    Ok(())
}
