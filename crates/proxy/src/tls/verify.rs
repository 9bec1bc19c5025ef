//! Certificate chain verification with OpenSSL's rules and error codes
//! (`X509_verify_cert`, crypto/x509/x509_vfy.c), for `ssl_verify_client`
//! and `proxy_ssl_verify`: nginx's users' certificates were judged by
//! OpenSSL, and a verifier that is stricter in other ways (webpki refuses
//! version 1 certificates and a trusted self-signed certificate presented
//! as the peer's) would turn working setups into 400s and 502s, while one
//! that is looser would let in what nginx refuses.
//!
//! What is checked, as OpenSSL does with nginx's settings:
//! - the path from the peer's certificate to a trusted one, trusted issuers
//!   first (`X509_V_FLAG_TRUSTED_FIRST`), then the chain the peer sent,
//!   each link's signature verified with the issuer's key;
//! - the depth (`ssl_verify_depth`, `proxy_ssl_verify_depth`): at most that
//!   many issuers above the peer's certificate;
//! - validity times of every certificate on the path, from the top down;
//! - issuers are CAs (basicConstraints CA:TRUE, or a self-signed version 1
//!   certificate, as `X509_check_ca` accepts);
//! - the peer's extended key usage, when present, allows the purpose;
//! - with CRLs (`ssl_crl`), every certificate below the trusted one has a
//!   CRL from its issuer that does not list it (`X509_V_FLAG_CRL_CHECK_ALL`).

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

/// An OpenSSL verification error: its `X509_V_ERR_*` number and its
/// `X509_verify_cert_error_string` text (OpenSSL 3.0's wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyError {
    pub code: u32,
    pub text: &'static str,
}

impl VerifyError {
    const fn new(code: u32, text: &'static str) -> VerifyError {
        VerifyError { code, text }
    }

    /// Whether `ssl_verify_client optional_no_ca` lets the error through
    /// (`ngx_ssl_verify_error_optional`).
    pub fn optional(self) -> bool {
        matches!(self.code, 2 | 18 | 19 | 20 | 21)
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.code, self.text)
    }
}

const UNABLE_TO_GET_ISSUER_CERT: VerifyError =
    VerifyError::new(2, "unable to get issuer certificate");
const UNABLE_TO_GET_CRL: VerifyError = VerifyError::new(3, "unable to get certificate CRL");
const CERT_SIGNATURE_FAILURE: VerifyError = VerifyError::new(7, "certificate signature failure");
const CRL_SIGNATURE_FAILURE: VerifyError = VerifyError::new(8, "CRL signature failure");
const CERT_NOT_YET_VALID: VerifyError = VerifyError::new(9, "certificate is not yet valid");
const CERT_HAS_EXPIRED: VerifyError = VerifyError::new(10, "certificate has expired");
const CRL_NOT_YET_VALID: VerifyError = VerifyError::new(11, "CRL is not yet valid");
const CRL_HAS_EXPIRED: VerifyError = VerifyError::new(12, "CRL has expired");
const DEPTH_ZERO_SELF_SIGNED_CERT: VerifyError = VerifyError::new(18, "self-signed certificate");
const SELF_SIGNED_CERT_IN_CHAIN: VerifyError =
    VerifyError::new(19, "self-signed certificate in certificate chain");
const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: VerifyError =
    VerifyError::new(20, "unable to get local issuer certificate");
const UNABLE_TO_VERIFY_LEAF_SIGNATURE: VerifyError =
    VerifyError::new(21, "unable to verify the first certificate");
const CERT_CHAIN_TOO_LONG: VerifyError = VerifyError::new(22, "certificate chain too long");
const CERT_REVOKED: VerifyError = VerifyError::new(23, "certificate revoked");
const INVALID_CA: VerifyError = VerifyError::new(24, "invalid CA certificate");
const INVALID_PURPOSE: VerifyError = VerifyError::new(26, "unsupported certificate purpose");
/// Not OpenSSL's: a certificate that does not parse (OpenSSL fails the
/// handshake instead; the text says why).
const UNPARSABLE: VerifyError = VerifyError::new(0, "certificate could not be parsed");

/// What the peer's certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A client certificate (`ssl_verify_client`).
    Client,
    /// A server certificate (`proxy_ssl_verify`).
    Server,
}

/// The trusted certificates and CRLs of one setting, kept as DER (parsed
/// per verification: this runs once per handshake with a certificate).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    pub trusted: Vec<CertificateDer<'static>>,
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

/// Verifies `chain` (the peer's certificate first, then what it sent) at
/// `now` (seconds since the epoch).
///
/// nginx's verify callback lets OpenSSL go on after each error, so the
/// error it reports is the *last* one found, in OpenSSL's order: building
/// the path, the depth, CA and purpose checks, revocation from the peer's
/// certificate up, then signatures and times from the top down. The same
/// order is kept here, and the last error returned.
pub fn verify(
    chain: &[CertificateDer<'_>],
    store: &TrustStore,
    depth: u32,
    purpose: Purpose,
    now: i64,
) -> Result<(), VerifyError> {
    let Some(leaf_der) = chain.first() else {
        return Err(UNABLE_TO_VERIFY_LEAF_SIGNATURE);
    };
    let trusted: Vec<X509Certificate<'_>> = store
        .trusted
        .iter()
        .filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c))
        .collect();
    let sent: Vec<X509Certificate<'_>> = chain[1..]
        .iter()
        .filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c))
        .collect();
    let leaf = X509Certificate::from_der(leaf_der)
        .map(|(_, c)| c)
        .map_err(|_| UNPARSABLE)?;
    let is_trusted = |c: &X509Certificate<'_>| trusted.iter().any(|t| t.as_raw() == c.as_raw());

    // The path, peer first, up to a self-signed certificate: OpenSSL goes
    // on past a trusted intermediate to its root (no partial chains).
    let mut path: Vec<&X509Certificate<'_>> = vec![&leaf];
    while path.len() <= 32 {
        let Some(&current) = path.last() else { break };
        if self_issued(current) {
            break;
        }
        let unused = |c: &&X509Certificate<'_>| !path.iter().any(|p| p.as_raw() == c.as_raw());
        let next = trusted
            .iter()
            .filter(unused)
            .find(|t| issued(t, current))
            // Once in the trust store, OpenSSL stays there.
            .or_else(|| {
                if path.iter().any(|c| is_trusted(c)) {
                    None
                } else {
                    sent.iter().filter(unused).find(|s| issued(s, current))
                }
            });
        match next {
            Some(n) => path.push(n),
            None => break,
        }
    }
    let mut error: Option<VerifyError> = None;
    let top = path.last().copied().unwrap_or(&leaf);
    let anchored = self_issued(top) && path.iter().any(|c| is_trusted(c));
    if !anchored {
        error = Some(if self_issued(top) {
            if path.len() == 1 {
                DEPTH_ZERO_SELF_SIGNED_CERT
            } else {
                SELF_SIGNED_CERT_IN_CHAIN
            }
        } else if path.len() == 1 {
            UNABLE_TO_VERIFY_LEAF_SIGNATURE
        } else if path.iter().skip(1).any(|c| is_trusted(c)) {
            UNABLE_TO_GET_ISSUER_CERT
        } else {
            UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        });
    }
    // Depth 1 (nginx's default) is a certificate issued by a trusted one.
    if path.len() - 1 > depth as usize {
        error = Some(CERT_CHAIN_TOO_LONG);
    }
    for issuer in path.iter().skip(1) {
        if !is_ca(issuer) {
            error = Some(INVALID_CA);
        }
    }
    if !purpose_allowed(&leaf, purpose) {
        error = Some(INVALID_PURPOSE);
    }
    if !store.crls.is_empty() {
        let crls: Vec<CertificateRevocationList<'_>> = store
            .crls
            .iter()
            .filter_map(|d| CertificateRevocationList::from_der(d).ok().map(|(_, c)| c))
            .collect();
        // Every certificate of the path, the self-signed top included
        // (X509_V_FLAG_CRL_CHECK_ALL), its CRL from its issuer.
        for (i, cert) in path.iter().enumerate() {
            let issuer = match path.get(i + 1) {
                Some(issuer) => issuer,
                None if self_issued(cert) => cert,
                None => continue,
            };
            if let Err(e) = check_crl(cert, issuer, &crls, now) {
                error = Some(e);
            }
        }
    }
    // Signatures and times, from the top down (a self-signed certificate's
    // own signature is not checked, as OpenSSL's default).
    for (i, cert) in path.iter().enumerate().rev() {
        if let Some(issuer) = path.get(i + 1)
            && cert.verify_signature(Some(issuer.public_key())).is_err()
        {
            error = Some(CERT_SIGNATURE_FAILURE);
        }
        let validity = cert.validity();
        if now < validity.not_before.timestamp() {
            error = Some(CERT_NOT_YET_VALID);
        }
        if now > validity.not_after.timestamp() {
            error = Some(CERT_HAS_EXPIRED);
        }
    }
    error.map_or(Ok(()), Err)
}

/// Whether `issuer` issued `subject`: names match and the signature holds.
fn issued(issuer: &X509Certificate<'_>, subject: &X509Certificate<'_>) -> bool {
    issuer.subject().as_raw() == subject.issuer().as_raw()
        && subject.verify_signature(Some(issuer.public_key())).is_ok()
}

fn self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// `X509_check_ca`: CA:TRUE, or a self-signed version 1 certificate.
fn is_ca(cert: &X509Certificate<'_>) -> bool {
    match cert.basic_constraints() {
        Ok(Some(bc)) => bc.value.ca,
        Ok(None) => cert.version().0 == 0 && self_issued(cert),
        Err(_) => false,
    }
}

fn purpose_allowed(cert: &X509Certificate<'_>, purpose: Purpose) -> bool {
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let eku = eku.value;
            eku.any
                || match purpose {
                    Purpose::Client => eku.client_auth,
                    Purpose::Server => eku.server_auth,
                }
        }
        Ok(None) => true,
        Err(_) => false,
    }
}

/// `check_crl`: a CRL of `issuer`, signed by it, current, not listing
/// `cert`.
fn check_crl(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    crls: &[CertificateRevocationList<'_>],
    now: i64,
) -> Result<(), VerifyError> {
    let Some(crl) = crls
        .iter()
        .find(|c| c.issuer().as_raw() == issuer.subject().as_raw())
    else {
        return Err(UNABLE_TO_GET_CRL);
    };
    crl.verify_signature(issuer.public_key())
        .map_err(|_| CRL_SIGNATURE_FAILURE)?;
    if now < crl.last_update().timestamp() {
        return Err(CRL_NOT_YET_VALID);
    }
    if crl.next_update().is_some_and(|n| now > n.timestamp()) {
        return Err(CRL_HAS_EXPIRED);
    }
    if crl
        .iter_revoked_certificates()
        .any(|r| r.raw_serial() == cert.raw_serial())
    {
        return Err(CERT_REVOKED);
    }
    Ok(())
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    struct Made {
        der: CertificateDer<'static>,
        params: CertificateParams,
        key: KeyPair,
    }

    fn ca(name: &str, parent: Option<&Made>) -> Made {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = match parent {
            None => params.self_signed(&key).unwrap(),
            Some(p) => params
                .signed_by(&key, &Issuer::from_params(&p.params, &p.key))
                .unwrap(),
        };
        Made {
            der: cert.der().clone(),
            params,
            key,
        }
    }

    fn leaf(name: &str, issuer: &Made, edit: impl FnOnce(&mut CertificateParams)) -> Made {
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params
            .signed_by(&key, &Issuer::from_params(&issuer.params, &issuer.key))
            .unwrap();
        Made {
            der: cert.der().clone(),
            params,
            key,
        }
    }

    fn store(trusted: &[&Made]) -> TrustStore {
        TrustStore {
            trusted: trusted.iter().map(|m| m.der.clone()).collect(),
            crls: Vec::new(),
        }
    }

    fn check(chain: &[&Made], s: &TrustStore, depth: u32) -> Result<(), u32> {
        let chain: Vec<CertificateDer<'static>> = chain.iter().map(|m| m.der.clone()).collect();
        verify(&chain, s, depth, Purpose::Client, now()).map_err(|e| e.code)
    }

    #[test]
    fn paths_depths_and_openssl_codes() {
        let root = ca("root", None);
        let inter = ca("inter", Some(&root));
        let direct = leaf("a.test", &root, |_| {});
        let deep = leaf("b.test", &inter, |_| {});
        let s = store(&[&root]);
        assert_eq!(check(&[&direct], &s, 1), Ok(()));
        // leaf <- intermediate <- root needs depth 2 (nginx's default is 1).
        assert_eq!(check(&[&deep, &inter], &s, 1), Err(22));
        assert_eq!(check(&[&deep, &inter], &s, 2), Ok(()));
        // The intermediate not sent: the first certificate cannot be verified.
        assert_eq!(check(&[&deep], &s, 2), Err(21));
        // An untrusted self-signed certificate, alone and atop a chain.
        let other = ca("other", None);
        assert_eq!(check(&[&other], &s, 1), Err(18));
        let stray = leaf("c.test", &other, |_| {});
        assert_eq!(check(&[&stray, &other], &s, 2), Err(19));
        assert!(VerifyError::new(18, "").optional() && !CERT_HAS_EXPIRED.optional());
        // A trusted self-signed certificate presented as the peer's.
        assert_eq!(check(&[&other], &store(&[&other]), 1), Ok(()));
    }

    #[test]
    fn times_purpose_and_revocation() {
        let root = ca("root", None);
        let expired = leaf("old.test", &root, |p| {
            p.not_before = rcgen::date_time_ymd(2000, 1, 1);
            p.not_after = rcgen::date_time_ymd(2001, 1, 1);
        });
        let s = store(&[&root]);
        assert_eq!(check(&[&expired], &s, 1), Err(10));
        let future = leaf("new.test", &root, |p| {
            p.not_before = rcgen::date_time_ymd(2200, 1, 1);
            p.not_after = rcgen::date_time_ymd(2201, 1, 1);
        });
        assert_eq!(check(&[&future], &s, 1), Err(9));
        let server_only = leaf("srv.test", &root, |p| {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        });
        assert_eq!(check(&[&server_only], &s, 1), Err(26));
        let server_chain = [server_only.der.clone()];
        assert!(verify(&server_chain, &s, 1, Purpose::Server, now()).is_ok());

        let revoked = leaf("bad.test", &root, |p| {
            p.serial_number = Some(rcgen::SerialNumber::from(vec![0x42]));
        });
        let good = leaf("good.test", &root, |p| {
            p.serial_number = Some(rcgen::SerialNumber::from(vec![0x43]));
        });
        let crl = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2020, 1, 1),
            next_update: rcgen::date_time_ymd(2200, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(vec![0x42]),
                revocation_time: rcgen::date_time_ymd(2021, 1, 1),
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&Issuer::from_params(&root.params, &root.key))
        .unwrap();
        let with_crl = TrustStore {
            trusted: vec![root.der.clone()],
            crls: vec![crl.der().clone()],
        };
        assert_eq!(check(&[&revoked], &with_crl, 1), Err(23));
        assert_eq!(check(&[&good], &with_crl, 1), Ok(()));
        // CRL checking on, but no CRL from this issuer.
        let other = ca("other", None);
        let elsewhere = leaf("x.test", &other, |_| {});
        let no_crl = TrustStore {
            trusted: vec![other.der.clone()],
            crls: with_crl.crls.clone(),
        };
        assert_eq!(check(&[&elsewhere], &no_crl, 1), Err(3));
    }
}
