//! The upstream's certificate during the handshake: accepted whatever it
//! is, as nginx's verify callback lets OpenSSL finish every handshake
//! (`ngx_ssl_verify_callback` returns 1), while the handshake's signature
//! is still checked with the certificate's key (the peer must hold it).
//! With `proxy_ssl_verify on` the chain is judged afterwards, as
//! `ngx_http_upstream_ssl_handshake` reads `SSL_get_verify_result`: by
//! [`crate::tls::verify`], OpenSSL's rules and codes.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, ProtocolVersion, SignatureScheme};

use crate::tls::signature;

/// Every certificate, signatures checked.
#[derive(Debug)]
pub struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        signature::verify(message, cert, dss, ProtocolVersion::TLSv1_2)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        signature::verify(message, cert, dss, ProtocolVersion::TLSv1_3)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        signature::SCHEMES.to_vec()
    }
}
