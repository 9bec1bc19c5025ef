//! `hash` and `hash consistent`, with values worked out from
//! ngx_http_upstream_hash_module.c's formulas.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use crate::upstream::testing::compile;
use crate::upstream::{Ketama, Outcome, Peers, SelectInput, Selection};

fn peers(text: &str) -> Peers {
    Peers::new(&compile(text))
}

fn begin(peers: &Peers, key: &[u8]) -> Selection {
    peers.begin(&SelectInput {
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        hash_key: Some(key),
    })
}

/// The server text a request with `key` gets first.
fn first(peers: &mut Peers, key: &[u8]) -> Option<usize> {
    let now = Instant::now();
    let mut sel = begin(peers, key);
    let id = peers.select(&mut sel, now)?;
    peers.free(&mut sel, Outcome::Ok, now);
    Some(peers.peer(id).server())
}

/// The Cache::Memcached step for try `t`.
fn part(t: u32, key: &str) -> u32 {
    let text = if t == 0 {
        key.to_string()
    } else {
        format!("{t}{key}")
    };
    (crc32fast::hash(text.as_bytes()) >> 16) & 0x7fff
}

/// crc32("a") = 0xe8b7be43; (>> 16) & 0x7fff = 0x68b7 = 26807;
/// 26807 % 3 = 2: the third server.
#[test]
fn hash_by_hand() {
    assert_eq!(crc32fast::hash(b"a"), 0xe8b7_be43);
    assert_eq!(part(0, "a"), 26807);
    let mut p =
        peers("upstream u { hash $arg_k; server 10.0.0.1; server 10.0.0.2; server 10.0.0.3; }");
    assert_eq!(first(&mut p, b"a"), Some(2));
    // Weights 1,1,5 (total 7): 26807 % 7 = 4, inside the third's 2..7.
    let mut p = peers(
        "upstream u { hash $arg_k; server 10.0.0.1; server 10.0.0.2; server 10.0.0.3 weight=5; }",
    );
    assert_eq!(26807 % 7, 4);
    assert_eq!(first(&mut p, b"a"), Some(2));
}

/// A down server: the sum grows by crc32("1" key)'s part, then "2" key...
#[test]
fn hash_rehashes_past_down_servers() {
    let mut p = peers(
        "upstream u { hash $arg_k; server 10.0.0.1; server 10.0.0.2; server 10.0.0.3 down; }",
    );
    let mut sum = part(0, "a");
    let mut t = 1;
    while sum % 3 == 2 {
        sum += part(t, "a");
        t += 1;
    }
    assert_eq!(first(&mut p, b"a"), Some((sum % 3) as usize));
}

/// A retry within the request continues the same sum.
#[test]
fn hash_retry_continues_the_sum() {
    let mut p =
        peers("upstream u { hash $arg_k; server 10.0.0.1; server 10.0.0.2; server 10.0.0.3; }");
    let now = Instant::now();
    let mut sel = begin(&p, b"a");
    let one = p.select(&mut sel, now).map(|id| id.index());
    p.free(&mut sel, Outcome::Failed, now);
    let two = p.select(&mut sel, now).map(|id| id.index());
    let mut sum = part(0, "a") + part(1, "a");
    let mut t = 2;
    while sum % 3 == 2 {
        sum += part(t, "a");
        t += 1;
    }
    assert_eq!(one, Some(2));
    assert_eq!(two, Some((sum % 3) as usize));
}

/// No key, or a one-server group: round robin.
#[test]
fn hash_without_key_is_round_robin() {
    let mut p = peers("upstream u { hash $arg_k; server 10.0.0.1; server 10.0.0.2; }");
    let picks: Vec<_> = (0..4).map(|_| first(&mut p, b"")).collect();
    assert_eq!(picks, [Some(0), Some(1), Some(0), Some(1)]);
}

/// Every server unusable: 20 misses, then round robin, which finds none.
#[test]
fn hash_gives_up_after_twenty() {
    let mut p = peers(
        "upstream u { hash $arg_k; server 10.0.0.1 down; server 10.0.0.2 down; server 10.0.0.3 down; }",
    );
    let mut sel = begin(&p, b"k");
    assert_eq!(p.select(&mut sel, Instant::now()), None);
    assert_eq!(sel.balancer_tries, 21);
}

const CHASH: &str = "upstream u { hash $arg_k consistent; \
    server 10.0.0.1:80; server 10.0.0.2:80 weight=2; server 10.0.0.3:80; server 10.0.0.4:80; }";

#[test]
fn consistent_follows_the_ring() {
    let mut p = peers(CHASH);
    let ring = Ketama::from_servers([
        ("10.0.0.1:80", 1),
        ("10.0.0.2:80", 2),
        ("10.0.0.3:80", 1),
        ("10.0.0.4:80", 1),
    ]);
    let config = compile(CHASH);
    for i in 0..500 {
        let key = format!("key{i}");
        let got = first(&mut p, key.as_bytes()).map(|s| config.servers[s].text.as_str());
        assert_eq!(got, ring.server_for(key.as_bytes()), "{key}");
    }
}

/// Removing a server moves only its keys; marking it down moves them to
/// the same servers (the next points on the ring).
#[test]
fn consistent_moves_only_the_removed_servers_keys() {
    let mut all = peers(CHASH);
    let mut without = peers(
        "upstream u { hash $arg_k consistent; \
         server 10.0.0.1:80; server 10.0.0.2:80 weight=2; server 10.0.0.4:80; }",
    );
    let mut down = peers(
        "upstream u { hash $arg_k consistent; \
         server 10.0.0.1:80; server 10.0.0.2:80 weight=2; server 10.0.0.3:80 down; server 10.0.0.4:80; }",
    );
    let text = |p: &Peers, s: Option<usize>| s.map(|s| p.iter().count() + s);
    let _ = text;
    let mut moved = 0;
    for i in 0..2000 {
        let key = format!("k{i}");
        let before = first(&mut all, key.as_bytes());
        let after = first(&mut without, key.as_bytes());
        let downed = first(&mut down, key.as_bytes());
        // Server indexes differ between the groups: compare texts via index.
        let before_text = before.map(|s| ["1", "2", "3", "4"][s]);
        let after_text = after.map(|s| ["1", "2", "4"][s]);
        let down_text = downed.map(|s| ["1", "2", "3", "4"][s]);
        if before_text == Some("3") {
            moved += 1;
            assert_eq!(after_text, down_text, "{key}");
        } else {
            assert_eq!(before_text, after_text, "{key}");
            assert_eq!(before_text, down_text, "{key}");
        }
    }
    assert!(moved > 200, "{moved}");
}

/// A name with two addresses: its points chosen, smooth WRR between them.
#[test]
fn consistent_shares_a_name_between_addresses() {
    let mut p =
        peers("upstream u { hash $arg_k consistent; server backend:80; server 10.0.0.9:80; }");
    let ring = Ketama::from_servers([("backend:80", 1), ("10.0.0.9:80", 1)]);
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| ring.server_for(k.as_bytes()) == Some("backend:80"));
    let Some(key) = key else {
        panic!("no key for backend");
    };
    let now = Instant::now();
    let mut addrs = Vec::new();
    for _ in 0..4 {
        let mut sel = begin(&p, key.as_bytes());
        if let Some(id) = p.select(&mut sel, now) {
            addrs.push(id.index());
        }
        p.free(&mut sel, Outcome::Ok, now);
    }
    assert_eq!(addrs, [0, 1, 0, 1]);
}
