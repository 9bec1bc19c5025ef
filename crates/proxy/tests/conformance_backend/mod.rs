//! The upstream of the conformance harness: records the exact bytes of every
//! request it receives (head and body as framed on the wire, Content-Length
//! or chunked) and answers by the `k=` argument of the request target, so
//! that one config exercises every response shape: a plain 200 with hidden
//! headers, chunked, close-delimited, HTTP/1.0, 204, 304, a custom reason
//! phrase, a redirect with Refresh, a 500, a slow answer, and 101 to any
//! WebSocket handshake (then it closes, as a finished tunnel would).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Requests received, in order.
#[derive(Clone, Default)]
pub struct Recording(Arc<Mutex<Vec<Vec<u8>>>>);

impl Recording {
    pub fn take(&self) -> Vec<Vec<u8>> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn push(&self, r: Vec<u8>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(r);
        }
    }
}

/// Starts the backend on `listener`.
pub fn start(listener: TcpListener, port: u16) -> Recording {
    let rec = Recording::default();
    let r = rec.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let r = r.clone();
            tokio::spawn(async move {
                let _ = connection(s, r, port).await;
            });
        }
    });
    rec
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 8192];
    match tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await {
        Ok(Ok(0)) | Err(_) => Ok(false),
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
        Ok(Err(e)) => Err(e),
    }
}

async fn connection(mut s: TcpStream, rec: Recording, port: u16) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(e) = find(&buf, b"\r\n\r\n") {
                break e + 4;
            }
            if !fill(&mut s, &mut buf).await? {
                return Ok(());
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if req.parse(&buf[..end]).is_err() {
            rec.push(buf.clone());
            return Ok(());
        }
        let target = req.path.unwrap_or("").to_string();
        let version = req.version.unwrap_or(1);
        let header = |name: &str| -> Option<String> {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
        let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
            && header("connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
            && version == 1;
        let close = version == 0
            || header("connection").is_some_and(|v| v.to_ascii_lowercase().contains("close"));
        // The body, as framed on the wire.
        let total = if chunked {
            loop {
                if let Some(e) = find(&buf[end..], b"0\r\n\r\n") {
                    break end + e + 5;
                }
                if !fill(&mut s, &mut buf).await? {
                    break buf.len();
                }
            }
        } else {
            let want = end + length.unwrap_or(0);
            while buf.len() < want {
                if !fill(&mut s, &mut buf).await? {
                    break;
                }
            }
            want.min(buf.len())
        };
        rec.push(buf[..total].to_vec());
        buf.drain(..total);
        let kind = target
            .split_once("k=")
            .map(|(_, k)| k.split('&').next().unwrap_or("").to_string())
            .unwrap_or_default();
        let (response, then_close) = if upgrade {
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Pad: pad\r\n\r\n"
                    .to_string(),
                true,
            )
        } else {
            response(&kind, port)
        };
        if kind == "slow" {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        s.write_all(response.as_bytes()).await?;
        if then_close || close {
            let _ = s.shutdown().await;
            return Ok(());
        }
    }
}

/// The response for `k=KIND`, and whether the connection closes after it.
fn response(kind: &str, port: u16) -> (String, bool) {
    let r = |s: &str| (s.to_string(), false);
    match kind {
        "chunked" => r("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nX-C: c\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "close" => ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nX-Close: 1\r\n\r\nuntil close".to_string(), true),
        "http10" => ("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold".to_string(), true),
        "nocontent" => r("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
        "notmod" => r("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Type: text/plain\r\n\r\n"),
        "reason" => r("HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\n\r\nok"),
        "redirect" => (
            format!(
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/redirect/x\r\nRefresh: 5; url=http://127.0.0.1:{port}/redirect/y\r\nContent-Length: 0\r\n\r\n"
            ),
            false,
        ),
        "e500" => r("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\noops"),
        "e502" => r("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad"),
        "upg" => r("HTTP/1.1 200 OK\r\nUpgrade: foo\r\nContent-Length: 2\r\n\r\nok"),
        "empty" => r("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        _ => r("HTTP/1.1 200 OK\r\nServer: backend/1\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Pad: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Custom: c\r\nX-Accel-Buffering: no\r\nX-Accel-Other: o\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello"),
    }
}
