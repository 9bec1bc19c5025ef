//! `proxy-set-header-inheritance-loss` (warning; error when Upgrade or
//! Connection is lost): a server, location or nested location with its own
//! `proxy_set_header` lines replaces the inherited list wholesale
//! (`ngx_http_proxy_merge_loc_conf`: nothing merges), so the headers set
//! around it vanish there. Only blocks that proxy (or hold locations that
//! do) are reported, once, at their first own `proxy_set_header`; the
//! finding lists exactly which headers vanish and where they were set. The
//! fix copies the lost lines down, before the block's own list.
//!
//! [`lost`] and [`Loss`] are shared with add-header-inheritance-loss.

use upgate_conf::Directive;

use crate::inherit::{ScopeId, ScopeKind};
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "proxy-set-header-inheritance-loss";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // Blocks that proxy or hold one that does.
    let mut proxying_below = vec![false; cx.scopes.all.len()];
    for p in &cx.proxied {
        for s in cx.scopes.chain(p.scope) {
            if std::mem::replace(&mut proxying_below[s], true) {
                break;
            }
        }
    }
    for (s, _) in proxying_below
        .iter()
        .enumerate()
        .filter(|(_, below)| **below)
    {
        let scope = cx.scopes.get(s);
        let Some(first) = scope.set_header.first() else {
            continue;
        };
        let Some((_, inherited)) = scope.parent.and_then(|p| cx.scopes.set_headers(p)) else {
            continue;
        };
        let lost = lost(&scope.set_header, inherited, false);
        if lost.is_empty() {
            continue;
        }
        let loss = Loss::new(s, first, lost);
        let websocket = loss
            .names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("upgrade") || n.eq_ignore_ascii_case("connection"));
        let severity = if websocket {
            Severity::Error
        } else {
            Severity::Warning
        };
        out.push(loss.finding(cx, ID, severity, "proxy_set_header", true));
    }
}

/// The inherited lines for header names the block's own list does not set:
/// the first line of each name, or with `every` all of them (`add_header`
/// may send one name several times).
pub fn lost<'a>(
    own: &[&'a Directive],
    inherited: &[&'a Directive],
    every: bool,
) -> Vec<&'a Directive> {
    fn name(d: &Directive) -> Option<&[u8]> {
        d.arg(0).map(|n| n.value.as_slice())
    }
    let mut out: Vec<&'a Directive> = Vec::new();
    for &d in inherited {
        let Some(n) = name(d) else { continue };
        let set_here = own
            .iter()
            .any(|o| name(o).is_some_and(|m| m.eq_ignore_ascii_case(n)));
        let listed = out
            .iter()
            .any(|o| name(o).is_some_and(|m| m.eq_ignore_ascii_case(n)));
        if !set_here && (every || !listed) {
            out.push(d);
        }
    }
    out
}

/// A block's lost lines, described for a finding.
pub struct Loss<'a> {
    pub scope: ScopeId,
    /// The block's first own line, where the finding points.
    pub first: &'a Directive,
    pub lost: Vec<&'a Directive>,
    /// Header names as first written, each once.
    pub names: Vec<String>,
}

impl<'a> Loss<'a> {
    pub fn new(scope: ScopeId, first: &'a Directive, lost: Vec<&'a Directive>) -> Self {
        let mut names: Vec<String> = Vec::new();
        for d in &lost {
            if let Some(n) = d.arg(0).map(|n| n.text())
                && !names.iter().any(|m| m.eq_ignore_ascii_case(&n))
            {
                names.push(n.into_owned());
            }
        }
        Loss {
            scope,
            first,
            lost,
            names,
        }
    }

    /// The finding: what is lost and where it was set, with a fix that
    /// copies the lines down before the block's own list when `fixable`.
    pub fn finding(
        &self,
        cx: &Cx<'_>,
        rule: &'static str,
        severity: Severity,
        directive: &str,
        fixable: bool,
    ) -> Finding {
        let mut places: Vec<String> = Vec::new();
        for d in &self.lost {
            let place = cx.place(d.name.span);
            if !places.contains(&place) {
                places.push(place);
            }
        }
        let mut f = Finding::new(
            rule,
            severity,
            self.first.head_span(),
            format!(
                "this {} has its own {directive}, which replaces the inherited list: {} set at {} {} not sent from here",
                kind_name(cx.scopes.get(self.scope).kind),
                self.names.join(", "),
                places.join(", "),
                if self.names.len() == 1 { "is" } else { "are" }
            ),
        )
        .help("copy the lost lines into this block, or move all the lines to one level");
        for d in &self.lost {
            f = f.related(d.head_span(), "set here, dropped below");
        }
        if !fixable {
            return f;
        }
        let lines: Vec<String> = self.lost.iter().map(|d| cx.text.source_of(d)).collect();
        let fix = cx.fix(
            format!("copy {} down", self.names.join(", ")),
            cx.scopes.get(self.scope).directive.name.span,
            vec![cx.text.insert_before(self.first, &lines)],
        );
        f.fix(fix)
    }
}

fn kind_name(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::Http => "http block",
        ScopeKind::Server => "server",
        ScopeKind::Location => "location",
        ScopeKind::If => "if block",
        ScopeKind::LimitExcept => "limit_except block",
    }
}
