//! The `$ssl_*` variables of a connection, made once after its handshake
//! in the formats of nginx's getters (src/event/ngx_event_openssl.c:
//! `ngx_ssl_get_protocol`, `ngx_ssl_get_cipher_name`,
//! `ngx_ssl_get_subject_dn` with RFC 2253 and the `_legacy` one-line form,
//! `ngx_ssl_get_certificate` with its tab-continued lines, …).

use base64::Engine;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ServerConnection};
use rustls::{CipherSuite, NamedGroup};
use sha1::Digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::{FromDer, X509Name};

use super::suites;
use super::verify::VerifyError;

/// What the ClientHello said, kept for `$ssl_server_name`, `$ssl_ciphers`
/// and `$ssl_curves`.
#[derive(Debug, Default)]
pub struct Hello {
    /// The SNI name as sent.
    pub server_name: Option<String>,
    pub ciphers: Vec<CipherSuite>,
    pub groups: Vec<NamedGroup>,
}

impl Hello {
    pub fn read(hello: &ClientHello<'_>) -> Hello {
        Hello {
            server_name: hello.server_name().map(str::to_owned),
            ciphers: hello.cipher_suites().to_vec(),
            groups: hello.named_groups().map(<[_]>::to_vec).unwrap_or_default(),
        }
    }
}

/// Every `$ssl_*` value of the connection, by variable name.
pub fn values(
    conn: &ServerConnection,
    hello: &Hello,
    chain: &[CertificateDer<'_>],
    verdict: Option<&Result<(), VerifyError>>,
) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(24);
    let mut put = |name: &str, value: String| out.push((name.to_string(), value.into_bytes()));
    if let Some(v) = conn.protocol_version() {
        put("ssl_protocol", suites::protocol_name(v));
    }
    if let Some(s) = conn.negotiated_cipher_suite() {
        put("ssl_cipher", suites::cipher_name(s.suite()));
    }
    put(
        "ssl_ciphers",
        hello
            .ciphers
            .iter()
            .map(|&c| suites::cipher_name(c))
            .collect::<Vec<_>>()
            .join(":"),
    );
    if let Some(g) = conn.negotiated_key_exchange_group() {
        put("ssl_curve", suites::group_name(g.name()));
    }
    put(
        "ssl_curves",
        hello
            .groups
            .iter()
            .map(|&g| suites::group_name(g))
            .collect::<Vec<_>>()
            .join(":"),
    );
    // rustls keeps no OpenSSL-style session id: a value from the
    // connection's keys identifies it, in the same 64 hex digits.
    let mut id = [0u8; 32];
    if conn
        .export_keying_material(&mut id, b"EXPORTER-upgate-ssl-session-id", None)
        .is_ok()
    {
        put("ssl_session_id", hex_lower(&id));
    }
    let reused = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    put("ssl_session_reused", if reused { "r" } else { "." }.into());
    if let Some(name) = &hello.server_name {
        put("ssl_server_name", name.clone());
    }
    if let Some(alpn) = conn.alpn_protocol() {
        put(
            "ssl_alpn_protocol",
            String::from_utf8_lossy(alpn).into_owned(),
        );
    }
    let Some(leaf) = chain.first() else {
        put("ssl_client_verify", "NONE".into());
        return out;
    };
    put(
        "ssl_client_verify",
        match verdict {
            Some(Ok(())) => "SUCCESS".into(),
            Some(Err(e)) => format!("FAILED:{}", e.text),
            None => "NONE".into(),
        },
    );
    let pem = pem(leaf);
    put("ssl_client_cert", tab_continued(&pem));
    put("ssl_client_escaped_cert", escape_component(&pem));
    put("ssl_client_raw_cert", pem);
    put(
        "ssl_client_fingerprint",
        hex_lower(&sha1::Sha1::digest(leaf.as_ref())),
    );
    if let Ok((_, cert)) = X509Certificate::from_der(leaf) {
        put("ssl_client_s_dn", rfc2253(cert.subject()));
        put("ssl_client_i_dn", rfc2253(cert.issuer()));
        put("ssl_client_s_dn_legacy", oneline(cert.subject()));
        put("ssl_client_i_dn_legacy", oneline(cert.issuer()));
        put("ssl_client_serial", serial(cert.raw_serial()));
        let validity = cert.validity();
        put(
            "ssl_client_v_start",
            asn1_time(validity.not_before.timestamp()),
        );
        put(
            "ssl_client_v_end",
            asn1_time(validity.not_after.timestamp()),
        );
        let left = validity.not_after.timestamp() - super::verify::now();
        put("ssl_client_v_remain", (left.max(0) / 86400).to_string());
    }
    out
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `i2a_ASN1_INTEGER`: upper-case hex, leading zero bytes dropped.
fn serial(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    raw[start..].iter().map(|b| format!("{b:02X}")).collect()
}

fn pem(der: &CertificateDer<'_>) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// `$ssl_client_cert`: every line but the first starts with a tab.
fn tab_continued(pem: &str) -> String {
    let body = pem.strip_suffix('\n').unwrap_or(pem);
    let mut out = body.replace('\n', "\n\t");
    out.push('\n');
    out
}

/// `ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT)`.
fn escape_component(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, KEEP).to_string()
}

/// Attribute names as OpenSSL's short names.
fn attribute_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    match x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry()) {
        Ok(name) => match name {
            "emailAddress" | "CN" | "C" | "L" | "ST" | "O" | "OU" | "DC" | "UID" => name.into(),
            other => other.to_string(),
        },
        Err(_) => oid.to_id_string(),
    }
}

/// `X509_NAME_print_ex(XN_FLAG_RFC2253)`: last RDN first, `,` between
/// RDNs, `+` inside one, RFC 2253 escapes and bytes above 0x7f as `\XX`.
fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let value = atv
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|_| format!("#{}", hex_lower(atv.attr_value().data)));
                    format!(
                        "{}={}",
                        attribute_name(atv.attr_type()),
                        escape_2253(&value)
                    )
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape_2253(value: &str) -> String {
    if value.starts_with('#')
        && value.len() > 1
        && value[1..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        return value.to_string();
    }
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    for (i, &b) in bytes.iter().enumerate() {
        let edge = (i == 0 && (b == b' ' || b == b'#')) || (i + 1 == bytes.len() && b == b' ');
        if edge || matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';') {
            out.push('\\');
            out.push(b as char);
        } else if !(0x20..0x80).contains(&b) {
            out.push_str(&format!("\\{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// `X509_NAME_oneline`: `/CN=…/O=…` in certificate order.
fn oneline(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            out.push('/');
            out.push_str(&attribute_name(atv.attr_type()));
            out.push('=');
            match atv.as_str() {
                Ok(v) => {
                    for b in v.bytes() {
                        if (0x20..0x7f).contains(&b) {
                            out.push(b as char);
                        } else {
                            out.push_str(&format!("\\x{b:02X}"));
                        }
                    }
                }
                Err(_) => out.push_str(&hex_lower(atv.attr_value().data)),
            }
        }
    }
    out
}

/// `ASN1_TIME_print`: `Dec  2 00:18:58 2026 GMT`.
fn asn1_time(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {:2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic
/// Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_openssl() {
        assert_eq!(asn1_time(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(asn1_time(1_796_170_738), "Dec  2 00:18:58 2026 GMT");
        assert_eq!(serial(&[0x00, 0x10, 0x00]), "1000");
        assert_eq!(serial(&[0]), "00");
        assert_eq!(tab_continued("a\nb\nc\n"), "a\n\tb\n\tc\n");
        assert_eq!(escape_2253("a,b"), "a\\,b");
        assert_eq!(escape_2253(" x "), "\\ x\\ ");
        assert_eq!(escape_component("a b/+\n"), "a%20b%2F%2B%0A");
    }

    #[test]
    fn names_both_ways() {
        let mut params = rcgen::CertificateParams::new(vec!["x.test".into()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Org, Inc");
        dn.push(rcgen::DnType::CommonName, "subject");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (_, parsed) = X509Certificate::from_der(cert.der()).unwrap();
        assert_eq!(rfc2253(parsed.subject()), "CN=subject,O=Org\\, Inc,C=US");
        assert_eq!(oneline(parsed.subject()), "/C=US/O=Org, Inc/CN=subject");
    }
}
