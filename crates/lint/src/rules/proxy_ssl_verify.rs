//! `proxy-ssl-verify-off` (info): `proxy_pass https://...` while
//! `proxy_ssl_verify` is off, either written or by nginx's default
//! (ngx_http_proxy_module.c merges it to 0). The connection to the
//! upstream is encrypted but its certificate is not checked, so whoever
//! sits on the path can present any certificate and read the traffic.
//! Info, not warning: on loopback or a private link that is often a
//! choice. No fix: turning it on needs `proxy_ssl_trusted_certificate`
//! (and often `proxy_ssl_name`), which only the operator knows.

use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "proxy-ssl-verify-off";

const HELP: &str = "set `proxy_ssl_verify on;` with `proxy_ssl_trusted_certificate` (the CA that signed the upstream's certificate), and `proxy_ssl_server_name on;` / `proxy_ssl_name` when the upstream's certificate names another host than proxy_pass";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for p in &cx.proxied {
        let pp = p.proxy_pass;
        let Some(url) = pp.arg(0) else { continue };
        if !url
            .value
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"https://"))
        {
            continue;
        }
        let verify = cx.scopes.get(p.scope).in_force.ssl_verify;
        let finding = match verify {
            Some(d) if d.arg(0).is_some_and(|a| a.is("on")) => continue,
            Some(d) => Finding::new(
                ID,
                Severity::Info,
                d.head_span(),
                format!(
                    "proxy_ssl_verify is off where proxy_pass goes to {url}: the upstream's certificate is not checked"
                ),
            )
            .related(pp.head_span(), "proxied here"),
            None => Finding::new(
                ID,
                Severity::Info,
                pp.head_span(),
                format!(
                    "proxy_pass goes to {url} with proxy_ssl_verify off (nginx's default): the upstream's certificate is not checked"
                ),
            ),
        };
        out.push(finding.help(HELP));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::rules::tests::findings_of;

    const HEAD: &str = "events {}\nhttp {\n";

    #[test]
    fn default_and_explicit_off_are_reported() {
        let text = format!(
            "{HEAD}    server {{\n        location /a {{\n            proxy_pass https://10.0.0.1;\n        }}\n        location /b {{\n            proxy_ssl_verify off;\n            proxy_pass HTTPS://10.0.0.2;\n        }}\n        location /c {{\n            proxy_pass http://10.0.0.3;\n        }}\n    }}\n}}\n"
        );
        let found = findings_of(&text, super::ID);
        assert_eq!(
            found.iter().map(|f| f.0).collect::<Vec<_>>(),
            [5, 8],
            "{found:?}"
        );
        assert!(found[0].1.contains("nginx's default"));
    }

    #[test]
    fn verify_on_inherited_from_the_server_is_enough() {
        let text = format!(
            "{HEAD}    proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;\n    server {{\n        proxy_ssl_verify on;\n        location / {{\n            proxy_pass https://backend.internal;\n        }}\n        location /off {{\n            proxy_ssl_verify off;\n            proxy_pass https://backend.internal;\n        }}\n    }}\n}}\n"
        );
        let found = findings_of(&text, super::ID);
        assert_eq!(
            found.iter().map(|f| f.0).collect::<Vec<_>>(),
            [10],
            "{found:?}"
        );
    }
}
