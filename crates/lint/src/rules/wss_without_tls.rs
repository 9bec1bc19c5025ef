//! `wss-host-without-tls` (warning): some text of the configuration names
//! `wss://HOST` (a `Content-Security-Policy` `connect-src`, a `return`,
//! `sub_filter` or `add_header` value, a `proxy_set_header`), HOST is one
//! of this configuration's `server_name`s, and none of the servers that
//! answer it speaks TLS. A browser opens `wss://HOST` with TLS, to port 443
//! unless a port is given, so the WebSocket the page was told to use has
//! no server here.
//!
//! Hosts no server_name matches are left alone (another service's, or one
//! reached through a default server); so are hosts with variables, and
//! hosts a regex `server_name` might answer over TLS (only a regex engine
//! could say). When TLS ends in front of nginx (a load balancer), silence
//! the finding with `# upgate-lint: disable=wss-host-without-tls`.

use crate::rule::Severity;
use rustc_hash::FxHashMap;

use crate::{Cx, Finding};

pub const ID: &str = "wss-host-without-tls";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if cx.servers.all.is_empty() {
        return;
    }
    // Hosts repeat (one CSP line in every server): answer each once.
    let mut answered: FxHashMap<String, Option<Vec<usize>>> = FxHashMap::default();
    cx.config.walk(|d, parents| {
        if !parents.first().is_some_and(|p| p.is("http")) {
            return;
        }
        let mut reported: Vec<String> = Vec::new();
        for arg in &d.args {
            for host in wss_hosts(&arg.value) {
                if reported.contains(&host) {
                    continue;
                }
                let plain = answered
                    .entry(host.clone())
                    .or_insert_with(|| plain_only(cx, &host));
                let Some(plain) = plain.as_ref() else {
                    continue;
                };
                let mut finding = Finding::new(
                    ID,
                    Severity::Warning,
                    d.head_span(),
                    format!(
                        "wss://{host} is named here, but no server that answers {host} speaks TLS (no `listen ... ssl`): the browser's WebSocket to it cannot connect"
                    ),
                )
                .help(format!(
                    "add `listen 443 ssl;` with a certificate for {host} to its server, or name ws:// if the page itself is served over http"
                ));
                for s in plain.iter().take(3).map(|&i| &cx.servers.all[i]) {
                    let at = s.server_names.first().map_or(s.directive.name.span, |n| n.head_span());
                    finding = finding.related(at, format!("{host} is answered here, without TLS"));
                }
                out.push(finding);
                reported.push(host);
            }
        }
    });
}

/// The servers (indexes) that answer `host` when none of them speaks TLS
/// and no TLS server might (by a regex name); `None` otherwise.
fn plain_only(cx: &Cx<'_>, host: &str) -> Option<Vec<usize>> {
    let mut plain = Vec::new();
    for i in cx.servers.candidates(host) {
        let s = &cx.servers.all[i];
        match (s.answers(host), s.tls.is_some()) {
            (Some(true), true) | (None, true) => return None,
            (Some(true), false) => plain.push(i),
            _ => {}
        }
    }
    (!plain.is_empty()).then_some(plain)
}

/// The lowercase hosts of the `wss://` URLs in a value, without those
/// built from variables or wildcards (a CSP may say `wss://*.example.com`).
fn wss_hosts(value: &[u8]) -> Vec<String> {
    const SCHEME: &[u8] = b"wss://";
    let mut hosts = Vec::new();
    let mut i = 0;
    while i + SCHEME.len() <= value.len() {
        if !value[i..i + SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
            i += 1;
            continue;
        }
        let start = i + SCHEME.len();
        let end = value[start..]
            .iter()
            .position(|b| {
                !(b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'-' | b'_' | b'$' | b'*' | b'{' | b'}'))
            })
            .map_or(value.len(), |p| start + p);
        let host = &value[start..end];
        let host = host.strip_suffix(b".").unwrap_or(host);
        if !host.is_empty() && !host.iter().any(|b| matches!(b, b'$' | b'*' | b'{' | b'}')) {
            hosts.push(String::from_utf8_lossy(host).to_ascii_lowercase());
        }
        i = end.max(i + 1);
    }
    hosts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::wss_hosts;
    use crate::rules::tests::findings_of;

    #[test]
    fn hosts_of_a_value() {
        assert_eq!(
            wss_hosts(b"default-src 'self'; connect-src 'self' WSS://Chat.Example.com:8443/ws wss://*.x.test wss://$host/ws wss://api.test"),
            ["chat.example.com", "api.test"]
        );
    }

    fn conf(servers: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n    add_header Content-Security-Policy \"connect-src 'self' wss://chat.example.test wss://push.other.test\" always;\n{servers}}}\n"
        )
    }

    #[test]
    fn a_name_served_over_plain_http_only() {
        let text = conf(
            "    server {\n        listen 80;\n        server_name chat.example.test;\n    }\n",
        );
        let found = findings_of(&text, super::ID);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 3);
        assert!(found[0].1.contains("wss://chat.example.test"));
    }

    #[test]
    fn tls_servers_wildcards_regexes_and_unknown_hosts_are_fine() {
        let tls = "    server {\n        listen 80;\n        server_name chat.example.test;\n    }\n    server {\n        listen 443 ssl;\n        server_name *.example.test;\n    }\n";
        assert!(findings_of(&conf(tls), super::ID).is_empty());
        let regex = "    server {\n        listen 80;\n        server_name chat.example.test;\n    }\n    server {\n        listen 443 ssl;\n        server_name ~^chat\\.;\n    }\n";
        assert!(findings_of(&conf(regex), super::ID).is_empty());
        let unknown =
            "    server {\n        listen 80;\n        server_name www.example.test;\n    }\n";
        assert!(findings_of(&conf(unknown), super::ID).is_empty());
    }
}
