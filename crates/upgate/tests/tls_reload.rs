//! Certificates on reload (issue 11): SIGHUP re-reads `ssl_certificate`
//! and `ssl_certificate_key`; new handshakes get the new certificate while
//! a wss tunnel opened before goes on echoing; a broken key refuses the
//! reload with nginx's `[emerg]` in the error log and the certificate in
//! force stays. Every wait is bounded; the test kills only its own process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rcgen::{CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use common::TempDir;
use common::process::Upgate;

const LIMIT: Duration = Duration::from_secs(10);

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
}

fn ca() -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().clone();
    Ca { params, key, der }
}

/// A leaf for `a.test` written as `a.crt` / `a.key`; its DER.
fn write_leaf(dir: &Path, ca: &Ca, generation: &str) -> CertificateDer<'static> {
    let mut params = CertificateParams::new(vec!["a.test".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, generation);
    let key = KeyPair::generate().unwrap();
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca.params, &ca.key))
        .unwrap();
    std::fs::write(dir.join("a.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("a.key"), key.serialize_pem()).unwrap();
    cert.der().clone()
}

fn connector(ca: &Ca) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn handshake(tls: &TlsConnector, port: u16) -> TlsStream<TcpStream> {
    let tcp = tokio::time::timeout(LIMIT, TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("connect timed out")
        .expect("connect");
    tokio::time::timeout(
        LIMIT,
        tls.connect(ServerName::try_from("a.test").unwrap(), tcp),
    )
    .await
    .expect("handshake timed out")
    .expect("handshake")
}

fn leaf_of(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

async fn echo(ws: &mut WebSocketStream<TlsStream<TcpStream>>, text: &str) {
    tokio::time::timeout(LIMIT, ws.send(Message::text(text)))
        .await
        .expect("send timed out")
        .expect("send");
    let got = tokio::time::timeout(LIMIT, ws.next())
        .await
        .expect("echo timed out");
    match got {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), text),
        other => panic!("no echo: {other:?}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rereads_certificates_and_keeps_tunnels() {
    let dir = TempDir::new("tls-reload").unwrap();
    let d = dir.path();
    let ca = ca();
    let first = write_leaf(d, &ca, "generation 1");
    let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_port = backend.local_addr().unwrap().port();
    tokio::spawn(upgate_examples::websocket::serve(
        backend,
        upgate_examples::websocket::Mode::Echo,
    ));
    let port = free_port();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\npid {p}/nginx.pid;\nerror_log {p}/error.log info;\n\
             events {{}}\nhttp {{\n    access_log off;\n\
             \x20   server {{\n        listen 127.0.0.1:{port} ssl;\n        server_name a.test;\n\
             \x20       ssl_certificate a.crt;\n        ssl_certificate_key a.key;\n\
             \x20       location /ws {{\n            proxy_pass http://127.0.0.1:{ws_port};\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_set_header Upgrade $http_upgrade;\n\
             \x20           proxy_set_header Connection upgrade;\n        }}\n    }}\n}}\n",
            p = d.display()
        ),
    )
    .unwrap();
    let up = Upgate::start(d);
    let tls = connector(&ca);

    let stream = handshake(&tls, port).await;
    assert_eq!(leaf_of(&stream), first);
    let (mut tunnel, response) = tokio::time::timeout(
        LIMIT,
        tokio_tungstenite::client_async("wss://a.test/ws", stream),
    )
    .await
    .expect("upgrade timed out")
    .expect("upgrade");
    assert_eq!(response.status(), 101);
    echo(&mut tunnel, "before reload").await;

    // A new certificate: new handshakes get it once the reload is in.
    let second = write_leaf(d, &ca, "generation 2");
    up.signal(nix::sys::signal::Signal::SIGHUP);
    let end = Instant::now() + LIMIT;
    loop {
        let s = handshake(&tls, port).await;
        if leaf_of(&s) == second {
            break;
        }
        assert!(
            Instant::now() < end,
            "the reload did not take the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    echo(&mut tunnel, "after reload").await;

    // A broken key: the reload is refused, the second certificate stays.
    std::fs::write(
        d.join("a.key"),
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    up.signal(nix::sys::signal::Signal::SIGHUP);
    let end = Instant::now() + LIMIT;
    while !up.error_log().contains("[emerg]") {
        assert!(
            Instant::now() < end,
            "no [emerg] for the broken key: {}",
            up.error_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = up.error_log();
    assert!(log.contains("cannot load certificate key"), "{log}");
    let s = handshake(&tls, port).await;
    assert_eq!(leaf_of(&s), second);
    echo(&mut tunnel, "after a refused reload").await;
}
