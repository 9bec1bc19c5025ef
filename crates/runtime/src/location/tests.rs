//! Location search on small trees, including NGINX-BEHAVIOUR 10 and 11.

use super::*;
use crate::ServerId;

/// `(parent index or None for the server level, kind, name, proxy_pass)`.
type Desc = (Option<usize>, LocationKind, &'static str, bool);

/// Builds the arena: index 0 is the server level, then one per entry.
fn build(desc: &[Desc]) -> Vec<Location> {
    let mut locs: Vec<Location> = Vec::new();
    let blank =
        |kind: LocationKind, name: &str, parent: Option<LocationId>, proxy: bool| Location {
            kind,
            name: name.as_bytes().to_vec(),
            regex: match kind {
                LocationKind::Regex { caseless } => {
                    Some(crate::regex::Regex::new(name.as_bytes(), caseless).unwrap())
                }
                _ => None,
            },
            span: Span::default(),
            server: ServerId(0),
            parent,
            escaped_name: name.as_bytes().to_vec(),
            auto_redirect: proxy && name.ends_with('/'),
            tree: LocationTree::default(),
            conf: Box::default(),
            script: Script::default(),
            limit_except: None,
        };
    locs.push(blank(LocationKind::Server, "", None, false));
    for (parent, kind, name, proxy) in desc {
        let parent = LocationId(parent.map_or(0, |p| p as u32 + 1));
        locs.push(blank(*kind, name, Some(parent), *proxy));
    }
    for level in 0..locs.len() {
        let mut statics = Vec::new();
        let mut regexes = Vec::new();
        for (i, l) in locs.iter().enumerate() {
            if l.parent != Some(LocationId(level as u32)) {
                continue;
            }
            match l.kind {
                LocationKind::Regex { .. } => regexes.push(LocationId(i as u32)),
                LocationKind::Exact | LocationKind::Prefix | LocationKind::PrefixNoRegex => statics
                    .push(StaticEntry {
                        name: l.name.clone(),
                        exact: l.kind == LocationKind::Exact,
                        id: LocationId(i as u32),
                        auto_redirect: l.auto_redirect,
                    }),
                _ => {}
            }
        }
        locs[level].tree = LocationTree::build(statics, regexes, Vec::new());
    }
    locs
}

fn find(locs: &[Location], uri: &str) -> (String, MatchKind) {
    let f = find_location(locs, LocationId(0), uri.as_bytes());
    (locs[f.location.index()].display_name(), f.kind)
}

use LocationKind::{Exact, Prefix, PrefixNoRegex};
const RE: LocationKind = LocationKind::Regex { caseless: false };
const RE_I: LocationKind = LocationKind::Regex { caseless: true };

#[test]
fn exact_prefix_regex() {
    let locs = build(&[
        (None, Exact, "/", false),
        (None, Prefix, "/", false),
        (None, Prefix, "/documents/", false),
        (None, PrefixNoRegex, "/images/", false),
        (None, RE_I, r"\.(gif|jpg|jpeg)$", false),
    ]);
    assert_eq!(find(&locs, "/"), ("= /".into(), MatchKind::Exact));
    assert_eq!(find(&locs, "/index.html"), ("/".into(), MatchKind::Prefix));
    assert_eq!(
        find(&locs, "/documents/document.html"),
        ("/documents/".into(), MatchKind::Prefix)
    );
    assert_eq!(
        find(&locs, "/images/1.gif"),
        ("^~ /images/".into(), MatchKind::Prefix)
    );
    assert_eq!(
        find(&locs, "/documents/1.JPG"),
        (r"~* \.(gif|jpg|jpeg)$".into(), MatchKind::Regex)
    );
}

/// NGINX-BEHAVIOUR 11: a nested ^~ does not stop the outer regexes.
#[test]
fn nested_noregex_does_not_stop_outer_regexes() {
    let locs = build(&[
        (None, Prefix, "/a/", false),
        (Some(0), PrefixNoRegex, "/a/c/", false),
        (None, RE, r"\.php$", false),
    ]);
    assert_eq!(
        find(&locs, "/a/c/x.php"),
        (r"~ \.php$".into(), MatchKind::Regex)
    );
    assert_eq!(
        find(&locs, "/a/c/x"),
        ("^~ /a/c/".into(), MatchKind::Prefix)
    );
}

/// NGINX-BEHAVIOUR 10: the 301 beats regexes; not when the slashless
/// name exists.
#[test]
fn auto_redirect() {
    let locs = build(&[
        (None, Prefix, "/slash/", true),
        (None, RE, "^/slash", false),
        (None, Prefix, "/both/", true),
        (None, Exact, "/both", false),
    ]);
    assert_eq!(
        find(&locs, "/slash"),
        ("/slash/".into(), MatchKind::AutoRedirect)
    );
    assert_eq!(
        find(&locs, "/slash/x"),
        ("~ ^/slash".into(), MatchKind::Regex)
    );
    assert_eq!(find(&locs, "/both"), ("= /both".into(), MatchKind::Exact));
}

#[test]
fn nested_regex_inside_noregex_prefix() {
    let locs = build(&[
        (None, PrefixNoRegex, "/a/", false),
        (Some(0), RE, r"\.php$", false),
        (None, RE, r"x", false),
    ]);
    assert_eq!(
        find(&locs, "/a/x.php"),
        (r"~ \.php$".into(), MatchKind::Regex)
    );
    assert_eq!(find(&locs, "/a/x"), ("^~ /a/".into(), MatchKind::Prefix));
    assert_eq!(find(&locs, "/bx"), ("~ x".into(), MatchKind::Regex));
    assert_eq!(
        find(&locs, "/b"),
        ("(server level)".into(), MatchKind::None)
    );
}

#[test]
fn sort_order_puts_slash_first() {
    assert_eq!(cmp_names(b"/a/", b"/a-"), Ordering::Less);
    assert_eq!(cmp_names(b"/a", b"/a/"), Ordering::Less);
}
