//! The load clients of `cargo xtask bench tls`, in the bench process:
//! full TLS 1.3 handshakes (no resumption) per second, WebSocket echo
//! messages per second over `wss://`, and idle `wss://` tunnels held open.
//! The client checks no certificate (both servers get the same cheap
//! client); every connection attempt is bounded by [`IO_LIMIT`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// One connect, handshake or echo may take this long.
pub const IO_LIMIT: Duration = Duration::from_secs(10);

/// Accepts any certificate: the bench measures the servers, not the client.
#[derive(Debug)]
struct AnyCertificate(Vec<SignatureScheme>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// TLS 1.3 only, no session resumption (every handshake is a full one).
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(schemes)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connects to 127.0.0.1:`port` and handshakes with SNI `sni`; the socket
/// closes with a reset (SO_LINGER 0), so that a long run leaves no
/// TIME_WAIT behind to exhaust the ephemeral ports.
pub async fn connect(
    port: u16,
    sni: &str,
    config: &Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(sni.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let connector = TlsConnector::from(Arc::clone(config));
    tokio::time::timeout(IO_LIMIT, async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_zero_linger()?;
        tcp.set_nodelay(true)?;
        connector.connect(name, tcp).await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS connect timed out"))?
}

/// What a timed load produced.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub errors: u64,
}

/// `conns` clients doing connect + full handshake + close for `duration`.
pub async fn handshakes(
    port: u16,
    sni: &'static str,
    conns: usize,
    duration: Duration,
) -> Result<Rate, String> {
    let config = client_config()?;
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (config, done, errors) = (config.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match connect(port, sni, &config).await {
                    Ok(tls) => {
                        drop(tls);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(Rate {
        per_second: done.load(Ordering::Relaxed) as f64 / elapsed,
        errors: errors.load(Ordering::Relaxed),
    })
}

/// Opens `wss://sni:port/ws`.
pub async fn open_wss(
    port: u16,
    sni: &str,
    config: &Arc<ClientConfig>,
) -> Result<WebSocketStream<TlsStream<TcpStream>>, String> {
    let tls = connect(port, sni, config)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let url = format!("wss://{sni}:{port}/ws");
    let (ws, resp) = tokio::time::timeout(IO_LIMIT, tokio_tungstenite::client_async(url, tls))
        .await
        .map_err(|_| "WebSocket handshake timed out".to_string())?
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
    if resp.status() != 101 {
        return Err(format!("WebSocket handshake: {}", resp.status()));
    }
    Ok(ws)
}

/// `conns` wss connections, each sending a `size`-byte binary message and
/// waiting for its echo, for `duration`: echoes per second.
pub async fn wss_echo(
    port: u16,
    sni: &'static str,
    conns: usize,
    size: usize,
    duration: Duration,
) -> Result<Rate, String> {
    let config = client_config()?;
    let mut sockets = Vec::new();
    for _ in 0..conns {
        sockets.push(open_wss(port, sni, &config).await?);
    }
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let (done, errors, payload) = (done.clone(), errors.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let round = tokio::time::timeout(IO_LIMIT, async {
                    ws.send(Message::binary(payload.clone())).await.ok()?;
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Binary(b))) => return Some(b.len()),
                            Some(Ok(_)) => continue,
                            _ => return None,
                        }
                    }
                })
                .await;
                match round {
                    Ok(Some(n)) if n == payload.len() => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            let _ = ws.close(None).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(Rate {
        per_second: done.load(Ordering::Relaxed) as f64 / elapsed,
        errors: errors.load(Ordering::Relaxed),
    })
}

/// Opens `n` wss tunnels, `parallel` at a time; they stay open while the
/// returned vector lives. Each is checked with one echo.
pub async fn idle_tunnels(
    port: u16,
    sni: &'static str,
    n: usize,
    parallel: usize,
) -> Result<Vec<WebSocketStream<TlsStream<TcpStream>>>, String> {
    let config = client_config()?;
    let mut open = Vec::with_capacity(n);
    while open.len() < n {
        let batch = parallel.min(n - open.len());
        let mut tasks = Vec::new();
        for _ in 0..batch {
            let config = config.clone();
            tasks.push(tokio::spawn(async move {
                let mut ws = open_wss(port, sni, &config).await?;
                ws.send(Message::text("hi"))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                match tokio::time::timeout(IO_LIMIT, ws.next()).await {
                    Ok(Some(Ok(_))) => Ok(ws),
                    other => Err(format!("no echo on a new tunnel: {other:?}")),
                }
            }));
        }
        for t in tasks {
            let ws = t.await.map_err(|e| format!("task: {e}"))??;
            open.push(ws);
        }
    }
    Ok(open)
}
