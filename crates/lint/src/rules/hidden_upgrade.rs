//! `websocket-hidden-upgrade-header` (error for Upgrade, info for
//! Connection): `proxy_hide_header Upgrade` in force on a WebSocket location
//! removes the backend's Upgrade header from the 101 response, so the
//! browser rejects the handshake. `proxy_hide_header Connection` has no
//! effect (nginx drops the upstream's Connection and writes `Connection:
//! upgrade` itself on every 101), so it is only noted. The fix removes the
//! Upgrade line when that leaves the hide list as it was otherwise (other
//! lines stay in that block, or nothing is inherited from above).

use crate::rule::Severity;
use crate::rules;
use crate::{Cx, Finding};

pub const ID: &str = "websocket-hidden-upgrade-header";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for p in &cx.proxied {
        if p.websocket.is_none() {
            continue;
        }
        let Some((owner, list)) = cx.scopes.hide_headers(p.scope) else {
            continue;
        };
        for d in list {
            let Some(name) = d.arg(0) else { continue };
            if name.value.eq_ignore_ascii_case(b"upgrade") {
                let reason = rules::reason(cx, p);
                let inherits_nothing = cx
                    .scopes
                    .get(owner)
                    .parent
                    .is_none_or(|p| cx.scopes.hide_headers(p).is_none());
                let fix = if list.len() > 1 || inherits_nothing {
                    cx.fix(
                        "stop hiding the Upgrade header",
                        d.name.span,
                        vec![cx.text.delete(d)],
                    )
                } else {
                    None
                };
                out.push(
                    Finding::new(
                        ID,
                        Severity::Error,
                        d.head_span(),
                        format!(
                            "proxy_hide_header Upgrade is in force on a WebSocket location ({reason}); the 101 response reaches the client without Upgrade and the handshake fails"
                        ),
                    )
                    .help("remove `proxy_hide_header Upgrade;`")
                    .fix(fix),
                );
            } else if name.value.eq_ignore_ascii_case(b"connection") {
                out.push(
                    Finding::new(
                        ID,
                        Severity::Info,
                        d.head_span(),
                        "proxy_hide_header Connection has no effect: nginx never passes the upstream's Connection header and writes `Connection: upgrade` itself on every 101".into(),
                    )
                    .help("remove the line"),
                );
            }
        }
    }
}
