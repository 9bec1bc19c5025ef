//! `proxy-pass-unknown-upstream` (error; warning in a snippet, whose
//! upstreams may live in files not read): `proxy_pass http://NAME` where
//! NAME is neither an `upstream` block nor a host that resolves. nginx -t
//! fails with `host not found in upstream "NAME"`; this rule says what was
//! probably meant: the nearest name (edit distance at most 2, a swap of
//! neighbours counting as one) among the upstream blocks, then the
//! `server_name`s and the other `proxy_pass` hosts that do resolve. No fix:
//! a guess is not certain.

use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHashSet};
use upgate_conf::Span;

use crate::facts::{Proxied, lowercase};
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "proxy-pass-unknown-upstream";

/// A name the configuration knows, where it stands, and what it is.
struct Candidate<'c> {
    name: &'c str,
    span: Span,
    what: &'static str,
}

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut unknown: Vec<&Proxied<'_>> = Vec::new();
    let mut resolving: Vec<(&str, Span)> = Vec::new();
    for p in &cx.proxied {
        let Some(target) = &p.target else { continue };
        if p.upstream.is_some() {
            continue;
        }
        if cx.options.resolver.resolves(&target.host) {
            resolving.push((&target.host, p.proxy_pass.head_span()));
        } else {
            unknown.push(p);
        }
    }
    if unknown.is_empty() {
        return;
    }
    let candidates = candidates(cx, &resolving);
    let mut hosts: Vec<&str> = unknown
        .iter()
        .filter_map(|p| p.target.as_ref().map(|t| t.host.as_ref()))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    let nearest = nearest(&hosts, candidates.iter().map(|c| c.name));
    for p in unknown {
        let Some(target) = &p.target else { continue };
        let host = &target.host;
        let mut message = format!(
            "no upstream block is named \"{host}\" and the name does not resolve; nginx -t fails with `host not found in upstream \"{host}\"`"
        );
        let near = hosts
            .binary_search(&host.as_ref())
            .ok()
            .and_then(|i| nearest[i]);
        let mut f = match near {
            Some(i) => {
                let c = &candidates[i];
                message.push_str(&format!("; did you mean \"{}\"?", c.name));
                Finding::new(ID, Severity::Error, p.proxy_pass.head_span(), message)
                    .related(c.span, format!("this {} has a similar name", c.what))
            }
            None => Finding::new(ID, Severity::Error, p.proxy_pass.head_span(), message),
        };
        if cx.snippet.is_some() {
            f.severity = Severity::Warning;
            f = f.help("this file was read as a snippet: if the upstream is defined in another file of the configuration, lint the nginx.conf that includes both");
        } else {
            f = f.help(
                "check the spelling, or define `upstream NAME { server HOST:PORT; }` in http {}",
            );
        }
        out.push(f);
    }
}

/// Upstream names first, then server names, then resolving hosts; each
/// name once.
fn candidates<'c>(cx: &'c Cx<'_>, resolving: &[(&'c str, Span)]) -> Vec<Candidate<'c>> {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let mut out = Vec::new();
    for up in &cx.model.upstreams {
        if seen.insert(&up.name) {
            out.push(Candidate {
                name: &up.name,
                span: up.directive.head_span(),
                what: "upstream",
            });
        }
    }
    for w in &cx.model.server_names {
        let Ok(name) = std::str::from_utf8(&w.value) else {
            continue;
        };
        // Server names are compared case-insensitively; most are lowercase.
        if name.bytes().any(|b| b.is_ascii_uppercase()) || !seen.insert(name) {
            continue;
        }
        out.push(Candidate {
            name,
            span: w.span,
            what: "server_name",
        });
    }
    for &(name, span) in resolving {
        if seen.insert(name) {
            out.push(Candidate {
                name,
                span,
                what: "proxy_pass host",
            });
        }
    }
    out
}

/// For each name, the index of the nearest candidate when it is near
/// enough to be a typo: at most 2 edits (a swap of neighbours counting as
/// one), and fewer than either name has letters; the first such candidate
/// on a tie.
///
/// Two strings at most two edits apart become equal once at most two
/// characters are deleted from each (SymSpell). The names' deletion
/// variants are indexed by hash and each candidate's are looked up there,
/// so the cost grows with names plus candidates, not their product.
pub fn nearest<'a>(
    names: &[&str],
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<Option<usize>> {
    let names: Vec<Vec<char>> = names
        .iter()
        .map(|n| lowercase(n).chars().collect())
        .collect();
    let mut keys: Vec<(u64, u32)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        deletions(name, |h| keys.push((h, i as u32)));
    }
    keys.sort_unstable();
    keys.dedup();
    let mut first: FxHashMap<u64, usize> = FxHashMap::default();
    for (at, &(h, _)) in keys.iter().enumerate() {
        first.entry(h).or_insert(at);
    }
    let mut best: Vec<Option<(usize, usize)>> = vec![None; names.len()];
    let mut pairs: Vec<u32> = Vec::new();
    for (c, candidate) in candidates.enumerate() {
        let b: Vec<char> = candidate.chars().collect();
        pairs.clear();
        deletions(&b, |h| {
            if let Some(&at) = first.get(&h) {
                pairs.extend(
                    keys[at..]
                        .iter()
                        .take_while(|(k, _)| *k == h)
                        .map(|&(_, i)| i),
                );
            }
        });
        pairs.sort_unstable();
        pairs.dedup();
        for &i in &pairs {
            let a = &names[i as usize];
            if b.len().abs_diff(a.len()) > MAX_EDITS || b == *a {
                continue;
            }
            let d = distance(a, &b);
            let slot = &mut best[i as usize];
            if d <= MAX_EDITS && d < a.len().min(b.len()) && slot.is_none_or(|(bd, _)| d < bd) {
                *slot = Some((d, c));
            }
        }
    }
    best.into_iter().map(|b| b.map(|(_, c)| c)).collect()
}

const MAX_EDITS: usize = 2;

/// Calls `f` with the hash of the name less no, one and two characters.
fn deletions(name: &[char], mut f: impl FnMut(u64)) {
    let hash = |skip: [usize; 2]| {
        let mut h = rustc_hash::FxHasher::default();
        for (k, c) in name.iter().enumerate() {
            if k != skip[0] && k != skip[1] {
                h.write_u32(*c as u32);
            }
        }
        h.finish()
    };
    f(hash([usize::MAX; 2]));
    for i in 0..name.len() {
        f(hash([i, usize::MAX]));
        for j in i + 1..name.len() {
            f(hash([i, j]));
        }
    }
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
pub(crate) fn distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn typos_are_near() {
        assert_eq!(distance(&chars("webscoket"), &chars("websocket")), 1);
        let near = |names: &[&str], name: &str| nearest(&[name], names.iter().copied())[0];
        assert_eq!(near(&["backend", "websocket"], "webscoket"), Some(1));
        assert_eq!(near(&["backend"], "api"), None);
        assert_eq!(near(&["xy"], "ab"), None);
        assert_eq!(near(&["backend"], "backend"), None);
        assert_eq!(near(&["abcd"], "badc"), Some(0));
        assert_eq!(near(&["app.internal"], "ap.internnal"), Some(0));
        assert_eq!(near(&["app.internal"], "xp.internnal"), None);
        assert_eq!(near(&["websocket", "websockets"], "websockets2"), Some(1));
    }
}
