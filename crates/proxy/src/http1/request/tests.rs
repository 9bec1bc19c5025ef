//! Request head parsing: a named case per rejection, accepted forms, the
//! buffer limits, and every input split at every byte.

use bytes::BytesMut;

use super::*;
use crate::http1::{BodyDecoder, BodyError};

fn cfg() -> RequestConfig {
    RequestConfig::default()
}

fn parse_with(raw: &[u8], cfg: &RequestConfig) -> Result<Option<RequestHead>, RequestError> {
    let mut buf = BytesMut::from(raw);
    parse_request_head(&mut buf, cfg)
}

fn ok(raw: &[u8]) -> RequestHead {
    match parse_with(raw, &cfg()) {
        Ok(Some(head)) => head,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

/// Feeds `raw` one prefix at a time: every proper prefix is incomplete or
/// fails like the whole; the whole gives `want`.
fn at_every_split(raw: &[u8]) -> Result<Option<RequestHead>, RequestError> {
    let whole = parse_with(raw, &cfg());
    for cut in 0..raw.len() {
        match (parse_with(&raw[..cut], &cfg()), &whole) {
            (Ok(None), _) => {}
            (Err(e), Err(w)) if e.kind == w.kind => {}
            // The head is complete before the body is.
            (Ok(Some(h)), Ok(Some(w))) if h.as_bytes() == w.as_bytes() => {}
            (got, _) => panic!(
                "prefix {cut} of {:?}: {got:?}, whole: {whole:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }
    whole
}

macro_rules! rejects {
    ($($name:ident: $raw:expr => $kind:expr, $status:expr;)*) => {$(
        #[test]
        fn $name() {
            let e = match at_every_split($raw) {
                Err(e) => e,
                Ok(h) => panic!("accepted: {h:?}"),
            };
            assert_eq!(e.kind, $kind);
            assert_eq!(e.status(), $status);
        }
    )*};
}

rejects! {
    lowercase_method: b"get / HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidMethod, 400;
    digit_in_method: b"G3T / HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidMethod, 400;
    space_in_uri: b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    control_byte_in_uri: b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    del_in_uri: b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    lowercase_protocol: b"GET / http/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    version_without_minor: b"GET / HTTP/1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    explicit_http_0_9: b"GET / HTTP/0.9\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    http_2_is_505: b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidVersion, 505;
    http_10_major_is_505: b"GET / HTTP/10.0\r\n\r\n" => RequestErrorKind::InvalidVersion, 505;
    leading_zero_major: b"GET / HTTP/01.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    minor_over_999: b"GET / HTTP/1.1000\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    cr_without_lf_in_request_line: b"GET / HTTP/1.1\rX\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    http09_post: b"POST /\r\n" => RequestErrorKind::Invalid09Method, 400;
    bad_schema: b"GET ht!tp://a/ HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    schema_without_slashes: b"GET http:/a/ HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    bad_host_byte_in_absolute_form: b"GET http://a_b/ HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    double_dot_host_in_line: b"GET http://a..b/ HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidHostInRequestLine, 400;
    empty_host_in_line: b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidHostInRequestLine, 400;
    missing_host_http11: b"GET / HTTP/1.1\r\n\r\n" => RequestErrorKind::MissingHost, 400;
    absolute_form_still_needs_host_header: b"GET http://a/ HTTP/1.1\r\n\r\n" => RequestErrorKind::MissingHost, 400;
    duplicate_host: b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n" => RequestErrorKind::DuplicateHost, 400;
    empty_host: b"GET / HTTP/1.1\r\nHost: \r\n\r\n" => RequestErrorKind::InvalidHost, 400;
    host_with_slash: b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => RequestErrorKind::InvalidHost, 400;
    host_with_space: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => RequestErrorKind::InvalidHost, 400;
    host_with_tab: b"GET / HTTP/1.1\r\nHost:\ta\r\n\r\n" => RequestErrorKind::InvalidHost, 400;
    host_double_dot: b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n" => RequestErrorKind::InvalidHost, 400;
    host_only_a_dot: b"GET / HTTP/1.1\r\nHost: .\r\n\r\n" => RequestErrorKind::InvalidHost, 400;
    content_length_with_chunked: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" => RequestErrorKind::ContentLengthWithTransferEncoding, 400;
    chunked_with_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" => RequestErrorKind::ContentLengthWithTransferEncoding, 400;
    duplicate_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n" => RequestErrorKind::DuplicateHeader("Content-Length".into()), 400;
    invalid_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n" => RequestErrorKind::InvalidContentLength, 400;
    negative_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n" => RequestErrorKind::InvalidContentLength, 400;
    plus_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n" => RequestErrorKind::InvalidContentLength, 400;
    list_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n" => RequestErrorKind::InvalidContentLength, 400;
    empty_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n" => RequestErrorKind::InvalidContentLength, 400;
    overflowing_content_length: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n" => RequestErrorKind::InvalidContentLength, 400;
    gzip_transfer_encoding: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n" => RequestErrorKind::UnknownTransferEncoding, 501;
    chunked_list_transfer_encoding: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => RequestErrorKind::UnknownTransferEncoding, 501;
    identity_transfer_encoding: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n" => RequestErrorKind::UnknownTransferEncoding, 501;
    chunked_with_tab: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n" => RequestErrorKind::UnknownTransferEncoding, 501;
    duplicate_transfer_encoding: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => RequestErrorKind::DuplicateHeader("Transfer-Encoding".into()), 400;
    transfer_encoding_in_http10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => RequestErrorKind::TransferEncodingInHttp10, 400;
    unknown_te_in_http10_is_400_first: b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n" => RequestErrorKind::TransferEncodingInHttp10, 400;
    invalid_length_beats_unknown_te: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\nTransfer-Encoding: gzip\r\n\r\n" => RequestErrorKind::InvalidContentLength, 400;
    chunked_obs_fold: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n ,gzip\r\n\r\n" => RequestErrorKind::InvalidHeader, 400;
    space_before_colon: b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n" => RequestErrorKind::InvalidHeader, 400;
    leading_space_first_header: b"GET / HTTP/1.1\r\n Host: a\r\n\r\n" => RequestErrorKind::InvalidHeader, 400;
    empty_header_name: b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n" => RequestErrorKind::InvalidHeader, 400;
    nul_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n" => RequestErrorKind::InvalidHeader, 400;
    bare_cr_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n" => RequestErrorKind::InvalidHeader, 400;
    tab_in_name: b"GET / HTTP/1.1\r\nHost: a\r\nX\tY: v\r\n\r\n" => RequestErrorKind::InvalidHeader, 400;
    header_without_colon: b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n" => RequestErrorKind::UnsupportedHeader, 400;
    control_byte_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n" => RequestErrorKind::UnsupportedHeader, 400;
    duplicate_expect: b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n" => RequestErrorKind::DuplicateHeader("Expect".into()), 400;
    duplicate_authorization: b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\nauthorization: b\r\n\r\n" => RequestErrorKind::DuplicateHeader("authorization".into()), 400;
    duplicate_if_modified_since: b"GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: x\r\nIf-Modified-Since: y\r\n\r\n" => RequestErrorKind::DuplicateHeader("If-Modified-Since".into()), 400;
    connect_method: b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::ConnectMethod, 405;
    connect_authority_form: b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::InvalidRequest, 400;
    trace_method: b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n" => RequestErrorKind::TraceMethod, 405;
}

#[test]
fn simple_request_and_pipelined_bytes() {
    let mut buf = BytesMut::from(
        &b"GET /x?y=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nA: 1\r\n\r\nGET /2 HTTP/1.1\r\n"[..],
    );
    let head = parse_request_head(&mut buf, &cfg()).ok().flatten();
    let Some(head) = head else {
        panic!("not parsed")
    };
    assert_eq!(&buf[..], b"GET /2 HTTP/1.1\r\n");
    assert_eq!(head.method(), b"GET");
    assert_eq!(head.method_kind(), RequestMethod::Get);
    assert_eq!(head.request_line(), b"GET /x?y=1 HTTP/1.1");
    assert_eq!(head.target(), b"/x?y=1");
    assert_eq!(
        head.uri(),
        UriParts {
            unparsed: b"/x?y=1",
            path: b"/x",
            args: b"y=1",
            flags: UriFlags::default()
        }
    );
    assert_eq!(head.version(), Version::HTTP_11);
    assert_eq!(head.host_header(), Some(&b"Example.COM:8080"[..]));
    assert_eq!(head.server_name(), Some(&b"example.com"[..]));
    assert!(head.keepalive());
    assert_eq!(head.headers().len(), 2);
    assert_eq!(head.len(), head.as_bytes().len());
}

#[test]
fn absolute_form_host_wins_over_host_header() {
    let head = ok(b"GET http://Upper.Example:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(head.schema(), Some(&b"http"[..]));
    assert_eq!(head.server_name(), Some(&b"upper.example"[..]));
    assert_eq!(head.target(), b"http://Upper.Example:81/p?q");
    assert_eq!(head.uri().unparsed, b"/p?q");
    let no_path = ok(b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        (no_path.uri().unparsed, no_path.target()),
        (&b"/"[..], &b"http://h"[..])
    );
    let query_only = ok(b"GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(query_only.uri().flags.empty_path);
    assert_eq!(query_only.uri().args, b"x=1");
    let literal = ok(b"GET http://[::1]:8080/ HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(literal.server_name(), Some(&b"[::1]"[..]));
}

#[test]
fn http09_has_no_headers() {
    let mut buf = BytesMut::from(&b"GET /old\r\nHost: ignored\r\n"[..]);
    let head = parse_request_head(&mut buf, &cfg()).ok().flatten();
    let Some(head) = head else {
        panic!("not parsed")
    };
    assert_eq!(head.version(), Version::HTTP_09);
    assert_eq!(head.headers().len(), 0);
    assert_eq!(&buf[..], b"Host: ignored\r\n");
    assert!(head.reply_context().http09);
}

#[test]
fn http10_without_host_and_versions_nginx_accepts() {
    assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").server_name(), None);
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keepalive());
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepalive());
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n").keepalive());
    assert_eq!(
        ok(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n").version(),
        Version(1002)
    );
    assert_eq!(
        ok(b"GET / HTTP/1.10\r\nHost: a\r\n\r\n").version(),
        Version(1010)
    );
}

#[test]
fn lenient_forms_nginx_accepts() {
    // Runs of spaces, bare LF, leading empty lines, unknown methods.
    let head = ok(b"\r\n\nFOO   /a   HTTP/1.1  \nHost: a\nX:y\n\n");
    assert_eq!(head.method(), b"FOO");
    assert_eq!(head.method_kind(), RequestMethod::Unknown);
    assert_eq!(head.header(b"x"), Some(&b"y"[..]));
    assert!(
        ok(b"GET /\xff\xfe HTTP/1.1\r\nHost: a\r\n\r\n")
            .uri()
            .path
            .ends_with(b"\xfe")
    );
    assert!(
        ok(b"GET /a%20b/../c+d HTTP/1.1\r\nHost: a\r\n\r\n")
            .uri()
            .flags
            .quoted
    );
    assert_eq!(
        ok(b"GET / HTTP/1.1\r\nHost: example.com.\r\n\r\n").server_name(),
        Some(&b"example.com"[..])
    );
}

#[test]
fn invalid_header_names_are_dropped_or_kept() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX_Under: u\r\nX.Dot: d\r\nX@At: a\r\nOk: 1\r\n\r\n";
    let head = ok(raw);
    assert_eq!(
        head.headers().map(|h| h.name).collect::<Vec<_>>(),
        vec![&b"Host"[..], b"Ok"]
    );
    assert_eq!(head.invalid_headers_dropped(), 3);
    let keep = RequestConfig {
        ignore_invalid_headers: false,
        ..cfg()
    };
    let err = parse_with(raw, &keep).err().map(|e| e.kind);
    assert_eq!(err, Some(RequestErrorKind::UnsupportedHeader)); // "X@At" is not a token
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX_Under: u\r\n\r\n";
    let kept = parse_with(raw, &keep)
        .ok()
        .flatten()
        .map(|h| h.headers().len());
    assert_eq!(kept, Some(2));
    let under = RequestConfig {
        underscores_in_headers: true,
        ..cfg()
    };
    assert_eq!(
        parse_with(raw, &under)
            .ok()
            .flatten()
            .map(|h| h.headers().len()),
        Some(2)
    );
}

#[test]
fn framing_and_hooks() {
    let chunked = ok(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nExpect: 100-Continue\r\n\r\n",
    );
    assert_eq!(chunked.body_framing(), BodyFraming::Chunked);
    assert!(chunked.expects_continue());
    let length = ok(b"POST / HTTP/1.0\r\nContent-Length: 007\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(length.body_framing(), BodyFraming::Length(7));
    assert!(!length.expects_continue(), "HTTP/1.0 gets no 100 Continue");
    assert_eq!(
        ok(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body_framing(),
        BodyFraming::None
    );
    assert!(ok(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").has_upgrade());
}

#[test]
fn error_context_follows_the_request() {
    let e = parse_with(b"HEAD / HTTP/1.1\r\n\r\n", &cfg()).err();
    assert_eq!(
        e.map(|e| e.reply),
        Some(ReplyContext {
            head_only: true,
            http09: false,
            msie_padding: false
        })
    );
    let chrome = b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\r\n";
    assert!(
        parse_with(chrome, &cfg())
            .err()
            .is_some_and(|e| e.reply.msie_padding)
    );
    let firefox = b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0 Gecko/20100101 Firefox/120.0\r\n\r\n";
    assert!(
        parse_with(firefox, &cfg())
            .err()
            .is_some_and(|e| !e.reply.msie_padding)
    );
    let msie = b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0)\r\n\r\n";
    assert!(
        parse_with(msie, &cfg())
            .err()
            .is_some_and(|e| e.reply.msie_padding)
    );
    let old = parse_with(b"POST /\r\n", &cfg()).err();
    assert!(old.is_some_and(|e| e.reply.http09));
}

fn small() -> RequestConfig {
    RequestConfig {
        limits: HeaderLimits {
            client_header_buffer_size: 32,
            large_buffers: 2,
            large_buffer_size: 64,
        },
        ..cfg()
    }
}

#[test]
fn request_line_longer_than_a_large_buffer_is_414() {
    let mut raw = b"GET /".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 60));
    let partial = parse_with(&raw, &small())
        .err()
        .map(|e| (e.kind.clone(), e.status()));
    assert_eq!(partial, Some((RequestErrorKind::UriTooLong, 414)));
    raw.truncate(40);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(parse_with(&raw, &small()).is_ok_and(|h| h.is_some()));
}

#[test]
fn header_line_longer_than_a_large_buffer_is_494() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: ".to_vec();
    raw.extend(std::iter::repeat_n(b'c', 60));
    raw.extend_from_slice(b"\r\n\r\n");
    let e = parse_with(&raw, &small()).err();
    assert_eq!(
        e.as_ref()
            .map(|e| (&e.kind, e.status(), e.error_page().code())),
        Some((&RequestErrorKind::HeaderTooLarge, 400, 494))
    );
}

#[test]
fn too_many_header_bytes_is_494() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..10 {
        raw.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let e = parse_with(&raw, &small()).err().map(|e| e.kind);
    assert_eq!(e, Some(RequestErrorKind::HeaderTooLarge));
    // The same head fits nginx's defaults.
    assert!(parse_with(&raw, &cfg()).is_ok_and(|h| h.is_some()));
}

#[test]
fn an_earlier_bad_line_wins_over_a_later_overflow() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nCookie: ".to_vec();
    raw.extend(std::iter::repeat_n(b'c', 200));
    assert_eq!(
        parse_with(&raw, &small()).err().map(|e| e.kind),
        Some(RequestErrorKind::DuplicateHost)
    );
}

#[test]
fn accepted_requests_at_every_split() {
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /p?q HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX: \t y \r\n\r\nabc",
        b"GET http://h:1/x HTTP/1.0\nA: b\n\n",
        b"GET /x\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\nX_Y: dropped\r\nX@Y: dropped\r\n\r\n",
    ] {
        assert!(
            matches!(at_every_split(raw), Ok(Some(_))),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn values_are_trimmed_like_nginx() {
    let head = ok(b"GET / HTTP/1.1\r\nHost: a\r\nX:   \tv  v\t  \r\n\r\n");
    assert_eq!(head.header(b"X"), Some(&b"\tv  v\t"[..]));
}

/// Request smuggling vectors (sozu's e2e list, pingora CVE-2026-2833): each is
/// refused with nginx's status before any byte could go upstream, the
/// request hidden behind it is never parsed, and a clean request still works.
#[test]
fn smuggling_vectors_are_refused() {
    let hidden = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let vectors: [(&[u8], u16); 9] = [
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 37\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 37\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n identity\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nX: y\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ];
    for (attack, status) in vectors {
        let mut raw = attack.to_vec();
        raw.extend_from_slice(hidden);
        let mut buf = BytesMut::from(&raw[..]);
        let got = parse_request_head(&mut buf, &cfg());
        assert_eq!(
            got.as_ref().err().map(RequestError::status),
            Some(status),
            "{:?}",
            String::from_utf8_lossy(attack)
        );
        assert_eq!(
            buf.len(),
            raw.len(),
            "nothing consumed, the connection closes"
        );
    }
    // Bad chunk sizes are refused by the body decoder (400).
    for body in [
        &b"zz\r\n"[..],
        b" 5\r\nhello\r\n",
        b"0x5\r\n",
        b"fffffffffffffffff\r\n",
    ] {
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, 0).ok();
        let err = dec.as_mut().map(|d| d.decode(body).err());
        assert_eq!(err, Some(Some(BodyError::InvalidChunked)), "{body:?}");
    }
    assert!(ok(hidden).header(b"host").is_some());
}

/// Found by fuzzing: nginx never reads past its buffers, so a bad byte
/// beyond them loses to "too long" (414 in the request line, 494 in a header
/// line), and a bad byte within them wins even if the line is longer.
#[test]
fn a_refused_byte_counts_only_if_nginx_would_have_read_it() {
    let mut line = b"POST ".to_vec();
    line.extend(std::iter::repeat_n(b'J', 100));
    line.push(b'(');
    assert_eq!(
        parse_with(&line, &small()).err().map(|e| e.kind),
        Some(RequestErrorKind::UriTooLong)
    );
    assert_eq!(
        parse_with(&line[..70], &small()).err().map(|e| e.kind),
        Some(RequestErrorKind::UriTooLong)
    );
    let mut early = b"POST J(".to_vec();
    early.extend(std::iter::repeat_n(b'J', 100));
    assert_eq!(
        parse_with(&early, &small()).err().map(|e| e.kind),
        Some(RequestErrorKind::InvalidRequest)
    );

    let mut header = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    header.extend(std::iter::repeat_n(b'v', 100));
    header.extend_from_slice(b"\0\r\n\r\n");
    assert_eq!(
        parse_with(&header, &small()).err().map(|e| e.kind),
        Some(RequestErrorKind::HeaderTooLarge)
    );
    let mut header = b"GET / HTTP/1.1\r\nHost: a\r\nX: \0".to_vec();
    header.extend(std::iter::repeat_n(b'v', 100));
    assert_eq!(
        parse_with(&header, &small()).err().map(|e| e.kind),
        Some(RequestErrorKind::InvalidHeader)
    );
    header.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        parse_with(&header, &small()).err().map(|e| e.kind),
        Some(RequestErrorKind::InvalidHeader)
    );
}
