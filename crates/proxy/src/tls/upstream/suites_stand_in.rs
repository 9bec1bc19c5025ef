//! A stand-in for `crate::tls::suites` (being written beside this branch)
//! with the same signatures, so that `proxy_ssl_protocols` and
//! `proxy_ssl_ciphers` can be read now; it goes when that module lands.
//! It knows nginx's protocol names and OpenSSL's names of the suites rustls
//! has; any keyword (DEFAULT, HIGH, ALL, ...) stands for every suite.

use rustls::crypto::ring::cipher_suite as cs;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

/// The versions of `names` that rustls speaks, and the names it drops.
pub fn protocol_versions(
    names: &[&str],
) -> Result<(Vec<&'static SupportedProtocolVersion>, Vec<String>), String> {
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    for &n in names {
        match n {
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            other => dropped.push(other.to_string()),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no protocol upgate speaks among \"{}\" (TLSv1.2 and TLSv1.3 only)",
            names.join(" ")
        ));
    }
    Ok((out, dropped))
}

const TLS12: &[(&str, SupportedCipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The suites an OpenSSL cipher string selects: TLS 1.3's always (the
/// string governs TLS 1.2 only, as in OpenSSL), then the TLS 1.2 ones it
/// names; the count is of the latter.
pub fn cipher_suites(spec: &str) -> Result<(Vec<SupportedCipherSuite>, usize), String> {
    let mut tls12: Vec<SupportedCipherSuite> = Vec::new();
    let mut add = |s: SupportedCipherSuite| {
        if !tls12.iter().any(|t| t.suite() == s.suite()) {
            tls12.push(s);
        }
    };
    for token in spec.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if token.starts_with(['!', '-', '+', '@']) {
            continue;
        }
        if let Some((_, s)) = TLS12.iter().find(|(n, _)| *n == token) {
            add(*s);
        } else if token
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            for (_, s) in TLS12 {
                add(*s);
            }
        }
    }
    if tls12.is_empty() {
        return Err(format!(
            "SSL_CTX_set_cipher_list(\"{spec}\") failed (SSL: error:0A0000B9:SSL routines::no cipher match)"
        ));
    }
    let n = tls12.len();
    let mut all = vec![
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
        cs::TLS13_AES_128_GCM_SHA256,
    ];
    all.extend(tls12);
    Ok((all, n))
}
