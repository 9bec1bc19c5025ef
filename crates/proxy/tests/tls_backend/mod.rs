//! TLS peers for the upstream TLS tests: certificates made with rcgen (a CA,
//! leaves it signs, expired or self-signed ones) written as PEM files, and
//! a rustls backend on 127.0.0.1:0 that records each handshake (the SNI it
//! got, whether the session was resumed, whether a client certificate came)
//! and answers HTTP/1.1 requests with keepalive, or WebSocket upgrades with
//! an echo. Every wait is bounded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

const LIMIT: Duration = Duration::from_secs(5);

/// A certificate (leaf first, then its chain) and its key, as PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    /// Writes `NAME.crt` and `NAME.key` under `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let crt = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&crt, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (crt, key)
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }
}

/// A certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names`; `expired`: valid in 2020 only.
    pub fn leaf(&self, names: &[&str], expired: bool) -> Issued {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        if expired {
            p.not_before = date_time_ymd(2020, 1, 1);
            p.not_after = date_time_ymd(2020, 12, 31);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A self-signed leaf for `names`.
pub fn self_signed(names: &[&str]) -> Issued {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    Issued {
        cert_pem: c.cert.pem(),
        key_pem: c.signing_key.serialize_pem(),
    }
}

/// What a backend saw of one handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hello {
    pub sni: Option<String>,
    pub resumed: bool,
    pub client_cert: bool,
}

/// A running TLS backend.
pub struct Backend {
    pub port: u16,
    hellos: Arc<Mutex<Vec<Hello>>>,
    accepted: Arc<AtomicUsize>,
}

impl Backend {
    /// Serves `cert`; with `client_ca`, a client certificate it signed is
    /// required.
    pub async fn start(cert: &Issued, client_ca: Option<&Ca>) -> Backend {
        Backend::start_with(cert, client_ca, rustls::DEFAULT_VERSIONS).await
    }

    /// [`Backend::start`] speaking only `versions`.
    pub async fn start_with(
        cert: &Issued,
        client_ca: Option<&Ca>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Backend {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.issuer.der().clone()).unwrap();
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(v)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(cert.chain(), cert.key()).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hellos = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (h, a) = (hellos.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let n = a.fetch_add(1, Ordering::Relaxed) + 1;
                let (acceptor, h) = (acceptor.clone(), h.clone());
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(LIMIT, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let conn = tls.get_ref().1;
                    let hello = Hello {
                        sni: conn.server_name().map(str::to_string),
                        resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
                        client_cert: conn.peer_certificates().is_some_and(|c| !c.is_empty()),
                    };
                    h.lock().unwrap().push(hello.clone());
                    serve(tls, hello, n).await;
                });
            }
        });
        Backend {
            port,
            hellos,
            accepted,
        }
    }

    pub fn hellos(&self) -> Vec<Hello> {
        self.hellos.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// HTTP/1.1 with keepalive; a WebSocket upgrade turns into an echo.
async fn serve(
    mut s: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    hello: Hello,
    n: usize,
) {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match tokio::time::timeout(LIMIT, s.read(&mut b)).await {
                Ok(Ok(k)) if k > 0 => buf.extend_from_slice(&b[..k]),
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let key = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        });
        if let Some(key) = key {
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            let _ = s.write_all(reply.as_bytes()).await;
            let mut ws =
                tokio_tungstenite::WebSocketStream::from_raw_socket(s, Role::Server, None).await;
            while let Ok(Some(Ok(msg))) = tokio::time::timeout(LIMIT, ws.next()).await {
                if msg.is_text() || msg.is_binary() {
                    let _ = ws.send(msg).await;
                }
            }
            return;
        }
        let body = format!(
            "sni={} resumed={} cert={} conn={n}",
            hello.sni.as_deref().unwrap_or("-"),
            hello.resumed,
            hello.client_cert
        );
        let close = head.to_ascii_lowercase().contains("connection: close");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if s.write_all(reply.as_bytes()).await.is_err() || close {
            let _ = s.shutdown().await;
            return;
        }
    }
}
