//! upgate's TLS defaults as a scanner sees them: a configuration that sets
//! only `listen ... ssl`, `ssl_certificate` and `ssl_certificate_key` (an
//! RSA chain on one port, an ECDSA certificate on another), scanned by
//! Debian's `sslscan` (`--xml=-`). Wanted: SSLv2, SSLv3, TLSv1.0 and
//! TLSv1.1 disabled, TLSv1.2 and TLSv1.3 enabled, no suite under 128 bits,
//! no CBC, RC4, 3DES, NULL, EXPORT or anonymous suite, no SHA-1 MAC.
//!
//! The same scan of nginx 1.22 on the same text must find problems (its
//! default `ssl_ciphers HIGH:!aNULL:!MD5` accepts CBC suites with SHA-1
//! MACs): that keeps the checks honest. A missing sslscan or nginx fails
//! the test (apt-get install sslscan nginx).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod tls_support;

use std::process::Command;
use std::time::Duration;

use tls_support::{Dir, Pki, Program, Served, free_port, main_conf};

/// One scan may take this long.
const SCAN_LIMIT: Duration = Duration::from_secs(180);

fn sslscan() -> std::path::PathBuf {
    common::find_on_path("sslscan")
        .or_else(|| Some("/usr/bin/sslscan".into()).filter(|p: &std::path::PathBuf| p.is_file()))
        .unwrap_or_else(|| {
            panic!("sslscan is missing: this test needs Debian's sslscan (apt-get install sslscan)")
        })
}

/// The configuration of only listen, ssl_certificate and
/// ssl_certificate_key: a.test's RSA chain on `rsa`, b.test's ECDSA
/// certificate on `ecdsa`.
fn minimal_conf(dir: &Dir, rsa: u16, ecdsa: u16) -> String {
    let server = |port: u16, name: &str| {
        format!(
            "server {{\n listen 127.0.0.1:{port} ssl;\n ssl_certificate {};\n ssl_certificate_key {};\n}}\n",
            dir.file(&format!("{name}.crt")),
            dir.file(&format!("{name}.key")),
        )
    };
    main_conf(dir, &format!("{}{}", server(rsa, "a"), server(ecdsa, "b")))
}

/// sslscan's XML for 127.0.0.1:`port`.
fn scan(port: u16) -> String {
    let run = common::run_bounded(
        Command::new(sslscan())
            .arg("--no-colour")
            .arg("--xml=-")
            .arg(format!("127.0.0.1:{port}")),
        SCAN_LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let xml = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.success && xml.contains("<ssltest"),
        "sslscan failed: {}\n{xml}",
        String::from_utf8_lossy(&run.stderr)
    );
    xml
}

/// `name="value"` in an XML element's text.
fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = element.find(&key)? + key.len();
    let len = element[start..].find('"')?;
    Some(&element[start..start + len])
}

/// Everything in the scan that breaks the policy, one line each.
fn problems(xml: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut protocols = 0;
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<protocol ") {
            protocols += 1;
            let name = format!(
                "{}{}",
                attr(line, "type").unwrap_or("?"),
                attr(line, "version").unwrap_or("?")
            );
            let enabled = attr(line, "enabled") == Some("1");
            let wanted = matches!(name.as_str(), "tls1.2" | "tls1.3");
            if enabled != wanted {
                found.push(format!(
                    "{name} {}",
                    if enabled { "enabled" } else { "disabled" }
                ));
            }
        } else if line.starts_with("<cipher ") {
            let suite = attr(line, "cipher").unwrap_or("?");
            let version = attr(line, "sslversion").unwrap_or("?");
            let bits: u32 = attr(line, "bits").and_then(|b| b.parse().ok()).unwrap_or(0);
            let upper = suite.to_ascii_uppercase();
            let aead = version == "TLSv1.3"
                || ["GCM", "CCM", "CHACHA20-POLY1305"]
                    .iter()
                    .any(|m| upper.contains(m));
            let mut why = Vec::new();
            if bits < 128 {
                why.push(format!("{bits} bits"));
            }
            if !aead {
                why.push("CBC (not AEAD)".to_string());
            }
            for (mark, what) in [
                ("RC4", "RC4"),
                ("DES-CBC3", "3DES"),
                ("3DES", "3DES"),
                ("NULL", "NULL"),
                ("EXP", "EXPORT"),
                ("ADH", "anonymous"),
                ("AECDH", "anonymous"),
                ("ANON", "anonymous"),
            ] {
                if upper.contains(mark) {
                    why.push(what.to_string());
                }
            }
            if upper.ends_with("-SHA") || upper == "SHA" {
                why.push("SHA-1 MAC".to_string());
            }
            if !why.is_empty() {
                found.push(format!("{version} {suite}: {}", why.join(", ")));
            }
        }
    }
    if protocols < 6 {
        found.push(format!(
            "sslscan reported {protocols} protocols, not SSLv2 to TLSv1.3"
        ));
    }
    if !xml.contains("<cipher ") {
        found.push("no cipher accepted".to_string());
    }
    found
}

fn scan_both(program: Program) -> Vec<String> {
    let dir = Dir::new("tls-scan");
    let _pki = Pki::new(&dir);
    let (rsa, ecdsa) = (free_port(), free_port());
    let _server = Served::start(
        program,
        &dir,
        &minimal_conf(&dir, rsa, ecdsa),
        &[rsa, ecdsa],
    );
    let mut found = Vec::new();
    for (port, key) in [(rsa, "RSA"), (ecdsa, "ECDSA")] {
        found.extend(
            problems(&scan(port))
                .into_iter()
                .map(|p| format!("{key}: {p}")),
        );
    }
    found
}

#[test]
fn default_tls_settings_pass_the_scanner() {
    let found = scan_both(Program::Upgate);
    assert!(
        found.is_empty(),
        "upgate's TLS defaults, as sslscan sees them:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_checks_catch_nginx_defaults() {
    tls_support::require_nginx();
    let found = scan_both(Program::Nginx);
    assert!(
        found.iter().any(|p| p.contains("SHA-1 MAC")) && found.iter().any(|p| p.contains("CBC")),
        "nginx 1.22's defaults accept CBC suites with SHA-1 MACs; the checks found only:\n{}",
        found.join("\n")
    );
}

/// What a scan found enabled: `tls1.2`-style protocols, then
/// `TLSv1.2 SUITE` lines, sorted.
fn offered(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<protocol ") && attr(line, "enabled") == Some("1") {
            out.push(format!(
                "{}{}",
                attr(line, "type").unwrap_or("?"),
                attr(line, "version").unwrap_or("?")
            ));
        } else if line.starts_with("<cipher ") {
            out.push(format!(
                "{} {}",
                attr(line, "sslversion").unwrap_or("?"),
                attr(line, "cipher").unwrap_or("?")
            ));
        }
    }
    out.sort();
    out
}

/// Explicit ssl_protocols and ssl_ciphers, with suites both stacks have:
/// upgate offers what nginx offers.
#[test]
fn explicit_protocols_and_ciphers_as_nginx() {
    tls_support::require_nginx();
    let dir = Dir::new("tls-scan-explicit");
    let _pki = Pki::new(&dir);
    let (ecdsa, rsa) = (free_port(), free_port());
    let server = |port: u16, name: &str, extra: &str| {
        format!(
            "server {{\n listen 127.0.0.1:{port} ssl;\n ssl_certificate {};\n ssl_certificate_key {};\n{extra}\n}}\n",
            dir.file(&format!("{name}.crt")),
            dir.file(&format!("{name}.key")),
        )
    };
    let body = format!(
        "{}{}",
        server(
            ecdsa,
            "b",
            "ssl_protocols TLSv1.2;\n ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;"
        ),
        server(
            rsa,
            "a",
            "ssl_protocols TLSv1.2 TLSv1.3;\n ssl_ciphers ECDHE+AESGCM:!AES128;"
        ),
    );
    let mut seen = Vec::new();
    for program in [Program::Nginx, Program::Upgate] {
        let prefix = Dir::new("tls-scan-explicit-prefix");
        let _server = Served::start(program, &prefix, &main_conf(&prefix, &body), &[ecdsa, rsa]);
        seen.push([offered(&scan(ecdsa)), offered(&scan(rsa))]);
    }
    for (i, port) in ["ECDSA, TLSv1.2 and two suites", "RSA, ECDHE+AESGCM:!AES128"]
        .iter()
        .enumerate()
    {
        assert!(
            seen[0][i].iter().any(|l| l.starts_with("TLSv1.2 ")),
            "{port}: nginx offered no TLSv1.2 suite: {:?}",
            seen[0][i]
        );
        assert_eq!(
            seen[1][i], seen[0][i],
            "{port}: upgate (left) against nginx (right)"
        );
    }
}

#[test]
fn the_policy_reads_sslscan_xml() {
    let good = "<protocol type=\"ssl\" version=\"2\" enabled=\"0\" />\n\
        <protocol type=\"ssl\" version=\"3\" enabled=\"0\" />\n\
        <protocol type=\"tls\" version=\"1.0\" enabled=\"0\" />\n\
        <protocol type=\"tls\" version=\"1.1\" enabled=\"0\" />\n\
        <protocol type=\"tls\" version=\"1.2\" enabled=\"1\" />\n\
        <protocol type=\"tls\" version=\"1.3\" enabled=\"1\" />\n\
        <cipher status=\"preferred\" sslversion=\"TLSv1.3\" bits=\"128\" cipher=\"TLS_AES_128_GCM_SHA256\" />\n\
        <cipher status=\"accepted\" sslversion=\"TLSv1.2\" bits=\"256\" cipher=\"ECDHE-RSA-CHACHA20-POLY1305\" />\n";
    assert_eq!(problems(good), Vec::<String>::new());
    let bad = good.replace(
        "version=\"1.1\" enabled=\"0\"",
        "version=\"1.1\" enabled=\"1\"",
    ) + "<cipher status=\"accepted\" sslversion=\"TLSv1.2\" bits=\"112\" cipher=\"DES-CBC3-SHA\" />\n";
    assert_eq!(
        problems(&bad),
        vec![
            "tls1.1 enabled".to_string(),
            "TLSv1.2 DES-CBC3-SHA: 112 bits, CBC (not AEAD), 3DES, SHA-1 MAC".to_string()
        ]
    );
}
