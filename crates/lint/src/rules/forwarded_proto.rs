//! `websocket-tls-missing-forwarded-proto` (warning): a location that
//! proxies WebSocket traffic (its headers ask for an upgrade) in a server
//! that speaks TLS, proxying over plain `http://`, without telling the
//! backend the client's scheme: no `X-Forwarded-Proto` (nor `Forwarded`,
//! `X-Forwarded-Scheme`, `X-Forwarded-Ssl`) in the `proxy_set_header` list
//! in force. The backend then sees `http`, builds `ws://` URLs that a page
//! loaded over https may not open (mixed content), or refuses the
//! handshake because `Origin: https://...` does not match the scheme it
//! sees. The fix adds `proxy_set_header X-Forwarded-Proto $scheme;` the
//! way the other header fixes do (copying the inherited list down first).

use crate::facts::Websocket;
use crate::inherit::find_header;
use crate::rule::Severity;
use crate::rules;
use crate::{Cx, Finding};

pub const ID: &str = "websocket-tls-missing-forwarded-proto";

/// Headers by which backends learn the client's scheme.
const SCHEME_HEADERS: &[&str] = &[
    "X-Forwarded-Proto",
    "Forwarded",
    "X-Forwarded-Scheme",
    "X-Forwarded-Ssl",
];

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let line = "proxy_set_header X-Forwarded-Proto $scheme;".to_string();
    for p in &cx.proxied {
        if p.websocket != Some(Websocket::Headers) {
            continue;
        }
        let pp = p.proxy_pass;
        if pp.arg(0).is_some_and(|u| {
            u.value
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"https://"))
        }) {
            continue;
        }
        let Some(server) = cx
            .scopes
            .server(p.scope)
            .and_then(|s| cx.servers.of(cx.scopes.get(s).directive))
        else {
            continue;
        };
        let Some(tls) = server.tls else { continue };
        let list = cx
            .scopes
            .set_headers(p.scope)
            .map(|(_, l)| l)
            .unwrap_or_default();
        if SCHEME_HEADERS
            .iter()
            .any(|h| find_header(list, h).is_some())
            || SCHEME_HEADERS
                .iter()
                .any(|h| rules::lost_by_inheritance(cx, p.scope, h))
        {
            continue;
        }
        let fix = rules::add_set_header_lines(cx, p.scope, std::slice::from_ref(&line)).and_then(
            |(l, edit)| {
                cx.fix(
                    "pass the client's scheme to the backend",
                    cx.scopes.get(l).directive.name.span,
                    vec![edit],
                )
            },
        );
        out.push(
            Finding::new(
                ID,
                Severity::Warning,
                pp.head_span(),
                "this WebSocket location is served over TLS but does not pass X-Forwarded-Proto: the backend sees http, builds ws:// URLs or refuses the https:// Origin".to_string(),
            )
            .related(tls.head_span(), "TLS here")
            .help("add `proxy_set_header X-Forwarded-Proto $scheme;`")
            .fix(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::rules::tests::{findings_of, fixed};

    const WS: &str = "proxy_http_version 1.1;\n            proxy_read_timeout 1h;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;";

    fn conf(listen: &str, extra: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n    server {{\n        listen {listen};\n        location /ws {{\n            proxy_pass http://127.0.0.1:9000;\n            {WS}\n{extra}        }}\n    }}\n}}\n"
        )
    }

    #[test]
    fn tls_server_without_the_scheme_header() {
        let text = conf("443 ssl", "");
        assert_eq!(findings_of(&text, super::ID).len(), 1);
        let out = fixed(&text);
        assert!(
            out.contains("proxy_set_header X-Forwarded-Proto $scheme;"),
            "{out}"
        );
        assert!(findings_of(&out, super::ID).is_empty());
    }

    #[test]
    fn plain_servers_and_forwarded_are_fine() {
        assert!(findings_of(&conf("80", ""), super::ID).is_empty());
        let fwd = "            proxy_set_header Forwarded \"proto=$scheme\";\n";
        assert!(findings_of(&conf("443 ssl", fwd), super::ID).is_empty());
        let xfp = "            proxy_set_header X-Forwarded-Proto https;\n";
        assert!(findings_of(&conf("443 ssl", xfp), super::ID).is_empty());
    }

    #[test]
    fn tls_of_the_socket_counts() {
        // Another server made *:443 a TLS socket; this one shares it.
        let text = conf("443", "").replace(
            "    server {\n",
            "    server {\n        listen 443 ssl default_server;\n        return 444;\n    }\n    server {\n",
        );
        assert_eq!(findings_of(&text, super::ID).len(), 1);
    }
}
