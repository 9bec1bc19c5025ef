//! A recording HTTP backend: keeps the exact bytes of every request it
//! receives (head and body, as framed on the wire) and answers each with a
//! fixed response, so tests can compare what upgate and nginx send
//! upstream, byte for byte.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::head::read_head;

/// Requests seen, in arrival order, each as the raw bytes received.
#[derive(Debug, Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<Vec<u8>>>>);

impl Recorded {
    pub fn take(&self) -> Vec<Vec<u8>> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn push(&self, request: Vec<u8>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(request);
        }
    }
}

/// Serves `response` (a whole HTTP response, head and body) to every
/// request, recording the requests; keeps connections open while the
/// client allows.
pub async fn serve(listener: TcpListener, response: Vec<u8>, recorded: Recorded) {
    let response = Arc::new(response);
    while let Ok((stream, _)) = listener.accept().await {
        let (response, recorded) = (Arc::clone(&response), recorded.clone());
        tokio::spawn(async move {
            let _ = connection(stream, &response, &recorded).await;
        });
    }
}

async fn connection(
    stream: TcpStream,
    response: &[u8],
    recorded: &Recorded,
) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let mut chained = pending.as_slice().chain(&mut stream);
        let Some(head) = read_head(&mut chained).await? else {
            return Ok(());
        };
        let mut raw = head.raw.clone();
        let mut rest = head.rest.clone();
        if head.has_token("transfer-encoding", "chunked") {
            read_chunked(&mut stream, &mut rest).await?;
        } else if let Some(len) = head
            .header("content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            while rest.len() < len {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                rest.extend_from_slice(&chunk[..n]);
            }
            let body_len = len.min(rest.len());
            raw.extend_from_slice(&rest[..body_len]);
            rest.drain(..body_len);
        }
        if head.has_token("transfer-encoding", "chunked") {
            raw.extend_from_slice(&rest);
            rest.clear();
        }
        recorded.push(raw);
        stream.write_all(response).await?;
        let close = head.version == 0 || head.has_token("connection", "close");
        if close {
            return stream.shutdown().await;
        }
        pending = rest;
    }
}

/// Reads until the chunked body's terminating `0\r\n\r\n` is in `buf`.
async fn read_chunked<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    while !buf.windows(5).any(|w| w == b"0\r\n\r\n") {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}
