//! The head of a proxied response as the client gets it: the codec's
//! [`ClientResponse`] (nginx's `ngx_http_header_filter` order) with the
//! location's proxy_hide_header / proxy_pass_header, then what the codec
//! leaves to the caller: `proxy_redirect` on Location and Refresh
//! (`ngx_http_upstream_rewrite_location`, `ngx_http_upstream_rewrite_refresh`,
//! `ngx_http_proxy_rewrite_complex_handler`) and the `add_header` lines
//! (ngx_http_headers_filter_module.c), which follow the upstream's headers.

use upgate_runtime::Request;
use upgate_runtime::proxy_pass::ProxyRedirect;

use crate::http1::response_writer::ClientFraming;
use crate::http1::{ClientResponse, HideHeaders, Keepalive, ResponseHead, ServerIdent, Version};

/// What shapes the head besides the upstream's response.
pub struct HeadInput<'a> {
    pub server: &'a ServerIdent,
    pub date: &'a [u8],
    pub keepalive: Keepalive,
    pub client_version: Version,
    pub head_request: bool,
    pub chunked_transfer_encoding: bool,
    /// proxy_hide_header / proxy_pass_header of the location.
    pub hide: &'a HideHeaders,
    /// The values known while serving, for add_header.
    pub vals: &'a crate::access_log::Values,
}

/// Writes the client's head for `head` into `out`.
pub fn write(
    r: &mut Request<'_>,
    head: &ResponseHead,
    input: &HeadInput<'_>,
    out: &mut Vec<u8>,
) -> ClientFraming {
    let rt = r.rt;
    let redirect = &rt.location(r.location).conf.proxy_redirect;

    // proxy_redirect on Location: a relative result is made absolute and
    // moves to the Location slot; an absolute one stays in place.
    let mut slot: Option<Vec<u8>> = None;
    let mut replace: Vec<(&'static [u8], Vec<u8>, Vec<u8>)> = Vec::new();
    if let Some(loc) = head.header(b"location")
        && let Some(new) = rewrite(r, redirect, loc, 0)
    {
        if new.first() == Some(&b'/') {
            slot = Some(r.absolute_location(&new));
        } else {
            replace.push((b"location", loc.to_vec(), new));
        }
    }
    if let Some(refresh) = head.header(b"refresh") {
        let lower = refresh.to_ascii_lowercase();
        if let Some(at) = lower.windows(4).position(|w| w == b"url=")
            && let Some(new) = rewrite(r, redirect, refresh, at + 4)
        {
            replace.push((b"refresh", refresh.to_vec(), new));
        }
    }
    let resp = ClientResponse {
        head,
        server: input.server,
        date: input.date,
        hide: input.hide,
        keepalive: input.keepalive,
        client_version: input.client_version,
        head_request: input.head_request,
        chunked_transfer_encoding: input.chunked_transfer_encoding,
        absolute_location: slot.as_deref(),
    };
    let start = out.len();
    let framing = resp.write_head(out);
    let mut extra = r.www_authenticate_lines();
    extra.extend(r.add_headers_with(head.status(), &|name| {
        crate::access_log::runtime_value(name, input.vals)
    }));
    if out.len() > start + 2 && (!replace.is_empty() || !extra.is_empty()) {
        let mut head_bytes = out.split_off(start);
        head_bytes.truncate(head_bytes.len() - 2); // the final CRLF
        for (name, old, new) in &replace {
            replace_line(&mut head_bytes, name, old, new);
        }
        for (name, value) in &extra {
            head_bytes.extend_from_slice(name);
            head_bytes.extend_from_slice(b": ");
            head_bytes.extend_from_slice(value);
            head_bytes.extend_from_slice(b"\r\n");
        }
        head_bytes.extend_from_slice(b"\r\n");
        out.extend_from_slice(&head_bytes);
    }
    framing
}

/// The header value with its part from `prefix` on rewritten by the first
/// matching rule, or `None`.
fn rewrite(
    r: &mut Request<'_>,
    redirect: &ProxyRedirect,
    value: &[u8],
    prefix: usize,
) -> Option<Vec<u8>> {
    if !matches!(redirect, ProxyRedirect::Rules(_)) {
        return None;
    }
    r.proxy_redirect_at(value, prefix)
}

/// Replaces the value of the first `name: old` line of a written head.
fn replace_line(head: &mut Vec<u8>, name: &[u8], old: &[u8], new: &[u8]) {
    let mut at = 0;
    while let Some(end) = head[at..].windows(2).position(|w| w == b"\r\n") {
        let line_end = at + end;
        let line = &head[at..line_end];
        if let Some(colon) = line.iter().position(|&c| c == b':') {
            let value = line[colon + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&line[colon + 1..]);
            if line[..colon].eq_ignore_ascii_case(name) && value == old {
                let vstart = line_end - value.len();
                head.splice(vstart..line_end, new.iter().copied());
                return;
            }
        }
        at = line_end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_in_place() {
        let mut h = b"HTTP/1.1 302 Found\r\nX: y\r\nRefresh: 5; url=http://b/x\r\n".to_vec();
        replace_line(&mut h, b"refresh", b"5; url=http://b/x", b"5; url=/x");
        assert_eq!(h, b"HTTP/1.1 302 Found\r\nX: y\r\nRefresh: 5; url=/x\r\n");
    }
}
