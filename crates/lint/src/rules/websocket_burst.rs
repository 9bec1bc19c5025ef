//! `websocket-limit-req-without-burst` (warning): a `limit_req` without
//! `burst=` in force on a WebSocket location. Without a burst the zone
//! admits one request per rate interval and rejects the rest at once (503,
//! or `limit_req_status`; ngx_http_limit_req_module.c: excess > burst).
//! That is harmless for a steady trickle of handshakes, but when a deploy or
//! a network blip drops every socket, all clients reconnect in the same
//! second and every handshake beyond the first for one key of the zone is
//! refused: all of them for a zone keyed on `$server_name` or a constant,
//! the extra sockets of one page, tab or NAT for `$binary_remote_addr`.
//! Clients back off and retry, and the storm repeats. Reported once per `limit_req` line,
//! with the WebSocket locations it applies to. No fix: the burst that fits
//! is the number of clients that may reconnect together.

use rustc_hash::FxHashMap;
use upgate_conf::Span;

use crate::rule::Severity;
use crate::rules::{self, realip_missing::rule_text};
use crate::{Cx, Finding};

pub const ID: &str = "websocket-limit-req-without-burst";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut found: Vec<Finding> = Vec::new();
    let mut at: FxHashMap<Span, usize> = FxHashMap::default();
    for p in cx.proxied.iter().filter(|p| p.websocket.is_some()) {
        let limits = cx.scopes.limits(p.scope).filter(|d| {
            d.is("limit_req") && !d.args.iter().any(|a| a.value.starts_with(b"burst="))
        });
        for limit in limits {
            let span = limit.head_span();
            if let Some(f) = at.get(&span).and_then(|&i| found.get_mut(i)) {
                f.related.push(crate::Related {
                    span: p.proxy_pass.head_span(),
                    message: "WebSocket proxied here".into(),
                });
                continue;
            }
            at.insert(span, found.len());
            found.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    span,
                    format!(
                        "`{}` has no burst and applies to a WebSocket location ({}): when the sockets drop together (a deploy, a network blip), every handshake beyond the rate that arrives at once for one key of the zone is refused with 503",
                        rule_text(limit),
                        rules::reason(cx, p)
                    ),
                )
                .related(p.proxy_pass.head_span(), "WebSocket proxied here")
                .help("allow a reconnect storm: `burst=N nodelay` with N about the number of clients that reconnect together, e.g. `limit_req zone=ws burst=100 nodelay;`"),
            );
        }
    }
    out.extend(found);
}

#[cfg(test)]
mod tests {
    use crate::rules::tests::findings_of;

    fn conf(server: &str, ws: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n    limit_req_zone $binary_remote_addr zone=ws:10m rate=5r/s;\n    server {{\n        listen 8080;\n{server}        location /ws {{\n{ws}            proxy_pass http://127.0.0.1:9001;\n            proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection \"upgrade\";\n        }}\n        location /api {{\n            proxy_pass http://127.0.0.1:9000;\n        }}\n    }}\n}}\n"
        )
    }

    #[test]
    fn own_or_inherited_limit_without_burst() {
        let found = findings_of(&conf("", "            limit_req zone=ws;\n"), super::ID);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![7]);
        let found = findings_of(&conf("        limit_req zone=ws nodelay;\n", ""), super::ID);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![6]);
    }

    #[test]
    fn burst_or_plain_locations_are_fine() {
        let burst = "            limit_req zone=ws burst=50 nodelay;\n";
        assert!(findings_of(&conf("", burst), super::ID).is_empty());
        // The server's limit is replaced by the location's own list.
        let server = "        limit_req zone=ws;\n";
        assert!(findings_of(&conf(server, burst), super::ID).is_empty());
        let text = conf("", "").replace(
            "        location /api {\n",
            "        location /api {\n            limit_req zone=ws;\n",
        );
        assert!(findings_of(&text, super::ID).is_empty());
    }
}
