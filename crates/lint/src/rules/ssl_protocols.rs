//! `ssl-protocols-insecure` (warning): `ssl_protocols` or
//! `proxy_ssl_protocols` (http or stream) enables SSLv2, SSLv3, TLSv1 or
//! TLSv1.1. RFC 8996 retired TLS 1.0 and 1.1, RFC 7568 SSL 3.0; nginx still offers what the line names, as far as its OpenSSL
//! allows, while upgate's rustls never offers them, so the two would serve
//! different clients from one file. The fix keeps only TLSv1.2 and
//! TLSv1.3 words; when the line names nothing else there is no fix (what
//! to enable instead is the operator's call).

use upgate_conf::Directive;

use crate::fix::Edit;
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "ssl-protocols-insecure";

const INSECURE: &[&str] = &["SSLv2", "SSLv3", "TLSv1", "TLSv1.1"];

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    cx.config.walk(|d, _| {
        if !(d.is("ssl_protocols") || d.is("proxy_ssl_protocols")) {
            return;
        }
        let insecure: Vec<String> = d
            .args
            .iter()
            .filter(|a| INSECURE.iter().any(|i| a.is(i)))
            .map(|a| a.text().into_owned())
            .collect();
        if insecure.is_empty() {
            return;
        }
        let side = if d.is("ssl_protocols") {
            "to clients"
        } else {
            "to upstream servers"
        };
        let fix = keep_modern(d).and_then(|edit| {
            cx.fix(
                "enable only TLSv1.2 and TLSv1.3",
                d.name.span,
                vec![edit],
            )
        });
        out.push(
            Finding::new(
                ID,
                Severity::Warning,
                d.head_span(),
                format!(
                    "{} enables {} {side}: deprecated and insecure (RFC 7568, RFC 8996); nginx offers them where its OpenSSL allows, upgate never does",
                    d.name(),
                    insecure.join(" and ")
                ),
            )
            .help(format!("`{} TLSv1.2 TLSv1.3;`", d.name()))
            .fix(fix),
        );
    });
}

/// The arguments rewritten without the insecure words, when some are left.
fn keep_modern(d: &Directive) -> Option<Edit> {
    let (first, last) = (d.args.first()?, d.args.last()?);
    let kept: Vec<&str> = d
        .args
        .iter()
        .filter(|a| !INSECURE.iter().any(|i| a.is(i)))
        .map(|a| std::str::from_utf8(&a.value).unwrap_or_default())
        .collect();
    if kept.is_empty() || first.span.file != last.span.file {
        return None;
    }
    Some(Edit {
        file: first.span.file,
        start: first.span.start as usize,
        end: last.span.end as usize,
        text: kept.join(" ").into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::rules::tests::{findings_of, fixed};

    #[test]
    fn legacy_versions_are_reported_and_dropped() {
        let text = "events {}\nhttp {\n    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n    server {\n        location / {\n            proxy_ssl_protocols SSLv3 TLSv1.2;\n            proxy_pass https://127.0.0.1:9443;\n            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate /dev/null;\n        }\n    }\n}\n";
        let found = findings_of(text, super::ID);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].1.contains("TLSv1 and TLSv1.1 to clients"),
            "{}",
            found[0].1
        );
        assert!(
            found[1].1.contains("SSLv3 to upstream servers"),
            "{}",
            found[1].1
        );
        let out = fixed(text);
        assert!(
            out.contains("    ssl_protocols TLSv1.2 TLSv1.3;\n"),
            "{out}"
        );
        assert!(out.contains("proxy_ssl_protocols TLSv1.2;\n"), "{out}");
        assert!(findings_of(&out, super::ID).is_empty());
    }

    #[test]
    fn no_fix_when_nothing_modern_is_named() {
        let text = "events {}\nhttp {\n    ssl_protocols TLSv1;\n}\n";
        assert_eq!(findings_of(text, super::ID).len(), 1);
        assert_eq!(fixed(text), text);
    }

    #[test]
    fn modern_lists_are_fine() {
        let text = "events {}\nhttp {\n    ssl_protocols TLSv1.2 TLSv1.3;\n}\nstream {\n    proxy_ssl_protocols TLSv1.3;\n}\n";
        assert!(findings_of(text, super::ID).is_empty());
    }
}
