//! The request upstream, byte for byte as nginx's `ngx_http_proxy_create_request`
//! (src/http/modules/ngx_http_proxy_module.c) writes it:
//!
//! ```text
//! METHOD SP uri SP HTTP/1.0|HTTP/1.1 CRLF
//! the proxy_set_header entries in order, names as spelled, empty values skipped
//! every client header whose name is not among them, arrival order, as received
//! CRLF
//! ```
//!
//! The caller (runtime) resolves which `proxy_set_header` entries apply,
//! nginx's defaults included (`Host $proxy_host`, `Connection close`,
//! Content-Length, Transfer-Encoding, and empty TE, Keep-Alive, Expect,
//! Upgrade), and evaluates their values. Content-Length and Transfer-Encoding
//! are only ever regenerated from the body framing ([`SetValue::BodyLength`],
//! [`SetValue::Chunked`]); the client's lines of those names are never
//! forwarded, nor are Host, Connection, TE, Keep-Alive, Expect and Upgrade,
//! which nginx's default table always names.

use std::borrow::Cow;

use super::{Header, eq_ignore_case};

/// `proxy_http_version`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProxyHttpVersion {
    /// nginx's default up to 1.29.6.
    #[default]
    Http10,
    /// Needed for upgrades and keepalive.
    Http11,
}

/// A `proxy_set_header` value, evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetValue<'a> {
    /// A value; empty means "not sent" (and still hides the client's header).
    Value(&'a [u8]),
    /// `$proxy_internal_body_length`: the body length when it is known.
    BodyLength,
    /// `$proxy_internal_chunked`: `chunked` when the body is streamed chunked.
    Chunked,
}

/// One `proxy_set_header` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetHeader<'a> {
    /// The name as written in the configuration.
    pub name: &'a [u8],
    /// The evaluated value.
    pub value: SetValue<'a>,
}

impl<'a> SetHeader<'a> {
    /// A plain entry.
    pub fn new(name: &'a [u8], value: &'a [u8]) -> Self {
        SetHeader {
            name,
            value: SetValue::Value(value),
        }
    }
}

/// The framing of the body sent upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpstreamBody {
    /// No body (no Content-Length line).
    #[default]
    None,
    /// A known length (also a buffered chunked body).
    Length(u64),
    /// Streamed chunked (proxy_request_buffering off and HTTP/1.1).
    Chunked,
}

/// nginx's default table always puts these names in the hash of set headers,
/// so the client's lines of these names never go upstream.
const ALWAYS_REPLACED: [&[u8]; 8] = [
    b"host",
    b"connection",
    b"content-length",
    b"transfer-encoding",
    b"te",
    b"keep-alive",
    b"expect",
    b"upgrade",
];

/// The pieces of the upstream request head.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamRequest<'a> {
    /// The method (the client's, or `proxy_method`).
    pub method: &'a [u8],
    /// The URI as computed for proxy_pass.
    pub uri: &'a [u8],
    /// `proxy_http_version`.
    pub version: ProxyHttpVersion,
    /// The `proxy_set_header` list with the defaults merged in, in nginx's
    /// order (`ngx_http_proxy_init_headers`).
    pub set_headers: &'a [SetHeader<'a>],
    /// How the body is framed upstream.
    pub body: UpstreamBody,
}

impl UpstreamRequest<'_> {
    /// Appends the head to `out`; `client_headers` are the client's header
    /// lines in arrival order (`pass_request_headers`; empty when off).
    pub fn write_head<'h>(
        &self,
        client_headers: impl IntoIterator<Item = Header<'h>>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(self.method);
        out.push(b' ');
        out.extend_from_slice(self.uri);
        out.extend_from_slice(match self.version {
            ProxyHttpVersion::Http10 => b" HTTP/1.0\r\n",
            ProxyHttpVersion::Http11 => b" HTTP/1.1\r\n",
        });
        for h in self.set_headers {
            let value = match self.resolve(h) {
                Some(v) if !v.is_empty() => v,
                _ => continue,
            };
            line(out, h.name, &value);
        }
        for h in client_headers {
            let hidden = ALWAYS_REPLACED.iter().any(|n| eq_ignore_case(h.name, n))
                || self
                    .set_headers
                    .iter()
                    .any(|s| eq_ignore_case(h.name, s.name));
            if !hidden {
                line(out, h.name, h.value);
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The value an entry sends; framing names are always regenerated.
    fn resolve<'s>(&self, h: &SetHeader<'s>) -> Option<Cow<'s, [u8]>> {
        let framing = if eq_ignore_case(h.name, b"content-length") {
            Some(SetValue::BodyLength)
        } else if eq_ignore_case(h.name, b"transfer-encoding") {
            Some(SetValue::Chunked)
        } else {
            None
        };
        let value = match (h.value, framing) {
            (SetValue::Value([]), _) => return None,
            (SetValue::Value(_), Some(regenerated)) => regenerated,
            (v, _) => v,
        };
        match (value, self.body) {
            (SetValue::Value(v), _) => Some(Cow::Borrowed(v)),
            (SetValue::BodyLength, UpstreamBody::Length(n)) => {
                Some(Cow::Owned(n.to_string().into_bytes()))
            }
            (SetValue::Chunked, UpstreamBody::Chunked) => Some(Cow::Borrowed(b"chunked")),
            _ => None,
        }
    }
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Re-frames body data for the upstream: as is for a known length (never
/// more than announced), as chunks (`ngx_http_proxy_body_output_filter`:
/// lower-case hex size) when streamed chunked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyEncoder {
    body: UpstreamBody,
    sent: u64,
}

impl BodyEncoder {
    /// An encoder for the framing announced in the head.
    pub fn new(body: UpstreamBody) -> Self {
        BodyEncoder { body, sent: 0 }
    }

    /// Appends `data`, framed, to `out`. For a known length, bytes beyond it
    /// are dropped; returns how many bytes of `data` were taken.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let take = match self.body {
            UpstreamBody::None => 0,
            UpstreamBody::Length(n) => n.saturating_sub(self.sent).min(data.len() as u64) as usize,
            UpstreamBody::Chunked => {
                if !data.is_empty() {
                    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\r\n");
                }
                self.sent += data.len() as u64;
                return data.len();
            }
        };
        out.extend_from_slice(&data[..take]);
        self.sent += take as u64;
        take
    }

    /// Ends the body: the last chunk when chunked.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.body == UpstreamBody::Chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }

    /// Body bytes taken so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests;
