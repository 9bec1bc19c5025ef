//! `websocket-missing-upgrade-header` and `websocket-missing-connection-header`
//! (errors): a location that proxies WebSocket traffic (it forwards
//! Upgrade, or its path or upstream name says so: `/ws`, `/socket.io`,
//! `upstream websocket`) but lacks the Upgrade header or a Connection header
//! that says upgrade. Both are hop-by-hop: nginx drops the client's, so the
//! backend sees a plain request and answers 400 or 426. Headers lost to a
//! location's own `proxy_set_header` are reported by
//! proxy-set-header-inheritance-loss instead. The fix adds the line to the
//! location, copying the inherited list down first when the location had
//! none of its own (so that nothing else is lost).

use crate::rule::Severity;
use crate::rules::{self, Conn};
use crate::{Cx, Finding};

pub const UPGRADE: &str = "websocket-missing-upgrade-header";
pub const CONNECTION: &str = "websocket-missing-connection-header";

pub fn check_upgrade(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let line = "proxy_set_header Upgrade $http_upgrade;".to_string();
    for p in &cx.proxied {
        let s = p.scope;
        if p.websocket.is_none()
            || p.upgrade.is_some()
            || rules::lost_by_inheritance(cx, s, "Upgrade")
        {
            continue;
        }
        let pp = p.proxy_pass;
        let fix = rules::add_set_header_lines(cx, s, std::slice::from_ref(&line)).and_then(
            |(l, edit)| {
                cx.fix(
                    "forward the Upgrade header",
                    cx.scopes.get(l).directive.name.span,
                    vec![edit],
                )
            },
        );
        out.push(
            Finding::new(
                UPGRADE,
                Severity::Error,
                pp.head_span(),
                format!(
                    "this location proxies WebSocket traffic ({}) but does not forward the Upgrade header; it is hop-by-hop, so the backend never sees the upgrade request and answers 400 or 426",
                    rules::reason(cx, p)
                ),
            )
            .help(format!("add `{line}`"))
            .fix(fix),
        );
    }
}

pub fn check_connection(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut line = None;
    for p in &cx.proxied {
        if p.websocket.is_none() {
            continue;
        }
        let (s, pp) = (p.scope, p.proxy_pass);
        if matches!(
            p.connection,
            Some((_, Conn::Upgrade | Conn::Map | Conn::Client))
        ) || (p.connection.is_none() && rules::lost_by_inheritance(cx, s, "Connection"))
        {
            continue;
        }
        let line: &String = line.get_or_insert_with(|| rules::connection_line(cx));
        let reason = rules::reason(cx, p);
        match p.connection {
            Some((d, _)) => {
                let value = d.arg(1).map(|v| v.text().into_owned()).unwrap_or_default();
                let fix = d.arg(1).and_then(|v| {
                    let new = line
                        .trim_start_matches("proxy_set_header Connection ")
                        .trim_end_matches(';');
                    cx.fix(
                        "send Connection: upgrade for upgrade requests",
                        d.name.span,
                        vec![cx.text.replace_word(v, new)],
                    )
                });
                out.push(
                    Finding::new(
                        CONNECTION,
                        Severity::Error,
                        d.head_span(),
                        format!(
                            "this location proxies WebSocket traffic ({reason}) but sends `Connection: {value}` upstream, so the upgrade is never requested"
                        ),
                    )
                    .related(pp.head_span(), "proxied here")
                    .help(format!("use `{line}`"))
                    .fix(fix),
                );
            }
            None => {
                let fix = rules::add_set_header_lines(cx, s, std::slice::from_ref(line)).and_then(
                    |(l, edit)| {
                        cx.fix(
                            "send Connection: upgrade for upgrade requests",
                            cx.scopes.get(l).directive.name.span,
                            vec![edit],
                        )
                    },
                );
                let default = if cx.options.nginx_version.has_new_defaults() {
                    "no Connection header"
                } else {
                    "`Connection: close`"
                };
                out.push(
                    Finding::new(
                        CONNECTION,
                        Severity::Error,
                        pp.head_span(),
                        format!(
                            "this location proxies WebSocket traffic ({reason}) but sets no Connection header; nginx sends {default} upstream, so the upgrade is never requested"
                        ),
                    )
                    .help(format!("add `{line}`"))
                    .fix(fix),
                );
            }
        }
    }
}
