//! Reload, stop and logs under load (issue 10, section 4), on the real
//! binary started as nginx-tests starts nginx (`-p DIR/ -c nginx.conf -e
//! error.log`, `daemon off; master_process off;`):
//!
//! 1. 1,000 WebSocket tunnels exchange messages while keepalive HTTP
//!    clients send requests;
//! 2. 10 SIGHUP reloads (changed `return` bodies, an added location each
//!    time, one broken configuration): no tunnel cut, no request failed,
//!    each good configuration answers new connections within a second, the
//!    broken one is refused with its `[emerg] ... in FILE:LINE` in the
//!    error log while the old one goes on serving;
//! 3. SIGQUIT: in-flight requests all complete, the process stays while
//!    tunnels live and exits once they end;
//! 4. with `worker_shutdown_timeout 2s`: a reload closes the old
//!    generation's tunnels 2 s later (the new one's stay), and SIGQUIT
//!    closes the rest at 2 s and exits.
//!
//! Every wait is bounded; listeners are on 127.0.0.1 with free ports; the
//! test kills only the process it started.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use common::process::Upgate;

const TUNNELS: usize = 1000;
const HTTP_CLIENTS: usize = 8;
/// One exchange (a request, an echo) may take this long.
const IO_LIMIT: Duration = Duration::from_secs(10);

struct Ports {
    http: u16,
    ws: u16,
    slow: u16,
}

/// Generation `n` of the configuration: `/` says `gen n`, and `/added-1`
/// .. `/added-n` exist.
fn config(dir: &Path, ports: &Ports, n: usize, shutdown_timeout: Option<&str>) -> String {
    let d = dir.display();
    let mut added = String::new();
    for k in 1..=n {
        added.push_str(&format!(
            "        location = /added-{k} {{ return 200 \"added {k}\\n\"; }}\n"
        ));
    }
    let timeout = shutdown_timeout
        .map(|t| format!("worker_shutdown_timeout {t};\n"))
        .unwrap_or_default();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 2;\nworker_rlimit_nofile 16384;\n\
         pid {d}/nginx.pid;\nerror_log {d}/error.log notice;\n{timeout}\
         events {{ worker_connections 8192; }}\n\
         http {{\n    access_log off;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         \x20   server {{\n        listen 127.0.0.1:{http};\n\
         \x20       location / {{ return 200 \"gen {n}\\n\"; }}\n\
         \x20       location /ws {{\n            proxy_pass http://127.0.0.1:{ws};\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Upgrade $http_upgrade;\n\
         \x20           proxy_set_header Connection $connection_upgrade;\n\
         \x20           proxy_read_timeout 1h;\n        }}\n\
         \x20       location /slow {{ proxy_pass http://127.0.0.1:{slow}; }}\n{added}    }}\n}}\n",
        http = ports.http,
        ws = ports.ws,
        slow = ports.slow,
    )
}

fn write_config(dir: &Path, text: &str) {
    if let Err(e) = std::fs::write(dir.join("nginx.conf"), text) {
        panic!("cannot write the configuration: {e}");
    }
}

/// An HTTP backend that answers every request 400 ms late (requests stay
/// in flight across a signal).
async fn slow_backend(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
            let body = "slow answer\n";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = reader.get_mut().write_all(resp.as_bytes()).await;
        });
    }
}

/// A keepalive HTTP/1.1 client connection.
struct Http {
    reader: BufReader<TcpStream>,
}

impl Http {
    async fn connect(port: u16) -> std::io::Result<Http> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        Ok(Http {
            reader: BufReader::new(s),
        })
    }

    /// GET `path`: (status, body).
    async fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        tokio::time::timeout(IO_LIMIT, async {
            self.reader.get_mut().write_all(req.as_bytes()).await?;
            let mut line = String::new();
            self.reader.read_line(&mut line).await?;
            let status: u16 = line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
            let mut length = 0usize;
            loop {
                line.clear();
                if self.reader.read_line(&mut line).await? == 0 {
                    return Err(std::io::Error::other("closed in the head"));
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            self.reader.read_exact(&mut body).await?;
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        })
        .await
        .map_err(|_| std::io::Error::other("timed out"))?
    }
}

/// One GET on a new connection.
async fn get_once(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    Http::connect(port).await?.get(path).await
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn open_tunnel(port: u16) -> Result<Ws, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (mut ws, _) = tokio::time::timeout(IO_LIMIT, tokio_tungstenite::client_async(url, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    echo(&mut ws, "hello").await?;
    Ok(ws)
}

async fn echo(ws: &mut Ws, text: &str) -> Result<(), String> {
    ws.send(Message::text(text.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(IO_LIMIT, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.as_str() == text => Ok(()),
        other => Err(format!("no echo: {other:?}")),
    }
}

async fn open_tunnels(port: u16, n: usize) -> Vec<Ws> {
    let mut out = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(100) {
        let batch = (chunk * 100..n.min((chunk + 1) * 100)).map(|_| open_tunnel(port));
        for r in futures_util::future::join_all(batch).await {
            match r {
                Ok(ws) => out.push(ws),
                Err(e) => panic!("tunnel {} failed to open: {e}", out.len()),
            }
        }
    }
    out
}

/// Exchanges a message every ~300 ms on each tunnel until `stop` turns
/// true, then closes it; counts tunnels that failed.
fn keep_talking(
    tunnels: Vec<Ws>,
    stop: watch::Receiver<bool>,
    cut: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    tunnels
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let mut stop = stop.clone();
            let cut = Arc::clone(&cut);
            tokio::spawn(async move {
                let mut n = 0u64;
                let first = Duration::from_millis((i % 300) as u64);
                tokio::time::sleep(first).await;
                loop {
                    n += 1;
                    if let Err(e) = echo(&mut ws, &format!("tunnel {i} message {n}")).await {
                        eprintln!("tunnel {i} cut: {e}");
                        cut.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                        _ = stop.changed() => {
                            let _ = ws.close(None).await;
                            return;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Keepalive clients sending `GET /` until `stop`; counts failed requests
/// and the requests made.
fn http_load(
    port: u16,
    stop: watch::Receiver<bool>,
    failed: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..HTTP_CLIENTS)
        .map(|c| {
            let mut stop = stop.clone();
            let failed = Arc::clone(&failed);
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let mut conn = match Http::connect(port).await {
                    Ok(h) => h,
                    Err(e) => {
                        eprintln!("http client {c}: {e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
                while !*stop.borrow_and_update() {
                    match conn.get("/").await {
                        Ok((200, body)) if body.starts_with("gen ") => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            eprintln!("http client {c}: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect()
}

fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("upgate-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(dir.join("logs")) {
        panic!("cannot create {}: {e}", dir.display());
    }
    Scratch(dir)
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

async fn backends() -> Ports {
    let ws = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let slow = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let ports = Ports {
        http: free_port(),
        ws: ws.local_addr().map(|a| a.port()).unwrap_or_default(),
        slow: slow.local_addr().map(|a| a.port()).unwrap_or_default(),
    };
    tokio::spawn(upgate_examples::websocket::serve(
        ws,
        upgate_examples::websocket::Mode::Echo,
    ));
    tokio::spawn(slow_backend(slow));
    ports
}

/// Polls new connections until `path` answers `want`; how long it took.
async fn in_force_within(port: u16, path: &str, want: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok((200, body)) = get_once(port, path).await
            && body == want
        {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

// See: #10
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_and_stops_under_load() {
    use nix::sys::signal::Signal;
    let test_start = Instant::now();
    raise_fd_limit();
    let dir = scratch("reload-load");
    let ports = backends().await;
    write_config(&dir.0, &config(&dir.0, &ports, 0, None));
    let mut up = Upgate::start(&dir.0);
    assert!(
        in_force_within(ports.http, "/", "gen 0\n", Duration::from_secs(5))
            .await
            .is_some(),
        "upgate does not answer: {}",
        up.error_log()
    );

    let tunnels = open_tunnels(ports.http, TUNNELS).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let cut = Arc::new(AtomicUsize::new(0));
    let talkers = keep_talking(tunnels, stop_rx.clone(), Arc::clone(&cut));
    let (http_stop_tx, http_stop_rx) = watch::channel(false);
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let loaders = http_load(
        ports.http,
        http_stop_rx,
        Arc::clone(&failed),
        Arc::clone(&done),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut in_force = Vec::new();
    let mut good = 0;
    for reload in 1..=10 {
        if reload == 6 {
            // A broken configuration: refused, the old one serves on.
            let broken = config(&dir.0, &ports, reload, None).replace(
                "access_log off;",
                "access_log off;\n    no_such_directive on;",
            );
            let broken_line = broken
                .lines()
                .position(|l| l.contains("no_such_directive"))
                .map_or(0, |i| i + 1);
            write_config(&dir.0, &broken);
            up.signal(Signal::SIGHUP);
            let end = Instant::now() + Duration::from_secs(5);
            while !up
                .error_log()
                .contains("unknown directive \"no_such_directive\"")
            {
                assert!(
                    Instant::now() < end,
                    "no [emerg] for the broken reload: {}",
                    up.error_log()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let log = up.error_log();
            let line = log
                .lines()
                .find(|l| l.contains("no_such_directive"))
                .unwrap_or_default();
            assert!(
                line.contains("[emerg]") && line.ends_with(&format!("nginx.conf:{broken_line}")),
                "the error log should say [emerg] ... in FILE:LINE: {line}"
            );
            let old = format!("gen {good}\n");
            assert_eq!(
                get_once(ports.http, "/").await.ok(),
                Some((200, old)),
                "the old configuration should go on serving"
            );
            continue;
        }
        write_config(&dir.0, &config(&dir.0, &ports, reload, None));
        up.signal(Signal::SIGHUP);
        let took = in_force_within(
            ports.http,
            &format!("/added-{reload}"),
            &format!("added {reload}\n"),
            Duration::from_secs(1),
        )
        .await;
        let Some(took) = took else {
            panic!(
                "reload {reload} not in force within 1 s: {}",
                up.error_log()
            );
        };
        assert_eq!(
            get_once(ports.http, "/").await.ok(),
            Some((200, format!("gen {reload}\n")))
        );
        in_force.push(took);
        good = reload;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = http_stop_tx.send(true);
    for l in loaders {
        let _ = l.await;
    }
    assert_eq!(
        cut.load(Ordering::Relaxed),
        0,
        "tunnels were cut by the reloads"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the reloads"
    );
    assert!(done.load(Ordering::Relaxed) > 100, "too few requests made");
    let slowest = in_force.iter().max().copied().unwrap_or_default();
    eprintln!(
        "10 reloads: {} tunnels alive, {} requests, 0 failed; slowest reload in force after {slowest:?}",
        TUNNELS,
        done.load(Ordering::Relaxed)
    );

    // SIGQUIT with requests in flight: all complete; the process waits for
    // the tunnels, then exits.
    let in_flight: Vec<_> = (0..20)
        .map(|_| tokio::spawn(get_once(ports.http, "/slow")))
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    up.signal(Signal::SIGQUIT);
    for r in in_flight {
        match r.await {
            Ok(Ok((200, body))) => assert_eq!(body, "slow answer\n"),
            other => panic!("an in-flight request was lost at SIGQUIT: {other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!up.exited(), "upgate exited while tunnels were live");
    assert_eq!(cut.load(Ordering::Relaxed), 0, "SIGQUIT cut live tunnels");
    assert!(
        get_once(ports.http, "/").await.is_err(),
        "new connections are accepted after SIGQUIT"
    );
    let _ = stop_tx.send(true);
    for t in talkers {
        let _ = t.await;
    }
    let Some(took) = up.wait_exit(Duration::from_secs(5)).await else {
        panic!(
            "upgate did not exit once the tunnels ended: {}",
            up.error_log()
        );
    };
    eprintln!("SIGQUIT: exited {took:?} after the last tunnel closed");
    assert!(
        !dir.0.join("nginx.pid").exists(),
        "the pid file is left behind"
    );
    drop(up);

    // worker_shutdown_timeout 2s: a reload closes the old generation's
    // tunnels 2 s later; SIGQUIT closes the rest at 2 s and exits.
    write_config(&dir.0, &config(&dir.0, &ports, 0, Some("2s")));
    let up = Upgate::start(&dir.0);
    let mut up = up;
    assert!(
        in_force_within(ports.http, "/", "gen 0\n", Duration::from_secs(5))
            .await
            .is_some()
    );
    let old = open_tunnels(ports.http, 100).await;
    write_config(&dir.0, &config(&dir.0, &ports, 1, Some("2s")));
    let reloaded = Instant::now();
    up.signal(Signal::SIGHUP);
    assert!(
        in_force_within(ports.http, "/", "gen 1\n", Duration::from_secs(1))
            .await
            .is_some()
    );
    let new = open_tunnels(ports.http, 100).await;
    let closed_at = |tunnels: Vec<Ws>, from: Instant| {
        tunnels
            .into_iter()
            .map(move |mut ws| {
                tokio::spawn(async move {
                    // Read until the tunnel ends (bounded).
                    let _ = tokio::time::timeout(Duration::from_secs(8), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    from.elapsed()
                })
            })
            .collect::<Vec<_>>()
    };
    for t in closed_at(old, reloaded) {
        let at = t.await.unwrap_or_default();
        assert!(
            at >= Duration::from_millis(1800) && at < Duration::from_millis(3500),
            "an old-generation tunnel closed {at:?} after the reload (want ~2 s)"
        );
    }
    let mut new = new;
    for ws in &mut new {
        assert!(
            echo(ws, "still here").await.is_ok(),
            "a new-generation tunnel was closed"
        );
    }
    let quit = Instant::now();
    up.signal(Signal::SIGQUIT);
    for t in closed_at(new, quit) {
        let at = t.await.unwrap_or_default();
        assert!(
            at >= Duration::from_millis(1800) && at < Duration::from_millis(3500),
            "a tunnel closed {at:?} after SIGQUIT (want ~2 s)"
        );
    }
    let Some(_) = up.wait_exit(Duration::from_secs(3)).await else {
        panic!("upgate did not exit after worker_shutdown_timeout");
    };
    let exit = quit.elapsed();
    assert!(
        exit < Duration::from_millis(3500),
        "exited {exit:?} after SIGQUIT"
    );
    eprintln!(
        "worker_shutdown_timeout 2s: exited {exit:?} after SIGQUIT; whole test {:?}",
        test_start.elapsed()
    );
}
