//! The proxy settings of the chosen location, for explanations: the values
//! `ngx_http_proxy_merge_loc_conf` leaves for proxy_buffer_size,
//! proxy_next_upstream (with its tries and timeout), proxy_request_buffering
//! and the response headers hidden by `ngx_http_upstream_hide_headers_hash`,
//! each with the directive that set it or "default".

use serde::Serialize;

use crate::request::Request;
use crate::timeouts::format_duration;

/// One setting as shown.
#[derive(Debug, Clone, Serialize)]
pub struct SettingInfo {
    pub name: &'static str,
    pub value: String,
    /// `file:line`, or `None` for nginx's default.
    pub source: Option<String>,
}

/// The settings of the location that proxies the request.
pub fn proxy_settings(r: &Request<'_>) -> Vec<SettingInfo> {
    let rt = r.rt;
    let conf = &rt.location(r.location).conf;
    let src = |span: Option<upgate_conf::Span>| span.map(|s| rt.source(s));
    let one = |name: &'static str, value: String, span: Option<upgate_conf::Span>| SettingInfo {
        name,
        value,
        source: src(span),
    };
    let size = conf.proxy_buffer_size.value;
    let size = if size.is_multiple_of(1024) {
        format!("{}k", size / 1024)
    } else {
        size.to_string()
    };
    let next = &conf.proxy_next_upstream;
    let mut conditions = next.value.conditions().join(" ");
    if conditions.is_empty() {
        conditions = "off".into();
    }
    if next.value.non_idempotent {
        conditions.push_str(" non_idempotent");
    }
    let tries = conf.proxy_next_upstream_tries.value;
    let timeout = conf.timeouts.proxy_next_upstream_timeout.value;
    vec![
        one(
            "proxy_http_version",
            conf.proxy_http_version
                .value
                .as_str()
                .trim_start_matches("HTTP/")
                .into(),
            conf.proxy_http_version.span,
        ),
        one("proxy_buffer_size", size, conf.proxy_buffer_size.span),
        one("proxy_next_upstream", conditions, next.span),
        one(
            "proxy_next_upstream_tries",
            if tries == 0 {
                "0 (no limit)".into()
            } else {
                tries.to_string()
            },
            conf.proxy_next_upstream_tries.span,
        ),
        SettingInfo {
            name: "proxy_next_upstream_timeout",
            value: if timeout.is_zero() {
                "0 (no limit)".into()
            } else {
                format_duration(timeout)
            },
            source: src(conf.timeouts.proxy_next_upstream_timeout.span),
        },
        one(
            "proxy_request_buffering",
            if conf.proxy_request_buffering.value {
                "on"
            } else {
                "off"
            }
            .into(),
            conf.proxy_request_buffering.span,
        ),
        one(
            "proxy_pass_request_headers",
            if conf.proxy_pass_request_headers.value {
                "on"
            } else {
                "off"
            }
            .into(),
            conf.proxy_pass_request_headers.span,
        ),
        SettingInfo {
            name: "hidden response headers",
            value: r.hidden_response_headers().join(" "),
            source: conf
                .proxy_hide_header
                .defined_at
                .as_ref()
                .map(|l| rt.source(l.span)),
        },
    ]
}
