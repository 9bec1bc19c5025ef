//! The upstream's response body on its way to the client, as nginx's proxy
//! input filters (`ngx_http_proxy_copy_filter`, `ngx_http_proxy_chunked_filter`,
//! `ngx_http_proxy_non_buffered_*`) and the chunked output filter
//! (`ngx_http_chunked_body_filter`) move it: the upstream's framing removed
//! by the codec's [`BodyDecoder`], the client's framing added (chunks with a
//! lower-case hex size when the length is unknown to an HTTP/1.1 client;
//! nothing for HEAD, 204 and 304). Each upstream read waits at most
//! proxy_read_timeout, each client write at most send_timeout.
//!
//! An upstream that ends early, sends a bad chunk or times out ends the
//! client connection without the last chunk, so the client sees a truncated
//! response, as with nginx.

use std::io::Write as _;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use crate::client::Client;
use crate::http1::response_writer::ClientFraming;
use crate::http1::{BodyDecoder, BodyFraming, ResponseFraming};
use crate::upstream::UpstreamStream;

/// Reads the body from `upstream` (the part already in `buf` first) and
/// writes it to `client` after what `out` holds (the head, when the body
/// came with it), except the last piece, which is left in `out` once the
/// upstream's body is complete: the caller caches the upstream connection
/// first (as nginx does before the client can send its next request), then
/// writes it. `Err(Some(msg))`: the upstream failed (nginx logs msg);
/// `Err(None)`: the client went away. `(proxy_read_timeout, send_timeout)`
/// bound each read and write; `received` counts the body's bytes as read
/// from the upstream, framing included (`$upstream_response_length`).
pub async fn body(
    client: &mut Client,
    upstream: &mut UpstreamStream,
    buf: &mut BytesMut,
    (upstream_framing, client_framing): (ResponseFraming, ClientFraming),
    (proxy_read_timeout, send_timeout): (Duration, Duration),
    received: &mut u64,
    out: &mut Vec<u8>,
) -> Result<(), Option<String>> {
    let framing = match upstream_framing {
        ResponseFraming::NoBody => BodyFraming::None,
        ResponseFraming::Length(n) => BodyFraming::Length(n),
        ResponseFraming::Chunked => BodyFraming::Chunked,
        ResponseFraming::UntilClose => BodyFraming::UntilClose,
    };
    let mut dec = match BodyDecoder::new(framing, 0) {
        Ok(d) => d,
        Err(_) => return Err(Some("upstream sent invalid body".into())),
    };
    let send = !client_framing.header_only;
    let mut done = framing == BodyFraming::None;
    // Chunked, a piece's size goes before it: the piece waits here.
    let mut data: Vec<u8> = Vec::new();
    loop {
        while !done && !buf.is_empty() {
            let d = match dec.decode(buf) {
                Ok(d) => d,
                Err(_) => {
                    return Err(Some(
                        "upstream sent invalid chunked response while reading upstream".into(),
                    ));
                }
            };
            if send && client_framing.chunked {
                data.extend_from_slice(d.data);
            } else if send {
                out.extend_from_slice(d.data);
            }
            let consumed = d.consumed;
            *received += consumed as u64;
            done = d.done;
            buf.advance(consumed);
            if consumed == 0 {
                break;
            }
        }
        // What one read brought goes out as one chunk, as nginx's buffers do.
        if !data.is_empty() {
            let _ = write!(out, "{:x}\r\n", data.len());
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\r\n");
            data.clear();
        }
        if done && send && client_framing.chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        if done {
            return Ok(());
        }
        if !out.is_empty() {
            client
                .write_all(out, send_timeout)
                .await
                .map_err(|_| None)?;
            out.clear();
        }
        buf.reserve(16 * 1024);
        let read = upstream.read_buf(buf);
        match crate::io_timeout::timeout(proxy_read_timeout, read).await {
            Ok(Ok(0)) => {
                if framing == BodyFraming::UntilClose {
                    if send && client_framing.chunked {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    return Ok(());
                }
                return Err(Some(
                    "upstream prematurely closed connection while reading upstream".into(),
                ));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(Some(format!(
                    "{} while reading upstream",
                    crate::upstream::attempt::recv_failed(upstream, &e)
                )));
            }
            Err(_) => {
                return Err(Some(
                    "upstream timed out (110: Connection timed out) while reading upstream".into(),
                ));
            }
        }
    }
}
