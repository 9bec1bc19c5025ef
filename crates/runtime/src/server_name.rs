//! Host names: `ngx_http_validate_host` (src/http/ngx_http_request.c) and
//! the combined hash nginx builds for `server_name` and for `map ...
//! { hostnames; }`: `ngx_hash_add_key` with NGX_HASH_WILDCARD_KEY and
//! `ngx_hash_find_combined` / `_find_wc_head` / `_find_wc_tail`
//! (src/core/ngx_hash.c), followed by the regexes in order
//! (`ngx_http_find_virtual_server`, `ngx_http_map_find`).
//!
//! Lookup order: the exact name; the longest `*.example.com` /
//! `.example.com` wildcard (the dot form also matches `example.com`
//! itself); the longest `www.example.*` wildcard; then the regexes in
//! configuration order, never on an empty name. A name that conflicts with
//! an earlier one is ignored, as nginx does with "conflicting server name
//! ... ignored" (including nginx's quirk that an ignored `.example.com`
//! still reserves the exact name `example.com`).

use rustc_hash::{FxHashMap, FxHashSet};

use crate::regex::{Captures, Regex};

/// `ngx_http_validate_host`: lower-cases the host, strips the port and one
/// trailing dot; `None` is nginx's 400 ("client sent invalid host header").
pub fn validate_host(host: &[u8]) -> Option<Vec<u8>> {
    #[derive(PartialEq)]
    enum St {
        Usual,
        Literal,
        Rest,
    }
    let mut state = St::Usual;
    let mut dot_pos: Option<usize> = None;
    let mut host_len = host.len();
    for (i, &ch) in host.iter().enumerate() {
        match ch {
            b'.' => {
                if i > 0 && dot_pos == Some(i - 1) {
                    return None;
                }
                dot_pos = Some(i);
            }
            b':' if state == St::Usual => {
                host_len = i;
                state = St::Rest;
            }
            b'[' if i == 0 => state = St::Literal,
            b']' if state == St::Literal => {
                host_len = i + 1;
                state = St::Rest;
            }
            b':' | b'[' | b']' => {}
            b'/' => return None,
            _ if ch <= 0x20 || ch == 0x7f => return None,
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == Some(host_len - 1) {
        host_len -= 1;
    }
    if host_len == 0 {
        return None;
    }
    Some(host[..host_len].to_ascii_lowercase())
}

/// What adding a name did (`ngx_hash_add_key`'s return codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Ok,
    /// NGX_BUSY: the name (or its wildcard form) was already there.
    Conflict,
    /// NGX_DECLINED: not a valid name or wildcard.
    Invalid,
}

/// How a name matched, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    Exact,
    /// `*.base` or `.base`.
    LeadingWildcard(Vec<u8>),
    /// `base.*`.
    TrailingWildcard(Vec<u8>),
    /// The regex at this index of the table's regexes.
    Regex(usize),
}

/// nginx's combined hash plus regexes, mapping names to `V`.
#[derive(Debug, Clone)]
pub struct HostTable<V> {
    exact: FxHashMap<Vec<u8>, V>,
    /// Names `ngx_hash_add_key` registered for conflict checks.
    reserved: FxHashSet<Vec<u8>>,
    /// `base` -> (value, also matches `base` itself).
    head: FxHashMap<Vec<u8>, (V, bool)>,
    tail: FxHashMap<Vec<u8>, V>,
    regexes: Vec<(Regex, V)>,
    /// Whether wildcards are accepted (server names, `map` with `hostnames`).
    wildcards: bool,
}

impl<V: Clone> HostTable<V> {
    /// An empty table; `wildcards` as NGX_HASH_WILDCARD_KEY.
    pub fn new(wildcards: bool) -> Self {
        HostTable {
            exact: FxHashMap::default(),
            reserved: FxHashSet::default(),
            head: FxHashMap::default(),
            tail: FxHashMap::default(),
            regexes: Vec::new(),
            wildcards,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.head.is_empty()
            && self.tail.is_empty()
            && self.regexes.is_empty()
    }

    /// `ngx_hash_add_key`: adds an exact name or a wildcard.
    pub fn add(&mut self, name: &[u8], value: V) -> Added {
        let lower = name.to_ascii_lowercase();
        if self.wildcards {
            let stars = name.iter().filter(|&&c| c == b'*').count();
            if stars > 1 || name.windows(2).any(|w| w == b"..") || name.contains(&0) {
                return Added::Invalid;
            }
            if name.len() > 1 && name[0] == b'.' {
                let base = lower[1..].to_vec();
                if self.reserved.contains(&base) {
                    return Added::Conflict;
                }
                self.reserved.insert(base.clone());
                return self.add_head(base, value, true);
            }
            if name.len() > 2 {
                if name.starts_with(b"*.") {
                    return self.add_head(lower[2..].to_vec(), value, false);
                }
                if name.ends_with(b".*") {
                    let base = lower[..lower.len() - 2].to_vec();
                    if self.tail.contains_key(&base) {
                        return Added::Conflict;
                    }
                    self.tail.insert(base, value);
                    return Added::Ok;
                }
            }
            if stars > 0 {
                return Added::Invalid;
            }
        }
        if self.reserved.contains(&lower) {
            return Added::Conflict;
        }
        self.reserved.insert(lower.clone());
        self.exact.insert(lower, value);
        Added::Ok
    }

    fn add_head(&mut self, base: Vec<u8>, value: V, also_exact: bool) -> Added {
        if self.head.contains_key(&base) {
            return Added::Conflict;
        }
        self.head.insert(base, (value, also_exact));
        Added::Ok
    }

    /// Appends a regex (tried in the order added).
    pub fn add_regex(&mut self, regex: Regex, value: V) {
        self.regexes.push((regex, value));
    }

    /// The regexes, in order.
    pub fn regexes(&self) -> &[(Regex, V)] {
        &self.regexes
    }

    /// `ngx_hash_find_combined` on a lower-cased name: exact, then leading
    /// wildcards, then trailing wildcards.
    pub fn find_hashed(&self, name: &[u8]) -> Option<(&V, NameMatch)> {
        if let Some(v) = self.exact.get(name) {
            return Some((v, NameMatch::Exact));
        }
        if name.is_empty() || !self.wildcards {
            return None;
        }
        if !self.head.is_empty() {
            if let Some((v, true)) = self.head.get(name) {
                return Some((v, NameMatch::LeadingWildcard(name.to_vec())));
            }
            for (i, &c) in name.iter().enumerate() {
                if c == b'.' {
                    let base = &name[i + 1..];
                    if let Some((v, _)) = self.head.get(base) {
                        return Some((v, NameMatch::LeadingWildcard(base.to_vec())));
                    }
                }
            }
        }
        if !self.tail.is_empty() {
            for i in (0..name.len()).rev() {
                if name[i] == b'.' {
                    let base = &name[..i];
                    if let Some(v) = self.tail.get(base) {
                        return Some((v, NameMatch::TrailingWildcard(base.to_vec())));
                    }
                }
            }
        }
        None
    }

    /// The regexes in order on `subject` (not lower-cased), never on an
    /// empty one; returns the captures of the match.
    pub fn find_regex(&self, subject: &[u8]) -> Option<(&V, usize, Captures)> {
        if subject.is_empty() {
            return None;
        }
        self.regexes.iter().enumerate().find_map(|(i, (re, v))| {
            if !re.is_match(subject) {
                return None;
            }
            re.captures(subject).map(|caps| (v, i, caps))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn vh(h: &str) -> Option<String> {
        validate_host(h.as_bytes()).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn hosts_from_nginx_tests() {
        assert_eq!(vh("L"), Some("l".into()));
        assert_eq!(vh("abcd-ef.g02.xyz:"), Some("abcd-ef.g02.xyz".into()));
        assert_eq!(
            vh("www.abcd-ef.g02.xyz."),
            Some("www.abcd-ef.g02.xyz".into())
        );
        assert_eq!(vh("abcd-ef.g02.xyz.:88"), Some("abcd-ef.g02.xyz".into()));
        assert_eq!(vh("X.Example.com.:1"), Some("x.example.com".into()));
        assert_eq!(
            vh("[abcd::ef98:0:7654:321]:80"),
            Some("[abcd::ef98:0:7654:321]".into())
        );
        assert_eq!(vh("."), None);
        assert_eq!(vh(""), None);
        assert_eq!(vh("..examp-LE.com"), None);
        assert_eq!(vh("example.com/\\:552"), None);
        assert_eq!(vh("localhost\x02"), None);
        assert_eq!(vh(".example.com"), Some(".example.com".into()));
    }

    fn table(names: &[&str]) -> HostTable<usize> {
        let mut t = HostTable::new(true);
        for (i, n) in names.iter().enumerate() {
            t.add(n.as_bytes(), i);
        }
        t
    }

    fn find(t: &HostTable<usize>, h: &str) -> Option<usize> {
        t.find_hashed(h.as_bytes()).map(|(v, _)| *v)
    }

    #[test]
    fn wildcards() {
        let t = table(&[
            "*.example.com",
            ".example.org",
            "www.*",
            "www.example.*",
            "*.com",
        ]);
        assert_eq!(find(&t, "a.b.example.com"), Some(0));
        assert_eq!(find(&t, "example.com"), Some(4));
        assert_eq!(find(&t, "example.org"), Some(1));
        assert_eq!(find(&t, "x.example.org"), Some(1));
        assert_eq!(find(&t, "www.example.net"), Some(3));
        assert_eq!(find(&t, "www.foo"), Some(2));
        assert_eq!(find(&t, "www"), None);
        assert_eq!(find(&t, ".example.com"), Some(0));
    }

    #[test]
    fn conflicts_first_wins() {
        let mut t = HostTable::new(true);
        assert_eq!(t.add(b"*.example.com", 0), Added::Ok);
        assert_eq!(t.add(b".example.com", 1), Added::Conflict);
        // the ignored ".example.com" still reserved "example.com"
        assert_eq!(t.add(b"example.com", 2), Added::Conflict);
        assert_eq!(t.add(b"Example.NET", 3), Added::Ok);
        assert_eq!(t.add(b"example.net", 4), Added::Conflict);
        assert_eq!(t.add(b"a.*.com", 5), Added::Invalid);
        assert_eq!(t.find_hashed(b"example.net").map(|v| *v.0), Some(3));
    }
}
