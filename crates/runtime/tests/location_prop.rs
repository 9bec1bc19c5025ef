//! Property test: `find_location` (nginx's static tree, built and searched
//! as ngx_http.c / ngx_http_core_module.c do) against a slow reference
//! written from nginx's documentation and NGINX-BEHAVIOUR 10-11: an `=`
//! location equal to the URI; else nginx's 301 when the URI plus "/" names
//! a proxied location and nothing is named the URI itself; else the longest
//! prefix, whose nested locations are searched first; `^~` skips the
//! regexes of its level; else the regexes of that level in order; else the
//! prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use upgate_conf::Span;
use upgate_runtime::location::{
    Location, LocationKind, LocationTree, MatchKind, StaticEntry, find_location,
};
use upgate_runtime::regex::Regex;
use upgate_runtime::rewrite::Script;
use upgate_runtime::{LocationId, ServerId};

const REGEXES: &[&str] = &["^/a", "b$", "a/b", "^/b/", "/$", "^/$", "ab?/"];

#[derive(Debug, Clone)]
struct Gen {
    parent: Option<usize>,
    kind: LocationKind,
    name: String,
    auto_redirect: bool,
}

fn is_static(k: LocationKind) -> bool {
    matches!(
        k,
        LocationKind::Exact | LocationKind::Prefix | LocationKind::PrefixNoRegex
    )
}

fn is_regex(k: LocationKind) -> bool {
    matches!(k, LocationKind::Regex { .. })
}

/// Raw material: (parent choice, kind choice, name, regex index, auto).
fn gens() -> impl Strategy<Value = Vec<Gen>> {
    prop::collection::vec(
        (
            0usize..8,
            0u8..5,
            "/[ab/]{0,4}",
            0usize..REGEXES.len(),
            any::<bool>(),
        ),
        1..14,
    )
    .prop_map(|raw| {
        let mut out: Vec<Gen> = Vec::new();
        for (parent_pick, kind_pick, name, re, auto) in raw {
            // parent: none, or an earlier location that may hold children
            let parent = (parent_pick < out.len())
                .then_some(parent_pick)
                .filter(|&p| out[p].kind != LocationKind::Exact);
            let kind = match kind_pick {
                0 => LocationKind::Exact,
                1 => LocationKind::PrefixNoRegex,
                2 => LocationKind::Regex { caseless: false },
                _ => LocationKind::Prefix,
            };
            let (kind, name) = match parent.map(|p| &out[p]) {
                // a regex location holds only regexes here
                Some(p) if is_regex(p.kind) => (
                    LocationKind::Regex { caseless: false },
                    REGEXES[re].to_string(),
                ),
                Some(p) if !is_regex(kind) => (kind, format!("{}{}", p.name, &name[1..])),
                _ if is_regex(kind) => (kind, REGEXES[re].to_string()),
                _ => (kind, name),
            };
            let dup = is_static(kind)
                && out.iter().any(|g| {
                    g.parent == parent
                        && is_static(g.kind)
                        && g.name == name
                        && (g.kind == LocationKind::Exact) == (kind == LocationKind::Exact)
                });
            if dup {
                continue;
            }
            out.push(Gen {
                parent,
                kind,
                auto_redirect: auto && is_static(kind) && name.ends_with('/'),
                name,
            });
        }
        out
    })
}

/// The arena: 0 is the server level, gen i is location i + 1.
fn build(gens: &[Gen]) -> Vec<Location> {
    let mk = |kind, name: &str, parent, auto_redirect| Location {
        kind,
        name: name.as_bytes().to_vec(),
        regex: is_regex(kind).then(|| Regex::new(name.as_bytes(), false).expect("regex")),
        span: Span::default(),
        server: ServerId(0),
        parent,
        escaped_name: name.as_bytes().to_vec(),
        auto_redirect,
        tree: LocationTree::default(),
        conf: Box::default(),
        script: Script::default(),
        limit_except: None,
    };
    let mut locs = vec![mk(LocationKind::Server, "", None, false)];
    for g in gens {
        let parent = LocationId(g.parent.map_or(0, |p| p as u32 + 1));
        locs.push(mk(g.kind, &g.name, Some(parent), g.auto_redirect));
    }
    for level in 0..locs.len() {
        let children: Vec<usize> = (1..locs.len())
            .filter(|&i| locs[i].parent == Some(LocationId(level as u32)))
            .collect();
        let statics = children
            .iter()
            .filter(|&&i| is_static(locs[i].kind))
            .map(|&i| StaticEntry {
                name: locs[i].name.clone(),
                exact: locs[i].kind == LocationKind::Exact,
                id: LocationId(i as u32),
                auto_redirect: locs[i].auto_redirect,
            })
            .collect();
        let regexes = children
            .iter()
            .filter(|&&i| is_regex(locs[i].kind))
            .map(|&i| LocationId(i as u32))
            .collect();
        locs[level].tree = LocationTree::build(statics, regexes, Vec::new());
    }
    locs
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Exact(usize),
    Redirect(usize),
    Regex(usize),
    Prefix(usize),
    Declined,
}

/// The reference, on gen indices (None = server level).
fn reference(gens: &[Gen], level: Option<usize>, uri: &str) -> Res {
    let children: Vec<usize> = (0..gens.len())
        .filter(|&i| gens[i].parent == level)
        .collect();
    let statics: Vec<usize> = children
        .iter()
        .copied()
        .filter(|&i| is_static(gens[i].kind))
        .collect();
    if let Some(&e) = statics
        .iter()
        .find(|&&i| gens[i].kind == LocationKind::Exact && gens[i].name == uri)
    {
        return Res::Exact(e);
    }
    if !statics.iter().any(|&i| gens[i].name == uri) {
        let slash = format!("{uri}/");
        let named: Vec<usize> = statics
            .iter()
            .copied()
            .filter(|&i| gens[i].name == slash)
            .collect();
        if named.iter().any(|&i| gens[i].auto_redirect) {
            let pick = named
                .iter()
                .copied()
                .find(|&i| gens[i].kind == LocationKind::Exact)
                .unwrap_or(named[0]);
            return Res::Redirect(pick);
        }
    }
    let best = statics
        .iter()
        .copied()
        .filter(|&i| gens[i].kind != LocationKind::Exact && uri.starts_with(gens[i].name.as_str()))
        .max_by_key(|&i| gens[i].name.len());
    let regexes = || {
        children
            .iter()
            .copied()
            .filter(|&i| is_regex(gens[i].kind))
            .find(|&i| {
                Regex::new(gens[i].name.as_bytes(), false)
                    .expect("regex")
                    .is_match(uri.as_bytes())
            })
    };
    let in_regex = |r: usize| match reference(gens, Some(r), uri) {
        Res::Exact(x) | Res::Regex(x) | Res::Prefix(x) | Res::Redirect(x) => Res::Regex(x),
        Res::Declined => Res::Regex(r),
    };
    match best {
        Some(b) => {
            let candidate = match reference(gens, Some(b), uri) {
                r @ (Res::Exact(_) | Res::Redirect(_) | Res::Regex(_)) => return r,
                Res::Prefix(deeper) => deeper,
                Res::Declined => b,
            };
            if gens[b].kind == LocationKind::PrefixNoRegex {
                return Res::Prefix(candidate);
            }
            regexes().map_or(Res::Prefix(candidate), in_regex)
        }
        None => regexes().map_or(Res::Declined, in_regex),
    }
}

fn ours(locs: &[Location], uri: &str) -> Res {
    let f = find_location(locs, LocationId(0), uri.as_bytes());
    let i = f.location.index().wrapping_sub(1);
    match f.kind {
        MatchKind::Exact => Res::Exact(i),
        MatchKind::AutoRedirect => Res::Redirect(i),
        MatchKind::Regex => Res::Regex(i),
        MatchKind::Prefix => Res::Prefix(i),
        MatchKind::None | MatchKind::Named => Res::Declined,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn tree_search_equals_reference(
        gens in gens(),
        uris in prop::collection::vec("/[ab/]{0,5}", 1..12),
    ) {
        let locs = build(&gens);
        let mut all = uris;
        all.extend(gens.iter().filter(|g| is_static(g.kind)).map(|g| g.name.clone()));
        all.extend(gens.iter().filter(|g| g.name.len() > 1).map(|g| g.name[..g.name.len() - 1].to_string()));
        for uri in all {
            let want = reference(&gens, None, &uri);
            let got = ours(&locs, &uri);
            prop_assert_eq!(got, want, "uri {:?} in {:#?}", uri, gens);
        }
    }
}
