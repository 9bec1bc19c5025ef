//! Reading PEM files as nginx's `ngx_ssl_certificate`,
//! `ngx_ssl_client_certificate`, `ngx_ssl_trusted_certificate` and
//! `ngx_ssl_crl` (src/event/ngx_event_openssl.c) read them: a certificate
//! file holds the leaf then its chain as given; a key file the first
//! private key in it; a CA file every certificate in it. Errors carry
//! nginx's wording (`cannot load certificate "…"`) so that the operator
//! sees the message nginx would print.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// A file relative to the configuration's directory, as `ngx_conf_full_name`
/// with `conf_prefix` resolves `ssl_certificate` and friends.
pub fn full_name(conf_dir: &Path, name: &str) -> PathBuf {
    upgate_conf::fs::full_name(conf_dir, Path::new(name))
}

/// The certificates of `path` in file order (leaf first, then the chain).
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read(path, "certificate")?;
    let certs = certificates(&text)
        .map_err(|e| format!("cannot load certificate \"{}\": {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "cannot load certificate \"{}\": PEM_read_bio_X509_AUX() failed (no certificate in the file)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The first private key of `path` (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text = read(path, "certificate key")?;
    if contains(&text, b"ENCRYPTED") {
        return Err(format!(
            "cannot load certificate key \"{}\": the key is encrypted; upgate reads unencrypted keys only (ssl_password_file is not supported yet)",
            path.display()
        ));
    }
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "cannot load certificate key \"{}\": PEM_read_bio_PrivateKey() failed (no private key in the file)",
            path.display()
        ),
        e => pem_error("certificate key", path, &e),
    })
}

/// Every certificate of a CA file (`ssl_client_certificate`,
/// `ssl_trusted_certificate`, `proxy_ssl_trusted_certificate`).
pub fn load_cas(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read(path, "certificate")?;
    certificates(&text).map_err(|e| format!("cannot load certificate \"{}\": {e}", path.display()))
}

/// The certificates of a PEM text, as `PEM_read_bio_X509_AUX` reads them:
/// `CERTIFICATE`, `X509 CERTIFICATE` and OpenSSL's `TRUSTED CERTIFICATE`
/// (a certificate followed by its trust settings, which are dropped: the
/// file's place in the configuration says what it is trusted for).
fn certificates(text: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use base64::Engine;
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l.trim() == end {
                closed = true;
                break;
            }
            body.push_str(l.trim());
        }
        if !matches!(
            label,
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
        ) {
            continue;
        }
        if !closed {
            return Err(format!(
                "PEM_read_bio_X509_AUX() failed (no \"{end}\" line)"
            ));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("PEM_read_bio_X509_AUX() failed (bad base64: {e})"))?;
        let der = match label {
            "TRUSTED CERTIFICATE" => first_element(&der)
                .ok_or("PEM_read_bio_X509_AUX() failed (bad trusted certificate)")?
                .to_vec(),
            _ => der,
        };
        out.push(CertificateDer::from(der));
    }
    Ok(out)
}

/// The first DER element of `der` (tag, length and contents).
fn first_element(der: &[u8]) -> Option<&[u8]> {
    let first = *der.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for &b in der.get(2..2 + n)? {
            len = (len << 8) | usize::from(b);
        }
        (len, 2 + n)
    };
    der.get(..head.checked_add(len)?)
}

/// The CRLs of `path` (`ssl_crl`, `proxy_ssl_crl`).
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let text = read(path, "CRL")?;
    CertificateRevocationListDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("CRL", path, &e))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot load {what} \"{}\": BIO_new_file() failed ({})",
            path.display(),
            crate::proxy::errno(&e)
        )
    })
}

fn pem_error(what: &str, path: &Path, e: &rustls::pki_types::pem::Error) -> String {
    format!("cannot load {what} \"{}\": {e}", path.display())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `text` in a file `name` of its own scratch directory, removed when
    /// the returned guard is dropped.
    fn temp(name: &str, text: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn chain_in_file_order_and_first_key() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        let leaf = rcgen::generate_simple_self_signed(vec!["leaf".into()]).unwrap();
        let text = format!("{}{}", leaf.cert.pem(), ca.cert.pem());
        let (_path_dir, path) = temp("chain.crt", text.as_bytes());
        let chain = load_chain(&path).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].as_ref(), leaf.cert.der().as_ref());
        let (_key_dir, key) = temp("leaf.key", leaf.signing_key.serialize_pem().as_bytes());
        assert!(load_key(&key).is_ok());
    }

    #[test]
    fn trusted_certificates_lose_their_trust_settings() {
        use base64::Engine;
        let leaf = rcgen::generate_simple_self_signed(vec!["leaf".into()]).unwrap();
        let mut der = leaf.cert.der().to_vec();
        der.extend_from_slice(&[0x30, 0x03, 0x06, 0x01, 0x00]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let text = format!(
            "-----BEGIN TRUSTED CERTIFICATE-----\n{b64}\n-----END TRUSTED CERTIFICATE-----\n"
        );
        let (_path_dir, path) = temp("aux.crt", text.as_bytes());
        let chain = load_chain(&path).unwrap();
        assert_eq!(chain[0].as_ref(), leaf.cert.der().as_ref());
    }

    #[test]
    fn nginx_messages() {
        let missing = load_chain(Path::new("/nonexistent/x.crt")).unwrap_err();
        assert!(missing.starts_with("cannot load certificate \"/nonexistent/x.crt\": BIO_new_file() failed (2: No such file or directory)"), "{missing}");
        let (_empty_dir, empty) = temp("empty.crt", b"nothing here\n");
        assert!(load_chain(&empty).unwrap_err().contains("no certificate"));
        assert!(load_key(&empty).unwrap_err().contains("no private key"));
        let (_enc_dir, enc) = temp(
            "enc.key",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        assert!(load_key(&enc).unwrap_err().contains("encrypted"));
    }
}
