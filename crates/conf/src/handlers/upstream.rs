//! `upstream {}` blocks and the groups `proxy_pass` creates implicitly
//! (src/http/ngx_http_upstream.c, ngx_http_upstream_round_robin.c and the
//! balancer modules): names, server parameters, host resolution.

use rustc_hash::FxHashMap as HashMap;
use std::cell::OnceCell;
use std::net::IpAddr;
use std::path::Path;

use super::{Cx, Semantics, values};
use crate::ast::Directive;
use crate::error::ConfError;
use crate::load::at_end;
use crate::span::Span;

#[derive(Debug, Default)]
pub(super) struct UpstreamState {
    groups: Vec<Group>,
    /// Lowercased host -> indexes into `groups`.
    by_host: HashMap<String, Vec<usize>>,
    /// /etc/hosts, read once.
    hosts: OnceCell<Option<String>>,
    /// Index of the upstream block being read.
    current: Option<usize>,
}

#[derive(Debug)]
struct Group {
    /// Host as written (compared case-insensitively).
    host: String,
    /// 0 when none (an `upstream {}` block, or a `fastcgi_pass` without one).
    port: u16,
    /// The URL had no port (`u->no_port`).
    no_port: bool,
    /// An `upstream {}` block (NGX_HTTP_UPSTREAM_CREATE) rather than a
    /// `proxy_pass` target.
    explicit: bool,
    /// An implicit group whose one address is known (an IP literal with a
    /// port, or a unix socket): nothing to resolve.
    literal: bool,
    servers: usize,
    /// What the balancer allows (`uscf->flags`).
    allows_backup: bool,
    balancer_set: bool,
    span: Span,
    line: u32,
}

impl UpstreamState {
    fn with_host(&self, host: &str) -> &[usize] {
        self.by_host
            .get(&host.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn add(&mut self, group: Group) {
        self.by_host
            .entry(group.host.to_ascii_lowercase())
            .or_default()
            .push(self.groups.len());
        self.groups.push(group);
    }
}

impl Semantics {
    /// `ngx_http_upstream`: opens a group; `duplicate upstream` if another
    /// block has the name.
    pub(super) fn upstream_block(
        &mut self,
        _cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        let Some(name) = d.args.first() else {
            return Ok(());
        };
        let host = name.text().into_owned();
        let url = Url {
            host,
            port: 0,
            no_port: true,
            literal: false,
            uri: false,
        };
        let i = self.upstream_add(&url, true, d.head_span(), d.end_line)?;
        self.upstream.current = Some(i);
        Ok(())
    }

    /// After the upstream's `}`: `no servers are inside upstream`.
    pub(super) fn finish_upstream(&mut self, d: &Directive) -> Result<(), ConfError> {
        let Some(current) = self.upstream.current.take() else {
            return Ok(());
        };
        if self.upstream.groups[current].servers == 0 {
            let close = d
                .block
                .as_ref()
                .and_then(|b| b.close)
                .unwrap_or(d.name.span);
            return Err(ConfError::emerg(
                "no servers are inside upstream",
                close,
                close.line,
            ));
        }
        Ok(())
    }

    /// `ngx_http_upstream_server`.
    pub(super) fn upstream_server(
        &mut self,
        _cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        let Some(address) = d.args.first() else {
            return Ok(());
        };
        let allows_backup = self
            .upstream
            .current
            .map(|i| self.upstream.groups[i].allows_backup)
            .unwrap_or(true);
        let mut resolve = false;
        for param in &d.args[1..] {
            let p = param.text();
            let p = p.as_ref();
            let invalid = || at_end(d, format!("invalid parameter \"{p}\""));
            let ok = if let Some(v) = p.strip_prefix("weight=") {
                values::atoi(v.as_bytes()).is_some_and(|w| w > 0)
            } else if let Some(v) = p.strip_prefix("max_conns=") {
                values::atoi(v.as_bytes()).is_some()
            } else if let Some(v) = p.strip_prefix("max_fails=") {
                values::atoi(v.as_bytes()).is_some()
            } else if let Some(v) = p.strip_prefix("fail_timeout=") {
                values::parse_time(v.as_bytes(), true).is_some()
            } else if p == "backup" {
                if !allows_backup {
                    return Err(at_end(
                        d,
                        format!("balancing method does not support parameter \"{p}\""),
                    ));
                }
                true
            } else if p == "down" {
                true
            } else if p == "resolve" {
                resolve = true;
                true
            } else {
                false
            };
            if !ok {
                return Err(invalid());
            }
        }
        let text = address.text();
        if !resolve && self.check_hosts {
            if let Err(err) = self.resolve_url(&text, 80) {
                return Err(at_end(d, format!("{err} in upstream \"{text}\"")));
            }
        } else if let Err(err) = split_host_port(&text, 80) {
            return Err(at_end(d, format!("{err} in upstream \"{text}\"")));
        }
        if let Some(current) = self.upstream.current {
            self.upstream.groups[current].servers += 1;
        }
        Ok(())
    }

    /// `ip_hash`, `hash`, `least_conn`, `random`, `keepalive`.
    pub(super) fn balancer(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let name = d.name.value.as_slice();
        if name == b"keepalive" {
            let ok = d
                .args
                .first()
                .and_then(|v| values::atoi(&v.value))
                .is_some_and(|n| n > 0);
            if !ok {
                let v = d
                    .args
                    .first()
                    .map(|v| v.text().into_owned())
                    .unwrap_or_default();
                return Err(at_end(
                    d,
                    format!("invalid value \"{v}\" in \"keepalive\" directive"),
                ));
            }
            return Ok(());
        }
        if name == b"hash" {
            if let Some(flag) = d.args.get(1)
                && !flag.is("consistent")
            {
                return Err(at_end(d, format!("invalid parameter \"{flag}\"")));
            }
            self.complex_values(cx, d, 0..1)?;
        }
        if let Some(current) = self.upstream.current {
            let group = &mut self.upstream.groups[current];
            if group.balancer_set {
                cx.warnings.push(ConfError::warn(
                    "load balancing method redefined",
                    d.head_span(),
                    d.end_line,
                ));
            }
            group.balancer_set = true;
            group.allows_backup = name == b"least_conn";
        }
        Ok(())
    }

    /// `ngx_http_upstream_add`: the group of that host, made if none
    /// matches. `create` for an `upstream {}` block; else the parsed URL of
    /// a `*_pass` (`no_resolve`: the host is looked up when upstreams are
    /// initialised).
    pub(super) fn upstream_add(
        &mut self,
        url: &Url,
        create: bool,
        span: Span,
        line: u32,
    ) -> Result<usize, ConfError> {
        let host = &url.host;
        let same_host = self.upstream.with_host(host).to_vec();
        for i in same_host {
            let group = &mut self.upstream.groups[i];
            if create && group.explicit {
                return Err(ConfError::emerg(
                    format!("duplicate upstream \"{host}\""),
                    span,
                    line,
                ));
            }
            if group.explicit && !url.no_port {
                return Err(ConfError::emerg(
                    format!("upstream \"{host}\" may not have port {}", url.port),
                    span,
                    line,
                ));
            }
            if create && !group.no_port {
                // ngx_log_error with the earlier directive's file:line.
                return Err(ConfError::emerg(
                    format!("upstream \"{host}\" may not have port {}", group.port),
                    group.span,
                    group.line,
                ));
            }
            if group.port != 0 && url.port != 0 && group.port != url.port {
                continue;
            }
            if create {
                group.explicit = true;
                group.port = 0;
            }
            return Ok(i);
        }
        self.upstream.add(Group {
            host: host.clone(),
            port: url.port,
            no_port: url.no_port,
            explicit: create,
            literal: url.literal && (url.port != 0 || host.starts_with("unix:")),
            servers: 0,
            allows_backup: true,
            balancer_set: false,
            span,
            line,
        });
        Ok(self.upstream.groups.len() - 1)
    }

    /// `ngx_http_upstream_init_main_conf` / `ngx_http_upstream_init_round_robin`
    /// for the groups a `*_pass` made: a port is needed, and the host must
    /// resolve. nginx logs these with the `*_pass`'s file:line.
    pub(super) fn init_upstreams(&mut self, _close: Span) -> Result<(), ConfError> {
        for group in &self.upstream.groups {
            if group.explicit || group.literal {
                continue;
            }
            if group.port == 0 {
                return Err(ConfError::emerg(
                    format!("no port in upstream \"{}\"", group.host),
                    group.span,
                    group.line,
                )
                .with_help("no upstream {} block has this name; give the address a port"));
            }
            if self.check_hosts && self.resolve_host(&group.host).is_err() {
                return Err(ConfError::emerg(
                    format!("host not found in upstream \"{}\"", group.host),
                    group.span,
                    group.line,
                )
                .with_help(
                    "no upstream {} block has this name and it does not resolve; check the spelling",
                ));
            }
        }
        Ok(())
    }

    /// `ngx_http_fastcgi_pass` and its siblings: `[SCHEME://]ADDRESS`, or a
    /// script. Returns the URI part's presence (proxy_pass checks it).
    pub(super) fn pass_url(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<bool, ConfError> {
        let Some(arg) = d.args.first() else {
            return Ok(false);
        };
        let name = d.name.value.as_slice();
        if name != b"memcached_pass" && super::script::has_variables(&arg.value) {
            self.complex_values(cx, d, 0..1)?;
            return Ok(false);
        }
        let text = arg.text();
        let lower = text.to_ascii_lowercase();
        let schemes: &[(&str, u16)] = match name {
            b"proxy_pass" => &[("http://", 80), ("https://", 443)],
            b"uwsgi_pass" => &[("uwsgi://", 0), ("suwsgi://", 0)],
            b"grpc_pass" => &[("grpc://", 0), ("grpcs://", 0)],
            _ => &[],
        };
        let (rest, default_port) = match schemes.iter().find(|(s, _)| lower.starts_with(s)) {
            Some((scheme, port)) => (&text[scheme.len()..], *port),
            None if name == b"proxy_pass" => return Err(at_end(d, "invalid URL prefix".into())),
            None => (text.as_ref(), 0),
        };
        let uri_part = name == b"proxy_pass";
        let url = parse_url(rest, default_port, uri_part)
            .map_err(|err| at_end(d, format!("{err} in upstream \"{rest}\"")))?;
        self.upstream_add(&url, false, d.head_span(), d.end_line)?;
        if name == b"memcached_pass" {
            // ngx_http_get_variable_index(cf, "memcached_key"): a `set` or
            // `map` must define it.
            self.http_vars.use_var("memcached_key", d.head_span());
        }
        Ok(url.uri)
    }

    /// `ngx_parse_url` with resolution, for `server` in an upstream.
    fn resolve_url(&self, url: &str, default_port: u16) -> Result<(), &'static str> {
        let (host, _port) = split_host_port(url, default_port)?;
        if host.starts_with("unix:") {
            return Ok(());
        }
        self.resolve_host(&host)
    }

    /// nginx resolves with getaddrinfo at -t. We read /etc/hosts (under
    /// the configured root) and only then ask the system resolver, with a
    /// bound on the wait.
    pub(super) fn resolve_host(&self, host: &str) -> Result<(), &'static str> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() || bare.eq_ignore_ascii_case("localhost") {
            return Ok(());
        }
        if let Some(hosts) = self.hosts_file() {
            let found = hosts.lines().any(|line| {
                let line = line.split('#').next().unwrap_or("");
                line.split_whitespace()
                    .skip(1)
                    .any(|name| name.eq_ignore_ascii_case(bare))
            });
            if found {
                return Ok(());
            }
        }
        if self.fs.root.is_some() {
            return Err("host not found");
        }
        system_resolve(bare)
    }
}

impl Semantics {
    /// The addresses /etc/hosts gives a name (what getaddrinfo answers
    /// first), in file order; empty when it has none.
    pub(super) fn hosts_addresses(&self, host: &str) -> Vec<IpAddr> {
        let localhost = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let fallback = if host.eq_ignore_ascii_case("localhost") {
            vec![localhost]
        } else {
            Vec::new()
        };
        let Some(hosts) = self.hosts_file() else {
            return fallback;
        };
        let mut out = Vec::new();
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|ip| ip.parse::<IpAddr>().ok()) else {
                continue;
            };
            if words.any(|name| name.eq_ignore_ascii_case(host)) && !out.contains(&ip) {
                out.push(ip);
            }
        }
        if out.is_empty() { fallback } else { out }
    }

    /// /etc/hosts (under the configured root), read once.
    fn hosts_file(&self) -> Option<&String> {
        self.upstream
            .hosts
            .get_or_init(|| {
                self.fs
                    .read(Path::new("/etc/hosts"))
                    .ok()
                    .map(|h| String::from_utf8_lossy(&h).into_owned())
            })
            .as_ref()
    }
}

/// Splits `host[:port]`; the errors of `ngx_parse_url`.
pub(super) fn split_host_port(url: &str, default_port: u16) -> Result<(String, u16), &'static str> {
    if url.starts_with("unix:") {
        return Ok((url.to_string(), 0));
    }
    if let Some(rest) = url.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("invalid host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => default_port,
            None => return Err("invalid host"),
        };
        return Ok((format!("[{host}]"), port));
    }
    let (host, port) = match url.split_once(':') {
        Some((host, port)) => (host, parse_port(port)?),
        None => (url, default_port),
    };
    if host.is_empty() {
        return Err("no host");
    }
    Ok((host.to_string(), port))
}

/// What `ngx_parse_url` makes of a `*_pass` address.
#[derive(Debug, Clone)]
pub(super) struct Url {
    pub host: String,
    /// The default port when none was given (0 for most `*_pass`).
    pub port: u16,
    pub no_port: bool,
    /// One address known without resolving: an IP literal or a unix socket.
    pub literal: bool,
    /// Something follows the address (the URI part).
    pub uri: bool,
}

/// `ngx_parse_url` with `no_resolve` (and `uri_part` for `proxy_pass`).
pub(super) fn parse_url(url: &str, default_port: u16, uri_part: bool) -> Result<Url, &'static str> {
    // Compared as bytes: the address is lossily decoded from the file, so
    // its fifth byte may sit inside a character (`http://1234é`).
    if url.len() >= 5 && url.as_bytes()[..5].eq_ignore_ascii_case(b"unix:") {
        let path = &url[5..];
        let (path, uri) = match path.split_once(':') {
            Some((p, u)) if uri_part => (p, !u.is_empty()),
            _ => (path, false),
        };
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        return Ok(Url {
            host: format!("unix:{path}"),
            port: 0,
            no_port: true,
            literal: true,
            uri,
        });
    }
    if let Some(rest) = url.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("invalid host")?;
        let (port_text, uri) = match after.find('/') {
            Some(_) if !uri_part => return Err("invalid host"),
            Some(slash) => (&after[..slash], true),
            None => (after, false),
        };
        let (port, no_port) = match port_text {
            "" => (default_port, true),
            p => (
                parse_port(p.strip_prefix(':').ok_or("invalid host")?)?,
                false,
            ),
        };
        if host.is_empty() {
            return Err("no host");
        }
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address");
        }
        return Ok(Url {
            host: format!("[{host}]"),
            port,
            no_port,
            literal: true,
            uri,
        });
    }
    let colon = url.find(':');
    let mut last = url.len();
    let mut uri = None;
    let slash = url.find('/');
    let question = url.find('?');
    let cut = match (slash, question) {
        (Some(s), Some(q)) => Some(s.min(q)),
        (s, q) => s.or(q),
    };
    if let Some(cut) = cut {
        if !uri_part {
            return Err("invalid host");
        }
        uri = Some(cut);
        last = cut;
    }
    let colon = colon.filter(|&c| uri.is_none_or(|u| u > c));
    let (host, port, no_port) = match colon {
        Some(c) => (&url[..c], parse_port(&url[c + 1..last])?, false),
        None => (&url[..last], default_port, true),
    };
    if host.is_empty() {
        return Err("no host");
    }
    Ok(Url {
        host: host.to_string(),
        port,
        no_port,
        literal: host.parse::<std::net::Ipv4Addr>().is_ok(),
        uri: uri.is_some(),
    })
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    match values::atoi(port.as_bytes()) {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err("invalid port"),
    }
}

/// getaddrinfo on a helper thread, waited for at most two seconds: a
/// machine without DNS must not make `-t` hang.
fn system_resolve(host: &str) -> Result<(), &'static str> {
    use std::net::ToSocketAddrs;
    let (tx, rx) = std::sync::mpsc::channel();
    let name = format!("{host}:0");
    std::thread::spawn(move || {
        let found = name
            .to_socket_addrs()
            .map(|mut a| a.next().is_some())
            .unwrap_or(false);
        let _ = tx.send(found);
    });
    match rx.recv_timeout(std::time::Duration::from_secs(2)) {
        Ok(true) => Ok(()),
        _ => Err("host not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_urls() {
        let url = |s: &str, port: u16, uri: bool| parse_url(s, port, uri);
        let u = url("backend", 0, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (u.host.as_str(), u.port, u.no_port, u.literal),
            ("backend", 0, true, false)
        );
        let u = url("127.0.0.1:9000", 0, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.port, u.no_port, u.literal), (9000, false, true));
        let u = url("b:8080/x?y", 80, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.host.as_str(), u.port, u.uri), ("b", 8080, true));
        let u = url("b?x:1", 80, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.port, u.no_port, u.uri), (80, true, true));
        assert!(url("unix:/tmp/s", 0, false).is_ok_and(|u| u.literal && u.port == 0));
        assert!(url("[::1]:9000", 0, false).is_ok_and(|u| u.literal && u.port == 9000));
        assert_eq!(
            url("127.0.0.1:9000/x", 0, false).err(),
            Some("invalid host")
        );
        assert_eq!(url(":80", 0, false).err(), Some("no host"));
        assert_eq!(url("a:b:80", 0, false).err(), Some("invalid port"));
        assert_eq!(url("[::1", 0, false).err(), Some("invalid host"));
        assert_eq!(url("[zz]", 0, false).err(), Some("invalid IPv6 address"));
        assert_eq!(
            url("unix:", 0, false).err(),
            Some("no path in the unix domain socket")
        );
    }

    // See: #14 (fuzz/seeds/conf_compile/crash-multibyte-proxy-pass-host)
    #[test]
    fn a_character_across_the_fifth_byte_is_a_host() {
        // "1234é": byte 5 is inside the é; this panicked on `url[..5]`
        let u = parse_url("1234\u{e9}:80", 0, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.host.as_str(), u.port), ("1234\u{e9}", 80));
        assert!(parse_url("\u{fffd}\u{fffd}", 0, false).is_ok());
    }
}
