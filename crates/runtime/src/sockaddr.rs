//! A connection's address as nginx keeps it (`c->sockaddr`,
//! `c->local_sockaddr`): TCP over IPv4/IPv6, or a unix stream socket.
//! Text forms follow `ngx_sock_ntop` (src/core/ngx_inet.c): an accepted
//! unix client has no name, so its text is `unix:`; a unix listener's is
//! `unix:` and its path. The unix side has no port: `$remote_port` and
//! `$server_port` are empty there (`ngx_inet_get_port` gives 0).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use crate::eval::ip_text;

/// The address of one end of a client connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sockaddr {
    Inet(SocketAddr),
    /// AF_UNIX: the socket's path, empty for an unnamed (client) socket.
    Unix(Arc<Path>),
}

impl Sockaddr {
    /// An unnamed unix socket (what a unix listener's clients are).
    pub fn unix_unnamed() -> Sockaddr {
        Sockaddr::Unix(Arc::from(Path::new("")))
    }

    /// The IP address; `None` on a unix socket.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Sockaddr::Inet(a) => Some(a.ip()),
            Sockaddr::Unix(_) => None,
        }
    }

    /// The address the balancers hash (ip_hash): a unix client hashes as
    /// 0.0.0.0, the `{0, 0, 0}` that `ngx_http_upstream_init_ip_hash_peer`
    /// uses for a family it does not know.
    pub fn balancer_ip(&self) -> IpAddr {
        self.ip()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    /// The port; 0 on a unix socket, as `ngx_inet_get_port` says.
    pub fn port(&self) -> u16 {
        match self {
            Sockaddr::Inet(a) => a.port(),
            Sockaddr::Unix(_) => 0,
        }
    }

    /// `ngx_sock_ntop` without the port: `127.0.0.1`, `::1`, `unix:`,
    /// `unix:/path` (`$remote_addr`, `$server_addr`, the error log's
    /// `client:`).
    pub fn addr_text(&self) -> String {
        match self {
            Sockaddr::Inet(a) => ip_text(a.ip()),
            Sockaddr::Unix(p) => format!("unix:{}", p.display()),
        }
    }
}

/// `ngx_sock_ntop` with the port: `127.0.0.1:80`, `[::1]:80`, `unix:/path`
/// (the error log's `server:`).
impl fmt::Display for Sockaddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sockaddr::Inet(a) => write!(f, "{a}"),
            Sockaddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl From<SocketAddr> for Sockaddr {
    fn from(a: SocketAddr) -> Sockaddr {
        Sockaddr::Inet(a)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn texts_as_ngx_sock_ntop() {
        let v4 = Sockaddr::from("127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(v4.addr_text(), "127.0.0.1");
        assert_eq!(v4.to_string(), "127.0.0.1:8080");
        assert_eq!(v4.port(), 8080);
        let client = Sockaddr::unix_unnamed();
        assert_eq!(client.addr_text(), "unix:");
        assert_eq!(client.ip(), None);
        assert_eq!(client.port(), 0);
        let listener = Sockaddr::Unix(Arc::from(Path::new("/run/u.sock")));
        assert_eq!(listener.addr_text(), "unix:/run/u.sock");
        assert_eq!(listener.to_string(), "unix:/run/u.sock");
    }
}
