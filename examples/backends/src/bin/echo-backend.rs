//! A WebSocket echo server for upgate's examples: `echo-backend [ADDR]`
//! (default 127.0.0.1:9002). Strict about the handshake: 426 without
//! `Upgrade`, 400 without `Connection: upgrade`.

use upgate_examples::websocket::{Mode, serve};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("echo-backend: listening on {}", listener.local_addr()?);
    serve(listener, Mode::Echo).await;
    Ok(())
}
