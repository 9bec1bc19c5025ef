//! What the rules look up besides the scopes: the `upstream` blocks (their
//! servers, balancer and keepalive), the `map` blocks, the variables the
//! configuration defines, and what a `proxy_pass` points at.

use rustc_hash::{FxHashMap, FxHashSet};
use upgate_conf::{Config, Directive, Word};

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

/// The configuration's http-level definitions.
#[derive(Debug, Default)]
pub struct Model<'a> {
    pub upstreams: Vec<Upstream<'a>>,
    upstream_index: FxHashMap<String, usize>,
    pub maps: Vec<Map<'a>>,
    /// Variables defined by `set`, `map`, `geo`, `split_clients`,
    /// `perl_set`, `js_set` and named regex captures (lowercase, no `$`).
    pub defined: FxHashSet<String>,
    /// The `http` block directives, in order.
    pub http_blocks: Vec<&'a Directive>,
}

impl<'a> Model<'a> {
    pub fn build(config: &'a Config) -> Self {
        let mut model = Model::default();
        config.walk(|d, parents| {
            let in_http = parents.first().is_some_and(|p| p.is("http"));
            let parent_is = |name: &str| parents.last().is_some_and(|p| p.is(name));
            for arg in &d.args {
                named_captures(arg.bytes(), &mut model.defined);
            }
            if d.is("http") && parents.is_empty() {
                model.http_blocks.push(d);
            }
            if !in_http {
                return;
            }
            let name = d.name.value.as_slice();
            match name {
                b"set" | b"perl_set" | b"js_set" => define(d.arg(0), &mut model.defined),
                b"split_clients" | b"map" if d.block.is_some() => {
                    define(d.arg(1), &mut model.defined)
                }
                b"geo" if d.block.is_some() => define(d.args.last(), &mut model.defined),
                _ => {}
            }
            if d.is("map")
                && parents.len() == 1
                && let (Some(source), Some(target)) = (d.arg(0), d.arg(1))
            {
                model.maps.push(Map {
                    directive: d,
                    source,
                    target: var_name(&target.text()),
                    entries: d.children().collect(),
                });
            }
            if d.is("upstream")
                && parents.len() == 1
                && let Some(name) = d.arg(0)
            {
                model.add_upstream(d, name.text().to_ascii_lowercase());
            }
            if parent_is("upstream")
                && parents.len() == 2
                && let Some(up) = model.upstreams.last_mut()
                && std::ptr::eq(up.directive, parents[1])
            {
                {
                    match name {
                        b"server" => up.servers.push(d),
                        b"ip_hash" | b"hash" | b"least_conn" | b"random" | b"sticky" => {
                            up.balancers.push(d)
                        }
                        b"keepalive" => up.keepalive = Some(d),
                        _ => {}
                    }
                }
            }
        });
        model
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

    /// The upstream block of this name (case-insensitive, like nginx).
    pub fn upstream(&self, name: &str) -> Option<&Upstream<'a>> {
        self.upstream_index
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.upstreams[i])
    }

    /// The upstream block a `proxy_pass` sends to, if it names one.
    pub fn upstream_of(&self, proxy_pass: &Directive) -> Option<&Upstream<'a>> {
        let target = ProxyTarget::parse(proxy_pass)?;
        self.upstream(&target.host)
    }

    pub fn map_for(&self, variable: &str) -> Option<&Map<'a>> {
        self.maps.iter().find(|m| m.target == variable)
    }
}

fn define(word: Option<&Word>, defined: &mut FxHashSet<String>) {
    if let Some(w) = word {
        defined.insert(var_name(&w.text()));
    }
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
                    defined
                        .insert(String::from_utf8_lossy(&value[start..end]).to_ascii_lowercase());
                }
            }
        }
        i += 1;
    }
}

/// What a `proxy_pass` without variables in its host points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    /// Lowercased host or upstream name.
    pub host: String,
    pub port: Option<u16>,
    /// The URI part (`/` in `http://b/`), if any.
    pub uri: Option<String>,
}

impl ProxyTarget {
    pub fn parse(proxy_pass: &Directive) -> Option<Self> {
        let url = proxy_pass.arg(0)?.text();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))?;
        if rest.starts_with("unix:") {
            return None;
        }
        let (authority, uri) = match rest.find('/') {
            Some(p) => (&rest[..p], Some(rest[p..].to_string())),
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
            host: host.to_ascii_lowercase(),
            port,
            uri,
        })
    }
}

/// The words of a path or a name, split at anything but letters and digits.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
        .flat_map(|t| {
            let t = t.to_ascii_lowercase();
            if t == "socket.io" {
                vec![t]
            } else {
                t.split('.').map(str::to_string).collect()
            }
        })
        .filter(|t| !t.is_empty())
}

/// Path words that say a location carries WebSocket traffic.
const WEBSOCKET_PATH_WORDS: &[&str] = &[
    "ws",
    "wss",
    "websocket",
    "websockets",
    "socket.io",
    "sockjs",
    "sockjs-node",
    "websockify",
    "cable",
    "signalr",
];

/// True when a location's path names WebSocket traffic (`/ws`, `/socket.io/`).
pub fn path_says_websocket(path: &str) -> bool {
    tokens(path).any(|t| WEBSOCKET_PATH_WORDS.contains(&t.as_str()))
}

/// True when an upstream's name says it serves WebSockets (`websocket`, `ws_backend`).
pub fn name_says_websocket(name: &str) -> bool {
    name.split(|c: char| !c.is_ascii_alphanumeric()).any(|t| {
        matches!(
            t.to_ascii_lowercase().as_str(),
            "ws" | "wss" | "websocket" | "websockets" | "socket" | "socketio"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_words() {
        assert!(path_says_websocket("/ws"));
        assert!(path_says_websocket("/socket.io/"));
        assert!(path_says_websocket("~ ^/api/websocket$"));
        assert!(!path_says_websocket("/news"));
        assert!(!path_says_websocket("/"));
        assert!(name_says_websocket("socket.kevin.com"));
        assert!(name_says_websocket("websocket"));
        assert!(name_says_websocket("ws_backend"));
        assert!(!name_says_websocket("backend"));
    }

    #[test]
    fn captures() {
        let mut set = FxHashSet::default();
        named_captures(b"^/(?<user>[a-z]+)/(?P<id>\\d+)", &mut set);
        assert!(set.contains("user") && set.contains("id"));
    }
}
