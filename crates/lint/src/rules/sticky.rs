//! `websocket-upstream-not-sticky` (info): a WebSocket location proxies to an
//! upstream with several servers and no `ip_hash` or `hash ... consistent`.
//! A plain WebSocket does not need it, but Socket.IO and SockJS start with
//! HTTP long-polling: each poll may reach another server, which does not know
//! the session (HTTP 400 "Session ID unknown"). No fix: the balancer is the
//! author's choice.

use rustc_hash::FxHashSet;

use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "websocket-upstream-not-sticky";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut seen = FxHashSet::default();
    for p in &cx.proxied {
        let (Some(_), Some(i)) = (p.websocket, p.upstream) else {
            continue;
        };
        let up = &cx.model.upstreams[i];
        let pp = p.proxy_pass;
        let active = up
            .servers
            .iter()
            .filter(|d| !d.args.iter().any(|a| a.is("backup") || a.is("down")))
            .count();
        if active < 2 || up.is_sticky() || !seen.insert(up.directive.name.span) {
            continue;
        }
        out.push(
            Finding::new(
                ID,
                Severity::Info,
                up.directive.head_span(),
                format!(
                    "upstream \"{}\" serves WebSocket traffic with {active} servers and no ip_hash or hash; Socket.IO and SockJS polling fallbacks need every request of a session on one server",
                    up.name
                ),
            )
            .related(pp.head_span(), "WebSocket traffic proxied here")
            .help("add `ip_hash;` or `hash $remote_addr consistent;` if the backend keeps sessions in memory"),
        );
    }
}
