//! The response head the client gets, in nginx's order: `ngx_http_header_filter`
//! (src/http/ngx_http_header_filter_module.c) after
//! `ngx_http_upstream_process_headers` (src/http/ngx_http_upstream.c) copied
//! the upstream's headers and `ngx_http_chunked_header_filter` chose the
//! framing:
//!
//! ```text
//! HTTP/1.1 <upstream's code and reason, verbatim>
//! Server, Date            nginx's own, unless proxy_pass_header passes the upstream's
//! Content-Type            the upstream's first one
//! Content-Length          regenerated from the parsed value
//! Location                only when made absolute here
//! Transfer-Encoding: chunked
//! Connection: upgrade (every 101) | keep-alive [+ Keep-Alive: timeout=N] | close
//! the other upstream headers in order
//! ```
//!
//! The upstream's Connection, Keep-Alive, Transfer-Encoding and Content-Length
//! lines are never copied; Date, Server, X-Pad and five X-Accel-* are hidden by
//! default; the upstream's Upgrade is never hidden.

// Writing to a Vec cannot fail: `write!` results are ignored.
use std::io::Write as _;

use super::error_page::write_status;
use super::response::ResponseHead;
use super::server_tokens::ServerIdent;
use super::{Version, eq_ignore_case};

/// The client connection's keepalive state for this response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keepalive {
    /// `Connection: close`.
    Close,
    /// `Connection: keep-alive`, plus `Keep-Alive: timeout=N` when
    /// keepalive_timeout has a second parameter.
    KeepAlive {
        /// keepalive_timeout's header timeout, in seconds.
        header_timeout: Option<u64>,
    },
}

impl Keepalive {
    pub(crate) fn write(self, out: &mut Vec<u8>) {
        match self {
            Keepalive::Close => out.extend_from_slice(b"Connection: close\r\n"),
            Keepalive::KeepAlive { header_timeout } => {
                out.extend_from_slice(b"Connection: keep-alive\r\n");
                if let Some(t) = header_timeout {
                    let _ = write!(out, "Keep-Alive: timeout={t}\r\n");
                }
            }
        }
    }
}

/// `proxy_hide_header` / `proxy_pass_header` resolved for one location: the
/// built-in list (`ngx_http_proxy_hide_headers[]`) plus hidden names minus
/// passed names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HideHeaders {
    hidden: Vec<Box<[u8]>>,
    /// Bit `n` set: a hidden name is `n` bytes long (bit 63: 63 or more).
    /// Every upstream header is looked up, and most lengths match none.
    lengths: u64,
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// nginx's built-in hidden response headers.
pub const DEFAULT_HIDDEN: [&str; 8] = [
    "Date",
    "Server",
    "X-Pad",
    "X-Accel-Expires",
    "X-Accel-Redirect",
    "X-Accel-Limit-Rate",
    "X-Accel-Buffering",
    "X-Accel-Charset",
];

impl HideHeaders {
    /// The built-in list, plus `hide`, minus `pass`.
    pub fn new(hide: &[&[u8]], pass: &[&[u8]]) -> Self {
        let mut hidden: Vec<Box<[u8]>> = Vec::new();
        let names = DEFAULT_HIDDEN
            .iter()
            .map(|n| n.as_bytes())
            .chain(hide.iter().copied());
        for name in names {
            let passed = pass.iter().any(|p| eq_ignore_case(p, name));
            let dup = hidden.iter().any(|h| eq_ignore_case(h, name));
            if !passed && !dup {
                hidden.push(name.to_ascii_lowercase().into_boxed_slice());
            }
        }
        let lengths = hidden.iter().fold(0, |bits, h| bits | length_bit(h.len()));
        HideHeaders { hidden, lengths }
    }

    /// Whether the upstream's header of that name is withheld.
    pub fn is_hidden(&self, name: &[u8]) -> bool {
        self.lengths & length_bit(name.len()) != 0
            && self.hidden.iter().any(|h| eq_ignore_case(h, name))
    }
}

impl Default for HideHeaders {
    fn default() -> Self {
        HideHeaders::new(&[], &[])
    }
}

/// Upstream headers nginx never copies: their handlers ignore them and the
/// header filter writes its own (Content-Type too, from `r->headers_out`).
/// Matched on the length first, as every upstream line comes through.
fn regenerated(name: &[u8]) -> bool {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    match name.len() {
        10 => is(b"connection") || is(b"keep-alive"),
        12 => is(b"content-type"),
        14 => is(b"content-length"),
        17 => is(b"transfer-encoding"),
        _ => false,
    }
}

/// Everything that decides the client's response head.
#[derive(Clone, Copy, Debug)]
pub struct ClientResponse<'a> {
    /// The upstream's head.
    pub head: &'a ResponseHead,
    /// server_tokens.
    pub server: &'a ServerIdent,
    /// [`super::http_date`] of now.
    pub date: &'a [u8],
    /// proxy_hide_header / proxy_pass_header.
    pub hide: &'a HideHeaders,
    /// The client connection's keepalive as decided so far (request and
    /// location); turned off here when the body length is unknown and
    /// chunked coding is not possible.
    pub keepalive: Keepalive,
    /// The client request's version.
    pub client_version: Version,
    /// The client request was HEAD: the head only.
    pub head_request: bool,
    /// `chunked_transfer_encoding` (default on).
    pub chunked_transfer_encoding: bool,
    /// A Location the caller rewrote to a relative path and nginx would make
    /// absolute (`http://host[:port]/path`): written in the Location slot,
    /// replacing the upstream's line.
    pub absolute_location: Option<&'a [u8]>,
}

/// How the body must go to the client after the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientFraming {
    /// Re-frame the body as chunks.
    pub chunked: bool,
    /// The client connection may be kept after this response.
    pub keepalive: bool,
    /// Send no body (HEAD, 204, 304).
    pub header_only: bool,
}

impl ClientResponse<'_> {
    /// Appends the head to `out` (nothing for an HTTP/0.9 client) and says
    /// how to frame the body.
    pub fn write_head(&self, out: &mut Vec<u8>) -> ClientFraming {
        let head = self.head;
        let status = head.status();
        let no_content = status == 204;
        let header_only = self.head_request || no_content || status == 304;
        let content_length = if no_content {
            None
        } else {
            head.content_length()
        };
        let mut keepalive = matches!(self.keepalive, Keepalive::KeepAlive { .. });
        let mut chunked = false;
        let chunk_filter = !(status == 304 || no_content || status < 200 || self.head_request);
        if chunk_filter && content_length.is_none() {
            if self.client_version >= Version::HTTP_11 && self.chunked_transfer_encoding {
                chunked = true;
            } else {
                keepalive = false;
            }
        }
        let framing = ClientFraming {
            chunked,
            keepalive,
            header_only,
        };
        if self.client_version < Version::HTTP_10 {
            return framing;
        }

        out.extend_from_slice(b"HTTP/1.1 ");
        if head.status_line().is_empty() {
            write_status(out, status);
        } else {
            out.extend_from_slice(head.status_line());
            out.extend_from_slice(b"\r\n");
        }
        if self.hide.is_hidden(b"server") {
            out.extend_from_slice(self.server.server_line());
        }
        if self.hide.is_hidden(b"date") {
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(self.date);
            out.extend_from_slice(b"\r\n");
        }
        if !no_content
            && !self.hide.is_hidden(b"content-type")
            && let Some(ct) = head.header(b"content-type")
        {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ct);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(n) = content_length {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(location) = self.absolute_location {
            out.extend_from_slice(b"Location: ");
            out.extend_from_slice(location);
            out.extend_from_slice(b"\r\n");
        }
        if chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        if status == 101 {
            out.extend_from_slice(b"Connection: upgrade\r\n");
        } else if keepalive {
            self.keepalive.write(out);
        } else {
            Keepalive::Close.write(out);
        }
        for h in head.passed_headers() {
            let skip = regenerated(h.name)
                || (self.absolute_location.is_some() && eq_ignore_case(h.name, b"location"))
                || self.hide.is_hidden(h.name);
            if !skip {
                out.extend_from_slice(h.name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(h.value);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        framing
    }
}

/// `n` in decimal, without the formatting machinery (one per response).
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests;
