//! The realip module (src/http/modules/ngx_http_realip_module.c): when the
//! connection comes from a trusted address (`set_real_ip_from`), the client
//! address nginx uses from then on (`$remote_addr`, `$remote_port`, ip_hash,
//! `$proxy_add_x_forwarded_for`, the error log's `client:`) is taken from a
//! request header (`real_ip_header`: X-Real-IP by default, X-Forwarded-For,
//! or any header), walking X-Forwarded-For from the right while the
//! addresses are trusted when `real_ip_recursive` is on
//! (`ngx_http_get_forwarded_addr` in ngx_http_core_module.c).
//!
//! The handler runs twice, as nginx registers it: in the post-read phase
//! with the server level's configuration, and in the preaccess phase with
//! the location's; once an address was set, the second run does nothing
//! (the module's ctx). `$realip_remote_addr` / `$realip_remote_port` keep
//! the connection's own address.
//!
//! `real_ip_header proxy_protocol` takes the source address and port of
//! the connection's PROXY protocol header (`listen ... proxy_protocol`);
//! on a connection without one the module does nothing.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use upgate_conf::values::inet_addr;

use crate::proxy_protocol::ProxyProtocol;
use crate::sockaddr::Sockaddr;

/// One `set_real_ip_from` entry (`ngx_cidr_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 {
        addr: u32,
        mask: u32,
    },
    V6 {
        addr: u128,
        mask: u128,
    },
    /// `unix:`: connections over a unix socket.
    Unix,
}

impl Cidr {
    /// `ngx_cidr_match` for one entry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Cidr::V4 { addr, mask }, IpAddr::V4(v4)) => u32::from(v4) & mask == *addr,
            (Cidr::V6 { addr, mask }, IpAddr::V6(v6)) => u128::from(v6) & mask == *addr,
            _ => false,
        }
    }

    /// `ngx_cidr_match` for a connection's address: `unix:` matches every
    /// unix socket client, the blocks their family.
    pub fn matches(&self, addr: &Sockaddr) -> bool {
        match addr {
            Sockaddr::Inet(a) => self.contains(a.ip()),
            Sockaddr::Unix(_) => *self == Cidr::Unix,
        }
    }
}

/// Which header holds the address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RealIpHeader {
    /// `X-Real-IP` (the default): the first such header.
    #[default]
    XRealIp,
    /// `X-Forwarded-For`: every such header, the last one first.
    XForwardedFor,
    /// Any other name, lower-cased: the first header of that name.
    Header(Vec<u8>),
    /// `proxy_protocol`: the PROXY protocol header's source address and
    /// port.
    ProxyProtocol,
}

/// The merged realip configuration of a level (`ngx_http_realip_merge_loc_conf`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealipConf {
    /// `set_real_ip_from` of the nearest level that has any; `None`: the
    /// module does nothing.
    pub from: Option<Arc<Vec<Cidr>>>,
    pub header: RealIpHeader,
    pub recursive: bool,
}

/// Why a realip directive is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RealipError {
    #[error("invalid parameter \"{0}\"")]
    InvalidParameter(String),
    #[error("host not found in set_real_ip_from \"{0}\"")]
    HostNotFound(String),
}

/// `ngx_http_realip_from`: an address, a CIDR block, `unix:`, or a host
/// name (every address it resolves to, as exact matches). The flag says
/// that the address had bits set below the mask (nginx warns "low address
/// bits of ... are meaningless" and masks them).
pub fn parse_from(
    text: &str,
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> Result<(Vec<Cidr>, bool), RealipError> {
    if text == "unix:" {
        return Ok((vec![Cidr::Unix], false));
    }
    match parse_cidr(text) {
        Some((cidr, low_bits)) => Ok((vec![cidr], low_bits)),
        None => {
            if text.contains('/') {
                return Err(RealipError::InvalidParameter(text.to_string()));
            }
            let addrs = resolve(text);
            if addrs.is_empty() {
                return Err(RealipError::HostNotFound(text.to_string()));
            }
            Ok((addrs.into_iter().map(exact).collect(), false))
        }
    }
}

fn exact(ip: IpAddr) -> Cidr {
    match ip {
        IpAddr::V4(v4) => Cidr::V4 {
            addr: u32::from(v4),
            mask: u32::MAX,
        },
        IpAddr::V6(v6) => Cidr::V6 {
            addr: u128::from(v6),
            mask: u128::MAX,
        },
    }
}

/// `ngx_ptocidr`: `ADDR` or `ADDR/BITS`; `None` when it is neither.
pub fn parse_cidr(text: &str) -> Option<(Cidr, bool)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let ip = parse_addr(addr.as_bytes())?;
    let bits = match bits {
        None => None,
        Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
            Some(b.parse::<u32>().ok()?)
        }
        Some(_) => return None,
    };
    match ip {
        IpAddr::V4(v4) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return None;
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            let addr = u32::from(v4);
            Some((
                Cidr::V4 {
                    addr: addr & mask,
                    mask,
                },
                addr & !mask != 0,
            ))
        }
        IpAddr::V6(v6) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return None;
            }
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            let addr = u128::from(v6);
            Some((
                Cidr::V6 {
                    addr: addr & mask,
                    mask,
                },
                addr & !mask != 0,
            ))
        }
    }
}

/// `real_ip_header`: nginx compares the two built-in names case-sensitively;
/// any other spelling is a header looked up by its lower-cased name (which
/// finds the same header).
pub fn parse_header(name: &[u8]) -> Result<RealIpHeader, RealipError> {
    Ok(match name {
        b"X-Real-IP" => RealIpHeader::XRealIp,
        b"X-Forwarded-For" => RealIpHeader::XForwardedFor,
        b"proxy_protocol" => RealIpHeader::ProxyProtocol,
        other => RealIpHeader::Header(other.to_ascii_lowercase()),
    })
}

impl RealipConf {
    /// `ngx_http_realip_handler`: the address to use instead of `addr`, if
    /// the configuration trusts `addr` and the header gives a valid one.
    /// `headers` are the request's header lines in arrival order,
    /// `proxy_protocol` the connection's PROXY protocol header.
    pub fn real_addr<'h>(
        &self,
        addr: &Sockaddr,
        headers: impl Iterator<Item = (&'h [u8], &'h [u8])>,
        proxy_protocol: Option<&ProxyProtocol>,
    ) -> Option<Sockaddr> {
        let from = self.from.as_deref()?;
        if self.header == RealIpHeader::ProxyProtocol {
            let pp = proxy_protocol?;
            let mut current = addr.clone();
            if forwarded_addr(&mut current, &pp.src_addr, from, self.recursive) == Found::Declined {
                return None;
            }
            // The header's port replaces whatever the address text had.
            return Some(match current {
                Sockaddr::Inet(a) => Sockaddr::Inet(SocketAddr::new(a.ip(), pp.src_port)),
                unix => unix,
            });
        }
        let mut values: Vec<&[u8]> = Vec::new();
        for (name, value) in headers {
            let hit = match &self.header {
                RealIpHeader::XRealIp => name.eq_ignore_ascii_case(b"x-real-ip"),
                RealIpHeader::XForwardedFor => name.eq_ignore_ascii_case(b"x-forwarded-for"),
                RealIpHeader::Header(h) => name.eq_ignore_ascii_case(h),
                RealIpHeader::ProxyProtocol => false,
            };
            if hit {
                values.push(value);
                if self.header != RealIpHeader::XForwardedFor {
                    break;
                }
            }
        }
        if values.is_empty() {
            return None;
        }
        let mut current = addr.clone();
        let found = if self.header == RealIpHeader::XForwardedFor {
            forwarded_headers(&mut current, &values, from, self.recursive)
        } else {
            forwarded_addr(&mut current, values[0], from, self.recursive) != Found::Declined
        };
        found.then_some(current)
    }
}

/// What `ngx_http_get_forwarded_addr_internal` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// NGX_OK: an address was taken and the walk reached the list's start
    /// (or is not recursive).
    Ok,
    /// NGX_DONE: an address was taken, then an untrusted one stopped the walk.
    Done,
    /// NGX_DECLINED: nothing taken.
    Declined,
}

/// `ngx_http_get_forwarded_addr` over several X-Forwarded-For lines: the
/// last line first; with recursion, on to the previous line only while each
/// line was walked to its start.
fn forwarded_headers(
    addr: &mut Sockaddr,
    values: &[&[u8]],
    from: &[Cidr],
    recursive: bool,
) -> bool {
    let mut rc = Found::Declined;
    let mut found = false;
    for value in values.iter().rev() {
        rc = forwarded_addr(addr, value, from, recursive);
        if !recursive {
            break;
        }
        if rc == Found::Declined && found {
            rc = Found::Done;
            break;
        }
        if rc != Found::Ok {
            break;
        }
        found = true;
    }
    rc != Found::Declined
}

/// `ngx_http_get_forwarded_addr_internal`: from the right of a
/// comma/space-separated list, while `addr` is trusted, take the last
/// entry as the new address.
fn forwarded_addr(addr: &mut Sockaddr, xff: &[u8], from: &[Cidr], recursive: bool) -> Found {
    let mut found = false;
    let mut len = xff.len();
    loop {
        if !from.iter().any(|c| c.matches(addr)) {
            return if found { Found::Done } else { Found::Declined };
        }
        // Skip trailing separators, then find the start of the last entry.
        let mut p = len.saturating_sub(1);
        while p > 0 && matches!(xff[p], b' ' | b',') {
            p -= 1;
            len -= 1;
        }
        while p > 0 {
            if matches!(xff[p], b' ' | b',') {
                p += 1;
                break;
            }
            p -= 1;
        }
        let entry = xff.get(p..len).unwrap_or_default();
        let Some(next) = parse_addr_port(entry) else {
            return if found { Found::Done } else { Found::Declined };
        };
        *addr = Sockaddr::Inet(next);
        found = true;
        if !recursive || p == 0 {
            return Found::Ok;
        }
        len = p - 1;
    }
}

/// `ngx_parse_addr_port`: `ADDR`, `ADDR:PORT`, `[ADDR]`, `[ADDR]:PORT`
/// (port 0 when none is given).
pub fn parse_addr_port(text: &[u8]) -> Option<SocketAddr> {
    let bracket = text.iter().position(|&c| c == b']');
    if bracket.is_some_and(|b| b + 1 == text.len()) && text.first() == Some(&b'[') {
        let ip = parse_addr(&text[1..text.len() - 1])?;
        return Some(SocketAddr::new(ip, 0));
    }
    let from = bracket.unwrap_or(0);
    let Some(colon) = text[from..]
        .iter()
        .position(|&c| c == b':')
        .map(|i| i + from)
    else {
        return Some(SocketAddr::new(parse_addr(text)?, 0));
    };
    let port_text = &text[colon + 1..];
    let port = if !port_text.is_empty() && port_text.iter().all(u8::is_ascii_digit) {
        port_text.iter().try_fold(0u32, |n, &d| {
            n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
    } else {
        None
    };
    let Some(port) = port else {
        // Not a port: the whole text is an address (a bare IPv6 one).
        return Some(SocketAddr::new(parse_addr(text)?, 0));
    };
    if !(1..=65535).contains(&port) {
        return None;
    }
    let mut host = &text[..colon];
    if host.first() == Some(&b'[') && host.last() == Some(&b']') && host.len() >= 2 {
        host = &host[1..host.len() - 1];
    }
    Some(SocketAddr::new(parse_addr(host)?, port as u16))
}

/// `ngx_parse_addr`: an IPv4 address as `ngx_inet_addr` reads it, else an
/// IPv6 one.
pub fn parse_addr(text: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = inet_addr(text) {
        return Some(IpAddr::V4(v4));
    }
    let s = std::str::from_utf8(text).ok()?;
    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn no_dns(_: &str) -> Vec<IpAddr> {
        Vec::new()
    }

    fn conf(from: &[&str], header: RealIpHeader, recursive: bool) -> RealipConf {
        let mut list = Vec::new();
        for f in from {
            list.extend(parse_from(f, &no_dns).unwrap().0);
        }
        RealipConf {
            from: Some(Arc::new(list)),
            header,
            recursive,
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn real(c: &RealipConf, peer: &str, headers: &[(&str, &str)]) -> Option<String> {
        c.real_addr(
            &Sockaddr::from(sa(peer)),
            headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            None,
        )
        .map(|a| a.to_string())
    }

    #[test]
    fn cidrs_as_ngx_ptocidr() {
        assert_eq!(
            parse_cidr("127.0.0.1"),
            Some((
                Cidr::V4 {
                    addr: 0x7f00_0001,
                    mask: u32::MAX
                },
                false
            ))
        );
        assert_eq!(
            parse_cidr("10.1.2.3/8"),
            Some((
                Cidr::V4 {
                    addr: 0x0a00_0000,
                    mask: 0xff00_0000
                },
                true
            ))
        );
        assert!(matches!(
            parse_cidr("0.0.0.0/0"),
            Some((Cidr::V4 { mask: 0, .. }, false))
        ));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("::1/129").is_none());
        assert!(matches!(
            parse_cidr("::1/128"),
            Some((Cidr::V6 { .. }, false))
        ));
        assert!(parse_cidr("10.0.0.0/x").is_none());
        assert!(parse_from("10.0.0.0/x", &no_dns).is_err());
        assert_eq!(
            parse_from("no.such.host", &no_dns),
            Err(RealipError::HostNotFound("no.such.host".into()))
        );
        let one = |_: &str| vec!["127.0.0.1".parse().unwrap()];
        let (list, _) = parse_from("localhost", &one).unwrap();
        assert!(list[0].contains("127.0.0.1".parse().unwrap()));
        assert!(!list[0].contains("127.0.0.2".parse().unwrap()));
        assert_eq!(parse_from("unix:", &no_dns).unwrap().0, vec![Cidr::Unix]);
        assert!(!Cidr::Unix.contains("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn addresses_as_ngx_parse_addr_port() {
        let p = |s: &str| parse_addr_port(s.as_bytes()).map(|a| a.to_string());
        assert_eq!(p("192.0.2.1"), Some("192.0.2.1:0".into()));
        assert_eq!(p("192.0.2.1:8080"), Some("192.0.2.1:8080".into()));
        assert_eq!(p("192.0.2.1:0"), None);
        assert_eq!(p("010.0.0.1"), Some("10.0.0.1:0".into()));
        assert_eq!(p("1..2.3"), Some("1.0.2.3:0".into()));
        assert_eq!(p("::1"), Some("[::1]:0".into()));
        assert_eq!(p("2001:db8::1"), Some("[2001:db8::1]:0".into()));
        assert_eq!(p("[2001:db8::1]"), Some("[2001:db8::1]:0".into()));
        assert_eq!(p("[2001:db8::1]:80"), Some("[2001:db8::1]:80".into()));
        assert_eq!(p("unknown"), None);
        assert_eq!(p("256.0.0.1"), None);
        assert_eq!(p(""), None);
    }

    #[test]
    fn x_real_ip_first_header_when_trusted() {
        let c = conf(&["127.0.0.1/32"], RealIpHeader::XRealIp, false);
        let h = [("X-Real-IP", "192.0.2.1"), ("X-Real-IP", "192.0.2.2")];
        assert_eq!(real(&c, "127.0.0.1:5000", &h), Some("192.0.2.1:0".into()));
        assert_eq!(real(&c, "127.0.0.2:5000", &h), None);
        assert_eq!(real(&c, "127.0.0.1:5000", &[("X-Real-IP", "bad")]), None);
        assert_eq!(real(&c, "127.0.0.1:5000", &[]), None);
        let none = RealipConf::default();
        assert_eq!(real(&none, "127.0.0.1:5000", &h), None);
    }

    #[test]
    fn x_forwarded_for_last_entry_or_walk() {
        let plain = conf(
            &["127.0.0.1", "10.0.0.0/8"],
            RealIpHeader::XForwardedFor,
            false,
        );
        let rec = conf(
            &["127.0.0.1", "10.0.0.0/8"],
            RealIpHeader::XForwardedFor,
            true,
        );
        let h = [("X-Forwarded-For", "192.0.2.1, 10.0.0.1,  10.0.0.2 ,")];
        assert_eq!(real(&plain, "127.0.0.1:1", &h), Some("10.0.0.2:0".into()));
        assert_eq!(real(&rec, "127.0.0.1:1", &h), Some("192.0.2.1:0".into()));
        // An untrusted entry stops the walk there.
        let h = [("X-Forwarded-For", "10.0.0.9, 192.0.2.1, 10.0.0.1")];
        assert_eq!(real(&rec, "127.0.0.1:1", &h), Some("192.0.2.1:0".into()));
        // A bad entry keeps what was found so far.
        let h = [("X-Forwarded-For", "junk, 10.0.0.1")];
        assert_eq!(real(&rec, "127.0.0.1:1", &h), Some("10.0.0.1:0".into()));
        // Several lines: the last first; on to the previous one only when
        // recursive and the last was walked to its start.
        let h = [
            ("X-Forwarded-For", "192.0.2.1"),
            ("X-Forwarded-For", "10.0.0.1, 10.0.0.2"),
        ];
        assert_eq!(real(&plain, "127.0.0.1:1", &h), Some("10.0.0.2:0".into()));
        assert_eq!(real(&rec, "127.0.0.1:1", &h), Some("192.0.2.1:0".into()));
        let h = [
            ("X-Forwarded-For", "192.0.2.1"),
            ("X-Forwarded-For", "192.0.2.9"),
        ];
        assert_eq!(real(&rec, "127.0.0.1:1", &h), Some("192.0.2.9:0".into()));
    }

    #[test]
    fn any_header_and_names() {
        assert_eq!(parse_header(b"X-Real-IP"), Ok(RealIpHeader::XRealIp));
        assert_eq!(
            parse_header(b"x-forwarded-for"),
            Ok(RealIpHeader::Header(b"x-forwarded-for".to_vec()))
        );
        assert_eq!(
            parse_header(b"proxy_protocol"),
            Ok(RealIpHeader::ProxyProtocol)
        );
        let c = conf(
            &["127.0.0.1"],
            RealIpHeader::Header(b"x-client".to_vec()),
            false,
        );
        let h = [("X-Client", "[2001:db8::5]:7000")];
        assert_eq!(
            real(&c, "127.0.0.1:1", &h),
            Some("[2001:db8::5]:7000".into())
        );
    }
}
