//! The protocol layer end to end over loopback TCP with real WebSocket peers
//! (tokio-tungstenite): the client's upgrade request is parsed, written
//! upstream with the usual `proxy_set_header Upgrade $http_upgrade;
//! proxy_set_header Connection "upgrade";`, the upstream's 101 is parsed and
//! written back in nginx's order, and the tunnel carries frames both ways.
//! Without those two lines the backend refuses the upgrade, the trap upgate's
//! linter warns about.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use upgate_proxy::http1::{
    ClientResponse, HideHeaders, Keepalive, ProxyHttpVersion, RequestConfig, ResponseConfig,
    ServerIdent, SetHeader, SetValue, UpstreamBody, UpstreamRequest, http_date, is_tunnel,
    parse_request_head, parse_response_head,
};
use upgate_proxy::tunnel::{EndReason, TunnelConfig, TunnelEnd, tunnel};

const LIMIT: Duration = Duration::from_secs(10);

async fn listener() -> TcpListener {
    match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    }
}

/// A WebSocket echo server for one connection.
async fn echo_backend() -> u16 {
    let l = listener().await;
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        let Ok((tcp, _)) = l.accept().await else {
            return;
        };
        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() || msg.is_binary() {
                let _ = ws.send(msg).await;
            }
        }
    });
    port
}

/// Proxies one client connection the way the engine will; returns how the
/// tunnel ended, or `None` when the response was not a tunnel.
async fn proxy_once(front: TcpListener, backend: u16, upgrade_headers: bool) -> Option<TunnelEnd> {
    let (mut client, _) = front.accept().await.ok()?;
    let mut buf = BytesMut::with_capacity(4096);
    let head = loop {
        if let Ok(Some(h)) = parse_request_head(&mut buf, &RequestConfig::default()) {
            break h;
        }
        if client.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    };
    let mut upstream = TcpStream::connect(("127.0.0.1", backend)).await.ok()?;
    let host = format!("127.0.0.1:{backend}");
    let upgrade = head.header(b"upgrade").unwrap_or_default().to_vec();
    let mut set = Vec::new();
    if upgrade_headers {
        set.push(SetHeader::new(b"Upgrade", &upgrade));
        set.push(SetHeader::new(b"Connection", b"upgrade"));
    } else {
        set.push(SetHeader::new(b"Connection", b"close"));
    }
    set.push(SetHeader::new(b"Host", host.as_bytes()));
    set.push(SetHeader {
        name: b"Content-Length",
        value: SetValue::BodyLength,
    });
    let req = UpstreamRequest {
        method: head.method(),
        uri: head.uri().unparsed,
        version: ProxyHttpVersion::Http11,
        set_headers: &set,
        body: UpstreamBody::None,
    };
    let mut out = Vec::new();
    req.write_head(head.headers(), &mut out);
    upstream.write_all(&out).await.ok()?;

    let mut ubuf = BytesMut::with_capacity(4096);
    let resp = loop {
        if let Ok(Some(r)) = parse_response_head(&mut ubuf, &ResponseConfig::default()) {
            break r;
        }
        if upstream.read_buf(&mut ubuf).await.ok()? == 0 {
            return None;
        }
    };
    let server = ServerIdent::default();
    let date = http_date(std::time::SystemTime::now());
    let hide = HideHeaders::default();
    let client_resp = ClientResponse {
        head: &resp,
        server: &server,
        date: &date,
        hide: &hide,
        keepalive: Keepalive::Close,
        client_version: head.version(),
        head_request: false,
        chunked_transfer_encoding: true,
        absolute_location: None,
    };
    let mut out = Vec::new();
    client_resp.write_head(&mut out);
    client.write_all(&out).await.ok()?;
    if !is_tunnel(head.has_upgrade(), resp.status()) {
        client.write_all(&ubuf).await.ok()?;
        return None;
    }
    let cfg = TunnelConfig::default();
    Some(tunnel(client, upstream, buf.freeze(), ubuf.freeze(), &cfg).await)
}

#[tokio::test]
async fn websocket_frames_cross_the_tunnel() {
    let backend = echo_backend().await;
    let front = listener().await;
    let port = front.local_addr().map(|a| a.port()).unwrap_or(0);
    let proxy = tokio::spawn(proxy_once(front, backend, true));

    let run = async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let url = format!("ws://127.0.0.1:{port}/chat");
        let (mut ws, resp) = tokio_tungstenite::client_async(url, tcp).await.ok()?;
        assert_eq!(resp.status(), 101);
        assert_eq!(
            resp.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"upgrade"[..])
        );
        assert!(
            resp.headers()
                .get("server")
                .is_some_and(|v| v.as_bytes().starts_with(b"upgate/"))
        );
        for text in ["hello", "world"] {
            ws.send(Message::text(text)).await.ok()?;
            let echoed = ws.next().await?.ok()?;
            assert_eq!(echoed.into_text().ok()?.as_str(), text);
        }
        ws.send(Message::binary(vec![7u8; 100_000])).await.ok()?;
        assert_eq!(ws.next().await?.ok()?.into_data().len(), 100_000);
        ws.close(None).await.ok()?;
        Some(())
    };
    assert_eq!(timeout(LIMIT, run).await.ok().flatten(), Some(()));
    let end = timeout(LIMIT, proxy)
        .await
        .ok()
        .and_then(|j| j.ok())
        .flatten();
    let Some(end) = end else { panic!("no tunnel") };
    assert!(
        matches!(
            end.reason,
            EndReason::ClientClosed | EndReason::UpstreamClosed
        ),
        "{end:?}"
    );
    assert!(
        end.client_to_upstream > 100_000 && end.upstream_to_client > 100_000,
        "{end:?}"
    );
}

#[tokio::test]
async fn without_upgrade_headers_the_backend_refuses() {
    let backend = echo_backend().await;
    let front = listener().await;
    let port = front.local_addr().map(|a| a.port()).unwrap_or(0);
    let proxy = tokio::spawn(proxy_once(front, backend, false));
    let run = async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let url = format!("ws://127.0.0.1:{port}/chat");
        Some(tokio_tungstenite::client_async(url, tcp).await.is_err())
    };
    assert_eq!(timeout(LIMIT, run).await.ok().flatten(), Some(true));
    let end = timeout(LIMIT, proxy).await.ok().and_then(|j| j.ok());
    assert_eq!(end, Some(None), "no tunnel without a 101");
}

#[tokio::test]
async fn a_101_to_a_client_without_upgrade_is_not_a_tunnel() {
    // A backend that answers 101 to anything.
    let l = listener().await;
    let backend = l.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        let Ok((mut tcp, _)) = l.accept().await else {
            return;
        };
        let mut junk = [0u8; 1024];
        let _ = tcp.read(&mut junk).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\nSMUGGLED")
            .await;
    });
    let front = listener().await;
    let port = front.local_addr().map(|a| a.port()).unwrap_or(0);
    let proxy = tokio::spawn(proxy_once(front, backend, true));
    let mut c = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let end = timeout(LIMIT, proxy).await.ok().and_then(|j| j.ok());
    assert_eq!(end, Some(None));
}
