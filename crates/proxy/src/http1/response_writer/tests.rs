//! The client's response head against NGINX-BEHAVIOUR.md item 5.

use bytes::BytesMut;

use super::*;
use crate::http1::{ResponseConfig, ServerTokens, parse_response_head};

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn upstream(raw: &[u8]) -> ResponseHead {
    let mut buf = BytesMut::from(raw);
    match parse_response_head(&mut buf, &ResponseConfig::default()) {
        Ok(Some(h)) => h,
        other => panic!("{other:?}"),
    }
}

struct Case {
    keepalive: Keepalive,
    version: Version,
    head_request: bool,
    hide: HideHeaders,
    location: Option<&'static [u8]>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            keepalive: Keepalive::Close,
            version: Version::HTTP_11,
            head_request: false,
            hide: HideHeaders::default(),
            location: None,
        }
    }
}

fn write(raw: &[u8], case: Case) -> (String, ClientFraming) {
    let head = upstream(raw);
    let server = ServerIdent::new("nginx", "1.22.1", &ServerTokens::On);
    let resp = ClientResponse {
        head: &head,
        server: &server,
        date: DATE,
        hide: &case.hide,
        keepalive: case.keepalive,
        client_version: case.version,
        head_request: case.head_request,
        chunked_transfer_encoding: true,
        absolute_location: case.location,
    };
    let mut out = Vec::new();
    let framing = resp.write_head(&mut out);
    (String::from_utf8_lossy(&out).into_owned(), framing)
}

fn lines(s: &str) -> Vec<&str> {
    s.trim_end().split("\r\n").collect()
}

#[test]
fn nginx_order_with_reason_phrase_and_regenerated_length() {
    let (out, framing) = write(
        b"HTTP/1.1 200 Fine Thanks\r\nX-First: 1\r\nServer: backend\r\nContent-Length: 05\r\nDate: old\r\n\
          Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Pad: p\r\nContent-Type: text/plain\r\n\
          X-Accel-Buffering: no\r\nX-Accel-Other: passes\r\nUpgrade: foo\r\n\r\n",
        Case { keepalive: Keepalive::KeepAlive { header_timeout: Some(20) }, ..Case::default() },
    );
    assert_eq!(
        lines(&out),
        vec![
            "HTTP/1.1 200 Fine Thanks",
            "Server: nginx/1.22.1",
            "Date: Sun, 06 Nov 1994 08:49:37 GMT",
            "Content-Type: text/plain",
            "Content-Length: 5",
            "Connection: keep-alive",
            "Keep-Alive: timeout=20",
            "X-First: 1",
            "X-Accel-Other: passes",
            "Upgrade: foo",
        ]
    );
    assert!(out.ends_with("\r\n\r\n"));
    assert_eq!(
        framing,
        ClientFraming {
            chunked: false,
            keepalive: true,
            header_only: false
        }
    );
}

#[test]
fn every_101_says_connection_upgrade_and_passes_upgrade() {
    let (out, _) = write(
        b"HTTP/1.1 101 Switching Protocols\r\nServer: b\r\nDate: d\r\nX-Pad: p\r\nConnection: Upgrade\r\n\
          Upgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n\r\n",
        Case::default(),
    );
    assert_eq!(
        lines(&out),
        vec![
            "HTTP/1.1 101 Switching Protocols",
            "Server: nginx/1.22.1",
            "Date: Sun, 06 Nov 1994 08:49:37 GMT",
            "Connection: upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Accept: abc",
        ]
    );
}

#[test]
fn unknown_length_is_chunked_for_http11_and_closes_for_http10() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let ka = Keepalive::KeepAlive {
        header_timeout: None,
    };
    let (out, framing) = write(
        raw,
        Case {
            keepalive: ka,
            ..Case::default()
        },
    );
    assert!(out.contains("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"));
    assert!(framing.chunked && framing.keepalive);
    let (out, framing) = write(
        raw,
        Case {
            keepalive: ka,
            version: Version::HTTP_10,
            ..Case::default()
        },
    );
    assert!(!out.contains("Transfer-Encoding") && out.contains("Connection: close\r\n"));
    assert!(!framing.chunked && !framing.keepalive);
    let (out, framing) = write(
        raw,
        Case {
            keepalive: ka,
            head_request: true,
            ..Case::default()
        },
    );
    assert!(!out.contains("Transfer-Encoding") && framing.header_only && framing.keepalive);
}

#[test]
fn no_content_drops_type_and_length() {
    let (out, framing) = write(
        b"HTTP/1.1 204 No Content\r\nContent-Type: x\r\nContent-Length: 3\r\n\r\n",
        Case::default(),
    );
    assert_eq!(
        lines(&out),
        vec![
            "HTTP/1.1 204 No Content",
            "Server: nginx/1.22.1",
            "Date: Sun, 06 Nov 1994 08:49:37 GMT",
            "Connection: close"
        ]
    );
    assert!(framing.header_only);
}

#[test]
fn pass_and_hide_headers() {
    let raw =
        b"HTTP/1.1 200 OK\r\nA: 1\r\nServer: backend\r\nX-Custom: c\r\nContent-Length: 0\r\n\r\n";
    let hide = HideHeaders::new(&[b"X-Custom"], &[b"server"]);
    let (out, _) = write(
        raw,
        Case {
            hide,
            ..Case::default()
        },
    );
    assert_eq!(
        lines(&out),
        vec![
            "HTTP/1.1 200 OK",
            "Date: Sun, 06 Nov 1994 08:49:37 GMT",
            "Content-Length: 0",
            "Connection: close",
            "A: 1",
            "Server: backend"
        ]
    );
    // A passed Server the upstream did not send: no Server at all.
    let hide = HideHeaders::new(&[], &[b"Server"]);
    let (out, _) = write(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        Case {
            hide,
            ..Case::default()
        },
    );
    assert!(!out.contains("Server"));
}

#[test]
fn absolute_location_takes_the_location_slot() {
    let raw = b"HTTP/1.1 301 Moved\r\nA: 1\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
    let (out, _) = write(
        raw,
        Case {
            location: Some(b"http://h:8080/x"),
            ..Case::default()
        },
    );
    assert_eq!(
        lines(&out),
        vec![
            "HTTP/1.1 301 Moved",
            "Server: nginx/1.22.1",
            "Date: Sun, 06 Nov 1994 08:49:37 GMT",
            "Content-Length: 0",
            "Location: http://h:8080/x",
            "Connection: close",
            "A: 1"
        ]
    );
    let (out, _) = write(raw, Case::default());
    assert!(out.ends_with("A: 1\r\nLocation: /x\r\n\r\n"));
}

#[test]
fn http09_clients_get_no_head() {
    let (out, framing) = write(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        Case {
            version: Version::HTTP_09,
            ..Case::default()
        },
    );
    assert!(out.is_empty());
    assert!(!framing.header_only);
}

#[test]
fn decimals_as_format_writes_them() {
    for n in [0, 7, 10, 12, 999, 1_000_000, u64::MAX] {
        let mut out = Vec::new();
        super::push_decimal(&mut out, n);
        assert_eq!(out, n.to_string().into_bytes());
    }
}

#[test]
fn hidden_names_of_any_length_and_case() {
    let long = [b'x'; 70];
    let hide = HideHeaders::new(&[b"X-Secret", &long[..]], &[b"Date"]);
    assert!(hide.is_hidden(b"x-secret"));
    assert!(hide.is_hidden(b"SERVER"));
    assert!(hide.is_hidden(&long));
    assert!(!hide.is_hidden(&long[..69]));
    assert!(!hide.is_hidden(&long[..63]));
    assert!(!hide.is_hidden(b"date"));
    assert!(!hide.is_hidden(b"X-Secrets"));
    assert!(!hide.is_hidden(b""));
}

#[test]
fn regenerated_headers_in_any_case() {
    for name in [
        "Connection",
        "KEEP-ALIVE",
        "content-type",
        "Content-Length",
        "Transfer-Encoding",
    ] {
        assert!(super::regenerated(name.as_bytes()), "{name}");
    }
    for name in ["Connections", "Content-Types", "Vary", "Location", ""] {
        assert!(!super::regenerated(name.as_bytes()), "{name}");
    }
}
