//! The `--metrics ADDR` listener: `GET /metrics` answers the OpenMetrics
//! page of [`crate::metrics`]; anything else gets 404 (another path) or 405
//! (another method). One request per connection, its head bounded in size
//! and time; the listener stops with the server.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a scraper may take to send its head and take the page.
const IO_LIMIT: Duration = Duration::from_secs(10);

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds the metrics address (before the process detaches, like the
/// listeners): the error is nginx-style text.
pub fn bind(addr: std::net::SocketAddr) -> Result<std::net::TcpListener, String> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        format!(
            "bind() to {addr} failed ({}) for --metrics",
            crate::proxy::errno(&e)
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("--metrics {addr}: {e}"))?;
    Ok(listener)
}

/// Serves scrapes until `shutdown` turns true.
pub async fn serve(
    listener: std::net::TcpListener,
    registry: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("--metrics: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let registry = Arc::clone(&registry);
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(IO_LIMIT, answer(stream, &registry)).await;
                    });
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

async fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let (status, body, head_only) = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                let path = req.path.unwrap_or_default();
                let path = path.split('?').next().unwrap_or_default();
                let head_only = req.method == Some("HEAD");
                let (status, body) = match (req.method, path) {
                    (Some("GET" | "HEAD"), "/metrics") => {
                        ("200 OK", crate::metrics::render(registry))
                    }
                    (Some("GET" | "HEAD"), _) => {
                        ("404 Not Found", "not found: try /metrics\n".to_string())
                    }
                    _ => ("405 Method Not Allowed", "GET /metrics\n".to_string()),
                };
                break (status, body, head_only);
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => continue,
            _ => break ("400 Bad Request", "bad request\n".to_string(), false),
        }
    };
    let content_type = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain"
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
