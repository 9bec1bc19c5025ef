//! The upstream's certificate as nginx judges it. With `proxy_ssl_verify
//! off` (the default) any certificate is accepted, as OpenSSL's
//! SSL_VERIFY_NONE does, while the handshake's signatures are still checked
//! (the peer must hold the key of what it presents). With `on`, the chain
//! is verified against `proxy_ssl_trusted_certificate` and `proxy_ssl_crl`
//! (`ngx_ssl_trusted_certificate`, `ngx_ssl_crl`: CRLs for the whole chain)
//! within `proxy_ssl_verify_depth`, and a failure carries OpenSSL's
//! `X509_V_ERR_*` code and text, which nginx logs as `upstream SSL
//! certificate verify error: (10:certificate has expired)`. The name is not
//! checked here: nginx checks it after the handshake (`host.rs`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ServerCertVerifierBuilder, WebPkiServerVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::{
    CertificateError, DigitallySignedStruct, Error, OtherError, RootCertStore, SignatureScheme,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// OpenSSL's verdict on a chain: `X509_V_ERR_*` and its
/// `X509_verify_cert_error_string` (OpenSSL 3's wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X509Error {
    pub code: u32,
    pub text: &'static str,
}

impl std::fmt::Display for X509Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.code, self.text)
    }
}

impl std::error::Error for X509Error {}

const fn x509(code: u32, text: &'static str) -> X509Error {
    X509Error { code, text }
}

/// `proxy_ssl_verify off`: every certificate, signatures still checked.
#[derive(Debug)]
pub struct AnyCertificate {
    pub algs: WebPkiSupportedAlgorithms,
}

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
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `proxy_ssl_verify on`: the chain against the trusted certificates.
#[derive(Debug)]
pub struct TrustedChain {
    inner: Arc<WebPkiServerVerifier>,
    /// The trusted certificates as read: a leaf that is one of them is
    /// trusted as it stands, as OpenSSL trusts it.
    anchors: Vec<CertificateDer<'static>>,
    depth: usize,
    algs: WebPkiSupportedAlgorithms,
}

impl TrustedChain {
    /// The verifier; the error is nginx's text for an unusable CA file.
    pub fn new(
        anchors: Vec<CertificateDer<'static>>,
        crls: Vec<CertificateRevocationListDer<'static>>,
        depth: usize,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<TrustedChain, String> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(anchors.iter().cloned());
        let algs = provider.signature_verification_algorithms;
        let mut builder: ServerCertVerifierBuilder =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider);
        if !crls.is_empty() {
            builder = builder.with_crls(crls).enforce_revocation_expiration();
        }
        let inner = builder
            .build()
            .map_err(|e| format!("the trusted certificates cannot be used ({e})"))?;
        Ok(TrustedChain {
            inner,
            anchors,
            depth,
            algs,
        })
    }
}

impl ServerCertVerifier for TrustedChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let fail = |e: X509Error| {
            Err(Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(e)),
            )))
        };
        if self
            .anchors
            .iter()
            .any(|a| a.as_ref() == end_entity.as_ref())
        {
            return match validity(end_entity, now) {
                Some(e) => fail(e),
                None => Ok(ServerCertVerified::assertion()),
            };
        }
        let untrusted = intermediates
            .iter()
            .filter(|i| !self.anchors.iter().any(|a| a.as_ref() == i.as_ref()))
            .count();
        if untrusted > self.depth {
            return fail(x509(22, "certificate chain too long"));
        }
        // The name is nginx's own check after the handshake: any name lets
        // webpki judge the chain, which it does before the name.
        let placeholder = ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into());
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            &placeholder,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            Err(Error::InvalidCertificate(e)) => fail(openssl_code(&e, end_entity, intermediates)),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The code OpenSSL's `X509_verify_cert` leaves for what webpki found. An
/// unknown issuer depends on the chain, as `build_chain` and
/// `internal_verify` decide it (the last error nginx's callback let pass).
fn openssl_code(
    e: &CertificateError,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> X509Error {
    match e {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            x509(10, "certificate has expired")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            x509(9, "certificate is not yet valid")
        }
        CertificateError::Revoked => x509(23, "certificate revoked"),
        CertificateError::UnknownRevocationStatus => x509(3, "unable to get certificate CRL"),
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => x509(12, "CRL has expired"),
        CertificateError::BadSignature => x509(7, "certificate signature failure"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            x509(26, "unsupported certificate purpose")
        }
        CertificateError::UnknownIssuer => match intermediates.last() {
            None if self_issued(end_entity) => x509(18, "self-signed certificate"),
            None => x509(21, "unable to verify the first certificate"),
            Some(top) if self_issued(top) => {
                x509(19, "self-signed certificate in certificate chain")
            }
            Some(_) => x509(20, "unable to get local issuer certificate"),
        },
        _ => x509(1, "unspecified certificate verification error"),
    }
}

fn self_issued(der: &CertificateDer<'_>) -> bool {
    X509Certificate::from_der(der.as_ref())
        .map(|(_, c)| c.subject() == c.issuer())
        .unwrap_or(false)
}

/// notBefore / notAfter of a certificate trusted as it stands.
fn validity(der: &CertificateDer<'_>, now: UnixTime) -> Option<X509Error> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let now = now.as_secs() as i64;
    let v = cert.validity();
    if now < v.not_before.timestamp() {
        Some(x509(9, "certificate is not yet valid"))
    } else if now > v.not_after.timestamp() {
        Some(x509(10, "certificate has expired"))
    } else {
        None
    }
}

/// The OpenSSL error a handshake failed with, if it was the chain's.
pub fn x509_error(e: &Error) -> Option<X509Error> {
    match e {
        Error::InvalidCertificate(CertificateError::Other(o)) => {
            o.0.downcast_ref::<X509Error>().copied()
        }
        _ => None,
    }
}
