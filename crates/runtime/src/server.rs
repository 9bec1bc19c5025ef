//! A `server {}` block and the choice of server for a request:
//! `ngx_http_core_server_name` reads the names (lower-cased; a regex name is
//! caseless when it has an upper-case letter), `ngx_http_server_names`
//! (src/http/ngx_http.c) puts them in the address's table, and
//! `ngx_http_find_virtual_server` / `ngx_http_set_virtual_server`
//! (ngx_http_request.c) look the Host up in it, falling back to the
//! address's default server.

use serde::Serialize;
use upgate_conf::Span;

use crate::listen::{AddrConf, Listen};
use crate::location::LocationId;
use crate::regex::{Captures, Regex};
use crate::server_name::NameMatch;

/// Index of a server in [`crate::Runtime::servers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ServerId(pub u32);

impl ServerId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One `server_name` argument.
#[derive(Debug, Clone)]
pub struct ServerName {
    /// Lower-cased name, or the regex text after `~`.
    pub name: Vec<u8>,
    pub regex: Option<Regex>,
    pub span: Span,
}

/// A compiled `server {}` block.
#[derive(Debug, Clone)]
pub struct Server {
    /// The `server` directive.
    pub span: Span,
    pub listens: Vec<Listen>,
    /// In order; a server without `server_name` has the single name "".
    pub names: Vec<ServerName>,
    /// `$server_name`: the first name (`~regex` for a regex, `.x` as `x`).
    pub server_name: Vec<u8>,
    /// The server's own level; its tree holds the top-level locations.
    pub level: LocationId,
    /// `merge_slashes` (srv conf; the default server's applies to the URI).
    pub merge_slashes: bool,
    /// `cscf->captures`: whether the *last* regex server name has capture
    /// groups (nginx overwrites the flag for each regex name). A server
    /// alone on its address gets a name table only when this is set.
    pub captures: bool,
    /// `ignore_invalid_headers`, `underscores_in_headers`.
    pub ignore_invalid_headers: bool,
    pub underscores_in_headers: bool,
}

/// How the server was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "how")]
pub enum ServerMatch {
    /// The host equals a server name.
    Exact,
    /// A `*.x` / `.x` name.
    LeadingWildcard {
        #[serde(serialize_with = "crate::explain::ser_bytes")]
        base: Vec<u8>,
    },
    /// A `x.*` name.
    TrailingWildcard {
        #[serde(serialize_with = "crate::explain::ser_bytes")]
        base: Vec<u8>,
    },
    /// A `~regex` name (its index in the address's regex list).
    Regex { index: usize },
    /// No name matched: the address's default server.
    Default,
    /// The only server on the address: nginx does not look at names.
    Only,
}

/// `ngx_http_find_virtual_server` + the default-server fallback.
pub fn find_virtual_server(
    addr: &AddrConf,
    host: &[u8],
) -> (ServerId, ServerMatch, Option<Captures>) {
    if addr.servers.len() == 1 && addr.names.is_empty() {
        return (addr.default_server, ServerMatch::Only, None);
    }
    if let Some((&id, how)) = addr.names.find_hashed(host) {
        let how = match how {
            NameMatch::Exact => ServerMatch::Exact,
            NameMatch::LeadingWildcard(base) => ServerMatch::LeadingWildcard { base },
            NameMatch::TrailingWildcard(base) => ServerMatch::TrailingWildcard { base },
            NameMatch::Regex(index) => ServerMatch::Regex { index },
        };
        return (id, how, None);
    }
    if let Some((&id, index, caps)) = addr.names.find_regex(host) {
        return (id, ServerMatch::Regex { index }, Some(caps));
    }
    (addr.default_server, ServerMatch::Default, None)
}
