//! The client's request head, read as nginx's `ngx_http_process_request_line`,
//! `ngx_http_process_request_headers` and `ngx_http_process_request_header`
//! (src/http/ngx_http_request.c) read it: the request line (`request_line.rs`),
//! header lines through httparse (`fields.rs`), nginx's buffer limits
//! (`limits.rs`), then the per-header rules (duplicate Host and unique headers,
//! Host validation) in arrival order and the whole-head rules at the end
//! (Host required from HTTP/1.1 on, Content-Length syntax, Transfer-Encoding
//! only `chunked`, only from HTTP/1.1 on and never with Content-Length,
//! CONNECT and TRACE refused).
//!
//! Every refusal is a [`RequestError`] whose [`RequestErrorKind`] names nginx's
//! log message and maps to nginx's status.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::body::BodyFraming;
use super::error_page::{ErrorPage, ReplyContext};
use super::fields::{self, FieldOptions, Outcome};
use super::limits::{BufferReplay, HeaderLimits};
use super::request_line::{self, LineErrorKind, Method, RequestLine};
pub use super::request_line::{Method as RequestMethod, UriFlags};
use super::{Version, eq_ignore_case};

/// The server-level settings that shape request parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestConfig {
    /// `client_header_buffer_size` and `large_client_header_buffers`.
    pub limits: HeaderLimits,
    /// `ignore_invalid_headers` (default on): drop lines with invalid names.
    pub ignore_invalid_headers: bool,
    /// `underscores_in_headers` (default off): `_` makes a name invalid.
    pub underscores_in_headers: bool,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            limits: HeaderLimits::default(),
            ignore_invalid_headers: true,
            underscores_in_headers: false,
        }
    }
}

/// The `Connection` header as nginx reads it (`ngx_http_process_connection`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnectionType {
    /// No Connection header naming close or keep-alive.
    #[default]
    Unset,
    /// A value containing "close".
    Close,
    /// A value containing "keep-alive" (and not "close").
    KeepAlive,
}

/// A parsed request head. It owns the head's bytes; accessors borrow them.
#[derive(Clone, Debug)]
pub struct RequestHead {
    raw: Bytes,
    line: RequestLine,
    headers: Vec<(Range<usize>, Range<usize>)>,
    host: Option<usize>,
    server: Option<Box<[u8]>>,
    content_length: Option<u64>,
    chunked: bool,
    connection: ConnectionType,
    upgrade: bool,
    expect: Option<usize>,
    ua: UserAgent,
    dropped: usize,
}

/// A refused request: what nginx logs and how it answers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct RequestError {
    /// Why.
    pub kind: RequestErrorKind,
    /// What shapes the error response (HEAD, HTTP/0.9, padding).
    pub reply: ReplyContext,
}

/// Why nginx refuses a request head; the messages are nginx's log lines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestErrorKind {
    #[error("client sent invalid method")]
    InvalidMethod,
    #[error("client sent invalid request")]
    InvalidRequest,
    #[error("client sent invalid version")]
    InvalidVersion,
    #[error("client sent invalid method in HTTP/0.9 request")]
    Invalid09Method,
    #[error("client sent too long URI")]
    UriTooLong,
    #[error("client sent too long header line")]
    HeaderTooLarge,
    #[error("client sent invalid header line")]
    InvalidHeader,
    /// A line nginx accepts (no colon, a control byte in the value, CR CR LF)
    /// but upgate refuses: nothing httparse did not tokenise is forwarded.
    #[error("client sent header line upgate does not accept")]
    UnsupportedHeader,
    #[error("client sent invalid host in request line")]
    InvalidHostInRequestLine,
    #[error("client sent invalid host header")]
    InvalidHost,
    #[error("client sent duplicate host header")]
    DuplicateHost,
    #[error("client sent duplicate header line: \"{0}\"")]
    DuplicateHeader(String),
    #[error("client sent HTTP/1.1 request without \"Host\" header")]
    MissingHost,
    #[error("client sent invalid \"Content-Length\" header")]
    InvalidContentLength,
    #[error("client sent HTTP/1.0 request with \"Transfer-Encoding\" header")]
    TransferEncodingInHttp10,
    #[error("client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")]
    ContentLengthWithTransferEncoding,
    #[error("client sent unknown \"Transfer-Encoding\"")]
    UnknownTransferEncoding,
    #[error("client sent CONNECT method")]
    ConnectMethod,
    #[error("client sent TRACE method")]
    TraceMethod,
}

impl RequestErrorKind {
    /// nginx's code for the error page: 400, 405, 414, 494, 501 or 505.
    pub fn nginx_code(&self) -> u16 {
        match self {
            RequestErrorKind::InvalidVersion => 505,
            RequestErrorKind::UriTooLong => 414,
            RequestErrorKind::HeaderTooLarge => 494,
            RequestErrorKind::UnknownTransferEncoding => 501,
            RequestErrorKind::ConnectMethod | RequestErrorKind::TraceMethod => 405,
            _ => 400,
        }
    }
}

impl RequestError {
    /// The status the client sees (494 is sent as 400).
    pub fn status(&self) -> u16 {
        self.error_page().status()
    }

    /// The response nginx sends for this error.
    pub fn error_page(&self) -> ErrorPage {
        ErrorPage::new(self.kind.nginx_code())
    }
}

/// Reads one request head from the front of `buf`.
///
/// `Ok(None)`: incomplete, read more (the buffer is untouched). `Ok(Some)`:
/// the head is split off `buf`; pipelined bytes and the body stay in it.
/// The head is scanned from the start on each call, so call it again only
/// when the newly read bytes hold a LF or the buffer reached
/// [`HeaderLimits::max_head_len`]; a reader never needs more than that.
pub fn parse_request_head(
    buf: &mut BytesMut,
    cfg: &RequestConfig,
) -> Result<Option<RequestHead>, RequestError> {
    let Some((mut head, len)) = scan(buf, cfg)? else {
        return Ok(None);
    };
    head.raw = buf.split_to(len).freeze();
    Ok(Some(head))
}

/// Headers whose repetition nginx refuses (`ngx_http_process_unique_header_line`).
const UNIQUE: [&[u8]; 10] = [
    b"if-modified-since",
    b"if-unmodified-since",
    b"if-match",
    b"if-none-match",
    b"content-length",
    b"content-range",
    b"if-range",
    b"transfer-encoding",
    b"expect",
    b"authorization",
];

fn reply(method: Method, version: Version, ua: UserAgent) -> ReplyContext {
    ReplyContext {
        head_only: method == Method::Head,
        http09: version == Version::HTTP_09,
        msie_padding: ua.padding() && version >= Version::HTTP_10,
    }
}

/// The whole scan: the head (with an empty `raw`) and its length.
fn scan(buf: &[u8], cfg: &RequestConfig) -> Result<Option<(RequestHead, usize)>, RequestError> {
    // Nothing past nginx's largest possible head matters (see HeaderLimits).
    let buf = &buf[..buf.len().min(cfg.limits.max_head_len())];
    let mut replay = BufferReplay::new(cfg.limits);
    let no_ua = UserAgent::default();
    let fail = |kind, method, version, ua| RequestError {
        kind,
        reply: reply(method, version, ua),
    };
    let line = match request_line::parse(buf) {
        Ok(Ok(line)) => line,
        Ok(Err(partial)) => {
            if let Some(start) = partial.start {
                replay.skip_to(start);
                if replay.fit(start, buf.len() + 1).is_err() {
                    let method = partial.method.unwrap_or(Method::Unknown);
                    return Err(fail(
                        RequestErrorKind::UriTooLong,
                        method,
                        Version::HTTP_10,
                        no_ua,
                    ));
                }
            }
            return Ok(None);
        }
        Err(e) => {
            // nginx only sees the refused byte if it fits its buffers.
            replay.skip_to(e.start);
            if replay.fit(e.start, e.at + 1).is_err() {
                let kind = RequestErrorKind::UriTooLong;
                return Err(fail(kind, e.method, Version::HTTP_10, no_ua));
            }
            let (kind, version) = match e.kind {
                LineErrorKind::InvalidMethod => (RequestErrorKind::InvalidMethod, Version::HTTP_10),
                LineErrorKind::InvalidRequest => {
                    (RequestErrorKind::InvalidRequest, Version::HTTP_10)
                }
                LineErrorKind::InvalidVersion => {
                    (RequestErrorKind::InvalidVersion, Version::HTTP_10)
                }
                LineErrorKind::Invalid09Method => {
                    (RequestErrorKind::Invalid09Method, Version::HTTP_09)
                }
            };
            return Err(fail(kind, e.method, version, no_ua));
        }
    };
    let (method, version) = (line.method_kind, line.version);
    replay.skip_to(line.line.start);
    if replay.fit(line.line.start, line.end).is_err() {
        return Err(fail(
            RequestErrorKind::UriTooLong,
            method,
            Version::HTTP_10,
            no_ua,
        ));
    }
    let mut head = RequestHead {
        raw: Bytes::new(),
        line,
        headers: Vec::new(),
        host: None,
        server: None,
        content_length: None,
        chunked: false,
        connection: ConnectionType::Unset,
        upgrade: false,
        expect: None,
        ua: no_ua,
        dropped: 0,
    };
    if let Some(host) = head.line.host.clone() {
        match validate_host(&buf[host]) {
            Some(server) => head.server = Some(server),
            None => {
                let kind = RequestErrorKind::InvalidHostInRequestLine;
                return Err(fail(kind, method, version, no_ua));
            }
        }
    }
    if version == Version::HTTP_09 {
        let end = head.line.end;
        return Ok(Some((head, end)));
    }

    let opts = FieldOptions {
        allow_underscores: cfg.underscores_in_headers,
        ignore_invalid: cfg.ignore_invalid_headers,
        upstream: false,
    };
    let block = fields::parse_block(buf, head.line.end, opts);
    let too_large = |ua| fail(RequestErrorKind::HeaderTooLarge, method, version, ua);
    let mut next_line = head.line.end;
    for l in &block.lines {
        // nginx stops at a refused byte: only the bytes up to it must fit.
        let need = match l.outcome {
            Outcome::Rejected { at } => at + 1,
            _ => l.span.end,
        };
        if replay.fit(l.span.start, need).is_err() {
            return Err(too_large(head.ua));
        }
        next_line = l.span.end;
        let kind = match &l.outcome {
            Outcome::Field { name, value } => {
                match head.add_header(buf, name.clone(), value.clone()) {
                    Ok(()) => continue,
                    Err(kind) => kind,
                }
            }
            Outcome::Dropped | Outcome::Skipped => {
                head.dropped += 1;
                continue;
            }
            Outcome::Rejected { .. } => RequestErrorKind::InvalidHeader,
            Outcome::Unsupported => RequestErrorKind::UnsupportedHeader,
        };
        return Err(fail(kind, method, version, head.ua));
    }
    let Some(end) = block.end else {
        // The line still arriving: a refused byte in what fits wins.
        if let Some(at) = block.tail_violation
            && replay.fit(next_line, at + 1).is_ok()
        {
            return Err(fail(
                RequestErrorKind::InvalidHeader,
                method,
                version,
                head.ua,
            ));
        }
        return match replay.fit(next_line, buf.len() + 1) {
            Ok(()) => Ok(None),
            Err(_) => Err(too_large(head.ua)),
        };
    };
    if replay.fit(next_line, end).is_err() {
        return Err(too_large(head.ua));
    }
    head.finish(buf)
        .map_err(|kind| fail(kind, method, version, head.ua))?;
    Ok(Some((head, end)))
}

impl RequestHead {
    /// One header line, in arrival order: nginx's `ngx_http_headers_in[]`
    /// handlers.
    fn add_header(
        &mut self,
        buf: &[u8],
        name: Range<usize>,
        value: Range<usize>,
    ) -> Result<(), RequestErrorKind> {
        let n = &buf[name.clone()];
        let v = &buf[value.clone()];
        let index = self.headers.len();
        if let Some(unique) = UNIQUE.iter().find(|u| eq_ignore_case(n, u)) {
            let seen = self
                .headers
                .iter()
                .any(|(prev, _)| eq_ignore_case(&buf[prev.clone()], unique));
            if seen {
                return Err(RequestErrorKind::DuplicateHeader(
                    String::from_utf8_lossy(n).into_owned(),
                ));
            }
            if eq_ignore_case(n, b"expect") {
                self.expect = Some(index);
            }
        } else if eq_ignore_case(n, b"host") {
            if self.host.is_some() {
                return Err(RequestErrorKind::DuplicateHost);
            }
            let server = validate_host(v).ok_or(RequestErrorKind::InvalidHost)?;
            self.host = Some(index);
            if self.server.is_none() {
                self.server = Some(server);
            }
        } else if eq_ignore_case(n, b"connection") {
            if find_ignore_case(v, b"close") {
                self.connection = ConnectionType::Close;
            } else if find_ignore_case(v, b"keep-alive") {
                self.connection = ConnectionType::KeepAlive;
            }
        } else if eq_ignore_case(n, b"user-agent") {
            self.ua.add(v);
        } else if eq_ignore_case(n, b"upgrade") {
            self.upgrade = true;
        }
        self.headers.push((name, value));
        Ok(())
    }

    /// `ngx_http_process_request_header`: the rules on the whole head.
    fn finish(&mut self, buf: &[u8]) -> Result<(), RequestErrorKind> {
        if self.host.is_none() && self.line.version > Version::HTTP_10 {
            return Err(RequestErrorKind::MissingHost);
        }
        let find = |name: &[u8]| {
            self.headers
                .iter()
                .find(|(n, _)| eq_ignore_case(&buf[n.clone()], name))
                .map(|(_, v)| &buf[v.clone()])
        };
        let content_length = find(b"content-length");
        if let Some(cl) = content_length {
            self.content_length =
                Some(parse_content_length(cl).ok_or(RequestErrorKind::InvalidContentLength)?);
        }
        if let Some(te) = find(b"transfer-encoding") {
            if self.line.version < Version::HTTP_11 {
                return Err(RequestErrorKind::TransferEncodingInHttp10);
            }
            if !eq_ignore_case(te, b"chunked") {
                return Err(RequestErrorKind::UnknownTransferEncoding);
            }
            if content_length.is_some() {
                return Err(RequestErrorKind::ContentLengthWithTransferEncoding);
            }
            self.chunked = true;
        }
        match self.line.method_kind {
            Method::Connect => Err(RequestErrorKind::ConnectMethod),
            Method::Trace => Err(RequestErrorKind::TraceMethod),
            _ => Ok(()),
        }
    }
}

mod head;
mod rules;

pub use head::UriParts;
use rules::{UserAgent, find_ignore_case};
pub(crate) use rules::{parse_content_length, validate_host};

#[cfg(test)]
mod tests;
