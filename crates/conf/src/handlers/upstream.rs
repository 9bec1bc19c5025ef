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
    port: Option<u16>,
    /// An `upstream {}` block (NGX_HTTP_UPSTREAM_CREATE) rather than a
    /// `proxy_pass` target.
    explicit: bool,
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
        for &i in self.upstream.with_host(&host) {
            let group = &self.upstream.groups[i];
            if group.explicit {
                return Err(at_end(d, format!("duplicate upstream \"{host}\"")));
            }
            if let Some(port) = group.port {
                return Err(ConfError::emerg(
                    format!("upstream \"{host}\" may not have port {port}"),
                    group.span,
                    group.line,
                ));
            }
        }
        self.upstream.add(Group {
            host,
            port: None,
            explicit: true,
            servers: 0,
            allows_backup: true,
            balancer_set: false,
            span: d.head_span(),
            line: d.end_line,
        });
        self.upstream.current = Some(self.upstream.groups.len() - 1);
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
        if !resolve && self.check_environment {
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

    /// `ngx_http_upstream_add` for a `proxy_pass` URL (`no_resolve`: the
    /// host is looked up when upstreams are initialised).
    pub(super) fn add_implicit_upstream(
        &mut self,
        host: &str,
        port: Option<u16>,
        span: Span,
        line: u32,
    ) -> Result<(), ConfError> {
        for &i in self.upstream.with_host(host) {
            let group = &self.upstream.groups[i];
            if !group.explicit && group.port == port {
                return Ok(());
            }
            if group.explicit {
                if let Some(port) = port {
                    return Err(ConfError::emerg(
                        format!("upstream \"{host}\" may not have port {port}"),
                        span,
                        line,
                    ));
                }
                return Ok(());
            }
        }
        self.upstream.add(Group {
            host: host.to_string(),
            port,
            explicit: false,
            servers: 0,
            allows_backup: true,
            balancer_set: false,
            span,
            line,
        });
        Ok(())
    }

    /// `ngx_http_upstream_init_main_conf`: groups made by `proxy_pass` to a
    /// name that no `upstream {}` defines must resolve.
    pub(super) fn init_upstreams(&mut self, _close: Span) -> Result<(), ConfError> {
        if !self.check_environment {
            return Ok(());
        }
        for group in &self.upstream.groups {
            if group.explicit {
                continue;
            }
            let defined = self
                .upstream
                .with_host(&group.host)
                .iter()
                .any(|&i| self.upstream.groups[i].explicit);
            if defined {
                continue;
            }
            if self.resolve_host(&group.host).is_err() {
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
        let hosts = self.upstream.hosts.get_or_init(|| {
            self.fs
                .read(Path::new("/etc/hosts"))
                .ok()
                .map(|h| String::from_utf8_lossy(&h).into_owned())
        });
        if let Some(hosts) = hosts {
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
    let (host, port) = match url.rsplit_once(':') {
        Some((host, port)) => (host, parse_port(port)?),
        None => (url, default_port),
    };
    if host.is_empty() {
        return Err("no host");
    }
    Ok((host.to_string(), port))
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
