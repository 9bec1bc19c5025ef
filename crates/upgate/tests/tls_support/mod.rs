//! Shared by the TLS tests (`tls_end_to_end`, `tls_scan`, `tls_browser`):
//! a small PKI made with rcgen for each run, upgate or Debian's nginx
//! started on a configuration in a scratch directory (`daemon off;
//! master_process off;`, its own prefix, killed on drop), free loopback
//! ports, rustls client configurations and a bounded HTTP/1.1 exchange over
//! any stream. Every wait is bounded; nothing here skips: a missing program
//! panics with what to install.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Debian's nginx, the reference.
pub const NGINX: &str = "/usr/sbin/nginx";
/// How long one exchange (connect, handshake, request, response) may take.
pub const IO_LIMIT: Duration = Duration::from_secs(10);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// Fails the test (never skips) without nginx.
pub fn require_nginx() {
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} is missing: this test compares with Debian's nginx (apt-get install nginx)"
    );
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("upgate-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["", "tmp", "logs"] {
            if let Err(e) = fs::create_dir_all(dir.join(sub)) {
                panic!("cannot create {}: {e}", dir.display());
            }
        }
        Dir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `self/name` as a string, for configuration text.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) {
        if let Err(e) = fs::write(self.0.join(name), content) {
            panic!("cannot write {name}: {e}");
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Certificates.

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

fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
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

// ---------------------------------------------------------------------------
// Servers.

/// Which server runs the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Upgate,
    Nginx,
}

impl Program {
    pub fn binary(self) -> &'static str {
        match self {
            Program::Upgate => env!("CARGO_BIN_EXE_upgate"),
            Program::Nginx => NGINX,
        }
    }
}

/// The main-level wrapper around an `http {}` body: one process in the
/// foreground, files in `dir`.
pub fn main_conf(dir: &Dir, http_body: &str) -> String {
    let d = dir.path().display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\nevents {{ worker_connections 1024; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/tmp/body;\n\
         \x20   proxy_temp_path {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n\
         {http_body}\n}}\n"
    )
}

/// A running upgate or nginx, killed when dropped.
pub struct Served {
    child: Child,
    dir: PathBuf,
    pub program: Program,
}

impl Served {
    /// Writes `conf` as `dir/nginx.conf`, starts `program` on it (`-p DIR/
    /// -c nginx.conf -e error.log`) and waits (10 s at most) until every
    /// port in `ports` accepts; panics with the error log otherwise.
    pub fn start(program: Program, dir: &Dir, conf: &str, ports: &[u16]) -> Served {
        if program == Program::Nginx {
            require_nginx();
        }
        dir.write("nginx.conf", conf);
        let _ = fs::remove_file(dir.path().join("nginx.pid"));
        let child = Command::new(program.binary())
            .arg("-p")
            .arg(format!("{}/", dir.path().display()))
            .args(["-c", "nginx.conf", "-e", "error.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.binary()));
        let mut served = Served {
            child,
            dir: dir.path().to_path_buf(),
            program,
        };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = served.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = served.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "{program:?} exited at start ({status}) on\n{conf}\nstderr: {err}\nerror.log: {}",
                    served.error_log()
                );
            }
            let up = ports.iter().all(|p| {
                std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], *p)),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if up {
                return served;
            }
            assert!(
                Instant::now() < end,
                "{program:?} did not listen on {ports:?} in 10 s: {}",
                served.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Clients.

/// How a test client talks TLS.
#[derive(Default)]
pub struct ClientOptions<'a> {
    /// Trust anchors; none means the test CA must be given.
    pub roots: Vec<CertificateDer<'static>>,
    /// A client certificate chain and key.
    pub client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// Offer only these signature schemes (signature_algorithms).
    pub schemes: Option<&'a [SignatureScheme]>,
    /// Only TLS 1.2 (else 1.2 and 1.3).
    pub tls12_only: bool,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
    /// Accept any certificate (to see what a server sends for a name its
    /// certificates do not cover).
    pub accept_any: bool,
}

/// Accepts every certificate and signature.
#[derive(Debug)]
struct AnyCertificate;

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
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// rustls' WebPKI verifier, offering only some signature schemes.
#[derive(Debug)]
struct Restricted {
    inner: Arc<WebPkiServerVerifier>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for Restricted {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// The signature schemes of ECDSA keys and of RSA keys.
pub const ECDSA_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
];
pub const RSA_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];

pub fn client_config(options: ClientOptions<'_>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for root in &options.roots {
        must(roots.add(root.clone()), "root certificate");
    }
    let roots = Arc::new(roots);
    let versions: &[&rustls::SupportedProtocolVersion] = if options.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = must(
        ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions),
        "protocol versions",
    );
    let builder = match options.schemes {
        _ if options.accept_any => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate)),
        Some(schemes) => {
            let inner = must(
                WebPkiServerVerifier::builder_with_provider(roots, provider).build(),
                "verifier",
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Restricted {
                    inner,
                    schemes: schemes.to_vec(),
                }))
        }
        None => builder.with_root_certificates(roots),
    };
    let mut config = match options.client_cert {
        Some((chain, key)) => must(builder.with_client_auth_cert(chain, key), "client cert"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = options.alpn;
    Arc::new(config)
}

/// Connects to 127.0.0.1:`port` and handshakes with SNI `sni`.
pub async fn connect_tls(
    port: u16,
    sni: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(sni.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    tokio::time::timeout(IO_LIMIT, async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        TlsConnector::from(config).connect(name, tcp).await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS connect timed out"))?
}

/// A whole response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` (whole, `Connection: close`) and reads to EOF; a TLS
/// peer that closes without close_notify ends the response too.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
) -> std::io::Result<Reply> {
    tokio::time::timeout(IO_LIMIT, async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) if !buf.is_empty() => {
                    eprintln!("read after {} bytes: {e}", buf.len());
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(parse_reply(&buf))
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "response timed out"))?
}

/// `GET path` for `host`, closing after it.
pub fn get(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

pub fn parse_reply(buf: &[u8]) -> Reply {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status_line,
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..p]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        data = &data[p + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

/// The body of an nginx error page with its product footer made neutral,
/// so that upgate's (`upgate/0.1.0`) and nginx's (`nginx/1.22.1`) compare.
pub fn neutral_footer(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.find("<hr><center>") {
        Some(start) => match text[start..].find("</center>") {
            Some(len) => format!(
                "{}<hr><center>SERVER</center>{}",
                &text[..start],
                &text[start + len + "</center>".len()..]
            ),
            None => text.into_owned(),
        },
        None => text.into_owned(),
    }
}
