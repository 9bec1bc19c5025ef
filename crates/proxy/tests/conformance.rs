//! The differential conformance harness: one config (every location kind
//! the engine serves) run by nginx and then by upgate on the same port, the
//! same generated client traffic sent to each, and for every case the exact
//! bytes the upstream received and the status line, headers (Date aside)
//! and body the client saw compared; upgate announces itself as the nginx
//! it is compared with (`Tables::announce_as`), so Server lines and error
//! pages are compared too. Prints `conformance: N/N`.
//!
//! `cargo xtask conformance` runs this test with more cases
//! (`CONFORMANCE_CASES`, `CONFORMANCE_SEED`, `CONFORMANCE_VERBOSE`).
//! Deliberate differences are listed in testdata/conformance/known.md; a case
//! is excused only by a rule of `known()`. nginx is required: the test fails,
//! never skips, without it.

mod conformance_backend;
mod conformance_cases;
mod serve_support;

use std::time::{Duration, Instant};

use conformance_cases::{Case, cases};
use serve_support::{Nginx, Seen, Upgate, exchange, free_port, parse_responses};

fn config(port: u16, backend: u16, dead: u16) -> String {
    format!(
        r#"error_log logs/upgate-error.log info;
events {{}}
http {{
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    map $arg_q $dyn_backend {{ default 127.0.0.1:{backend}; }}
    upstream backend {{ server 127.0.0.1:{backend}; }}
    upstream pool {{ server 127.0.0.1:{backend}; keepalive 4; }}
    upstream dead {{ server 127.0.0.1:{dead}; }}
    upstream twodead {{ server 127.0.0.1:{dead} max_fails=0; server 127.0.0.1:{backend}; }}
    log_format conf '$remote_addr "$request" $status $body_bytes_sent $bytes_sent $request_length '
                    '"$http_user_agent" "$http_cookie" $upstream_status "$upstream_addr" $connection_requests';
    access_log logs/conf.log conf;
    server {{
        listen 127.0.0.1:{port};
        server_name example.com;
        proxy_set_header X-Srv srv-level;
        proxy_set_header Host $host;
        location /plain/ {{ proxy_pass http://backend; }}
        location /uri/ {{ proxy_pass http://backend/base/; proxy_set_header X-Loc loc; }}
        location /empty/ {{
            proxy_pass http://backend;
            proxy_set_header X-Empty "";
            proxy_set_header X-Var $http_x_missing;
            proxy_set_header X-Srv srv-again;
        }}
        location /vars/ {{ proxy_pass http://$dyn_backend; }}
        location /vars2/ {{ proxy_pass http://$dyn_backend/fixed; }}
        location /ws/ {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
        location /ws10/ {{
            proxy_pass http://backend;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }}
        location /ka/ {{ proxy_pass http://pool; proxy_http_version 1.1; proxy_set_header Connection ""; }}
        location /dead/ {{ proxy_pass http://dead; }}
        location /retry/ {{ proxy_pass http://twodead; }}
        location /xff/ {{
            proxy_pass http://backend;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Cookie $http_cookie;
            proxy_set_header X-Uri "$uri|$args|$request_uri|$server_port|$scheme|$host";
        }}
        location /ret/ {{ return 200 "returned $uri\n"; }}
        location /redir/ {{ return 301 /plain/elsewhere; }}
        location /hide/ {{
            proxy_pass http://backend;
            proxy_hide_header X-Custom;
            proxy_pass_header Server;
            add_header X-Added yes;
        }}
        location /redirect/ {{ proxy_pass http://127.0.0.1:{backend}/redirect/; }}
        location = /exact {{ proxy_pass http://backend; }}
        location ~ \.php$ {{ proxy_pass http://backend; }}
        location /slash/ {{ proxy_pass http://backend; }}
        location /big/ {{ proxy_pass http://backend; client_max_body_size 10; }}
        location /slow/ {{ proxy_pass http://backend; proxy_read_timeout 1s; }}
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name b.example;
        keepalive_timeout 30 20;
        keepalive_requests 2;
        chunked_transfer_encoding off;
        server_tokens off;
        add_header X-Always yes always;
        location /plain/ {{ proxy_pass http://backend; }}
        location /ka/ {{ proxy_pass http://pool; proxy_http_version 1.1; proxy_set_header Connection ""; }}
        location /ws/ {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            keepalive_timeout 0;
        }}
        location /ret/ {{ return 404 "custom $request_method\n"; }}
        location /redir/ {{ return 302 http://elsewhere.example/x; }}
        location /uri/ {{ proxy_pass http://backend/; proxy_method PATCH; }}
    }}
}}
"#
    )
}

/// What one server did with one case.
#[derive(Debug, Clone)]
struct Outcome {
    /// How the exchange ended (for messages; not compared).
    ended: String,
    upstream: Vec<Vec<u8>>,
    responses: Vec<Seen>,
}

/// The Date header differs by nature; everything else must be equal (upgate
/// announces itself as the nginx it is compared with).
fn normalize(mut s: Seen) -> Seen {
    s.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("date"));
    s
}

async fn run_case(port: u16, rec: &conformance_backend::Recording, case: &Case) -> Outcome {
    let t = Instant::now();
    let (raw, closed) = exchange(port, &case.bytes, &case.heads, case.heads.len()).await;
    let ended = format!("closed: {closed}, after {:?}", t.elapsed());
    // Let the upstream side of the exchange settle.
    tokio::time::sleep(Duration::from_millis(5)).await;
    Outcome {
        ended,
        upstream: rec.take(),
        responses: parse_responses(&raw, &case.heads)
            .into_iter()
            .map(normalize)
            .collect(),
    }
}

/// Deliberate differences (testdata/conformance/known.md): `Some(reason)`
/// excuses the case.
fn known(_case: &Case, _nginx: &Outcome, _upgate: &Outcome) -> Option<&'static str> {
    // No deliberate difference shows in the generated traffic today; see
    // testdata/conformance/known.md for those it does not exercise.
    None
}

fn show(o: &Outcome) -> String {
    let mut s = format!("  {}\n", o.ended);
    for (i, u) in o.upstream.iter().enumerate() {
        s.push_str(&format!(
            "  upstream[{i}]: {:?}\n",
            String::from_utf8_lossy(u)
        ));
    }
    for (i, r) in o.responses.iter().enumerate() {
        s.push_str(&format!(
            "  response[{i}]: {} {:?} {:?}\n",
            r.status_line,
            r.headers,
            String::from_utf8_lossy(&r.body)
        ));
    }
    s
}

async fn wait_closed(port: u16) {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgate_matches_nginx() {
    let count: usize = std::env::var("CONFORMANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(520);
    let seed: u64 = std::env::var("CONFORMANCE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let verbose = std::env::var_os("CONFORMANCE_VERBOSE").is_some();
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let backend = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let rec = conformance_backend::start(listener, backend);
    let (port, dead) = (free_port(), free_port());
    let conf = config(port, backend, dead);
    let cases = cases(count, seed);

    let nginx = Nginx::start(&conf, &[port]);
    let mut theirs = Vec::with_capacity(cases.len());
    for case in &cases {
        theirs.push(run_case(port, &rec, case).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let their_log =
        std::fs::read_to_string(nginx.dir.path().join("logs/conf.log")).unwrap_or_default();
    drop(nginx);
    wait_closed(port).await;

    let upgate = Upgate::start_as(&conf, "nginx", &serve_support::nginx_version());
    let mut same = 0;
    let mut excused = Vec::new();
    let mut differ = Vec::new();
    for (case, nginx) in cases.iter().zip(&theirs) {
        let ours = run_case(port, &rec, case).await;
        let equal = ours.upstream == nginx.upstream && ours.responses == nginx.responses;
        if equal {
            same += 1;
        } else if let Some(why) = known(case, nginx, &ours) {
            excused.push((case.name.clone(), why));
        } else {
            differ.push(format!(
                "{}\n request: {:?}\n nginx:\n{} upgate:\n{}",
                case.name,
                String::from_utf8_lossy(&case.bytes),
                show(nginx),
                show(&ours)
            ));
        }
    }
    let total = cases.len();
    let mut statuses = std::collections::BTreeMap::new();
    let mut forwarded = 0;
    for o in &theirs {
        forwarded += o.upstream.len();
        for r in &o.responses {
            *statuses.entry(r.status()).or_insert(0usize) += 1;
        }
    }
    eprintln!("nginx answered with {statuses:?}; {forwarded} upstream requests recorded");
    let settled = Instant::now() + Duration::from_secs(3);
    while upgate.live_connections() > 0 && Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let leaked = upgate.live_connections();
    let our_log =
        std::fs::read_to_string(upgate.dir.path().join("logs/conf.log")).unwrap_or_default();
    drop(upgate);
    let mut theirs_sorted: Vec<&str> = their_log.lines().collect();
    let mut ours_sorted: Vec<&str> = our_log.lines().collect();
    theirs_sorted.sort_unstable();
    ours_sorted.sort_unstable();
    let log_missing: Vec<&&str> = theirs_sorted
        .iter()
        .filter(|l| !ours_sorted.contains(l))
        .collect();
    let log_extra: Vec<&&str> = ours_sorted
        .iter()
        .filter(|l| !theirs_sorted.contains(l))
        .collect();
    for l in log_missing
        .iter()
        .take(if verbose { usize::MAX } else { 10 })
    {
        eprintln!("access log line only nginx wrote: {l}");
    }
    for l in log_extra.iter().take(if verbose { usize::MAX } else { 10 }) {
        eprintln!("access log line only upgate wrote: {l}");
    }
    eprintln!(
        "access log: {}/{} lines identical",
        theirs_sorted.len() - log_missing.len(),
        theirs_sorted.len()
    );
    for d in differ.iter().take(if verbose { usize::MAX } else { 15 }) {
        eprintln!("DIFFERENT {d}");
    }
    for (name, why) in &excused {
        eprintln!("known difference: {name}: {why}");
    }
    eprintln!(
        "conformance: {same}/{total} (known differences: {}, unexpected: {})",
        excused.len(),
        differ.len()
    );
    assert!(total >= 500, "fewer than 500 cases");
    assert!(
        differ.is_empty(),
        "{} cases differ from nginx",
        differ.len()
    );
    assert_eq!(leaked, 0, "client connections left open");
    // Known: $request of HTTP/0.9 and HTTP/2.0 request lines, and the
    // headers of a request refused while its head was read (known.md).
    assert!(
        log_missing.len() * 50 <= theirs_sorted.len(),
        "{} access log lines differ",
        log_missing.len()
    );
}
