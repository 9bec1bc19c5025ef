//! `proxy-pass-uri-double-slash` (warning): a prefix location whose path
//! does not end in `/` with a `proxy_pass` whose URI part does. nginx
//! replaces the matched prefix with the URI part (`ngx_http_proxy_create_request`),
//! so `location /novnc` + `proxy_pass http://b/` sends `/novnc/websockify`
//! upstream as `//websockify` (NGINX-BEHAVIOUR.md 9). Seen in the corpus
//! (home-assistant deCONZ `/novnc`). No fix: `location /novnc/` or a
//! `proxy_pass` without `/` changes which requests match, which only the
//! author can decide.

use crate::inherit::ScopeKind;
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "proxy-pass-uri-double-slash";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for p in &cx.proxied {
        let scope = cx.scopes.get(p.scope);
        let Some(uri) = p.target.as_ref().and_then(|t| t.uri) else {
            continue;
        };
        if scope.kind != ScopeKind::Location || !uri.ends_with('/') {
            continue;
        }
        let Some(path) = prefix_path(scope.directive) else {
            continue;
        };
        if path.ends_with('/') {
            continue;
        }
        let pp = p.proxy_pass;
        out.push(
            Finding::new(
                ID,
                Severity::Warning,
                pp.head_span(),
                format!(
                    "location {path} has no trailing slash but proxy_pass's URI part \"{uri}\" has one: {path}/x is sent upstream as {uri}/x"
                ),
            )
            .related(scope.directive.head_span(), "prefix matched here")
            .help(format!(
                "use `location {path}/` (nginx then redirects {path} to {path}/), or drop the trailing slash from the URI part"
            )),
        );
    }
}

/// The path of a plain or `^~` prefix location.
fn prefix_path(d: &upgate_conf::Directive) -> Option<String> {
    match d.args.as_slice() {
        [path] if !path.is("=") && !path.text().starts_with('@') => Some(path.text().into_owned()),
        [m, path] if m.is("^~") => Some(path.text().into_owned()),
        _ => None,
    }
}
