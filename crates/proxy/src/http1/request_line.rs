//! The client's request line, a port of nginx's `ngx_http_parse_request_line`
//! (src/http/ngx_http_parse.c): the method (`A-Z`, `_`, `-`), origin-form or
//! absolute-form targets with nginx's host grammar, the URI flags nginx keeps
//! (complex, quoted, `+`, empty path), HTTP/0.9 (no version), HTTP/1.x with
//! any minor up to 999 and runs of spaces. This is the request line only:
//! header lines are tokenised by httparse (see `fields.rs`).
//!
//! The parser is stateless: it scans the buffer from the start on every call
//! and reports `Partial` until the line's LF arrives, failing at the first byte
//! nginx would refuse.

use std::ops::Range;

use super::Version;

/// The request methods nginx tells apart (`NGX_HTTP_GET` ...); any other
/// token is `Unknown` and still valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Mkcol,
    Copy,
    Move,
    Options,
    Propfind,
    Proppatch,
    Lock,
    Unlock,
    Patch,
    Trace,
    Connect,
    /// Any other upper-case token.
    Unknown,
}

impl Method {
    fn from_token(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"MKCOL" => Method::Mkcol,
            b"COPY" => Method::Copy,
            b"MOVE" => Method::Move,
            b"OPTIONS" => Method::Options,
            b"PROPFIND" => Method::Propfind,
            b"PROPPATCH" => Method::Proppatch,
            b"LOCK" => Method::Lock,
            b"UNLOCK" => Method::Unlock,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Unknown,
        }
    }
}

/// What nginx remembers about the request-target (`r->complex_uri` ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UriFlags {
    /// `.`, `//` or `#` seen: the URI needs normalising.
    pub complex: bool,
    /// A `%` escape seen.
    pub quoted: bool,
    /// A `+` seen in the path.
    pub plus: bool,
    /// Absolute-form with `?` right after the authority (`http://h?x`).
    pub empty_path: bool,
}

/// A complete request line, as offsets into the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestLine {
    pub method: Range<usize>,
    pub method_kind: Method,
    /// Absolute-form only: `http` in `http://host/x`.
    pub schema: Option<Range<usize>>,
    /// Absolute-form only: the host, without port.
    pub host: Option<Range<usize>>,
    /// nginx's `unparsed_uri`: path and args. For `http://h` (no path) nginx
    /// points at the last `/` of `://`, a one-byte "/".
    pub uri: Range<usize>,
    /// Where the args start (after `?`), if there is a `?`.
    pub args_start: Option<usize>,
    /// The request-target exactly as received (absolute-form included).
    pub target: Range<usize>,
    pub flags: UriFlags,
    pub version: Version,
    /// The whole line from the method to the LF (excluded), leading empty
    /// lines skipped.
    pub line: Range<usize>,
    /// One past the LF: where the header lines start.
    pub end: usize,
}

/// Not complete yet: where the request line starts (`None` while only
/// empty lines were seen, nginx's `r->state == 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Partial {
    pub start: Option<usize>,
    /// The method, once its token ended.
    pub method: Option<Method>,
}

/// nginx's `NGX_HTTP_PARSE_INVALID_*` codes, with what the error page needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineError {
    pub kind: LineErrorKind,
    /// The method when it was parsed before the error (HEAD gets no body).
    pub method: Method,
    /// Where the request line starts (leading empty lines skipped).
    pub start: usize,
    /// The byte at which nginx gives up: it must fit nginx's buffers for this
    /// error to win over "too long URI".
    pub at: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineErrorKind {
    /// "client sent invalid method" (400).
    InvalidMethod,
    /// "client sent invalid request" (400).
    InvalidRequest,
    /// "client sent invalid version" (505).
    InvalidVersion,
    /// "client sent invalid method in HTTP/0.9 request" (400, answered
    /// without a status line because the request is HTTP/0.9).
    Invalid09Method,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Start,
    Method,
    SpacesBeforeUri,
    Schema,
    SchemaSlash,
    SchemaSlashSlash,
    HostStart,
    Host,
    HostEnd,
    HostIpLiteral,
    Port,
    AfterSlashInUri,
    CheckUri,
    Uri,
    Http09,
    HttpH,
    HttpHt,
    HttpHtt,
    HttpHttp,
    FirstMajorDigit,
    MajorDigit,
    FirstMinorDigit,
    MinorDigit,
    SpacesAfterDigit,
    AlmostDone,
}

/// nginx's `usual[]` table: bytes that need no attention in a URI.
fn usual(ch: u8) -> bool {
    const USUAL: [u32; 8] = [
        0x0000_0000,
        0x7fff_37d6,
        0xffff_ffff,
        0x7fff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    USUAL[usize::from(ch >> 5)] & (1u32 << (ch & 0x1f)) != 0
}

fn method_byte(ch: u8) -> bool {
    ch.is_ascii_uppercase() || ch == b'_' || ch == b'-'
}

/// The parser's registers, nginx's `r->request_start`, `r->uri_start` ...
#[derive(Default)]
struct Regs {
    start: Option<usize>,
    method_end: usize,
    method: Option<Method>,
    schema_start: usize,
    schema_end: Option<usize>,
    host_start: usize,
    host_end: Option<usize>,
    uri_start: usize,
    uri_end: Option<usize>,
    target_end: usize,
    args_start: Option<usize>,
    flags: UriFlags,
    request_end: Option<usize>,
    major: u32,
    minor: u32,
    http09: bool,
}

/// Parses the request line at the start of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Result<Result<RequestLine, Partial>, LineError> {
    let mut r = Regs::default();
    let mut st = St::Start;
    for (p, &ch) in buf.iter().enumerate() {
        let method = r.method.unwrap_or(Method::Unknown);
        let start = r.start.unwrap_or(p);
        let fail = move |kind| LineError {
            kind,
            method,
            start,
            at: p,
        };
        let invalid = fail(LineErrorKind::InvalidRequest);
        st = match st {
            St::Start => {
                if ch == b'\r' || ch == b'\n' {
                    continue;
                }
                r.start = Some(p);
                if !method_byte(ch) {
                    return Err(fail(LineErrorKind::InvalidMethod));
                }
                St::Method
            }
            St::Method => {
                if ch == b' ' {
                    r.method_end = p;
                    let m = &buf[r.start.unwrap_or(0)..p];
                    r.method = Some(Method::from_token(m));
                    St::SpacesBeforeUri
                } else if method_byte(ch) {
                    St::Method
                } else {
                    return Err(fail(LineErrorKind::InvalidMethod));
                }
            }
            St::SpacesBeforeUri => match ch {
                b'/' => {
                    r.uri_start = p;
                    St::AfterSlashInUri
                }
                b' ' => St::SpacesBeforeUri,
                _ if (ch | 0x20).is_ascii_lowercase() => {
                    r.schema_start = p;
                    St::Schema
                }
                _ => return Err(invalid),
            },
            St::Schema => match ch {
                b':' => {
                    r.schema_end = Some(p);
                    St::SchemaSlash
                }
                b'0'..=b'9' | b'+' | b'-' | b'.' => St::Schema,
                _ if (ch | 0x20).is_ascii_lowercase() => St::Schema,
                _ => return Err(invalid),
            },
            St::SchemaSlash if ch == b'/' => St::SchemaSlashSlash,
            St::SchemaSlashSlash if ch == b'/' => St::HostStart,
            St::SchemaSlash | St::SchemaSlashSlash => return Err(invalid),
            St::HostStart if ch == b'[' => {
                r.host_start = p;
                St::HostIpLiteral
            }
            St::HostStart | St::Host | St::HostEnd => {
                if st == St::HostStart {
                    r.host_start = p;
                }
                let host_byte = (ch | 0x20).is_ascii_lowercase()
                    || ch.is_ascii_digit()
                    || ch == b'.'
                    || ch == b'-';
                if st != St::HostEnd && host_byte {
                    St::Host
                } else {
                    r.host_end = Some(p);
                    match ch {
                        b':' => St::Port,
                        _ => after_authority(&mut r, ch, p).ok_or(invalid)?,
                    }
                }
            }
            St::HostIpLiteral => match ch {
                b']' => St::HostEnd,
                b':' | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')'
                | b'*' | b'+' | b',' | b';' | b'=' => St::HostIpLiteral,
                _ if ch.is_ascii_alphanumeric() => St::HostIpLiteral,
                _ => return Err(invalid),
            },
            St::Port => {
                if ch.is_ascii_digit() {
                    St::Port
                } else {
                    after_authority(&mut r, ch, p).ok_or(invalid)?
                }
            }
            St::AfterSlashInUri | St::CheckUri | St::Uri => match uri_byte(&mut r, st, ch, p) {
                UriStep::Next(next) => next,
                UriStep::Done => return Ok(Ok(finish(&r, p)?)),
                UriStep::Invalid => return Err(invalid),
            },
            St::Http09 => match ch {
                b' ' => St::Http09,
                b'\r' => {
                    r.http09 = true;
                    St::AlmostDone
                }
                b'\n' => {
                    r.http09 = true;
                    return Ok(Ok(finish(&r, p)?));
                }
                b'H' => St::HttpH,
                _ => return Err(invalid),
            },
            St::HttpH if ch == b'T' => St::HttpHt,
            St::HttpHt if ch == b'T' => St::HttpHtt,
            St::HttpHtt if ch == b'P' => St::HttpHttp,
            St::HttpHttp if ch == b'/' => St::FirstMajorDigit,
            St::HttpH | St::HttpHt | St::HttpHtt | St::HttpHttp => return Err(invalid),
            St::FirstMajorDigit => {
                if !(b'1'..=b'9').contains(&ch) {
                    return Err(invalid);
                }
                r.major = u32::from(ch - b'0');
                if r.major > 1 {
                    return Err(fail(LineErrorKind::InvalidVersion));
                }
                St::MajorDigit
            }
            St::MajorDigit => {
                if ch == b'.' {
                    St::FirstMinorDigit
                } else if ch.is_ascii_digit() {
                    r.major = r.major * 10 + u32::from(ch - b'0');
                    if r.major > 1 {
                        return Err(fail(LineErrorKind::InvalidVersion));
                    }
                    St::MajorDigit
                } else {
                    return Err(invalid);
                }
            }
            St::FirstMinorDigit => {
                if !ch.is_ascii_digit() {
                    return Err(invalid);
                }
                r.minor = u32::from(ch - b'0');
                St::MinorDigit
            }
            St::MinorDigit => match ch {
                b'\r' => St::AlmostDone,
                b'\n' => return Ok(Ok(finish(&r, p)?)),
                b' ' => St::SpacesAfterDigit,
                b'0'..=b'9' => {
                    if r.minor > 99 {
                        return Err(invalid);
                    }
                    r.minor = r.minor * 10 + u32::from(ch - b'0');
                    St::MinorDigit
                }
                _ => return Err(invalid),
            },
            St::SpacesAfterDigit => match ch {
                b' ' => St::SpacesAfterDigit,
                b'\r' => St::AlmostDone,
                b'\n' => return Ok(Ok(finish(&r, p)?)),
                _ => return Err(invalid),
            },
            St::AlmostDone => {
                r.request_end = Some(p - 1);
                if ch == b'\n' {
                    return Ok(Ok(finish(&r, p)?));
                }
                return Err(invalid);
            }
        };
    }
    Ok(Err(Partial {
        start: r.start,
        method: r.method,
    }))
}

/// nginx's `sw_host_end` / `sw_port` cases for `/`, `?` and ` `.
fn after_authority(r: &mut Regs, ch: u8, p: usize) -> Option<St> {
    match ch {
        b'/' => {
            r.uri_start = p;
            Some(St::AfterSlashInUri)
        }
        b'?' => {
            r.uri_start = p;
            r.args_start = Some(p + 1);
            r.flags.empty_path = true;
            Some(St::Uri)
        }
        b' ' => {
            r.target_end = p;
            // "use single "/" from request line to preserve pointers"
            let slash = r.schema_end.map_or(p, |e| e + 1);
            r.uri_start = slash;
            r.uri_end = Some(slash + 1);
            Some(St::Http09)
        }
        _ => None,
    }
}

enum UriStep {
    Next(St),
    Done,
    Invalid,
}

/// nginx's `sw_after_slash_in_uri`, `sw_check_uri` and `sw_uri`.
fn uri_byte(r: &mut Regs, st: St, ch: u8, p: usize) -> UriStep {
    if usual(ch) {
        return UriStep::Next(if st == St::Uri { St::Uri } else { St::CheckUri });
    }
    if matches!(ch, b' ' | b'\r' | b'\n') {
        r.target_end = p;
    }
    match ch {
        b' ' => {
            r.uri_end = Some(p);
            return UriStep::Next(St::Http09);
        }
        b'\r' => {
            r.uri_end = Some(p);
            r.http09 = true;
            return UriStep::Next(St::AlmostDone);
        }
        b'\n' => {
            r.uri_end = Some(p);
            r.http09 = true;
            return UriStep::Done;
        }
        _ => {}
    }
    let next = match (st, ch) {
        (St::Uri, b'#') => {
            r.flags.complex = true;
            St::Uri
        }
        (St::Uri, _) => St::Uri,
        (_, b'%') => {
            r.flags.quoted = true;
            St::Uri
        }
        (_, b'?') => {
            r.args_start = Some(p + 1);
            St::Uri
        }
        (_, b'#') => {
            r.flags.complex = true;
            St::Uri
        }
        (_, b'+') => {
            r.flags.plus = true;
            st
        }
        (St::AfterSlashInUri, b'.' | b'/') => {
            r.flags.complex = true;
            St::Uri
        }
        (St::CheckUri, b'/') => St::AfterSlashInUri,
        (St::CheckUri, b'.') => St::CheckUri,
        (St::AfterSlashInUri, _) => St::CheckUri,
        _ => St::CheckUri,
    };
    if ch < 0x20 || ch == 0x7f {
        return UriStep::Invalid;
    }
    UriStep::Next(next)
}

/// nginx's `done:` label: the LF at `p` ends the line.
fn finish(r: &Regs, p: usize) -> Result<RequestLine, LineError> {
    let start = r.start.unwrap_or(0);
    let version = if r.http09 {
        Version::HTTP_09
    } else {
        Version(r.major * 1000 + r.minor)
    };
    let method_kind = r.method.unwrap_or(Method::Unknown);
    if version == Version::HTTP_09 && method_kind != Method::Get {
        return Err(LineError {
            kind: LineErrorKind::Invalid09Method,
            method: method_kind,
            start,
            at: p,
        });
    }
    let line_end = r.request_end.unwrap_or(p);
    Ok(RequestLine {
        method: start..r.method_end,
        method_kind,
        schema: r.schema_end.map(|e| r.schema_start..e),
        host: r.host_end.map(|e| r.host_start..e),
        uri: r.uri_start..r.uri_end.unwrap_or(p),
        args_start: r.args_start,
        target: if r.schema_end.is_some() {
            r.schema_start
        } else {
            r.uri_start
        }..r.target_end,
        flags: r.flags,
        version,
        line: start..line_end,
        end: p + 1,
    })
}
