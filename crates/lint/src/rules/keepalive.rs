//! The upstream keepalive rules (ngx_http_upstream_keepalive_module.c,
//! NGINX-BEHAVIOUR.md 21 and 27):
//!
//! - `websocket-map-close-defeats-keepalive` (warning): the usual map's
//!   `'' close` value sends `Connection: close` on every non-upgrade request,
//!   so the backend closes each pooled connection after one response. Fix:
//!   the value `''` (no Connection header), which keeps upgrade requests as
//!   they were.
//! - `upstream-keepalive-without-http11` (warning): `keepalive` only reuses
//!   connections for HTTP/1.1 requests with the Connection header cleared;
//!   reported at each proxy_pass that uses the pool without them.
//! - `upstream-keepalive-before-balancer` (warning, nginx before 1.29.7):
//!   `keepalive` wraps the balancer set up when it is read; a `hash`,
//!   `ip_hash`, `least_conn` or `random` after it replaces the wrapper and the
//!   pool silently disappears. Fix: move the keepalive line after the
//!   balancer.
//!
//! From 1.29.7 every `upstream {}` block keeps `keepalive 32` by default, so
//! the first rule applies to every explicit upstream there.

use upgate_conf::Directive;

use crate::facts::{self, Conn, Proxied};
use crate::model::Upstream;
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const MAP_CLOSE: &str = "websocket-map-close-defeats-keepalive";
pub const REQUIREMENTS: &str = "upstream-keepalive-without-http11";
pub const PLACEMENT: &str = "upstream-keepalive-before-balancer";

/// The upstream a proxying scope sends to when it keeps a connection pool,
/// with its `keepalive` line (None for 1.29.7's implicit pool).
pub fn pool<'c, 'a>(
    cx: &'c Cx<'a>,
    p: &Proxied<'a>,
) -> Option<(&'c Upstream<'a>, Option<&'a Directive>)> {
    let up = &cx.model.upstreams[p.upstream?];
    match up.keepalive {
        Some(k) if k.arg(0).is_some_and(|n| n.is("0")) => None,
        Some(k) => Some((up, Some(k))),
        None if cx.options.nginx_version.has_new_defaults() => Some((up, None)),
        None => None,
    }
}

pub fn check_map_close(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut reported = rustc_hash::FxHashSet::default();
    for p in &cx.proxied {
        let Some((conn, Conn::Map)) = p.connection else {
            continue;
        };
        let Some((up, keepalive)) = pool(cx, p) else {
            continue;
        };
        let mut map = None;
        if let Some(value) = conn.arg(1) {
            facts::for_each_variable(&value.value, |name| {
                map = map.or_else(|| cx.model.map_for(name));
            });
        }
        let Some(map) = map else {
            continue;
        };
        let Some(entry) = map.empty_key() else {
            continue;
        };
        let Some(close) = entry.arg(0) else { continue };
        if !close.text().eq_ignore_ascii_case("close") || !reported.insert(entry.name.span) {
            continue;
        }
        let quote = if entry.name.quote == upgate_conf::Quote::Double {
            "\"\""
        } else {
            "''"
        };
        let pool_text = match keepalive {
            Some(k) => format!(
                "the keepalive pool of upstream \"{}\" ({})",
                up.name,
                cx.place(k.name.span)
            ),
            None => format!(
                "the default keepalive pool of upstream \"{}\" (nginx {} keeps one in every upstream block)",
                up.name, cx.options.nginx_version
            ),
        };
        let mut f = Finding::new(
            MAP_CLOSE,
            Severity::Warning,
            entry.head_span(),
            format!(
                "the map sends `Connection: close` on every request without Upgrade, so the backend closes each pooled connection and {pool_text} is defeated"
            ),
        )
        .related(conn.head_span(), "used here")
        .help(format!("map the empty value to an empty string: `{quote} {quote};` (no Connection header on plain requests)"));
        if let Some(k) = keepalive {
            f = f.related(k.head_span(), "pool declared here");
        }
        let fix = cx.fix(
            "send no Connection header on plain requests",
            entry.name.span,
            vec![cx.text.replace_word(close, quote)],
        );
        out.push(f.fix(fix));
    }
}

pub fn check_requirements(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let new = cx.options.nginx_version.has_new_defaults();
    for p in &cx.proxied {
        let Some((up, Some(keepalive))) = pool(cx, p) else {
            continue;
        };
        let pp = p.proxy_pass;
        let http11 = match p.http_version {
            Some(d) => d.arg(0).is_some_and(|v| v.is("1.1")),
            None => new,
        };
        let cleared = match p.connection {
            None => new,
            Some((d, kind)) => {
                kind != Conn::Other
                    || !d
                        .arg(1)
                        .is_some_and(|v| facts::contains_ignore_case(&v.value, b"close"))
            }
        };
        let mut missing = Vec::new();
        if !http11 {
            missing.push("`proxy_http_version 1.1;`");
        }
        if !cleared {
            missing.push("`proxy_set_header Connection \"\";`");
        }
        if missing.is_empty() {
            continue;
        }
        out.push(
            Finding::new(
                REQUIREMENTS,
                Severity::Warning,
                pp.head_span(),
                format!(
                    "upstream \"{}\" keeps a keepalive pool, but requests from here lack {}, so no connection is ever reused",
                    up.name,
                    missing.join(" and ")
                ),
            )
            .related(keepalive.head_span(), "pool declared here")
            .help(format!("add {} here (for WebSocket locations use $connection_upgrade with `'' ''` in the map)", missing.join(" and "))),
        );
    }
}

pub fn check_placement(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if cx.options.nginx_version.has_new_defaults() {
        return;
    }
    for up in &cx.model.upstreams {
        let Some(keepalive) = up.keepalive else {
            continue;
        };
        let Some(last) = up.balancers.iter().copied().rfind(|b| after(b, keepalive)) else {
            continue;
        };
        let fix = (keepalive.file() == last.file())
            .then(|| {
                cx.fix(
                    format!("move keepalive after {}", last.name),
                    up.directive.name.span,
                    vec![
                        cx.text.delete(keepalive),
                        cx.text.insert_after(last, &[cx.text.source_of(keepalive)]),
                    ],
                )
            })
            .flatten();
        out.push(
            Finding::new(
                PLACEMENT,
                Severity::Warning,
                keepalive.head_span(),
                format!(
                    "keepalive comes before {} in upstream \"{}\"; the balancer read after it replaces the keepalive wrapper and the pool is silently dropped (nginx before 1.29.7)",
                    last.name, up.name
                ),
            )
            .related(last.head_span(), "balancer set here")
            .help(format!("put keepalive after {}", last.name))
            .fix(fix),
        );
    }
}

/// True when `b` is read after `a` (same block, so same file or an include
/// read later).
fn after(b: &Directive, a: &Directive) -> bool {
    if b.file() == a.file() {
        b.name.span.start > a.name.span.start
    } else {
        b.file() > a.file()
    }
}
