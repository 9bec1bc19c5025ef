//! The handshake signature of a peer that sent a certificate (TLS 1.2's
//! and 1.3's CertificateVerify), checked with the certificate's key as
//! OpenSSL checks it: whatever the certificate's version. (rustls's own
//! helper parses the certificate with webpki, which refuses version 1
//! certificates before looking at the signature.)

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::CertificateDer;
use rustls::{DigitallySignedStruct, Error, PeerMisbehaved, ProtocolVersion, SignatureScheme};
use x509_parser::prelude::FromDer;

/// The schemes a peer may sign with, best first.
pub const SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];

/// Checks `dss` over `message` with the key of `cert`.
pub fn verify(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    version: ProtocolVersion,
) -> Result<HandshakeSignatureValid, Error> {
    use ring::signature;
    let scheme = dss.scheme;
    let algorithm: &dyn signature::VerificationAlgorithm = match scheme {
        // TLS 1.3 has no PKCS#1 v1.5 signatures in CertificateVerify.
        SignatureScheme::RSA_PKCS1_SHA256 if version == ProtocolVersion::TLSv1_2 => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        SignatureScheme::RSA_PKCS1_SHA384 if version == ProtocolVersion::TLSv1_2 => {
            &signature::RSA_PKCS1_2048_8192_SHA384
        }
        SignatureScheme::RSA_PKCS1_SHA512 if version == ProtocolVersion::TLSv1_2 => {
            &signature::RSA_PKCS1_2048_8192_SHA512
        }
        SignatureScheme::RSA_PSS_SHA256 => &signature::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RSA_PSS_SHA384 => &signature::RSA_PSS_2048_8192_SHA384,
        SignatureScheme::RSA_PSS_SHA512 => &signature::RSA_PSS_2048_8192_SHA512,
        SignatureScheme::ECDSA_NISTP256_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
        SignatureScheme::ECDSA_NISTP384_SHA384 => &signature::ECDSA_P384_SHA384_ASN1,
        SignatureScheme::ED25519 => &signature::ED25519,
        _ => {
            return Err(Error::PeerMisbehaved(
                PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
    };
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert)
        .map_err(|_| Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let key = &parsed.public_key().subject_public_key.data;
    signature::UnparsedPublicKey::new(algorithm, key)
        .verify(message, dss.signature())
        .map(|()| HandshakeSignatureValid::assertion())
        .map_err(|_| Error::InvalidCertificate(rustls::CertificateError::BadSignature))
}
