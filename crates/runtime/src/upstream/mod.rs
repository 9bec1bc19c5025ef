//! Upstream groups and nginx's balancers, as pure state machines with time
//! passed in: src/http/ngx_http_upstream_round_robin.c and the hash,
//! ip_hash, least_conn and random modules of src/http/modules/ (nginx
//! 1.28.3; 1.22.1 behaves the same for everything here).
//!
//! Two halves, as in nginx:
//!
//! * **Configuration** ([`UpstreamConfig`], `config.rs`): an `upstream {}`
//!   block, or the group a `proxy_pass http://host:port` makes implicitly,
//!   compiled once: servers with their parameters and resolved addresses,
//!   the balancer, `keepalive` settings for the engine's pool, and what
//!   nginx only warns about (a `keepalive` dropped by a later balancer
//!   directive).
//! * **State** ([`Peers`]): one per group and per process (nginx keeps one
//!   per worker), holding each address's `current_weight`,
//!   `effective_weight`, `fails`, `checked`, `accessed` and `conns`.
//!   A request keeps its own [`Selection`] (nginx's per-request peer data:
//!   tried peers, tries left, the hash's progress) and calls
//!   [`Peers::select`] for each attempt and [`Peers::free`] when that
//!   attempt ends.
//!
//! Nothing here reads a clock or touches a socket: `now` is an argument.
//!
//! Where upgate differs from nginx, on purpose:
//! * nginx's clock has one-second resolution (`ngx_time()`), so a failed
//!   peer returns after `fail_timeout` plus up to a second; here exactly
//!   after `fail_timeout` (the caller's `Instant`s decide).
//! * Counters are per `Peers`, shared by whatever shares it; nginx keeps
//!   them per worker unless the group has a `zone`.
//! * `random` draws from its own generator, not libc `random()`.
//! * Names are resolved once, when the group is compiled: `resolve` and
//!   `zone` are accepted and have no effect.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use std::time::Instant;
//! use upgate_runtime::upstream::{Outcome, Peers, PeerAddr, SelectInput, UpstreamConfig};
//!
//! let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
//! let group = UpstreamConfig::implicit("127.0.0.1", 8080, vec![PeerAddr::Inet(addr)]);
//! let mut peers = Peers::new(&group);
//! let now = Instant::now();
//! let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
//! let mut sel = peers.begin(&SelectInput { client, hash_key: None });
//! while let Some(peer) = peers.select(&mut sel, now) {
//!     assert_eq!(peers.peer(peer).addr(), &PeerAddr::Inet(addr));
//!     // ... connect and proxy; say it failed:
//!     peers.free(&mut sel, Outcome::Failed, now);
//!     if sel.tries() == 0 {
//!         break; // 502; a one-address group is never retried
//!     }
//! }
//! ```

mod block;
mod config;
mod error;
mod hash;
mod ip_hash;
mod ketama;
mod least_conn;
mod parse;
mod random;
mod round_robin;
mod selection;

pub use config::{
    Balancer, Keepalive, PeerAddr, Resolver, UpstreamConfig, UpstreamServer, UpstreamWarning,
    Upstreams,
};
pub use error::UpstreamError;
pub use ketama::{Ketama, KetamaPoint};
pub use round_robin::{Peer, PeerId};
pub use selection::Selection;

use std::net::IpAddr;
use std::time::Instant;

use round_robin::Tiers;

/// What a request brings to the balancer.
#[derive(Debug, Clone, Copy)]
pub struct SelectInput<'a> {
    /// The client's address (`$remote_addr`), for `ip_hash`. nginx hashes
    /// the first three bytes of an IPv4 address and all sixteen of an IPv6
    /// one. An IPv4-mapped address (a dual-stack listener's `::ffff:a.b.c.d`)
    /// counts as IPv6, as in nginx: pass it unconverted. A client on a
    /// unix socket hashes as three zero bytes: pass `0.0.0.0`.
    pub client: IpAddr,
    /// The evaluated `hash` key (e.g. the value of `$arg_k`), for `hash`
    /// and `hash ... consistent`. `None` or empty: round robin, as nginx.
    pub hash_key: Option<&'a [u8]>,
}

/// How an attempt ended, for [`Peers::free`] (nginx's `state` argument of
/// `peer.free`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request was served (any status nginx passes on), or the
    /// connection ended normally.
    Ok,
    /// `NGX_PEER_FAILED`: a connect error, timeout, invalid header, or a
    /// status listed in `proxy_next_upstream` other than 403/404. Counts
    /// towards `max_fails` and lowers the peer's effective weight.
    Failed,
    /// `NGX_PEER_NEXT`: `proxy_next_upstream http_403`/`http_404` moved on.
    /// Not a failure: round robin treats it like [`Outcome::Ok`].
    Next,
}

/// The runtime state of one upstream group: nginx's
/// `ngx_http_upstream_rr_peers_t` (primary and backup lists) plus the
/// balancer's own data (consistent-hash points, the `random` generator).
///
/// Every address of every `server` is one [`Peer`], in config order;
/// `backup` servers form a second list used only when no primary peer can
/// be chosen. Callers share one `Peers` per group (behind a lock if
/// threads share it): counters are global, as with nginx's `zone`.
#[derive(Debug, Clone)]
pub struct Peers {
    name: String,
    tiers: Tiers,
    balancer: BalancerState,
    rng: u64,
}

#[derive(Debug, Clone)]
enum BalancerState {
    RoundRobin,
    IpHash,
    Hash,
    Chash(Ketama),
    LeastConn,
    Random { two: bool },
}

impl Peers {
    /// Builds the state nginx builds in `ngx_http_upstream_init_round_robin`
    /// (and `ngx_http_upstream_update_chash` for consistent hashing).
    pub fn new(config: &UpstreamConfig) -> Peers {
        let tiers = Tiers::new(config);
        let balancer = match &config.balancer {
            Balancer::RoundRobin => BalancerState::RoundRobin,
            Balancer::IpHash => BalancerState::IpHash,
            Balancer::Hash {
                consistent: false, ..
            } => BalancerState::Hash,
            Balancer::Hash {
                consistent: true, ..
            } => BalancerState::Chash(Ketama::from_tier(&tiers.primary, &tiers.texts)),
            Balancer::LeastConn => BalancerState::LeastConn,
            Balancer::Random { two } => BalancerState::Random { two: *two },
        };
        Peers {
            name: config.name.clone(),
            tiers,
            balancer,
            rng: random::DEFAULT_SEED,
        }
    }

    /// The group's name (`upstream NAME`, or the proxy_pass host).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Seeds the generator of the `random` balancer (nginx uses libc
    /// `random()`, which no other process can reproduce).
    pub fn seed_random(&mut self, seed: u64) {
        self.rng = random::seed(seed);
    }

    /// Starts a request (nginx's `peer.init`): no peer tried yet, and
    /// [`Selection::tries`] set to the number of addresses not marked
    /// `down`, primary plus backup (`ngx_http_upstream_tries`).
    pub fn begin(&self, input: &SelectInput<'_>) -> Selection {
        let tries = self.tiers.tries();
        match &self.balancer {
            BalancerState::IpHash => Selection::ip_hash(tries, input.client),
            BalancerState::Hash => Selection::hash(tries, input.hash_key.unwrap_or_default()),
            BalancerState::Chash(points) => {
                Selection::chash(tries, points, input.hash_key.unwrap_or_default())
            }
            _ => Selection::new(tries),
        }
    }

    /// Chooses the peer for the next attempt (nginx's `peer.get`), or
    /// `None` when none can be used: nginx logs "no live upstreams" and
    /// answers 502 at once, whatever tries are left.
    ///
    /// The chosen peer's `conns` goes up and it is marked tried for this
    /// request; call [`Peers::free`] when the attempt ends.
    pub fn select(&mut self, sel: &mut Selection, now: Instant) -> Option<PeerId> {
        sel.current = None;
        let found = match &self.balancer {
            BalancerState::RoundRobin => round_robin::select(&mut self.tiers, sel, now),
            BalancerState::IpHash => ip_hash::select(&mut self.tiers, sel, now),
            BalancerState::Hash => hash::select(&mut self.tiers, sel, now),
            BalancerState::Chash(points) => hash::select_chash(&mut self.tiers, points, sel, now),
            BalancerState::LeastConn => least_conn::select(&mut self.tiers, sel, now),
            BalancerState::Random { two } => {
                random::select(&mut self.tiers, *two, &mut self.rng, sel, now)
            }
        };
        sel.current = found;
        found
    }

    /// Ends the current attempt (nginx's `ngx_http_upstream_free_round_robin_peer`):
    /// counts a failure, or clears old failures on success once the peer was
    /// re-checked; drops `conns`; uses up one of [`Selection::tries`] (all of
    /// them for a one-address group). Does nothing if no peer is current.
    ///
    /// Call it when the upstream connection is done with, which for a
    /// WebSocket tunnel is when the tunnel closes: `least_conn` and
    /// `max_conns` count open tunnels.
    pub fn free(&mut self, sel: &mut Selection, outcome: Outcome, now: Instant) {
        round_robin::free(&mut self.tiers, sel, outcome, now);
    }

    /// The peer behind an id returned by [`Peers::select`].
    ///
    /// # Panics
    /// If the id came from another group's `Peers`.
    pub fn peer(&self, id: PeerId) -> &Peer {
        self.tiers.peer(id)
    }

    /// All peers in nginx's order: primary, then backup.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.tiers.iter()
    }

    /// The consistent-hash points, when the balancer is `hash ... consistent`.
    pub fn ketama(&self) -> Option<&Ketama> {
        match &self.balancer {
            BalancerState::Chash(points) => Some(points),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Groups for unit tests, written as nginx configuration.

    use std::net::SocketAddr;

    use super::{UpstreamConfig, UpstreamError};

    /// `backend` resolves to two addresses, `one.example` to one; other
    /// names are not found.
    pub(crate) fn resolver(host: &str, port: u16) -> Vec<SocketAddr> {
        match host {
            "backend" => vec![([10, 1, 0, 1], port).into(), ([10, 1, 0, 2], port).into()],
            "one.example" => vec![([10, 2, 0, 1], port).into()],
            _ => Vec::new(),
        }
    }

    /// Compiles the first directive of `text`, an `upstream {}` block.
    pub(crate) fn try_compile(text: &str) -> Result<UpstreamConfig, UpstreamError> {
        let config = upgate_conf::parse_file("test.conf".as_ref(), text.as_bytes().to_vec());
        let file = &config.files[0];
        let Some(block) = file.block.directives().next() else {
            panic!("no directive in {text:?}");
        };
        UpstreamConfig::from_block(block, &resolver)
    }

    pub(crate) fn compile(text: &str) -> UpstreamConfig {
        match try_compile(text) {
            Ok(config) => config,
            Err(e) => panic!("{text}: {e}"),
        }
    }
}
