//! TLS end to end, on the built binary (`upgate -p DIR/ -c nginx.conf`)
//! with certificates made per run (tls_support's PKI: a CA, an
//! intermediate, an RSA leaf for a.test under the intermediate, an ECDSA
//! leaf for b.test under the CA):
//!
//! - (a) WebSocket over TLS with SNI a.test and b.test to a plain ws echo
//!   backend, 20 B and 100 KB messages, and the certificate each name gets
//!   (a.test's chain carries the intermediate); ALPN picks http/1.1;
//! - (b) one server with an RSA and an ECDSA certificate: the client's
//!   signature algorithms choose, in TLS 1.3 and 1.2;
//! - (c) `ssl_verify_client on`: a client certificate from the CA gets 200
//!   with `$ssl_client_verify` and `$ssl_client_s_dn`; none, or one from
//!   another CA, gets nginx's 400 pages;
//! - (d) plain HTTP to the TLS port: nginx's 400, and `error_page 497`'s
//!   redirect;
//! - (e) `$scheme` is https upstream;
//! - (f) `proxy_pass https://` with `proxy_ssl_verify`: the right
//!   `proxy_ssl_name` gets 200 (and is the SNI with `proxy_ssl_server_name
//!   on`), a wrong one 502; wss from the client through to a TLS WebSocket
//!   backend;
//! - (g) (c) and (d) served by Debian's nginx and by upgate from the same
//!   configuration text: the same status lines, bodies (footer aside) and
//!   `$ssl_*` values; then an unknown SNI, SNI and Host on different
//!   servers, `ssl_verify_client optional` with `error_page 495` and
//!   `optional_no_ca`: the same certificate, status line and body.
//!
//! Listeners are on 127.0.0.1 with free ports; every wait is bounded; a
//! missing nginx or openssl fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tls_support;

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::CertificateDer;
use tls_support::{
    ClientOptions, Dir, ECDSA_SCHEMES, IO_LIMIT, Pki, Program, RSA_SCHEMES, Served, client_config,
    connect_tls, exchange, free_port, get, main_conf, neutral_footer, tls_backend, tls_ws_backend,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use upgate_examples::recorder::{self, Recorded};
use upgate_examples::websocket::{self, Mode};

const WS_HEADERS: &str = "proxy_http_version 1.1;\n\
     proxy_set_header Upgrade $http_upgrade;\n\
     proxy_set_header Connection $connection_upgrade;";
const UPGRADE_MAP: &str = "map $http_upgrade $connection_upgrade { default upgrade; '' close; }";

async fn ws_echo_backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(websocket::serve(l, Mode::Echo));
    port
}

fn trusting_ca(pki: &Pki) -> ClientOptions<'static> {
    ClientOptions {
        roots: vec![pki.ca.der.clone()],
        ..ClientOptions::default()
    }
}

/// Opens `wss://sni:port/ws` and checks the echo of `sizes`; returns the
/// certificate chain the server sent.
async fn ws_round_trip(port: u16, sni: &str, pki: &Pki) -> Vec<CertificateDer<'static>> {
    let mut options = trusting_ca(pki);
    options.alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = connect_tls(port, sni, client_config(options))
        .await
        .unwrap_or_else(|e| panic!("TLS to {sni}: {e}"));
    let (_, conn) = tls.get_ref();
    let chain: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    assert_eq!(
        conn.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "{sni}: ALPN must pick http/1.1 out of h2, http/1.1"
    );
    let url = format!("wss://{sni}:{port}/ws");
    let (mut ws, resp) = tokio::time::timeout(IO_LIMIT, tokio_tungstenite::client_async(url, tls))
        .await
        .expect("WebSocket handshake timed out")
        .unwrap_or_else(|e| panic!("WebSocket handshake to {sni}: {e}"));
    assert_eq!(resp.status(), 101);
    for size in [20usize, 100 * 1024] {
        let text: String = (0..size)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        ws.send(Message::text(text.clone())).await.unwrap();
        let echo = tokio::time::timeout(IO_LIMIT, ws.next())
            .await
            .unwrap_or_else(|_| panic!("{sni}: no echo of {size} B"))
            .expect("stream ended")
            .expect("WebSocket error");
        assert_eq!(
            echo.into_text().unwrap().as_str(),
            text,
            "{sni}: echo of {size} B"
        );
    }
    let _ = ws.close(None).await;
    chain
}

// (a)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_tls_with_sni_to_both_names() {
    let dir = Dir::new("tls-ws");
    let pki = Pki::new(&dir);
    let ws = ws_echo_backend().await;
    let port = free_port();
    let server = |name: &str, cert: &str| {
        format!(
            "server {{\n listen 127.0.0.1:{port} ssl;\n server_name {name};\n\
             ssl_certificate {crt};\n ssl_certificate_key {key};\n\
             location /ws {{ proxy_pass http://127.0.0.1:{ws};\n{WS_HEADERS}\n }}\n\
             location / {{ return 200 \"{name}\\n\"; }}\n}}\n",
            crt = dir.file(&format!("{cert}.crt")),
            key = dir.file(&format!("{cert}.key")),
        )
    };
    let conf = main_conf(
        &dir,
        &format!(
            "{UPGRADE_MAP}\n{}{}",
            server("a.test", "a"),
            server("b.test", "b")
        ),
    );
    let _up = Served::start(Program::Upgate, &dir, &conf, &[port]);

    let chain = ws_round_trip(port, "a.test", &pki).await;
    assert_eq!(chain.len(), 2, "a.test: leaf and intermediate");
    assert!(chain[0] == pki.a.der, "a.test: the a.test leaf first");
    assert!(
        chain[1] == pki.intermediate.der,
        "a.test: then the intermediate"
    );

    let chain = ws_round_trip(port, "b.test", &pki).await;
    assert_eq!(chain.len(), 1, "b.test: the leaf alone");
    assert!(chain[0] == pki.b.der, "b.test: the b.test leaf");

    // A plain request on each name reaches its own server block.
    for name in ["a.test", "b.test"] {
        let mut tls = connect_tls(port, name, client_config(trusting_ca(&pki)))
            .await
            .unwrap();
        let reply = exchange(&mut tls, &get(name, "/")).await.unwrap();
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
        assert_eq!(reply.body_text(), format!("{name}\n"));
    }
}

// (b)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_or_ecdsa_certificate_by_the_client_signature_algorithms() {
    let dir = Dir::new("tls-dual");
    let pki = Pki::new(&dir);
    let port = free_port();
    let conf = main_conf(
        &dir,
        &format!(
            "server {{\n listen 127.0.0.1:{port} ssl;\n server_name dual.test;\n\
             ssl_protocols TLSv1.2 TLSv1.3;\n\
             ssl_certificate {rsa};\n ssl_certificate_key {rsa_key};\n\
             ssl_certificate {ec};\n ssl_certificate_key {ec_key};\n\
             location / {{ return 200 \"dual\\n\"; }}\n}}\n",
            rsa = dir.file("dual-rsa.crt"),
            rsa_key = dir.file("dual-rsa.key"),
            ec = dir.file("dual-ecdsa.crt"),
            ec_key = dir.file("dual-ecdsa.key"),
        ),
    );
    let _up = Served::start(Program::Upgate, &dir, &conf, &[port]);
    for tls12_only in [false, true] {
        for (schemes, want, label) in [
            (ECDSA_SCHEMES, &pki.dual_ecdsa.der, "ECDSA"),
            (RSA_SCHEMES, &pki.dual_rsa.der, "RSA"),
        ] {
            let options = ClientOptions {
                schemes: Some(schemes),
                tls12_only,
                ..trusting_ca(&pki)
            };
            let version = if tls12_only { "TLS 1.2" } else { "TLS 1.3" };
            let mut tls = connect_tls(port, "dual.test", client_config(options))
                .await
                .unwrap_or_else(|e| panic!("{version}, {label} schemes only: {e}"));
            let (_, conn) = tls.get_ref();
            let got = conn.peer_certificates().unwrap_or_default();
            assert!(
                got.first() == Some(want),
                "{version}, a client offering only {label} signature schemes must get the {label} certificate"
            );
            let reply = exchange(&mut tls, &get("dual.test", "/")).await.unwrap();
            assert_eq!(reply.status, 200);
        }
    }
}

/// The variables (c) puts into response headers: header, variable.
const SSL_VARS: &[(&str, &str)] = &[
    ("X-Client-Verify", "$ssl_client_verify"),
    ("X-Client-DN", "$ssl_client_s_dn"),
    ("X-Client-Issuer", "$ssl_client_i_dn"),
    ("X-Client-Serial", "$ssl_client_serial"),
    ("X-Client-Fingerprint", "$ssl_client_fingerprint"),
    ("X-Client-Start", "$ssl_client_v_start"),
    ("X-Client-Remain", "$ssl_client_v_remain"),
    ("X-Protocol", "$ssl_protocol"),
    ("X-Cipher", "$ssl_cipher"),
    ("X-Curve", "$ssl_curve"),
    ("X-Server-Name", "$ssl_server_name"),
    ("X-Reused", "$ssl_session_reused"),
    ("X-Https", "$https"),
    ("X-Scheme", "$scheme"),
];

/// (c)'s configuration: mutual TLS on b.test, the certificates in `certs`.
fn mtls_conf(dir: &Dir, certs: &Dir, port: u16) -> String {
    let headers: String = SSL_VARS
        .iter()
        .map(|(h, v)| format!(" add_header {h} \"{v}\" always;\n"))
        .collect();
    main_conf(
        dir,
        &format!(
            "server {{\n listen 127.0.0.1:{port} ssl;\n server_name b.test;\n\
             ssl_protocols TLSv1.2 TLSv1.3;\n\
             ssl_certificate {crt};\n ssl_certificate_key {key};\n\
             ssl_verify_client on;\n ssl_client_certificate {ca};\n\
             location / {{\n{headers}\
             return 200 \"verified\\n\";\n }}\n}}\n",
            crt = certs.file("b.crt"),
            key = certs.file("b.key"),
            ca = certs.file("ca.crt"),
        ),
    )
}

/// (c)'s clients, in [`MTLS_CASES`]' order.
const MTLS_CASES: [&str; 5] = [
    "the CA's client cert",
    "no client cert",
    "another CA's cert",
    "the CA's client cert, TLS 1.2",
    "the CA's client cert, the session resumed",
];

/// (c)'s clients against `program`: [`MTLS_CASES`].
async fn mtls_replies(program: Program, certs: &Dir, pki: &Pki) -> [tls_support::Reply; 5] {
    let dir = Dir::new("tls-mtls");
    let port = free_port();
    let _server = Served::start(program, &dir, &mtls_conf(&dir, certs, port), &[port]);
    let config = |cert: Option<&tls_support::Issued>, tls12_only: bool| {
        client_config(ClientOptions {
            client_cert: cert.map(|c| (vec![c.der.clone()], c.key_der())),
            tls12_only,
            ..trusting_ca(pki)
        })
    };
    // The first and the last share a configuration: rustls keeps the
    // session tickets of the first and resumes with one.
    let good = config(Some(&pki.client), false);
    let mut replies = Vec::new();
    for config in [
        good.clone(),
        config(None, false),
        config(Some(&pki.stranger), false),
        config(Some(&pki.client), true),
        good,
    ] {
        let mut tls = connect_tls(port, "b.test", config)
            .await
            .unwrap_or_else(|e| panic!("{program:?}: TLS handshake: {e}"));
        replies.push(exchange(&mut tls, &get("b.test", "/")).await.unwrap());
    }
    replies.try_into().unwrap()
}

const CLIENT_DN: &str = "CN=upgate client,O=upgate tests";

// (c)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_verifies_the_client_certificate() {
    let certs = Dir::new("tls-mtls-certs");
    let pki = Pki::new(&certs);
    check_mtls(&mtls_replies(Program::Upgate, &certs, &pki).await);
}

/// What (c) must give, nginx's way.
fn check_mtls([good, none, stranger, tls12, resumed]: &[tls_support::Reply; 5]) {
    for (reply, protocol, reused) in [
        (good, "TLSv1.3", "."),
        (tls12, "TLSv1.2", "."),
        (resumed, "TLSv1.3", "r"),
    ] {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body_text(), "verified\n");
        assert_eq!(reply.header("X-Client-Verify"), Some("SUCCESS"));
        assert_eq!(reply.header("X-Client-DN"), Some(CLIENT_DN));
        assert_eq!(reply.header("X-Protocol"), Some(protocol));
        assert_eq!(reply.header("X-Reused"), Some(reused), "{protocol}");
    }

    assert_eq!(none.status, 400, "{none:?}");
    assert!(
        none.body_text()
            .contains("<center>No required SSL certificate was sent</center>"),
        "{}",
        none.body_text()
    );
    assert_eq!(stranger.status, 400, "{stranger:?}");
    assert!(
        stranger
            .body_text()
            .contains("<center>The SSL certificate error</center>"),
        "{}",
        stranger.body_text()
    );
}

/// (d)'s configuration: a.test on `port` as is, and on `redirect_port`
/// with `error_page 497 =301 https://$host$request_uri;`.
/// A third port answers 497 with a 302 to the same port
/// (`error_page 497 https://$host:$server_port$request_uri;`), a fourth
/// with a named location.
fn plain_to_tls_conf(dir: &Dir, ports: [u16; 4]) -> String {
    let [port, redirect_port, same_port, named] = ports;
    let server = |p: u16, extra: &str| {
        format!(
            "server {{\n listen 127.0.0.1:{p} ssl;\n server_name a.test;\n\
             ssl_protocols TLSv1.2 TLSv1.3;\n\
             ssl_certificate {crt};\n ssl_certificate_key {key};\n{extra}\n\
             location / {{ return 200 \"tls\\n\"; }}\n}}\n",
            crt = dir.file("a.crt"),
            key = dir.file("a.key"),
        )
    };
    main_conf(
        dir,
        &format!(
            "{}{}{}{}",
            server(port, ""),
            server(
                redirect_port,
                "error_page 497 =301 https://$host$request_uri;"
            ),
            server(
                same_port,
                "error_page 497 https://$host:$server_port$request_uri;"
            ),
            server(
                named,
                "error_page 497 = @plain;\n location @plain { return 200 \"plain $scheme $https.\\n\"; }"
            ),
        ),
    )
}

async fn plain_request(port: u16, request: &str) -> tls_support::Reply {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    exchange(&mut tcp, request).await.unwrap()
}

/// (d)'s requests, in [`plain_replies`]' order.
const PLAIN_CASES: [&str; 5] = [
    "plain HTTP",
    "plain HTTP with error_page 497 =301",
    "plain HTTP with error_page 497 to $server_port",
    "plain HTTP with error_page 497 = @named",
    "TLS",
];

/// (d) against `program`: [`PLAIN_CASES`].
async fn plain_replies(program: Program) -> [tls_support::Reply; 5] {
    let dir = Dir::new("tls-plain");
    let pki = Pki::new(&dir);
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let conf = plain_to_tls_conf(&dir, ports);
    let _server = Served::start(program, &dir, &conf, &ports);
    let request = get("a.test", "/some/path?x=1");
    let mut replies = Vec::new();
    for port in ports {
        replies.push(plain_request(port, &request).await);
    }
    let mut tls = connect_tls(ports[0], "a.test", client_config(trusting_ca(&pki)))
        .await
        .unwrap();
    replies.push(exchange(&mut tls, &request).await.unwrap());
    replies.try_into().unwrap()
}

// (d)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port() {
    check_plain(&plain_replies(Program::Upgate).await);
}

/// What (d) must give, nginx's way.
fn check_plain([plain, redirected, same_port, named, tls]: &[tls_support::Reply; 5]) {
    assert_eq!(plain.status_line, "HTTP/1.1 400 Bad Request", "{plain:?}");
    assert!(
        plain
            .body_text()
            .contains("<center>The plain HTTP request was sent to HTTPS port</center>"),
        "{}",
        plain.body_text()
    );
    assert_eq!(redirected.status, 301, "{redirected:?}");
    assert_eq!(
        redirected.header("Location"),
        Some("https://a.test/some/path?x=1")
    );
    assert_eq!(same_port.status, 302, "{same_port:?}");
    assert!(
        same_port
            .header("Location")
            .is_some_and(|l| l.starts_with("https://a.test:") && l.ends_with("/some/path?x=1")),
        "{same_port:?}"
    );
    assert_eq!(named.status, 200, "{named:?}");
    assert_eq!(named.body_text(), "plain http .\n");
    assert_eq!(tls.status, 200);
    assert_eq!(tls.body_text(), "tls\n");
}

// (e)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheme_is_https_upstream() {
    let dir = Dir::new("tls-scheme");
    let pki = Pki::new(&dir);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = l.local_addr().unwrap().port();
    let recorded = Recorded::default();
    tokio::spawn(recorder::serve(
        l,
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n".to_vec(),
        recorded.clone(),
    ));
    let port = free_port();
    let conf = main_conf(
        &dir,
        &format!(
            "server {{\n listen 127.0.0.1:{port} ssl;\n server_name b.test;\n\
             ssl_certificate {crt};\n ssl_certificate_key {key};\n\
             location / {{ proxy_pass http://127.0.0.1:{backend};\n\
             proxy_set_header X-Forwarded-Proto $scheme;\n }}\n}}\n",
            crt = dir.file("b.crt"),
            key = dir.file("b.key"),
        ),
    );
    let _up = Served::start(Program::Upgate, &dir, &conf, &[port]);
    let mut tls = connect_tls(port, "b.test", client_config(trusting_ca(&pki)))
        .await
        .unwrap();
    let reply = exchange(&mut tls, &get("b.test", "/x")).await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = recorded.take();
    assert_eq!(seen.len(), 1);
    let head = String::from_utf8_lossy(&seen[0]);
    assert!(
        head.contains("\r\nX-Forwarded-Proto: https\r\n"),
        "the backend got:\n{head}"
    );
}

/// (f) against `program`: /good, /sni, /bad. The front is plain HTTP:
/// only the upstream side is TLS here.
async fn upstream_replies(program: Program) -> [tls_support::Reply; 3] {
    let dir = Dir::new("tls-upstream");
    let pki = Pki::new(&dir);
    let backend = tls_backend(&pki).await;
    let port = free_port();
    let location = |path: &str, name: &str, sni: &str| {
        format!(
            "location {path} {{ proxy_pass https://127.0.0.1:{backend};\n\
             proxy_ssl_verify on;\n proxy_ssl_trusted_certificate {ca};\n\
             proxy_ssl_name {name};\n proxy_ssl_server_name {sni};\n }}\n",
            ca = dir.file("ca.crt"),
        )
    };
    let conf = main_conf(
        &dir,
        &format!(
            "server {{\n listen 127.0.0.1:{port};\n{}{}{}}}\n",
            location("/good", "b.test", "off"),
            location("/sni", "b.test", "on"),
            location("/bad", "wrong.test", "off"),
        ),
    );
    let _server = Served::start(program, &dir, &conf, &[port]);
    let mut replies = Vec::new();
    for path in ["/good", "/sni", "/bad"] {
        replies.push(plain_request(port, &get("localhost", path)).await);
    }
    replies.try_into().unwrap()
}

fn check_upstream([good, sni, bad]: &[tls_support::Reply; 3]) {
    assert_eq!(good.status, 200, "{good:?}");
    assert_eq!(good.body_text(), "tls backend, sni=-\n");
    assert_eq!(sni.status, 200, "{sni:?}");
    assert_eq!(
        sni.body_text(),
        "tls backend, sni=b.test\n",
        "proxy_ssl_server_name on sends proxy_ssl_name"
    );
    assert_eq!(
        bad.status, 502,
        "a certificate not for proxy_ssl_name: {bad:?}"
    );
}

// (f)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_pass_https_verifies_the_upstream_name() {
    check_upstream(&upstream_replies(Program::Upgate).await);
}

/// (f) wss end to end: TLS from the client to the proxy and from the proxy
/// to a TLS WebSocket backend, `proxy_ssl_verify on`.
async fn wss_to_wss(program: Program) {
    let dir = Dir::new("tls-wss-wss");
    let pki = Pki::new(&dir);
    let backend = tls_ws_backend(&pki).await;
    let port = free_port();
    let conf = main_conf(
        &dir,
        &format!(
            "{UPGRADE_MAP}\nserver {{\n listen 127.0.0.1:{port} ssl;\n server_name b.test;\n\
             ssl_protocols TLSv1.2 TLSv1.3;\n\
             ssl_certificate {crt};\n ssl_certificate_key {key};\n\
             location /ws {{ proxy_pass https://127.0.0.1:{backend};\n{WS_HEADERS}\n\
             proxy_ssl_verify on;\n proxy_ssl_trusted_certificate {ca};\n\
             proxy_ssl_name b.test;\n proxy_ssl_server_name on;\n }}\n}}\n",
            crt = dir.file("b.crt"),
            key = dir.file("b.key"),
            ca = dir.file("ca.crt"),
        ),
    );
    let _server = Served::start(program, &dir, &conf, &[port]);
    ws_round_trip(port, "b.test", &pki).await;
}

// (f)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_through_to_a_tls_websocket_backend() {
    wss_to_wss(Program::Upgate).await;
}

// (g)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_and_plain_http_as_nginx() {
    tls_support::require_nginx();
    let certs = Dir::new("tls-diff-certs");
    let pki = Pki::new(&certs);
    let nginx = mtls_replies(Program::Nginx, &certs, &pki).await;
    check_mtls(&nginx);
    let upgate = mtls_replies(Program::Upgate, &certs, &pki).await;
    for (case, (n, u)) in MTLS_CASES.iter().zip(nginx.iter().zip(upgate.iter())) {
        assert_eq!(u.status_line, n.status_line, "{case}: status line");
        assert_eq!(
            neutral_footer(&u.body),
            neutral_footer(&n.body),
            "{case}: body"
        );
        for (h, v) in SSL_VARS {
            assert_eq!(u.header(h), n.header(h), "{case}: {v}");
        }
    }

    let nginx = plain_replies(Program::Nginx).await;
    check_plain(&nginx);
    let upgate = plain_replies(Program::Upgate).await;
    for (case, (n, u)) in PLAIN_CASES.iter().zip(nginx.iter().zip(upgate.iter())) {
        assert_eq!(u.status_line, n.status_line, "{case}: status line");
        assert_eq!(
            neutral_footer(&u.body),
            neutral_footer(&n.body),
            "{case}: body"
        );
        assert_eq!(
            u.header("Location").map(without_port),
            n.header("Location").map(without_port),
            "{case}"
        );
    }
}

/// A URL with its port made neutral (each server got its own free ports).
fn without_port(url: &str) -> String {
    let Some(rest) = url.strip_prefix("https://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.split(':').next().unwrap_or_default();
    let port = if authority.contains(':') { ":PORT" } else { "" };
    format!("https://{host}{port}{path}")
}

/// One request of [`sni_and_optional_client_certificates_as_nginx`]: the leaf the server sent and the
/// reply.
async fn case_reply(
    port: u16,
    sni: &str,
    host: &str,
    cert: Option<&tls_support::Issued>,
) -> (Option<CertificateDer<'static>>, tls_support::Reply) {
    let options = ClientOptions {
        accept_any: true,
        client_cert: cert.map(|c| (vec![c.der.clone()], c.key_der())),
        ..ClientOptions::default()
    };
    let mut tls = connect_tls(port, sni, client_config(options))
        .await
        .unwrap_or_else(|e| panic!("TLS to {sni}: {e}"));
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned());
    (leaf, exchange(&mut tls, &get(host, "/")).await.unwrap())
}

// (g) More of the same: an unknown SNI, SNI and Host naming different
// servers, `ssl_verify_client optional` (with error_page 495) and
// `optional_no_ca`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_and_optional_client_certificates_as_nginx() {
    tls_support::require_nginx();
    let certs = Dir::new("tls-cases-certs");
    let pki = Pki::new(&certs);
    let (p, q, r) = (free_port(), free_port(), free_port());
    let tls = |name: &str| {
        format!(
            "ssl_certificate {};\n ssl_certificate_key {};\n",
            certs.file(&format!("{name}.crt")),
            certs.file(&format!("{name}.key"))
        )
    };
    let ca = certs.file("ca.crt");
    let body = format!(
        "server {{\n listen 127.0.0.1:{p} ssl;\n server_name a.test;\n {a}\
         location / {{ return 200 \"a sni=$ssl_server_name host=$host\\n\"; }}\n}}\n\
         server {{\n listen 127.0.0.1:{p} ssl;\n server_name b.test;\n {b}\
         ssl_verify_client on;\n ssl_client_certificate {ca};\n\
         location / {{ return 200 \"b $ssl_client_verify\\n\"; }}\n}}\n\
         server {{\n listen 127.0.0.1:{q} ssl;\n server_name b.test;\n {b}\
         ssl_verify_client optional;\n ssl_client_certificate {ca};\n\
         error_page 495 = @bad;\n\
         location @bad {{ return 403 \"bad certificate: $ssl_client_verify\\n\"; }}\n\
         location / {{ return 200 \"optional $ssl_client_verify\\n\"; }}\n}}\n\
         server {{\n listen 127.0.0.1:{r} ssl;\n server_name b.test;\n {b}\
         ssl_verify_client optional_no_ca;\n ssl_client_certificate {ca};\n\
         location / {{ return 200 \"no_ca $ssl_client_verify $ssl_client_s_dn\\n\"; }}\n}}\n",
        a = tls("a"),
        b = tls("b"),
    );
    let cases: [(&str, u16, &str, &str, Option<&tls_support::Issued>); 7] = [
        ("unknown SNI", p, "c.test", "c.test", None),
        ("SNI a.test, Host b.test", p, "a.test", "b.test", None),
        (
            "SNI b.test, Host a.test",
            p,
            "b.test",
            "a.test",
            Some(&pki.client),
        ),
        ("optional, no certificate", q, "b.test", "b.test", None),
        (
            "optional, another CA's",
            q,
            "b.test",
            "b.test",
            Some(&pki.stranger),
        ),
        (
            "optional_no_ca, another CA's",
            r,
            "b.test",
            "b.test",
            Some(&pki.stranger),
        ),
        (
            "optional_no_ca, the CA's",
            r,
            "b.test",
            "b.test",
            Some(&pki.client),
        ),
    ];
    let mut seen = Vec::new();
    for program in [Program::Nginx, Program::Upgate] {
        let prefix = Dir::new("tls-cases");
        let _server = Served::start(program, &prefix, &main_conf(&prefix, &body), &[p, q, r]);
        let mut replies = Vec::new();
        for (_, port, sni, host, cert) in cases {
            replies.push(case_reply(port, sni, host, cert).await);
        }
        seen.push(replies);
    }
    let mut differences = Vec::new();
    for (i, (case, ..)) in cases.iter().enumerate() {
        let ((n_leaf, n), (u_leaf, u)) = (&seen[0][i], &seen[1][i]);
        if n_leaf != u_leaf {
            differences.push(format!("{case}: a different certificate"));
        }
        let (nb, ub) = (neutral_footer(&n.body), neutral_footer(&u.body));
        if n.status_line != u.status_line || nb != ub {
            differences.push(format!(
                "{case}:\n  nginx:  {} {nb:?}\n  upgate: {} {ub:?}",
                n.status_line, u.status_line
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "upgate differs from nginx:\n{}",
        differences.join("\n")
    );
}
