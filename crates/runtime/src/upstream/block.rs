//! Reading the directives of an `upstream {}` block in order, as nginx's
//! handlers do: `ngx_http_upstream_server` (src/http/ngx_http_upstream.c),
//! `ngx_http_upstream_hash`, `_ip_hash`, `_least_conn`, `_random` and
//! `_keepalive` with its `keepalive_*` slots (src/http/modules/), and the
//! "no servers" checks of `ngx_http_upstream` and
//! `ngx_http_upstream_init_round_robin`.

use std::net::SocketAddr;
use std::time::Duration;

use upgate_conf::{Directive, Span};

use super::config::{
    Balancer, Keepalive, PeerAddr, Resolver, UpstreamConfig, UpstreamServer, UpstreamWarning,
};
use super::error::UpstreamError;
use super::parse::{self, Url};

/// Reads the directives of one block in order, as nginx's handlers would.
pub(crate) struct Builder<'a> {
    resolve: Resolver<'a>,
    config: UpstreamConfig,
    /// `uscf->flags & NGX_HTTP_UPSTREAM_BACKUP`.
    allows_backup: bool,
    /// `uscf->peer.init_upstream` is set: by a balancer or by keepalive.
    init_set: bool,
    keepalive: Option<(u32, Span)>,
    keepalive_dropped: bool,
    requests: Option<u64>,
    time: Option<Duration>,
    timeout: Option<Duration>,
}

impl<'a> Builder<'a> {
    pub(crate) fn run(
        block: &Directive,
        children: Vec<&Directive>,
        resolve: Resolver<'a>,
    ) -> Result<UpstreamConfig, UpstreamError> {
        let (true, Some(name)) = (block.is("upstream"), block.args.first()) else {
            return Err(UpstreamError::NotAnUpstream {
                found: block.name().into_owned(),
                span: block.head_span(),
            });
        };
        let mut b = Builder {
            resolve,
            config: UpstreamConfig {
                name: name.text().into_owned(),
                servers: Vec::new(),
                balancer: Balancer::RoundRobin,
                keepalive: None,
                warnings: Vec::new(),
                implicit: false,
                span: Some(block.head_span()),
            },
            allows_backup: true,
            init_set: false,
            keepalive: None,
            keepalive_dropped: false,
            requests: None,
            time: None,
            timeout: None,
        };
        for d in children {
            b.directive(d)?;
        }
        b.finish(block)
    }

    fn directive(&mut self, d: &Directive) -> Result<(), UpstreamError> {
        let arg = |i: usize| {
            d.args.get(i).ok_or_else(|| UpstreamError::Arguments {
                directive: d.name().into_owned(),
                span: d.head_span(),
            })
        };
        match d.name.value.as_slice() {
            b"server" => {
                let server = self.server(d)?;
                self.config.servers.push(server);
            }
            b"hash" => {
                let key = arg(0)?.text().into_owned();
                let consistent = match d.args.get(1) {
                    None => false,
                    Some(w) if w.is("consistent") => true,
                    Some(w) => return Err(invalid_parameter(&w.text(), d)),
                };
                self.balancer(d, Balancer::Hash { key, consistent });
            }
            b"ip_hash" => self.balancer(d, Balancer::IpHash),
            b"least_conn" => self.balancer(d, Balancer::LeastConn),
            b"random" => {
                // nginx sets the method before it checks the parameters.
                let two = match d.args.first() {
                    None => false,
                    Some(w) if w.is("two") => true,
                    Some(w) => return Err(invalid_parameter(&w.text(), d)),
                };
                if let Some(w) = d.args.get(1).filter(|w| !w.is("least_conn")) {
                    return Err(invalid_parameter(&w.text(), d));
                }
                self.balancer(d, Balancer::Random { two });
            }
            b"keepalive" => {
                if self.keepalive.is_some() {
                    return Err(slot_error(d, "is duplicate"));
                }
                let value = arg(0)?;
                let n = parse::atoi(&value.value)
                    .filter(|n| *n > 0)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid_value(d, &value.text()))?;
                self.keepalive = Some((n, d.head_span()));
                self.init_set = true;
            }
            b"keepalive_requests" => {
                let value = arg(0)?;
                let n = parse::atoi(&value.value).ok_or_else(|| slot_error(d, "invalid number"))?;
                set_once(&mut self.requests, n, d)?;
            }
            b"keepalive_time" | b"keepalive_timeout" => {
                let value = arg(0)?;
                let ms = parse::parse_time(&value.value, false)
                    .ok_or_else(|| slot_error(d, "invalid value"))?;
                let slot = if d.is("keepalive_time") {
                    &mut self.time
                } else {
                    &mut self.timeout
                };
                set_once(slot, Duration::from_millis(ms), d)?;
            }
            // zone, resolver, state, sticky...: nothing a balancer needs.
            _ => {}
        }
        Ok(())
    }

    /// `ngx_http_upstream_hash` / `_ip_hash` / `_least_conn` / `_random`.
    fn balancer(&mut self, d: &Directive, balancer: Balancer) {
        if self.init_set {
            self.config
                .warnings
                .push(UpstreamWarning::BalancerRedefined {
                    span: d.head_span(),
                });
        }
        if let Some((_, keepalive)) = self.keepalive
            && !self.keepalive_dropped
        {
            self.keepalive_dropped = true;
            self.config
                .warnings
                .push(UpstreamWarning::KeepaliveIgnored {
                    keepalive,
                    balancer: d.head_span(),
                });
        }
        self.init_set = true;
        self.allows_backup = matches!(balancer, Balancer::LeastConn);
        self.config.balancer = balancer;
    }

    /// `ngx_http_upstream_server`.
    fn server(&self, d: &Directive) -> Result<UpstreamServer, UpstreamError> {
        let address = d.args.first().ok_or_else(|| UpstreamError::Arguments {
            directive: "server".into(),
            span: d.head_span(),
        })?;
        let mut server = UpstreamServer {
            text: address.text().into_owned(),
            span: Some(d.head_span()),
            ..UpstreamServer::default()
        };
        for param in &d.args[1..] {
            let p = param.value.as_slice();
            let number = |prefix: usize| {
                parse::atoi(&p[prefix..])
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid_parameter(&param.text(), d))
            };
            if p.starts_with(b"weight=") {
                server.weight = number(7)?;
                if server.weight == 0 {
                    return Err(invalid_parameter(&param.text(), d));
                }
            } else if p.starts_with(b"max_conns=") {
                server.max_conns = number(10)?;
            } else if p.starts_with(b"max_fails=") {
                server.max_fails = number(10)?;
            } else if p.starts_with(b"fail_timeout=") {
                let secs = parse::parse_time(&p[13..], true)
                    .ok_or_else(|| invalid_parameter(&param.text(), d))?;
                server.fail_timeout = Duration::from_secs(secs);
            } else if p == b"backup" {
                if !self.allows_backup {
                    return Err(UpstreamError::NotSupported {
                        param: "backup".into(),
                        span: d.head_span(),
                    });
                }
                server.backup = true;
            } else if p == b"down" {
                server.down = true;
            } else if p == b"resolve" || p.starts_with(b"service=") {
                // Re-resolution at run time needs a zone; upgate resolves once.
            } else {
                return Err(invalid_parameter(&param.text(), d));
            }
        }
        server.addrs = self.addresses(&server.text, d)?;
        Ok(server)
    }

    /// `ngx_parse_url` with resolution: IPv4 addresses first, as
    /// `ngx_inet_resolve_host` lists them.
    fn addresses(&self, text: &str, d: &Directive) -> Result<Vec<PeerAddr>, UpstreamError> {
        let url = parse::parse_url(text, 80).map_err(|reason| UpstreamError::Address {
            reason,
            address: text.to_string(),
            span: d.head_span(),
        })?;
        Ok(match url {
            Url::Unix(path) => vec![PeerAddr::Unix(path.into())],
            Url::Ip(ip, port) => vec![PeerAddr::Inet(SocketAddr::new(ip, port))],
            Url::Name(host, port) => {
                let mut addrs = (self.resolve)(&host, port);
                if addrs.is_empty() {
                    return Err(UpstreamError::HostNotFound {
                        address: text.to_string(),
                        span: d.head_span(),
                    });
                }
                addrs.sort_by_key(|a| a.is_ipv6());
                addrs.into_iter().map(PeerAddr::Inet).collect()
            }
        })
    }

    fn finish(mut self, block: &Directive) -> Result<UpstreamConfig, UpstreamError> {
        if self.config.servers.is_empty() {
            let span = block.block.as_ref().and_then(|b| b.close);
            return Err(UpstreamError::NoServers {
                span: span.unwrap_or_else(|| block.head_span()),
            });
        }
        if self.config.servers.iter().all(|s| s.backup) {
            return Err(UpstreamError::NoPrimaryServers {
                name: self.config.name.clone(),
                span: block.head_span(),
            });
        }
        self.config.keepalive = match self.keepalive {
            Some((connections, _)) if !self.keepalive_dropped => Some(Keepalive {
                connections,
                requests: self.requests.unwrap_or(1000),
                time: self.time.unwrap_or(Duration::from_secs(3600)),
                timeout: self.timeout.unwrap_or(Duration::from_secs(60)),
            }),
            _ => None,
        };
        Ok(self.config)
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, d: &Directive) -> Result<(), UpstreamError> {
    if slot.is_some() {
        return Err(slot_error(d, "is duplicate"));
    }
    *slot = Some(value);
    Ok(())
}

fn invalid_parameter(param: &str, d: &Directive) -> UpstreamError {
    UpstreamError::InvalidParameter {
        param: param.to_string(),
        span: d.head_span(),
    }
}

fn invalid_value(d: &Directive, value: &str) -> UpstreamError {
    UpstreamError::InvalidValue {
        directive: d.name().into_owned(),
        value: value.to_string(),
        span: d.head_span(),
    }
}

fn slot_error(d: &Directive, reason: &'static str) -> UpstreamError {
    UpstreamError::Directive {
        directive: d.name().into_owned(),
        reason,
        span: d.head_span(),
    }
}
