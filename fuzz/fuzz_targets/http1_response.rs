//! Upstream response heads and the client head written from them: no input
//! panics, and the written head never carries the upstream's framing lines.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use upgate_proxy::http1::{
    ClientResponse, HideHeaders, Keepalive, ResponseConfig, ServerIdent, Version,
    parse_response_head,
};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let Ok(Some(head)) = parse_response_head(
        &mut buf,
        &ResponseConfig {
            proxy_buffer_size: 4096,
        },
    ) else {
        return;
    };
    let _ = (
        head.framing(false),
        head.framing(true),
        head.keepalive_possible(false),
    );
    let server = ServerIdent::default();
    let hide = HideHeaders::default();
    let resp = ClientResponse {
        head: &head,
        server: &server,
        date: b"Sun, 06 Nov 1994 08:49:37 GMT",
        hide: &hide,
        keepalive: Keepalive::KeepAlive {
            header_timeout: None,
        },
        client_version: Version::HTTP_11,
        head_request: false,
        chunked_transfer_encoding: true,
        absolute_location: None,
    };
    let mut out = Vec::new();
    let framing = resp.write_head(&mut out);
    let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
    assert_eq!(
        text.matches("\r\ntransfer-encoding:").count(),
        usize::from(framing.chunked)
    );
    assert!(text.matches("\r\ncontent-length:").count() <= 1);
    assert!(text.ends_with("\r\n\r\n"));
});
