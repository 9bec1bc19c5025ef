//! Our WebSocket load tool (wrk does HTTP): closed-loop clients in the
//! bench process, over plain TCP or TLS alike. Three shapes:
//!
//! - [`repeat`]: `conns` clients repeating one attempt (a WebSocket
//!   handshake, a TLS handshake) for a fixed time;
//! - [`echo`]: open WebSockets, each sending a message and waiting for its
//!   echo, for a fixed time;
//! - [`open_many`]: tunnels opened and held (idle-tunnel memory).
//!
//! Every success's round trip goes into a [`Histogram`] (p50/p99). Every
//! connect, handshake and echo is bounded by [`IO_LIMIT`], and every load
//! by its duration plus that limit: a stuck server makes errors, not a
//! hung bench.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::report::Sample;
use super::stats::Histogram;

/// One connect, handshake or echo may take this long.
pub const IO_LIMIT: Duration = Duration::from_secs(10);

/// What a timed load produced.
#[derive(Debug, Clone, Default)]
pub struct Load {
    pub done: u64,
    pub errors: u64,
    pub seconds: f64,
    pub latency: Histogram,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.done as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn sample(&self) -> Sample {
        Sample {
            value: self.per_second(),
            p50_ms: self.latency.quantile_ms(0.5),
            p99_ms: self.latency.quantile_ms(0.99),
        }
    }

    fn add(&mut self, other: &Load) {
        self.done += other.done;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
    }
}

/// A loopback connection that closes with a reset (SO_LINGER 0), so that
/// tens of thousands of handshakes leave no TIME_WAIT to exhaust the
/// ephemeral ports, and sends small writes at once (no Nagle).
pub async fn tcp(port: u16) -> std::io::Result<TcpStream> {
    let s = tokio::time::timeout(IO_LIMIT, TcpStream::connect(("127.0.0.1", port)))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    s.set_zero_linger()?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// `conns` clients each repeating `attempt` (true: it succeeded) for
/// `duration`; a failure waits 10 ms, so that a refusing server is not
/// spun on.
pub async fn repeat<F, Fut>(conns: usize, duration: Duration, attempt: F) -> Load
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let tasks = (0..conns)
        .map(|_| {
            let attempt = attempt.clone();
            tokio::spawn(async move {
                let mut load = Load::default();
                while Instant::now() < deadline {
                    let began = Instant::now();
                    if tokio::time::timeout(IO_LIMIT, attempt()).await == Ok(true) {
                        load.done += 1;
                        load.latency.record(began.elapsed());
                    } else {
                        load.errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                load
            })
        })
        .collect();
    gather(tasks, start, duration).await
}

/// Each socket sends a `size`-byte binary message and waits for its echo,
/// again and again for `duration`; a socket that fails stops (one error).
pub async fn echo<S>(sockets: Vec<WebSocketStream<S>>, size: usize, duration: Duration) -> Load
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let payload: bytes::Bytes = (0..size).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let deadline = start + duration;
    let tasks = sockets
        .into_iter()
        .map(|mut ws| {
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut load = Load::default();
                while Instant::now() < deadline {
                    let began = Instant::now();
                    let round = tokio::time::timeout(IO_LIMIT, async {
                        ws.send(Message::Binary(payload.clone())).await.ok()?;
                        loop {
                            match ws.next().await {
                                Some(Ok(Message::Binary(b))) => return Some(b.len()),
                                Some(Ok(_)) => continue,
                                _ => return None,
                            }
                        }
                    })
                    .await;
                    if round == Ok(Some(payload.len())) {
                        load.done += 1;
                        load.latency.record(began.elapsed());
                    } else {
                        load.errors += 1;
                        break;
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                load
            })
        })
        .collect();
    gather(tasks, start, duration).await
}

/// Waits for the clients of a load at most `duration` + [`IO_LIMIT`] + 1 s
/// (their last attempt's bound), aborting the stragglers.
async fn gather(tasks: Vec<JoinHandle<Load>>, start: Instant, duration: Duration) -> Load {
    let end = tokio::time::Instant::from_std(start + duration + IO_LIMIT + Duration::from_secs(1));
    let mut total = Load::default();
    for mut t in tasks {
        match tokio::time::timeout_at(end, &mut t).await {
            Ok(Ok(load)) => total.add(&load),
            _ => {
                t.abort();
                total.errors += 1;
            }
        }
    }
    total.seconds = start.elapsed().as_secs_f64();
    total
}

/// A WebSocket upgrade request as a browser sends it (Host, the key, the
/// version), with `extra` header lines.
pub fn upgrade_request(path: &str, extra: &str) -> Arc<Vec<u8>> {
    Arc::new(
        format!(
            "GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}Upgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes(),
    )
}

/// One WebSocket handshake with hand-written bytes (a cheap client: the
/// load measures the server): connect, `request`, a 101, close.
pub async fn ws_handshake(port: u16, request: Arc<Vec<u8>>) -> bool {
    let attempt = async {
        let mut s = tcp(port).await.ok()?;
        s.write_all(&request).await.ok()?;
        let mut buf = [0u8; 2048];
        let mut have = 0;
        while !buf[..have].windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf[have..]).await.ok()?;
            if n == 0 || have + n == buf.len() {
                return None;
            }
            have += n;
        }
        buf.starts_with(b"HTTP/1.1 101").then_some(())
    };
    attempt.await.is_some()
}

/// `ws://127.0.0.1:port{path}` with tungstenite's client.
pub async fn open_ws(port: u16, path: &str) -> Result<WebSocketStream<TcpStream>, String> {
    let s = tcp(port).await.map_err(|e| format!("connect: {e}"))?;
    upgrade(s, &format!("ws://127.0.0.1:{port}{path}")).await
}

/// `wss://bench.test:port/ws` over [`super::tls::connect`].
pub async fn open_wss(
    port: u16,
    config: &Arc<rustls::ClientConfig>,
) -> Result<WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>, String> {
    let s = super::tls::connect(port, config)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    upgrade(s, &format!("wss://{}:{port}/ws", super::tls::SNI)).await
}

async fn upgrade<S>(stream: S, url: &str) -> Result<WebSocketStream<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (ws, resp) = tokio::time::timeout(IO_LIMIT, tokio_tungstenite::client_async(url, stream))
        .await
        .map_err(|_| "WebSocket handshake timed out".to_string())?
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
    if resp.status() != 101 {
        return Err(format!("WebSocket handshake: {}", resp.status()));
    }
    Ok(ws)
}

/// Sends one message and waits for its echo: a tunnel that is really
/// through, before it counts as open.
pub async fn checked<S>(mut ws: WebSocketStream<S>) -> Result<WebSocketStream<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::text("hi"))
        .await
        .map_err(|e| format!("send: {e}"))?;
    match tokio::time::timeout(IO_LIMIT, ws.next()).await {
        Ok(Some(Ok(_))) => Ok(ws),
        other => Err(format!("no echo on a new tunnel: {other:?}")),
    }
}

/// Opens `n` connections with `open`, `parallel` at a time; they stay open
/// while the returned vector lives. The first failure ends the lot.
pub async fn open_many<T, F, Fut>(n: usize, parallel: usize, open: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let mut opened = Vec::with_capacity(n);
    while opened.len() < n {
        let batch: Vec<_> = (0..parallel.min(n - opened.len()))
            .map(|_| tokio::spawn(open()))
            .collect();
        for t in batch {
            opened.push(t.await.map_err(|e| format!("task: {e}"))??);
        }
    }
    Ok(opened)
}
