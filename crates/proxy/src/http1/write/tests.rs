//! The upstream request writer against NGINX-BEHAVIOUR.md items 1-3.

use bytes::BytesMut;

use super::*;
use crate::http1::{RequestConfig, parse_request_head};

/// nginx's default `proxy_set_header` table after the location's own entries
/// (`ngx_http_proxy_headers[]` minus names already set).
fn defaults<'a>(host: &'a [u8]) -> Vec<SetHeader<'a>> {
    vec![
        SetHeader::new(b"Host", host),
        SetHeader::new(b"Connection", b"close"),
        SetHeader {
            name: b"Content-Length",
            value: SetValue::BodyLength,
        },
        SetHeader {
            name: b"Transfer-Encoding",
            value: SetValue::Chunked,
        },
        SetHeader::new(b"TE", b""),
        SetHeader::new(b"Keep-Alive", b""),
        SetHeader::new(b"Expect", b""),
        SetHeader::new(b"Upgrade", b""),
    ]
}

fn head(raw: &[u8]) -> crate::http1::RequestHead {
    let mut buf = BytesMut::from(raw);
    match parse_request_head(&mut buf, &RequestConfig::default()) {
        Ok(Some(head)) => head,
        other => panic!("{other:?}"),
    }
}

/// NGINX-BEHAVIOUR 1, "Observed (location with its own proxy_set_header,
/// proxy_http_version 1.1, chunked POST)": the same client request and the
/// same evaluated entries give nginx's bytes.
#[test]
fn reproduces_nginx_behaviour_1() {
    let client = head(
        b"POST /order?a=1 HTTP/1.1\r\nHost: b\r\nX-B: from-client\r\nX-Empty: e\r\nX-Var: v\r\n\
          TE: trailers\r\nKeep-Alive: 300\r\nUpgrade: foo\r\nConnection: keep-alive, Upgrade\r\n\
          Transfer-Encoding: chunked\r\nuser-agent: UA/1\r\nX-Dup: one\r\nX-Dup: two\r\n\
          X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nCookie: a=1\r\nCookie: b=2\r\n\
          x-m: FOO\r\nContent-Type: text/plain\r\nX_Under: u\r\nMixed-CASE: v\r\n\r\n",
    );
    let mut set = vec![
        SetHeader::new(b"X-B", b"b-from-config"),
        SetHeader::new(b"host", b"Custom.Host"),
        SetHeader::new(b"X-Dupvar", b"one"),
        SetHeader::new(b"X-XFF", b"1.1.1.1, 2.2.2.2, 127.0.0.1"),
        SetHeader::new(b"X-Cookie", b"a=1; b=2"),
        SetHeader::new(b"X-Mapped", b"exact"),
        SetHeader::new(b"x-empty", b""),
        SetHeader::new(b"X-Var", b""),
    ];
    // The defaults whose names the location did not set.
    set.extend(
        defaults(b"b")
            .into_iter()
            .filter(|d| !eq_ignore_case(d.name, b"host")),
    );
    let req = UpstreamRequest {
        method: client.method(),
        uri: client.uri().unparsed,
        version: ProxyHttpVersion::Http11,
        set_headers: &set,
        body: UpstreamBody::Length(5), // the chunked body was buffered
    };
    let mut out = Vec::new();
    req.write_head(client.headers(), &mut out);
    let observed = "POST /order?a=1 HTTP/1.1 | X-B: b-from-config | host: Custom.Host | X-Dupvar: one \
        | X-XFF: 1.1.1.1, 2.2.2.2, 127.0.0.1 | X-Cookie: a=1; b=2 | X-Mapped: exact | Connection: close \
        | Content-Length: 5 | user-agent: UA/1 | X-Dup: one | X-Dup: two | X-Forwarded-For: 1.1.1.1 \
        | X-Forwarded-For: 2.2.2.2 | Cookie: a=1 | Cookie: b=2 | x-m: FOO | Content-Type: text/plain \
        | Mixed-CASE: v";
    let expected = format!("{}\r\n\r\n", observed.replace(" | ", "\r\n"));
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn default_proxy_request_is_http10_with_host_and_close() {
    let client = head(b"GET /x?y HTTP/1.1\r\nHost: front\r\nAccept: */*\r\nX-Empty: \r\n\r\n");
    let set = defaults(b"backend:8080");
    let req = UpstreamRequest {
        method: client.method(),
        uri: client.uri().unparsed,
        version: ProxyHttpVersion::Http10,
        set_headers: &set,
        body: client_body(&client),
    };
    let mut out = Vec::new();
    req.write_head(client.headers(), &mut out);
    assert_eq!(
        out,
        b"GET /x?y HTTP/1.0\r\nHost: backend:8080\r\nConnection: close\r\nAccept: */*\r\nX-Empty: \r\n\r\n"
    );
}

fn client_body(h: &crate::http1::RequestHead) -> UpstreamBody {
    match h.content_length() {
        Some(n) => UpstreamBody::Length(n),
        None if h.is_chunked() => UpstreamBody::Chunked,
        None => UpstreamBody::None,
    }
}

#[test]
fn framing_headers_are_regenerated_never_copied() {
    let client = head(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    let set = defaults(b"b");
    for (body, want) in [
        (
            UpstreamBody::Chunked,
            &b"Transfer-Encoding: chunked\r\n"[..],
        ),
        (UpstreamBody::Length(0), b"Content-Length: 0\r\n"),
        (UpstreamBody::None, b"Connection: close\r\n\r\n"),
    ] {
        let req = UpstreamRequest {
            method: b"POST",
            uri: b"/",
            version: ProxyHttpVersion::Http11,
            set_headers: &set,
            body,
        };
        let mut out = Vec::new();
        req.write_head(client.headers(), &mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(
            text.contains(std::str::from_utf8(want).unwrap_or_default()),
            "{text}"
        );
        assert_eq!(
            text.matches("Transfer-Encoding").count(),
            usize::from(body == UpstreamBody::Chunked),
            "{text}"
        );
    }
    // A configured Content-Length value is replaced by the real length.
    let set = [SetHeader::new(b"Content-Length", b"999")];
    let req = UpstreamRequest {
        method: b"POST",
        uri: b"/",
        version: ProxyHttpVersion::Http10,
        set_headers: &set,
        body: UpstreamBody::Length(3),
    };
    let mut out = Vec::new();
    req.write_head([], &mut out);
    assert_eq!(out, b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n");
}

#[test]
fn client_framing_and_hop_headers_are_dropped_even_without_defaults() {
    let client = head(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nTE: x\r\n\
          Keep-Alive: 1\r\nExpect: 100-continue\r\nContent-Length: 0\r\nX-Keep: k\r\n\r\n",
    );
    let req = UpstreamRequest {
        method: b"GET",
        uri: b"/",
        version: ProxyHttpVersion::Http11,
        set_headers: &[],
        body: UpstreamBody::None,
    };
    let mut out = Vec::new();
    req.write_head(client.headers(), &mut out);
    assert_eq!(out, b"GET / HTTP/1.1\r\nX-Keep: k\r\n\r\n");
}

#[test]
fn websocket_upgrade_entries_pass_when_set() {
    let client = head(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n");
    let mut set = vec![
        SetHeader::new(b"Upgrade", b"websocket"),
        SetHeader::new(b"Connection", b"upgrade"),
    ];
    set.extend(
        defaults(b"b").into_iter().filter(|d| {
            !eq_ignore_case(d.name, b"upgrade") && !eq_ignore_case(d.name, b"connection")
        }),
    );
    let req = UpstreamRequest {
        method: b"GET",
        uri: b"/ws",
        version: ProxyHttpVersion::Http11,
        set_headers: &set,
        body: UpstreamBody::None,
    };
    let mut out = Vec::new();
    req.write_head(client.headers(), &mut out);
    assert_eq!(
        out,
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nHost: b\r\nSec-WebSocket-Key: k\r\n\r\n"
    );
}

#[test]
fn body_encoder_frames_like_nginx() {
    let mut out = Vec::new();
    let mut chunked = BodyEncoder::new(UpstreamBody::Chunked);
    chunked.encode(b"hello world, this is 31 bytes..", &mut out);
    chunked.encode(b"", &mut out);
    chunked.finish(&mut out);
    assert_eq!(out, b"1f\r\nhello world, this is 31 bytes..\r\n0\r\n\r\n");
    out.clear();
    let mut fixed = BodyEncoder::new(UpstreamBody::Length(4));
    assert_eq!(fixed.encode(b"abc", &mut out), 3);
    assert_eq!(fixed.encode(b"def", &mut out), 1);
    fixed.finish(&mut out);
    assert_eq!((out.as_slice(), fixed.sent()), (&b"abcd"[..], 4));
}
