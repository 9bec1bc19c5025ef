//! `random [two [least_conn]]`: `ngx_http_upstream_get_random_peer`,
//! `ngx_http_upstream_get_random2_peer` and `ngx_http_upstream_peek_random_peer`
//! in src/http/modules/ngx_http_upstream_random_module.c.
//!
//! A peer is drawn with probability proportional to its weight; with
//! `two`, two distinct usable peers are drawn and the one with fewer
//! connections per weight wins (the first drawn on a tie). Misses count
//! towards the same 20 as the hash balancers, then round robin decides.
//! nginx draws from libc `random()`; upgate uses its own generator
//! (xorshift64*), so the draws match nginx's distribution, not its sequence.

use std::time::Instant;

use super::hash::MAX_TRIES;
use super::round_robin::{self, PeerId, Tier, Tiers};
use super::selection::Selection;

pub(crate) const DEFAULT_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// A usable generator state from any seed (xorshift needs a non-zero one).
pub(crate) fn seed(seed: u64) -> u64 {
    if seed == 0 { DEFAULT_SEED } else { seed }
}

fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// `ngx_http_upstream_peek_random_peer`: weights laid end to end.
fn peek(tier: &Tier, rng: &mut u64) -> usize {
    let x = (next(rng) >> 11) % tier.total_weight.max(1);
    tier.by_weight(x)
}

/// `ngx_http_upstream_get_random_peer` / `_random2_peer`.
pub(crate) fn select(
    tiers: &mut Tiers,
    two: bool,
    rng: &mut u64,
    sel: &mut Selection,
    now: Instant,
) -> Option<PeerId> {
    let tier = tiers.tier_mut(sel.backup)?;
    if sel.balancer_tries > MAX_TRIES || tier.peers.len() < 2 || tier.total_weight == 0 {
        return round_robin::select(tiers, sel, now);
    }
    let mut first: Option<usize> = None;
    let index = loop {
        let i = peek(tier, rng);
        let fresh = first != Some(i) && !sel.tried.contains(i) && tier.peers[i].usable(now);
        if fresh {
            match first {
                None if two => first = Some(i),
                None => break i,
                Some(p) => {
                    let (a, b) = (&tier.peers[i], &tier.peers[p]);
                    let worse = i128::from(a.conns) * i128::from(b.weight)
                        > i128::from(b.conns) * i128::from(a.weight);
                    break if worse { p } else { i };
                }
            }
        }
        sel.balancer_tries += 1;
        if sel.balancer_tries > MAX_TRIES {
            return round_robin::select(tiers, sel, now);
        }
    };
    Some(round_robin::take(tier, sel, index, now))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use crate::upstream::{
        Balancer, Outcome, PeerAddr, Peers, SelectInput, UpstreamConfig, UpstreamServer,
    };

    fn group(weights: &[u32], two: bool) -> Peers {
        let servers = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| UpstreamServer {
                text: format!("10.0.0.{i}:80"),
                addrs: vec![PeerAddr::Inet(([10, 0, 0, i as u8], 80).into())],
                weight,
                ..UpstreamServer::default()
            })
            .collect();
        Peers::new(&UpstreamConfig {
            balancer: Balancer::Random { two },
            servers,
            ..UpstreamConfig::implicit("u", 80, Vec::new())
        })
    }

    #[test]
    fn draws_follow_the_weights() {
        let mut peers = group(&[3, 1], false);
        let now = std::time::Instant::now();
        let input = SelectInput {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            hash_key: None,
        };
        let mut counts = [0u32; 2];
        for _ in 0..4000 {
            let mut sel = peers.begin(&input);
            if let Some(id) = peers.select(&mut sel, now) {
                counts[id.index()] += 1;
            }
            peers.free(&mut sel, Outcome::Ok, now);
        }
        assert!((2800..3200).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn two_prefers_fewer_connections() {
        let mut peers = group(&[1, 1], true);
        let now = std::time::Instant::now();
        let input = SelectInput {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            hash_key: None,
        };
        let mut held = Vec::new();
        for _ in 0..10 {
            let mut sel = peers.begin(&input);
            assert!(peers.select(&mut sel, now).is_some());
            held.push(sel);
        }
        let conns: Vec<u32> = peers.iter().map(|(_, p)| p.conns()).collect();
        assert_eq!(conns, [5, 5]);
    }
}
