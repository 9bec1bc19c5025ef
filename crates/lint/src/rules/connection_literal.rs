//! `websocket-connection-upgrade-literal` (warning with an upstream
//! keepalive pool, info otherwise): `proxy_set_header Connection "upgrade"`
//! as a literal marks every proxied request for upgrade, plain HTTP ones
//! too, so they never carry `Connection: close` or an empty Connection and
//! a keepalive pool cannot work as intended. The fix uses the map:
//! `$connection_upgrade` (upgrade for upgrade requests only); it is offered
//! when the map exists or can be inserted.

use crate::rule::Severity;
use crate::rules::{Conn, keepalive, missing_map};
use crate::{Cx, Finding};

pub const ID: &str = "websocket-connection-upgrade-literal";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut done: Vec<(&upgate_conf::Directive, bool)> = Vec::new();
    let mut index: rustc_hash::FxHashMap<upgate_conf::Span, usize> = Default::default();
    for p in &cx.proxied {
        let Some((d, Conn::Upgrade)) = p.connection else {
            continue;
        };
        let pooled = keepalive::pool(cx, p).is_some();
        match index.get(&d.name.span) {
            Some(&i) => done[i].1 |= pooled,
            None => {
                index.insert(d.name.span, done.len());
                done.push((d, pooled));
            }
        }
    }
    let map_ready = !done.is_empty()
        && (cx.model.defines("connection_upgrade") || missing_map::map_edit(cx).is_some());
    for (d, pooled) in done {
        let Some(value) = d.arg(1) else { continue };
        let fix = if map_ready {
            cx.fix(
                "use $connection_upgrade",
                d.name.span,
                vec![cx.text.replace_word(value, "$connection_upgrade")],
            )
        } else {
            None
        };
        let consequence = if pooled {
            "and the upstream's keepalive pool is defeated"
        } else {
            "(harmless without an upstream keepalive pool, wrong as soon as one is added)"
        };
        out.push(
            Finding::new(
                ID,
                if pooled {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                d.head_span(),
                format!(
                    "Connection \"{value}\" is sent on every proxied request, plain HTTP ones too, {consequence}"
                ),
            )
            .help("use the map: `proxy_set_header Connection $connection_upgrade;` with `map $http_upgrade $connection_upgrade { default upgrade; '' close; }` in http {}")
            .fix(fix),
        );
    }
}
