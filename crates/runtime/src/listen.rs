//! `listen` and the address:port table: `ngx_http_core_listen` /
//! `ngx_parse_url` read the directive, `ngx_http_add_listen`,
//! `ngx_http_add_addresses`, `ngx_http_add_server`, `ngx_http_optimize_servers`
//! and `ngx_http_cmp_conf_addrs` (src/http/ngx_http.c) build the table,
//! and `ngx_http_init_connection` (ngx_http_request.c) picks the entry for a
//! connection: the one whose address equals the connection's local address,
//! else the wildcard (`*:port`, `[::]:port`) of that port. Only the servers
//! listed on that entry are candidates for the Host lookup; its default
//! server is the one marked `default_server`, else the first.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use rustc_hash::FxHashMap;
use serde::Serialize;
use upgate_conf::{Directive, Span};

use crate::server::ServerId;
use crate::server_name::HostTable;
use crate::sockaddr::Sockaddr;

/// Index of an address:port entry in [`Listens::addrs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AddrId(pub u32);

/// The address a `listen` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum ListenAddr {
    Inet(SocketAddr),
    Unix(PathBuf),
}

impl ListenAddr {
    /// `*:port` / `[::]:port`.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, ListenAddr::Inet(a) if a.ip().is_unspecified())
    }

    /// nginx's `addr_text`: `0.0.0.0:80`, `[::1]:8080`, `unix:/path`.
    pub fn text(&self) -> String {
        match self {
            ListenAddr::Inet(a) => a.to_string(),
            ListenAddr::Unix(p) => format!("unix:{}", p.display()),
        }
    }
}

/// One `listen` directive (one per address it resolves to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: ListenAddr,
    pub default_server: bool,
    pub ssl: bool,
    pub http2: bool,
    pub proxy_protocol: bool,
    pub span: Span,
}

/// Resolves a host name in `listen` (nginx calls getaddrinfo).
pub type ListenResolver<'a> = &'a dyn Fn(&str, u16) -> Vec<SocketAddr>;

/// Parses a `listen` directive (`None` for the address part of an invalid
/// one, which `nginx -t` would have refused).
pub fn parse_listen(d: &Directive, resolve: ListenResolver<'_>) -> Option<Vec<Listen>> {
    let first = d.args.first()?;
    let text = first.text();
    let mut listen = Listen {
        addr: ListenAddr::Unix(PathBuf::new()),
        default_server: false,
        ssl: false,
        http2: false,
        proxy_protocol: false,
        span: d.head_span(),
    };
    for a in &d.args[1..] {
        match a.value.as_slice() {
            b"default_server" | b"default" => listen.default_server = true,
            b"ssl" => listen.ssl = true,
            b"http2" => listen.http2 = true,
            b"proxy_protocol" => listen.proxy_protocol = true,
            _ => {}
        }
    }
    let addrs = parse_listen_addr(&text, resolve)?;
    Some(
        addrs
            .into_iter()
            .map(|addr| Listen {
                addr,
                ..listen.clone()
            })
            .collect(),
    )
}

/// `80`, `*:80`, `*`, `127.0.0.1`, `127.0.0.1:80`, `[::]:80`, `[::1]`,
/// `localhost:80`, `unix:/path`.
/// A port range `8000-8010` (`ngx_parse_inet_url` with `u->listen`) is
/// one address per port.
pub fn parse_listen_addr(text: &str, resolve: ListenResolver<'_>) -> Option<Vec<ListenAddr>> {
    if let Some(path) = text.strip_prefix("unix:") {
        return Some(vec![ListenAddr::Unix(PathBuf::from(path))]);
    }
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let each = |ip: IpAddr, (first, last): (u16, u16)| {
        (first..=last)
            .map(|port| ListenAddr::Inet(SocketAddr::new(ip, port)))
            .collect::<Vec<_>>()
    };
    if let Some(ports) = port_range(text) {
        return Some(each(any, ports));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: IpAddr = ip.parse().ok()?;
        let ports = match after.strip_prefix(':') {
            Some(p) => port_range(p)?,
            None if after.is_empty() => (80, 80),
            None => return None,
        };
        return Some(each(ip, ports));
    }
    let (host, ports) = match text.rsplit_once(':') {
        Some((h, p)) => (h, port_range(p)?),
        None => (text, (80, 80)),
    };
    if host == "*" {
        return Some(each(any, ports));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(each(ip, ports));
    }
    let mut addrs = Vec::new();
    for port in ports.0..=ports.1 {
        addrs.extend(resolve(host, port).into_iter().map(ListenAddr::Inet));
    }
    (!addrs.is_empty()).then_some(addrs)
}

/// `PORT` or `FIRST-LAST` (1..=65535, FIRST <= LAST).
fn port_range(text: &str) -> Option<(u16, u16)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|&n| n > 0);
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            (a <= b).then_some((a, b))
        }
        None => text.parse::<u16>().ok().map(|p| (p, p)),
    }
}

/// One address:port entry (`ngx_http_conf_addr_t`).
#[derive(Debug, Clone)]
pub struct AddrConf {
    pub addr: ListenAddr,
    pub ssl: bool,
    pub http2: bool,
    pub proxy_protocol: bool,
    /// The servers listening here, in configuration order.
    pub servers: Vec<ServerId>,
    pub default_server: ServerId,
    /// The `listen` that made the default server the default (`None`: it is
    /// the first server of this address).
    pub default_span: Option<Span>,
    /// The server names of these servers.
    pub names: HostTable<ServerId>,
    /// Names ignored as "conflicting server name" (for explanations).
    pub conflicts: Vec<(Vec<u8>, ServerId)>,
}

/// Every address:port entry.
#[derive(Debug, Clone, Default)]
pub struct Listens {
    pub addrs: Vec<AddrConf>,
    by_port: FxHashMap<(bool, u16), Vec<AddrId>>,
    by_addr: FxHashMap<ListenAddr, AddrId>,
}

impl Listens {
    /// Adds `server`'s listen (`ngx_http_add_listen`); `false` for a
    /// duplicate listen of the same server.
    pub fn add(&mut self, server: ServerId, listen: &Listen) -> bool {
        if let Some(&AddrId(i)) = self.by_addr.get(&listen.addr) {
            let a = &mut self.addrs[i as usize];
            if a.servers.contains(&server) {
                return false;
            }
            a.servers.push(server);
            a.ssl |= listen.ssl;
            a.http2 |= listen.http2;
            a.proxy_protocol |= listen.proxy_protocol;
            if listen.default_server && a.default_span.is_none() {
                a.default_server = server;
                a.default_span = Some(listen.span);
            }
            return true;
        }
        let id = AddrId(self.addrs.len() as u32);
        self.by_addr.insert(listen.addr.clone(), id);
        if let ListenAddr::Inet(sa) = &listen.addr {
            self.by_port
                .entry((sa.is_ipv6(), sa.port()))
                .or_default()
                .push(id);
        }
        self.addrs.push(AddrConf {
            addr: listen.addr.clone(),
            ssl: listen.ssl,
            http2: listen.http2,
            proxy_protocol: listen.proxy_protocol,
            servers: vec![server],
            default_server: server,
            default_span: listen.default_server.then_some(listen.span),
            names: HostTable::new(true),
            conflicts: Vec::new(),
        });
        true
    }

    /// The entry a connection to `local` uses: the exact address, else the
    /// wildcard of that port; a unix socket's own entry.
    pub fn find(&self, local: &Sockaddr) -> Option<AddrId> {
        let local = match local {
            Sockaddr::Inet(a) => *a,
            Sockaddr::Unix(path) => {
                return self
                    .by_addr
                    .get(&ListenAddr::Unix(path.to_path_buf()))
                    .copied();
            }
        };
        let local = match local {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
                None => local,
            },
            v4 => v4,
        };
        let ids = self.by_port.get(&(local.is_ipv6(), local.port()))?;
        let mut wildcard = None;
        for &id in ids {
            let a = &self.addrs[id.0 as usize];
            match &a.addr {
                ListenAddr::Inet(sa) if sa.ip() == local.ip() => return Some(id),
                addr if addr.is_wildcard() => wildcard = Some(id),
                _ => {}
            }
        }
        wildcard
    }

    pub fn get(&self, id: AddrId) -> Option<&AddrConf> {
        self.addrs.get(id.0 as usize)
    }

    /// The ports listened on, for messages.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.by_port.keys().map(|k| k.1).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn none(_: &str, _: u16) -> Vec<SocketAddr> {
        Vec::new()
    }

    fn addr(text: &str) -> String {
        parse_listen_addr(text, &none)
            .map(|v| v.iter().map(ListenAddr::text).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    }

    #[test]
    fn addresses() {
        assert_eq!(addr("80"), "0.0.0.0:80");
        assert_eq!(addr("*:8000"), "0.0.0.0:8000");
        assert_eq!(addr("127.0.0.1"), "127.0.0.1:80");
        assert_eq!(addr("[::]:443"), "[::]:443");
        assert_eq!(addr("[::1]"), "[::1]:80");
        assert_eq!(addr("unix:/run/x.sock"), "unix:/run/x.sock");
        assert_eq!(addr("nosuchhost:80"), "");
        // Port ranges: one address per port.
        assert_eq!(
            addr("127.0.0.1:8182-8184"),
            "127.0.0.1:8182,127.0.0.1:8183,127.0.0.1:8184"
        );
        assert_eq!(addr("[::1]:90-91"), "[::1]:90,[::1]:91");
        assert_eq!(addr("90-91"), "0.0.0.0:90,0.0.0.0:91");
        assert_eq!(addr("127.0.0.1:91-90"), "");
        assert_eq!(addr("127.0.0.1:0-90"), "");
    }

    fn listen(text: &str, default_server: bool) -> Listen {
        Listen {
            addr: parse_listen_addr(text, &none)
                .and_then(|v| v.into_iter().next())
                .unwrap(),
            default_server,
            ssl: false,
            http2: false,
            proxy_protocol: false,
            span: Span::default(),
        }
    }

    /// NGINX-BEHAVIOUR 12: a specific address beats the wildcard.
    #[test]
    fn specific_beats_wildcard() {
        let mut l = Listens::default();
        l.add(ServerId(0), &listen("127.0.0.1:8080", false));
        l.add(ServerId(1), &listen("8080", false));
        l.add(ServerId(2), &listen("8080", true));
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let a = l.get(l.find(&local.into()).unwrap()).unwrap();
        assert_eq!(a.servers, vec![ServerId(0)]);
        let other: SocketAddr = "127.0.0.2:8080".parse().unwrap();
        let a = l.get(l.find(&other.into()).unwrap()).unwrap();
        assert_eq!((a.servers.len(), a.default_server), (2, ServerId(2)));
        assert!(
            l.find(&Sockaddr::Inet("127.0.0.1:9".parse().unwrap()))
                .is_none()
        );
    }
}
