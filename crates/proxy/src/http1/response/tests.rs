//! Upstream response heads: the 1.23+ framing rules (each a 502), status
//! lines, duplicates, framing, the tunnel predicate, splits at every byte.

use bytes::BytesMut;

use super::*;

fn parse(raw: &[u8]) -> Result<Option<ResponseHead>, ResponseError> {
    let mut buf = BytesMut::from(raw);
    parse_response_head(&mut buf, &ResponseConfig::default())
}

fn ok(raw: &[u8]) -> ResponseHead {
    match parse(raw) {
        Ok(Some(h)) => h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

/// Every proper prefix is incomplete or fails like the whole.
fn at_every_split(raw: &[u8]) -> Result<Option<ResponseHead>, ResponseError> {
    let whole = parse(raw);
    for cut in 0..raw.len() {
        match (parse(&raw[..cut]), &whole) {
            (Ok(None), _) => {}
            (Err(e), Err(w)) if &e == w => {}
            (Ok(Some(h)), Ok(Some(w))) if h.as_bytes() == w.as_bytes() => {}
            (got, _) => panic!("prefix {cut}: {got:?} vs {whole:?}"),
        }
    }
    whole
}

macro_rules! bad_gateway {
    ($($name:ident: $raw:expr => $err:expr;)*) => {$(
        #[test]
        fn $name() {
            let e = at_every_split($raw).err();
            assert_eq!(e, Some($err));
            assert_eq!(e.map(|e| e.status()), Some(502));
        }
    )*};
}

bad_gateway! {
    duplicate_content_length: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n" => ResponseError::DuplicateHeader("Content-Length");
    content_length_then_chunked: b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n" => ResponseError::ContentLengthWithTransferEncoding;
    chunked_then_content_length: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n" => ResponseError::ContentLengthWithTransferEncoding;
    gzip_chunked: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => ResponseError::UnknownTransferEncoding;
    duplicate_chunked: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => ResponseError::DuplicateHeader("Transfer-Encoding");
    invalid_content_length: b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n" => ResponseError::InvalidContentLength;
    obs_fold: b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n" => ResponseError::InvalidHeader;
    nul_in_value: b"HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n" => ResponseError::InvalidHeader;
    no_status_line: b"hello world\r\n\r\n" => ResponseError::NoValidHeader;
    two_digit_status: b"HTTP/1.1 20 OK\r\n\r\n" => ResponseError::NoValidHeader;
    four_digit_status: b"HTTP/1.1 2000 OK\r\n\r\n" => ResponseError::NoValidHeader;
    http_zero: b"HTTP/0.9 200 OK\r\n\r\n" => ResponseError::NoValidHeader;
    cr_in_reason: b"HTTP/1.1 200 O\rK\r\n\r\n" => ResponseError::NoValidHeader;
}

#[test]
fn reason_phrase_is_kept_verbatim() {
    assert_eq!(
        ok(b"HTTP/1.1 200 Fine Thanks\r\n\r\n").status_line(),
        b"200 Fine Thanks"
    );
    assert_eq!(ok(b"HTTP/1.1 200\r\n\r\n").status_line(), b"200");
    assert_eq!(ok(b"HTTP/1.1 200 \r\n\r\n").status_line(), b"200 ");
    let iis = ok(b"HTTP/1.1   403.1 Forbidden\nX: y\n\n");
    assert_eq!(
        (iis.status(), iis.status_line()),
        (403, &b"403.1 Forbidden"[..])
    );
    assert_eq!(ok(b"HTTP/1.0 404 Nope\r\n\r\n").version(), Version::HTTP_10);
}

#[test]
fn repeated_single_value_headers_keep_the_first() {
    let head = ok(b"HTTP/1.1 302 Found\r\nLocation: /a\r\nSet-Cookie: 1\r\nlocation: /b\r\nSet-Cookie: 2\r\nServer: x\r\nServer: y\r\n\r\n");
    assert_eq!(head.header(b"location"), Some(&b"/a"[..]));
    let passed: Vec<_> = head.passed_headers().map(|h| h.value).collect();
    assert_eq!(passed, vec![&b"/a"[..], b"1", b"2", b"x"]);
    assert_eq!(head.headers().count(), 6);
}

#[test]
fn stray_status_lines_and_odd_names_pass() {
    let head = ok(b"HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nX_Under: u\r\nX.Dot: d\r\n\r\n");
    assert_eq!(head.passed_headers().count(), 2);
}

#[test]
fn framing_rules() {
    let cl = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(cl.framing(false), ResponseFraming::Length(5));
    assert_eq!(cl.framing(true), ResponseFraming::NoBody);
    assert!(cl.keepalive_possible(false));
    let chunked = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n");
    assert_eq!(
        (chunked.framing(false), chunked.content_length()),
        (ResponseFraming::Chunked, None)
    );
    let close = ok(b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n");
    assert_eq!(close.framing(false), ResponseFraming::UntilClose);
    assert!(close.connection_close() && !close.keepalive_possible(false));
    for status in [&b"204 No Content"[..], b"304 Not Modified"] {
        let mut raw = b"HTTP/1.1 ".to_vec();
        raw.extend_from_slice(status);
        raw.extend_from_slice(b"\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(ok(&raw).framing(false), ResponseFraming::NoBody);
    }
    assert_eq!(
        ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").framing(false),
        ResponseFraming::NoBody
    );
    assert!(ok(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").connection_close());
    let switching = ok(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    );
    assert_eq!(switching.framing(false), ResponseFraming::UntilClose);
    assert!(!switching.keepalive_possible(false));
}

#[test]
fn a_101_is_a_tunnel_only_for_a_client_that_asked() {
    assert!(is_tunnel(true, 101));
    assert!(
        !is_tunnel(false, 101),
        "smuggling: 101 to a client without Upgrade"
    );
    assert!(!is_tunnel(true, 200));
    assert!(!is_tunnel(true, 426));
}

#[test]
fn bytes_after_the_head_stay_in_the_buffer() {
    let mut buf =
        BytesMut::from(&b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nEARLY"[..]);
    let head = parse_response_head(&mut buf, &ResponseConfig::default());
    assert!(matches!(head, Ok(Some(ref h)) if h.status() == 101));
    assert_eq!(&buf[..], b"EARLY");
}

#[test]
fn a_head_larger_than_proxy_buffer_size_is_502() {
    let mut raw = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    raw.extend(std::iter::repeat_n(b'v', 100));
    raw.extend_from_slice(b"\r\n\r\n");
    let small = ResponseConfig {
        proxy_buffer_size: 64,
    };
    let mut buf = BytesMut::from(&raw[..]);
    assert_eq!(
        parse_response_head(&mut buf, &small).err(),
        Some(ResponseError::TooBigHeader)
    );
    let mut buf = BytesMut::from(&raw[..]);
    assert!(parse_response_head(&mut buf, &ResponseConfig::default()).is_ok_and(|h| h.is_some()));
}

#[test]
fn accepted_heads_at_every_split() {
    for raw in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..],
        b"HTTP/1.0 204\n\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
    ] {
        assert!(matches!(at_every_split(raw), Ok(Some(_))));
    }
}

#[test]
fn known_headers_by_name_in_any_case() {
    for name in [
        "Status",
        "Content-Type",
        "date",
        "LAST-MODIFIED",
        "ETag",
        "Server",
        "Location",
        "Refresh",
        "Expires",
        "X-Accel-Expires",
        "X-Accel-Redirect",
        "X-Accel-Limit-Rate",
    ] {
        assert_eq!(known(name.as_bytes()), Known::Single, "{name}");
    }
    assert_eq!(known(b"Content-Length"), Known::ContentLength);
    assert_eq!(known(b"transfer-encoding"), Known::TransferEncoding);
    assert_eq!(known(b"CONNECTION"), Known::Connection);
    for name in [
        "",
        "Dat",
        "Dates",
        "X-Accel-Buffering",
        "Set-Cookie",
        "Vary",
        "Content-Lengths",
    ] {
        assert_eq!(known(name.as_bytes()), Known::Other, "{name}");
    }
}
