//! The backends behind both proxies, in the bench process (on the load's
//! CPU): an HTTP/1.1 keepalive server on hyper answering every request with
//! a short body, and the WebSocket echo of examples/backends (strict about
//! the handshake, tungstenite framing). Both run until the runtime ends.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What every HTTP request gets: a small body, as an API answer would be,
/// so that the figure is the proxy's per-request cost, not bandwidth.
const BODY: &[u8] = b"hello, world\n";

/// The ports of the running backends.
#[derive(Debug, Clone, Copy)]
pub struct Backends {
    pub http: u16,
    pub ws: u16,
}

/// Binds both on 127.0.0.1:0 and serves them on the current runtime.
pub async fn start() -> Result<Backends, String> {
    let http = bind().await?;
    let ws = bind().await?;
    let ports = Backends {
        http: port(&http)?,
        ws: port(&ws)?,
    };
    tokio::spawn(serve_http(http));
    tokio::spawn(upgate_examples::websocket::serve(
        ws,
        upgate_examples::websocket::Mode::Echo,
    ));
    Ok(ports)
}

async fn bind() -> Result<TcpListener, String> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind 127.0.0.1:0: {e}"))
}

fn port(listener: &TcpListener) -> Result<u16, String> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

async fn serve_http(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
