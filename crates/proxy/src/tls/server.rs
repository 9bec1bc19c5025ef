//! TLS listeners as ngx_http_ssl_module configures them
//! (src/http/modules/ngx_http_ssl_module.c) and ngx_http_request.c runs
//! them:
//!
//! - every server with certificates gets its own rustls configuration
//!   (nginx's per-server `SSL_CTX`), built once per generation from the
//!   `ssl_*` directives merged http → server;
//! - a connection to a TLS address reads the ClientHello first, then picks
//!   the server by the SNI name with the address's server_name table
//!   (`ngx_http_ssl_servername`): a name that finds no server, or a server
//!   without certificates, keeps the address's default server's
//!   configuration; `ssl_reject_handshake` ends the handshake with an
//!   `unrecognized_name` alert;
//! - client certificates are asked for as the chosen configuration says
//!   and never fail the handshake: nginx's verify callback accepts all and
//!   `ngx_http_process_request` answers 495/496 by the request's server
//!   (runtime `ssl.rs`), so the chain is judged after the handshake with
//!   OpenSSL's rules ([`super::verify`]);
//! - a first byte that is not a TLS record marks a plain HTTP request on a
//!   TLS port (nginx's 497).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::listener::Transport;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, ProtocolVersion, ServerConfig, SignatureScheme,
};
use tokio::io::AsyncWriteExt;
use upgate_conf::{Config, Directive};
use upgate_runtime::Runtime;
use upgate_runtime::compile::flatten_block;
use upgate_runtime::listen::AddrConf;
use upgate_runtime::server::{ServerMatch, find_virtual_server};
use upgate_runtime::ssl::{ClientCert, ClientTls, VerifyClient};

use super::certs;
use super::sessions::{Tickets, TimedSessions};
use super::suites;
use super::vars::{self, Hello};
use super::verify::{Purpose, TrustStore};
use crate::client::{ClientStream, TlsInfo};

/// The TLS side of one configuration generation.
#[derive(Debug, Default)]
pub struct TlsServers {
    /// By server index.
    servers: Vec<ServerTls>,
    /// Warnings to log once the generation starts serving (rustls never
    /// offers what they name).
    pub warnings: Vec<String>,
}

/// One server's TLS settings.
#[derive(Debug, Default)]
struct ServerTls {
    /// `None` for a server without certificates (no `SSL_CTX` in nginx).
    handshake: Option<Arc<Handshake>>,
    reject_handshake: bool,
    /// `ssl on;` (the legacy switch: the server's addresses speak TLS).
    ssl_on: bool,
}

/// A configuration a handshake runs with, and how it judges client
/// certificates.
#[derive(Debug)]
struct Handshake {
    config: Arc<ServerConfig>,
    verify: VerifyClient,
    trust: TrustStore,
    verify_depth: u32,
}

/// What accepting a connection on a TLS address gave.
pub enum Accepted {
    Tls(ClientStream, Box<TlsInfo>),
    /// The first byte is not a TLS record: a plain request (497).
    Plain(Transport),
}

impl TlsServers {
    /// Reads the `ssl_*` directives of every server of `rt` and builds the
    /// configurations; the error is nginx's `[emerg]` text.
    pub fn build(config: &Config, rt: &Runtime) -> Result<TlsServers, String> {
        let mut out = TlsServers {
            servers: (0..rt.servers.len())
                .map(|_| ServerTls::default())
                .collect(),
            warnings: Vec::new(),
        };
        let mut http_dirs: Vec<&Directive> = Vec::new();
        let mut server_blocks: Vec<&Directive> = Vec::new();
        if let Some(main) = config.main() {
            let mut top = Vec::new();
            for d in main.block.directives() {
                collect_top(config, d, &mut top);
            }
            for http in top.into_iter().filter(|d| d.is("http")) {
                flatten_block(config, http, &mut http_dirs);
            }
        }
        server_blocks.extend(http_dirs.iter().copied().filter(|d| d.is("server")));
        let mut zones: HashMap<String, Arc<TimedSessions>> = HashMap::new();
        for block in server_blocks {
            let Some(index) = rt.servers.iter().position(|s| s.span == block.name.span) else {
                continue;
            };
            let mut dirs = Vec::new();
            flatten_block(config, block, &mut dirs);
            let merged = Merged {
                http: &http_dirs,
                server: &dirs,
            };
            out.servers[index] = out.server(&merged, rt, &mut zones)?;
        }
        Ok(out)
    }

    /// Whether connections to `addr` speak TLS: `listen ... ssl`, or
    /// `ssl on` in the address's default server.
    pub fn is_tls(&self, addr: &AddrConf) -> bool {
        addr.ssl
            || self
                .servers
                .get(addr.default_server.index())
                .is_some_and(|s| s.ssl_on)
    }

    fn server(
        &mut self,
        m: &Merged<'_>,
        rt: &Runtime,
        zones: &mut HashMap<String, Arc<TimedSessions>>,
    ) -> Result<ServerTls, String> {
        let ssl_on = m.flag("ssl", false);
        let reject_handshake = m.flag("ssl_reject_handshake", false);
        let certs = m.all("ssl_certificate");
        let keys = m.all("ssl_certificate_key");
        // Certificates named by variables are loaded per handshake by nginx
        // (not by -t); `-c` refuses them (enforcement), so none is built.
        let by_variables = certs
            .iter()
            .chain(keys.iter())
            .any(|d| d.args.first().is_some_and(|a| a.value.contains(&b'$')));
        if certs.is_empty() || by_variables {
            return Ok(ServerTls {
                handshake: None,
                reject_handshake,
                ssl_on,
            });
        }
        let at = |d: &Directive| format!(" in {}", rt.source(d.name.span));
        let conf_dir = rt.conf_dir.as_path();
        let provider = self.provider(m, rt)?;
        let mut keyed = Vec::new();
        for (i, cert) in certs.iter().enumerate() {
            let cert_name = arg_text(cert);
            let Some(key) = keys.get(i) else {
                return Err(format!(
                    "no \"ssl_certificate_key\" is defined for certificate \"{cert_name}\"{}",
                    at(cert)
                ));
            };
            keyed.push(certified_key(&provider, conf_dir, cert, key).map_err(|e| e + &at(cert))?);
        }
        let mut versions = self.versions(m, rt, "ssl_protocols")?;
        if !provider
            .cipher_suites
            .iter()
            .any(|s| s.version() == &rustls::version::TLS12)
        {
            versions.retain(|v| *v != &rustls::version::TLS12);
            if versions.is_empty() {
                let d = m.last("ssl_ciphers");
                return Err(format!(
                    "ssl_ciphers \"{}\" selects no TLSv1.2 cipher suite rustls has, and ssl_protocols allows only TLSv1.2{}",
                    d.map(arg_text).unwrap_or_default(),
                    d.map(&at).unwrap_or_default()
                ));
            }
        }
        let verify = match m.last("ssl_verify_client") {
            Some(d) => d
                .args
                .first()
                .and_then(|a| VerifyClient::parse(&a.value))
                .unwrap_or_default(),
            None => VerifyClient::Off,
        };
        let client_ca = m.last("ssl_client_certificate");
        let mut trust = TrustStore::default();
        let mut hints: Vec<DistinguishedName> = Vec::new();
        if verify != VerifyClient::Off {
            if client_ca.is_none()
                && m.last("ssl_trusted_certificate").is_none()
                && verify != VerifyClient::OptionalNoCa
            {
                return Err(format!(
                    "no ssl_client_certificate for ssl_verify_client{}",
                    m.last("ssl_verify_client").map(&at).unwrap_or_default()
                ));
            }
            if let Some(d) = client_ca {
                let cas = certs::load_cas(&certs::full_name(conf_dir, &arg_text(d)))
                    .map_err(|e| e + &at(d))?;
                for ca in &cas {
                    if let Some(name) = subject_of(ca)
                        && !hints.iter().any(|h| h.as_ref() == name.as_slice())
                    {
                        hints.push(DistinguishedName::from(name));
                    }
                }
                trust.trusted.extend(cas);
            }
            if let Some(d) = m.last("ssl_trusted_certificate") {
                let cas = certs::load_cas(&certs::full_name(conf_dir, &arg_text(d)))
                    .map_err(|e| e + &at(d))?;
                trust.trusted.extend(cas);
            }
            if let Some(d) = m.last("ssl_crl") {
                trust.crls = certs::load_crls(&certs::full_name(conf_dir, &arg_text(d)))
                    .map_err(|e| e + &at(d))?;
            }
        }
        let verify_depth = m
            .last("ssl_verify_depth")
            .and_then(|d| d.args.first())
            .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse().ok())
            .unwrap_or(1);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("SSL_CTX_new() failed ({e})"))?;
        let builder = if verify == VerifyClient::Off {
            builder.with_no_client_auth()
        } else {
            builder.with_client_cert_verifier(Arc::new(AskClientCert { hints }))
        };
        let mut config = builder.with_cert_resolver(Arc::new(Certificates(keyed)));
        // nginx offers http/1.1 only (no HTTP/2 here): a client that offers
        // ALPN without it fails, as with nginx's ngx_http_ssl_alpn_select.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.ignore_client_order = m.flag("ssl_prefer_server_ciphers", false);
        config.max_early_data_size = 0;
        if let Some(size) = m
            .last("ssl_buffer_size")
            .and_then(|d| d.args.first())
            .and_then(|a| upgate_runtime::timeouts::parse_size(&a.value))
        {
            config.max_fragment_size = Some((size as usize).clamp(512, 16 * 1024));
        }
        let timeout = m
            .last("ssl_session_timeout")
            .and_then(|d| d.args.first())
            .and_then(|a| upgate_runtime::timeouts::parse_time(&a.value))
            .unwrap_or(Duration::from_secs(300));
        let cache = session_cache(m.last("ssl_session_cache"));
        config.session_storage = match &cache {
            SessionCache::Off | SessionCache::None => {
                Arc::new(rustls::server::NoServerSessionStorage {})
            }
            SessionCache::Builtin(n) => TimedSessions::new(*n, timeout),
            SessionCache::Shared(name, n) => zones
                .entry(name.clone())
                .or_insert_with(|| TimedSessions::new(*n, timeout))
                .clone(),
        };
        let tickets = m.flag("ssl_session_tickets", true);
        let key_files = m.all("ssl_session_ticket_key");
        if tickets && !key_files.is_empty() {
            let mut files = Vec::new();
            for d in &key_files {
                let path = certs::full_name(conf_dir, &arg_text(d));
                let bytes = std::fs::read(&path).map_err(|e| {
                    format!(
                        "open() \"{}\" failed ({}){}",
                        path.display(),
                        crate::proxy::errno(&e),
                        at(d)
                    )
                })?;
                files.push((path.display().to_string(), bytes));
            }
            config.ticketer =
                Tickets::from_files(&files, timeout).map_err(|e| e + &at(key_files[0]))?;
        } else if tickets {
            config.ticketer = Tickets::random(timeout)?;
        }
        if !tickets && matches!(cache, SessionCache::Off | SessionCache::None) {
            config.send_tls13_tickets = 0;
        }
        Ok(ServerTls {
            handshake: Some(Arc::new(Handshake {
                config: Arc::new(config),
                verify,
                trust,
                verify_depth,
            })),
            reject_handshake,
            ssl_on,
        })
    }

    /// The crypto provider with the server's cipher suites and curves.
    fn provider(&mut self, m: &Merged<'_>, rt: &Runtime) -> Result<Arc<CryptoProvider>, String> {
        let mut provider = (*super::provider()).clone();
        let ciphers = m.last("ssl_ciphers");
        let text = ciphers.map_or("HIGH:!aNULL:!MD5".to_string(), arg_text);
        let (chosen, tls12) = suites::cipher_suites(&text).map_err(|e| {
            format!(
                "SSL_CTX_set_cipher_list(\"{text}\") failed ({e}){}",
                ciphers
                    .map(|d| format!(" in {}", rt.source(d.name.span)))
                    .unwrap_or_default()
            )
        })?;
        if tls12 == 0
            && let Some(d) = ciphers
        {
            self.warnings.push(format!(
                "ssl_ciphers \"{text}\" selects no TLSv1.2 suite rustls has: TLSv1.2 is not offered in {}",
                rt.source(d.name.span)
            ));
        }
        provider.cipher_suites = chosen;
        if let Some(d) = m.last("ssl_ecdh_curve") {
            let text = arg_text(d);
            let (groups, dropped) = suites::kx_groups(&text)
                .map_err(|e| format!("{e} in {}", rt.source(d.name.span)))?;
            if !dropped.is_empty() {
                self.warnings.push(format!(
                    "ssl_ecdh_curve: {} not offered (rustls has no such group) in {}",
                    dropped.join(", "),
                    rt.source(d.name.span)
                ));
            }
            provider.kx_groups = groups;
        }
        Ok(Arc::new(provider))
    }

    /// `ssl_protocols` (TLSv1.2 TLSv1.3 by default, as nginx 1.23.4+).
    fn versions(
        &mut self,
        m: &Merged<'_>,
        rt: &Runtime,
        name: &str,
    ) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
        let Some(d) = m.last(name) else {
            return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
        };
        let names: Vec<String> = d.args.iter().map(|a| a.text().into_owned()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (versions, dropped) = suites::protocol_versions(&refs)
            .map_err(|e| format!("{e} in {}", rt.source(d.name.span)))?;
        if !dropped.is_empty() {
            self.warnings.push(format!(
                "{name}: {} never offered (rustls speaks TLSv1.2 and TLSv1.3 only) in {}",
                dropped.join(" "),
                rt.source(d.name.span)
            ));
        }
        Ok(versions)
    }

    /// Accepts a TLS connection on `addr` (its handshake bounded by
    /// `timeout`), choosing the server by SNI as nginx does.
    pub async fn accept(
        &self,
        tcp: Transport,
        addr: &AddrConf,
        timeout: Duration,
    ) -> Result<Accepted, String> {
        let mut first = [0u8; 1];
        match tokio::time::timeout(timeout, tcp.peek(&mut first)).await {
            Err(_) => {
                return Err(
                    "client timed out (110: Connection timed out) while SSL handshaking".into(),
                );
            }
            Ok(Err(e)) => return Err(format!("recv() failed ({})", crate::proxy::errno(&e))),
            Ok(Ok(0)) => return Err("client closed connection while SSL handshaking".into()),
            Ok(Ok(_)) => {}
        }
        // ngx_http_ssl_handshake: a TLS record (0x16) or an SSLv2 hello.
        if first[0] != 0x16 && first[0] & 0x80 == 0 {
            return Ok(Accepted::Plain(tcp));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let (accepted, mut tcp) = match tokio::time::timeout_at(deadline, client_hello(tcp)).await {
            Err(_) => {
                return Err(
                    "client timed out (110: Connection timed out) while SSL handshaking".into(),
                );
            }
            Ok(Err(e)) => return Err(format!("{e} while SSL handshaking")),
            Ok(Ok(got)) => got,
        };
        let hello = Hello::read(&accepted.client_hello());
        let mut chosen = addr.default_server;
        let mut client = ClientTls::default();
        if let Some(name) = hello.server_name.as_deref()
            && let Some(host) = upgate_runtime::server_name::validate_host(name.as_bytes())
        {
            let (server, how, _) = find_virtual_server(addr, &host);
            if !matches!(how, ServerMatch::Default | ServerMatch::Only) {
                chosen = server;
                client.server_name = Some(host);
                client.sni_server = Some(server);
            }
        }
        let server = self.servers.get(chosen.index());
        if server.is_some_and(|s| s.reject_handshake) {
            // A fatal unrecognized_name alert, as OpenSSL sends it for
            // nginx's SSL_TLSEXT_ERR_ALERT_FATAL.
            let _ = tokio::time::timeout_at(
                deadline,
                tcp.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]),
            )
            .await;
            return Err(
                "SSL_do_handshake() failed (SSL: handshake rejected) while SSL handshaking".into(),
            );
        }
        let handshake = server
            .and_then(|s| s.handshake.clone())
            .or_else(|| {
                self.servers
                    .get(addr.default_server.index())
                    .and_then(|s| s.handshake.clone())
            })
            .ok_or_else(|| "no \"ssl_certificate\" is defined for the server".to_string())?;
        let stream = match tokio::time::timeout_at(
            deadline,
            tokio_rustls::StartHandshake::from_parts(accepted, tcp)
                .into_stream(handshake.config.clone()),
        )
        .await
        {
            Err(_) => {
                return Err(
                    "client timed out (110: Connection timed out) while SSL handshaking".into(),
                );
            }
            Ok(Err(e)) => {
                return Err(format!(
                    "SSL_do_handshake() failed (SSL: {e}) while SSL handshaking"
                ));
            }
            Ok(Ok(s)) => s,
        };
        let conn = stream.get_ref().1;
        let chain: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
            .unwrap_or_default();
        let verdict = if chain.is_empty() || handshake.verify == VerifyClient::Off {
            None
        } else {
            Some(super::verify::verify(
                &chain,
                &handshake.trust,
                handshake.verify_depth,
                Purpose::Client,
                super::verify::now(),
            ))
        };
        client.client_cert = match verdict {
            None => ClientCert::None,
            Some(Ok(())) => ClientCert::Verified,
            Some(Err(e)) => ClientCert::Failed {
                optional: e.optional(),
            },
        };
        let values = vars::values(conn, &hello, &chain, verdict.as_ref());
        Ok(Accepted::Tls(
            ClientStream::Tls(Box::new(stream)),
            Box::new(TlsInfo {
                client,
                values: values.into(),
            }),
        ))
    }
}

/// The directives of the top level, includes followed (the `http` block
/// may come from an included file).
fn collect_top<'c>(config: &'c Config, d: &'c Directive, out: &mut Vec<&'c Directive>) {
    out.push(d);
    for &id in &d.includes {
        for inner in config.file(id).block.directives() {
            collect_top(config, inner, out);
        }
    }
}

/// The http and server levels of one server, merged as
/// `ngx_http_ssl_merge_srv_conf` merges: the server's value, else http's.
struct Merged<'a> {
    http: &'a [&'a Directive],
    server: &'a [&'a Directive],
}

impl<'a> Merged<'a> {
    fn last(&self, name: &str) -> Option<&'a Directive> {
        let at = |dirs: &'a [&'a Directive]| dirs.iter().rev().find(|d| d.is(name)).copied();
        at(self.server).or_else(|| at(self.http))
    }

    /// An array directive (`ssl_certificate`): the server's list, else http's.
    fn all(&self, name: &str) -> Vec<&'a Directive> {
        let own: Vec<&'a Directive> = self.server.iter().filter(|d| d.is(name)).copied().collect();
        if !own.is_empty() {
            return own;
        }
        self.http.iter().filter(|d| d.is(name)).copied().collect()
    }

    fn flag(&self, name: &str, default: bool) -> bool {
        self.last(name)
            .and_then(|d| d.args.first())
            .map_or(default, |a| a.value.eq_ignore_ascii_case(b"on"))
    }
}

fn arg_text(d: &Directive) -> String {
    d.args
        .first()
        .map(|a| a.text().into_owned())
        .unwrap_or_default()
}

/// `ssl_session_cache`.
enum SessionCache {
    Off,
    None,
    Builtin(usize),
    Shared(String, usize),
}

/// `ngx_http_ssl_session_cache`: `off`, `none`, `builtin[:N]`,
/// `shared:NAME:SIZE` (a shared zone wins when both are given).
fn session_cache(d: Option<&Directive>) -> SessionCache {
    let Some(d) = d else {
        return SessionCache::None;
    };
    let mut out = SessionCache::None;
    for a in &d.args {
        let text = a.text();
        if text == "off" {
            return SessionCache::Off;
        } else if text == "none" {
            out = SessionCache::None;
        } else if let Some(rest) = text.strip_prefix("builtin") {
            let n = rest
                .strip_prefix(':')
                .and_then(|n| n.parse().ok())
                .unwrap_or(20480);
            if !matches!(out, SessionCache::Shared(..)) {
                out = SessionCache::Builtin(n);
            }
        } else if let Some(rest) = text.strip_prefix("shared:") {
            let (name, size) = rest.split_once(':').unwrap_or((rest, "1m"));
            let bytes = upgate_runtime::timeouts::parse_size(size.as_bytes()).unwrap_or(1 << 20);
            // nginx fits about 4000 sessions in a megabyte.
            out = SessionCache::Shared(name.to_string(), (bytes as usize / 256).max(64));
        }
    }
    out
}

/// Loads one certificate chain with its key, as `ngx_ssl_certificate`.
fn certified_key(
    provider: &CryptoProvider,
    conf_dir: &Path,
    cert: &Directive,
    key: &Directive,
) -> Result<Arc<CertifiedKey>, String> {
    let cert_path = certs::full_name(conf_dir, &arg_text(cert));
    let key_path = certs::full_name(conf_dir, &arg_text(key));
    let chain = certs::load_chain(&cert_path)?;
    let der = certs::load_key(&key_path)?;
    let signing = provider.key_provider.load_private_key(der).map_err(|e| {
        format!(
            "cannot load certificate key \"{}\": {e}",
            key_path.display()
        )
    })?;
    // SSL_CTX_use_PrivateKey's check, on the SubjectPublicKeyInfo bytes
    // (rustls's own `keys_match` parses with webpki, which refuses the
    // version 1 certificates OpenSSL takes).
    use x509_parser::prelude::FromDer;
    let cert_spki = chain
        .first()
        .and_then(|c| x509_parser::certificate::X509Certificate::from_der(c).ok())
        .map(|(_, c)| c.public_key().raw.to_vec());
    if let (Some(cert_spki), Some(key_spki)) = (cert_spki, signing.public_key())
        && cert_spki != key_spki.as_ref()
    {
        return Err(format!(
            "SSL_CTX_use_PrivateKey(\"{}\") failed (SSL: key values mismatch)",
            key_path.display()
        ));
    }
    let keyed = CertifiedKey::new(chain, signing);
    Ok(Arc::new(keyed))
}

/// The subject name of a certificate, as sent in a CertificateRequest.
fn subject_of(der: &CertificateDer<'_>) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    Some(cert.subject().as_raw().to_vec())
}

/// A server's certificates; the first whose key signs with a scheme the
/// client offers, in the client's order of preference (OpenSSL's
/// `tls_choose_sigalg`), wins.
#[derive(Debug)]
struct Certificates(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        for scheme in hello.signature_schemes() {
            if let Some(k) = self
                .0
                .iter()
                .find(|k| k.key.choose_scheme(std::slice::from_ref(scheme)).is_some())
            {
                return Some(k.clone());
            }
        }
        self.0.first().cloned()
    }
}

/// Asks for a client certificate and accepts any (the chain is judged
/// after the handshake), while still checking that the client holds the
/// certificate's key.
#[derive(Debug)]
struct AskClientCert {
    /// The subjects of ssl_client_certificate, sent as acceptable CAs.
    hints: Vec<DistinguishedName>,
}

impl ClientCertVerifier for AskClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        super::signature::verify(message, cert, dss, ProtocolVersion::TLSv1_2)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        super::signature::verify(message, cert, dss, ProtocolVersion::TLSv1_3)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        super::signature::SCHEMES.to_vec()
    }
}

/// Reads until rustls has the whole ClientHello; the socket stays ours (so
/// that a rejected handshake can be answered with nginx's alert). A
/// malformed hello is answered with rustls's alert.
async fn client_hello(mut tcp: Transport) -> Result<(rustls::server::Accepted, Transport), String> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf)
            .await
            .map_err(|e| format!("recv() failed ({})", crate::proxy::errno(&e)))?;
        if n == 0 {
            return Err("client closed connection".into());
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            acceptor
                .read_tls(&mut data)
                .map_err(|e| format!("SSL_do_handshake() failed (SSL: {e})"))?;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok((accepted, tcp)),
            Ok(None) => {}
            Err((e, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = tcp.write_all(&out).await;
                return Err(format!("SSL_do_handshake() failed (SSL: {e})"));
            }
        }
    }
}
