//! Round robin, failures, backup, down, max_conns and the single-peer rule,
//! each checked against what ngx_http_upstream_round_robin.c does.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::upstream::testing::compile;
use crate::upstream::{Outcome, PeerId, Peers, SelectInput, Selection};

fn peers(text: &str) -> Peers {
    Peers::new(&compile(text))
}

fn begin(peers: &Peers) -> Selection {
    peers.begin(&SelectInput {
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        hash_key: None,
    })
}

/// One whole request that succeeds at once: the letter of the peer
/// (a, b, c... in primary order; backups are upper case).
fn one(peers: &mut Peers, now: Instant) -> char {
    let mut sel = begin(peers);
    let Some(id) = peers.select(&mut sel, now) else {
        return '-';
    };
    peers.free(&mut sel, Outcome::Ok, now);
    letter(id)
}

fn letter(id: PeerId) -> char {
    let base = if id.is_backup() { b'A' } else { b'a' };
    char::from(base + id.index() as u8)
}

fn sequence(peers: &mut Peers, n: usize, now: Instant) -> String {
    (0..n).map(|_| one(peers, now)).collect()
}

#[test]
fn smooth_wrr_5_1_1() {
    let mut p = peers("upstream u { server 10.0.0.1 weight=5; server 10.0.0.2; server 10.0.0.3; }");
    assert_eq!(sequence(&mut p, 14, Instant::now()), "aabacaaaabacaa");
}

#[test]
fn smooth_wrr_equal_and_2_1() {
    let mut p = peers("upstream u { server 10.0.0.1; server 10.0.0.2; server 10.0.0.3; }");
    assert_eq!(sequence(&mut p, 6, Instant::now()), "abcabc");
    let mut p = peers("upstream u { server 10.0.0.1 weight=2; server 10.0.0.2; }");
    assert_eq!(sequence(&mut p, 6, Instant::now()), "abaaba");
}

/// A failed peer is skipped for fail_timeout, then tried again; a success
/// after that re-check clears its failures.
#[test]
fn max_fails_and_fail_timeout() {
    let mut p = peers("upstream u { server 10.0.0.1 fail_timeout=10s; server 10.0.0.2; }");
    let t0 = Instant::now();
    let mut sel = begin(&p);
    assert_eq!(sel.tries(), 2);
    let first = p.select(&mut sel, t0).map(letter);
    assert_eq!(first, Some('a'));
    p.free(&mut sel, Outcome::Failed, t0);
    assert_eq!(sel.tries(), 1);
    // The same request goes on to b.
    assert_eq!(p.select(&mut sel, t0).map(letter), Some('b'));
    p.free(&mut sel, Outcome::Ok, t0);
    // New requests avoid a for 10 s ...
    assert_eq!(sequence(&mut p, 4, t0 + Duration::from_secs(10)), "bbbb");
    // ... and try it again after.
    // a's effective weight fell to 0 and comes back one unit per pass.
    let later = t0 + Duration::from_millis(10_001);
    assert_eq!(sequence(&mut p, 3, later), "bba");
    let a = p.iter().map(|(_, peer)| peer.fails()).next();
    assert_eq!(a, Some(0));
}

/// A failure costs weight / max_fails of effective weight, won back one
/// unit per selection pass.
#[test]
fn failure_lowers_effective_weight() {
    let mut p = peers("upstream u { server 10.0.0.1 weight=4 max_fails=2; server 10.0.0.2; }");
    let now = Instant::now();
    let mut sel = begin(&p);
    let a = p.select(&mut sel, now);
    p.free(&mut sel, Outcome::Failed, now);
    let peer = a.map(|id| p.peer(id).effective_weight());
    assert_eq!(peer, Some(2));
    assert!(!p.iter().any(|(_, peer)| peer.is_failed(now)));
    one(&mut p, now);
    one(&mut p, now);
    let restored = a.map(|id| p.peer(id).effective_weight());
    assert_eq!(restored, Some(4));
}

#[test]
fn max_fails_zero_never_disables() {
    let mut p = peers("upstream u { server 10.0.0.1 max_fails=0; server 10.0.0.2; }");
    let now = Instant::now();
    for _ in 0..5 {
        let mut sel = begin(&p);
        if p.select(&mut sel, now).map(letter) == Some('a') {
            p.free(&mut sel, Outcome::Failed, now);
        } else {
            p.free(&mut sel, Outcome::Ok, now);
        }
    }
    assert_eq!(sequence(&mut p, 2, now), "ba");
}

#[test]
fn backup_only_when_primaries_unusable() {
    let mut p = peers(
        "upstream u { server 10.0.0.1; server 10.0.0.2; server 10.0.0.3 backup; server 10.0.0.4 backup; }",
    );
    let now = Instant::now();
    assert_eq!(sequence(&mut p, 4, now), "abab");
    let mut sel = begin(&p);
    assert_eq!(sel.tries(), 4);
    let mut got = String::new();
    while let Some(id) = p.select(&mut sel, now) {
        got.push(letter(id));
        if id.is_backup() {
            p.free(&mut sel, Outcome::Ok, now);
            break;
        }
        p.free(&mut sel, Outcome::Failed, now);
    }
    assert_eq!(got, "abA");
    assert!(sel.on_backup());
    assert_eq!(sel.tries(), 1);
    // Primaries failed: new requests go straight to the backups.
    assert_eq!(sequence(&mut p, 2, now), "BA");
}

#[test]
fn down_is_never_chosen_and_not_counted_in_tries() {
    let mut p = peers("upstream u { server 10.0.0.1 down; server 10.0.0.2; server 10.0.0.3; }");
    let sel = begin(&p);
    assert_eq!(sel.tries(), 2);
    assert_eq!(sequence(&mut p, 4, Instant::now()), "bcbc");
    let mut p = peers("upstream u { server 10.0.0.1 down; server 10.0.0.2 down; }");
    assert_eq!(sequence(&mut p, 1, Instant::now()), "-");
}

#[test]
fn max_conns_caps_open_attempts() {
    let mut p = peers("upstream u { server 10.0.0.1 max_conns=1; server 10.0.0.2 weight=9; }");
    let now = Instant::now();
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut sel = begin(&p);
        let _ = p.select(&mut sel, now);
        held.push(sel);
    }
    let conns: Vec<u32> = p.iter().map(|(_, peer)| peer.conns()).collect();
    assert_eq!(conns, [1, 9]);
    for sel in &mut held {
        p.free(sel, Outcome::Ok, now);
    }
    assert!(p.iter().all(|(_, peer)| peer.conns() == 0));
}

/// NGINX-BEHAVIOUR 16: one address and no backup: failures are not
/// counted and the request is not retried; a down one gives no peer.
#[test]
fn single_peer() {
    let mut p = peers("upstream u { server 10.0.0.1 max_fails=1; }");
    let now = Instant::now();
    let mut sel = begin(&p);
    assert_eq!(sel.tries(), 1);
    for _ in 0..3 {
        assert!(p.select(&mut sel, now).is_some());
        p.free(&mut sel, Outcome::Failed, now);
        assert_eq!(sel.tries(), 0);
    }
    assert!(
        p.iter()
            .all(|(_, peer)| peer.fails() == 0 && peer.conns() == 0)
    );
    let mut p = peers("upstream u { server 10.0.0.1 down; }");
    assert_eq!(sequence(&mut p, 1, now), "-");
    // A name with two addresses is two peers: not single.
    let mut p = peers("upstream u { server backend:8080; }");
    let mut sel = begin(&p);
    assert_eq!(sel.tries(), 2);
    let _ = p.select(&mut sel, now);
    p.free(&mut sel, Outcome::Failed, now);
    assert_eq!(sel.tries(), 1);
    // One primary plus a backup is not single either.
    let p = peers("upstream u { server 10.0.0.1; server 10.0.0.2 backup; }");
    assert_eq!(begin(&p).tries(), 2);
}

#[test]
fn tries_limit_and_refund() {
    let p = peers("upstream u { server 10.0.0.1; server 10.0.0.2; server 10.0.0.3; }");
    let mut sel = begin(&p);
    sel.limit_tries(2);
    assert_eq!(sel.tries(), 2);
    sel.limit_tries(0);
    assert_eq!(sel.tries(), 2);
    sel.add_try();
    assert_eq!(sel.tries(), 3);
}

/// `free` without a current peer, or twice, changes nothing.
#[test]
fn free_is_idempotent() {
    let mut p = peers("upstream u { server 10.0.0.1; server 10.0.0.2; }");
    let now = Instant::now();
    let mut sel = begin(&p);
    p.free(&mut sel, Outcome::Failed, now);
    assert_eq!(sel.tries(), 2);
    let _ = p.select(&mut sel, now);
    p.free(&mut sel, Outcome::Failed, now);
    p.free(&mut sel, Outcome::Failed, now);
    assert_eq!(sel.tries(), 1);
    assert_eq!(p.iter().map(|(_, peer)| peer.fails()).sum::<u32>(), 1);
}
