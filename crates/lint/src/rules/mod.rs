//! One module per rule (doc, check, fix, tests), and the questions several
//! rules ask about a proxying scope beyond its [`crate::facts`]: was a
//! header lost to inheritance, which Connection line to add, where a line
//! can be added.

pub mod access_unreachable;
pub mod add_header_loss;
pub mod certificate;
pub mod connection_literal;
pub mod double_slash;
pub mod empty_glob;
pub mod forwarded_proto;
pub mod hidden_upgrade;
pub mod http_version;
pub mod inheritance_loss;
pub mod keepalive;
pub mod missing_headers;
pub mod missing_map;
pub mod nginx_config_error;
pub mod proxy_ssl_verify;
pub mod read_timeout;
pub mod realip_every;
pub mod realip_missing;
pub mod ssl_protocols;
pub mod sticky;
pub mod unknown_upstream;
pub mod unknown_variable;
pub mod websocket_auth;
pub mod websocket_burst;
pub mod wss_without_tls;

#[cfg(test)]
mod tests;

use crate::Cx;
pub use crate::facts::Conn;
use crate::facts::{self, Proxied};
use crate::fix::Edit;
use crate::inherit::{ScopeId, ScopeKind};

/// Why a proxying block counts as WebSocket traffic, for messages.
pub fn reason(cx: &Cx<'_>, p: &Proxied<'_>) -> String {
    p.reason(&cx.scopes).unwrap_or_default()
}

/// True when the path of the location a scope belongs to mentions Socket.IO.
pub fn socket_io(cx: &Cx<'_>, s: ScopeId) -> bool {
    cx.scopes.location(s).is_some_and(|l| {
        cx.scopes
            .get(l)
            .directive
            .args
            .iter()
            .any(|a| facts::contains_ignore_case(&a.value, b"socket.io"))
    })
}

/// True when `name` was set by a list above the one in force and dropped by
/// it (reported by proxy-set-header-inheritance-loss instead).
pub fn lost_by_inheritance(cx: &Cx<'_>, s: ScopeId, name: &str) -> bool {
    let Some((owner, _)) = cx.scopes.set_headers(s) else {
        return false;
    };
    let Some(parent) = cx.scopes.get(owner).parent else {
        return false;
    };
    cx.scopes.header(parent, name).is_some()
}

/// The line that sends `Connection: upgrade` for upgrade requests only,
/// when the `$connection_upgrade` map exists or can be added (compute once
/// per rule: it tries the map's insertion).
pub fn connection_line(cx: &Cx<'_>) -> String {
    if cx.model.defines("connection_upgrade") || missing_map::map_edit(cx).is_some() {
        "proxy_set_header Connection $connection_upgrade;".into()
    } else {
        "proxy_set_header Connection \"upgrade\";".into()
    }
}

/// Edits that add `proxy_set_header` lines to the location of scope `s`
/// without losing what it inherits: after its own list when it has one,
/// else the inherited list is copied down first.
pub fn add_set_header_lines(cx: &Cx<'_>, s: ScopeId, lines: &[String]) -> Option<(ScopeId, Edit)> {
    let l = match cx.scopes.get(s).kind {
        ScopeKind::If | ScopeKind::LimitExcept => cx.scopes.location(s)?,
        _ => s,
    };
    let scope = cx.scopes.get(l);
    if let Some(last) = scope.set_header.last() {
        return Some((l, cx.text.insert_after(last, lines)));
    }
    let mut all: Vec<String> = cx
        .scopes
        .set_headers(l)
        .map(|(_, list)| list.iter().map(|d| cx.text.source_of(d)).collect())
        .unwrap_or_default();
    all.extend(lines.iter().cloned());
    let edit = match scope.proxy_pass {
        Some(pp) if cx.editable(pp.file()) => cx.text.insert_after(pp, &all),
        _ => cx.text.insert_block_start(scope.directive, &all),
    };
    Some((l, edit))
}

/// nginx's time syntax (`60`, `60s`, `1m30s`, `500ms`) in milliseconds.
pub fn parse_time_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num: Option<u64> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            num = Some(
                num.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(b - b'0'))?,
            );
            i += 1;
            continue;
        }
        let n = num.take()?;
        let (unit, len) = match (b, bytes.get(i + 1)) {
            (b'm', Some(b's')) => (1, 2),
            (b'm', _) => (60_000, 1),
            (b's', _) => (1000, 1),
            (b'h', _) => (3_600_000, 1),
            (b'd', _) => (86_400_000, 1),
            (b'w', _) => (604_800_000, 1),
            (b'M', _) => (2_592_000_000, 1),
            (b'y', _) => (31_536_000_000, 1),
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        i += len;
    }
    if let Some(n) = num {
        total = total.checked_add(n.checked_mul(1000)?)?;
    }
    Some(total)
}
