//! Locations: nginx's static location tree and its search,
//! `ngx_http_core_find_location` / `ngx_http_core_find_static_location`
//! (src/http/ngx_http_core_module.c), built as `ngx_http_init_locations`,
//! `ngx_http_cmp_locations`, `ngx_http_join_exact_locations`,
//! `ngx_http_create_locations_list` and `ngx_http_create_locations_tree`
//! (src/http/ngx_http.c) build it.
//!
//! On the normalised URI: an `=` location equal to it stops the search; else
//! the longest prefix wins and its nested locations are searched first; a
//! `^~` prefix skips the regexes of its own level only; else the regexes of
//! that level are tried in configuration order; else the prefix. A request
//! equal to a `/`-terminated prefix (or `=`) location with proxy_pass, minus
//! the slash, gets nginx's 301 (auto_redirect), which beats the regexes.
//! Comparison is byte-exact (`ngx_filename_cmp`, with `/` sorting lowest).

use std::cmp::Ordering;

use upgate_conf::Span;

use crate::conf::LocConf;
use crate::regex::{Captures, Regex};
use crate::rewrite::Script;

/// Index of a location in [`crate::Runtime::locations`]. Every server has
/// one for its own level (the `server {}` block's location conf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct LocationId(pub u32);

impl LocationId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The location modifiers, plus the blocks nginx treats as unnamed
/// locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    /// The server's own level (`server { ... }` outside any location).
    Server,
    /// `location = /x`.
    Exact,
    /// `location /x`.
    Prefix,
    /// `location ^~ /x`.
    PrefixNoRegex,
    /// `location ~ re` (`caseless` for `~*`).
    Regex { caseless: bool },
    /// `location @name`.
    Named,
    /// An `if (...) { }` block.
    If,
    /// A `limit_except` block.
    LimitExcept,
}

impl LocationKind {
    /// The modifier as written before the name.
    pub fn modifier(self) -> &'static str {
        match self {
            LocationKind::Exact => "= ",
            LocationKind::PrefixNoRegex => "^~ ",
            LocationKind::Regex { caseless: false } => "~ ",
            LocationKind::Regex { caseless: true } => "~* ",
            _ => "",
        }
    }
}

/// One location (or server level, `if` or `limit_except` block) with its
/// merged configuration and rewrite script.
#[derive(Debug, Clone)]
pub struct Location {
    pub kind: LocationKind,
    /// The name as nginx keeps it (`/api/`, the regex text, `@fallback`).
    pub name: Vec<u8>,
    pub regex: Option<Regex>,
    /// The `location` directive (the `server` directive for the server level).
    pub span: Span,
    pub server: crate::ServerId,
    pub parent: Option<LocationId>,
    /// `clcf->escaped_name`, used in the auto-redirect `Location`.
    pub escaped_name: Vec<u8>,
    /// Set by proxy_pass in a location whose name ends with `/`.
    pub auto_redirect: bool,
    /// The nested locations.
    pub tree: LocationTree,
    /// Boxed: the search touches the fields above, not this.
    pub conf: Box<LocConf>,
    /// The rewrite-module directives of this level, in order.
    pub script: Script,
    /// Its `limit_except` block and the methods that block does not apply
    /// to (`clcf->limit_except_loc_conf` and the mask).
    pub limit_except: Option<(LocationId, Vec<Vec<u8>>)>,
}

impl Location {
    /// `location = /x`, `location ~* re`, `server`... for messages.
    pub fn display_name(&self) -> String {
        match self.kind {
            LocationKind::Server => "(server level)".to_string(),
            LocationKind::If => format!("if ({})", String::from_utf8_lossy(&self.name)),
            LocationKind::LimitExcept => "limit_except".to_string(),
            kind => format!("{}{}", kind.modifier(), String::from_utf8_lossy(&self.name)),
        }
    }

    fn noregex(&self) -> bool {
        self.kind == LocationKind::PrefixNoRegex
    }
}

/// The locations nested in one level: nginx's `static_locations` tree,
/// `regex_locations` (in order) and, at server level, `named_locations`.
#[derive(Debug, Clone, Default)]
pub struct LocationTree {
    nodes: Vec<Node>,
    /// Every node's name, back to back (one allocation per level).
    names: Vec<u8>,
    root: Option<u32>,
    pub regexes: Vec<LocationId>,
    pub named: Vec<LocationId>,
}

#[derive(Debug, Clone)]
struct Node {
    /// The name from the parent node's prefix on: `names[start..start+len]`.
    start: u32,
    len: u32,
    exact: Option<LocationId>,
    inclusive: Option<LocationId>,
    auto_redirect: bool,
    left: Option<u32>,
    right: Option<u32>,
    tree: Option<u32>,
}

/// A prefix or exact location handed to [`LocationTree::build`].
#[derive(Debug, Clone)]
pub struct StaticEntry {
    pub name: Vec<u8>,
    pub exact: bool,
    pub id: LocationId,
    pub auto_redirect: bool,
}

/// `ngx_http_location_queue_t` while the tree is built.
struct Queued {
    name: Vec<u8>,
    exact: Option<LocationId>,
    inclusive: Option<LocationId>,
    auto_redirect: bool,
    list: Vec<Queued>,
}

/// `ngx_filename_cmp` over `min(len)+1` bytes, as `ngx_http_cmp_locations`
/// calls it: byte order with `/` lowest, a prefix before its extensions.
pub fn cmp_names(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| if c == b'/' { 0u16 } else { c as u16 };
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return key(*x).cmp(&key(*y));
        }
    }
    a.len().cmp(&b.len())
}

impl LocationTree {
    /// Builds the static tree from the prefix and exact locations of one
    /// level (any order). Duplicates keep the first, as nginx refuses them
    /// at `-t`.
    pub fn build(
        entries: Vec<StaticEntry>,
        regexes: Vec<LocationId>,
        named: Vec<LocationId>,
    ) -> Self {
        let mut sorted = entries;
        // ngx_queue_sort is a stable insertion sort.
        sorted.sort_by(|a, b| cmp_names(&a.name, &b.name).then_with(|| b.exact.cmp(&a.exact)));
        let mut queue: Vec<Queued> = Vec::with_capacity(sorted.len());
        for e in sorted {
            if let Some(last) = queue.last_mut()
                && last.name == e.name
            {
                // ngx_http_join_exact_locations
                if e.exact && last.exact.is_none() {
                    last.exact = Some(e.id);
                } else if !e.exact && last.inclusive.is_none() {
                    last.inclusive = Some(e.id);
                }
                last.auto_redirect |= e.auto_redirect;
                continue;
            }
            queue.push(Queued {
                name: e.name,
                exact: e.exact.then_some(e.id),
                inclusive: (!e.exact).then_some(e.id),
                auto_redirect: e.auto_redirect,
                list: Vec::new(),
            });
        }
        let queue = create_list(queue);
        let mut tree = LocationTree {
            nodes: Vec::new(),
            names: Vec::new(),
            root: None,
            regexes,
            named,
        };
        tree.root = tree.create_tree(queue, 0);
        tree
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none() && self.regexes.is_empty()
    }

    /// `ngx_http_create_locations_tree`: the middle entry becomes the node.
    fn create_tree(&mut self, mut queue: Vec<Queued>, prefix: usize) -> Option<u32> {
        if queue.is_empty() {
            return None;
        }
        let mid = queue.len() / 2;
        let right: Vec<Queued> = queue.split_off(mid + 1);
        let q = queue.pop()?;
        let left = queue;
        let index = self.nodes.len() as u32;
        let name = q.name.get(prefix..).unwrap_or_default();
        let start = self.names.len() as u32;
        self.names.extend_from_slice(name);
        self.nodes.push(Node {
            start,
            len: name.len() as u32,
            exact: q.exact,
            inclusive: q.inclusive,
            auto_redirect: q.auto_redirect,
            left: None,
            right: None,
            tree: None,
        });
        let l = self.create_tree(left, prefix);
        let r = self.create_tree(right, prefix);
        let t = self.create_tree(q.list, q.name.len());
        let node = &mut self.nodes[index as usize];
        node.left = l;
        node.right = r;
        node.tree = t;
        Some(index)
    }

    /// `ngx_http_core_find_static_location`.
    pub fn find_static(&self, uri: &[u8]) -> Static {
        let mut rv = Static::Declined;
        let mut node = self.root;
        let mut uri = uri;
        while let Some(i) = node {
            let n = &self.nodes[i as usize];
            let len = uri.len();
            let nlen = n.len as usize;
            let name = &self.names[n.start as usize..n.start as usize + nlen];
            let k = len.min(nlen);
            match cmp_names_n(&uri[..k], &name[..k]) {
                Ordering::Less => {
                    node = n.left;
                    continue;
                }
                Ordering::Greater => {
                    node = n.right;
                    continue;
                }
                Ordering::Equal => {}
            }
            if len > nlen {
                if let Some(inc) = n.inclusive {
                    rv = Static::Inclusive(inc);
                    node = n.tree;
                    uri = &uri[k..];
                    continue;
                }
                node = n.right;
                continue;
            }
            if len == nlen {
                return match (n.exact, n.inclusive) {
                    (Some(e), _) => Static::Exact(e),
                    (None, Some(inc)) => Static::Inclusive(inc),
                    (None, None) => rv,
                };
            }
            if len + 1 == nlen
                && n.auto_redirect
                && let Some(id) = n.exact.or(n.inclusive)
            {
                rv = Static::AutoRedirect(id);
            }
            node = n.left;
        }
        rv
    }
}

/// `ngx_filename_cmp` over equal-length slices.
fn cmp_names_n(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let key = |c: u8| if c == b'/' { 0u16 } else { c as u16 };
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => key(a[i]).cmp(&key(b[i])),
        None => Ordering::Equal,
    }
}

/// `ngx_http_create_locations_list`: every entry with an inclusive
/// location takes the following entries that start with its name.
fn create_list(queue: Vec<Queued>) -> Vec<Queued> {
    let mut out: Vec<Queued> = Vec::with_capacity(queue.len());
    let mut iter = queue.into_iter().peekable();
    while let Some(mut q) = iter.next() {
        if q.inclusive.is_some() {
            while let Some(next) = iter.peek() {
                if next.name.len() >= q.name.len() && next.name.starts_with(&q.name) {
                    if let Some(next) = iter.next() {
                        q.list.push(next);
                    }
                } else {
                    break;
                }
            }
            q.list = create_list(std::mem::take(&mut q.list));
        }
        out.push(q);
    }
    out
}

/// What the static search found (`NGX_OK`, `NGX_AGAIN`, `NGX_DONE`,
/// `NGX_DECLINED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Static {
    Exact(LocationId),
    Inclusive(LocationId),
    AutoRedirect(LocationId),
    Declined,
}

/// How the location of a request was chosen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// An `=` location.
    Exact,
    /// The longest prefix (no regex matched, or `^~`).
    Prefix,
    /// A regex location.
    Regex,
    /// nginx's 301 to the name with a trailing slash.
    AutoRedirect,
    /// No location matched: the server level applies.
    None,
    /// A jump to a named location (try_files, error_page).
    Named,
}

/// The result of [`find_location`].
#[derive(Debug, Clone)]
pub struct Found {
    pub location: LocationId,
    pub kind: MatchKind,
    /// The captures of the last regex location that matched.
    pub captures: Option<Captures>,
}

/// `ngx_http_core_find_location`, starting at the level `start` (the
/// server's level): returns the location whose configuration applies.
pub fn find_location(locations: &[Location], start: LocationId, uri: &[u8]) -> Found {
    let mut found = Found {
        location: start,
        kind: MatchKind::None,
        captures: None,
    };
    find_level(locations, start, uri, &mut found, 0);
    found
}

#[derive(PartialEq)]
enum Rc {
    Ok,
    Done,
    Again,
    Declined,
}

/// Nesting is bounded by the configuration; the depth guard only protects
/// against a malformed table.
const MAX_DEPTH: usize = 64;

fn find_level(
    locations: &[Location],
    level: LocationId,
    uri: &[u8],
    found: &mut Found,
    depth: usize,
) -> Rc {
    let Some(pclcf) = locations.get(level.index()) else {
        return Rc::Declined;
    };
    if depth > MAX_DEPTH {
        return Rc::Declined;
    }
    let mut noregex = false;
    let mut rc = match pclcf.tree.find_static(uri) {
        Static::Exact(id) => {
            found.location = id;
            found.kind = MatchKind::Exact;
            Rc::Ok
        }
        Static::AutoRedirect(id) => {
            found.location = id;
            found.kind = MatchKind::AutoRedirect;
            Rc::Done
        }
        Static::Inclusive(id) => {
            found.location = id;
            found.kind = MatchKind::Prefix;
            Rc::Again
        }
        Static::Declined => Rc::Declined,
    };
    if rc == Rc::Again {
        noregex = locations
            .get(found.location.index())
            .is_some_and(Location::noregex);
        rc = find_level(locations, found.location, uri, found, depth + 1);
    }
    if rc == Rc::Ok || rc == Rc::Done {
        return rc;
    }
    if !noregex {
        for &id in &pclcf.tree.regexes {
            let Some(loc) = locations.get(id.index()) else {
                continue;
            };
            let Some(re) = &loc.regex else { continue };
            // the cheap test first; captures only for the match
            if !re.is_match(uri) {
                continue;
            }
            if let Some(caps) = re.captures(uri) {
                found.location = id;
                found.kind = MatchKind::Regex;
                found.captures = Some(caps);
                // A regex location's nested search cannot redirect: nginx
                // turns its NGX_DONE into NGX_OK and uses that location.
                if find_level(locations, id, uri, found, depth + 1) == Rc::Done {
                    found.kind = MatchKind::Regex;
                }
                return Rc::Ok;
            }
        }
    }
    rc
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
