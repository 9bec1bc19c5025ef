//! `proxy-pass-unknown-upstream` (error; warning in a snippet, whose
//! upstreams may live in files not read): `proxy_pass http://NAME` where
//! NAME is neither an `upstream` block nor a host that resolves. nginx -t
//! fails with `host not found in upstream "NAME"`; this rule says which
//! upstream was probably meant. No fix: a guess is not certain.

use crate::model::ProxyTarget;
use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "proxy-pass-unknown-upstream";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for s in cx.scopes.proxying() {
        let Some(pp) = cx.scopes.get(s).proxy_pass else {
            continue;
        };
        let Some(target) = ProxyTarget::parse(pp) else {
            continue;
        };
        if cx.model.upstream(&target.host).is_some() || cx.options.resolver.resolves(&target.host) {
            continue;
        }
        let suggestion = closest(
            &target.host,
            cx.model.upstreams.iter().map(|u| u.name.as_str()),
        );
        let mut message = format!(
            "no upstream block is named \"{}\" and the name does not resolve; nginx -t fails with `host not found in upstream \"{}\"`",
            target.host, target.host
        );
        let mut f;
        match suggestion.and_then(|n| cx.model.upstream(n)) {
            Some(up) => {
                message.push_str(&format!("; did you mean \"{}\"?", up.name));
                f = Finding::new(ID, Severity::Error, pp.head_span(), message)
                    .related(up.directive.head_span(), "this upstream has a similar name");
            }
            None => f = Finding::new(ID, Severity::Error, pp.head_span(), message),
        }
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

/// The candidate nearest to `name` by edit distance, if near enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d > 0 && *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
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

    #[test]
    fn typos_are_near() {
        assert_eq!(distance("webscoket", "websocket"), 1);
        assert_eq!(
            closest("webscoket", ["backend", "websocket"].into_iter()),
            Some("websocket")
        );
        assert_eq!(closest("api", ["backend"].into_iter()), None);
    }
}
