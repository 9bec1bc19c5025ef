//! TLS for the harness: the two certificates both servers present (ECDSA
//! P-256 and RSA 2048, self-signed for [`SNI`]), and the client side of
//! the load, which checks no certificate (both servers get the same cheap
//! client) and never resumes (every handshake is a full one).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::load::{IO_LIMIT, tcp};
use super::servers::write;

pub const SNI: &str = "bench.test";

/// `ecdsa.{crt,key}` and `rsa.{crt,key}` in `work`. RSA keys come from
/// openssl: ring generates none.
pub fn certificates(work: &Path) -> Result<(), String> {
    let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("ECDSA key: {e}"))?;
    let out = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA"])
        .args(["-pkeyopt", "rsa_keygen_bits:2048"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("openssl (apt-get install openssl): {e}"))?;
    if !out.status.success() {
        return Err("openssl genpkey failed".into());
    }
    let rsa = rcgen::KeyPair::from_pem_and_sign_algo(
        &String::from_utf8_lossy(&out.stdout),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| format!("RSA key: {e}"))?;
    for (name, key) in [("ecdsa", ecdsa), ("rsa", rsa)] {
        let params = rcgen::CertificateParams::new(vec![SNI.to_string()])
            .map_err(|e| format!("certificate: {e}"))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("certificate: {e}"))?;
        write(&work.join(format!("{name}.crt")), &cert.pem())?;
        write(&work.join(format!("{name}.key")), &key.serialize_pem())?;
    }
    Ok(())
}

/// Accepts any certificate: the bench measures the servers, not the client.
#[derive(Debug)]
struct AnyCertificate(Vec<SignatureScheme>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// TLS 1.3 only, no session resumption.
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(schemes)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connects to 127.0.0.1:`port` and handshakes with SNI [`SNI`], within
/// [`IO_LIMIT`].
pub async fn connect(
    port: u16,
    config: &Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(SNI)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let connector = TlsConnector::from(Arc::clone(config));
    tokio::time::timeout(IO_LIMIT, async {
        connector.connect(name, tcp(port).await?).await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS connect timed out"))?
}
