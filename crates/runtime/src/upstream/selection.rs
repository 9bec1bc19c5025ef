//! A request's own balancer state: nginx's per-request peer data
//! (`ngx_http_upstream_rr_peer_data_t` with its `tried` bitmap, the
//! `pc->tries` counter of src/event/ngx_event_connect.h, and the hash
//! modules' `hash`/`rehash`/`tries` fields).

use std::net::IpAddr;

use super::ketama::Ketama;
use super::round_robin::PeerId;

/// One request's progress through a group: which peers it has tried, how
/// many tries are left, which list it is on, and how far its hash got.
/// Made by [`Peers::begin`](super::Peers::begin); use it only with the
/// `Peers` that made it.
#[derive(Debug, Clone)]
pub struct Selection {
    pub(crate) backup: bool,
    pub(crate) tried: Tried,
    pub(crate) current: Option<PeerId>,
    pub(crate) tries: u32,
    /// The balancer's own try counter: after 20 misses it falls back to
    /// round robin.
    pub(crate) balancer_tries: u32,
    pub(crate) hash: HashState,
}

/// Per-request data of the hashing balancers.
#[derive(Debug, Clone)]
pub(crate) enum HashState {
    None,
    /// ip_hash: the address bytes and the running hash (starts at 89).
    Ip {
        addr: [u8; 16],
        len: u8,
        hash: u32,
    },
    /// hash: the key, the next rehash number, the running sum.
    Key {
        key: Box<[u8]>,
        rehash: u32,
        hash: u32,
    },
    /// hash consistent: is there a key, and the point index.
    Point {
        has_key: bool,
        point: usize,
    },
}

impl Selection {
    pub(crate) fn new(tries: u32) -> Selection {
        Selection {
            backup: false,
            tried: Tried::default(),
            current: None,
            tries,
            balancer_tries: 0,
            hash: HashState::None,
        }
    }

    /// `ngx_http_upstream_init_ip_hash_peer`.
    pub(crate) fn ip_hash(tries: u32, client: IpAddr) -> Selection {
        let mut addr = [0u8; 16];
        let len = match client {
            IpAddr::V4(v4) => {
                addr[..3].copy_from_slice(&v4.octets()[..3]);
                3
            }
            IpAddr::V6(v6) => {
                addr = v6.octets();
                16
            }
        };
        Selection {
            hash: HashState::Ip {
                addr,
                len,
                hash: 89,
            },
            ..Selection::new(tries)
        }
    }

    /// `ngx_http_upstream_init_hash_peer`.
    pub(crate) fn hash(tries: u32, key: &[u8]) -> Selection {
        Selection {
            hash: HashState::Key {
                key: key.into(),
                rehash: 0,
                hash: 0,
            },
            ..Selection::new(tries)
        }
    }

    /// `ngx_http_upstream_init_chash_peer`: the first point at or after
    /// crc32(key).
    pub(crate) fn chash(tries: u32, points: &Ketama, key: &[u8]) -> Selection {
        Selection {
            hash: HashState::Point {
                has_key: !key.is_empty(),
                point: points.find(crc32fast::hash(key)),
            },
            ..Selection::new(tries)
        }
    }

    /// Attempts left (nginx's `u->peer.tries`): when a failed attempt leaves
    /// 0, nginx answers with that failure's status (502/504) instead of
    /// trying the next peer.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Applies `proxy_next_upstream_tries N` (0 means no limit), as
    /// `ngx_http_upstream_init_request` does after `peer.init`.
    pub fn limit_tries(&mut self, max: u32) {
        if max != 0 && self.tries > max {
            self.tries = max;
        }
    }

    /// Gives back one try: nginx does so when a cached keepalive connection
    /// fails with an error (`if (u->peer.cached && ft_type == ERROR) tries++`).
    pub fn add_try(&mut self) {
        self.tries += 1;
    }

    /// The peer of the attempt in progress, if any.
    pub fn current(&self) -> Option<PeerId> {
        self.current
    }

    /// The request moved to the backup servers.
    pub fn on_backup(&self) -> bool {
        self.backup
    }
}

/// nginx's `tried` bitmap: one bit per peer of the current list, inline up
/// to 64 peers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tried {
    low: u64,
    high: Vec<u64>,
}

impl Tried {
    pub(crate) fn contains(&self, i: usize) -> bool {
        let word = if i < 64 {
            self.low
        } else {
            self.high.get(i / 64 - 1).copied().unwrap_or(0)
        };
        word & (1 << (i % 64)) != 0
    }

    pub(crate) fn insert(&mut self, i: usize) {
        if i < 64 {
            self.low |= 1 << i;
            return;
        }
        let word = i / 64 - 1;
        if self.high.len() <= word {
            self.high.resize(word + 1, 0);
        }
        self.high[word] |= 1 << (i % 64);
    }

    pub(crate) fn clear(&mut self) {
        self.low = 0;
        self.high.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tried_bits_beyond_64() {
        let mut t = Tried::default();
        for i in [0, 5, 63, 64, 130] {
            assert!(!t.contains(i));
            t.insert(i);
            assert!(t.contains(i));
        }
        assert!(!t.contains(129));
        t.clear();
        assert!(!t.contains(130) && !t.contains(5));
    }
}
