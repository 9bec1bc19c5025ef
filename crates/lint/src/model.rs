//! What the rules look up besides the scopes: the `upstream` blocks (their
//! servers, balancer and keepalive), the `map` blocks, the variables the
//! configuration defines and uses, the `server_name`s, the
//! `limit_req_zone` / `limit_conn_zone` and `log_format` lines by name, and what a
//! `proxy_pass` points at. Built in one walk of the tree; names are
//! indexed, so every lookup is O(1).

use std::borrow::Cow;

use rustc_hash::{FxHashMap, FxHashSet};
use upgate_conf::{Config, Directive, Word};

use crate::facts::lowercase;
use crate::variables::{self, Space, Use};

/// One `upstream NAME { ... }` block of the http context.
#[derive(Debug)]
pub struct Upstream<'a> {
    pub directive: &'a Directive,
    pub name: String,
    pub servers: Vec<&'a Directive>,
    /// `ip_hash`, `hash`, `least_conn`, `random`, `sticky` as written.
    pub balancers: Vec<&'a Directive>,
    pub keepalive: Option<&'a Directive>,
}

impl Upstream<'_> {
    /// True when the balancer keeps a client on one server.
    pub fn is_sticky(&self) -> bool {
        self.balancers
            .iter()
            .any(|b| b.is("ip_hash") || b.is("hash") || b.is("sticky"))
    }
}

/// One `map SOURCE $TARGET { ... }` block of the http context.
#[derive(Debug)]
pub struct Map<'a> {
    pub directive: &'a Directive,
    pub source: &'a Word,
    /// The variable name without `$`, lowercased.
    pub target: String,
    /// Entries (`default`, keys, `hostnames`...) as directives: name = key,
    /// first argument = value.
    pub entries: Vec<&'a Directive>,
}

impl<'a> Map<'a> {
    /// The entry for the empty key (`'' close;`).
    pub fn empty_key(&self) -> Option<&'a Directive> {
        self.entries
            .iter()
            .copied()
            .find(|e| e.name.value.is_empty() && e.name.is_quoted())
    }
}

/// The configuration's definitions and variable uses.
#[derive(Debug, Default)]
pub struct Model<'a> {
    pub upstreams: Vec<Upstream<'a>>,
    upstream_index: FxHashMap<String, usize>,
    pub maps: Vec<Map<'a>>,
    map_index: FxHashMap<String, usize>,
    /// Targets of maps whose source is `$http_upgrade`.
    upgrade_maps: FxHashSet<String>,
    /// http variables defined by `set`, `map`, `geo`, `split_clients`,
    /// `perl_set`, `js_set`, `auth_request_set` and named regex captures
    /// (lowercase, no `$`).
    pub defined: FxHashSet<String>,
    /// The same for the stream context.
    pub stream_defined: FxHashSet<String>,
    /// Uses of variables that are not built in (defined or not).
    pub uses: Vec<Use<'a>>,
    /// The `server_name` arguments (names, not regexes or wildcards).
    pub server_names: Vec<&'a Word>,
    /// The `http` block directives, in order.
    pub http_blocks: Vec<&'a Directive>,
    /// `limit_req_zone` and `limit_conn_zone` lines by zone name (shared
    /// memory zones share one namespace); the first of a name.
    limit_zones: FxHashMap<Vec<u8>, &'a Directive>,
    /// `log_format` lines by name.
    log_formats: FxHashMap<Vec<u8>, &'a Directive>,
}

impl<'a> Model<'a> {
    pub fn build(config: &'a Config) -> Self {
        let mut model = Model::default();
        config.walk(|d, parents| model.visit(d, parents));
        model
    }

    fn visit(&mut self, d: &'a Directive, parents: &[&'a Directive]) {
        if d.is("http") && parents.is_empty() {
            self.http_blocks.push(d);
        }
        let Some(space) = Space::of(parents) else {
            return;
        };
        let captures = match space {
            Space::Http => &mut self.defined,
            Space::Stream => &mut self.stream_defined,
        };
        for arg in &d.args {
            if arg.value.contains(&b'(') {
                named_captures(&arg.value, captures);
            }
        }
        if let Some(name) = variables::defines(d, space) {
            captures.insert(var_name(&name.text()));
        }
        variables::uses(d, parents, space, &mut |u| {
            if !variables::is_builtin(u.name, u.space) {
                self.uses.push(u);
            }
        });
        if space == Space::Stream {
            return;
        }
        let parent_is = |name: &str| parents.last().is_some_and(|p| p.is(name));
        match d.name.value.as_slice() {
            b"map" if parents.len() == 1 => self.add_map(d),
            b"upstream" if parents.len() == 1 => {
                if let Some(name) = d.arg(0) {
                    self.add_upstream(d, name.text().to_ascii_lowercase());
                }
            }
            b"limit_req_zone" | b"limit_conn_zone" if parents.len() == 1 => {
                if let Some(name) = d.args.iter().find_map(|a| a.value.strip_prefix(b"zone=")) {
                    let name = name.split(|&c| c == b':').next().unwrap_or_default();
                    self.limit_zones.entry(name.to_vec()).or_insert(d);
                }
            }
            b"log_format" if parents.len() == 1 => {
                if let Some(name) = d.arg(0) {
                    self.log_formats.entry(name.value.clone()).or_insert(d);
                }
            }
            b"server_name" if parent_is("server") => {
                self.server_names
                    .extend(d.args.iter().filter(|a| plain_name(a)));
            }
            name if parent_is("upstream") && parents.len() == 2 => {
                let Some(up) = self.upstreams.last_mut() else {
                    return;
                };
                if !std::ptr::eq(up.directive, parents[1]) {
                    return;
                }
                match name {
                    b"server" => up.servers.push(d),
                    b"ip_hash" | b"hash" | b"least_conn" | b"random" | b"sticky" => {
                        up.balancers.push(d)
                    }
                    b"keepalive" => up.keepalive = Some(d),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn add_map(&mut self, d: &'a Directive) {
        let (Some(source), Some(target)) = (d.arg(0), d.arg(1)) else {
            return;
        };
        let target = var_name(&target.text());
        if source.value.eq_ignore_ascii_case(b"$http_upgrade") {
            self.upgrade_maps.insert(target.clone());
        }
        self.map_index
            .entry(target.clone())
            .or_insert(self.maps.len());
        self.maps.push(Map {
            directive: d,
            source,
            target,
            entries: d.children().collect(),
        });
    }

    fn add_upstream(&mut self, d: &'a Directive, name: String) {
        self.upstream_index
            .entry(name.clone())
            .or_insert(self.upstreams.len());
        self.upstreams.push(Upstream {
            directive: d,
            name,
            servers: Vec::new(),
            balancers: Vec::new(),
            keepalive: None,
        });
    }

    /// The index of the upstream block of this name (case-insensitive, like nginx).
    pub fn upstream_index(&self, name: &str) -> Option<usize> {
        self.upstream_index.get(lowercase(name).as_ref()).copied()
    }

    /// The upstream block of this name (case-insensitive, like nginx).
    pub fn upstream(&self, name: &str) -> Option<&Upstream<'a>> {
        self.upstream_index(name).map(|i| &self.upstreams[i])
    }

    /// The first map that defines `$variable` (any case, no `$`).
    pub fn map_for(&self, variable: &[u8]) -> Option<&Map<'a>> {
        let name = std::str::from_utf8(variable).ok()?;
        self.map_index
            .get(lowercase(name).as_ref())
            .map(|&i| &self.maps[i])
    }

    /// True when `$variable` is a map of `$http_upgrade`.
    pub fn maps_upgrade(&self, variable: &[u8]) -> bool {
        std::str::from_utf8(variable)
            .is_ok_and(|name| self.upgrade_maps.contains(lowercase(name).as_ref()))
    }

    /// The `limit_req_zone` / `limit_conn_zone` line of a zone.
    pub fn limit_zone(&self, name: &[u8]) -> Option<&'a Directive> {
        self.limit_zones.get(name).copied()
    }

    /// The `log_format` line of a name.
    pub fn log_format(&self, name: &[u8]) -> Option<&'a Directive> {
        self.log_formats.get(name).copied()
    }

    /// True when the http context defines `$name` (lowercase, no `$`).
    pub fn defines(&self, name: &str) -> bool {
        self.defined.contains(name)
    }
}

/// A `server_name` argument that is a host name (not `_`, a regex, a
/// wildcard or empty).
fn plain_name(w: &Word) -> bool {
    let v = &w.value;
    !v.is_empty()
        && v.as_slice() != b"_"
        && !v.starts_with(b"~")
        && !v.contains(&b'*')
        && !v.starts_with(b".")
        && !v.contains(&b'$')
}

/// `$Name` / `${name}` -> `name`.
pub fn var_name(text: &str) -> String {
    text.trim_start_matches('$')
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// `(?<name>...)`, `(?P<name>...)` and `(?'name'...)` in a regex define `$name`.
fn named_captures(value: &[u8], defined: &mut FxHashSet<String>) {
    let mut i = 0;
    while i + 3 < value.len() {
        if &value[i..i + 2] == b"(?" {
            let mut j = i + 2;
            if value.get(j) == Some(&b'P') {
                j += 1;
            }
            if matches!(value.get(j), Some(b'<') | Some(b'\'')) {
                let start = j + 1;
                let end = value[start..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .map_or(value.len(), |p| start + p);
                if end > start && matches!(value.get(end), Some(b'>') | Some(b'\'')) {
                    let name = String::from_utf8_lossy(&value[start..end]);
                    if !defined.contains(name.as_ref()) {
                        defined.insert(name.to_ascii_lowercase());
                    }
                }
            }
        }
        i += 1;
    }
}

/// What a `proxy_pass` without variables in its host points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget<'a> {
    /// Lowercased host or upstream name.
    pub host: Cow<'a, str>,
    pub port: Option<u16>,
    /// The URI part (`/` in `http://b/`), if any.
    pub uri: Option<&'a str>,
}

impl<'a> ProxyTarget<'a> {
    pub fn parse(proxy_pass: &'a Directive) -> Option<Self> {
        let url = std::str::from_utf8(&proxy_pass.arg(0)?.value).ok()?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))?;
        if rest.starts_with("unix:") {
            return None;
        }
        let (authority, uri) = match rest.find('/') {
            Some(p) => (&rest[..p], Some(&rest[p..])),
            None => (rest, None),
        };
        if authority.contains('$') {
            return None;
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h, p.parse::<u16>().ok())
            }
            _ => (authority, None),
        };
        Some(ProxyTarget {
            host: lowercase(host),
            port,
            uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures() {
        let mut set = FxHashSet::default();
        named_captures(b"^/(?<user>[a-z]+)/(?P<id>\\d+)", &mut set);
        assert!(set.contains("user") && set.contains("id"));
    }

    #[test]
    fn targets() {
        let config = upgate_conf::parse_file(
            std::path::Path::new("t"),
            b"proxy_pass http://Backend:8080/x/;".to_vec(),
        );
        let mut found = None;
        config.walk(|d, _| found = ProxyTarget::parse(d));
        let Some(t) = found else { panic!("no target") };
        assert_eq!(
            (t.host.as_ref(), t.port, t.uri),
            ("backend", Some(8080), Some("/x/"))
        );
    }
}
