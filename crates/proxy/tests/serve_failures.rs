//! Failure paths of the engine, each against a scripted backend: the
//! backend refuses (502), stays silent (504 after proxy_read_timeout),
//! closes mid-response (the client gets a truncated body and a close),
//! answers 101 and closes (the tunnel ends); the client closes mid-upload
//! (nothing reaches the upstream). Afterwards no client connection is left
//! open (counted by the server). Also: reload keeps a live tunnel, the
//! keepalive pool reuses upstream connections, access_log writes the
//! configured format.

mod serve_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serve_support::{Upgate, exchange, free_port, parse_responses};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// A backend that reads a request head and then runs `script` on the socket.
async fn scripted<F, Fut>(script: F) -> (u16, Arc<AtomicUsize>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let script = Arc::new(script);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let script = Arc::clone(&script);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                script(s).await;
            });
        }
    });
    (port, accepted)
}

fn conf(port: u16, upstream: &str, extra: &str) -> String {
    format!(
        "events {{}}\nhttp {{\n access_log off;\n upstream b {{ server {upstream}; }}\n server {{\n  listen 127.0.0.1:{port};\n  location / {{ proxy_pass http://b; proxy_read_timeout 1s; {extra} }}\n }}\n}}\n"
    )
}

async fn no_leak(upgate: &Upgate) {
    let end = Instant::now() + Duration::from_secs(3);
    while upgate.live_connections() > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upgate.live_connections(), 0, "client connections left open");
}

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_gives_502_and_silent_gives_504() {
    let dead = free_port();
    let (silent, _) = scripted(|s| async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(s);
    })
    .await;
    let (p1, p2) = (free_port(), free_port());
    let a = Upgate::start(&conf(p1, &format!("127.0.0.1:{dead}"), ""));
    let b = Upgate::start(&conf(p2, &format!("127.0.0.1:{silent}"), ""));
    let (raw, _) = exchange(p1, GET, &[false], 1).await;
    assert_eq!(parse_responses(&raw, &[false])[0].status(), 502);
    let t = Instant::now();
    let (raw, _) = exchange(p2, GET, &[false], 1).await;
    assert_eq!(parse_responses(&raw, &[false])[0].status(), 504);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "504 came after {:?}",
        t.elapsed()
    );
    no_leak(&a).await;
    no_leak(&b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_closing_mid_response_truncates() {
    let (backend, _) = scripted(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
            .await;
    })
    .await;
    let p = free_port();
    let up = Upgate::start(&conf(p, &format!("127.0.0.1:{backend}"), ""));
    let (raw, closed) = exchange(p, GET, &[false], 1).await;
    let seen = parse_responses(&raw, &[false]);
    assert_eq!(seen[0].status(), 200);
    assert_eq!(seen[0].header("content-length"), Some("100"));
    assert_eq!(seen[0].body, b"only ten b");
    assert!(
        closed,
        "the client connection stays open after a truncated body"
    );
    no_leak(&up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_closing_mid_upload_sends_nothing_upstream() {
    let (backend, accepted) = scripted(|_| async {}).await;
    let p = free_port();
    let up = Upgate::start(&conf(p, &format!("127.0.0.1:{backend}"), ""));
    let mut s = match tokio::net::TcpStream::connect(("127.0.0.1", p)).await {
        Ok(s) => s,
        Err(e) => panic!("connect: {e}"),
    };
    let _ = s
        .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nten bytes!")
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    no_leak(&up).await;
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        0,
        "the upstream was contacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_101_then_close_ends_the_tunnel() {
    let (backend, _) = scripted(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nEARLY")
            .await;
    })
    .await;
    let p = free_port();
    let extra = "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade;";
    let up = Upgate::start(&conf(p, &format!("127.0.0.1:{backend}"), extra));
    let req = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let (raw, closed) = exchange(p, req, &[false], 2).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nConnection: upgrade\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\nEARLY"),
        "leftover bytes not forwarded: {text}"
    );
    assert!(closed);
    no_leak(&up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_live_tunnels() {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let echo = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(upgate_examples::websocket::serve(
        listener,
        upgate_examples::websocket::Mode::Echo,
    ));
    let p = free_port();
    let ws = "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade;";
    let mut up = Upgate::start(&conf(p, &format!("127.0.0.1:{echo}"), ws));
    let (mut client, _) =
        match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{p}/ws")).await {
            Ok(x) => x,
            Err(e) => panic!("connect: {e}"),
        };
    // Reload with a config that answers everything itself.
    let new_conf = format!(
        "events {{}}\nhttp {{ access_log off; server {{ listen 127.0.0.1:{p}; location / {{ return 200 \"new generation\\n\"; }} }} }}\n"
    );
    let tables = match Upgate::check(&new_conf) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let server = up.server.as_mut().map(|s| s.reload(tables));
    assert!(matches!(server, Some(Ok(()))));
    let (raw, _) = exchange(p, GET, &[false], 1).await;
    assert_eq!(parse_responses(&raw, &[false])[0].body, b"new generation\n");
    let sent = client.send(Message::text("still here")).await;
    assert!(sent.is_ok());
    match tokio::time::timeout(Duration::from_secs(3), client.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => assert_eq!(t.as_str(), "still here"),
        other => panic!("the tunnel did not survive the reload: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pool_reuses_upstream_connections() {
    let (backend, accepted) = scripted(|mut s| async move {
        // Answer this request and two more on the same connection.
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
        let mut b = [0u8; 4096];
        for _ in 0..2 {
            match s.read(&mut b).await {
                Ok(n) if n > 0 => {
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                }
                _ => return,
            }
        }
    })
    .await;
    let p = free_port();
    let text = format!(
        "events {{}}\nhttp {{\n access_log off;\n upstream b {{ server 127.0.0.1:{backend}; keepalive 2; }}\n server {{ listen 127.0.0.1:{p};\n  location / {{ proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n}}\n"
    );
    let up = Upgate::start(&text);
    for _ in 0..3 {
        let (raw, _) = exchange(p, GET, &[false], 1).await;
        assert_eq!(parse_responses(&raw, &[false])[0].body, b"ok");
    }
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        1,
        "upstream connections were not reused"
    );
    no_leak(&up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_writes_the_configured_format() {
    let p = free_port();
    let text = format!(
        "events {{}}\nhttp {{\n log_format j escape=json '{{\"s\":$status,\"u\":\"$request_uri\",\"a\":\"$http_x_a\",\"ms\":\"$request_method\"}}';\n access_log logs/j.log j;\n server {{ listen 127.0.0.1:{p}; location / {{ return 204; }} }}\n}}\n"
    );
    let up = Upgate::start(&text);
    let req = b"GET /q?x=\"y\" HTTP/1.1\r\nHost: a\r\nX-A: line\tt\r\nConnection: close\r\n\r\n";
    let _ = exchange(p, req, &[false], 1).await;
    // A request refused while its head is read is logged too.
    let bad = b"GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    let (raw, _) = exchange(p, bad, &[false], 1).await;
    assert_eq!(parse_responses(&raw, &[false])[0].status(), 400);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = std::fs::read_to_string(up.dir.path().join("logs/j.log")).unwrap_or_default();
    assert_eq!(
        log,
        "{\"s\":204,\"u\":\"/q?x=\\\"y\\\"\",\"a\":\"line\\tt\",\"ms\":\"GET\"}\n\
         {\"s\":400,\"u\":\"/bad\",\"a\":\"\",\"ms\":\"GET\"}\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_go_through_a_temporary_file() {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let backend = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = vec![0u8; 65536];
                let total = loop {
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .split("content-length: ")
                            .nth(1)
                            .and_then(|t| t.split("\r\n").next())
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break got[end + 4..].iter().filter(|&&c| c == b'z').count();
                        }
                    }
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&b[..n]),
                    }
                };
                let body = total.to_string();
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    let p = free_port();
    let up = Upgate::start(&conf(
        p,
        &format!("127.0.0.1:{backend}"),
        "client_max_body_size 10m;",
    ));
    let size = 3 * 1024 * 1024 + 17;
    // Chunked, so that the length is only known once the body is stored.
    let mut req =
        b"POST /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let chunk = vec![b'z'; 65536];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        req.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        req.extend_from_slice(&chunk[..n]);
        req.extend_from_slice(b"\r\n");
        left -= n;
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (raw, _) = exchange(p, &req, &[false], 1).await;
    let seen = parse_responses(&raw, &[false]);
    assert_eq!(seen[0].status(), 200);
    assert_eq!(seen[0].body, size.to_string().as_bytes());
    no_leak(&up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_future_is_small() {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let (Ok(a), Ok((_b, peer))) = (a, b) else {
        panic!("no connection")
    };
    let p = free_port();
    let up = Upgate::start(&conf(p, "127.0.0.1:1", ""));
    let shared = match &up.server {
        Some(s) => std::sync::Arc::clone(&s.shared),
        None => panic!("no server"),
    };
    let client = upgate_proxy::client::Client::new(
        upgate_proxy::client::ClientStream::Plain(upgate_proxy::client::Transport::Tcp(a)),
        peer.into(),
        addr.into(),
        1,
    );
    let fut = upgate_proxy::connection::serve(client, shared);
    let size = std::mem::size_of_val(&fut);
    eprintln!("connection future: {size} bytes");
    assert!(size < 2048, "the connection task takes {size} bytes");
}

/// `proxy_pass` with variables that turn out `https://`: the first bytes the
/// peer gets are a TLS handshake record, never a plain request; a peer that
/// then closes is a failed handshake (502).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_from_variables_speaks_tls() {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let backend = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let first = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&first);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut b = [0u8; 16];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut b)).await
                && let Ok(mut v) = seen.lock()
            {
                v.extend_from_slice(&b[..n]);
            }
        }
    });
    let p = free_port();
    let up = Upgate::start(&format!(
        "events {{}}\nhttp {{\n access_log off;\n server {{\n  listen 127.0.0.1:{p};\n  location / {{ set $peer \"https://127.0.0.1:{backend}\"; proxy_pass $peer; proxy_connect_timeout 3s; }}\n }}\n}}\n"
    ));
    let (raw, _) = exchange(p, GET, &[false], 1).await;
    assert_eq!(parse_responses(&raw, &[false])[0].status(), 502);
    let first = first.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(first.first(), Some(&0x16), "not a TLS record: {first:?}");
    no_leak(&up).await;
}
