//! The example backends over real sockets: the handshake verdicts, echo,
//! the chat room, and the recorder's exact bytes.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tungstenite::Message;
use upgate_examples::recorder::{self, Recorded};
use upgate_examples::websocket::{Mode, serve};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn start(mode: Mode) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, mode));
    Ok(addr)
}

async fn raw(addr: std::net::SocketAddr, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut out),
    )
    .await
    .map_err(|_| std::io::Error::other("timeout"))??;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn refuses_like_a_strict_server() -> TestResult {
    let addr = start(Mode::Echo).await?;
    let no_upgrade = raw(addr, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(no_upgrade.starts_with("HTTP/1.1 426 "), "{no_upgrade}");
    let no_connection = raw(
        addr,
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await?;
    assert!(
        no_connection.starts_with("HTTP/1.1 400 "),
        "{no_connection}"
    );
    Ok(())
}

#[tokio::test]
async fn echoes_after_the_handshake() -> TestResult {
    let addr = start(Mode::Echo).await?;
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo")).await?;
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hello")).await?;
    let reply = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await?;
    assert_eq!(reply.transpose()?, Some(Message::text("hello")));
    Ok(())
}

#[tokio::test]
async fn chat_room_relays_to_everyone() -> TestResult {
    let addr = start(Mode::chat()).await?;
    let (mut alice, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat/ws")).await?;
    let (mut bob, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat/ws")).await?;
    // Both are subscribed once their handshakes are done; give the room a moment.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    alice.send(Message::text("hi bob")).await?;
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), bob.next()).await?;
    assert_eq!(heard.transpose()?, Some(Message::text("hi bob")));
    let page = raw(addr, "GET /chat/ HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert!(
        page.starts_with("HTTP/1.1 200 ") && page.contains("new WebSocket"),
        "{page}"
    );
    Ok(())
}

#[tokio::test]
async fn recorder_keeps_exact_bytes() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let recorded = Recorded::default();
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
    tokio::spawn(recorder::serve(listener, response, recorded.clone()));
    let request = "POST /x HTTP/1.0\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello";
    let reply = raw(addr, request).await?;
    assert!(reply.ends_with("ok"), "{reply}");
    assert_eq!(recorded.take(), vec![request.as_bytes().to_vec()]);
    Ok(())
}
