//! One try at one peer, as `ngx_http_upstream_connect`,
//! `ngx_http_upstream_send_request` and `ngx_http_upstream_process_header`
//! (src/http/ngx_http_upstream.c) make it: a cached keepalive connection to
//! the chosen address or a new one (proxy_connect_timeout, which for TLS
//! also bounds the handshake, as in `ngx_http_upstream_ssl_init_connection`),
//! the request head
//! and buffered body written with proxy_send_timeout between writes, the
//! response head read with proxy_read_timeout and parsed by the codec. The
//! failure says which `NGX_HTTP_UPSTREAM_FT_*` it is and carries nginx's
//! error log message.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use upgate_runtime::timeouts::Timeouts;
use upgate_runtime::upstream::PeerAddr;

use crate::access_log::Values;
use crate::http1::{ResponseConfig, ResponseHead, parse_response_head};
use crate::proxy::errno;
use crate::request_body::Body;
use crate::tls::upstream::{HandshakeError, UpstreamTls};
use crate::upstream::connect::ConnectError;
use crate::upstream::pool::Conn;
use crate::upstream::{Group, UpstreamStream, connect};

/// How an attempt failed (`NGX_HTTP_UPSTREAM_FT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    Error,
    Timeout,
    InvalidHeader,
    /// Not the peer's doing (no socket could be made): nginx's
    /// `NGX_ERROR` from `ngx_event_connect_peer`, a 500 with no next try.
    Internal,
}

/// One try at one peer, started at `t0`: connect (or reuse), send, read
/// the head. `Err((kind, log message, connection was cached))`: an error on
/// a cached connection does not use up a try, even after part of a head
/// arrived (`ngx_http_upstream_next` adds one to `tries` for any
/// `FT_ERROR` on `peer.cached`), since the peer may have closed it idle.
#[allow(clippy::too_many_arguments)]
pub async fn attempt(
    addr: &PeerAddr,
    group: &Group,
    bytes: &[u8],
    body: &mut Body,
    t: &Timeouts,
    rcfg: &ResponseConfig,
    sent: &mut bool,
    vals: &mut Values,
    tls: Option<(&UpstreamTls, &[u8])>,
    t0: Instant,
) -> Result<(Conn, ResponseHead, BytesMut), (Fail, String, bool)> {
    let cached = group
        .pool
        .as_ref()
        .and_then(|p| p.take(addr, tls.is_some(), t0));
    // A cached connection took no time to connect ($upstream_connect_time
    // 0.000, as nginx's cached clock shows it).
    let (mut conn, connect_time) = match cached {
        Some(c) => (c, Duration::ZERO),
        None => {
            let stream = open(addr, t, tls).await?;
            let born = Instant::now();
            let conn = Conn {
                stream,
                addr: addr.clone(),
                requests: 0,
                born,
                cached: false,
            };
            (conn, born.saturating_duration_since(t0))
        }
    };
    vals.state().connect_time = Some(connect_time);
    let cached = conn.cached;
    let send_err = |timeout: bool| {
        if timeout {
            (
                Fail::Timeout,
                "upstream timed out (110: Connection timed out) while sending request to upstream"
                    .to_string(),
                cached,
            )
        } else {
            (
                Fail::Error,
                "writev() failed (32: Broken pipe) while sending request to upstream".to_string(),
                cached,
            )
        }
    };
    // The head and the body's first piece go out in one write, as nginx's
    // writev of the request chain sends them.
    let mut pieces = body.pieces().map_err(|_| send_err(false))?;
    let first = pieces.next_piece().map_err(|_| send_err(false))?;
    let joined;
    let head: &[u8] = if first.is_empty() {
        bytes
    } else {
        let mut both = Vec::with_capacity(bytes.len() + first.len());
        both.extend_from_slice(bytes);
        both.extend_from_slice(first);
        joined = both;
        &joined
    };
    write_all(&mut conn.stream, head, t.proxy_send_timeout.value, sent)
        .await
        .map_err(send_err)?;
    vals.state().bytes_sent += head.len() as u64;
    let mut more = !first.is_empty();
    while more {
        let piece = pieces.next_piece().map_err(|_| send_err(false))?;
        if piece.is_empty() {
            more = false;
            continue;
        }
        write_all(&mut conn.stream, piece, t.proxy_send_timeout.value, sent)
            .await
            .map_err(send_err)?;
        vals.state().bytes_sent += piece.len() as u64;
    }
    let mut buf = BytesMut::with_capacity(rcfg.proxy_buffer_size.min(16 * 1024));
    // One proxy_read_timeout for the whole head: nginx arms the read timer
    // once the request is sent and ngx_http_upstream_process_header does
    // not re-arm it per read, so a head dripped slowly ends in a 504
    // (the body's reads are timed one by one).
    let mut head_timer = crate::io_timeout::Deadline::new(t.proxy_read_timeout.value);
    loop {
        match parse_response_head(&mut buf, rcfg) {
            Ok(Some(head)) => return Ok((conn, head, buf)),
            Ok(None) => {}
            Err(e) => {
                return Err((
                    Fail::InvalidHeader,
                    format!("{e} while reading response header from upstream"),
                    false,
                ));
            }
        }
        let room = rcfg.proxy_buffer_size.saturating_sub(buf.len()).max(1);
        buf.reserve(room);
        let read = async {
            (&mut conn.stream)
                .take(room as u64)
                .read_buf(&mut buf)
                .await
        };
        match head_timer.run(read).await {
            Ok(Ok(0)) => {
                return Err((
                    Fail::Error,
                    "upstream prematurely closed connection while reading response header from upstream".into(),
                    cached,
                ));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err((
                    Fail::Error,
                    format!(
                        "{} while reading response header from upstream",
                        recv_failed(&conn.stream, &e)
                    ),
                    cached,
                ));
            }
            Err(_) => {
                return Err((Fail::Timeout, "upstream timed out (110: Connection timed out) while reading response header from upstream".into(), false));
            }
        }
    }
}

/// A new connection: TCP connect, then with `tls` the handshake with that
/// name, both within proxy_connect_timeout as nginx's one connect timer.
async fn open(
    addr: &PeerAddr,
    t: &Timeouts,
    tls: Option<(&UpstreamTls, &[u8])>,
) -> Result<UpstreamStream, (Fail, String, bool)> {
    let deadline = Instant::now() + t.proxy_connect_timeout.value;
    let stream = match connect(addr, t.proxy_connect_timeout.value).await {
        Ok(stream) => stream,
        Err(ConnectError::Timeout) => {
            return Err((
                Fail::Timeout,
                "upstream timed out (110: Connection timed out) while connecting to upstream"
                    .into(),
                false,
            ));
        }
        Err(ConnectError::Io(e)) => {
            return Err((
                Fail::Error,
                format!(
                    "connect() failed ({}) while connecting to upstream",
                    errno(&e)
                ),
                false,
            ));
        }
        Err(ConnectError::Socket(e)) => {
            return Err((
                Fail::Internal,
                format!(
                    "socket() failed ({}) while connecting to upstream",
                    errno(&e)
                ),
                false,
            ));
        }
    };
    let Some((tls, name)) = tls else {
        return Ok(stream);
    };
    let UpstreamStream::Tcp(tcp) = stream else {
        return Err((
            Fail::Error,
            "TLS over a unix socket is not served by upgate while SSL handshaking to upstream"
                .into(),
            false,
        ));
    };
    match tls.handshake(tcp, name, deadline).await {
        Ok(s) => Ok(UpstreamStream::Tls(Box::new(s))),
        Err(HandshakeError::Timeout) => Err((
            Fail::Timeout,
            "upstream timed out (110: Connection timed out) while SSL handshaking to upstream"
                .into(),
            false,
        )),
        Err(HandshakeError::Failed(msg)) => Err((
            Fail::Error,
            format!("{msg} while SSL handshaking to upstream"),
            false,
        )),
    }
}

/// nginx's text for a failed read: `recv()` on a plain socket, `SSL_read()`
/// with OpenSSL's reason on a TLS one (a TLS 1.3 peer refusing the client
/// certificate says so only after the handshake).
pub fn recv_failed(stream: &UpstreamStream, e: &std::io::Error) -> String {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match (stream.is_tls(), tls) {
        (true, Some(tls)) => format!(
            "SSL_read() failed (SSL: {})",
            crate::tls::upstream::openssl_reason(tls)
        ),
        (true, None) => format!("SSL_read() failed ({})", errno(e)),
        (false, _) => format!("recv() failed ({})", errno(e)),
    }
}

/// Writes `data` upstream, each write bounded by proxy_send_timeout;
/// `Err(true)` on a timeout.
async fn write_all(
    stream: &mut UpstreamStream,
    data: &[u8],
    timeout: std::time::Duration,
    sent: &mut bool,
) -> Result<(), bool> {
    let mut at = 0;
    while at < data.len() {
        match crate::io_timeout::timeout(timeout, stream.write(&data[at..])).await {
            Ok(Ok(n)) if n > 0 => {
                at += n;
                *sent = true;
            }
            Ok(_) => return Err(false),
            Err(_) => return Err(true),
        }
    }
    Ok(())
}
