//! The points of `hash KEY consistent`, computed exactly as nginx computes
//! them: `ngx_http_upstream_update_chash` (1.28; `ngx_http_upstream_init_chash`
//! in 1.22, same algorithm) and `ngx_http_upstream_find_chash_point` in
//! src/http/modules/ngx_http_upstream_hash_module.c.
//!
//! For every primary peer, the server text as written is split into host
//! and port (at the last ':' when only digits follow; `unix:PATH` has the
//! path as host and no port). `base = crc32(host "\0" port)`, kept
//! unfinalised; then `160 * weight` points, each the crc32 of base followed
//! by the previous point as 4 little-endian bytes (0 for the first). All
//! points are sorted and equal values dropped. Same text, same points: an
//! nginx and an upgate with the same `server` lines send a key to the same
//! server.

use crc32fast::Hasher;

use super::round_robin::Tier;

/// One point of the ring: a hash value and the server text it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KetamaPoint {
    pub hash: u32,
    /// Index into the group's distinct server texts ([`Ketama::text`]).
    pub text: usize,
}

/// The sorted, deduplicated points of a consistent-hash group.
#[derive(Debug, Clone, Default)]
pub struct Ketama {
    points: Vec<KetamaPoint>,
    texts: Vec<String>,
}

impl Ketama {
    /// Points for the peers of the primary list (each address of a server
    /// adds the same points again; deduplication keeps one).
    pub(crate) fn from_tier(tier: &Tier, texts: &[String]) -> Ketama {
        let weights = tier.peers.iter().map(|p| (p.text, p.weight.unsigned_abs()));
        Ketama::build(weights, texts)
    }

    /// Points for `(text index, weight)` pairs in config order.
    fn build(peers: impl Iterator<Item = (usize, u64)>, texts: &[String]) -> Ketama {
        let mut points = Vec::new();
        for (text, weight) in peers {
            let Some(server) = texts.get(text) else {
                continue;
            };
            let base = base_hash(server.as_bytes());
            let mut prev = 0u32;
            for _ in 0..160 * weight {
                let mut h = base.clone();
                h.update(&prev.to_le_bytes());
                prev = h.finalize();
                points.push(KetamaPoint { hash: prev, text });
            }
        }
        // nginx uses qsort; equal hashes from different servers are a 32-bit
        // collision, and a stable sort keeps the first in config order.
        points.sort_by_key(|p| p.hash);
        points.dedup_by_key(|p| p.hash);
        Ketama {
            points,
            texts: texts.to_vec(),
        }
    }

    /// Points for servers given as `(text, weight)`: what nginx computes for
    /// an upstream with these `server` lines (one address each).
    pub fn from_servers<'a>(servers: impl IntoIterator<Item = (&'a str, u32)>) -> Ketama {
        let mut texts: Vec<String> = Vec::new();
        let mut peers = Vec::new();
        for (text, weight) in servers {
            let i = texts.iter().position(|t| t == text).unwrap_or_else(|| {
                texts.push(text.to_string());
                texts.len() - 1
            });
            peers.push((i, u64::from(weight)));
        }
        Ketama::build(peers.into_iter(), &texts)
    }

    pub fn points(&self) -> &[KetamaPoint] {
        &self.points
    }

    /// The server text of a point.
    pub fn text(&self, point: &KetamaPoint) -> &str {
        self.texts.get(point.text).map_or("", String::as_str)
    }

    /// `ngx_http_upstream_find_chash_point`: index of the first point whose
    /// hash is >= `hash` (may equal the number of points: the caller takes
    /// it modulo the count, wrapping to the first point).
    pub fn find(&self, hash: u32) -> usize {
        self.points.partition_point(|p| p.hash < hash)
    }

    /// The server text a key goes to first, as nginx's `hash $k consistent`
    /// would pick it when every server is up.
    pub fn server_for(&self, key: &[u8]) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let i = self.find(crc32fast::hash(key)) % self.points.len();
        Some(self.text(&self.points[i]))
    }
}

/// crc32 state after `host "\0" port`, not finalised.
fn base_hash(server: &[u8]) -> Hasher {
    let (host, port) = split_server(server);
    let mut h = Hasher::new();
    h.update(host);
    h.update(&[0]);
    h.update(port);
    h
}

/// The host and port nginx hashes for a server text.
fn split_server(server: &[u8]) -> (&[u8], &[u8]) {
    if server.len() >= 5 && server[..5].eq_ignore_ascii_case(b"unix:") {
        return (&server[5..], b"");
    }
    for (j, &c) in server.iter().rev().enumerate() {
        if c == b':' {
            let colon = server.len() - j - 1;
            return (&server[..colon], &server[colon + 1..]);
        }
        if !c.is_ascii_digit() {
            break;
        }
    }
    (server, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_split() {
        assert_eq!(
            split_server(b"10.0.0.1:8080"),
            (&b"10.0.0.1"[..], &b"8080"[..])
        );
        assert_eq!(split_server(b"backend"), (&b"backend"[..], &b""[..]));
        assert_eq!(split_server(b"[::1]:81"), (&b"[::1]"[..], &b"81"[..]));
        assert_eq!(split_server(b"[::1]"), (&b"[::1]"[..], &b""[..]));
        assert_eq!(split_server(b"Unix:/tmp/s:1"), (&b"/tmp/s:1"[..], &b""[..]));
        assert_eq!(split_server(b"host:"), (&b"host"[..], &b""[..]));
        assert_eq!(split_server(b"a:b"), (&b"a:b"[..], &b""[..]));
    }

    /// The first point of "127.0.0.1:8080", computed by hand: crc32 of the
    /// bytes `127.0.0.1 \0 8080 00 00 00 00`; the second chains the first.
    #[test]
    fn points_chain_the_previous_hash() {
        let ring = Ketama::from_servers([("127.0.0.1:8080", 1)]);
        assert_eq!(ring.points().len(), 160);
        let first = crc32fast::hash(b"127.0.0.1\x008080\x00\x00\x00\x00");
        let mut second_input = b"127.0.0.1\x008080".to_vec();
        second_input.extend_from_slice(&first.to_le_bytes());
        let second = crc32fast::hash(&second_input);
        let hashes: Vec<u32> = ring.points().iter().map(|p| p.hash).collect();
        assert!(hashes.contains(&first) && hashes.contains(&second));
        assert!(hashes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn weight_and_duplicates() {
        let ring = Ketama::from_servers([("a:1", 2), ("b:1", 1), ("a:1", 1)]);
        // a's second line repeats its first 160 points; dedup keeps one.
        assert_eq!(ring.points().len(), 480);
        let a = ring
            .points()
            .iter()
            .filter(|p| ring.text(p) == "a:1")
            .count();
        assert_eq!(a, 320);
    }

    #[test]
    fn lookup_wraps_past_the_last_point() {
        let ring = Ketama::from_servers([("a:1", 1), ("b:2", 1)]);
        let last = ring.points().last().map(|p| p.hash).unwrap_or(0);
        assert_eq!(ring.find(last), ring.points().len() - 1);
        assert_eq!(ring.find(last.wrapping_add(1)), ring.points().len());
        assert_eq!(ring.find(0), 0);
    }
}
