//! Cost of one balancer decision (`Peers::begin` + `select` + `free`) for
//! each method over ten servers, and of building a consistent-hash ring
//! (ngx_http_upstream_update_chash's work, done once per configuration).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use upgate_runtime::upstream::{
    Balancer, Ketama, Outcome, PeerAddr, Peers, SelectInput, UpstreamConfig, UpstreamServer,
};

fn group(balancer: Balancer) -> UpstreamConfig {
    let servers = (0..10u8)
        .map(|i| UpstreamServer {
            text: format!("10.0.0.{i}:8080"),
            addrs: vec![PeerAddr::Inet(SocketAddr::from(([10, 0, 0, i], 8080)))],
            weight: u32::from(i % 3) + 1,
            ..UpstreamServer::default()
        })
        .collect();
    UpstreamConfig {
        servers,
        balancer,
        ..UpstreamConfig::implicit("bench", 8080, Vec::new())
    }
}

fn decisions(c: &mut Criterion) {
    let hash = |consistent| Balancer::Hash {
        key: "$arg_k".into(),
        consistent,
    };
    let methods = [
        ("round_robin", Balancer::RoundRobin),
        ("ip_hash", Balancer::IpHash),
        ("hash", hash(false)),
        ("hash_consistent", hash(true)),
        ("least_conn", Balancer::LeastConn),
        ("random", Balancer::Random { two: false }),
    ];
    let now = Instant::now();
    for (name, balancer) in methods {
        let mut peers = Peers::new(&group(balancer));
        let mut n = 0u32;
        c.bench_function(&format!("upstream/{name}"), |b| {
            b.iter(|| {
                n = n.wrapping_add(1);
                let key = n.to_le_bytes();
                let input = SelectInput {
                    client: IpAddr::V4(Ipv4Addr::from(n)),
                    hash_key: Some(&key),
                };
                let mut sel = peers.begin(&input);
                let peer = peers.select(&mut sel, now);
                peers.free(&mut sel, Outcome::Ok, now);
                black_box(peer)
            })
        });
    }
}

fn ring(c: &mut Criterion) {
    let texts: Vec<String> = (0..10).map(|i| format!("10.0.0.{i}:8080")).collect();
    c.bench_function("upstream/ketama_build_10", |b| {
        b.iter(|| Ketama::from_servers(texts.iter().map(|t| (t.as_str(), 1))))
    });
}

criterion_group!(benches, decisions, ring);
criterion_main!(benches);
