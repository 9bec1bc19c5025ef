//! `proxy_ssl_certificate` and `proxy_ssl_certificate_key`: the client
//! certificate sent to an upstream that asks for one, its key checked
//! against it as `SSL_CTX_use_PrivateKey` checks it.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The client certificate, its key checked against it as OpenSSL's
/// `SSL_CTX_use_PrivateKey` does. Not rustls's own check: it parses the
/// certificate with webpki, which refuses the version 1 certificates that
/// `openssl req -x509` makes without extensions and OpenSSL accepts.
pub(super) fn client_certificate(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<Arc<dyn rustls::client::ResolvesClientCert>, String> {
    use x509_parser::prelude::FromDer;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| e.to_string())?;
    let leaf_spki = chain
        .first()
        .and_then(|c| x509_parser::certificate::X509Certificate::from_der(c).ok())
        .map(|(_, c)| c.public_key().raw.to_vec());
    let key_spki = signing.public_key().map(|k| k.as_ref().to_vec());
    if let (Some(a), Some(b)) = (&leaf_spki, &key_spki)
        && a != b
    {
        return Err("key values mismatch".into());
    }
    Ok(Arc::new(ClientCertificate(Arc::new(
        rustls::sign::CertifiedKey::new(chain, signing),
    ))))
}

/// proxy_ssl_certificate: sent whenever the upstream asks for one, as
/// OpenSSL sends the context's certificate.
#[derive(Debug)]
struct ClientCertificate(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::tls::certs;

    /// `openssl req -x509` without extensions makes a version 1
    /// certificate: OpenSSL (and so nginx) takes it with its key.
    #[test]
    fn client_certificate_of_version_1_and_a_mismatched_key() {
        let dir = std::env::temp_dir().join(format!("upgate-v1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("openssl.conf");
        std::fs::write(
            &conf,
            "[ req ]\ndefault_bits = 2048\nencrypt_key = no\ndistinguished_name = dn\n[ dn ]\n",
        )
        .unwrap();
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-new", "-subj", "/CN=client/", "-config"])
            .arg(&conf)
            .arg("-out")
            .arg(dir.join("c.crt"))
            .arg("-keyout")
            .arg(dir.join("c.key"))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed for this test");
        assert!(status.success());
        let chain = certs::load_chain(&dir.join("c.crt")).unwrap();
        let key = certs::load_key(&dir.join("c.key")).unwrap();
        let provider = crate::tls::provider();
        assert!(client_certificate(chain.clone(), key, &provider).is_ok());
        let other = rcgen::KeyPair::generate().unwrap();
        let other = rustls::pki_types::PrivateKeyDer::try_from(other.serialize_der()).unwrap();
        assert_eq!(
            client_certificate(chain, other, &provider).err().as_deref(),
            Some("key values mismatch")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
