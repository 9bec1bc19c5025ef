//! Routing benchmarks on the configuration of
//! `python3 ../shared/tools/gen_big_conf.py --servers 5000 --locations 6`
//! (30,000 locations, maps, upstreams, server name wildcards and regexes):
//!
//! - `compile`: `Runtime::compile` on the loaded tree (loading excluded);
//! - `lookup`: the tables alone per request: address:port entry,
//!   `ngx_http_find_virtual_server`, `ngx_http_core_find_location`;
//! - `process`: `Runtime::process` per request: target parsing and
//!   normalisation, Host validation, the lookups, the server-rewrite phase
//!   (the generated servers run an `if` on a regex map) and the location
//!   phases.
//!
//! Targets: compile under 0.5 s, lookup well under 1 µs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use upgate_conf::{Config, LoadOptions, load};
use upgate_runtime::location::find_location;
use upgate_runtime::server::find_virtual_server;
use upgate_runtime::server_name::validate_host;
use upgate_runtime::uri::RequestTarget;
use upgate_runtime::{ClientRequest, Header, Runtime};

const SERVERS: usize = 5000;

fn big_config() -> Config {
    let shared = std::env::var("UPGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let script = shared.join("tools/gen_big_conf.py");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("routing-big.conf");
    let status = Command::new("python3")
        .arg(&script)
        .args(["--servers", &SERVERS.to_string(), "--locations", "6", "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
    assert!(status.success(), "{} failed", script.display());
    let mut options = LoadOptions::new(&out);
    options.check_environment = false;
    let loaded = load(&options);
    assert!(loaded.error.is_none(), "big config: {:?}", loaded.error);
    loaded.config
}

/// (local address, Host, target) triples spread over the servers.
fn requests() -> Vec<(SocketAddr, String, String)> {
    let paths = [
        "/",
        "/ws1/chat",
        "/static/app.css",
        "/health3",
        "/api4/v2/users?id=7",
        "/files5/old/a.txt",
        "/some/deep/path/index.html",
    ];
    (0..1024)
        .map(|i| {
            let s = (i * 7919) % SERVERS;
            let local: SocketAddr = format!("127.0.0.1:{}", 8000 + s % 1000)
                .parse()
                .expect("addr");
            let host = match i % 4 {
                0 => format!("site{s}.example.com"),
                1 => format!("WWW.site{s}.example.com:{}", 8000 + s % 1000),
                2 => format!("x.wild{s}.example.net"),
                _ => format!("abc.re{s}.example.io"),
            };
            (local, host, paths[i % paths.len()].to_string())
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let config = big_config();
    let mut g = c.benchmark_group("routing");
    g.sample_size(10);
    g.bench_function("compile", |b| {
        b.iter(|| Runtime::compile(black_box(&config)).expect("compile"))
    });
    g.finish();

    let rt = Runtime::compile(&config).expect("compile");
    let reqs = requests();
    // Pre-normalised inputs for the table lookups alone.
    let prepared: Vec<(SocketAddr, Vec<u8>, Vec<u8>)> = reqs
        .iter()
        .map(|(local, host, target)| {
            let host = validate_host(host.as_bytes()).expect("host");
            let uri = RequestTarget::parse(target.as_bytes(), true)
                .expect("uri")
                .uri;
            (*local, host, uri)
        })
        .collect();
    let mut i = 0;
    c.bench_function("routing/lookup", |b| {
        b.iter(|| {
            let (local, host, uri) = &prepared[i % prepared.len()];
            i += 1;
            let addr = rt
                .listens
                .find(&(*local).into())
                .and_then(|a| rt.listens.get(a))
                .expect("listen");
            let (server, _, _) = find_virtual_server(addr, black_box(host));
            black_box(find_location(
                &rt.locations,
                rt.server(server).level,
                black_box(uri),
            ))
        })
    });
    let client: SocketAddr = "10.1.2.3:50000".parse().expect("addr");
    let mut j = 0;
    c.bench_function("routing/process", |b| {
        b.iter(|| {
            let (local, host, target) = &reqs[j % reqs.len()];
            j += 1;
            let mut req = ClientRequest::new(b"GET", target.as_bytes(), client, *local);
            req.headers = vec![
                Header {
                    name: b"Host",
                    value: host.as_bytes(),
                },
                Header {
                    name: b"User-Agent",
                    value: b"Mozilla/5.0",
                },
            ];
            let r = rt.process(black_box(&req));
            black_box(r.location);
        })
    });
}

criterion_group!(routing, benches);
criterion_main!(routing);
