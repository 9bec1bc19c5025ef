//! A WebSocket chat room for upgate's examples: `chat-backend [ADDR]`
//! (default 127.0.0.1:9001). Serves the chat page on plain GETs and relays
//! every message to every member on WebSocket connections.

use upgate_examples::websocket::{Mode, serve};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("chat-backend: listening on {}", listener.local_addr()?);
    serve(listener, Mode::chat()).await;
    Ok(())
}
