//! `upstream {}` blocks as nginx reads them: defaults, parameters, order
//! rules, keepalive placement, errors.

use std::time::Duration;

use crate::upstream::testing::{compile, try_compile};
use crate::upstream::{
    Balancer, Keepalive, PeerAddr, UpstreamConfig, UpstreamError, UpstreamWarning, Upstreams,
};

#[test]
fn defaults_and_parameters() {
    let c = compile(
        "upstream app { server 10.0.0.1:8080; \
         server 10.0.0.2 weight=3 max_fails=0 fail_timeout=1m max_conns=7 backup; \
         server unix:/run/app.sock down; }",
    );
    assert_eq!(c.name, "app");
    assert!(!c.implicit);
    assert_eq!(c.balancer, Balancer::RoundRobin);
    let [a, b, u] = &c.servers[..] else {
        panic!("{c:?}");
    };
    assert_eq!(a.text, "10.0.0.1:8080");
    assert_eq!(a.addrs, [PeerAddr::Inet(([10, 0, 0, 1], 8080).into())]);
    assert_eq!((a.weight, a.max_fails, a.max_conns), (1, 1, 0));
    assert_eq!(a.fail_timeout, Duration::from_secs(10));
    assert!(!a.backup && !a.down);
    assert_eq!(b.addrs, [PeerAddr::Inet(([10, 0, 0, 2], 80).into())]);
    assert_eq!((b.weight, b.max_fails, b.max_conns), (3, 0, 7));
    assert_eq!(b.fail_timeout, Duration::from_secs(60));
    assert!(b.backup);
    assert_eq!(u.addrs, [PeerAddr::Unix("/run/app.sock".into())]);
    assert_eq!(u.addrs[0].to_string(), "unix:/run/app.sock");
    assert!(u.down);
    assert_eq!(a.span.map(|s| s.line), Some(1));
}

#[test]
fn names_resolve_through_the_resolver() {
    let c = compile("upstream u { server backend:81; }");
    assert_eq!(c.servers[0].text, "backend:81");
    assert_eq!(c.servers[0].addrs.len(), 2);
    let err = try_compile("upstream u { server nowhere.example; }");
    assert!(
        matches!(err, Err(UpstreamError::HostNotFound { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.map_err(|e| e.to_string()).err().as_deref(),
        Some("host not found in upstream \"nowhere.example\"")
    );
}

#[test]
fn balancers() {
    let hash = |t: &str| compile(t).balancer;
    let servers = "server 10.0.0.1; server 10.0.0.2;";
    assert_eq!(
        hash(&format!("upstream u {{ ip_hash; {servers} }}")),
        Balancer::IpHash
    );
    assert_eq!(
        hash(&format!("upstream u {{ least_conn; {servers} }}")),
        Balancer::LeastConn
    );
    assert_eq!(
        hash(&format!("upstream u {{ hash $arg_k$cookie_x; {servers} }}")),
        Balancer::Hash {
            key: "$arg_k$cookie_x".into(),
            consistent: false
        }
    );
    assert_eq!(
        hash(&format!("upstream u {{ {servers} hash $uri consistent; }}")),
        Balancer::Hash {
            key: "$uri".into(),
            consistent: true
        }
    );
    assert_eq!(
        hash(&format!(
            "upstream u {{ random two least_conn; {servers} }}"
        )),
        Balancer::Random { two: true }
    );
    let err = try_compile(&format!("upstream u {{ hash $k ring; {servers} }}"));
    assert_eq!(
        err.map_err(|e| e.to_string()).err().as_deref(),
        Some("invalid parameter \"ring\"")
    );
}

/// `backup` needs a balancer that supports it at the time the server line
/// is read: after ip_hash it is refused, before it accepted.
#[test]
fn backup_and_balancer_order() {
    let err = try_compile("upstream u { ip_hash; server 10.0.0.1; server 10.0.0.2 backup; }");
    assert_eq!(
        err.map_err(|e| e.to_string()).err().as_deref(),
        Some("balancing method does not support parameter \"backup\"")
    );
    let c = compile("upstream u { server 10.0.0.1; server 10.0.0.2 backup; ip_hash; }");
    assert!(c.servers[1].backup);
    let c = compile("upstream u { least_conn; server 10.0.0.1; server 10.0.0.2 backup; }");
    assert!(c.servers[1].backup);
}

/// NGINX-BEHAVIOUR 21: keepalive before the balancer is dropped.
#[test]
fn keepalive_placement() {
    let c = compile("upstream u { server 10.0.0.1; hash $k; keepalive 16; }");
    assert_eq!(
        c.keepalive,
        Some(Keepalive {
            connections: 16,
            requests: 1000,
            time: Duration::from_secs(3600),
            timeout: Duration::from_secs(60),
        })
    );
    assert!(c.warnings.is_empty());
    let c = compile("upstream u { server 10.0.0.1; keepalive 16; least_conn; ip_hash; }");
    assert_eq!(c.keepalive, None);
    let [
        UpstreamWarning::BalancerRedefined { span: first },
        UpstreamWarning::KeepaliveIgnored {
            keepalive,
            balancer,
        },
        UpstreamWarning::BalancerRedefined { span: second },
    ] = &c.warnings[..]
    else {
        panic!("{:?}", c.warnings);
    };
    assert_eq!(first, balancer);
    assert!(keepalive.start < first.start && first.start < second.start);
    let c = compile(
        "upstream u { server 10.0.0.1; keepalive 2; keepalive_requests 50; \
         keepalive_time 10m; keepalive_timeout 5s; }",
    );
    let k = c
        .keepalive
        .map(|k| (k.connections, k.requests, k.time, k.timeout));
    assert_eq!(
        k,
        Some((2, 50, Duration::from_secs(600), Duration::from_secs(5)))
    );
}

#[test]
fn errors_in_nginx_words() {
    let message = |t: &str| try_compile(t).map_err(|e| e.to_string()).err();
    let cases = [
        (
            "upstream u { server 10.0.0.1 weight=0; }",
            "invalid parameter \"weight=0\"",
        ),
        (
            "upstream u { server 10.0.0.1 max_fails=-1; }",
            "invalid parameter \"max_fails=-1\"",
        ),
        (
            "upstream u { server 10.0.0.1 fail_timeout=5ms; }",
            "invalid parameter \"fail_timeout=5ms\"",
        ),
        (
            "upstream u { server 10.0.0.1 slow_start=1s; }",
            "invalid parameter \"slow_start=1s\"",
        ),
        (
            "upstream u { server 10.0.0.1:0; }",
            "invalid port in upstream \"10.0.0.1:0\"",
        ),
        (
            "upstream u { server 10.0.0.1; keepalive 0; }",
            "invalid value \"0\" in \"keepalive\" directive",
        ),
        (
            "upstream u { server 10.0.0.1; keepalive 1; keepalive 2; }",
            "\"keepalive\" directive is duplicate",
        ),
        (
            "upstream u { server 10.0.0.1; keepalive_requests x; }",
            "\"keepalive_requests\" directive invalid number",
        ),
        (
            "upstream u { server 10.0.0.1; keepalive_timeout x; }",
            "\"keepalive_timeout\" directive invalid value",
        ),
        (
            "upstream u { random three; server 10.0.0.1; }",
            "invalid parameter \"three\"",
        ),
        ("upstream u { }", "no servers are inside upstream"),
        (
            "upstream u { server 10.0.0.1 backup; }",
            "no servers in upstream \"u\"",
        ),
        ("server { }", "\"server\" is not an upstream block"),
    ];
    for (text, expected) in cases {
        assert_eq!(message(text).as_deref(), Some(expected), "{text}");
    }
}

#[test]
fn implicit_group() {
    let addr = PeerAddr::Inet(([10, 0, 0, 1], 8080).into());
    let c = UpstreamConfig::implicit("app.internal", 8080, vec![addr.clone()]);
    assert!(c.implicit);
    assert_eq!(c.name, "app.internal");
    assert_eq!(c.servers[0].text, "app.internal:8080");
    assert_eq!(c.servers[0].addrs, [addr]);
    assert_eq!(c.servers[0].max_fails, 1);
}

#[test]
fn upstreams_from_a_config() {
    let text = b"http { upstream App { server 10.0.0.1; } upstream b { server 10.0.0.2; } \
                 server { location / { proxy_pass http://app; } } }"
        .to_vec();
    let config = upgate_conf::parse_file("t.conf".as_ref(), text);
    let found = Upstreams::from_config(&config, &crate::upstream::testing::resolver);
    let Ok(table) = found else {
        panic!("{found:?}");
    };
    assert_eq!(table.groups.len(), 2);
    assert_eq!(
        table.find("app", None).map(|g| g.name.as_str()),
        Some("App")
    );
    assert!(table.find("app", Some(80)).is_none());
    assert!(table.find("c", None).is_none());
}
