//! A WebSocket server that enforces RFC 6455's opening handshake the way
//! common servers do, then echoes messages or relays them to a chat room.
//!
//! Handshake verdicts (section 4.2.1 of RFC 6455, as Node's `ws` applies
//! them):
//! - no `Upgrade: websocket` → `426 Upgrade Required` (what a browser shows
//!   as "Unexpected server response: 426");
//! - `Upgrade` present but `Connection` lacks the `upgrade` token, an
//!   HTTP/1.0 request, or a missing/invalid `Sec-WebSocket-Key` or
//!   `Sec-WebSocket-Version: 13` → `400 Bad Request`;
//! - otherwise `101 Switching Protocols`.
//!
//! Plain requests to a path that is not a WebSocket endpoint get a small
//! `200` page (the chat page, for the chat room).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::Role;

use crate::head::{RequestHead, read_head};

/// What the handshake rules decide for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 101, with the `Sec-WebSocket-Accept` value.
    Upgrade { accept: String },
    /// Not a WebSocket request at all (no `Upgrade`): 426.
    UpgradeRequired,
    /// A broken WebSocket request: 400, with the reason in the body.
    BadRequest(&'static str),
}

/// RFC 6455 section 4.2.1, strictly.
pub fn judge(head: &RequestHead) -> Verdict {
    if !head.has_token("upgrade", "websocket") {
        return Verdict::UpgradeRequired;
    }
    if head.version < 1 {
        return Verdict::BadRequest("WebSocket needs HTTP/1.1");
    }
    if !head.method.eq_ignore_ascii_case("GET") {
        return Verdict::BadRequest("WebSocket needs GET");
    }
    if !head.has_token("connection", "upgrade") {
        return Verdict::BadRequest("Missing or invalid Connection header");
    }
    if head.header("sec-websocket-version") != Some(b"13".as_slice()) {
        return Verdict::BadRequest("Missing or invalid Sec-WebSocket-Version header");
    }
    match head.header("sec-websocket-key") {
        Some(key) if key.len() == 24 => Verdict::Upgrade {
            accept: derive_accept_key(key),
        },
        _ => Verdict::BadRequest("Missing or invalid Sec-WebSocket-Key header"),
    }
}

/// What the server does with the messages of an upgraded connection.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Sends every text and binary message back.
    Echo,
    /// Sends every message to every member of the room.
    Chat(broadcast::Sender<Message>),
}

impl Mode {
    pub fn chat() -> Self {
        let (tx, _) = broadcast::channel(256);
        Mode::Chat(tx)
    }
}

/// The page served on plain GETs by the chat room: it opens a WebSocket to
/// the path it was loaded from plus `ws` (so it works behind any prefix).
pub const CHAT_PAGE: &str = include_str!("chat.html");

/// Accepts connections until the listener fails; one task per connection.
pub async fn serve(listener: TcpListener, mode: Mode) {
    let mode = Arc::new(mode);
    while let Ok((stream, peer)) = listener.accept().await {
        let mode = Arc::clone(&mode);
        tokio::spawn(async move {
            let _ = handle(stream, peer, &mode).await;
        });
    }
}

async fn handle(stream: TcpStream, _peer: SocketAddr, mode: &Mode) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    let Some(head) = read_head(&mut stream).await? else {
        return Ok(());
    };
    match judge(&head) {
        Verdict::UpgradeRequired
            if head.method == "GET"
                && !head.has_token("upgrade", "websocket")
                && is_page(&head) =>
        {
            let body = match mode {
                Mode::Chat(_) => CHAT_PAGE,
                Mode::Echo => "upgate echo backend: connect with a WebSocket client\n",
            };
            respond(&mut stream, "200 OK", "text/html; charset=utf-8", body).await
        }
        Verdict::UpgradeRequired => {
            respond(
                &mut stream,
                "426 Upgrade Required",
                "text/plain",
                "Upgrade Required",
            )
            .await
        }
        Verdict::BadRequest(reason) => {
            respond(&mut stream, "400 Bad Request", "text/plain", reason).await
        }
        Verdict::Upgrade { accept } => {
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            stream.write_all(response.as_bytes()).await?;
            let ws = WebSocketStream::from_partially_read(
                stream.into_inner(),
                head.rest,
                Role::Server,
                None,
            )
            .await;
            run_socket(ws, mode).await;
            Ok(())
        }
    }
}

/// Pages: everything but the WebSocket endpoints (`.../ws`, `/echo`, `/chat`).
fn is_page(head: &RequestHead) -> bool {
    let path = head.target.split('?').next().unwrap_or("");
    !(path.ends_with("/ws") || path.ends_with("/echo") || path.ends_with("/socket"))
}

async fn respond<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

async fn run_socket(ws: WebSocketStream<TcpStream>, mode: &Mode) {
    match mode {
        Mode::Echo => {
            let (mut tx, mut rx) = ws.split();
            while let Some(Ok(message)) = rx.next().await {
                let reply = match message {
                    Message::Text(_) | Message::Binary(_) => message,
                    Message::Close(frame) => {
                        let _ = tx.send(Message::Close(frame)).await;
                        break;
                    }
                    // tungstenite answers pings itself.
                    _ => continue,
                };
                if tx.send(reply).await.is_err() {
                    break;
                }
            }
        }
        Mode::Chat(room) => {
            let (mut tx, mut rx) = ws.split();
            let mut members = room.subscribe();
            loop {
                tokio::select! {
                    incoming = rx.next() => match incoming {
                        Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => { let _ = room.send(m); }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => {}
                    },
                    said = members.recv() => match said {
                        Ok(m) => if tx.send(m).await.is_err() { break },
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(lines: &[(&str, &str)], version: u8) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            target: "/ws".into(),
            version,
            headers: lines
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            ..RequestHead::default()
        }
    }

    const KEY: (&str, &str) = ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    const VERSION: (&str, &str) = ("Sec-WebSocket-Version", "13");

    #[test]
    fn handshake_verdicts() {
        let ok = head(
            &[
                ("Upgrade", "websocket"),
                ("Connection", "keep-alive, Upgrade"),
                KEY,
                VERSION,
            ],
            1,
        );
        assert_eq!(
            judge(&ok),
            Verdict::Upgrade {
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into()
            }
        );
        let no_upgrade = head(&[("Connection", "close"), KEY, VERSION], 1);
        assert_eq!(judge(&no_upgrade), Verdict::UpgradeRequired);
        let closed = head(
            &[
                ("Upgrade", "websocket"),
                ("Connection", "close"),
                KEY,
                VERSION,
            ],
            1,
        );
        assert!(matches!(judge(&closed), Verdict::BadRequest(_)));
        let http10 = head(
            &[
                ("Upgrade", "websocket"),
                ("Connection", "upgrade"),
                KEY,
                VERSION,
            ],
            0,
        );
        assert!(matches!(judge(&http10), Verdict::BadRequest(_)));
    }
}
