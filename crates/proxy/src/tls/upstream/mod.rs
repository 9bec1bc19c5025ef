//! TLS to upstream peers (`proxy_pass https://…`), as
//! ngx_http_proxy_module.c configures it (`ngx_http_proxy_merge_loc_conf`,
//! `ngx_http_proxy_set_ssl`) and ngx_http_upstream.c runs it
//! (`ngx_http_upstream_ssl_init_connection`, `ngx_http_upstream_ssl_name`,
//! `ngx_http_upstream_ssl_handshake`):
//!
//! - [`ProxySslConf`]: the `proxy_ssl_*` directives of a level, inherited
//!   http → server → location as `ngx_conf_merge_*` does;
//! - [`UpstreamTls`]: what a location connects with, built once per
//!   configuration generation (files read then, nginx's `[emerg]` on
//!   failure): one rustls client configuration with its session cache
//!   (`proxy_ssl_session_reuse`), the `proxy_ssl_name` complex value and
//!   whether to send it (`proxy_ssl_server_name`);
//! - [`UpstreamTls::handshake`]: the handshake after TCP connect, bounded by
//!   what is left of proxy_connect_timeout (nginx's connect timer still runs
//!   during it), the name checked afterwards as nginx checks it, failures
//!   with nginx's error log text.
//!
//! `verify.rs` lets every certificate through the handshake, as nginx's
//! callback does; the chain is then judged by [`crate::tls::verify`] and
//! the name by `host.rs` (`X509_check_host`). `client_cert.rs` is
//! proxy_ssl_certificate, `error.rs` nginx's texts for failures.

mod client_cert;
mod error;
mod host;
mod verify;

pub use error::{HandshakeError, log_level, openssl_reason};

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rustls::ClientConfig;
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use upgate_conf::{Directive, SourceMap, Span};
use upgate_runtime::variable::{Template, UserVars};

use crate::tls::certs;
use crate::tls::suites;
use crate::tls::verify::{Purpose, TrustStore};
use client_cert::client_certificate;
use error::handshake_message;

/// OpenSSL 3's error for a PEM file with nothing in it.
const NOTHING_FOUND: &str = "error:05800088:x509 certificate routines::no certificate or crl found";

/// One directive's arguments and where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Set {
    pub args: Vec<Vec<u8>>,
    pub span: Span,
}

impl Set {
    fn first(&self) -> &[u8] {
        self.args.first().map(Vec::as_slice).unwrap_or_default()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(self.first()).into_owned()
    }

    fn on(&self) -> bool {
        self.first().eq_ignore_ascii_case(b"on")
    }
}

/// The `proxy_ssl_*` directives in force at a level: each the nearest
/// level's, else nginx's default (applied by [`UpstreamTls::build`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProxySslConf {
    pub proxy_ssl_server_name: Option<Set>,
    pub proxy_ssl_name: Option<Set>,
    pub proxy_ssl_verify: Option<Set>,
    pub proxy_ssl_verify_depth: Option<Set>,
    pub proxy_ssl_trusted_certificate: Option<Set>,
    pub proxy_ssl_crl: Option<Set>,
    pub proxy_ssl_certificate: Option<Set>,
    pub proxy_ssl_certificate_key: Option<Set>,
    pub proxy_ssl_protocols: Option<Set>,
    pub proxy_ssl_ciphers: Option<Set>,
    pub proxy_ssl_session_reuse: Option<Set>,
}

impl ProxySslConf {
    /// Takes `d` if it is one of the directives; a later one at the same
    /// level replaces an earlier (nginx refuses duplicates before this).
    pub fn apply(&mut self, d: &Directive) {
        let set = Some(Set {
            args: d.args.iter().map(|a| a.value.clone()).collect(),
            span: d.name.span,
        });
        match d.name.value.as_slice() {
            b"proxy_ssl_server_name" => self.proxy_ssl_server_name = set,
            b"proxy_ssl_name" => self.proxy_ssl_name = set,
            b"proxy_ssl_verify" => self.proxy_ssl_verify = set,
            b"proxy_ssl_verify_depth" => self.proxy_ssl_verify_depth = set,
            b"proxy_ssl_trusted_certificate" => self.proxy_ssl_trusted_certificate = set,
            b"proxy_ssl_crl" => self.proxy_ssl_crl = set,
            b"proxy_ssl_certificate" => self.proxy_ssl_certificate = set,
            b"proxy_ssl_certificate_key" => self.proxy_ssl_certificate_key = set,
            b"proxy_ssl_protocols" => self.proxy_ssl_protocols = set,
            b"proxy_ssl_ciphers" => self.proxy_ssl_ciphers = set,
            b"proxy_ssl_session_reuse" => self.proxy_ssl_session_reuse = set,
            _ => {}
        }
    }
}

/// How a location talks TLS to its upstreams.
#[derive(Debug)]
pub struct UpstreamTls {
    config: Arc<ClientConfig>,
    /// proxy_ssl_verify on: the trusted certificates and CRLs, and
    /// proxy_ssl_verify_depth; the chain and the name are checked after
    /// the handshake.
    verify: Option<(TrustStore, u32)>,
    /// proxy_ssl_name, compiled; `None`: the proxied host.
    name: Option<Template>,
}

/// What the files and values of a level are resolved against. (The
/// `emerg` helper also places warnings: `MESSAGE in FILE:LINE`.)
pub struct BuildContext<'a> {
    pub conf_dir: &'a Path,
    pub user: &'a UserVars,
    pub sources: &'a SourceMap,
}

impl BuildContext<'_> {
    /// nginx's `[emerg]` (or `[warn]`) text, with the directive's position.
    fn emerg(&self, message: String, at: Option<&Set>) -> String {
        match at {
            Some(s) if s.span.file.index() < self.sources.len() => format!(
                "{message} in {}:{}",
                self.sources.path(s.span.file).display(),
                s.span.line
            ),
            _ => message,
        }
    }
}

impl UpstreamTls {
    /// `ngx_http_proxy_set_ssl`: the configuration of a level whose
    /// proxy_pass is https or made of variables. Defaults: no SNI, no
    /// verification (depth 1), TLSv1.2 and TLSv1.3, ciphers DEFAULT,
    /// sessions reused.
    /// What upgate serves differently from nginx goes to `warnings`
    /// (protocols and TLSv1.2 suites rustls does not have).
    pub fn build(
        c: &ProxySslConf,
        cx: &BuildContext<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<UpstreamTls, String> {
        let base = crate::tls::provider();
        let protocols: Vec<String> = match &c.proxy_ssl_protocols {
            Some(s) => s
                .args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            None => vec!["TLSv1.2".into(), "TLSv1.3".into()],
        };
        let names: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let (mut versions, dropped) = suites::protocol_versions(&names)
            .map_err(|e| cx.emerg(e, c.proxy_ssl_protocols.as_ref()))?;
        if !dropped.is_empty() {
            warnings.push(cx.emerg(
                format!(
                    "proxy_ssl_protocols: {} never offered (rustls speaks TLSv1.2 and TLSv1.3 only)",
                    dropped.join(" ")
                ),
                c.proxy_ssl_protocols.as_ref(),
            ));
        }
        let ciphers = c
            .proxy_ssl_ciphers
            .as_ref()
            .map_or_else(|| "DEFAULT".to_string(), Set::text);
        let (cipher_suites, tls12) = suites::cipher_suites(&ciphers)
            .map_err(|e| cx.emerg(e, c.proxy_ssl_ciphers.as_ref()))?;
        if tls12 == 0 && versions.len() > 1 {
            versions.retain(|v| v.version != rustls::ProtocolVersion::TLSv1_2);
            warnings.push(cx.emerg(
                format!(
                    "proxy_ssl_ciphers \"{ciphers}\" selects no TLSv1.2 suite rustls has: TLSv1.2 is not offered"
                ),
                c.proxy_ssl_ciphers.as_ref(),
            ));
        }
        let provider = Arc::new(CryptoProvider {
            cipher_suites,
            ..base.as_ref().clone()
        });
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| cx.emerg(format!("SSL_CTX_new() failed ({e})"), None))?;
        let verify = if c.proxy_ssl_verify.as_ref().is_some_and(Set::on) {
            let Some(trusted) = &c.proxy_ssl_trusted_certificate else {
                return Err(cx.emerg(
                    "no proxy_ssl_trusted_certificate for proxy_ssl_verify".into(),
                    c.proxy_ssl_verify.as_ref(),
                ));
            };
            let path = certs::full_name(cx.conf_dir, &trusted.text());
            let trusted_certs = certs::load_cas(&path).map_err(|e| cx.emerg(e, Some(trusted)))?;
            if trusted_certs.is_empty() {
                return Err(cx.emerg(
                    format!(
                        "SSL_CTX_load_verify_locations(\"{}\") failed (SSL: {NOTHING_FOUND})",
                        path.display()
                    ),
                    Some(trusted),
                ));
            }
            // nginx reads the CRL only for verification (ngx_http_proxy_set_ssl).
            let crls = match &c.proxy_ssl_crl {
                Some(crl) => {
                    let path = certs::full_name(cx.conf_dir, &crl.text());
                    let crls = certs::load_crls(&path).map_err(|e| cx.emerg(e, Some(crl)))?;
                    // X509_LOOKUP_load_file takes certificates from it too.
                    if crls.is_empty() && certs::load_cas(&path).is_ok_and(|c| c.is_empty()) {
                        return Err(cx.emerg(
                            format!(
                                "X509_LOOKUP_load_file(\"{}\") failed (SSL: {NOTHING_FOUND})",
                                path.display()
                            ),
                            Some(crl),
                        ));
                    }
                    crls
                }
                None => Vec::new(),
            };
            let depth = c
                .proxy_ssl_verify_depth
                .as_ref()
                .and_then(|s| s.text().parse().ok())
                .unwrap_or(1);
            Some((
                TrustStore {
                    trusted: trusted_certs,
                    crls,
                },
                depth,
            ))
        } else {
            None
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verify::AnyCertificate));
        let mut config = match &c.proxy_ssl_certificate {
            Some(cert) if !cert.first().is_empty() => {
                let Some(key) = &c.proxy_ssl_certificate_key else {
                    return Err(cx.emerg(
                        format!(
                            "no \"proxy_ssl_certificate_key\" is defined for certificate \"{}\"",
                            cert.text()
                        ),
                        Some(cert),
                    ));
                };
                let chain = certs::load_chain(&certs::full_name(cx.conf_dir, &cert.text()))
                    .map_err(|e| cx.emerg(e, Some(cert)))?;
                let key_path = certs::full_name(cx.conf_dir, &key.text());
                let der = certs::load_key(&key_path).map_err(|e| cx.emerg(e, Some(key)))?;
                let client = client_certificate(chain, der, &provider).map_err(|e| {
                    cx.emerg(
                        format!(
                            "SSL_CTX_use_PrivateKey(\"{}\") failed (SSL: {e})",
                            key_path.display()
                        ),
                        Some(key),
                    )
                })?;
                builder.with_client_cert_resolver(client)
            }
            _ => builder.with_no_client_auth(),
        };
        config.enable_sni = c.proxy_ssl_server_name.as_ref().is_some_and(Set::on);
        let reuse = c.proxy_ssl_session_reuse.as_ref().is_none_or(Set::on);
        config.resumption = if reuse {
            Resumption::default()
        } else {
            Resumption::disabled()
        };
        let name = match &c.proxy_ssl_name {
            Some(s) => Some(
                upgate_runtime::variable::compile(s.first(), cx.user)
                    .map_err(|e| cx.emerg(e.to_string(), Some(s)))?,
            ),
            None => None,
        };
        Ok(UpstreamTls {
            config: Arc::new(config),
            verify,
            name,
        })
    }

    /// `ngx_http_upstream_ssl_name`: proxy_ssl_name evaluated for this
    /// request, else the proxied host (the `upstream {}` block's name, or
    /// the URL's host); a port is stripped.
    pub fn name(&self, r: &mut upgate_runtime::Request<'_>, proxied_host: &[u8]) -> Vec<u8> {
        let name = match &self.name {
            Some(t) => r.eval(t),
            None => proxied_host.to_vec(),
        };
        strip_port(name)
    }

    /// The handshake on a connected socket, bounded by `deadline` (what is
    /// left of proxy_connect_timeout), then nginx's name check when
    /// proxy_ssl_verify is on.
    ///
    /// Cancel safety: dropping the future abandons the connection.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        name: &[u8],
        deadline: Instant,
    ) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let server_name = server_name(name);
        let stream =
            match tokio::time::timeout_at(deadline.into(), connector.connect(server_name, tcp))
                .await
            {
                Err(_) => return Err(HandshakeError::Timeout),
                Ok(Err(e)) => return Err(HandshakeError::Failed(handshake_message(&e))),
                Ok(Ok(s)) => s,
            };
        if let Some((store, depth)) = &self.verify {
            let chain = stream.get_ref().1.peer_certificates().unwrap_or_default();
            if let Err(e) = crate::tls::verify::verify(
                chain,
                store,
                *depth,
                Purpose::Server,
                crate::tls::verify::now(),
            ) {
                return Err(HandshakeError::Failed(format!(
                    "upstream SSL certificate verify error: ({e})"
                )));
            }
            if !chain
                .first()
                .is_some_and(|c| host::check_host(c.as_ref(), name))
            {
                return Err(HandshakeError::Failed(format!(
                    "upstream SSL certificate does not match \"{}\"",
                    String::from_utf8_lossy(name)
                )));
            }
        }
        Ok(stream)
    }
}

/// `ngx_http_proxy_set_ssl` for every location that needs it: a static
/// `proxy_pass https://` or one made of variables (which may turn out https
/// per request), as nginx's `plcf->ssl` marks them.
pub fn build_all(
    config: &upgate_conf::Config,
    rt: &upgate_runtime::Runtime,
    settings: &crate::settings::Settings,
) -> Result<(PerLocation, Vec<String>), String> {
    let cx = BuildContext {
        conf_dir: &rt.conf_dir,
        user: &rt.user_vars,
        sources: &config.sources,
    };
    let mut built: std::collections::HashMap<&ProxySslConf, Arc<UpstreamTls>> =
        std::collections::HashMap::new();
    let mut out = Vec::with_capacity(rt.locations.len());
    let mut warnings = Vec::new();
    for (i, loc) in rt.locations.iter().enumerate() {
        let needs = loc
            .conf
            .proxy_pass
            .as_ref()
            .is_some_and(|p| match &p.target {
                upgate_runtime::proxy_pass::ProxyTarget::Static(url) => url.https,
                upgate_runtime::proxy_pass::ProxyTarget::Variables(_) => true,
            });
        let Some(s) = settings.locations.get(i).filter(|_| needs) else {
            out.push(None);
            continue;
        };
        let tls = match built.get(&s.proxy_ssl) {
            Some(t) => t.clone(),
            None => {
                let t = Arc::new(UpstreamTls::build(&s.proxy_ssl, &cx, &mut warnings)?);
                built.insert(&s.proxy_ssl, t.clone());
                t
            }
        };
        out.push(Some(tls));
    }
    Ok((out, warnings))
}

/// The TLS configuration of each location (indexed like the runtime's
/// locations), `None` where proxy_pass cannot be https.
pub type PerLocation = Vec<Option<Arc<UpstreamTls>>>;

/// What `upgate -t` adds to nginx's checks for upstream TLS: the files and
/// values `-c` would read, read now (nginx -t reads them too).
/// The warnings are those `-c` logs.
pub fn check(
    config: &upgate_conf::Config,
    rt: &upgate_runtime::Runtime,
) -> Result<Vec<String>, String> {
    let settings = crate::settings::Settings::read(config, rt);
    build_all(config, rt, &settings).map(|(_, warnings)| warnings)
}

/// The name without a port: `host:port` and `[v6]:port` as nginx cuts them.
fn strip_port(mut name: Vec<u8>) -> Vec<u8> {
    let from = if name.first() == Some(&b'[') {
        name.iter().position(|&c| c == b']').unwrap_or(0)
    } else {
        0
    };
    if let Some(colon) = name[from..].iter().position(|&c| c == b':') {
        name.truncate(from + colon);
    }
    name
}

/// What rustls is given: a DNS name goes out as SNI when
/// proxy_ssl_server_name is on (the configuration's `enable_sni`); an IPv4
/// literal never (RFC 6066, as nginx skips it), nor anything that is not a
/// host name.
fn server_name(name: &[u8]) -> ServerName<'static> {
    let text = String::from_utf8_lossy(name);
    if !text.starts_with('[')
        && let Ok(n) = ServerName::try_from(text.as_ref())
    {
        return n.to_owned();
    }
    ServerName::IpAddress(Ipv4Addr::UNSPECIFIED.into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_as_nginx_strips_them() {
        assert_eq!(strip_port(b"example.com:8443".to_vec()), b"example.com");
        assert_eq!(strip_port(b"[::1]:443".to_vec()), b"[::1]");
        assert_eq!(strip_port(b"b".to_vec()), b"b");
    }

    #[test]
    fn addresses_get_no_sni() {
        assert!(matches!(
            server_name(b"127.0.0.1"),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(server_name(b"[::1]"), ServerName::IpAddress(_)));
        assert!(matches!(server_name(b""), ServerName::IpAddress(_)));
        assert!(matches!(
            server_name(b"example.com"),
            ServerName::DnsName(_)
        ));
    }
}
