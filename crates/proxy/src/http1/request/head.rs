//! What a parsed request head tells: accessors over the bytes that
//! `ngx_http_process_request_line` and `ngx_http_process_request_headers`
//! (src/http/ngx_http_request.c) keep in `r->request_line`, `r->uri`,
//! `r->args`, `r->headers_in` and friends.

use super::{
    BodyFraming, ConnectionType, ReplyContext, RequestHead, RequestMethod, UriFlags, reply,
};
use crate::http1::{Header, Version, eq_ignore_case};

/// The parts of the request-target nginx keeps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// nginx's `unparsed_uri`: path and args as received (for absolute-form,
    /// from the path on; `/` when there is no path).
    pub unparsed: &'a [u8],
    /// The path, before normalisation.
    pub path: &'a [u8],
    /// The args after `?` (empty when none).
    pub args: &'a [u8],
    /// nginx's flags (complex, quoted, `+`, empty path).
    pub flags: UriFlags,
}

impl RequestHead {
    /// The head's bytes as received (request line to the empty line).
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The head's length on the wire.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Always false: a head has at least a request line.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The method token as sent.
    pub fn method(&self) -> &[u8] {
        &self.raw[self.line.method.clone()]
    }

    /// The method as nginx classifies it.
    pub fn method_kind(&self) -> RequestMethod {
        self.line.method_kind
    }

    /// The request line without CR LF (leading empty lines skipped).
    pub fn request_line(&self) -> &[u8] {
        &self.raw[self.line.line.clone()]
    }

    /// The request-target exactly as sent.
    pub fn target(&self) -> &[u8] {
        &self.raw[self.line.target.clone()]
    }

    /// The URI parts nginx derives from the target.
    pub fn uri(&self) -> UriParts<'_> {
        let uri = self.line.uri.clone();
        let (path_end, args) = match self.line.args_start {
            Some(a) if a <= uri.end => (a - 1, &self.raw[a..uri.end]),
            _ => (uri.end, &b""[..]),
        };
        UriParts {
            unparsed: &self.raw[uri.clone()],
            path: &self.raw[uri.start..path_end.max(uri.start)],
            args,
            flags: self.line.flags,
        }
    }

    /// Absolute-form: the scheme as sent (`http`).
    pub fn schema(&self) -> Option<&[u8]> {
        self.line.schema.clone().map(|r| &self.raw[r])
    }

    /// The version (HTTP/0.9 is 9, HTTP/1.1 is 1001).
    pub fn version(&self) -> Version {
        self.line.version
    }

    /// The header lines kept, in arrival order, original case.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = Header<'_>> + '_ {
        self.headers.iter().map(|(n, v)| Header {
            name: &self.raw[n.clone()],
            value: &self.raw[v.clone()],
        })
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .find(|h| eq_ignore_case(h.name, name))
            .map(|h| h.value)
    }

    /// The Host header's value as sent.
    pub fn host_header(&self) -> Option<&[u8]> {
        self.host.map(|i| &self.raw[self.headers[i].1.clone()])
    }

    /// nginx's `headers_in.server`: the host of an absolute-form target, else
    /// of the Host header; validated, lower-cased, without port or final dot.
    pub fn server_name(&self) -> Option<&[u8]> {
        self.server.as_deref()
    }

    /// The parsed Content-Length.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// `Transfer-Encoding: chunked`.
    pub fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// How the body is framed.
    pub fn body_framing(&self) -> BodyFraming {
        match (self.chunked, self.content_length) {
            (true, _) => BodyFraming::Chunked,
            (false, Some(n)) => BodyFraming::Length(n),
            (false, None) => BodyFraming::None,
        }
    }

    /// The Connection header as nginx reads it.
    pub fn connection_type(&self) -> ConnectionType {
        self.connection
    }

    /// nginx's first keepalive decision (`ngx_http_handler`), before the
    /// location's keepalive_timeout / keepalive_requests have their say.
    pub fn keepalive(&self) -> bool {
        match self.connection {
            ConnectionType::Unset => self.line.version > Version::HTTP_10,
            ConnectionType::Close => false,
            ConnectionType::KeepAlive => true,
        }
    }

    /// Whether the client sent an Upgrade header (`r->headers_in.upgrade`).
    pub fn has_upgrade(&self) -> bool {
        self.upgrade
    }

    /// `Expect: 100-continue` on HTTP/1.1+ (`ngx_http_test_expect`): send
    /// [`crate::http1::CONTINUE_100`] before reading the body.
    pub fn expects_continue(&self) -> bool {
        self.line.version >= Version::HTTP_11
            && self.expect.is_some_and(|i| {
                eq_ignore_case(&self.raw[self.headers[i].1.clone()], b"100-continue")
            })
    }

    /// How many lines with invalid names were dropped (nginx logs each one).
    pub fn invalid_headers_dropped(&self) -> usize {
        self.dropped
    }

    /// What an error response to this request must respect.
    /// `r->headers_in.msie6` (`keepalive_disable msie6`).
    pub fn msie6(&self) -> bool {
        self.ua.msie6()
    }

    /// `r->headers_in.safari` (`keepalive_disable safari`).
    pub fn safari(&self) -> bool {
        self.ua.safari()
    }

    pub fn reply_context(&self) -> ReplyContext {
        reply(self.line.method_kind, self.line.version, self.ua)
    }
}
