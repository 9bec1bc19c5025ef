//! `ngx_parse_url` as `listen` uses it (src/core/ngx_inet.c with
//! `u->listen`): an address, a host, a port or a port range, and the texts
//! nginx prints for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::values;

/// A parsed `listen` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ListenAddr {
    /// The texts nginx uses in messages, one per port: `0.0.0.0:80`,
    /// `[::]:80`, `unix:/p`.
    Ip(Vec<String>),
    /// A name nginx resolves at -t, with its first and last port.
    Host { host: String, ports: (u16, u16) },
}

/// `ngx_sock_ntop` with the port.
pub(super) fn sock_text(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(ip) => format!("{ip}:{port}"),
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    }
}

/// `ngx_parse_url` with `u->listen` (port ranges `A-B` included).
pub(super) fn parse_listen_url(url: &str) -> Result<ListenAddr, &'static str> {
    let each = |ip: IpAddr, (first, last): (u16, u16)| -> Vec<String> {
        (first..=last).map(|p| sock_text(ip, p)).collect()
    };
    if let Some(path) = url.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        return Ok(ListenAddr::Ip(vec![url.to_string()]));
    }
    if let Some(rest) = url.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("invalid host");
        };
        if after.contains('/') {
            return Err("invalid host");
        }
        let ports = match after {
            "" => (80, 80),
            p => port_range(p.strip_prefix(':').ok_or("invalid host")?)?,
        };
        if host.is_empty() {
            return Err("no host");
        }
        let ip: Ipv6Addr = host.parse().map_err(|_| "invalid IPv6 address")?;
        return Ok(ListenAddr::Ip(each(IpAddr::V6(ip), ports)));
    }
    if url.contains('/') || url.contains('?') {
        return Err("invalid host");
    }
    let (host, ports) = match url.split_once(':') {
        Some((host, port)) => (host, port_range(port)?),
        // A bare number (or range) is a port, if ngx_atoi takes it.
        None => match bare_port(url)? {
            Some(ports) => ("*", ports),
            None => (url, (80, 80)),
        },
    };
    if host.is_empty() {
        return Err("no host");
    }
    let ip: IpAddr = match host {
        "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        h => match h.parse::<Ipv4Addr>() {
            Ok(ip) => IpAddr::V4(ip),
            Err(_) => {
                return Ok(ListenAddr::Host {
                    host: h.to_string(),
                    ports,
                });
            }
        },
    };
    Ok(ListenAddr::Ip(each(ip, ports)))
}

/// The port part `N` or `N-M`.
fn port_range(text: &str) -> Result<(u16, u16), &'static str> {
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (first, Some(parse_port(last)?)),
        None => (text, None),
    };
    let first = parse_port(first)?;
    match last {
        Some(last) if first > last => Err("invalid port range"),
        Some(last) => Ok((first, last)),
        None => Ok((first, first)),
    }
}

/// "test value as port only": `Some` when the whole text is a port or a
/// range of ports, `None` when it is a host.
fn bare_port(text: &str) -> Result<Option<(u16, u16)>, &'static str> {
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => match values::atoi(last.as_bytes()) {
            None => return Ok(None),
            Some(n) => (first, Some(n)),
        },
        None => (text, None),
    };
    let Some(n) = values::atoi(first.as_bytes()) else {
        return Ok(None);
    };
    let last = match last {
        Some(l) if !(1..=65535).contains(&l) => return Err("invalid port"),
        Some(l) => Some(l as u16),
        None => None,
    };
    if !(1..=65535).contains(&n) {
        return Err("invalid port");
    }
    let first = n as u16;
    match last {
        Some(last) if first > last => Err("invalid port range"),
        Some(last) => Ok(Some((first, last))),
        None => Ok(Some((first, first))),
    }
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    match values::atoi(port.as_bytes()) {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err("invalid port"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let ip = |s: &[&str]| Ok(ListenAddr::Ip(s.iter().map(|a| a.to_string()).collect()));
        assert_eq!(parse_listen_url("80"), ip(&["0.0.0.0:80"]));
        assert_eq!(parse_listen_url("127.0.0.1:8080"), ip(&["127.0.0.1:8080"]));
        assert_eq!(parse_listen_url("127.0.0.1"), ip(&["127.0.0.1:80"]));
        assert_eq!(parse_listen_url("[::]:443"), ip(&["[::]:443"]));
        assert_eq!(parse_listen_url("*:8000"), ip(&["0.0.0.0:8000"]));
        assert_eq!(
            parse_listen_url("8000-8001"),
            ip(&["0.0.0.0:8000", "0.0.0.0:8001"])
        );
        assert_eq!(parse_listen_url("80000"), Err("invalid port"));
        assert_eq!(parse_listen_url("1:9-8"), Err("invalid port range"));
        let host = Ok(ListenAddr::Host {
            host: "abc".into(),
            ports: (80, 80),
        });
        assert_eq!(parse_listen_url("abc"), host);
    }
}
