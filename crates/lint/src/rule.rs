//! The rule table: each rule's stable id, default severity, one-line summary
//! and check function. Ids are kebab-case and never change meaning; the page
//! `docs/lint/<id>.md` shows a bad and a fixed configuration for each.

use std::fmt;

use crate::Cx;
use crate::finding::Finding;
use crate::rules;

/// How bad a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "info" | "note" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of the linter.
pub struct Rule {
    pub id: &'static str,
    /// docs/lint/<id>.md, what `upgate lint --explain <id>` prints.
    pub page: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub check: fn(&Cx<'_>, &mut Vec<Finding>),
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("severity", &self.severity)
            .finish()
    }
}

/// The text of docs/lint/<id>.md, built into the binary: `upgate lint
/// --explain` must work where only the binary was installed, and a rule
/// without its page does not compile.
macro_rules! page {
    ($id:literal) => {
        include_str!(concat!("../../../docs/lint/", $id, ".md"))
    };
}

/// Every rule, in the order findings are reported for one place.
pub static RULES: &[Rule] = &[
    Rule {
        id: "nginx-config-error",
        page: page!("nginx-config-error"),
        severity: Severity::Error,
        summary: "nginx -t rejects this configuration",
        check: rules::nginx_config_error::check,
    },
    Rule {
        id: "include-glob-matches-nothing",
        page: page!("include-glob-matches-nothing"),
        severity: Severity::Warning,
        summary: "an absolute glob include matches nothing here but matches files beside the configuration: they were not linted",
        check: rules::empty_glob::check,
    },
    Rule {
        id: "unknown-variable",
        page: page!("unknown-variable"),
        severity: Severity::Error,
        summary: "a variable is used that nothing defines (nginx -t names only the first, without a place)",
        check: rules::unknown_variable::check,
    },
    Rule {
        id: "websocket-missing-connection-upgrade-map",
        page: page!("websocket-missing-connection-upgrade-map"),
        severity: Severity::Error,
        summary: "$connection_upgrade is used but no map defines it",
        check: rules::missing_map::check,
    },
    Rule {
        id: "websocket-missing-upgrade-header",
        page: page!("websocket-missing-upgrade-header"),
        severity: Severity::Error,
        summary: "a WebSocket location does not forward the Upgrade header",
        check: rules::missing_headers::check_upgrade,
    },
    Rule {
        id: "websocket-missing-connection-header",
        page: page!("websocket-missing-connection-header"),
        severity: Severity::Error,
        summary: "a WebSocket location does not send Connection: upgrade",
        check: rules::missing_headers::check_connection,
    },
    Rule {
        id: "websocket-proxy-http-version",
        page: page!("websocket-proxy-http-version"),
        severity: Severity::Error,
        summary: "Upgrade is forwarded over HTTP/1.0, which cannot upgrade",
        check: rules::http_version::check,
    },
    Rule {
        id: "proxy-set-header-inheritance-loss",
        page: page!("proxy-set-header-inheritance-loss"),
        severity: Severity::Warning,
        summary: "a block's own proxy_set_header drops the headers set around it",
        check: rules::inheritance_loss::check,
    },
    Rule {
        id: "add-header-inheritance-loss",
        page: page!("add-header-inheritance-loss"),
        severity: Severity::Warning,
        summary: "a block's own add_header drops the response headers set around it",
        check: rules::add_header_loss::check,
    },
    Rule {
        id: "websocket-hidden-upgrade-header",
        page: page!("websocket-hidden-upgrade-header"),
        severity: Severity::Error,
        summary: "proxy_hide_header Upgrade (or Connection) on a WebSocket location",
        check: rules::hidden_upgrade::check,
    },
    Rule {
        id: "websocket-proxy-read-timeout",
        page: page!("websocket-proxy-read-timeout"),
        severity: Severity::Warning,
        summary: "idle WebSocket tunnels are cut after proxy_read_timeout (60 s by default)",
        check: rules::read_timeout::check,
    },
    Rule {
        id: "websocket-connection-upgrade-literal",
        page: page!("websocket-connection-upgrade-literal"),
        severity: Severity::Warning,
        summary: "proxy_set_header Connection \"upgrade\" marks every request for upgrade",
        check: rules::connection_literal::check,
    },
    Rule {
        id: "websocket-map-close-defeats-keepalive",
        page: page!("websocket-map-close-defeats-keepalive"),
        severity: Severity::Warning,
        summary: "the map's '' close value closes every pooled upstream connection",
        check: rules::keepalive::check_map_close,
    },
    Rule {
        id: "upstream-keepalive-without-http11",
        page: page!("upstream-keepalive-without-http11"),
        severity: Severity::Warning,
        summary: "keepalive in an upstream used without HTTP/1.1 and a cleared Connection header",
        check: rules::keepalive::check_requirements,
    },
    Rule {
        id: "upstream-keepalive-before-balancer",
        page: page!("upstream-keepalive-before-balancer"),
        severity: Severity::Warning,
        summary: "keepalive placed before the balancing method is silently dropped (nginx < 1.29.7)",
        check: rules::keepalive::check_placement,
    },
    Rule {
        id: "proxy-pass-unknown-upstream",
        page: page!("proxy-pass-unknown-upstream"),
        severity: Severity::Error,
        summary: "proxy_pass names neither an upstream block nor a host that resolves",
        check: rules::unknown_upstream::check,
    },
    Rule {
        id: "proxy-pass-uri-double-slash",
        page: page!("proxy-pass-uri-double-slash"),
        severity: Severity::Warning,
        summary: "a prefix location without a trailing slash and proxy_pass with one send //path upstream",
        check: rules::double_slash::check,
    },
    Rule {
        id: "websocket-upstream-not-sticky",
        page: page!("websocket-upstream-not-sticky"),
        severity: Severity::Info,
        summary: "a WebSocket upstream with several servers and no ip_hash or hash",
        check: rules::sticky::check,
    },
    Rule {
        id: "wss-host-without-tls",
        page: page!("wss-host-without-tls"),
        severity: Severity::Warning,
        summary: "wss://HOST is named but no server that answers HOST speaks TLS",
        check: rules::wss_without_tls::check,
    },
    Rule {
        id: "websocket-tls-missing-forwarded-proto",
        page: page!("websocket-tls-missing-forwarded-proto"),
        severity: Severity::Warning,
        summary: "a WebSocket location served over TLS does not pass X-Forwarded-Proto",
        check: rules::forwarded_proto::check,
    },
    Rule {
        id: "ssl-protocols-insecure",
        page: page!("ssl-protocols-insecure"),
        severity: Severity::Warning,
        summary: "ssl_protocols or proxy_ssl_protocols enables SSLv3, TLSv1 or TLSv1.1",
        check: rules::ssl_protocols::check,
    },
    Rule {
        id: "ssl-certificate-not-valid-for-server",
        page: page!("ssl-certificate-not-valid-for-server"),
        severity: Severity::Warning,
        summary: "a server's certificate does not cover its server_name, has expired or cannot be read",
        check: rules::certificate::check,
    },
    Rule {
        id: "proxy-ssl-verify-off",
        page: page!("proxy-ssl-verify-off"),
        severity: Severity::Info,
        summary: "proxy_pass https:// with proxy_ssl_verify off: the upstream's certificate is not checked",
        check: rules::proxy_ssl_verify::check,
    },
    Rule {
        id: "realip-missing-behind-proxy",
        page: page!("realip-missing-behind-proxy"),
        severity: Severity::Warning,
        summary: "behind a proxy without set_real_ip_from, allow/deny and limits keyed on $remote_addr judge the proxy's address",
        check: rules::realip_missing::check,
    },
    Rule {
        id: "realip-trusts-every-address",
        page: page!("realip-trusts-every-address"),
        severity: Severity::Warning,
        summary: "set_real_ip_from 0.0.0.0/0 (or ::/0) lets any client forge its address",
        check: rules::realip_every::check,
    },
    Rule {
        id: "access-rule-unreachable",
        page: page!("access-rule-unreachable"),
        severity: Severity::Warning,
        summary: "an allow or deny after a rule that matches every client it would (deny all, a wider CIDR) never matches",
        check: rules::access_unreachable::check,
    },
    Rule {
        id: "websocket-location-skips-auth",
        page: page!("websocket-location-skips-auth"),
        severity: Severity::Warning,
        summary: "the WebSocket location is open while the server's other proxied locations ask for authentication",
        check: rules::websocket_auth::check,
    },
    Rule {
        id: "websocket-limit-req-without-burst",
        page: page!("websocket-limit-req-without-burst"),
        severity: Severity::Warning,
        summary: "limit_req without burst on a WebSocket location refuses reconnect storms with 503",
        check: rules::websocket_burst::check,
    },
];

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The rule id a mistyped `id` most likely meant, for a did-you-mean: the
/// id itself once case and `_` are forgiven, else the shortest id that
/// contains it (people remember a rule by part of its name:
/// `missing-upgrade-header`), else the nearest id within a third of its
/// length in edits.
pub fn suggest(id: &str) -> Option<&'static str> {
    let wanted: String = id
        .trim()
        .chars()
        .map(|c| match c {
            '_' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    if wanted.is_empty() {
        return None;
    }
    if let Some(rule) = find(&wanted) {
        return Some(rule.id);
    }
    // Three letters or fewer are in half the ids: no guess is better than
    // any of them.
    if wanted.len() > 3
        && let Some(rule) = RULES
            .iter()
            .filter(|r| r.id.contains(&wanted))
            .min_by_key(|r| r.id.len())
    {
        return Some(rule.id);
    }
    let a: Vec<char> = wanted.chars().collect();
    RULES
        .iter()
        .map(|r| {
            let b: Vec<char> = r.id.chars().collect();
            (crate::rules::unknown_upstream::distance(&a, &b), r.id)
        })
        .filter(|(d, id)| *d <= (id.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "duplicate {}", rule.id);
            assert!(
                rule.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{} is not kebab-case",
                rule.id
            );
        }
    }

    #[test]
    fn every_rule_has_its_own_page() {
        for rule in RULES {
            assert!(
                rule.page.starts_with(&format!("# {}\n", rule.id)),
                "the page of {} is not docs/lint/{}.md",
                rule.id,
                rule.id
            );
        }
    }

    /// The other direction: a page in docs/lint named like a rule that no
    /// longer exists (renamed, removed) would never be shown.
    #[test]
    fn every_rule_page_is_a_rule() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lint");
        let entries =
            std::fs::read_dir(&docs).unwrap_or_else(|e| panic!("{}: {e}", docs.display()));
        // The pages of the linter itself rather than of a rule.
        let general = ["README.md", "corpus.md", "ci.md"];
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".md") else {
                continue;
            };
            if general.contains(&name.as_str()) {
                continue;
            }
            assert!(
                find(id).is_some(),
                "docs/lint/{name} is no rule's page (a general page belongs in the list above)"
            );
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("websocket_missing_upgrade_header"),
            Some("websocket-missing-upgrade-header")
        );
        assert_eq!(
            suggest("missing-upgrade-header"),
            Some("websocket-missing-upgrade-header")
        );
        assert_eq!(
            suggest("websocket-proxy-read-timout"),
            Some("websocket-proxy-read-timeout")
        );
        assert_eq!(suggest("unknown-varible"), Some("unknown-variable"));
        assert_eq!(suggest("ssl"), None);
        assert_eq!(suggest("completely-unrelated-words"), None);
        assert_eq!(suggest(""), None);
    }
}
