//! The `# upgate:` pragmas of a level (see `upgate_conf::pragma`), merged
//! like the proxy_* timeouts they go with: a level takes its parent's
//! values and overrides those it sets.

use std::time::Duration;

use serde::Serialize;
use upgate_conf::pragma::{Pragma, PragmaValue};

use crate::timeouts::Setting;

/// What the pragmas make of a WebSocket tunnel. All off: the tunnel is
/// nginx's byte pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelPragmas {
    /// `websocket_ping`: the idle period after which a side is pinged.
    pub websocket_ping: Setting<Option<Duration>>,
    /// `websocket_close_on_timeout`: the close code sent at a timeout.
    pub websocket_close_on_timeout: Setting<Option<u16>>,
}

impl Default for TunnelPragmas {
    fn default() -> Self {
        TunnelPragmas {
            websocket_ping: Setting::default_value(None),
            websocket_close_on_timeout: Setting::default_value(None),
        }
    }
}

impl TunnelPragmas {
    /// The parent's values with the level's own pragmas applied.
    pub fn merge(parent: &TunnelPragmas, own: &[Pragma]) -> TunnelPragmas {
        let mut merged = parent.clone();
        for pragma in own {
            let span = pragma.span();
            match pragma.value {
                PragmaValue::WebsocketPing(period) => {
                    merged.websocket_ping = Setting::set(period, span);
                }
                PragmaValue::WebsocketCloseOnTimeout(code) => {
                    merged.websocket_close_on_timeout = Setting::set(code, span);
                }
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upgate_conf::{Comment, FileId, Span};

    fn pragmas(text: &str) -> Vec<Pragma> {
        let comment = Comment {
            text: text.as_bytes().to_vec(),
            span: Span::new(FileId(0), 0, 1 + text.len(), 1),
            trailing: false,
        };
        upgate_conf::pragma::parse(&comment)
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect()
    }

    #[test]
    fn a_level_overrides_what_it_sets_and_inherits_the_rest() {
        let http = TunnelPragmas::merge(
            &TunnelPragmas::default(),
            &pragmas(" upgate: websocket_ping 25s; websocket_close_on_timeout;"),
        );
        assert_eq!(http.websocket_ping.value, Some(Duration::from_secs(25)));
        let location = TunnelPragmas::merge(&http, &pragmas(" upgate: websocket_ping off;"));
        assert_eq!(location.websocket_ping.value, None);
        assert_eq!(location.websocket_close_on_timeout.value, Some(1001));
        let off = TunnelPragmas::merge(
            &location,
            &pragmas(" upgate: websocket_close_on_timeout off;"),
        );
        assert_eq!(off.websocket_ping.value, None);
        assert_eq!(off.websocket_close_on_timeout.value, None);
    }
}
