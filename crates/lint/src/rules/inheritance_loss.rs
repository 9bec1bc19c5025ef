//! `proxy-set-header-inheritance-loss` (warning; error when Upgrade or
//! Connection is lost): a server, location or nested location with its own
//! `proxy_set_header` lines replaces the inherited list wholesale
//! (`ngx_http_proxy_merge_loc_conf`: nothing merges), so the headers set
//! around it vanish there. Only blocks that proxy (or hold locations that
//! do) are reported, once, at their first own `proxy_set_header`; the
//! finding lists exactly which headers vanish and where they were set. The
//! fix copies the lost lines down, before the block's own list.

use rustc_hash::FxHashSet;

use crate::inherit::ScopeId;
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "proxy-set-header-inheritance-loss";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut proxying_below: FxHashSet<ScopeId> = FxHashSet::default();
    for s in cx.scopes.proxying() {
        proxying_below.extend(cx.scopes.chain(s));
    }
    let mut owners: Vec<ScopeId> = proxying_below
        .iter()
        .copied()
        .filter(|&s| !cx.scopes.get(s).set_header.is_empty())
        .collect();
    owners.sort_unstable();
    for s in owners {
        let scope = cx.scopes.get(s);
        let Some(parent) = scope.parent else { continue };
        let Some((_, inherited)) = cx.scopes.set_headers(parent) else {
            continue;
        };
        let own: FxHashSet<String> = scope
            .set_header
            .iter()
            .filter_map(|d| d.arg(0).map(|n| n.text().to_ascii_lowercase()))
            .collect();
        let mut seen = FxHashSet::default();
        let lost: Vec<_> = inherited
            .iter()
            .copied()
            .filter(|d| {
                d.arg(0).is_some_and(|n| {
                    let n = n.text().to_ascii_lowercase();
                    !own.contains(&n) && seen.insert(n)
                })
            })
            .collect();
        if lost.is_empty() {
            continue;
        }
        let names: Vec<String> = lost
            .iter()
            .filter_map(|d| d.arg(0).map(|n| n.text().into_owned()))
            .collect();
        let websocket = names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("upgrade") || n.eq_ignore_ascii_case("connection"));
        let Some(first) = scope.set_header.first() else {
            continue;
        };
        let places: Vec<String> = lost.iter().map(|d| cx.place(d.name.span)).collect();
        let mut f = Finding::new(
            ID,
            if websocket {
                Severity::Error
            } else {
                Severity::Warning
            },
            first.head_span(),
            format!(
                "this {} has its own proxy_set_header, which replaces the inherited list: {} set at {} {} not sent from here",
                kind_name(cx, s),
                names.join(", "),
                dedup(&places).join(", "),
                if names.len() == 1 { "is" } else { "are" }
            ),
        )
        .help("copy the lost lines into this block, or move all the lines to one level");
        for d in &lost {
            f = f.related(d.head_span(), "set here, dropped below");
        }
        let lines: Vec<String> = lost.iter().map(|d| cx.text.source_of(d)).collect();
        let fix = cx.fix(
            format!("copy {} down", names.join(", ")),
            scope.directive.name.span,
            vec![cx.text.insert_before(first, &lines)],
        );
        out.push(f.fix(fix));
    }
}

fn kind_name(cx: &Cx<'_>, s: ScopeId) -> &'static str {
    use crate::inherit::ScopeKind::*;
    match cx.scopes.get(s).kind {
        Http => "http block",
        Server => "server",
        Location => "location",
        If => "if block",
        LimitExcept => "limit_except block",
    }
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}
