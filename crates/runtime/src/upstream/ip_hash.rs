//! `ip_hash`: `ngx_http_upstream_init_ip_hash_peer` and
//! `ngx_http_upstream_get_ip_hash_peer` in
//! src/http/modules/ngx_http_upstream_ip_hash_module.c.
//!
//! The hash starts at 89; each round feeds the client's address bytes
//! (IPv4: the first three, so a /24 shares a server; IPv6: all sixteen)
//! through `h = (h * 113 + byte) % 6271`, and the peer is `h % total_weight`
//! laid over the weights in config order. A tried, down, failed or full
//! peer costs one round more, the bytes fed again into the running hash;
//! after 20 misses, or with fewer than two peers, round robin decides.
//! The hash reached is kept for the request's next attempt.

use std::time::Instant;

use super::hash::MAX_TRIES;
use super::round_robin::{self, PeerId, Tiers};
use super::selection::{HashState, Selection};

/// `ngx_http_upstream_get_ip_hash_peer`.
pub(crate) fn select(tiers: &mut Tiers, sel: &mut Selection, now: Instant) -> Option<PeerId> {
    let tier = tiers.tier_mut(sel.backup)?;
    let HashState::Ip { addr, len, hash } = &mut sel.hash else {
        return round_robin::select(tiers, sel, now);
    };
    if sel.balancer_tries > MAX_TRIES || tier.peers.len() < 2 || tier.total_weight == 0 {
        return round_robin::select(tiers, sel, now);
    }
    let mut h = *hash;
    let index = loop {
        h = rounds(h, &addr[..usize::from(*len)]);
        let p = tier.by_weight(u64::from(h) % tier.total_weight);
        if !sel.tried.contains(p) && tier.peers[p].usable(now) {
            break p;
        }
        sel.balancer_tries += 1;
        if sel.balancer_tries > MAX_TRIES {
            return round_robin::select(tiers, sel, now);
        }
    };
    *hash = h;
    Some(round_robin::take(tier, sel, index, now))
}

/// One round of nginx's ip hash over the address bytes.
pub(crate) fn rounds(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h = (h * 113 + u32::from(b)) % 6271;
    }
    h
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::upstream::{PeerAddr, Peers, SelectInput, UpstreamConfig, UpstreamServer};

    fn group(weights: &[u32]) -> UpstreamConfig {
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
        UpstreamConfig {
            balancer: crate::upstream::Balancer::IpHash,
            servers,
            ..UpstreamConfig::implicit("u", 80, Vec::new())
        }
    }

    fn pick(peers: &mut Peers, client: &str) -> Option<usize> {
        let client: IpAddr = client.parse().ok()?;
        let mut sel = peers.begin(&SelectInput {
            client,
            hash_key: None,
        });
        let id = peers.select(&mut sel, Instant::now())?;
        Some(id.index())
    }

    /// 192.168.1.77, by hand: h = 89;
    /// (89*113+192) % 6271 = 10249 % 6271 = 3978;
    /// (3978*113+168) % 6271 = 449682 % 6271 = 4441;
    /// (4441*113+1) % 6271 = 501834 % 6271 = 154. 154 % 3 = 1.
    #[test]
    fn ipv4_uses_three_bytes() {
        assert_eq!(rounds(89, &[192, 168, 1]), 154);
        let mut peers = Peers::new(&group(&[1, 1, 1]));
        assert_eq!(pick(&mut peers, "192.168.1.77"), Some(1));
        assert_eq!(pick(&mut peers, "192.168.1.200"), Some(1));
    }

    /// Weights 1,2,1,1 (total 5): 154 % 5 = 4 -> 0 | 1 1 | 2 | 3: peer 3.
    #[test]
    fn weights_lay_out_in_order() {
        let mut peers = Peers::new(&group(&[1, 2, 1, 1]));
        assert_eq!(pick(&mut peers, "192.168.1.9"), Some(3));
    }

    /// ::1, by hand: fifteen zero bytes then 1, from 89.
    #[test]
    fn ipv6_uses_sixteen_bytes() {
        let mut bytes = [0u8; 16];
        bytes[15] = 1;
        let h = rounds(89, &bytes);
        let mut by_hand = 89u32;
        for b in bytes {
            by_hand = (by_hand * 113 + u32::from(b)) % 6271;
        }
        assert_eq!(h, by_hand);
        let mut peers = Peers::new(&group(&[1, 1, 1, 1, 1, 1, 1]));
        assert_eq!(pick(&mut peers, "::1"), Some((h % 7) as usize));
    }

    /// A down peer costs another round with the same bytes from the
    /// running hash: from 154, the bytes 192 168 1 again, by hand:
    /// (154*113+192) % 6271 = 5052; (5052*113+168) % 6271 = 383;
    /// (383*113+1) % 6271 = 5654; 5654 % 3 = 2.
    #[test]
    fn down_peer_rehashes() {
        let mut config = group(&[1, 1, 1]);
        config.servers[1].down = true;
        let mut peers = Peers::new(&config);
        assert_eq!(rounds(154, &[192, 168, 1]), 5654);
        assert_eq!(pick(&mut peers, "192.168.1.77"), Some(2));
    }
}
