//! `websocket-proxy-read-timeout` (warning): a WebSocket location left at
//! the default 60 s `proxy_read_timeout`, or given 60 s or less. In a tunnel
//! that timer bounds silence in both directions
//! (`ngx_http_upstream_process_upgraded`), so an idle WebSocket is cut
//! without a close frame. Advice, no fix: send heartbeats more often than
//! the timeout, or raise it. Socket.IO paths are skipped: Engine.IO pings
//! every 25 s by default.

use crate::rule::Severity;
use crate::rules;
use crate::{Cx, Finding};

pub const ID: &str = "websocket-proxy-read-timeout";

const DEFAULT_MS: u64 = 60_000;

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for s in cx.scopes.proxying() {
        let Some(reason) = rules::websocket_reason(cx, s) else {
            continue;
        };
        if rules::location_path(cx, s).is_some_and(|p| p.to_ascii_lowercase().contains("socket.io"))
        {
            continue;
        }
        let Some(pp) = cx.scopes.get(s).proxy_pass else {
            continue;
        };
        match cx.scopes.read_timeout(s) {
            None => out.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    pp.head_span(),
                    format!(
                        "this WebSocket location ({reason}) is left at the default proxy_read_timeout of 60s; a tunnel silent for 60 s in both directions is cut without a close frame"
                    ),
                )
                .help("send heartbeats (pings) more often than the timeout, or raise it, e.g. `proxy_read_timeout 1h;`"),
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
                            "proxy_read_timeout {value} is in force on a WebSocket location ({reason}); a tunnel silent that long in both directions is cut without a close frame"
                        ),
                    )
                    .related(pp.head_span(), "proxied here")
                    .help("send heartbeats (pings) more often than the timeout, or raise it, e.g. `proxy_read_timeout 1h;`"),
                );
            }
        }
    }
}
