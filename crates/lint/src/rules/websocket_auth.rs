//! `websocket-location-skips-auth` (warning): in a server whose proxied
//! locations are mostly protected, by `auth_basic` or `auth_request` (not
//! `off`) or by an `allow`/`deny` list that denies someone, the WebSocket
//! location is not: it says `auth_basic off` / `auth_request off`, or it is
//! a sibling of the protected `location /` and inherits nothing from it.
//! The application's pages ask for a login while its live feed answers
//! anyone who opens the socket. What is protected is taken in force as
//! nginx merges it (`auth_basic` and `auth_request` inherit as single
//! values, `allow`/`deny` as a whole list). Not reported when nothing else
//! is protected, when fewer than half of the other proxied locations are,
//! or when the WebSocket location has its own `allow`/`deny` list or its
//! own authentication. No fix: how to authenticate the socket (the same
//! `auth_basic`, a token the backend checks) is the author's call.

use rustc_hash::{FxHashMap, FxHashSet};
use upgate_conf::Directive;

use upgate_runtime::access::Target;

use crate::address;
use crate::facts::Proxied;
use crate::inherit::ScopeId;
use crate::rule::Severity;
use crate::rules::{self, realip_missing::rule_text};
use crate::{Cx, Finding};

pub const ID: &str = "websocket-location-skips-auth";

/// A proxied location of a server: its scope, its index in
/// [`Cx::proxied`], and what protects it.
type Sibling<'a> = (ScopeId, usize, Option<&'a Directive>);

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // Proxied locations by server, once each, with what protects them.
    let mut seen = FxHashSet::default();
    let mut by_server: FxHashMap<ScopeId, Vec<Sibling<'_>>> = FxHashMap::default();
    for (i, p) in cx.proxied.iter().enumerate() {
        let Some(l) = cx.scopes.location(p.scope) else {
            continue;
        };
        let Some(server) = cx.scopes.server(l) else {
            continue;
        };
        if seen.insert(l) && !internal(cx, l) {
            by_server
                .entry(server)
                .or_default()
                .push((l, i, guard(cx, l)));
        }
    }
    let mut servers: Vec<_> = by_server.into_values().collect();
    servers.sort_unstable_by_key(|locations| locations.first().map(|&(l, _, _)| l));
    for locations in &servers {
        // Others of an unprotected location: all but itself.
        let others = locations.len() - 1;
        let guarded = locations.iter().filter(|(_, _, g)| g.is_some()).count();
        let Some(first) = locations.iter().find_map(|&(_, _, g)| g) else {
            continue;
        };
        if guarded * 2 <= others {
            continue;
        }
        for &(l, i, own_guard) in locations {
            let p = &cx.proxied[i];
            let scope = cx.scopes.get(l);
            if p.websocket.is_none() || !scope.access.is_empty() || own_guard.is_some() {
                continue;
            }
            out.push(finding(cx, l, p, first, (guarded, others)));
        }
    }
}

/// The finding for the open WebSocket location `l`, proxied by `p`, while
/// `guarded` of its `others` siblings are protected, the first by `first`.
fn finding(
    cx: &Cx<'_>,
    l: ScopeId,
    p: &Proxied<'_>,
    first: &Directive,
    (guarded, others): (usize, usize),
) -> Finding {
    let scope = cx.scopes.get(l);
    let off = [scope.in_force.auth_basic, scope.in_force.auth_request]
        .into_iter()
        .flatten()
        .find(|d| d.arg(0).is_some_and(|a| a.is("off")));
    let (at, what) = match off {
        Some(d) => (
            d,
            format!("`{}` leaves this WebSocket location", rule_text(d)),
        ),
        None => (p.proxy_pass, "this WebSocket location is".to_string()),
    };
    let message = format!(
        "{what} open to anyone ({}), while {guarded} of the {others} other proxied locations of this server are protected (`{}` at {}): the socket skips the login its pages ask for",
        rules::reason(cx, p),
        rule_text(first),
        cx.place(first.head_span())
    );
    let f = Finding::new(ID, Severity::Warning, at.head_span(), message)
        .related(first.head_span(), "the other locations are protected here")
        .help(HELP);
    match off {
        Some(_) => f.related(p.proxy_pass.head_span(), "WebSocket proxied here"),
        None => f,
    }
}

const HELP: &str = "protect the WebSocket location the same way (move auth_basic / auth_request / allow and deny to the server block, or repeat them in the location), or check a token in the backend and say so with a suppression comment";

/// What protects a location: `auth_basic` or `auth_request` in force and
/// not `off`, or an `allow`/`deny` list in force that ends in `deny all`
/// (an allow list; a list of denies only blocks a few).
fn guard<'a>(cx: &Cx<'a>, l: ScopeId) -> Option<&'a Directive> {
    let f = &cx.scopes.get(l).in_force;
    [f.auth_basic, f.auth_request]
        .into_iter()
        .flatten()
        .find(|d| d.arg(0).is_some_and(|a| !a.is("off")))
        .or_else(|| {
            cx.scopes
                .access(l)
                .iter()
                .copied()
                .find(|d| d.is("deny") && address::access_target(d) == Some(Target::All))
        })
}

/// Named and `internal` locations: no client reaches them directly (the
/// `auth_request` endpoint, error pages).
fn internal(cx: &Cx<'_>, l: ScopeId) -> bool {
    let d = cx.scopes.get(l).directive;
    d.args.first().is_some_and(|a| a.value.starts_with(b"@"))
        || d.children().any(|c| c.is("internal"))
}

#[cfg(test)]
mod tests {
    use crate::rules::tests::{assert_says, findings_of};

    const WS: &str = "proxy_http_version 1.1;\n            proxy_read_timeout 1h;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection \"upgrade\";";

    fn conf(root: &str, ws: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n    server {{\n        listen 8080;\n        location / {{\n{root}            proxy_pass http://127.0.0.1:9000;\n        }}\n        location /ws {{\n{ws}            proxy_pass http://127.0.0.1:9001;\n            {WS}\n        }}\n    }}\n}}\n"
        )
    }

    const BASIC: &str =
        "            auth_basic \"app\";\n            auth_basic_user_file htpasswd;\n";

    #[test]
    fn a_sibling_of_the_protected_root() {
        let found = findings_of(&conf(BASIC, ""), super::ID);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, 11);
        assert_says(&found[0].1, "1 of the 1 other");
        let deny = "            allow 10.0.0.0/8;\n            deny all;\n";
        assert_eq!(findings_of(&conf(deny, ""), super::ID).len(), 1);
    }

    /// `conf` with `auth_request /auth` for the whole server, `off` in the
    /// WebSocket location, and `extra` locations first.
    fn server_wide(extra: &str) -> String {
        conf("", "            auth_request off;\n").replace(
            "        listen 8080;\n",
            &format!("        listen 8080;\n        auth_request /auth;\n{extra}"),
        )
    }

    #[test]
    fn auth_off_under_a_server_wide_login() {
        let found = findings_of(&server_wide(""), super::ID);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, 10);
        assert_says(&found[0].1, "`auth_request off` leaves");
    }

    #[test]
    fn nothing_protected_or_own_rules_are_fine() {
        assert!(findings_of(&conf("", ""), super::ID).is_empty());
        assert!(findings_of(&conf(BASIC, BASIC), super::ID).is_empty());
        let own = "            allow all;\n";
        assert!(findings_of(&conf(BASIC, own), super::ID).is_empty());
        let off = "            auth_basic off;\n";
        assert!(findings_of(&conf(off, ""), super::ID).is_empty());
        // A blocklist protects nothing in particular.
        let block = "            deny 203.0.113.7;\n";
        assert!(findings_of(&conf(block, ""), super::ID).is_empty());
    }

    #[test]
    fn internal_locations_do_not_count() {
        let auth = "        location = /auth {\n            internal;\n            proxy_pass http://127.0.0.1:9002;\n        }\n";
        let health = "        location /health {\n            auth_request off;\n            proxy_pass http://127.0.0.1:9000;\n        }\n";
        // `/` protected, `/health` not, `= /auth` left out: 1 of 2 is no majority.
        let found = findings_of(&server_wide(&format!("{auth}{health}")), super::ID);
        assert!(found.is_empty(), "{found:#?}");
        let found = findings_of(&server_wide(auth), super::ID);
        assert_says(&found[0].1, "1 of the 1 other");
    }
}
