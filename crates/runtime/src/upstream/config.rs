//! An `upstream {}` block, or the group `proxy_pass http://host:port`
//! makes, compiled to an [`UpstreamConfig`]: nginx's `ngx_http_upstream_srv_conf_t`
//! and `ngx_http_upstream_server_t` (src/http/ngx_http_upstream.h), with
//! the defaults of `ngx_http_upstream_server` and of the implicit group in
//! `ngx_http_upstream_init_round_robin`. `block.rs` reads the directives.
//!
//! Order inside the block matters as it does in nginx: `backup` is refused
//! after `hash`, `ip_hash` or `random`, and a `keepalive` followed by a
//! balancer directive is silently dropped by nginx 1.22–1.28 (NGINX-BEHAVIOUR
//! 21), which [`UpstreamWarning::KeepaliveIgnored`] records for the linter.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use upgate_conf::{Config, Directive, Span};

use super::block::Builder;
use super::error::UpstreamError;

/// Looks a host name up: `(host, port) -> addresses`. nginx calls
/// getaddrinfo when it reads the configuration; tests pass a table. An
/// empty answer is "host not found". IP literals never reach it.
pub type Resolver<'a> = &'a dyn Fn(&str, u16) -> Vec<SocketAddr>;

/// One upstream group, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// `upstream NAME`, or the host of an implicit group.
    pub name: String,
    /// In config order, backup servers included.
    pub servers: Vec<UpstreamServer>,
    pub balancer: Balancer,
    /// The `keepalive` pool the engine keeps, if nginx would keep one
    /// (`None` when the directive is absent or was dropped).
    pub keepalive: Option<Keepalive>,
    /// What nginx accepts but warns about, or silently ignores.
    pub warnings: Vec<UpstreamWarning>,
    /// Made by `proxy_pass` (or another `*_pass`) rather than `upstream {}`.
    pub implicit: bool,
    /// The `upstream` directive's name and argument (`None` when implicit).
    pub span: Option<Span>,
}

/// One `server` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    /// The address as written (`127.0.0.1:8080`, `backend`, `unix:/s`):
    /// consistent hashing computes its points from this text.
    pub text: String,
    /// What the text resolved to; each address is one peer.
    pub addrs: Vec<PeerAddr>,
    /// `weight=`, default 1.
    pub weight: u32,
    /// `max_fails=`, default 1; 0 never marks the server failed.
    pub max_fails: u32,
    /// `fail_timeout=`, default 10s (nginx keeps whole seconds).
    pub fail_timeout: Duration,
    /// `max_conns=`, default 0 (no limit).
    pub max_conns: u32,
    pub backup: bool,
    pub down: bool,
    /// The `server` directive (`None` for an implicit group).
    pub span: Option<Span>,
}

/// Where a peer listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Inet(SocketAddr),
    /// `unix:/path`.
    Unix(PathBuf),
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        PeerAddr::Inet(addr)
    }
}

impl fmt::Display for PeerAddr {
    /// nginx's peer name, as `$upstream_addr` shows it: `127.0.0.1:80`,
    /// `[::1]:80`, `unix:/path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Inet(addr) => write!(f, "{addr}"),
            PeerAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The balancing method (the last balancer directive of the block wins).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balancer {
    /// Smooth weighted round robin (no directive).
    #[default]
    RoundRobin,
    /// `ip_hash`.
    IpHash,
    /// `hash KEY [consistent]`; `key` is the complex value as written
    /// (e.g. `$arg_k`), for the engine to evaluate per request.
    Hash { key: String, consistent: bool },
    /// `least_conn`.
    LeastConn,
    /// `random [two [least_conn]]`.
    Random { two: bool },
}

/// `keepalive N` with the `keepalive_*` settings of the same block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle connections cached per worker (`keepalive N`).
    pub connections: u32,
    /// `keepalive_requests`, default 1000.
    pub requests: u64,
    /// `keepalive_time`, default 1h: no new request on an older connection.
    pub time: Duration,
    /// `keepalive_timeout`, default 60s: an idle cached connection closes.
    pub timeout: Duration,
}

/// Something nginx accepts with a warning, or silently ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamWarning {
    /// nginx's "load balancing method redefined": a balancer directive after
    /// another balancer directive or after `keepalive`.
    BalancerRedefined { span: Span },
    /// `keepalive` before `hash`/`ip_hash`/`least_conn`/`random`: nginx
    /// 1.22–1.28 keeps no connections for this group (1.29.7+ does).
    KeepaliveIgnored { keepalive: Span, balancer: Span },
}

/// The `upstream {}` groups of a configuration, found the way
/// `ngx_http_upstream_add` finds them for `proxy_pass`.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    pub groups: Vec<UpstreamConfig>,
}

impl Upstreams {
    /// Compiles every `upstream {}` block (includes followed).
    pub fn from_config(config: &Config, resolve: Resolver<'_>) -> Result<Self, UpstreamError> {
        let mut blocks = Vec::new();
        config.walk(|d, parents| {
            if d.is("upstream") && d.block.is_some() && parents.last().is_some_and(|p| p.is("http"))
            {
                blocks.push(d);
            }
        });
        let groups = blocks
            .into_iter()
            .map(|d| UpstreamConfig::from_block_in(config, d, resolve))
            .collect::<Result<_, _>>()?;
        Ok(Upstreams { groups })
    }

    /// The block a `proxy_pass http://HOST[:PORT]` names: same name, compared
    /// case-insensitively, and no port in the URL. `None`: the URL makes an
    /// implicit group (with a port and a block of that name nginx refuses
    /// the configuration: "upstream ... may not have port", which the conf
    /// crate reports).
    pub fn find(&self, host: &str, port: Option<u16>) -> Option<&UpstreamConfig> {
        if port.is_some() {
            return None;
        }
        self.groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(host))
    }
}

impl UpstreamConfig {
    /// Compiles `upstream NAME { ... }` from its own directives; an
    /// `include` inside is not followed (see [`UpstreamConfig::from_block_in`]).
    pub fn from_block(block: &Directive, resolve: Resolver<'_>) -> Result<Self, UpstreamError> {
        Builder::run(block, block.children().collect(), resolve)
    }

    /// As [`UpstreamConfig::from_block`], following `include`s through `config`.
    pub fn from_block_in(
        config: &Config,
        block: &Directive,
        resolve: Resolver<'_>,
    ) -> Result<Self, UpstreamError> {
        fn flatten<'a>(config: &'a Config, d: &'a Directive, out: &mut Vec<&'a Directive>) {
            for child in d.children() {
                out.push(child);
                for &id in &child.includes {
                    if let Some(file) = config.files.get(id.index()) {
                        for inner in file.block.directives() {
                            out.push(inner);
                        }
                    }
                }
            }
        }
        let mut children = Vec::new();
        flatten(config, block, &mut children);
        Builder::run(block, children, resolve)
    }

    /// The group nginx makes for `proxy_pass http://HOST:PORT` when no
    /// `upstream HOST {}` exists: every address of the host, weight 1,
    /// max_fails 1, fail_timeout 10s, round robin, no keepalive. With one
    /// address it is a "single" group: never marked failed, never retried.
    ///
    /// For `proxy_pass` with variables naming no `upstream {}` block, nginx
    /// resolves per request and builds the peers per request
    /// (`ngx_http_upstream_create_round_robin_peer`): use a fresh `Peers`
    /// from this each time, so that no failure is remembered.
    pub fn implicit(host: &str, port: u16, addrs: Vec<PeerAddr>) -> Self {
        UpstreamConfig {
            name: host.to_string(),
            servers: vec![UpstreamServer {
                text: format!("{host}:{port}"),
                addrs,
                ..UpstreamServer::default()
            }],
            balancer: Balancer::RoundRobin,
            keepalive: None,
            warnings: Vec::new(),
            implicit: true,
            span: None,
        }
    }
}

impl Default for UpstreamServer {
    /// nginx's defaults: weight 1, max_fails 1, fail_timeout 10s.
    fn default() -> Self {
        UpstreamServer {
            text: String::new(),
            addrs: Vec::new(),
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            backup: false,
            down: false,
            span: None,
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
