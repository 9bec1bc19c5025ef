//! `ssl-certificate-not-valid-for-server` (warning): a server that speaks
//! TLS presents a certificate (its `ssl_certificate`, or the http-level one
//! it inherits) that a client would refuse for one of its `server_name`s:
//! the leaf's subjectAltName DNS names (its CN only when it has no SAN) do
//! not cover the name, or the certificate has expired or is not valid yet,
//! or the file is not a readable PEM certificate.
//!
//! The file is read offline, resolved as nginx resolves it: relative to
//! the configuration's directory (`ngx_conf_full_name` with conf_prefix),
//! under `--root` when given. When it is not there, the configuration is
//! probably being linted away from the machine that runs it: an info
//! finding says so instead. Names covered: a SAN `*.example.com` covers one
//! label (`a.example.com`, not `a.b.example.com` nor `example.com`), as
//! RFC 6125 says and browsers do. Not checked: regex names, `_` and `""`,
//! `www.example.*`, and certificates named by variables or `data:`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use upgate_conf::Directive;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::rule::Severity;
use crate::servers::Server;
use crate::{Cx, Finding};

pub const ID: &str = "ssl-certificate-not-valid-for-server";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let conf_prefix = cx
        .config
        .sources
        .path(cx.config.main)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let fs = upgate_conf::fs::Fs::rooted(cx.options.root.clone());
    let mut read: FxHashMap<PathBuf, Leaf> = FxHashMap::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    for server in cx.servers.all.iter().filter(|s| s.tls.is_some()) {
        for &d in &server.certificates {
            let Some(name) = d.arg(0) else { continue };
            if name.value.contains(&b'$') || name.value.starts_with(b"data:") {
                continue;
            }
            let path = upgate_conf::fs::full_name(&conf_prefix, Path::new(name.text().as_ref()));
            let leaf = read
                .entry(path.clone())
                .or_insert_with(|| Leaf::read(&fs.real(&path)));
            if let Some(f) = finding(d, server, &name.text(), &path, leaf, now) {
                out.push(f);
            }
        }
    }
}

fn finding(
    d: &Directive,
    server: &Server<'_>,
    file: &str,
    path: &Path,
    leaf: &Leaf,
    now: i64,
) -> Option<Finding> {
    let renew = "renew it (nginx serves it as it is, and clients refuse it)";
    let (severity, message, help) = match leaf {
        Leaf::Missing => (
            Severity::Info,
            format!(
                "certificate \"{}\" is not on this machine, so its names and dates are not checked (lint where nginx runs, or with --root)",
                path.display()
            ),
            None,
        ),
        Leaf::Unusable(why) => (
            Severity::Warning,
            format!("certificate \"{file}\" cannot be used: {why}"),
            Some(
                "ssl_certificate must name a PEM file that starts with the server's certificate (then its chain)",
            ),
        ),
        Leaf::Cert(c) if now > c.not_after => (
            Severity::Warning,
            format!("certificate \"{file}\" expired on {}", c.not_after_text),
            Some(renew),
        ),
        Leaf::Cert(c) if now < c.not_before => (
            Severity::Warning,
            format!(
                "certificate \"{file}\" is not valid before {}",
                c.not_before_text
            ),
            Some(renew),
        ),
        Leaf::Cert(c) => {
            let uncovered: Vec<String> = checked_names(server).filter(|n| !c.covers(n)).collect();
            if uncovered.is_empty() {
                return None;
            }
            let names = if c.names.is_empty() {
                "no DNS name".to_string()
            } else {
                c.names.join(", ")
            };
            (
                Severity::Warning,
                format!(
                    "certificate \"{file}\" ({names}) does not cover server_name {}: clients asking for {} get a name mismatch error",
                    uncovered.join(" "),
                    if uncovered.len() == 1 { "it" } else { "them" }
                ),
                Some(
                    "issue a certificate whose subjectAltName lists every server_name of the server, or split the server by certificate",
                ),
            )
        }
    };
    let mut f = Finding::new(ID, severity, d.head_span(), message);
    if let Some(names) = server.server_names.first() {
        f = f.related(names.head_span(), "the server's names");
    } else {
        f = f.related(server.directive.name.span, "in this server");
    }
    if let Some(help) = help {
        f = f.help(help);
    }
    Some(f)
}

/// The server names a certificate must cover, lowercase; `.example.com`
/// stands for `example.com` and `*.example.com`.
fn checked_names<'s>(server: &'s Server<'_>) -> impl Iterator<Item = String> + 's {
    server.names.iter().flat_map(|w| {
        let name = w.text().to_ascii_lowercase();
        let skip = name.is_empty()
            || name == "_"
            || name.starts_with('~')
            || name.ends_with(".*")
            || name.contains('$');
        match name.strip_prefix('.') {
            _ if skip => Vec::new(),
            Some(base) => vec![base.to_string(), format!("*.{base}")],
            None => vec![name],
        }
    })
}

/// What the file named by `ssl_certificate` holds.
enum Leaf {
    Missing,
    Unusable(String),
    Cert(Names),
}

struct Names {
    /// SAN DNS names, else the CNs, lowercase.
    names: Vec<String>,
    ips: Vec<IpAddr>,
    not_before: i64,
    not_after: i64,
    not_before_text: String,
    not_after_text: String,
}

impl Leaf {
    fn read(real: &Path) -> Leaf {
        let bytes = match std::fs::read(real) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Leaf::Missing,
            Err(e) => return Leaf::Unusable(format!("cannot read it ({e})")),
        };
        // The first certificate is the leaf; keys and chains may share the file.
        let Some(pem) = Pem::iter_from_buffer(&bytes)
            .filter_map(Result::ok)
            .find(|p| p.label == "CERTIFICATE" || p.label == "TRUSTED CERTIFICATE")
        else {
            return Leaf::Unusable("no PEM certificate in the file".into());
        };
        let cert = match pem.parse_x509() {
            Ok(c) => c,
            Err(e) => return Leaf::Unusable(format!("not a valid X.509 certificate ({e})")),
        };
        let mut names = Vec::new();
        let mut ips = Vec::new();
        let mut has_san = false;
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            has_san = true;
            for g in &san.value.general_names {
                match g {
                    GeneralName::DNSName(n) => names.push(n.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            ips.push(IpAddr::from(a));
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            ips.push(IpAddr::from(a));
                        }
                    }
                    _ => {}
                }
            }
        }
        if !has_san {
            names.extend(
                cert.subject()
                    .iter_common_name()
                    .filter_map(|cn| cn.as_str().ok())
                    .map(str::to_ascii_lowercase),
            );
        }
        let v = cert.validity();
        Leaf::Cert(Names {
            names,
            ips,
            not_before: v.not_before.timestamp(),
            not_after: v.not_after.timestamp(),
            not_before_text: v.not_before.to_string(),
            not_after_text: v.not_after.to_string(),
        })
    }
}

impl Names {
    /// Whether a client asking for `name` accepts the certificate. A
    /// wildcard server name (`*.example.com`) is covered only by the same
    /// wildcard.
    fn covers(&self, name: &str) -> bool {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ips.contains(&ip);
        }
        self.names.iter().any(|n| n == name || dns_matches(n, name))
    }
}

/// RFC 6125 6.4.3: a `*` only in the leftmost label, matching within that
/// one label (`*.example.com`, also `w*.example.com`).
fn dns_matches(pattern: &str, name: &str) -> bool {
    let (Some((p_first, p_rest)), Some((n_first, n_rest))) =
        (pattern.split_once('.'), name.split_once('.'))
    else {
        return false;
    };
    if p_rest != n_rest
        || !p_first.contains('*')
        || n_first.starts_with('*')
        || !p_rest.contains('.')
    {
        return false;
    }
    let Some((prefix, suffix)) = p_first.split_once('*') else {
        return false;
    };
    !n_first.is_empty()
        && n_first.len() >= prefix.len() + suffix.len()
        && n_first.starts_with(prefix)
        && n_first.ends_with(suffix)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::rules::tests::{findings_in, temp_dir};
    use crate::{NoResolve, Options};

    #[test]
    fn wildcards_cover_one_label() {
        assert!(dns_matches("*.example.com", "a.example.com"));
        assert!(!dns_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(dns_matches("w*.example.com", "www.example.com"));
        assert!(!dns_matches("*.com", "example.com"));
        let names = Names {
            names: vec!["*.example.com".into()],
            ips: vec!["10.0.0.1".parse().unwrap()],
            not_before: 0,
            not_after: 0,
            not_before_text: String::new(),
            not_after_text: String::new(),
        };
        assert!(names.covers("*.example.com"));
        assert!(names.covers("10.0.0.1"));
        assert!(!names.covers("10.0.0.2"));
    }

    /// A self-signed certificate (and its key, in the same file) valid
    /// from the start of one year to the start of another.
    fn cert(dir: &Path, file: &str, sans: &[&str], cn: &str, years: (i32, i32)) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let c = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(file), c.pem() + &key.serialize_pem()).unwrap();
    }

    fn lint_dir(dir: &Path, text: &str) -> Vec<crate::Finding> {
        findings_in(dir, text, ID, &Options::new(&NoResolve))
    }

    fn conf(names: &str, cert: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n    server {{\n        listen 443 ssl;\n        server_name {names};\n        ssl_certificate {cert};\n        ssl_certificate_key {cert};\n    }}\n}}\n"
        )
    }

    #[test]
    fn names_dates_and_files() {
        let dir = temp_dir();
        cert(
            &dir,
            "good.pem",
            &["example.test", "*.example.test"],
            "ignored.test",
            (2000, 9000),
        );
        cert(&dir, "cn.pem", &[], "cn.test", (2000, 9000));
        cert(
            &dir,
            "old.pem",
            &["example.test"],
            "example.test",
            (2000, 2001),
        );
        cert(
            &dir,
            "future.pem",
            &["example.test"],
            "example.test",
            (8000, 9000),
        );
        let _ = std::fs::write(dir.join("junk.pem"), "not a certificate\n");

        assert!(
            lint_dir(
                &dir,
                &conf(
                    "example.test www.example.test .example.test _ ~^x",
                    "good.pem"
                )
            )
            .is_empty()
        );
        let f = lint_dir(
            &dir,
            &conf("example.test a.b.example.test other.test", "good.pem"),
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message
                .contains("does not cover server_name a.b.example.test other.test"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].severity, Severity::Warning);

        assert!(lint_dir(&dir, &conf("cn.test", "cn.pem")).is_empty());
        assert_eq!(
            lint_dir(&dir, &conf("ignored.test", "good.pem")).len(),
            1,
            "CN is not read when there is a SAN"
        );

        let f = lint_dir(&dir, &conf("example.test", "old.pem"));
        assert!(f[0].message.contains("expired on"), "{}", f[0].message);
        let f = lint_dir(&dir, &conf("example.test", "future.pem"));
        assert!(
            f[0].message.contains("is not valid before"),
            "{}",
            f[0].message
        );
        let f = lint_dir(&dir, &conf("example.test", "junk.pem"));
        assert!(
            f[0].message.contains("no PEM certificate"),
            "{}",
            f[0].message
        );
        let f = lint_dir(&dir, &conf("example.test", "missing.pem"));
        assert_eq!(f[0].severity, Severity::Info);
        // An absolute path is found under the root.
        let abs = conf("example.test", "/certs/good.pem");
        let root = temp_dir();
        std::fs::create_dir_all(root.join("certs")).unwrap();
        std::fs::copy(dir.join("good.pem"), root.join("certs/good.pem")).unwrap();
        let mut options = Options::new(&NoResolve);
        options.root = Some(upgate_conf::fs::Root::whole(root.to_path_buf()));
        assert!(findings_in(&dir, &abs, ID, &options).is_empty());
    }

    #[test]
    fn plain_servers_and_inherited_certificates() {
        let dir = temp_dir();
        cert(
            &dir,
            "good.pem",
            &["example.test"],
            "example.test",
            (2000, 9000),
        );
        let text = "events {}\nhttp {\n    ssl_certificate good.pem;\n    ssl_certificate_key good.pem;\n    server {\n        listen 80;\n        server_name other.test;\n    }\n    server {\n        listen 443 ssl;\n        server_name other.test;\n    }\n}\n";
        let f = lint_dir(&dir, text);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].span.line, 3);
    }
}
