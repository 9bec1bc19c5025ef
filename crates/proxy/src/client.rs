//! The client's socket with nginx's timers on each operation: a read waits
//! at most the timeout in force (client_header_timeout, client_body_timeout,
//! keepalive_timeout), a write at most send_timeout between two successful
//! writes (`ngx_http_writer` re-arms send_timeout after each). Bytes read
//! and not yet used wait in [`Client::buf`] (pipelined requests, a body, the
//! first bytes of a tunnel). The socket (TCP or unix, [`Transport`]) is
//! plain or TLS ([`ClientStream`]); what the handshake learnt rides along
//! in [`Client::tls`], what a PROXY protocol header told in
//! [`Client::proxy_protocol`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use upgate_runtime::proxy_protocol::ProxyProtocol;
use upgate_runtime::sockaddr::Sockaddr;

use crate::io_timeout::Deadline;

pub use crate::listener::Transport;

/// How much a read asks for.
const READ_SIZE: usize = 16 * 1024;

/// The client's socket: plain, or TLS after the handshake.
#[derive(Debug)]
pub enum ClientStream {
    Plain(Transport),
    /// Boxed: rustls's connection state is large and only TLS pays for it.
    Tls(Box<tokio_rustls::server::TlsStream<Transport>>),
}

impl ClientStream {
    /// The socket under it.
    pub fn transport(&self) -> &Transport {
        match self {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(s) => s.get_ref().0,
        }
    }

    /// Whether TLS has decrypted bytes waiting, which a wait for socket
    /// readiness would not see.
    fn pending(&mut self) -> bool {
        match self {
            ClientStream::Plain(_) => false,
            ClientStream::Tls(s) => s
                .get_mut()
                .1
                .process_new_packets()
                .is_ok_and(|state| state.plaintext_bytes_to_read() > 0),
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What a TLS handshake left for the requests of its connection.
#[derive(Debug, Default)]
pub struct TlsInfo {
    /// The server the SNI name chose and the client certificate's verdict.
    pub client: upgate_runtime::ssl::ClientTls,
    /// The `$ssl_*` variables, by name (shared by the connection's
    /// requests).
    pub values: std::sync::Arc<[(String, Vec<u8>)]>,
}

/// One client connection.
#[derive(Debug)]
pub struct Client {
    pub stream: ClientStream,
    /// Set on a TLS connection.
    pub tls: Option<Box<TlsInfo>>,
    /// A plain HTTP connection to a TLS address (nginx answers 497).
    pub plain_on_tls: bool,
    /// Read and not yet consumed.
    pub buf: BytesMut,
    pub peer: Sockaddr,
    pub local: Sockaddr,
    /// The PROXY protocol header's addresses (`listen ... proxy_protocol`;
    /// `None` also when the header named none).
    pub proxy_protocol: Option<Box<ProxyProtocol>>,
    /// nginx's connection number (`$connection`, `*N` in the error log).
    pub id: u64,
    /// Requests started on this connection (`$connection_requests`).
    pub requests: u64,
    pub born: Instant,
    /// Bytes written to the client for the current request.
    pub sent: u64,
    /// Its place in stub_status's counters.
    pub stat: Option<crate::stats::ConnStat>,
    /// `true` once the server began to stop (`ngx_exiting`): responses
    /// then close the connection.
    pub exiting: Option<tokio::sync::watch::Receiver<bool>>,
    /// nginx's `c->timedout`: a read or write of the current request ran
    /// out of time, or it was answered 444.
    pub timedout: bool,
    /// reset_timedout_connection of the level serving the request.
    pub reset_timedout: bool,
}

/// A read or write that did not complete.
#[derive(Debug)]
pub enum IoFail {
    /// The timer ran out.
    Timeout,
    /// The peer closed (read 0) or reset.
    Closed,
    Io(io::Error),
}

impl Client {
    /// Whether the server is stopping.
    pub fn exiting(&self) -> bool {
        self.exiting.as_ref().is_some_and(|e| *e.borrow())
    }

    /// Moves the connection to `phase` in the counters.
    pub fn phase(&mut self, phase: crate::stats::Phase) {
        if let Some(s) = &mut self.stat {
            s.set(phase);
        }
    }

    pub fn new(stream: ClientStream, peer: Sockaddr, local: Sockaddr, id: u64) -> Client {
        Client {
            stream,
            tls: None,
            proxy_protocol: None,
            plain_on_tls: false,
            buf: BytesMut::new(),
            stat: None,
            exiting: None,
            peer,
            local,
            id,
            requests: 0,
            born: Instant::now(),
            sent: 0,
            timedout: false,
            reset_timedout: false,
        }
    }

    /// Before the connection closes: a timed-out request under
    /// reset_timedout_connection ends with a reset.
    pub fn reset_if_timedout(&self) {
        if self.timedout && self.reset_timedout {
            self.stream.transport().reset_on_close();
        }
    }

    /// Reads more into `buf` within `deadline`; at most `limit` bytes are
    /// kept in `buf` in all. Returns the number read (never 0: EOF is
    /// [`IoFail::Closed`]).
    pub async fn read_more(
        &mut self,
        deadline: &mut Deadline,
        limit: usize,
    ) -> Result<usize, IoFail> {
        // Start small (most heads fit 2k, as nginx's 1k first buffer) and
        // grow with what arrives.
        let step = self.buf.capacity().clamp(2048, READ_SIZE);
        let room = limit.saturating_sub(self.buf.len()).clamp(1, step);
        self.buf.reserve(room);
        let read = async {
            let mut chunk = (&mut self.stream).take(room as u64);
            chunk.read_buf(&mut self.buf).await
        };
        match deadline.run(read).await {
            Err(_) => {
                self.timedout = true;
                Err(IoFail::Timeout)
            }
            Ok(Ok(0)) => Err(IoFail::Closed),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(IoFail::Io(e)),
        }
    }

    /// Waits until the client sends something (keepalive) within
    /// `deadline`.
    pub async fn wait_readable(&mut self, deadline: &mut Deadline) -> Result<(), IoFail> {
        if self.stream.pending() {
            return Ok(());
        }
        match deadline.run(self.stream.transport().readable()).await {
            Err(_) => Err(IoFail::Timeout),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(IoFail::Io(e)),
        }
    }

    /// Writes all of `data`, each write bounded by `send_timeout`.
    pub async fn write_all(&mut self, data: &[u8], send_timeout: Duration) -> Result<(), IoFail> {
        let mut at = 0;
        while at < data.len() {
            match crate::io_timeout::timeout(send_timeout, self.stream.write(&data[at..])).await {
                Err(_) => {
                    self.timedout = true;
                    return Err(IoFail::Timeout);
                }
                Ok(Ok(0)) => return Err(IoFail::Closed),
                Ok(Ok(n)) => {
                    at += n;
                    self.sent += n as u64;
                }
                Ok(Err(e)) => return Err(IoFail::Io(e)),
            }
        }
        // TLS may hold the last record back until flushed.
        if let ClientStream::Tls(_) = self.stream {
            match crate::io_timeout::timeout(send_timeout, self.stream.flush()).await {
                Err(_) => {
                    self.timedout = true;
                    return Err(IoFail::Timeout);
                }
                Ok(Err(e)) => return Err(IoFail::Io(e)),
                Ok(Ok(())) => {}
            }
        }
        Ok(())
    }

    /// nginx's lingering close (`ngx_http_set_lingering_close`): stop
    /// writing, then read and drop what the client still sends for up to
    /// lingering_time (30s), each read waiting lingering_timeout (5s), so
    /// that the response is not lost to a reset.
    pub async fn linger(mut self) {
        let _ = self.stream.shutdown().await;
        let end = Instant::now() + Duration::from_secs(30);
        // On the heap: this future shares its task with idle tunnels.
        let mut sink = vec![0u8; 4096];
        while Instant::now() < end {
            match tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => continue,
                _ => break,
            }
        }
    }
}
