//! Property tests: no input panics the parsers, and feeding a head in two
//! pieces never changes the verdict.

use bytes::BytesMut;
use proptest::prelude::*;
use upgate_proxy::http1::{
    BodyDecoder, BodyFraming, ChunkedParser, ChunkedStep, HeaderLimits, RequestConfig,
    ResponseConfig, parse_request_head, parse_response_head,
};

/// Bytes that look like HTTP often enough to get past the first line.
fn http_ish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"GET ".to_vec()),
        Just(b"POST /p?q ".to_vec()),
        Just(b"HTTP/1.1".to_vec()),
        Just(b"HTTP/1.0 200 OK".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"Host: a".to_vec()),
        Just(b"Content-Length: 5".to_vec()),
        Just(b"Transfer-Encoding: chunked".to_vec()),
        Just(b"X_Y: z".to_vec()),
        Just(b": ".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"http://h:1/".to_vec()),
        Just(b"5\r\nhello\r\n0\r\n\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(token, 0..24).prop_map(|v| v.concat())
}

fn small_limits() -> RequestConfig {
    RequestConfig {
        limits: HeaderLimits {
            client_header_buffer_size: 16,
            large_buffers: 2,
            large_buffer_size: 40,
        },
        ..RequestConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn request_parser_never_panics(raw in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), http_ish()]) {
        for cfg in [RequestConfig::default(), small_limits()] {
            let mut buf = BytesMut::from(&raw[..]);
            if let Ok(Some(head)) = parse_request_head(&mut buf, &cfg) {
                prop_assert_eq!(head.len() + buf.len(), raw.len());
                for h in head.headers() {
                    prop_assert!(!h.name.is_empty());
                    prop_assert!(!h.value.contains(&b'\n') && !h.value.contains(&b'\r'));
                }
            }
        }
    }

    #[test]
    fn request_verdict_does_not_depend_on_the_split(raw in http_ish(), cut in any::<prop::sample::Index>()) {
        let cfg = RequestConfig::default();
        let whole = parse_request_head(&mut BytesMut::from(&raw[..]), &cfg);
        let cut = cut.index(raw.len() + 1);
        match parse_request_head(&mut BytesMut::from(&raw[..cut]), &cfg) {
            Ok(None) => {}
            Ok(Some(h)) => prop_assert!(matches!(&whole, Ok(Some(w)) if w.as_bytes() == h.as_bytes())),
            Err(e) => prop_assert!(matches!(&whole, Err(w) if w.kind == e.kind), "prefix {:?} whole {:?}", e, whole),
        }
    }

    #[test]
    fn response_parser_never_panics(raw in prop_oneof![prop::collection::vec(any::<u8>(), 0..512), http_ish()]) {
        let mut buf = BytesMut::from(&raw[..]);
        if let Ok(Some(head)) = parse_response_head(&mut buf, &ResponseConfig::default()) {
            prop_assert!(head.status() <= 999);
            let _ = head.framing(false);
        }
    }

    #[test]
    fn chunked_parser_never_panics_and_never_overreads(raw in prop_oneof![prop::collection::vec(any::<u8>(), 0..256), http_ish()], split in 1usize..16) {
        let mut p = ChunkedParser::new();
        'outer: for piece in raw.chunks(split) {
            let mut at = 0;
            while at < piece.len() {
                match p.step(&piece[at..]) {
                    Ok((n, step)) => {
                        prop_assert!(at + n <= piece.len());
                        if let ChunkedStep::Data(r) = &step {
                            prop_assert!(r.end <= piece.len() - at);
                        }
                        if step == ChunkedStep::Done {
                            break 'outer;
                        }
                        if n == 0 {
                            break;
                        }
                        at += n;
                    }
                    Err(_) => break 'outer,
                }
            }
        }
    }

    #[test]
    fn body_decoder_output_never_exceeds_input(raw in prop::collection::vec(any::<u8>(), 0..256), len in 0u64..300) {
        for framing in [BodyFraming::Length(len), BodyFraming::Chunked, BodyFraming::UntilClose, BodyFraming::None] {
            let Ok(mut d) = BodyDecoder::new(framing, 100) else { continue };
            let mut at = 0;
            let mut out = 0;
            while let Ok(step) = d.decode(&raw[at..]) {
                out += step.data.len();
                at += step.consumed;
                if step.done || step.consumed == 0 {
                    break;
                }
            }
            prop_assert!(out <= at && at <= raw.len());
        }
    }
}
