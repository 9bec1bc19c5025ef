//! HTTP/1.x on both sides of the proxy, byte for byte as nginx speaks it: an
//! own codec over httparse (httparse tokenises every header line; the request
//! line, the status line and chunked framing are small state machines ported
//! from `ngx_http_parse.c`).
//!
//! A request travels through these files in this order:
//!
//! 1. [`request`]: [`parse_request_head`] reads the client's head the way
//!    `ngx_http_process_request_line` / `ngx_http_process_request_headers` /
//!    `ngx_http_process_request_header` do, with nginx's buffer limits, and
//!    returns a [`RequestHead`] or a [`RequestError`] carrying nginx's status.
//! 2. [`body`]: [`BodyDecoder`] removes the client's framing (Content-Length or
//!    chunked, `client_max_body_size`), streaming, one state machine.
//! 3. [`write`](mod@write): [`UpstreamRequest`] writes the request to the upstream exactly
//!    as `ngx_http_proxy_create_request` does; [`BodyEncoder`] re-frames the body.
//!    Content-Length and Transfer-Encoding are regenerated, never forwarded.
//! 4. [`response`]: [`parse_response_head`] reads the upstream's head with the
//!    1.23+ rules (502 for ambiguous framing), [`ResponseHead::framing`] says how
//!    its body ends, [`is_tunnel`] says whether a 101 starts a tunnel.
//! 5. [`response_writer`]: [`ClientResponse`] writes the head the client gets
//!    in `ngx_http_header_filter`'s order.
//! 6. [`error_page`]: nginx's own error responses, for every rejection above.
//!
//! Nothing here does I/O or reads a clock: the caller passes buffers, the
//! configuration values and the formatted date ([`http_date`]).
//!
//! ```
//! use bytes::BytesMut;
//! use upgate_proxy::http1::{parse_request_head, RequestConfig};
//!
//! let mut buf = BytesMut::from(&b"GET /x HTTP/1.1\r\nHost: b\r\n\r\nGET /next"[..]);
//! let head = parse_request_head(&mut buf, &RequestConfig::default())
//!     .expect("valid")
//!     .expect("complete");
//! assert_eq!(head.method(), b"GET");
//! assert_eq!(head.header(b"host"), Some(&b"b"[..]));
//! assert_eq!(&buf[..], b"GET /next"); // pipelined bytes stay in the buffer
//! ```

pub mod body;
pub mod chunked;
mod date;
pub mod error_page;
mod fields;
mod limits;
pub mod request;
mod request_line;
pub mod response;
pub mod response_writer;
mod server_tokens;
pub mod write;

pub use body::{BodyDecoder, BodyError, BodyFraming, CONTINUE_100, Decoded};
pub use chunked::{ChunkedError, ChunkedParser, ChunkedStep};
pub use date::{http_date, http_date_now};
pub use error_page::{ErrorPage, ReplyContext};
pub use limits::HeaderLimits;
pub use request::{
    ConnectionType, RequestConfig, RequestError, RequestErrorKind, RequestHead, RequestMethod,
    UriFlags, UriParts, parse_request_head,
};
pub use response::{
    ResponseConfig, ResponseError, ResponseFraming, ResponseHead, is_tunnel, parse_response_head,
};
pub use response_writer::{ClientFraming, ClientResponse, HideHeaders, Keepalive};
pub use server_tokens::{ServerIdent, ServerTokens};
pub use write::{
    BodyEncoder, ProxyHttpVersion, SetHeader, SetValue, UpstreamBody, UpstreamRequest,
};

/// One header line as received: the name as spelled and the value with
/// nginx's trimming (leading and trailing spaces removed, tabs kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name, original case.
    pub name: &'a [u8],
    /// The value, raw bytes.
    pub value: &'a [u8],
}

/// An HTTP version as nginx stores it: `major * 1000 + minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32);

impl Version {
    /// A request line without a version (`GET /`).
    pub const HTTP_09: Version = Version(9);
    /// `HTTP/1.0`.
    pub const HTTP_10: Version = Version(1000);
    /// `HTTP/1.1`.
    pub const HTTP_11: Version = Version(1001);

    /// The major number.
    pub fn major(self) -> u32 {
        self.0 / 1000
    }

    /// The minor number.
    pub fn minor(self) -> u32 {
        self.0 % 1000
    }
}

/// ASCII case-insensitive equality, as nginx's `ngx_strncasecmp` on names.
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}
