//! TLS with rustls, as nginx's ngx_http_ssl_module and the proxy module's
//! `proxy_ssl_*` configure OpenSSL:
//!
//! - [`certs`]: PEM files (certificate chains, keys, CA lists, CRLs) read
//!   as `ngx_ssl_certificate` / `ngx_ssl_client_certificate` read them, with
//!   nginx's error texts;
//! - [`suites`]: OpenSSL's names (cipher strings, protocol and curve names)
//!   mapped to what rustls offers;
//! - [`verify`]: certificate chains judged by OpenSSL's rules and codes;
//! - [`server`]: the per-server configurations of a TLS listener and the
//!   choice among them by SNI (`ngx_http_ssl_servername`);
//! - [`vars`]: the `$ssl_*` variables of a connection;
//! - [`upstream`]: TLS to upstream peers (`proxy_pass https://`).

pub mod certs;
pub mod server;
mod sessions;
mod signature;
pub mod suites;
pub mod upstream;
pub mod vars;
pub mod verify;

/// The process-wide crypto provider (aws-lc-rs: its RSA signatures are as
/// fast as OpenSSL's, twice ring's, and RSA certificates are most
/// handshakes): every configuration is built on it, so that no global
/// default has to be installed.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<std::sync::Arc<rustls::crypto::CryptoProvider>> =
        std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}
