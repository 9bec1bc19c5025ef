//! The codec's hot paths: a browser-like request head, a WebSocket upgrade,
//! the upstream request written from it, an upstream response head and the
//! client head written from it, and a 64 KiB chunked body.
//!
//! Then the same heads as the engine makes them for a proxied location
//! (group `proxied`, on issue 13's bench locations: a keepalive upstream
//! with `Connection ""`, and a WebSocket one with the `$connection_upgrade`
//! map): the upstream request head proxy.rs sends
//! (`Request::upstream_request` + `to_bytes`, the runtime's
//! ngx_http_proxy_create_request; the codec's `UpstreamRequest` above is not
//! on that path) and the client's head (`response_head::write`: the codec's
//! `ClientResponse` with the location's hide/pass lists, proxy_redirect and
//! add_header) for a 200 and a 101.
//! `cargo bench -p upgate-proxy --bench http1`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use upgate_conf::{LoadOptions, load};
use upgate_proxy::access_log::Values;
use upgate_proxy::http1::{
    BodyDecoder, BodyFraming, ClientResponse, HideHeaders, Keepalive, ProxyHttpVersion,
    RequestConfig, RequestHead, ResponseConfig, ServerIdent, SetHeader, UpstreamBody,
    UpstreamRequest, Version, parse_request_head, parse_response_head,
};
use upgate_proxy::response_head::{self, HeadInput};
use upgate_runtime::{ClientRequest, Header, Outcome, Runtime};

const BROWSER: &[u8] = b"GET /static/app.js?v=3 HTTP/1.1\r\nHost: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
Accept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/\r\nCookie: session=abcdef0123456789; theme=dark\r\nConnection: keep-alive\r\n\r\n";

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://chat.example.com\r\n\r\n";

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: backend\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Content-Type: application/javascript\r\nContent-Length: 12345\r\nCache-Control: max-age=3600\r\nETag: \"abc\"\r\n\
Connection: keep-alive\r\n\r\n";

/// The ws backend's answer to [`UPGRADE`].
const SWITCHING: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// The locations of xtask/src/bench/config.rs, at the paths of [`BROWSER`]
/// and [`UPGRADE`].
const PROXIED_CONF: &str = "events {}
http {
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    upstream http_backend { server 127.0.0.1:8081; keepalive 64; }
    upstream ws_backend { server 127.0.0.1:8082; keepalive 64; }
    proxy_http_version 1.1;
    proxy_read_timeout 1h;
    server {
        listen 127.0.0.1:8080;
        server_name www.example.com chat.example.com;
        location / {
            proxy_pass http://http_backend;
            proxy_set_header Connection \"\";
        }
        location /chat {
            proxy_pass http://ws_backend;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
}
";

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

/// [`PROXIED_CONF`] loaded and compiled, or why not.
fn proxied_runtime() -> Result<Runtime, String> {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("http1-proxied.conf");
    std::fs::write(&path, PROXIED_CONF).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut options = LoadOptions::new(&path);
    options.check_environment = false;
    let loaded = load(&options);
    if let Some(e) = loaded.error {
        return Err(format!("{}: {e:?}", path.display()));
    }
    Runtime::compile(&loaded.config).map_err(|e| format!("{}: {e:?}", path.display()))
}

/// The runtime's view of a parsed head, as dispatch.rs makes it.
fn client_request(head: &RequestHead) -> ClientRequest<'_> {
    let client: SocketAddr = ([10, 1, 2, 3], 50000).into();
    let local: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut creq = ClientRequest::new(head.method(), head.target(), client, local);
    creq.headers = head
        .headers()
        .map(|h| Header {
            name: h.name,
            value: h.value,
        })
        .collect();
    creq
}

fn proxied(c: &mut Criterion) {
    let rt = match proxied_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("proxied benches skipped: {e}");
            return;
        }
    };
    let cfg = RequestConfig::default();
    let rcfg = ResponseConfig::default();
    let mut g = c.benchmark_group("proxied");
    for (name, raw, upstream) in [
        ("browser", BROWSER, RESPONSE),
        ("upgrade", UPGRADE, SWITCHING),
    ] {
        let (Ok(Some(head)), Ok(Some(resp))) = (
            parse_request_head(&mut BytesMut::from(raw), &cfg),
            parse_response_head(&mut BytesMut::from(upstream), &rcfg),
        ) else {
            eprintln!("proxied/{name}: the heads do not parse");
            continue;
        };
        let creq = client_request(&head);
        if rt.process(&creq).outcome != Outcome::Proxy {
            eprintln!("proxied/{name}: the request reaches no proxied location");
            continue;
        }
        // A fresh request each time: the request caches map values
        // ($connection_upgrade), and the engine evaluates them once per
        // request. Routing (process) is routing.rs's figure, not timed here.
        g.bench_function(format!("upstream_head_{name}"), |b| {
            b.iter_batched(
                || rt.process(&creq),
                |mut r| (r.upstream_request().map(|u| u.to_bytes()), r),
                BatchSize::SmallInput,
            )
        });
        let mut r = rt.process(&creq);
        let (server, vals) = (ServerIdent::default(), Values::default());
        let hide = upgate_proxy::http1::HideHeaders::default();
        let input = HeadInput {
            server: &server,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            keepalive: Keepalive::KeepAlive {
                header_timeout: None,
            },
            client_version: Version::HTTP_11,
            head_request: false,
            chunked_transfer_encoding: true,
            // the bench locations hide and pass nothing
            hide: &hide,
            vals: &vals,
        };
        g.bench_function(format!("client_head_{name}"), |b| {
            let mut out = Vec::with_capacity(512);
            b.iter(|| {
                out.clear();
                black_box(response_head::write(&mut r, &resp, &input, &mut out))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, proxied);
criterion_main!(benches);
