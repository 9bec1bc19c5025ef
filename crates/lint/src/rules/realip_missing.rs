//! `realip-missing-behind-proxy` (warning): a server that shows it sits
//! behind a proxy or load balancer judges clients by `$remote_addr`, which
//! there is the proxy's address, because no `set_real_ip_from` is in force
//! (the realip module then does nothing, ngx_http_realip_module.c). An
//! `allow`/`deny` list with addresses then matches the proxy, not the
//! client, and a `limit_req` / `limit_conn` whose zone is keyed on
//! `$binary_remote_addr` or `$remote_addr` puts every client in one bucket.
//!
//! What shows a proxy in front, for one server: its own `listen ...
//! proxy_protocol`; or, used by it, a `limit_req_zone`/`limit_conn_zone`
//! keyed on `$http_x_forwarded_for` / `$http_x_real_ip`, a `log_format`
//! that logs one of them instead of `$remote_addr` (the usual `main` format
//! logs both and does not count), or a `map` of one of them. Lists are
//! taken in force as nginx merges them (http -> server -> location; a level
//! with any `allow`/`deny`, `limit_req`, `limit_conn` or `set_real_ip_from`
//! has its own list). Reported once per line; no fix: only the author
//! knows the proxy's addresses.

use rustc_hash::{FxHashMap, FxHashSet};
use upgate_conf::Directive;

use crate::address::{self, REMOTE_ADDR};
use crate::inherit::{ScopeId, ScopeKind};
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "realip-missing-behind-proxy";

/// Request headers proxies put the client's address in.
const HEADERS: &[&str] = &["http_x_forwarded_for", "http_x_real_ip"];

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let evidence = Evidence::build(cx);
    let mut seen = FxHashSet::default();
    for s in 0..cx.scopes.all.len() {
        let Some(server) = cx.scopes.server(s) else {
            continue;
        };
        if !cx.scopes.set_real_ip_from(s).is_empty() {
            continue;
        }
        let Some(&(proxy, why)) = evidence.of.get(&server) else {
            continue;
        };
        let why = why.describe(cx, proxy);
        if let Some(rule) = address::address_rule(&cx.scopes, s)
            && seen.insert(std::ptr::from_ref(rule))
        {
            out.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    rule.head_span(),
                    format!(
                        "`{}` is matched against $remote_addr, which behind a proxy ({why}) is the proxy's address; no set_real_ip_from is in force, so the list judges the proxy, not the client",
                        rule_text(rule)
                    ),
                )
                .related(proxy.head_span(), "proxy shown here")
                .help(HELP),
            );
        }
        for (limit, zone) in address::address_limits(&cx.scopes, &cx.model, s) {
            if !seen.insert(std::ptr::from_ref(limit)) {
                continue;
            }
            out.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    limit.head_span(),
                    format!(
                        "`{}` counts by the zone key `{}`, which behind a proxy ({why}) is the proxy's address; no set_real_ip_from is in force, so every client shares one bucket",
                        rule_text(limit),
                        zone.arg(0).map(|k| k.text()).unwrap_or_default()
                    ),
                )
                .related(zone.head_span(), "zone keyed here")
                .related(proxy.head_span(), "proxy shown here")
                .help(HELP),
            );
        }
    }
}

const HELP: &str = "trust the proxy: `set_real_ip_from ADDRESS_OF_THE_PROXY;` in the server or http block, with `real_ip_header proxy_protocol;` behind the PROXY protocol or `real_ip_header X-Forwarded-For;` behind an HTTP proxy";

/// `name arg ...` of a line, for messages.
pub fn rule_text(d: &Directive) -> String {
    let mut text = d.name().into_owned();
    for a in &d.args {
        text.push(' ');
        text.push_str(&a.text());
    }
    text
}

/// What shows that a server sits behind a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    ProxyProtocol,
    Zone,
    Log,
    Map,
}

impl Why {
    fn describe(self, cx: &Cx<'_>, d: &Directive) -> String {
        let at = cx.place(d.head_span());
        let first = d.arg(0).map(|a| a.text()).unwrap_or_default();
        match self {
            Why::ProxyProtocol => format!("`listen {first} ... proxy_protocol` at {at}"),
            Why::Zone => format!("{} keyed on `{first}` at {at}", d.name()),
            Why::Log => format!("log_format {first} logs the client from a header at {at}"),
            Why::Map => format!("map {first} at {at}"),
        }
    }
}

/// The first sign of a proxy, per server scope.
struct Evidence<'a> {
    of: FxHashMap<ScopeId, (&'a Directive, Why)>,
}

impl<'a> Evidence<'a> {
    fn build(cx: &Cx<'a>) -> Self {
        let mut of = FxHashMap::default();
        // Variables that hold a header's address: the headers and the maps of them.
        let mut vars: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
        let mut maps: FxHashMap<String, &'a Directive> = FxHashMap::default();
        for m in &cx.model.maps {
            if address::uses_any(&m.source.value, HEADERS) {
                vars.push(m.target.clone());
                maps.insert(m.target.clone(), m.directive);
            }
        }
        let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        let mut servers: FxHashMap<*const Directive, ScopeId> = FxHashMap::default();
        for (s, scope) in cx.scopes.all.iter().enumerate() {
            if scope.kind == ScopeKind::Server {
                servers.insert(std::ptr::from_ref(scope.directive), s);
                let listen = cx.servers.of(scope.directive).and_then(|srv| {
                    srv.listens
                        .iter()
                        .copied()
                        .find(|l| l.args.iter().skip(1).any(|a| a.is("proxy_protocol")))
                });
                if let Some(l) = listen {
                    of.insert(s, (l, Why::ProxyProtocol));
                }
            }
            let Some(server) = cx.scopes.server(s) else {
                continue;
            };
            let zone = cx.scopes.limits(s).find_map(|limit| {
                address::zone_of(&cx.model, limit).filter(|z| address::key_uses(z, &vars))
            });
            if let Some(z) = zone {
                of.entry(server).or_insert((z, Why::Zone));
            }
        }
        // access_log lines naming a header-logging format, and map targets
        // used, in a server (or at http level, for every server).
        let mut everywhere: Option<(&'a Directive, Why)> = None;
        cx.config.walk(|d, parents| {
            if parents.first().is_none_or(|p| !p.is("http")) {
                return;
            }
            let found = if d.is("access_log") {
                d.arg(1)
                    .and_then(|f| cx.model.log_format(&f.value))
                    .filter(|f| logs_header(f, &vars))
                    .map(|f| (f, Why::Log))
            } else if maps.is_empty() || d.is("map") || parents.iter().any(|p| p.is("map")) {
                None
            } else {
                d.args.iter().find_map(|a| {
                    maps.iter()
                        .find(|(t, _)| address::uses_any(&a.value, &[t.as_str()]))
                        .map(|(_, m)| (*m, Why::Map))
                })
            };
            let Some(found) = found else { return };
            match parents
                .get(1)
                .and_then(|p| servers.get(&std::ptr::from_ref(*p)))
            {
                Some(&s) => {
                    of.entry(s).or_insert(found);
                }
                None if parents.len() == 1 => {
                    everywhere.get_or_insert(found);
                }
                None => {}
            }
        });
        if let Some(found) = everywhere {
            for &s in servers.values() {
                of.entry(s).or_insert(found);
            }
        }
        Evidence { of }
    }
}

/// A `log_format` that logs a header's address and not `$remote_addr`.
fn logs_header(format: &Directive, vars: &[&str]) -> bool {
    let values = || format.args.iter().skip(1).map(|a| a.value.as_slice());
    values().any(|v| address::uses_any(v, vars))
        && !values().any(|v| address::uses_any(v, REMOTE_ADDR))
}

#[cfg(test)]
mod tests {
    use crate::rules::tests::{assert_says, findings_of};

    fn conf(listen: &str, http: &str, server: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n{http}    server {{\n        listen {listen};\n{server}        location / {{\n            proxy_pass http://127.0.0.1:9000;\n        }}\n    }}\n}}\n"
        )
    }

    const ZONE: &str = "    limit_req_zone $binary_remote_addr zone=one:10m rate=10r/s;\n";

    #[test]
    fn proxy_protocol_with_allow_and_limit() {
        let text = conf(
            "8080 proxy_protocol",
            ZONE,
            "        allow 10.0.0.0/8;\n        deny all;\n        limit_req zone=one burst=20;\n",
        );
        let found = findings_of(&text, super::ID);
        assert_eq!(
            found.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec![6, 8],
            "{found:#?}"
        );
        assert_says(&found[0].1, "allow 10.0.0.0/8");
        assert_says(&found[1].1, "every client shares one bucket");
    }

    #[test]
    fn set_real_ip_from_anywhere_above_silences_it() {
        let server = "        allow 10.0.0.0/8;\n        deny all;\n";
        let http = "    set_real_ip_from 10.0.0.0/8;\n    real_ip_header proxy_protocol;\n";
        assert!(findings_of(&conf("8080 proxy_protocol", http, server), super::ID).is_empty());
        // `deny all` alone names no address; a plain listener shows no proxy.
        let all = "        deny all;\n";
        assert!(findings_of(&conf("8080 proxy_protocol", "", all), super::ID).is_empty());
        assert!(findings_of(&conf("8080", "", server), super::ID).is_empty());
    }

    #[test]
    fn a_header_keyed_zone_or_log_shows_the_proxy() {
        let zone = "    limit_req_zone $http_x_forwarded_for zone=xff:10m rate=1r/s;\n";
        let server = "        limit_req zone=xff;\n        location /admin {\n            allow 192.168.0.0/16;\n            deny all;\n        }\n";
        let found = findings_of(&conf("8080", zone, server), super::ID);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, 8);
        let log = "    log_format proxied '$http_x_real_ip [$time_local] \"$request\"';\n    access_log logs/access.log proxied;\n";
        let found = findings_of(&conf("8080", log, "        deny 203.0.113.7;\n"), super::ID);
        assert_eq!(found.len(), 1, "{found:#?}");
        // The stock `main` format logs both addresses: no sign of a proxy.
        let main = "    log_format main '$remote_addr - \"$http_x_forwarded_for\"';\n    access_log logs/access.log main;\n";
        assert!(
            findings_of(
                &conf("8080", main, "        deny 203.0.113.7;\n"),
                super::ID
            )
            .is_empty()
        );
    }
}
