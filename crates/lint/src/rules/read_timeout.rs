//! `websocket-proxy-read-timeout` (warning): a WebSocket location left at
//! the default 60 s `proxy_read_timeout`, or given 60 s or less. In a tunnel
//! that timer bounds silence in both directions
//! (`ngx_http_upstream_process_upgraded`), so an idle WebSocket is cut
//! without a close frame. Advice, no fix: send heartbeats more often than
//! the timeout, raise it, or let upgate ping (`# upgate: websocket_ping`).
//! Socket.IO paths are skipped: Engine.IO pings every 25 s by default; so
//! are locations where upgate's pings come before the timeout (a pong
//! re-arms it), while pings that come too late are reported.

use upgate_conf::pragma::{self, Pragma, PragmaValue};

use crate::inherit::ScopeId;
use crate::rule::Severity;
use crate::rules;
use crate::{Cx, Finding};

pub const ID: &str = "websocket-proxy-read-timeout";

const DEFAULT_MS: u64 = 60_000;

const HELP: &str = "send heartbeats (pings) more often than the timeout, raise it, e.g. \
                    `proxy_read_timeout 1h;`, or let upgate ping both sides: \
                    `# upgate: websocket_ping 25s;`";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for p in &cx.proxied {
        if p.websocket.is_none() || rules::socket_io(cx, p.scope) {
            continue;
        }
        let pp = p.proxy_pass;
        let timeout_ms = match p.read_timeout {
            None => Some(DEFAULT_MS),
            Some(d) => d.arg(0).and_then(|v| rules::parse_time_ms(&v.text())),
        };
        if let (Some(ping), Some(timeout_ms)) = (ping_in_force(cx, p.scope), timeout_ms)
            && let PragmaValue::WebsocketPing(Some(period)) = ping.value
        {
            if period.as_millis() < u128::from(timeout_ms) {
                continue;
            }
            out.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    ping.span(),
                    format!(
                        "upgate's pings come after {} of silence, not before the proxy_read_timeout of {} that cuts the tunnel",
                        ping.args.first().map(|a| a.text().into_owned()).unwrap_or_default(),
                        p.read_timeout
                            .and_then(|d| d.arg(0))
                            .map_or_else(|| "60s (the default)".to_string(), |a| a.text().into_owned())
                    ),
                )
                .related(pp.head_span(), "proxied here")
                .help("make the ping period shorter than proxy_read_timeout"),
            );
            continue;
        }
        match p.read_timeout {
            None => out.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    pp.head_span(),
                    format!(
                        "this WebSocket location ({}) is left at the default proxy_read_timeout of 60s; a tunnel silent for 60 s in both directions is cut without a close frame",
                        rules::reason(cx, p)
                    ),
                )
                .help(HELP),
            ),
            Some(d) => {
                let Some(value) = d.arg(0) else { continue };
                let Some(ms) = rules::parse_time_ms(&value.text()) else {
                    continue;
                };
                if ms > DEFAULT_MS {
                    continue;
                }
                out.push(
                    Finding::new(
                        ID,
                        Severity::Warning,
                        d.head_span(),
                        format!(
                            "proxy_read_timeout {value} is in force on a WebSocket location ({}); a tunnel silent that long in both directions is cut without a close frame",
                            rules::reason(cx, p)
                        ),
                    )
                    .related(pp.head_span(), "proxied here")
                    .help(HELP),
                );
            }
        }
    }
}

/// The `websocket_ping` pragma in force at a scope: the innermost level
/// that has one.
fn ping_in_force(cx: &Cx<'_>, scope: ScopeId) -> Option<Pragma> {
    cx.scopes.chain(scope).find_map(|s| {
        let block = cx.scopes.get(s).directive.block.as_ref()?;
        pragma::of_block(cx.config, block)
            .into_iter()
            .rev()
            .find(|p| matches!(p.value, PragmaValue::WebsocketPing(_)))
    })
}
