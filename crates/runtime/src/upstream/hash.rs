//! `hash KEY` and `hash KEY consistent`: `ngx_http_upstream_get_hash_peer`
//! and `ngx_http_upstream_get_chash_peer` in
//! src/http/modules/ngx_http_upstream_hash_module.c.
//!
//! Plain hash is Cache::Memcached's: on try t the sum grows by
//! `(crc32(decimal(t) KEY) >> 16) & 0x7fff` (no prefix on try 0) and the
//! peer is `sum % total_weight` laid over the weights in config order.
//! Consistent hash walks the ketama ring from the key's point, one point
//! per miss. Both skip tried, down, failed and full peers, and after 20
//! misses (or with an empty key, or fewer than two peers) use round robin.

use std::io::Write;
use std::time::Instant;

use super::ketama::Ketama;
use super::round_robin::{self, PeerId, Tiers};
use super::selection::{HashState, Selection};

/// nginx gives up hashing after this many misses.
pub(crate) const MAX_TRIES: u32 = 20;

/// `ngx_http_upstream_get_hash_peer`.
pub(crate) fn select(tiers: &mut Tiers, sel: &mut Selection, now: Instant) -> Option<PeerId> {
    let tier = tiers.tier_mut(sel.backup)?;
    let HashState::Key { key, rehash, hash } = &mut sel.hash else {
        return round_robin::select(tiers, sel, now);
    };
    if sel.balancer_tries > MAX_TRIES
        || tier.peers.len() < 2
        || key.is_empty()
        || tier.total_weight == 0
    {
        return round_robin::select(tiers, sel, now);
    }
    let index = loop {
        let mut crc = crc32fast::Hasher::new();
        if *rehash > 0 {
            let mut digits = [0u8; 10];
            let mut cursor = &mut digits[..];
            let _ = write!(cursor, "{rehash}");
            let len = 10 - cursor.len();
            crc.update(&digits[..len]);
        }
        crc.update(key);
        *hash = hash.wrapping_add((crc.finalize() >> 16) & 0x7fff);
        *rehash += 1;
        let p = tier.by_weight(u64::from(*hash) % tier.total_weight);
        if !sel.tried.contains(p) && tier.peers[p].usable(now) {
            break p;
        }
        sel.balancer_tries += 1;
        if sel.balancer_tries > MAX_TRIES {
            return round_robin::select(tiers, sel, now);
        }
    };
    Some(round_robin::take(tier, sel, index, now))
}

/// `ngx_http_upstream_get_chash_peer`: from the key's point, the first
/// point whose server has a usable, untried peer; among several peers of
/// that server text (a name with several addresses), smooth WRR.
pub(crate) fn select_chash(
    tiers: &mut Tiers,
    ring: &Ketama,
    sel: &mut Selection,
    now: Instant,
) -> Option<PeerId> {
    let tier = tiers.tier_mut(sel.backup)?;
    let HashState::Point { has_key, point } = &mut sel.hash else {
        return round_robin::select(tiers, sel, now);
    };
    if sel.balancer_tries > MAX_TRIES || tier.single || !*has_key || ring.points().is_empty() {
        return round_robin::select(tiers, sel, now);
    }
    if tier.peers.is_empty() {
        return None;
    }
    let points = ring.points();
    let index = loop {
        let text = points[*point % points.len()].text;
        let found = round_robin::smooth(tier, &sel.tried, now, |_, peer| peer.text == text);
        if let Some(i) = found {
            break i;
        }
        *point += 1;
        sel.balancer_tries += 1;
        if sel.balancer_tries > MAX_TRIES {
            return round_robin::select(tiers, sel, now);
        }
    };
    Some(round_robin::take(tier, sel, index, now))
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
