//! The codec's hot paths: a browser-like request head, a WebSocket upgrade,
//! the upstream request written from it, an upstream response head and the
//! client head written from it, and a 64 KiB chunked body.
//! `cargo bench -p upgate-proxy --bench http1`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use upgate_proxy::http1::{
    BodyDecoder, BodyFraming, ClientResponse, HideHeaders, Keepalive, ProxyHttpVersion,
    RequestConfig, ResponseConfig, ServerIdent, SetHeader, UpstreamBody, UpstreamRequest, Version,
    parse_request_head, parse_response_head,
};

const BROWSER: &[u8] = b"GET /static/app.js?v=3 HTTP/1.1\r\nHost: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
Accept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/\r\nCookie: session=abcdef0123456789; theme=dark\r\nConnection: keep-alive\r\n\r\n";

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://chat.example.com\r\n\r\n";

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: backend\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Content-Type: application/javascript\r\nContent-Length: 12345\r\nCache-Control: max-age=3600\r\nETag: \"abc\"\r\n\
Connection: keep-alive\r\n\r\n";

fn bench(c: &mut Criterion) {
    let cfg = RequestConfig::default();
    let mut g = c.benchmark_group("http1");
    for (name, raw) in [("request_browser", BROWSER), ("request_upgrade", UPGRADE)] {
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(black_box(raw));
                black_box(parse_request_head(&mut buf, &cfg).ok().flatten())
            })
        });
    }
    let Ok(Some(head)) = parse_request_head(&mut BytesMut::from(UPGRADE), &cfg) else {
        return;
    };
    let set = [
        SetHeader::new(b"Upgrade", b"websocket"),
        SetHeader::new(b"Connection", b"upgrade"),
        SetHeader::new(b"Host", b"backend:8080"),
    ];
    g.bench_function("write_upstream_request", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            out.clear();
            let req = UpstreamRequest {
                method: head.method(),
                uri: head.uri().unparsed,
                version: ProxyHttpVersion::Http11,
                set_headers: &set,
                body: UpstreamBody::None,
            };
            req.write_head(head.headers(), &mut out);
            black_box(out.len())
        })
    });
    g.throughput(Throughput::Bytes(RESPONSE.len() as u64));
    g.bench_function("response_head", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(RESPONSE));
            black_box(
                parse_response_head(&mut buf, &ResponseConfig::default())
                    .ok()
                    .flatten(),
            )
        })
    });
    let Ok(Some(resp)) =
        parse_response_head(&mut BytesMut::from(RESPONSE), &ResponseConfig::default())
    else {
        return;
    };
    let (server, hide) = (ServerIdent::default(), HideHeaders::default());
    g.bench_function("write_client_head", |b| {
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            out.clear();
            let r = ClientResponse {
                head: &resp,
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
            black_box(r.write_head(&mut out))
        })
    });
    let mut chunked = Vec::new();
    for _ in 0..16 {
        chunked.extend_from_slice(b"1000\r\n");
        chunked.extend(std::iter::repeat_n(b'x', 4096));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    g.throughput(Throughput::Bytes(chunked.len() as u64));
    g.bench_function("chunked_64k", |b| {
        b.iter(|| {
            let Ok(mut d) = BodyDecoder::new(BodyFraming::Chunked, 0) else {
                return 0;
            };
            let (mut at, mut n) = (0, 0);
            while let Ok(step) = d.decode(&chunked[at..]) {
                n += step.data.len();
                at += step.consumed;
                if step.done || step.consumed == 0 {
                    break;
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
