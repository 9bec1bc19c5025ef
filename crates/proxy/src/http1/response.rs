//! The upstream's response head, read as nginx 1.23+ reads it:
//! `ngx_http_parse_status_line` (src/http/ngx_http_parse.c, ported here),
//! header lines through httparse with `ngx_http_proxy_process_header`'s
//! rules (src/http/modules/ngx_http_proxy_module.c) and the
//! `ngx_http_upstream_headers_in[]` handlers (src/http/ngx_http_upstream.c):
//! a duplicate Content-Length, Content-Length with Transfer-Encoding, a
//! Transfer-Encoding other than exactly `chunked` or an invalid Content-Length
//! is a 502 ("upstream sent ..."); a repeated single-value header (Server,
//! Date, Content-Type, Location, ...) keeps its first line. The body framing
//! follows `ngx_http_proxy_input_filter_init`; [`is_tunnel`] follows
//! `ngx_http_proxy_process_header`'s 101 rule.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::fields::{self, FieldOptions, Outcome};
use super::request::parse_content_length;
use super::{Header, Version, eq_ignore_case};

/// The location-level settings that shape response parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseConfig {
    /// `proxy_buffer_size` (nginx: one memory page, 4k on most systems): the
    /// head must fit, else "upstream sent too big header".
    pub proxy_buffer_size: usize,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            proxy_buffer_size: 4096,
        }
    }
}

/// An upstream response nginx answers with 502.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The first line is not `HTTP/x.y NNN`. nginx then relays the bytes as
    /// an HTTP/0.9 response (no head, then close); the engine decides.
    #[error("upstream sent no valid HTTP/1.0 header")]
    NoValidHeader,
    #[error("upstream sent too big header")]
    TooBigHeader,
    #[error("upstream sent invalid header")]
    InvalidHeader,
    /// A line nginx accepts but upgate refuses (see `fields.rs`).
    #[error("upstream sent header line upgate does not accept")]
    UnsupportedHeader,
    #[error("upstream sent duplicate header line: \"{0}\"")]
    DuplicateHeader(&'static str),
    #[error("upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")]
    ContentLengthWithTransferEncoding,
    #[error("upstream sent unknown \"Transfer-Encoding\"")]
    UnknownTransferEncoding,
    #[error("upstream sent invalid \"Content-Length\" header")]
    InvalidContentLength,
}

impl ResponseError {
    /// The client's status: always 502 Bad Gateway.
    pub fn status(&self) -> u16 {
        502
    }
}

/// How an upstream response body ends (`ngx_http_proxy_input_filter_init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// 204, 304, a reply to HEAD, or `Content-Length: 0`.
    NoBody,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the upstream closes (also a 101 that does not become a tunnel).
    UntilClose,
}

/// Whether a response starts a tunnel: a 101, and the client's request had an
/// Upgrade header (`u->upgrade`). A 101 to a client that sent no Upgrade is an
/// ordinary response of unknown length.
pub fn is_tunnel(client_sent_upgrade: bool, upstream_status: u16) -> bool {
    upstream_status == 101 && client_sent_upgrade
}

/// What the engine does with an upstream header line, after
/// `ngx_http_upstream_headers_in[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    ContentLength,
    TransferEncoding,
    Connection,
    /// nginx keeps the first line (`ngx_http_upstream_process_header_line`
    /// and the handlers with the same duplicate check).
    Single,
    Other,
}

/// The kind of the header `name`. Matched on the length first: every
/// line of every response comes through here, and most names are then
/// compared once or not at all.
fn known(name: &[u8]) -> Known {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    match name.len() {
        4 if is(b"date") || is(b"etag") => Known::Single,
        6 if is(b"server") || is(b"status") => Known::Single,
        7 if is(b"expires") || is(b"refresh") => Known::Single,
        8 if is(b"location") => Known::Single,
        10 if is(b"connection") => Known::Connection,
        12 if is(b"content-type") => Known::Single,
        13 if is(b"last-modified") => Known::Single,
        14 if is(b"content-length") => Known::ContentLength,
        15 if is(b"x-accel-expires") => Known::Single,
        16 if is(b"x-accel-redirect") => Known::Single,
        17 if is(b"transfer-encoding") => Known::TransferEncoding,
        18 if is(b"x-accel-limit-rate") => Known::Single,
        _ => Known::Other,
    }
}

/// One upstream header line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Field {
    name: Range<usize>,
    value: Range<usize>,
    /// A repeated single-value header: not passed on.
    ignored: bool,
}

/// A parsed upstream response head; owns its bytes.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    raw: Bytes,
    version: Version,
    status: u16,
    status_line: Range<usize>,
    fields: Vec<Field>,
    content_length: Option<u64>,
    chunked: bool,
    connection_close: bool,
}

/// Reads the upstream's response head from the front of `buf`; `Ok(None)`
/// means incomplete. On success the head is split off and the body (or the
/// tunnel's first bytes) stays in `buf`.
pub fn parse_response_head(
    buf: &mut BytesMut,
    cfg: &ResponseConfig,
) -> Result<Option<ResponseHead>, ResponseError> {
    let limit = cfg.proxy_buffer_size.max(1);
    let scanned = scan(&buf[..buf.len().min(limit)]);
    match scanned {
        Ok(None) if buf.len() >= limit => Err(ResponseError::TooBigHeader),
        Ok(None) => Ok(None),
        Ok(Some((mut head, end))) => {
            head.raw = buf.split_to(end).freeze();
            Ok(Some(head))
        }
        Err(e) => Err(e),
    }
}

fn scan(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, ResponseError> {
    let Some(status) = status_line(buf)? else {
        return Ok(None);
    };
    let mut head = ResponseHead {
        raw: Bytes::new(),
        version: status.version,
        status: status.code,
        status_line: status.text,
        fields: Vec::new(),
        content_length: None,
        chunked: false,
        connection_close: status.version < Version::HTTP_11,
    };
    let opts = FieldOptions {
        allow_underscores: true,
        ignore_invalid: false,
        upstream: true,
    };
    let block = fields::parse_block(buf, status.end, opts);
    head.fields.reserve_exact(block.lines.len());
    let (mut cl_seen, mut te_seen) = (false, false);
    for line in &block.lines {
        let (name, value) = match &line.outcome {
            Outcome::Field { name, value } => (name.clone(), value.clone()),
            Outcome::Dropped | Outcome::Skipped => continue,
            Outcome::Rejected { .. } => return Err(ResponseError::InvalidHeader),
            Outcome::Unsupported => return Err(ResponseError::UnsupportedHeader),
        };
        let (n, v) = (&buf[name.clone()], &buf[value.clone()]);
        let mut ignored = false;
        match known(n) {
            Known::ContentLength => {
                if cl_seen {
                    return Err(ResponseError::DuplicateHeader("Content-Length"));
                }
                if te_seen {
                    return Err(ResponseError::ContentLengthWithTransferEncoding);
                }
                cl_seen = true;
                head.content_length =
                    Some(parse_content_length(v).ok_or(ResponseError::InvalidContentLength)?);
            }
            Known::TransferEncoding => {
                if te_seen {
                    return Err(ResponseError::DuplicateHeader("Transfer-Encoding"));
                }
                if cl_seen {
                    return Err(ResponseError::ContentLengthWithTransferEncoding);
                }
                te_seen = true;
                if !eq_ignore_case(v, b"chunked") {
                    return Err(ResponseError::UnknownTransferEncoding);
                }
                head.chunked = true;
            }
            Known::Connection => {
                if v.windows(5).any(|w| w.eq_ignore_ascii_case(b"close")) {
                    head.connection_close = true;
                }
            }
            Known::Single => {
                ignored = head
                    .fields
                    .iter()
                    .any(|f| !f.ignored && eq_ignore_case(&buf[f.name.clone()], n));
            }
            Known::Other => {}
        }
        head.fields.push(Field {
            name,
            value,
            ignored,
        });
    }
    let Some(end) = block.end else {
        return Ok(None);
    };
    if head.chunked {
        head.content_length = None;
    }
    Ok(Some((head, end)))
}

struct StatusLine {
    version: Version,
    code: u16,
    /// From the code to the end of the line, CR LF excluded.
    text: Range<usize>,
    end: usize,
}

/// `ngx_http_parse_status_line`: `HTTP/` major `.` minor, spaces, three
/// digits, then a space, a `.` (IIS's `403.1`) or the line end.
fn status_line(buf: &[u8]) -> Result<Option<StatusLine>, ResponseError> {
    let bad = ResponseError::NoValidHeader;
    let prefix = b"HTTP/";
    if !prefix.starts_with(&buf[..buf.len().min(5)]) {
        return Err(bad);
    }
    let mut p = 5;
    let digit = |p: usize| {
        buf.get(p)
            .filter(|b| b.is_ascii_digit())
            .map(|b| u32::from(b - b'0'))
    };
    let mut major = match buf.get(p) {
        None => return Ok(None),
        Some(b'1'..=b'9') => digit(p).unwrap_or(0),
        Some(_) => return Err(bad),
    };
    p += 1;
    loop {
        match buf.get(p) {
            None => return Ok(None),
            Some(b'.') => break,
            Some(b'0'..=b'9') if major <= 99 => major = major * 10 + digit(p).unwrap_or(0),
            Some(_) => return Err(bad),
        }
        p += 1;
    }
    p += 1;
    let mut minor = match buf.get(p) {
        None => return Ok(None),
        Some(b'0'..=b'9') => digit(p).unwrap_or(0),
        Some(_) => return Err(bad),
    };
    p += 1;
    loop {
        match buf.get(p) {
            None => return Ok(None),
            Some(b' ') => break,
            Some(b'0'..=b'9') if minor <= 99 => minor = minor * 10 + digit(p).unwrap_or(0),
            Some(_) => return Err(bad),
        }
        p += 1;
    }
    while buf.get(p) == Some(&b' ') {
        p += 1;
    }
    let start = p;
    let mut code = 0u16;
    for _ in 0..3 {
        match buf.get(p) {
            None => return Ok(None),
            Some(d @ b'0'..=b'9') => code = code * 10 + u16::from(d - b'0'),
            Some(_) => return Err(bad),
        }
        p += 1;
    }
    match buf.get(p) {
        None => return Ok(None),
        Some(b' ' | b'.' | b'\r' | b'\n') => {}
        Some(_) => return Err(bad),
    }
    let Some(lf) = buf[p..]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| p + i)
    else {
        return Ok(None);
    };
    let end = if buf[lf] == b'\n' {
        lf + 1
    } else {
        match buf.get(lf + 1) {
            None => return Ok(None),
            Some(b'\n') => lf + 2,
            Some(_) => return Err(bad),
        }
    };
    Ok(Some(StatusLine {
        version: Version(major * 1000 + minor),
        code,
        text: start..lf,
        end,
    }))
}

impl ResponseHead {
    /// The head's bytes as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The status code and reason phrase exactly as sent (`200 Fine Thanks`).
    pub fn status_line(&self) -> &[u8] {
        &self.raw[self.status_line.clone()]
    }

    /// The upstream's HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Every header line, in order, repeated single-value lines included.
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        self.fields.iter().map(|f| self.header_at(f))
    }

    /// The lines nginx passes on (repeated single-value lines removed),
    /// before hiding.
    pub fn passed_headers(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        self.fields
            .iter()
            .filter(|f| !f.ignored)
            .map(|f| self.header_at(f))
    }

    /// The first line of that name.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.passed_headers()
            .find(|h| eq_ignore_case(h.name, name))
            .map(|h| h.value)
    }

    fn header_at(&self, f: &Field) -> Header<'_> {
        Header {
            name: &self.raw[f.name.clone()],
            value: &self.raw[f.value.clone()],
        }
    }

    /// The Content-Length (`None` when chunked).
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// `Transfer-Encoding: chunked`.
    pub fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// HTTP/1.0, or a Connection header containing "close": the upstream
    /// connection cannot be kept.
    pub fn connection_close(&self) -> bool {
        self.connection_close
    }

    /// How the body ends; `head_request` when the request sent upstream was
    /// a HEAD.
    pub fn framing(&self, head_request: bool) -> ResponseFraming {
        if self.status == 204 || self.status == 304 || head_request {
            ResponseFraming::NoBody
        } else if self.chunked {
            ResponseFraming::Chunked
        } else {
            match self.content_length {
                Some(0) => ResponseFraming::NoBody,
                Some(n) => ResponseFraming::Length(n),
                None => ResponseFraming::UntilClose,
            }
        }
    }

    /// Whether nginx could keep the upstream connection once this response
    /// and its body are read (`u->keepalive`): never after a 101, never when
    /// the body ends with the connection.
    pub fn keepalive_possible(&self, head_request: bool) -> bool {
        !self.connection_close
            && self.status != 101
            && self.framing(head_request) != ResponseFraming::UntilClose
    }
}

#[cfg(test)]
mod tests;
