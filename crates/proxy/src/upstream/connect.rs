//! Connecting to one peer, as `ngx_event_connect_peer`
//! (src/event/ngx_event_connect.c) and `ngx_http_upstream_connect` do:
//! a non-blocking connect bounded by proxy_connect_timeout, TCP or a unix
//! socket, with TCP_NODELAY on. A TLS upstream's handshake follows on the
//! TCP socket (`crate::tls::upstream`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream, UnixSocket, UnixStream};
use tokio_rustls::client::TlsStream;
use upgate_runtime::upstream::PeerAddr;

/// A connection to a peer.
#[derive(Debug)]
pub enum UpstreamStream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Boxed: rustls' state is large, and the enum lives in every
    /// connection's future.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Why a connect failed, in nginx's terms.
#[derive(Debug)]
pub enum ConnectError {
    /// `socket() failed (24: Too many open files)`: no socket to try the
    /// peer with, which says nothing about the peer (nginx answers 500
    /// and does not try the next one).
    Socket(io::Error),
    /// `connect() failed (111: Connection refused)` and the like.
    Io(io::Error),
    /// "upstream timed out (110: Connection timed out) while connecting".
    Timeout,
}

/// Connects to `addr`, bounded by `proxy_connect_timeout`.
///
/// Cancel safety: dropping the future abandons the attempt.
pub async fn connect(addr: &PeerAddr, timeout: Duration) -> Result<UpstreamStream, ConnectError> {
    let attempt = async {
        match addr {
            PeerAddr::Inet(sa) => {
                let socket = match sa {
                    SocketAddr::V4(_) => TcpSocket::new_v4(),
                    SocketAddr::V6(_) => TcpSocket::new_v6(),
                }
                .map_err(ConnectError::Socket)?;
                let s = socket.connect(*sa).await.map_err(ConnectError::Io)?;
                let _ = s.set_nodelay(true);
                Ok(UpstreamStream::Tcp(s))
            }
            PeerAddr::Unix(path) => {
                let socket = UnixSocket::new_stream().map_err(ConnectError::Socket)?;
                let s = socket.connect(path).await.map_err(ConnectError::Io)?;
                Ok(UpstreamStream::Unix(s))
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Timeout),
    }
}

impl UpstreamStream {
    /// Whether an idle cached connection is still usable: nothing to read
    /// and not closed (nginx closes a cached connection on any read event,
    /// `ngx_http_upstream_keepalive_close_handler`). For TLS, records rustls
    /// already holds count too: a close_notify or data read past the
    /// response make the connection unusable.
    pub fn idle_ok(&mut self) -> bool {
        let mut probe = [0u8; 1];
        let r = match self {
            UpstreamStream::Tcp(s) => s.try_read(&mut probe),
            UpstreamStream::Unix(s) => s.try_read(&mut probe),
            UpstreamStream::Tls(s) => s.get_ref().0.try_read(&mut probe),
        };
        if !matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            return false;
        }
        match self {
            UpstreamStream::Tls(s) => match s.get_mut().1.process_new_packets() {
                Ok(state) => state.plaintext_bytes_to_read() == 0 && !state.peer_has_closed(),
                Err(_) => false,
            },
            _ => true,
        }
    }

    /// Whether the connection speaks TLS (a cached one serves only a
    /// request that asks for TLS, and a plain one only a plain request).
    pub fn is_tls(&self) -> bool {
        matches!(self, UpstreamStream::Tls(_))
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            // A peer closing without close_notify has ended its data, as
            // nginx reads it (SSL_OP_IGNORE_UNEXPECTED_EOF).
            UpstreamStream::Tls(s) => match Pin::new(s.as_mut()).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Unix(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
