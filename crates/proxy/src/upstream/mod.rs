//! The upstream side of a proxied request: which group serves it (an
//! `upstream {}` block, the implicit group a `proxy_pass http://host:port`
//! makes in `ngx_http_upstream_add`, or, with variables, the group
//! `ngx_http_proxy_eval` / `ngx_http_upstream_create_round_robin_peer` make
//! per request), the balancer state behind a lock, the keepalive pool
//! (`pool.rs`), and the connection to one peer (`connect.rs`).

pub mod attempt;
pub mod connect;
pub mod pool;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use upgate_runtime::upstream::{Balancer, PeerAddr, Peers, UpstreamConfig};
use upgate_runtime::variable::{Template, UserVars};

pub use connect::{UpstreamStream, connect};
pub use pool::Pool;

/// One upstream group as the engine serves it.
#[derive(Debug)]
pub struct Group {
    pub config: UpstreamConfig,
    peers: Mutex<Peers>,
    /// Cached keepalive connections (`keepalive N`), if the group has them.
    pub pool: Option<Arc<Pool>>,
    /// The `hash` key, compiled.
    pub hash_key: Option<Template>,
}

impl Group {
    /// The group for `config`; `user` resolves the variables of a `hash` key.
    pub fn new(config: UpstreamConfig, user: &UserVars) -> Group {
        let hash_key = match &config.balancer {
            Balancer::Hash { key, .. } => {
                upgate_runtime::variable::compile(key.as_bytes(), user).ok()
            }
            _ => None,
        };
        let pool = config.keepalive.map(|k| Arc::new(Pool::new(k)));
        Group {
            peers: Mutex::new(Peers::new(&config)),
            config,
            pool,
            hash_key,
        }
    }

    /// The balancer state (a poisoned lock is taken over: the state stays
    /// consistent between calls).
    pub fn peers(&self) -> MutexGuard<'_, Peers> {
        match self.peers.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// What the proxy_pass URL of a request names.
#[derive(Debug)]
pub enum Target {
    /// An `upstream {}` block, by index in the tables.
    Block(usize),
    /// The implicit group of a static `proxy_pass http://host:port`.
    Implicit(String),
    /// A group made for this request (proxy_pass with variables).
    Fresh(Box<Group>),
    /// nginx answers 502 with this error log message.
    Fail(String),
}

/// `ngx_parse_url` on a host as written: an address literal, without
/// brackets for IPv6.
pub fn ip_literal(host: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(host).ok()?;
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    text.parse().ok()
}

/// The key of an implicit group: `host:port` as nginx's
/// `ngx_http_upstream_add` compares them.
pub fn implicit_key(host: &[u8], port: u16) -> String {
    format!("{}:{port}", String::from_utf8_lossy(host))
}

/// The implicit group for `host:port`, resolved with `resolve`.
pub fn implicit_group(
    host: &[u8],
    port: u16,
    unix: bool,
    resolve: &dyn Fn(&str, u16) -> Vec<SocketAddr>,
    user: &UserVars,
) -> Option<Group> {
    let text = String::from_utf8_lossy(host).into_owned();
    let addrs: Vec<PeerAddr> = if unix {
        vec![PeerAddr::Unix(text.clone().into())]
    } else if let Some(ip) = ip_literal(host) {
        vec![PeerAddr::Inet(SocketAddr::new(ip, port))]
    } else {
        resolve(&text, port)
            .into_iter()
            .map(PeerAddr::Inet)
            .collect()
    };
    if addrs.is_empty() {
        return None;
    }
    Some(Group::new(
        UpstreamConfig::implicit(&text, port, addrs),
        user,
    ))
}

/// The system resolver (getaddrinfo), as nginx uses when it reads the
/// configuration.
pub fn system_resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    use std::net::ToSocketAddrs;
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let mut out: Vec<SocketAddr> = Vec::new();
            for a in addrs {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            out
        }
        Err(_) => Vec::new(),
    }
}

/// The group that serves `r`'s proxy_pass: its `upstream {}` block, the
/// implicit group of a static URL, or, with variables, a block of the
/// evaluated host's name or a group made for this request (an address
/// literal, or a name looked up when a `resolver` is configured). The error
/// is nginx's log message; the client gets 502.
pub async fn group_for(
    tables: &crate::tables::Tables,
    r: &mut upgate_runtime::Request<'_>,
    resolver: bool,
) -> Result<std::sync::Arc<Group>, String> {
    use upgate_runtime::proxy_pass::ProxyTarget;
    let rt = r.rt;
    let Some(pass) = rt.location(r.location).conf.proxy_pass.as_ref() else {
        return Err("no proxy_pass".into());
    };
    if let Some(i) = pass.upstream {
        return tables
            .groups
            .get(i)
            .cloned()
            .ok_or_else(|| "no upstream group".into());
    }
    let url = match &pass.target {
        ProxyTarget::Static(url) => std::borrow::Cow::Borrowed(url),
        ProxyTarget::Variables(_) => r
            .proxy_url()
            .ok_or_else(|| "invalid URL prefix in proxy_pass with variables".to_string())?,
    };
    let port = url.port.unwrap_or(if url.https { 443 } else { 80 });
    if let ProxyTarget::Variables(_) = &pass.target
        && !url.unix
    {
        let host = String::from_utf8_lossy(&url.host).into_owned();
        if let Some(i) = tables
            .rt
            .upstreams
            .groups
            .iter()
            .position(|g| url.port.is_none() && g.name.eq_ignore_ascii_case(&host))
            && let Some(g) = tables.groups.get(i)
        {
            return Ok(g.clone());
        }
        if ip_literal(&url.host).is_none() {
            if !resolver {
                return Err(format!("no resolver defined to resolve {host}"));
            }
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await
            {
                Ok(a) => a.collect(),
                Err(_) => Vec::new(),
            };
            if addrs.is_empty() {
                return Err(format!("{host} could not be resolved (3: Host not found)"));
            }
            return Ok(std::sync::Arc::new(Group::new(
                UpstreamConfig::implicit(
                    &host,
                    port,
                    addrs.into_iter().map(PeerAddr::Inet).collect(),
                ),
                &r.rt.user_vars,
            )));
        }
        let none = |_: &str, _: u16| Vec::new();
        return implicit_group(&url.host, port, false, &none, &r.rt.user_vars)
            .map(std::sync::Arc::new)
            .ok_or_else(|| "invalid address".into());
    }
    if let ProxyTarget::Variables(_) = &pass.target {
        let none = |_: &str, _: u16| Vec::new();
        return implicit_group(&url.host, port, true, &none, &r.rt.user_vars)
            .map(std::sync::Arc::new)
            .ok_or_else(|| "invalid address".into());
    }
    tables
        .implicit
        .get(&implicit_key(&url.host, port))
        .cloned()
        .ok_or_else(|| {
            format!(
                "no live upstreams for {}",
                String::from_utf8_lossy(&url.host)
            )
        })
}
