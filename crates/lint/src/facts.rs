//! What every rule asks about a proxying block, computed once when the
//! context is built: its parsed `proxy_pass` target and upstream block, the
//! `Upgrade` and `Connection` lines in force after inheritance (and what the
//! Connection value sends), the `proxy_http_version` and
//! `proxy_read_timeout` in force, and whether (and why) it carries
//! WebSocket traffic. Rules read [`Proxied`]; none walks the scope chain or
//! reparses a target.

use std::borrow::Cow;

use upgate_conf::Directive;

use crate::inherit::{ScopeId, ScopeKind, Scopes, find_header};
use crate::model::{Model, ProxyTarget};

/// What a `proxy_set_header Connection VALUE` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    /// A literal containing "upgrade".
    Upgrade,
    /// A map of `$http_upgrade` (upgrade for upgrade requests only).
    Map,
    /// `$http_connection`: the client's own header.
    Client,
    /// `""`: no Connection header.
    Cleared,
    /// Anything else (`close`, `keep-alive`, another variable).
    Other,
}

/// Why a proxying block counts as WebSocket traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Websocket {
    /// Its headers ask for an upgrade.
    Headers,
    /// The path of this location (itself or an enclosing one) says so.
    Path(ScopeId),
    /// The upstream name says so.
    Upstream,
}

/// The facts of one block with its own `proxy_pass`.
#[derive(Debug)]
pub struct Proxied<'a> {
    pub scope: ScopeId,
    pub proxy_pass: &'a Directive,
    /// None for targets with variables, `unix:` sockets and non-HTTP URLs.
    pub target: Option<ProxyTarget<'a>>,
    /// Index into [`Model::upstreams`] of the upstream block it names.
    pub upstream: Option<usize>,
    /// The `proxy_set_header Upgrade` line in force.
    pub upgrade: Option<&'a Directive>,
    /// The `proxy_set_header Connection` line in force and what it sends.
    pub connection: Option<(&'a Directive, Conn)>,
    pub http_version: Option<&'a Directive>,
    pub read_timeout: Option<&'a Directive>,
    pub websocket: Option<Websocket>,
}

/// Facts of every proxying block, in scope order.
pub fn build<'a>(scopes: &Scopes<'a>, model: &Model<'a>) -> Vec<Proxied<'a>> {
    // The innermost location whose path says WebSocket, per scope, found
    // for the chains of proxying scopes only.
    let mut ws_path: Vec<Option<Option<ScopeId>>> = vec![None; scopes.all.len()];
    scopes
        .proxying()
        .filter_map(|s| {
            let scope = scopes.get(s);
            let proxy_pass = scope.proxy_pass?;
            let target = ProxyTarget::parse(proxy_pass);
            let upstream = target.as_ref().and_then(|t| model.upstream_index(&t.host));
            let list = scopes.set_headers(s).map(|(_, l)| l).unwrap_or_default();
            let upgrade = find_header(list, "Upgrade");
            let connection =
                find_header(list, "Connection").map(|d| (d, connection_kind(model, d)));
            let headers = upgrade.is_some()
                || connection.is_some_and(|(_, k)| matches!(k, Conn::Upgrade | Conn::Map));
            let websocket = if headers {
                Some(Websocket::Headers)
            } else if let Some(l) = ws_location(scopes, &mut ws_path, s) {
                Some(Websocket::Path(l))
            } else {
                target
                    .as_ref()
                    .is_some_and(|t| name_says_websocket(&t.host))
                    .then_some(Websocket::Upstream)
            };
            Some(Proxied {
                scope: s,
                proxy_pass,
                target,
                upstream,
                upgrade,
                connection,
                http_version: scope.in_force.http_version,
                read_timeout: scope.in_force.read_timeout,
                websocket,
            })
        })
        .collect()
}

/// The innermost location of `s`'s chain whose path says WebSocket.
fn ws_location(
    scopes: &Scopes<'_>,
    memo: &mut [Option<Option<ScopeId>>],
    s: ScopeId,
) -> Option<ScopeId> {
    if let Some(known) = memo[s] {
        return known;
    }
    let scope = scopes.get(s);
    let own = scope.kind == ScopeKind::Location
        && scope
            .directive
            .args
            .iter()
            .any(|a| path_says_websocket(&a.value));
    let found = if own {
        Some(s)
    } else {
        scope.parent.and_then(|p| ws_location(scopes, memo, p))
    };
    memo[s] = Some(found);
    found
}

impl Proxied<'_> {
    /// Why this is WebSocket traffic, for messages.
    pub fn reason(&self, scopes: &Scopes<'_>) -> Option<String> {
        Some(match self.websocket? {
            Websocket::Headers => "its headers ask for an upgrade".into(),
            Websocket::Path(l) => format!("its path \"{}\" says so", location_path(scopes, l)),
            Websocket::Upstream => format!(
                "its upstream \"{}\" says so",
                self.target.as_ref().map_or("", |t| &t.host)
            ),
        })
    }
}

/// The path of a location as written (`~ ^/ws`).
pub fn location_path(scopes: &Scopes<'_>, location: ScopeId) -> String {
    let args = &scopes.get(location).directive.args;
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&a.text());
    }
    out
}

/// What a `proxy_set_header Connection VALUE` line sends.
pub fn connection_kind(model: &Model<'_>, d: &Directive) -> Conn {
    let Some(value) = d.arg(1).map(|v| v.value.as_slice()) else {
        return Conn::Other;
    };
    if value.is_empty() {
        return Conn::Cleared;
    }
    if !value.contains(&b'$') {
        return if contains_ignore_case(value, b"upgrade") {
            Conn::Upgrade
        } else {
            Conn::Other
        };
    }
    let mut kind = Conn::Other;
    for_each_variable(value, |name| {
        if name.eq_ignore_ascii_case(b"http_connection") {
            kind = Conn::Client;
        } else if kind == Conn::Other
            && (name.eq_ignore_ascii_case(b"connection_upgrade") || model.maps_upgrade(name))
        {
            kind = Conn::Map;
        }
    });
    kind
}

/// Calls `f` with each `$name` / `${name}` of a value.
pub fn for_each_variable(value: &[u8], mut f: impl FnMut(&[u8])) {
    let mut i = 0;
    while i < value.len() {
        if value[i] != b'$' {
            i += 1;
            continue;
        }
        i += 1;
        if value.get(i) == Some(&b'{') {
            i += 1;
        }
        let start = i;
        while i < value.len() && (value[i].is_ascii_alphanumeric() || value[i] == b'_') {
            i += 1;
        }
        if i > start {
            f(&value[start..i]);
        }
    }
}

/// ASCII case-insensitive substring test.
pub fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Path words that say a location carries WebSocket traffic.
const WEBSOCKET_PATH_WORDS: &[&[u8]] = &[
    b"ws",
    b"wss",
    b"websocket",
    b"websockets",
    b"socket.io",
    b"sockjs",
    b"sockjs-node",
    b"websockify",
    b"cable",
    b"signalr",
];

/// True when a location's path names WebSocket traffic (`/ws`, `/socket.io/`).
pub fn path_says_websocket(path: &[u8]) -> bool {
    path.split(|c| !c.is_ascii_alphanumeric() && *c != b'.')
        .any(|token| {
            token.eq_ignore_ascii_case(b"socket.io")
                || token.split(|c| *c == b'.').any(|t| {
                    WEBSOCKET_PATH_WORDS
                        .iter()
                        .any(|w| t.eq_ignore_ascii_case(w))
                })
        })
}

/// True when an upstream's name says it serves WebSockets (`websocket`, `ws_backend`).
pub fn name_says_websocket(name: &str) -> bool {
    const WORDS: &[&str] = &["ws", "wss", "websocket", "websockets", "socket", "socketio"];
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|t| WORDS.iter().any(|w| t.eq_ignore_ascii_case(w)))
}

/// A host name as nginx compares it: lowercase, borrowed when it already is.
pub fn lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_words() {
        assert!(path_says_websocket(b"/ws"));
        assert!(path_says_websocket(b"/socket.io/"));
        assert!(path_says_websocket(b"^/api/WebSocket$"));
        assert!(path_says_websocket(b"/sockjs-node"));
        assert!(!path_says_websocket(b"/news"));
        assert!(!path_says_websocket(b"/"));
        assert!(name_says_websocket("socket.kevin.com"));
        assert!(name_says_websocket("websocket"));
        assert!(name_says_websocket("ws_backend"));
        assert!(!name_says_websocket("backend"));
    }

    #[test]
    fn variables_of_a_value() {
        let mut names = Vec::new();
        for_each_variable(b"$a-${b}c$1", |n| names.push(n.to_vec()));
        assert_eq!(names, vec![b"a".to_vec(), b"b".to_vec(), b"1".to_vec()]);
        assert!(contains_ignore_case(b"keep-alive, Upgrade", b"upgrade"));
    }
}
