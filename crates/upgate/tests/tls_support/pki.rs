//! The test PKI, made with rcgen for each run (RSA keys by openssl: ring
//! generates none).

use std::process::{Command, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{Dir, must};

/// A certificate with its key, DER and PEM.
pub struct Issued {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub der: CertificateDer<'static>,
    pub pem: String,
}

impl Issued {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        match PrivateKeyDer::try_from(self.key.serialize_der()) {
            Ok(k) => k,
            Err(e) => panic!("key DER: {e}"),
        }
    }

    /// The SubjectPublicKeyInfo, DER (what chromium's SPKI list hashes).
    pub fn spki_der(&self) -> Vec<u8> {
        use rcgen::PublicKeyData;
        self.key.subject_public_key_info()
    }
}

/// The test PKI: a CA, an intermediate under it, an RSA leaf for `a.test`
/// under the intermediate, an ECDSA P-256 leaf for `b.test` under the CA,
/// RSA and ECDSA leaves for `dual.test`, a client certificate under the CA
/// and one under another CA. Files in `dir`: `ca.crt`, `a.crt` (leaf then
/// intermediate, as users give chains), `a.key`, `b.crt`, `b.key`,
/// `dual-rsa.{crt,key}`, `dual-ecdsa.{crt,key}`, `client.{crt,key}`,
/// `stranger.{crt,key}`, `other-ca.crt`.
pub struct Pki {
    pub ca: Issued,
    pub intermediate: Issued,
    pub a: Issued,
    pub b: Issued,
    pub dual_rsa: Issued,
    pub dual_ecdsa: Issued,
    pub client: Issued,
    pub other_ca: Issued,
    pub stranger: Issued,
}

fn ecdsa_key() -> KeyPair {
    must(
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ECDSA key",
    )
}

/// A fresh RSA 2048 key: ring cannot generate RSA keys, so openssl does
/// (Debian's `openssl`; the test fails without it).
pub fn rsa_key() -> KeyPair {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (apt-get install openssl): {e}"));
    assert!(out.status.success(), "openssl genpkey failed");
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    must(
        KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256),
        "RSA key from openssl",
    )
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "upgate tests");
    dn.push(DnType::CommonName, cn);
    dn
}

fn new_ca(cn: &str) -> Issued {
    let mut params = must(CertificateParams::new(Vec::<String>::new()), "CA params");
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = ecdsa_key();
    let cert = must(params.self_signed(&key), "self-signed CA");
    Issued {
        der: cert.der().clone(),
        pem: cert.pem(),
        params,
        key,
    }
}

/// A certificate for `cn` (and `sans`) with `key`, signed by `issuer`.
fn sign(issuer: &Issued, cn: &str, sans: &[&str], key: KeyPair, kind: Kind) -> Issued {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = must(CertificateParams::new(sans), "leaf params");
    params.distinguished_name = name(cn);
    match kind {
        Kind::Intermediate => {
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        Kind::Server => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        Kind::Client => {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    let signer = Issuer::from_params(&issuer.params, &issuer.key);
    let cert = must(params.signed_by(&key, &signer), "signing");
    Issued {
        der: cert.der().clone(),
        pem: cert.pem(),
        params,
        key,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Intermediate,
    Server,
    Client,
}

impl Pki {
    /// Makes the PKI and writes its files into `dir`.
    pub fn new(dir: &Dir) -> Pki {
        let ca = new_ca("upgate test CA");
        let intermediate = sign(
            &ca,
            "upgate test intermediate",
            &[],
            ecdsa_key(),
            Kind::Intermediate,
        );
        let a = sign(
            &intermediate,
            "a.test",
            &["a.test"],
            rsa_key(),
            Kind::Server,
        );
        let b = sign(&ca, "b.test", &["b.test"], ecdsa_key(), Kind::Server);
        let dual_rsa = sign(&ca, "dual.test", &["dual.test"], rsa_key(), Kind::Server);
        let dual_ecdsa = sign(&ca, "dual.test", &["dual.test"], ecdsa_key(), Kind::Server);
        let client = sign(&ca, "upgate client", &[], ecdsa_key(), Kind::Client);
        let other_ca = new_ca("another CA");
        let stranger = sign(&other_ca, "stranger", &[], ecdsa_key(), Kind::Client);

        dir.write("ca.crt", &ca.pem);
        dir.write("other-ca.crt", &other_ca.pem);
        dir.write("a.crt", format!("{}{}", a.pem, intermediate.pem));
        dir.write("a.key", a.key.serialize_pem());
        for (file, cert) in [
            ("b", &b),
            ("dual-rsa", &dual_rsa),
            ("dual-ecdsa", &dual_ecdsa),
            ("client", &client),
            ("stranger", &stranger),
        ] {
            dir.write(&format!("{file}.crt"), &cert.pem);
            dir.write(&format!("{file}.key"), cert.key.serialize_pem());
        }
        Pki {
            ca,
            intermediate,
            a,
            b,
            dual_rsa,
            dual_ecdsa,
            client,
            other_ca,
            stranger,
        }
    }
}
