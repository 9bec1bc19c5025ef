//! Smooth weighted round robin, failure accounting and backup servers:
//! src/http/ngx_http_upstream_round_robin.c (`ngx_http_upstream_init_round_robin`,
//! `ngx_http_upstream_get_round_robin_peer`, `ngx_http_upstream_get_peer`,
//! `ngx_http_upstream_free_round_robin_peer`). Every other balancer builds
//! on these peers and falls back to this selection.
//!
//! Smooth WRR: each usable peer's `current_weight` grows by its
//! `effective_weight`; the largest wins and pays back the sum. Weights
//! 5:1:1 give a a b a c a a, repeating. A failure lowers `effective_weight`
//! by `weight / max_fails`; each selection pass restores one unit.

use std::time::{Duration, Instant};

use super::Outcome;
use super::config::{PeerAddr, UpstreamConfig};
use super::selection::{Selection, Tried};

/// Names one peer of a [`Peers`](super::Peers): which list, which position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId {
    backup: bool,
    index: u32,
}

impl PeerId {
    /// On the backup list.
    pub fn is_backup(self) -> bool {
        self.backup
    }

    /// Position in its list (config order, one per address).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// One address of one `server`: nginx's `ngx_http_upstream_rr_peer_t`.
#[derive(Debug, Clone)]
pub struct Peer {
    pub(crate) addr: PeerAddr,
    pub(crate) server: usize,
    /// Index of the server text in `Tiers::texts` (equal texts share it).
    pub(crate) text: usize,
    pub(crate) weight: i64,
    pub(crate) effective_weight: i64,
    pub(crate) current_weight: i64,
    pub(crate) conns: u32,
    pub(crate) max_conns: u32,
    pub(crate) fails: u32,
    pub(crate) max_fails: u32,
    pub(crate) fail_timeout: Duration,
    pub(crate) accessed: Option<Instant>,
    pub(crate) checked: Option<Instant>,
    pub(crate) down: bool,
}

impl Peer {
    pub fn addr(&self) -> &PeerAddr {
        &self.addr
    }
    /// Index into [`UpstreamConfig::servers`].
    pub fn server(&self) -> usize {
        self.server
    }
    pub fn weight(&self) -> i64 {
        self.weight
    }
    pub fn effective_weight(&self) -> i64 {
        self.effective_weight
    }
    pub fn current_weight(&self) -> i64 {
        self.current_weight
    }
    /// Attempts in progress (selected and not yet freed).
    pub fn conns(&self) -> u32 {
        self.conns
    }
    /// Failures counted since the peer was last seen working.
    pub fn fails(&self) -> u32 {
        self.fails
    }
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// `max_fails` reached within `fail_timeout` of the last check.
    pub fn is_failed(&self, now: Instant) -> bool {
        self.max_fails != 0
            && self.fails >= self.max_fails
            && self
                .checked
                .is_some_and(|c| now.saturating_duration_since(c) <= self.fail_timeout)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.max_conns != 0 && self.conns >= self.max_conns
    }

    /// Neither down, nor failed, nor at `max_conns`.
    pub(crate) fn usable(&self, now: Instant) -> bool {
        !self.down && !self.is_failed(now) && !self.is_full()
    }

    /// Starts a new `fail_timeout` window once the old one has passed.
    pub(crate) fn touch(&mut self, now: Instant) {
        let expired = self
            .checked
            .is_none_or(|c| now.saturating_duration_since(c) > self.fail_timeout);
        if expired {
            self.checked = Some(now);
        }
    }
}

/// One list of peers (`ngx_http_upstream_rr_peers_t`): primary or backup.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tier {
    pub(crate) peers: Vec<Peer>,
    /// Sum of weights, `down` peers included.
    pub(crate) total_weight: u64,
    /// Peers not marked `down`.
    pub(crate) tries: u32,
    /// One primary address and no backup: never failed, never retried.
    pub(crate) single: bool,
}

impl Tier {
    /// The peer `w` falls on when weights are laid end to end in config
    /// order (`while (w >= peer->weight) w -= peer->weight`).
    pub(crate) fn by_weight(&self, mut w: u64) -> usize {
        for (i, peer) in self.peers.iter().enumerate() {
            let weight = peer.weight.unsigned_abs();
            if w < weight {
                return i;
            }
            w -= weight;
        }
        self.peers.len().saturating_sub(1)
    }
}

/// The primary and backup lists of a group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tiers {
    pub(crate) primary: Tier,
    pub(crate) backup: Option<Tier>,
    /// The distinct server texts; `Peer::text` indexes it.
    pub(crate) texts: Vec<String>,
}

impl Tiers {
    /// `ngx_http_upstream_init_round_robin`.
    pub(crate) fn new(config: &UpstreamConfig) -> Tiers {
        let mut tiers = Tiers::default();
        let mut backup = Tier::default();
        for (index, server) in config.servers.iter().enumerate() {
            let text = match tiers.texts.iter().position(|t| *t == server.text) {
                Some(i) => i,
                None => {
                    tiers.texts.push(server.text.clone());
                    tiers.texts.len() - 1
                }
            };
            let tier = if server.backup {
                &mut backup
            } else {
                &mut tiers.primary
            };
            for addr in &server.addrs {
                let weight = i64::from(server.weight);
                tier.peers.push(Peer {
                    addr: addr.clone(),
                    server: index,
                    text,
                    weight,
                    effective_weight: weight,
                    current_weight: 0,
                    conns: 0,
                    max_conns: server.max_conns,
                    fails: 0,
                    max_fails: server.max_fails,
                    fail_timeout: server.fail_timeout,
                    accessed: None,
                    checked: None,
                    down: server.down,
                });
                tier.total_weight += u64::from(server.weight);
                tier.tries += u32::from(!server.down);
            }
        }
        tiers.primary.single = tiers.primary.peers.len() == 1 && backup.peers.is_empty();
        tiers.backup = (!backup.peers.is_empty()).then_some(backup);
        tiers
    }

    /// `ngx_http_upstream_tries`: primary plus backup peers not `down`.
    pub(crate) fn tries(&self) -> u32 {
        self.primary.tries + self.backup.as_ref().map_or(0, |b| b.tries)
    }

    /// The list a request is on (it moves to the backup list once).
    pub(crate) fn tier_mut(&mut self, backup: bool) -> Option<&mut Tier> {
        if backup {
            self.backup.as_mut()
        } else {
            Some(&mut self.primary)
        }
    }

    pub(crate) fn peer(&self, id: PeerId) -> &Peer {
        let tier = match (id.backup, &self.backup) {
            (true, Some(backup)) => backup,
            _ => &self.primary,
        };
        &tier.peers[id.index()]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        let primary = self.primary.peers.iter().enumerate();
        let backup = self.backup.iter().flat_map(|b| b.peers.iter().enumerate());
        (primary.map(|(i, p)| (id(false, i), p))).chain(backup.map(|(i, p)| (id(true, i), p)))
    }
}

pub(crate) fn id(backup: bool, index: usize) -> PeerId {
    PeerId {
        backup,
        index: index as u32,
    }
}

/// Counts the chosen peer in and marks it tried (the end of every `get`).
pub(crate) fn take(tier: &mut Tier, sel: &mut Selection, index: usize, now: Instant) -> PeerId {
    let peer = &mut tier.peers[index];
    peer.conns = peer.conns.saturating_add(1);
    peer.touch(now);
    sel.tried.insert(index);
    id(sel.backup, index)
}

/// `ngx_http_upstream_get_round_robin_peer`: the single peer, or smooth
/// WRR over the request's list; when nothing is usable on the primary
/// list, the backup list with a fresh tried set.
pub(crate) fn select(tiers: &mut Tiers, sel: &mut Selection, now: Instant) -> Option<PeerId> {
    for _ in 0..2 {
        let tier = tiers.tier_mut(sel.backup)?;
        if tier.single {
            let peer = &mut tier.peers[0];
            if !peer.down && !peer.is_full() {
                peer.conns = peer.conns.saturating_add(1);
                return Some(id(sel.backup, 0));
            }
        } else if let Some(i) = smooth(tier, &sel.tried, now, |_, _| true) {
            return Some(take(tier, sel, i, now));
        }
        if !to_backup(tiers, sel) {
            return None;
        }
    }
    None
}

/// Moves a request to the backup list (`rrp->peers = peers->next`).
pub(crate) fn to_backup(tiers: &Tiers, sel: &mut Selection) -> bool {
    if sel.backup || tiers.backup.is_none() {
        return false;
    }
    sel.backup = true;
    sel.tried.clear();
    true
}

/// `ngx_http_upstream_get_peer`'s loop over the usable, untried peers that
/// `also` accepts: the highest `current_weight` after adding each one's
/// `effective_weight` wins (the first on ties) and pays back the total.
pub(crate) fn smooth(
    tier: &mut Tier,
    tried: &Tried,
    now: Instant,
    also: impl Fn(usize, &Peer) -> bool,
) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    let mut total = 0i64;
    for (i, peer) in tier.peers.iter_mut().enumerate() {
        if tried.contains(i) || !peer.usable(now) || !also(i, peer) {
            continue;
        }
        peer.current_weight += peer.effective_weight;
        total += peer.effective_weight;
        if peer.effective_weight < peer.weight {
            peer.effective_weight += 1;
        }
        if best.is_none_or(|(_, w)| peer.current_weight > w) {
            best = Some((i, peer.current_weight));
        }
    }
    let (best, _) = best?;
    tier.peers[best].current_weight -= total;
    Some(best)
}

/// `ngx_http_upstream_free_round_robin_peer`.
pub(crate) fn free(tiers: &mut Tiers, sel: &mut Selection, outcome: Outcome, now: Instant) {
    let Some(current) = sel.current.take() else {
        return;
    };
    let Some(tier) = tiers.tier_mut(current.backup) else {
        return;
    };
    let single = tier.single;
    let Some(peer) = tier.peers.get_mut(current.index()) else {
        return;
    };
    peer.conns = peer.conns.saturating_sub(1);
    if single {
        peer.fails = 0;
        sel.tries = 0;
        return;
    }
    if outcome == Outcome::Failed {
        peer.fails += 1;
        peer.accessed = Some(now);
        peer.checked = Some(now);
        if peer.max_fails != 0 {
            peer.effective_weight -= peer.weight / i64::from(peer.max_fails);
        }
        peer.effective_weight = peer.effective_weight.max(0);
    } else if peer.accessed < peer.checked {
        // Checked again after fail_timeout and it worked: live again.
        peer.fails = 0;
    }
    sel.tries = sel.tries.saturating_sub(1);
}

#[cfg(test)]
#[path = "round_robin_tests.rs"]
mod tests;
