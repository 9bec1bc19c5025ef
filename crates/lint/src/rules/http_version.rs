//! `websocket-proxy-http-version` (error): the Upgrade header is forwarded
//! but the `proxy_http_version` in force (after inheritance) is not 1.1.
//! An HTTP/1.0 request cannot be upgraded, so the backend never answers 101.
//! nginx up to 1.29.6 (so 1.22, 1.24, 1.26, 1.28) defaults to 1.0; 1.29.7
//! made 1.1 the default, so with `--nginx-version 1.29.7` or later only an
//! explicit 1.0 is reported. Reported at the explicit `proxy_http_version`
//! (fix: 1.1) or, when none is set, at the `proxy_set_header Upgrade` line
//! in force (fix: `proxy_http_version 1.1;` just before it, in the same
//! block, so every location that inherits the header gets it too).

use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "websocket-proxy-http-version";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let version = cx.options.nginx_version;
    for p in &cx.proxied {
        let Some(upgrade) = p.upgrade else {
            continue;
        };
        match p.http_version {
            Some(d) => {
                let Some(value) = d.arg(0) else { continue };
                if value.is("1.1") {
                    continue;
                }
                let fix = cx.fix(
                    "use HTTP/1.1 upstream",
                    d.name.span,
                    vec![cx.text.replace_word(value, "1.1")],
                );
                out.push(
                    Finding::new(
                        ID,
                        Severity::Error,
                        d.head_span(),
                        format!(
                            "proxy_http_version {value} is in force where the Upgrade header is forwarded; an HTTP/1.0 request cannot be upgraded, so the WebSocket handshake fails"
                        ),
                    )
                    .related(upgrade.head_span(), "Upgrade forwarded here")
                    .help("set `proxy_http_version 1.1;`")
                    .fix(fix),
                );
            }
            None if !version.has_new_defaults() => {
                let fix = cx.fix(
                    "use HTTP/1.1 upstream",
                    upgrade.name.span,
                    vec![
                        cx.text
                            .insert_before(upgrade, &["proxy_http_version 1.1;".to_string()]),
                    ],
                );
                out.push(
                    Finding::new(
                        ID,
                        Severity::Error,
                        upgrade.head_span(),
                        format!(
                            "the Upgrade header is forwarded but no proxy_http_version is set, so nginx {version} sends HTTP/1.0 upstream and the WebSocket handshake fails (nginx before 1.29.7 defaults to 1.0; 1.29.7 made 1.1 the default)"
                        ),
                    )
                    .help("add `proxy_http_version 1.1;` next to the Upgrade header")
                    .fix(fix),
                );
            }
            None => {}
        }
    }
}
