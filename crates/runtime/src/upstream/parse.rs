//! The value grammars an `upstream {}` block uses, as nginx reads them:
//! `ngx_atoi` and `ngx_parse_time` (src/core/ngx_string.c, ngx_parse.c) and
//! the address forms of `ngx_parse_url` (src/core/ngx_inet.c) that a
//! `server` line may use.

use std::net::Ipv6Addr;

use upgate_conf::values::inet_addr;

/// `ngx_atoi` (upgate_conf's, the one `-t` checks with).
pub(crate) fn atoi(s: &[u8]) -> Option<u64> {
    upgate_conf::values::atoi(s).and_then(|n| u64::try_from(n).ok())
}

/// `ngx_parse_time`: seconds when `is_sec`, else milliseconds
/// (upgate_conf's, the one `-t` checks with).
pub(crate) fn parse_time(s: &[u8], is_sec: bool) -> Option<u64> {
    upgate_conf::values::parse_time(s, is_sec).and_then(|n| u64::try_from(n).ok())
}

/// A `server` address split the way `ngx_parse_url` splits it (no URI
/// part allowed, default port 80).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Url {
    /// `unix:/path`.
    Unix(String),
    /// An IPv4 or bracketed IPv6 literal.
    Ip(std::net::IpAddr, u16),
    /// A name to resolve.
    Name(String, u16),
}

/// `ngx_parse_url` for an upstream `server` (`default_port` 80). Errors are
/// nginx's `u->err` strings.
pub(crate) fn parse_url(url: &str, default_port: u16) -> Result<Url, &'static str> {
    if url.len() >= 5 && url.as_bytes()[..5].eq_ignore_ascii_case(b"unix:") {
        let path = &url[5..];
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        // sizeof(sun_path) on Linux, counting the terminating zero.
        if path.len() + 1 > 108 {
            return Err("too long path in the unix domain socket");
        }
        return Ok(Url::Unix(path.to_string()));
    }
    if let Some(rest) = url.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("invalid host")?;
        if after.contains('/') {
            return Err("invalid host");
        }
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => default_port,
            None => return Err("invalid host"),
        };
        if host.is_empty() {
            return Err("no host");
        }
        let ip: Ipv6Addr = host.parse().map_err(|_| "invalid IPv6 address")?;
        return Ok(Url::Ip(ip.into(), port));
    }
    if url.contains(['/', '?']) {
        return Err("invalid host");
    }
    // ngx_parse_inet_url splits at the first ':'.
    let (host, port) = match url.split_once(':') {
        Some((host, port)) => (host, parse_port(port)?),
        None => (url, default_port),
    };
    if host.is_empty() {
        return Err("no host");
    }
    Ok(match inet_addr(host.as_bytes()) {
        Some(ip) => Url::Ip(ip.into(), port),
        None => Url::Name(host.to_string(), port),
    })
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    match atoi(port.as_bytes()) {
        Some(n @ 1..=65535) => Ok(n as u16),
        _ => Err("invalid port"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_nginx_reads_them() {
        assert_eq!(parse_time(b"10", true), Some(10));
        assert_eq!(parse_time(b"1m 30s", true), Some(90));
        assert_eq!(parse_time(b"1h30m", true), Some(5400));
        assert_eq!(parse_time(b"500ms", true), None);
        assert_eq!(parse_time(b"500ms", false), Some(500));
        assert_eq!(parse_time(b"60s", false), Some(60_000));
        assert_eq!(parse_time(b"1h", false), Some(3_600_000));
        assert_eq!(parse_time(b"30s 1m", true), None);
        assert_eq!(parse_time(b"", true), None);
        assert_eq!(parse_time(b"s", true), None);
        assert_eq!(parse_time(b"1x", true), None);
        assert_eq!(parse_time(b"1y", false), None);
    }

    #[test]
    fn server_addresses() {
        use std::net::{IpAddr, Ipv4Addr};
        let v4 = |s: &str| {
            s.parse::<IpAddr>()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        assert_eq!(
            parse_url("127.0.0.1:8080", 80),
            Ok(Url::Ip(v4("127.0.0.1"), 8080))
        );
        assert_eq!(parse_url("10.0.0.1", 80), Ok(Url::Ip(v4("10.0.0.1"), 80)));
        assert_eq!(parse_url("010.0.0.1", 80), Ok(Url::Ip(v4("10.0.0.1"), 80)));
        assert_eq!(parse_url("[::1]:81", 80), Ok(Url::Ip(v4("::1"), 81)));
        assert_eq!(parse_url("[::1]", 80), Ok(Url::Ip(v4("::1"), 80)));
        assert_eq!(
            parse_url("b.example:9", 80),
            Ok(Url::Name("b.example".into(), 9))
        );
        assert_eq!(parse_url("UNIX:/tmp/s", 80), Ok(Url::Unix("/tmp/s".into())));
        assert_eq!(
            parse_url("unix:", 80),
            Err("no path in the unix domain socket")
        );
        assert_eq!(parse_url("h:0", 80), Err("invalid port"));
        assert_eq!(parse_url("h:65536", 80), Err("invalid port"));
        assert_eq!(parse_url(":80", 80), Err("no host"));
        assert_eq!(parse_url("h/x", 80), Err("invalid host"));
        assert_eq!(parse_url("[::1", 80), Err("invalid host"));
        assert_eq!(parse_url("[::g]:1", 80), Err("invalid IPv6 address"));
        assert_eq!(
            parse_url("1.2.3.256", 80),
            Ok(Url::Name("1.2.3.256".into(), 80))
        );
    }
}
