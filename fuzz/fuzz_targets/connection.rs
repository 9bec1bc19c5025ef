//! A whole client connection through the engine (`connection::serve`, the
//! state machine every accepted socket runs), against a backend on a unix
//! socket whose answer comes from the input, on a current-thread runtime
//! with tokio's clock paused (every timer in the configuration fires at
//! once when nothing else can run, so a stalled exchange costs no real time).
//!
//! The input is structured (`arbitrary`): the client's bytes as pieces (raw
//! bytes, request heads built from the names that matter for smuggling,
//! chunked bodies) written one after the other, then the client's
//! half-close; and the backend's reply (raw bytes or a status line with
//! framing headers), written after the backend read one request head.
//!
//! Invariants:
//! - no panic, in the engine or in a task it spawned;
//! - the connection's task ends within a bound (10 minutes of the paused
//!   clock: every timeout of the configuration is at most 2 s), so no input
//!   leaves a connection hanging without a timer;
//! - the backend never receives more requests than the client sent request
//!   heads (each backend connection carries one request, as no upstream
//!   keepalive is configured; a head ends with LF followed by LF or CRLF, so
//!   the client sent at most as many heads as such endings).
//!
//! The client side is a socketpair (`Transport::Unix`), not a listener:
//! `connection::serve` takes the accepted socket as `listener.rs` would
//! hand it over.
#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use upgate_proxy::client::{Client, ClientStream, Transport};
use upgate_proxy::server::{Server, Shared};
use upgate_runtime::sockaddr::Sockaddr;

#[derive(Arbitrary, Debug)]
enum Method {
    Get,
    Head,
    Post,
    Put,
    Options,
    Connect,
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Target {
    /// proxied
    Proxy,
    /// `return 200`
    Return,
    /// the WebSocket location
    Ws,
    /// `return 444`
    Close,
    Absolute,
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Name {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Upgrade,
    Expect,
    SecWebSocketKey,
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Number(u32),
    Chunked,
    Upgrade,
    Websocket,
    KeepAlive,
    Close,
    Continue,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Piece {
    Raw(Vec<u8>),
    Head {
        method: Method,
        target: Target,
        version: u8,
        headers: Vec<(Name, Value)>,
    },
    /// A chunked body with its last chunk; `trailer` after the `0`.
    Chunked {
        chunks: Vec<Vec<u8>>,
        trailer: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
enum Reply {
    Raw(Vec<u8>),
    Status {
        code: u16,
        headers: Vec<(Name, Value)>,
        body: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    client: Vec<Piece>,
    reply: Reply,
}

fn name(n: &Name) -> &[u8] {
    match n {
        Name::Host => b"Host",
        Name::ContentLength => b"Content-Length",
        Name::TransferEncoding => b"Transfer-Encoding",
        Name::Connection => b"Connection",
        Name::Upgrade => b"Upgrade",
        Name::Expect => b"Expect",
        Name::SecWebSocketKey => b"Sec-WebSocket-Key",
        Name::Other(o) => o,
    }
}

fn value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Chunked => out.extend_from_slice(b"chunked"),
        Value::Upgrade => out.extend_from_slice(b"Upgrade"),
        Value::Websocket => out.extend_from_slice(b"websocket"),
        Value::KeepAlive => out.extend_from_slice(b"keep-alive"),
        Value::Close => out.extend_from_slice(b"close"),
        Value::Continue => out.extend_from_slice(b"100-continue"),
        Value::Raw(r) => out.extend_from_slice(r),
    }
}

fn headers(hs: &[(Name, Value)], out: &mut Vec<u8>) {
    for (n, v) in hs {
        out.extend_from_slice(name(n));
        out.extend_from_slice(b": ");
        value(v, out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn piece(p: &Piece) -> Vec<u8> {
    let mut out = Vec::new();
    match p {
        Piece::Raw(r) => out.extend_from_slice(r),
        Piece::Head {
            method,
            target,
            version,
            headers: hs,
        } => {
            out.extend_from_slice(match method {
                Method::Get => b"GET",
                Method::Head => b"HEAD",
                Method::Post => b"POST",
                Method::Put => b"PUT",
                Method::Options => b"OPTIONS",
                Method::Connect => b"CONNECT",
                Method::Other(o) => o,
            });
            out.push(b' ');
            out.extend_from_slice(match target {
                Target::Proxy => b"/p",
                Target::Return => b"/r",
                Target::Ws => b"/ws",
                Target::Close => b"/444",
                Target::Absolute => b"http://fuzz/p",
                Target::Other(o) => o,
            });
            out.extend_from_slice(match version % 4 {
                0 => b" HTTP/1.1\r\n".as_slice(),
                1 => b" HTTP/1.0\r\n",
                2 => b"\r\n",
                _ => b" HTTP/2.0\r\n",
            });
            headers(hs, &mut out);
        }
        Piece::Chunked { chunks, trailer } => {
            for c in chunks.iter().filter(|c| !c.is_empty()) {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n");
            out.extend_from_slice(trailer);
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn reply(r: &Reply) -> Vec<u8> {
    match r {
        Reply::Raw(r) => r.clone(),
        Reply::Status {
            code,
            headers: hs,
            body,
        } => {
            let mut out = format!("HTTP/1.1 {code} X\r\n").into_bytes();
            headers(hs, &mut out);
            out.extend_from_slice(body);
            out
        }
    }
}

/// Request heads in `bytes` at most: each ends with LF then (CR)LF.
fn heads_at_most(bytes: &[u8]) -> usize {
    (0..bytes.len())
        .filter(|&i| {
            bytes[i] == b'\n'
                && (bytes.get(i + 1) == Some(&b'\n') || bytes.get(i + 1..i + 3) == Some(b"\r\n"))
        })
        .count()
}

struct World {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    backend: UnixListener,
    front: PathBuf,
    _server: Server,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("upgate-fuzz-connection-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let conf = format!(
            r#"error_log {d}/error.log emerg;
events {{}}
http {{
    access_log off;
    client_header_timeout 1s;
    client_body_timeout 1s;
    send_timeout 1s;
    keepalive_timeout 2s;
    proxy_connect_timeout 1s;
    proxy_send_timeout 1s;
    proxy_read_timeout 1s;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen unix:{d}/front.sock;
        server_name fuzz;
        location / {{ proxy_pass http://unix:{d}/backend.sock; }}
        location = /r {{ return 200 "ok\n"; }}
        location = /444 {{ return 444; }}
        location /ws {{
            proxy_pass http://unix:{d}/backend.sock;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}
}}
"#
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut options = upgate_conf::LoadOptions::new(dir.join("nginx.conf"));
        options.prefix = dir.clone();
        let generation = upgate_proxy::reload::load_generation(&options).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let _ = std::fs::remove_file(dir.join("backend.sock"));
        let (server, backend) = rt.block_on(async {
            let backend = UnixListener::bind(dir.join("backend.sock")).unwrap();
            (Server::start(generation.tables).unwrap(), backend)
        });
        World {
            rt,
            shared: Arc::clone(&server.shared),
            backend,
            front: dir.join("front.sock"),
            _server: server,
        }
    })
}

/// One backend connection: read a head (or to EOF), answer, half-close,
/// then drain what else comes (a body, a tunnel's bytes) until EOF.
async fn backend_conn(mut s: UnixStream, answer: Arc<Vec<u8>>, requests: Arc<AtomicUsize>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if seen.is_empty() {
                    requests.fetch_add(1, Ordering::SeqCst);
                }
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    if s.write_all(&answer).await.is_ok() {
        let _ = s.shutdown().await;
    }
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

fuzz_target!(|input: Input| {
    let w = world();
    let pieces: Vec<Vec<u8>> = input.client.iter().map(piece).collect();
    let sent = pieces.concat();
    let answer = Arc::new(reply(&input.reply));
    let requests = Arc::new(AtomicUsize::new(0));

    w.rt.block_on(async {
        let backend = {
            let (answer, requests) = (Arc::clone(&answer), Arc::clone(&requests));
            tokio::spawn(async move {
                let mut conns = tokio::task::JoinSet::new();
                while let Ok((s, _)) = w.backend.accept().await {
                    conns.spawn(backend_conn(s, Arc::clone(&answer), Arc::clone(&requests)));
                }
            })
        };
        let (mut far, near) = UnixStream::pair().unwrap();
        let client = Client::new(
            ClientStream::Plain(Transport::Unix(near)),
            Sockaddr::unix_unnamed(),
            Sockaddr::Unix(Arc::from(w.front.as_path())),
            1,
        );
        let conn = tokio::spawn(upgate_proxy::connection::serve(
            client,
            Arc::clone(&w.shared),
        ));
        let (mut rd, mut wr) = far.split();
        let write = async {
            for p in &pieces {
                if wr.write_all(p).await.is_err() {
                    return;
                }
                // let the engine read each piece on its own
                tokio::task::yield_now().await;
            }
            let _ = wr.shutdown().await;
        };
        let read = async {
            let mut got = Vec::new();
            let _ = rd.read_to_end(&mut got).await;
        };
        let served = async {
            match conn.await {
                Ok(()) => {}
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("connection task failed: {e}"),
            }
        };
        let all = async { tokio::join!(write, read, served) };
        if tokio::time::timeout(Duration::from_secs(600), all)
            .await
            .is_err()
        {
            panic!("the connection did not end within 10 minutes (paused clock)");
        }
        // What the backend is still doing for this connection ends with it.
        backend.abort();
        let _ = backend.await;
    });

    let forwarded = requests.load(Ordering::SeqCst);
    let heads = heads_at_most(&sent);
    assert!(
        forwarded <= heads,
        "the backend got {forwarded} requests, the client sent at most {heads} heads"
    );
});
