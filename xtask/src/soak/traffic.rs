//! The soak's traffic, all in this process on 127.0.0.1: the backends (a
//! WebSocket echo that stays up, and an HTTP server and a second echo that
//! are restarted on the same ports now and then), the tunnels (each sends
//! a message every period and checks its echo; one that ends is opened
//! again and counted) and the HTTP load (keepalive clients with a request
//! every few milliseconds, reconnecting when the server closes).
//! Everything stops when the `stop` watch turns true; every connect, read
//! and echo is bounded by [`IO_LIMIT`].

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::bench::load::{IO_LIMIT, open_ws, tcp};

/// What the traffic did so far; read by the sampler.
#[derive(Debug, Default)]
pub struct Counters {
    /// Tunnels open now (both kinds).
    pub open: AtomicU64,
    /// Echoes that came back equal to what was sent.
    pub messages: AtomicU64,
    /// Echoes that came back different.
    pub mismatches: AtomicU64,
    /// Steady tunnels that ended (their backend never restarts: none should).
    pub dropped: AtomicU64,
    /// Churn tunnels opened again after their backend's restart.
    pub reopened: AtomicU64,
    /// Opens that failed (retried a second later).
    pub open_failures: AtomicU64,
    pub http_ok: AtomicU64,
    /// 502s while the HTTP backend was down for its restart.
    pub http_restart_502: AtomicU64,
    /// Any other answer, or none.
    pub http_errors: AtomicU64,
    /// Keepalive connections the server closed (a reload's old worker).
    pub http_reconnects: AtomicU64,
    /// Milliseconds since the soak began until which a 502 is expected.
    pub restart_until_ms: AtomicU64,
}

/// A copy of the counters, for a sample and the summary.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub open: u64,
    pub messages: u64,
    pub mismatches: u64,
    pub dropped: u64,
    pub reopened: u64,
    pub open_failures: u64,
    pub http_ok: u64,
    pub http_restart_502: u64,
    pub http_errors: u64,
    pub http_reconnects: u64,
}

impl Counters {
    pub fn read(&self) -> Counts {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            open: r(&self.open),
            messages: r(&self.messages),
            mismatches: r(&self.mismatches),
            dropped: r(&self.dropped),
            reopened: r(&self.reopened),
            open_failures: r(&self.open_failures),
            http_ok: r(&self.http_ok),
            http_restart_502: r(&self.http_restart_502),
            http_errors: r(&self.http_errors),
            http_reconnects: r(&self.http_reconnects),
        }
    }
}

fn add(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// Binds 127.0.0.1:`port` (0: the kernel's choice) with SO_REUSEADDR, so
/// that a restarted backend gets its port back at once.
pub fn bind(port: u16) -> Result<TcpListener, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.set_reuseaddr(true).map_err(|e| e.to_string())?;
    socket
        .bind(([127, 0, 0, 1], port).into())
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    socket.listen(4096).map_err(|e| e.to_string())
}

pub fn port_of(listener: &TcpListener) -> Result<u16, String> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Which restartable backend.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Http,
    Echo,
}

/// A backend serving until its `down` watch turns true; every connection
/// it accepted closes then too (as when the process behind it dies).
pub struct Restartable {
    kind: Kind,
    pub port: u16,
    down: watch::Sender<bool>,
}

impl Restartable {
    pub fn start(kind: Kind, port: u16) -> Result<Restartable, String> {
        let listener = bind(port)?;
        let port = port_of(&listener)?;
        let (down, rx) = watch::channel(false);
        tokio::spawn(serve(kind, listener, rx));
        Ok(Restartable { kind, port, down })
    }

    /// Down for `pause`, then up again on the same port.
    pub async fn restart(&mut self, pause: Duration) -> Result<(), String> {
        let _ = self.down.send(true);
        tokio::time::sleep(pause).await;
        *self = Restartable::start(self.kind, self.port)?;
        Ok(())
    }
}

async fn serve(kind: Kind, listener: TcpListener, mut down: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = down.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let mut down = down.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = connection(kind, stream) => {}
                _ = down.changed() => {}
            }
        });
    }
}

async fn connection(kind: Kind, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    match kind {
        Kind::Http => {
            let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"soak\n"))))
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
        Kind::Echo => {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(m)) = ws.next().await {
                if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// How one tunnel task behaves.
#[derive(Debug, Clone)]
pub struct TunnelPlan {
    pub port: u16,
    pub path: &'static str,
    pub id: u64,
    /// Whether its backend restarts (an end is then expected).
    pub churn: bool,
    pub period: Duration,
}

/// A tunnel for the whole soak: opened (at most `opening` at once), a
/// message every period (the first one spread by the id over a period),
/// opened again when it ends.
pub async fn tunnel(
    plan: TunnelPlan,
    counters: Arc<Counters>,
    opening: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let spread = plan.period.mul_f64((plan.id % 1000) as f64 / 1000.0);
    let mut first = true;
    let mut sent = 0u64;
    while !*stop.borrow() {
        let ws = {
            let Ok(_permit) = opening.acquire().await else {
                return;
            };
            open_ws(plan.port, plan.path).await
        };
        let mut ws = match ws {
            Ok(ws) => ws,
            Err(_) => {
                add(&counters.open_failures);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        counters.open.fetch_add(1, Ordering::Relaxed);
        if !first {
            add(if plan.churn {
                &counters.reopened
            } else {
                &counters.dropped
            });
        }
        first = false;
        let mut wait = spread;
        let ended_by_stop = loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break true,
            }
            wait = plan.period;
            sent += 1;
            let text = format!("soak {} {sent}", plan.id);
            if ws.send(Message::text(text.clone())).await.is_err() {
                break false;
            }
            match tokio::time::timeout(IO_LIMIT, next_data(&mut ws)).await {
                Ok(Some(Message::Text(t))) if t.as_str() == text => add(&counters.messages),
                Ok(Some(_)) => add(&counters.mismatches),
                Ok(None) | Err(_) => break false,
            }
        };
        counters.open.fetch_sub(1, Ordering::Relaxed);
        if ended_by_stop {
            let _ = ws.close(None).await;
            return;
        }
    }
}

/// The next text or binary message (pings and pongs skipped); `None` when
/// the tunnel ended.
async fn next_data<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Option<Message>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await? {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => return Some(m),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// One keepalive HTTP client: `GET path` every `gap`, a new connection
/// whenever the server closes the old one.
pub async fn http_client(
    port: u16,
    path: &'static str,
    gap: Duration,
    began: Instant,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n").into_bytes();
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    while !*stop.borrow() {
        let mut s = match conn.take() {
            Some(s) => s,
            None => match tcp(port).await {
                Ok(s) => s,
                Err(_) => {
                    add(&counters.http_errors);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let answer = async {
            s.write_all(&request).await.ok()?;
            read_response(&mut s, &mut buf).await
        };
        match tokio::time::timeout(IO_LIMIT, answer).await {
            Ok(Some((status, keep))) => {
                let now_ms = began.elapsed().as_millis() as u64;
                match status {
                    200 => add(&counters.http_ok),
                    502 if now_ms <= counters.restart_until_ms.load(Ordering::Relaxed) => {
                        add(&counters.http_restart_502)
                    }
                    _ => add(&counters.http_errors),
                }
                if keep {
                    conn = Some(s);
                } else {
                    add(&counters.http_reconnects);
                }
            }
            // The server closed the idle keepalive connection (an old
            // worker after a reload): not an error, the request goes again.
            Ok(None) => add(&counters.http_reconnects),
            Err(_) => add(&counters.http_errors),
        }
        tokio::select! {
            () = tokio::time::sleep(gap) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Reads one response with a Content-Length body: its status and whether
/// the connection stays open; `None` when it closed first.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u16, bool)> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head.get(9..12)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let keep = !head.contains("connection: close");
            while buf.len() < end + 4 + length {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((status, keep));
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
