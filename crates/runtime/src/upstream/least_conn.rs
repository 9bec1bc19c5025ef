//! `least_conn`: `ngx_http_upstream_get_least_conn_peer` in
//! src/http/modules/ngx_http_upstream_least_conn_module.c.
//!
//! The usable, untried peer with the fewest connections per unit of
//! weight wins (`conns * w' < conns' * w`, no division). When several tie,
//! smooth WRR chooses among them, starting from the first. A one-address
//! group is round robin; with nothing usable, the backup list is tried the
//! same way.

use std::time::Instant;

use super::round_robin::{self, PeerId, Tiers};
use super::selection::Selection;

/// `ngx_http_upstream_get_least_conn_peer`.
pub(crate) fn select(tiers: &mut Tiers, sel: &mut Selection, now: Instant) -> Option<PeerId> {
    for _ in 0..2 {
        let tier = tiers.tier_mut(sel.backup)?;
        if tier.single {
            return round_robin::select(tiers, sel, now);
        }
        let mut best: Option<usize> = None;
        let mut many = false;
        for (i, peer) in tier.peers.iter().enumerate() {
            if sel.tried.contains(i) || !peer.usable(now) {
                continue;
            }
            let Some(b) = best.map(|b| &tier.peers[b]) else {
                best = Some(i);
                continue;
            };
            let (mine, theirs) = ratio(peer.conns, peer.weight, b.conns, b.weight);
            if mine < theirs {
                best = Some(i);
                many = false;
            } else if mine == theirs {
                many = true;
            }
        }
        if let Some(first) = best {
            let index = if many {
                let (conns, weight) = (tier.peers[first].conns, tier.peers[first].weight);
                let tied = |i: usize, peer: &round_robin::Peer| {
                    let (mine, theirs) = ratio(peer.conns, peer.weight, conns, weight);
                    i >= first && mine == theirs
                };
                round_robin::smooth(tier, &sel.tried, now, tied).unwrap_or(first)
            } else {
                first
            };
            return Some(round_robin::take(tier, sel, index, now));
        }
        if !round_robin::to_backup(tiers, sel) {
            return None;
        }
    }
    None
}

/// `peer->conns * best->weight` against `best->conns * peer->weight`.
fn ratio(conns: u32, weight: i64, other_conns: u32, other_weight: i64) -> (i128, i128) {
    (
        i128::from(conns) * i128::from(other_weight),
        i128::from(other_conns) * i128::from(weight),
    )
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use crate::upstream::{
        Balancer, Outcome, PeerAddr, Peers, SelectInput, Selection, UpstreamConfig, UpstreamServer,
    };

    fn group(weights: &[u32]) -> Peers {
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
            balancer: Balancer::LeastConn,
            servers,
            ..UpstreamConfig::implicit("u", 80, Vec::new())
        })
    }

    fn open(peers: &mut Peers) -> (Selection, usize) {
        let input = SelectInput {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            hash_key: None,
        };
        let mut sel = peers.begin(&input);
        let id = peers.select(&mut sel, std::time::Instant::now());
        (sel, id.map_or(usize::MAX, |id| id.index()))
    }

    /// Without open connections every peer ties: plain smooth WRR.
    #[test]
    fn ties_are_round_robin() {
        let mut peers = group(&[5, 1, 1]);
        let now = std::time::Instant::now();
        let mut order = String::new();
        for _ in 0..7 {
            let (mut sel, i) = open(&mut peers);
            order.push(char::from(b'a' + i as u8));
            peers.free(&mut sel, Outcome::Ok, now);
        }
        assert_eq!(order, "aabacaa");
    }

    /// Open connections steer new ones away, in proportion to weight.
    #[test]
    fn fewest_connections_per_weight() {
        let mut peers = group(&[2, 1]);
        let mut held = Vec::new();
        let mut order = Vec::new();
        for _ in 0..6 {
            let (sel, i) = open(&mut peers);
            order.push(i);
            held.push(sel);
        }
        // 0/2 vs 0/1 tie -> WRR a; 1/2 vs 0/1 -> b; 1/2 vs 1/1 -> a;
        // 2/2 vs 1/1 tie -> WRR; ... never more than 2:1.
        assert_eq!(order[..3], [0, 1, 0]);
        let a = order.iter().filter(|&&i| i == 0).count();
        assert_eq!(a, 4);
        let now = std::time::Instant::now();
        for mut sel in held {
            peers.free(&mut sel, Outcome::Ok, now);
        }
        assert!(peers.iter().all(|(_, p)| p.conns() == 0));
    }
}
