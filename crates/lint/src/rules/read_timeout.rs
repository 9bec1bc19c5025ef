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
    for p in &cx.proxied {
        if p.websocket.is_none() || rules::socket_io(cx, p.scope) {
            continue;
        }
        let pp = p.proxy_pass;
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
                            "proxy_read_timeout {value} is in force on a WebSocket location ({}); a tunnel silent that long in both directions is cut without a close frame",
                            rules::reason(cx, p)
                        ),
                    )
                    .related(pp.head_span(), "proxied here")
                    .help("send heartbeats (pings) more often than the timeout, or raise it, e.g. `proxy_read_timeout 1h;`"),
                );
            }
        }
    }
}
