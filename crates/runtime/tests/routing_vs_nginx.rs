//! Differential test of routing against the real nginx (Debian's 1.22 at
//! /usr/sbin/nginx; the test fails, never skips, without it).
//!
//! A seeded generator (`differential/gen.rs`) makes configurations with
//! random listens, server names, location trees and a map; every location
//! answers `return 200 "S|L|$m|$1"` (or proxies to a closed port: 502) and
//! adds `X-Loc: S|L|$m` to every response. One nginx runs per
//! configuration; each request goes to it over a raw TCP connection and
//! through `Runtime::process` (a library call); status, `X-Loc`, `Location`
//! and body must agree. Disagreements are bugs unless listed in
//! testdata/route/known.md (none are, at the time of writing).
//!
//! `UPGATE_DIFF_CONFIGS` and `UPGATE_DIFF_REQUESTS` change the size
//! (defaults 60 x 200), `UPGATE_DIFF_SEED` the seed; `UPGATE_DIFF_KEEP=1`
//! prints every configuration with a disagreement.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod differential;

use std::net::SocketAddr;
use std::time::Instant;

use differential::generate::{Req, Rng, case};
use differential::nginx::{Nginx, Reply, free_ports, main_conf, require_nginx, send};
use upgate_conf::{LoadOptions, load};
use upgate_runtime::{ClientRequest, ClientVersion, Header, Outcome, Runtime};

const SEED: u64 = 0x5eed_0f70_7e50_0001;

/// What a response is compared on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: u16,
    x_loc: Option<String>,
    location: Option<String>,
    body: Option<String>,
}

fn from_reply(r: &Reply) -> Seen {
    Seen {
        status: r.status,
        x_loc: r.header("X-Loc").map(str::to_string),
        location: r.header("Location").map(str::to_string),
        body: (r.status == 200).then(|| String::from_utf8_lossy(&r.body).into_owned()),
    }
}

fn predict(rt: &Runtime, req: &Req) -> Option<Seen> {
    let client: SocketAddr = "127.0.0.1:40000".parse().ok()?;
    let mut headers: Vec<Header<'_>> = req
        .headers
        .iter()
        .map(|(n, v)| Header {
            name: n.as_bytes(),
            value: v.as_bytes(),
        })
        .collect();
    headers.push(Header {
        name: b"Connection",
        value: b"close",
    });
    let mut c = ClientRequest::new(
        req.method.as_bytes(),
        req.target.as_bytes(),
        client,
        req.local,
    );
    c.headers = headers;
    c.version = if req.http10 {
        ClientVersion::Http10
    } else {
        ClientVersion::Http11
    };
    let mut r = rt.process(&c);
    let (status, location, body) = match r.outcome.clone() {
        Outcome::NoListener => return None,
        Outcome::Respond(resp) => (
            resp.status,
            resp.location.map(|l| r.absolute_location(&l)),
            resp.body,
        ),
        Outcome::Proxy => (502, None, Vec::new()),
        Outcome::Static => (404, None, Vec::new()),
        // the generated configurations have no limits and no auth_request
        Outcome::Delay(_) | Outcome::AuthRequest(_) | Outcome::StubStatus => return None,
    };
    let x_loc = r
        .add_headers(status)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"x-loc"))
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned());
    Some(Seen {
        status,
        x_loc,
        location: location.map(|l| String::from_utf8_lossy(&l).into_owned()),
        body: (status == 200).then(|| String::from_utf8_lossy(&body).into_owned()),
    })
}

/// Compares what both sides can be compared on: for nginx's own 400s the
/// status only (which server's level adds the header depends on how far
/// nginx got).
fn agree(nginx: &Option<Seen>, ours: &Option<Seen>) -> bool {
    match (nginx, ours) {
        (Some(n), Some(o)) if n.status == 400 && o.status == 400 => true,
        (n, o) => n == o,
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn routing_agrees_with_nginx() {
    require_nginx();
    let configs = env_usize("UPGATE_DIFF_CONFIGS", 60);
    let per_config = env_usize("UPGATE_DIFF_REQUESTS", 200);
    let keep = std::env::var("UPGATE_DIFF_KEEP").is_ok();
    let root = std::env::temp_dir().join(format!("upgate-route-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let started = Instant::now();
    let seed = std::env::var("UPGATE_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng(seed);
    let (mut total, mut agreed) = (0usize, 0usize);
    let mut report = String::new();
    let mut statuses: std::collections::BTreeMap<String, usize> = Default::default();
    for i in 0..configs {
        // Other processes may take a port between free_ports() and nginx's
        // bind: retry the same configuration on fresh ports.
        let state = rng.clone();
        let mut attempt = 0;
        let (case, prefix, conf, nginx) = loop {
            rng = state.clone();
            let ports = free_ports(3);
            let case = case(&mut rng, [ports[0], ports[1], ports[2]], per_config);
            let prefix = root.join(format!("c{i}-{attempt}"));
            let conf = main_conf(&prefix, &case.http_body);
            match Nginx::start(&prefix, &conf, case.probe) {
                Ok(n) => break (case, prefix, conf, n),
                Err(e) if attempt >= 3 => panic!("config {i}: {e}\n{conf}"),
                Err(_) => attempt += 1,
            }
        };
        let mut options = LoadOptions::new(prefix.join("conf/nginx.conf"));
        options.prefix = prefix.clone();
        options.check_environment = false;
        let loaded = load(&options);
        assert!(
            loaded.error.is_none(),
            "config {i}: upgate refuses it: {:?}\n{conf}",
            loaded.error
        );
        let rt =
            Runtime::compile(&loaded.config).unwrap_or_else(|e| panic!("config {i}: {e}\n{conf}"));
        let mut bad_here = 0;
        for req in &case.requests {
            let ours = predict(&rt, req);
            let mut theirs = send(req.local, &req.raw()).map(|r| from_reply(&r));
            if ours.is_some() && theirs.as_ref().is_none_or(|t| t.status == 0) {
                // other tests share this machine's ports: ask once more
                std::thread::sleep(std::time::Duration::from_millis(50));
                theirs = send(req.local, &req.raw()).map(|r| from_reply(&r));
            }
            let key = match &theirs {
                Some(s)
                    if s.status == 200 && s.body.as_deref().is_some_and(|b| b.ends_with('|')) =>
                {
                    "200".to_string()
                }
                Some(s) if s.status == 200 => "200+capture".to_string(),
                Some(s) => s.status.to_string(),
                None => "refused".to_string(),
            };
            *statuses.entry(key.clone()).or_default() += 1;
            if key == "400" && std::env::var("DBG400").is_ok() {
                eprintln!(
                    "400: {}",
                    String::from_utf8_lossy(&req.raw()).replace("\r\n", " | ")
                );
            }
            total += 1;
            if agree(&theirs, &ours) {
                agreed += 1;
                continue;
            }
            bad_here += 1;
            if report.len() < 20_000 {
                report.push_str(&format!(
                    "config {i}, {} on {}:\n  nginx: {theirs:?}\n  ours:  {ours:?}\n",
                    String::from_utf8_lossy(&req.raw()).replace("\r\n", " | "),
                    req.local
                ));
            }
        }
        if bad_here > 0 && keep {
            report.push_str(&format!("--- config {i}:\n{conf}\n"));
        }
        drop(nginx);
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!(
        "routing differential: {agreed}/{total} request/config pairs agree ({configs} configs, {:.1}s); nginx answered {statuses:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(total >= configs * per_config);
    assert_eq!(agreed, total, "disagreements:\n{report}");
}
