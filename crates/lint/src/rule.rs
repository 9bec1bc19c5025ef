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

/// Every rule, in the order findings are reported for one place.
pub static RULES: &[Rule] = &[
    Rule {
        id: "nginx-config-error",
        severity: Severity::Error,
        summary: "nginx -t rejects this configuration",
        check: rules::nginx_config_error::check,
    },
    Rule {
        id: "unknown-variable",
        severity: Severity::Error,
        summary: "a variable is used that nothing defines (nginx -t names only the first, without a place)",
        check: rules::unknown_variable::check,
    },
    Rule {
        id: "websocket-missing-connection-upgrade-map",
        severity: Severity::Error,
        summary: "$connection_upgrade is used but no map defines it",
        check: rules::missing_map::check,
    },
    Rule {
        id: "websocket-missing-upgrade-header",
        severity: Severity::Error,
        summary: "a WebSocket location does not forward the Upgrade header",
        check: rules::missing_headers::check_upgrade,
    },
    Rule {
        id: "websocket-missing-connection-header",
        severity: Severity::Error,
        summary: "a WebSocket location does not send Connection: upgrade",
        check: rules::missing_headers::check_connection,
    },
    Rule {
        id: "websocket-proxy-http-version",
        severity: Severity::Error,
        summary: "Upgrade is forwarded over HTTP/1.0, which cannot upgrade",
        check: rules::http_version::check,
    },
    Rule {
        id: "proxy-set-header-inheritance-loss",
        severity: Severity::Warning,
        summary: "a block's own proxy_set_header drops the headers set around it",
        check: rules::inheritance_loss::check,
    },
    Rule {
        id: "add-header-inheritance-loss",
        severity: Severity::Warning,
        summary: "a block's own add_header drops the response headers set around it",
        check: rules::add_header_loss::check,
    },
    Rule {
        id: "websocket-hidden-upgrade-header",
        severity: Severity::Error,
        summary: "proxy_hide_header Upgrade (or Connection) on a WebSocket location",
        check: rules::hidden_upgrade::check,
    },
    Rule {
        id: "websocket-proxy-read-timeout",
        severity: Severity::Warning,
        summary: "idle WebSocket tunnels are cut after proxy_read_timeout (60 s by default)",
        check: rules::read_timeout::check,
    },
    Rule {
        id: "websocket-connection-upgrade-literal",
        severity: Severity::Warning,
        summary: "proxy_set_header Connection \"upgrade\" marks every request for upgrade",
        check: rules::connection_literal::check,
    },
    Rule {
        id: "websocket-map-close-defeats-keepalive",
        severity: Severity::Warning,
        summary: "the map's '' close value closes every pooled upstream connection",
        check: rules::keepalive::check_map_close,
    },
    Rule {
        id: "upstream-keepalive-without-http11",
        severity: Severity::Warning,
        summary: "keepalive in an upstream used without HTTP/1.1 and a cleared Connection header",
        check: rules::keepalive::check_requirements,
    },
    Rule {
        id: "upstream-keepalive-before-balancer",
        severity: Severity::Warning,
        summary: "keepalive placed before the balancing method is silently dropped (nginx < 1.29.7)",
        check: rules::keepalive::check_placement,
    },
    Rule {
        id: "proxy-pass-unknown-upstream",
        severity: Severity::Error,
        summary: "proxy_pass names neither an upstream block nor a host that resolves",
        check: rules::unknown_upstream::check,
    },
    Rule {
        id: "proxy-pass-uri-double-slash",
        severity: Severity::Warning,
        summary: "a prefix location without a trailing slash and proxy_pass with one send //path upstream",
        check: rules::double_slash::check,
    },
    Rule {
        id: "websocket-upstream-not-sticky",
        severity: Severity::Info,
        summary: "a WebSocket upstream with several servers and no ip_hash or hash",
        check: rules::sticky::check,
    },
    Rule {
        id: "wss-host-without-tls",
        severity: Severity::Warning,
        summary: "wss://HOST is named but no server that answers HOST speaks TLS",
        check: rules::wss_without_tls::check,
    },
    Rule {
        id: "websocket-tls-missing-forwarded-proto",
        severity: Severity::Warning,
        summary: "a WebSocket location served over TLS does not pass X-Forwarded-Proto",
        check: rules::forwarded_proto::check,
    },
    Rule {
        id: "ssl-protocols-insecure",
        severity: Severity::Warning,
        summary: "ssl_protocols or proxy_ssl_protocols enables SSLv3, TLSv1 or TLSv1.1",
        check: rules::ssl_protocols::check,
    },
    Rule {
        id: "ssl-certificate-not-valid-for-server",
        severity: Severity::Warning,
        summary: "a server's certificate does not cover its server_name, has expired or cannot be read",
        check: rules::certificate::check,
    },
    Rule {
        id: "proxy-ssl-verify-off",
        severity: Severity::Info,
        summary: "proxy_pass https:// with proxy_ssl_verify off: the upstream's certificate is not checked",
        check: rules::proxy_ssl_verify::check,
    },
    Rule {
        id: "realip-missing-behind-proxy",
        severity: Severity::Warning,
        summary: "behind a proxy without set_real_ip_from, allow/deny and limits keyed on $remote_addr judge the proxy's address",
        check: rules::realip_missing::check,
    },
    Rule {
        id: "realip-trusts-every-address",
        severity: Severity::Warning,
        summary: "set_real_ip_from 0.0.0.0/0 (or ::/0) lets any client forge its address",
        check: rules::realip_every::check,
    },
    Rule {
        id: "access-rule-unreachable",
        severity: Severity::Warning,
        summary: "an allow or deny after a rule that matches every client it would (deny all, a wider CIDR) never matches",
        check: rules::access_unreachable::check,
    },
    Rule {
        id: "websocket-location-skips-auth",
        severity: Severity::Warning,
        summary: "the WebSocket location is open while the server's other proxied locations ask for authentication",
        check: rules::websocket_auth::check,
    },
    Rule {
        id: "websocket-limit-req-without-burst",
        severity: Severity::Warning,
        summary: "limit_req without burst on a WebSocket location refuses reconnect storms with 503",
        check: rules::websocket_burst::check,
    },
];

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
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
}
