//! `ngx_ssl_check_host` (src/event/ngx_event_openssl.c): OpenSSL's
//! `X509_check_host(cert, name, 0)`, checked after the handshake as nginx
//! checks it. The DNS names of subjectAltName, or the subject's commonNames
//! when there is none; case-insensitive; a `*` in the leftmost label of a
//! pattern with at least two labels after it matches one label (partial
//! wildcards such as `f*.example.com` allowed, as flag 0 allows them). An
//! address literal is compared as text with DNS names, never with
//! iPAddress entries: `X509_check_host` does not look at those.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Whether the certificate (DER) is valid for `name`.
pub fn check_host(der: &[u8], name: &[u8]) -> bool {
    if name.is_empty() {
        return false;
    }
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let mut dns: Vec<&str> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                dns.push(d);
            }
        }
    }
    if !dns.is_empty() {
        return dns.iter().any(|p| matches(p.as_bytes(), name));
    }
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .any(|p| matches(p.as_bytes(), name))
}

/// One pattern against the name.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    let pattern = pattern.strip_suffix(b".").unwrap_or(pattern);
    let Some(star) = pattern.iter().position(|&c| c == b'*') else {
        return pattern.eq_ignore_ascii_case(name);
    };
    let label_end = pattern
        .iter()
        .position(|&c| c == b'.')
        .unwrap_or(pattern.len());
    let rest = &pattern[label_end..];
    // Only in the first label, only one, and two labels must follow it.
    if star > label_end
        || pattern[star + 1..].contains(&b'*')
        || rest.iter().filter(|&&c| c == b'.').count() < 2
    {
        return pattern.eq_ignore_ascii_case(name);
    }
    let Some(name_dot) = name.iter().position(|&c| c == b'.') else {
        return false;
    };
    let (label, name_rest) = name.split_at(name_dot);
    let (prefix, suffix) = (&pattern[..star], &pattern[star + 1..label_end]);
    !label.is_empty()
        && label.len() >= prefix.len() + suffix.len()
        && label[..prefix.len()].eq_ignore_ascii_case(prefix)
        && label[label.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        && name_rest.eq_ignore_ascii_case(rest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cert(sans: &[&str], cn: &str) -> Vec<u8> {
        let mut p =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, cn.to_string());
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn alt_names_then_common_name() {
        let c = cert(&["example.com", "*.example.com"], "no.match.example.com");
        assert!(check_host(&c, b"example.com"));
        assert!(check_host(&c, b"FOO.example.com"));
        assert!(!check_host(&c, b"no.match.example.com"));
        assert!(!check_host(&c, b"a.b.example.com"));
        let c = cert(&[], "2.example.com");
        assert!(check_host(&c, b"2.example.com"));
        assert!(!check_host(&c, b"bad.example.com"));
    }

    #[test]
    fn addresses_are_text_and_wildcards_need_two_labels() {
        let c = cert(&["127.0.0.1"], "x");
        assert!(!check_host(&c, b"127.0.0.1"), "an iPAddress entry");
        assert!(matches(b"127.0.0.1", b"127.0.0.1"));
        assert!(!matches(b"*.com", b"example.com"));
        assert!(matches(b"f*.example.com", b"foo.example.com"));
        assert!(!matches(b"f*.example.com", b"bar.example.com"));
    }
}
