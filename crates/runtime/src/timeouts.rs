//! Time, size and retry settings of a location: `ngx_parse_time` and
//! `ngx_parse_size` (src/core/ngx_parse.c) as the msec/size slots use them,
//! and the values `ngx_http_proxy_merge_loc_conf` /
//! `ngx_http_core_merge_loc_conf` fall back to: proxy_connect_timeout,
//! proxy_read_timeout, proxy_send_timeout and send_timeout 60s,
//! proxy_next_upstream "error timeout" with no limit on tries or time,
//! proxy_buffer_size one memory page (4k).

use std::time::Duration;

use serde::Serialize;
use upgate_conf::Span;

/// A value and the directive that set it (`None`: nginx's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    pub value: T,
    #[serde(skip)]
    pub span: Option<Span>,
}

impl<T> Setting<T> {
    pub fn default_value(value: T) -> Self {
        Setting { value, span: None }
    }

    pub fn set(value: T, span: Span) -> Self {
        Setting {
            value,
            span: Some(span),
        }
    }

    pub fn is_default(&self) -> bool {
        self.span.is_none()
    }
}

/// The timers nginx runs for a proxied request and its tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    pub proxy_connect_timeout: Setting<Duration>,
    /// Between two reads from the upstream; in a WebSocket tunnel, the
    /// longest silence in both directions.
    pub proxy_read_timeout: Setting<Duration>,
    /// Between two writes to the upstream (only while a write is blocked).
    pub proxy_send_timeout: Setting<Duration>,
    /// Between two writes to the client (only while a write is blocked).
    pub send_timeout: Setting<Duration>,
    /// `proxy_next_upstream_timeout` (0: no limit).
    pub proxy_next_upstream_timeout: Setting<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        let sixty = Setting::default_value(Duration::from_secs(60));
        Timeouts {
            proxy_connect_timeout: sixty.clone(),
            proxy_read_timeout: sixty.clone(),
            proxy_send_timeout: sixty.clone(),
            send_timeout: sixty,
            proxy_next_upstream_timeout: Setting::default_value(Duration::ZERO),
        }
    }
}

/// `proxy_next_upstream`: when a failed attempt moves to the next server
/// (`ngx_http_proxy_next_upstream_masks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextUpstream {
    /// Bits of [`NEXT_UPSTREAM`]; 0 for `off`.
    pub mask: u16,
    /// `non_idempotent`: also retry POST, LOCK and PATCH.
    pub non_idempotent: bool,
}

/// The conditions of `proxy_next_upstream`, in nginx's order.
pub const NEXT_UPSTREAM: &[&str] = &[
    "error",
    "timeout",
    "invalid_header",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "http_403",
    "http_404",
    "http_429",
    "updating",
];

impl NextUpstream {
    /// Reads the directive's arguments.
    pub fn parse<'a>(words: impl Iterator<Item = &'a [u8]>) -> NextUpstream {
        let mut n = NextUpstream {
            mask: 0,
            non_idempotent: false,
        };
        for w in words {
            if w == b"non_idempotent" {
                n.non_idempotent = true;
            } else if let Some(i) = NEXT_UPSTREAM.iter().position(|c| c.as_bytes() == w) {
                n.mask |= 1 << i;
            }
        }
        n
    }

    /// The conditions set, by name.
    pub fn conditions(&self) -> Vec<&'static str> {
        NEXT_UPSTREAM
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mask & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect()
    }
}

impl Serialize for NextUpstream {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.conditions().serialize(s)
    }
}

impl Default for NextUpstream {
    fn default() -> Self {
        NextUpstream {
            mask: 0b11,
            non_idempotent: false,
        }
    }
}

/// `ngx_parse_time` for the msec slots (upgate_conf's parser, the one `-t`
/// checks with), as a [`Duration`].
pub fn parse_time(text: &[u8]) -> Option<Duration> {
    let ms = upgate_conf::values::parse_time(text, false)?;
    Some(Duration::from_millis(u64::try_from(ms).ok()?))
}

/// `ngx_parse_offset`: a number with an optional k, m or g.
pub fn parse_size(text: &[u8]) -> Option<u64> {
    upgate_conf::values::parse_offset(text).and_then(|n| u64::try_from(n).ok())
}

/// A duration the way nginx configs write it: `600s`, `1500ms`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0".into()
    } else if ms.is_multiple_of(3_600_000) && ms >= 7_200_000 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time(b"600"), Some(Duration::from_secs(600)));
        assert_eq!(parse_time(b"60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_time(b"1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_time(b"500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_time(b"1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_time(b"s"), None);
        assert_eq!(parse_time(b"1s1m"), None);
        assert_eq!(format_duration(Duration::from_secs(600)), "600s");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(b"4k"), Some(4096));
        assert_eq!(parse_size(b"1m"), Some(1 << 20));
        assert_eq!(parse_size(b"12"), Some(12));
        assert_eq!(parse_size(b"k"), None);
    }
}
