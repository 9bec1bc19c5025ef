//! Client request heads: no input panics, a head never claims more bytes than
//! it was given, kept headers never hold CR or LF, and a head split in two
//! gets the verdict of the whole.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use upgate_proxy::http1::{HeaderLimits, RequestConfig, parse_request_head};

fuzz_target!(|data: &[u8]| {
    let small = RequestConfig {
        limits: HeaderLimits {
            client_header_buffer_size: 64,
            large_buffers: 2,
            large_buffer_size: 256,
        },
        ignore_invalid_headers: data.first().is_some_and(|b| b & 1 == 0),
        underscores_in_headers: data.first().is_some_and(|b| b & 2 == 0),
    };
    for cfg in [RequestConfig::default(), small] {
        let mut buf = BytesMut::from(data);
        let whole = parse_request_head(&mut buf, &cfg);
        if let Ok(Some(head)) = &whole {
            assert_eq!(head.len() + buf.len(), data.len());
            for h in head.headers() {
                assert!(!h.value.contains(&b'\n') && !h.value.contains(&b'\r'));
                assert!(!h.name.is_empty() && !h.name.contains(&b':'));
            }
            let _ = (
                head.uri(),
                head.server_name(),
                head.body_framing(),
                head.keepalive(),
            );
        }
        let cut = data.len() / 2;
        match parse_request_head(&mut BytesMut::from(&data[..cut]), &cfg) {
            Ok(None) => {}
            Ok(Some(h)) => assert!(matches!(&whole, Ok(Some(w)) if w.as_bytes() == h.as_bytes())),
            Err(e) => assert!(matches!(&whole, Err(w) if w.kind == e.kind)),
        }
    }
});
