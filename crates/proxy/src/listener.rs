//! Listening sockets and what they accept, as `ngx_open_listening_sockets`
//! and `ngx_close_listening_sockets` (src/core/ngx_connection.c) make and
//! close them: TCP with SO_REUSEADDR, or a unix stream socket whose file is
//! made readable and writable by everyone (nginx's chmod 0666) and deleted
//! when the socket is closed for good. nginx does not remove a file that is
//! already there: such a bind fails with `Address already in use`, as it
//! does in nginx. Both kinds take backlog 511.
//!
//! A socket is bound here, or comes from the privileged master
//! (privileges.rs) when this process is a worker without root.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use upgate_runtime::listen::ListenAddr;
use upgate_runtime::sockaddr::Sockaddr;

/// nginx's `NGX_LISTEN_BACKLOG` on Linux.
const BACKLOG: i32 = 511;

/// A listening socket served by the runtime.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A listening socket outside a runtime (bound before it started, or
/// passed between master and worker).
#[derive(Debug)]
pub enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// An accepted client socket.
#[derive(Debug)]
pub enum Transport {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    /// The next connection and its peer's address (a unix client is
    /// unnamed: `unix:`).
    ///
    /// Cancel safety: as tokio's `accept`, no connection is lost.
    pub async fn accept(&self) -> io::Result<(Transport, Sockaddr)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Transport::Tcp(s), Sockaddr::Inet(peer)))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Transport::Unix(s), Sockaddr::unix_unnamed()))
            }
        }
    }

    /// The address bound, as the OS reports it (TCP only: the tests' port 0).
    pub fn inet_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }

    /// Takes over a socket bound before the runtime.
    pub fn from_std(listener: StdListener) -> io::Result<Listener> {
        Ok(match listener {
            StdListener::Tcp(l) => {
                l.set_nonblocking(true)?;
                Listener::Tcp(TcpListener::from_std(l)?)
            }
            StdListener::Unix(l) => {
                l.set_nonblocking(true)?;
                Listener::Unix(UnixListener::from_std(l)?)
            }
        })
    }
}

impl StdListener {
    /// A socket received from the master for `addr`.
    pub fn from_fd(addr: &ListenAddr, fd: OwnedFd) -> StdListener {
        match addr {
            ListenAddr::Inet(_) => StdListener::Tcp(fd.into()),
            ListenAddr::Unix(_) => StdListener::Unix(fd.into()),
        }
    }

    pub fn into_fd(self) -> OwnedFd {
        match self {
            StdListener::Tcp(l) => l.into(),
            StdListener::Unix(l) => l.into(),
        }
    }
}

/// Binds `addr` in this runtime, or takes the master's socket for it.
pub fn bind(addr: &ListenAddr) -> io::Result<Listener> {
    if let Some(from_master) = crate::privileges::listen(addr) {
        return Listener::from_std(StdListener::from_fd(addr, from_master?));
    }
    Listener::from_std(bind_std(addr)?)
}

/// Binds `addr` without a runtime.
pub fn bind_std(addr: &ListenAddr) -> io::Result<StdListener> {
    match addr {
        ListenAddr::Inet(sa) => bind_tcp(*sa).map(StdListener::Tcp),
        ListenAddr::Unix(path) => bind_unix(path).map(StdListener::Unix),
    }
}

/// nginx's message for a failed bind: `bind() to 0.0.0.0:80 failed (98:
/// Address already in use)`.
pub fn bind_error(addr: &ListenAddr, e: &io::Error) -> String {
    format!(
        "bind() to {} failed ({})",
        addr.text(),
        crate::proxy::errno(e)
    )
}

fn bind_tcp(addr: std::net::SocketAddr) -> io::Result<std::net::TcpListener> {
    use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, sockopt};
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = nix::sys::socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    nix::sys::socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    nix::sys::socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )?;
    let backlog = Backlog::new(BACKLOG).unwrap_or(Backlog::MAXCONN);
    nix::sys::socket::listen(&fd, backlog)?;
    Ok(fd.into())
}

fn bind_unix(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
    use std::os::unix::fs::PermissionsExt;
    let fd = nix::sys::socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let name = UnixAddr::new(path)?;
    nix::sys::socket::bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &name)?;
    let backlog = Backlog::new(BACKLOG).unwrap_or(Backlog::MAXCONN);
    if let Err(e) = nix::sys::socket::listen(&fd, backlog) {
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    // nginx: chmod() of the socket file, so that any user may connect.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(fd.into())
}

/// Deletes a unix listener's file once its socket is closed for good
/// (`ngx_close_listening_sockets`); the error is nginx's `[emerg]` text.
pub fn delete_socket_file(addr: &ListenAddr) -> Result<(), String> {
    let ListenAddr::Unix(path) = addr else {
        return Ok(());
    };
    let removed = match crate::privileges::unlink_socket(addr) {
        Some(through_master) => through_master,
        None => std::fs::remove_file(path),
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "unlink() {} failed ({})",
            path.display(),
            crate::proxy::errno(&e)
        )),
    }
}

impl Transport {
    /// Makes the coming close a reset (SO_LINGER 0), as nginx's
    /// `ngx_http_free_request` does for a timed-out connection under
    /// reset_timedout_connection: the kernel drops what is still queued
    /// for the peer and frees the socket at once instead of keeping it in
    /// FIN_WAIT. A unix socket has no such state and is left as it is.
    pub fn reset_on_close(&self) {
        if let Transport::Tcp(s) = self {
            // nginx logs the failure at alert and closes normally; a
            // socket that refuses the option is already going away.
            let _ = s.set_zero_linger();
        }
    }

    /// The local address of a connection accepted on `addr`: a unix
    /// socket's is the listener's path as configured.
    pub fn local(&self, addr: &ListenAddr) -> io::Result<Sockaddr> {
        match (self, addr) {
            (Transport::Tcp(s), _) => s.local_addr().map(Sockaddr::Inet),
            (Transport::Unix(_), ListenAddr::Unix(path)) => {
                Ok(Sockaddr::Unix(Arc::from(path.as_path())))
            }
            (Transport::Unix(_), ListenAddr::Inet(_)) => Err(io::ErrorKind::InvalidInput.into()),
        }
    }

    /// Waits until a read would not block. Through the socket's one reader
    /// waker (`poll_read_ready`), not tokio's list of `readable()` waiters
    /// and its lock: no read runs meanwhile on a connection that waits so.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| match self {
            Transport::Tcp(s) => s.poll_read_ready(cx),
            Transport::Unix(s) => s.poll_read_ready(cx),
        })
        .await
    }

    /// Reads without consuming (`recv(MSG_PEEK)`), waiting for data.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.readable().await?;
            let fd = match self {
                Transport::Tcp(s) => std::os::fd::AsRawFd::as_raw_fd(s),
                Transport::Unix(s) => std::os::fd::AsRawFd::as_raw_fd(s),
            };
            let peek = || {
                nix::sys::socket::recv(fd, &mut *buf, nix::sys::socket::MsgFlags::MSG_PEEK)
                    .map_err(io::Error::from)
            };
            // try_io forgets the readiness when the peek would block.
            let peeked = match self {
                Transport::Tcp(s) => s.try_io(Interest::READABLE, peek),
                Transport::Unix(s) => s.try_io(Interest::READABLE, peek),
            };
            match peeked {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A unix listener: the file is there with mode 0666, a second bind
    /// fails as nginx's does, the file goes with delete_socket_file.
    #[test]
    fn unix_socket_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("upgate-listener-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let addr = ListenAddr::Unix(path.clone());
        let l = bind_std(&addr).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        let again = bind_std(&addr).map(|_| ()).unwrap_err();
        assert!(bind_error(&addr, &again).contains("Address already in use"));
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        drop(l);
        delete_socket_file(&addr).unwrap();
        assert!(!path.exists());
        delete_socket_file(&addr).unwrap();
        let _ = std::fs::remove_dir(&dir);
    }
}
