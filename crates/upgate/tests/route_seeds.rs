//! `upgate route` on the seed configurations (../shared/seed-configs) and
//! the trap configurations of testdata/route: each scenario the seed
//! articles describe (what upgrades, what the backend answers 400/426 to,
//! and why) must show up in the explanation, and the whole output must
//! equal the snapshot testdata/route/<scenario>.txt. `UPGATE_BLESS=1`
//! rewrites the snapshots.
//!
//! The snapshots assume the tests run as root, as nginx's default listen
//! (for a server without `listen`) is 80 then and 8000 otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("UPGATE_SHARED") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/route")
}

/// A copy of a seed with what its includes need (an empty mime.types and
/// conf.d), so that it loads as it does next to /etc/nginx/nginx.conf.
struct Staged(PathBuf);

impl Staged {
    fn new(name: &str, source: &Path) -> Staged {
        let dir =
            std::env::temp_dir().join(format!("upgate-route-seed-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).expect("temp dir");
        std::fs::write(dir.join("mime.types"), "types { text/html html; }\n").expect("mime.types");
        let file = source.file_name().expect("file name");
        std::fs::copy(source, dir.join(file)).expect("copy seed");
        Staged(dir)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Scenario {
    /// Snapshot name.
    name: &'static str,
    /// `seed:<file>` or `testdata:<file>`.
    config: &'static str,
    args: &'static [&'static str],
    expect: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "000-http-global-map-ws",
        config: "seed:000-http-global-map.conf",
        args: &["ws://example.com:8080/wsapi"],
        expect: &[
            "server      example.com (000-http-global-map.conf:32): the only server listening on this address",
            "Upgrade: websocket",
            "proxy_set_header at 000-http-global-map.conf:37 (server)",
            "$connection_upgrade = \"upgrade\"",
            "websocket   upgrades",
            "600s of silence in both directions (proxy_read_timeout at 000-http-global-map.conf:42)",
        ],
    },
    Scenario {
        name: "000-http-global-map-plain",
        config: "seed:000-http-global-map.conf",
        args: &["GET http://example.com:8080/index.html"],
        expect: &[
            "Connection: close",
            "\"\" matches key '' at 000-http-global-map.conf:27",
            "a WebSocket handshake to this URL would upgrade",
        ],
    },
    Scenario {
        name: "001-port-forward-ws",
        config: "seed:001-port-forward.conf",
        args: &["ws://192.168.1.5:8020/"],
        expect: &[
            "listen 0.0.0.0:8020",
            "Host: 192.168.1.5:8020",
            "websocket (001-port-forward.conf:8), round robin: 192.168.100.10:8010",
            "websocket   upgrades",
        ],
    },
    Scenario {
        name: "001-before-the-fix-ws",
        config: "testdata:trap-no-upgrade-lines.conf",
        args: &["ws://192.168.1.5:8020/"],
        expect: &[
            "websocket   does not upgrade",
            "Upgrade is not forwarded: it is hop-by-hop",
            "426 Upgrade Required",
            "Connection is 'close' (nginx's default)",
        ],
    },
    Scenario {
        name: "002-hash-consistent-ws",
        config: "seed:002-hash-consistent.conf",
        args: &["--client", "203.0.113.9", "ws://socket.kevin.com/room/1"],
        expect: &[
            "hash $remote_addr consistent: 10.0.12.108:9000, 10.0.12.109:9000; picks 10.0.12.10",
            "Host: socket.kevin.com:80",
            "GET /room/1 HTTP/1.1",
            "websocket   upgrades",
        ],
    },
    Scenario {
        name: "002-timeouts-wss",
        config: "seed:002-timeouts.conf",
        args: &["wss://example.com/"],
        expect: &[
            "proxy_connect_timeout 4s (002-timeouts.conf:9), proxy_read_timeout 60s (002-timeouts.conf:10), proxy_send_timeout 12s (002-timeouts.conf:11)",
            "60s of silence in both directions",
            "host not found in upstream \"webscoket\"",
            "Connection: Upgrade",
        ],
    },
    Scenario {
        name: "003-chat-ws",
        config: "seed:003-chat-scenarios.conf",
        args: &["ws://chat.example.com:8080/chat/"],
        expect: &[
            "location    /chat/",
            "Connection: upgrade",
            "websocket   upgrades",
        ],
    },
    Scenario {
        name: "003-chat2-ws",
        config: "seed:003-chat-scenarios.conf",
        args: &["ws://chat.example.com:8080/chat2/"],
        expect: &[
            "location    /chat2/",
            "$connection_upgrade = \"upgrade\"",
            "websocket   upgrades",
        ],
    },
    Scenario {
        name: "003-chat2-plain",
        config: "seed:003-chat-scenarios.conf",
        args: &["GET http://chat.example.com:8080/chat2/history"],
        expect: &["Connection: close", "would upgrade"],
    },
    Scenario {
        name: "004-two-backends-ws",
        config: "seed:004-two-backends.conf",
        args: &["--client", "192.168.2.7", "ws://localhost/"],
        expect: &[
            "server      localhost (004-two-backends.conf:13): the only server listening on this address",
            "X-Forwarded-For: 192.168.2.7",
            "X-Real-IP: 192.168.2.7",
            "round robin: localhost:8010, localhost:8011",
            "300s of silence",
            "websocket   upgrades",
        ],
    },
    Scenario {
        name: "trap-location-replaces-ws",
        config: "testdata:trap-location-replaces.conf",
        args: &["ws://chat.example.com:8080/ws/"],
        expect: &[
            "websocket   does not upgrade",
            "Upgrade is not forwarded: the location /ws/'s own proxy_set_header at trap-location-replaces.conf:23 replaces the server's list, which sets Upgrade at trap-location-replaces.conf:16",
            "Connection is 'close' (nginx's default because the location /ws/'s own proxy_set_header at trap-location-replaces.conf:23 replaces the server's list, which sets Connection at trap-location-replaces.conf:17)",
        ],
    },
    Scenario {
        name: "trap-location-replaces-root-ws",
        config: "testdata:trap-location-replaces.conf",
        args: &["ws://chat.example.com:8080/"],
        expect: &["websocket   upgrades"],
    },
    Scenario {
        name: "trap-http10-ws",
        config: "testdata:trap-http10.conf",
        args: &["ws://example.com:8080/socket"],
        expect: &[
            "GET /socket HTTP/1.0",
            "proxy_http_version is 1.0 (the default): the upstream request is HTTP/1.0 and cannot be upgraded",
        ],
    },
    Scenario {
        name: "trap-connection-close-ws",
        config: "testdata:trap-connection-close.conf",
        args: &["ws://example.com:8080/live/feed"],
        expect: &[
            "Connection: close",
            "Connection is 'close' (nginx's default): the backend will refuse the upgrade (400)",
        ],
    },
];

fn run(scenario: &Scenario) -> String {
    let (kind, file) = scenario.config.split_once(':').expect("config spec");
    let source = match kind {
        "seed" => shared_dir().join("seed-configs").join(file),
        _ => testdata().join(file),
    };
    assert!(source.is_file(), "missing {}", source.display());
    let staged = Staged::new(scenario.name, &source);
    let out = Command::new(env!("CARGO_BIN_EXE_upgate"))
        .arg("route")
        .arg("-c")
        .arg(staged.0.join(file))
        .args(scenario.args)
        .output()
        .expect("run upgate route");
    assert!(
        out.status.success(),
        "{}: upgate route failed: {}",
        scenario.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn seeds_are_explained() {
    let bless = std::env::var("UPGATE_BLESS").is_ok();
    let mut failures = Vec::new();
    for s in SCENARIOS {
        let out = run(s);
        for e in s.expect {
            if !out.contains(e) {
                failures.push(format!("{}: missing {e:?} in:\n{out}", s.name));
            }
        }
        let snap = testdata().join(format!("{}.txt", s.name));
        if bless {
            std::fs::write(&snap, &out).expect("write snapshot");
        } else {
            let want = std::fs::read_to_string(&snap).unwrap_or_default();
            if want != out {
                failures.push(format!(
                    "{}: output differs from {} (UPGATE_BLESS=1 to update):\n{out}",
                    s.name,
                    snap.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn json_output_is_an_explanation() {
    let out = run(&Scenario {
        name: "json",
        config: "seed:003-chat-scenarios.conf",
        args: &["--json", "ws://chat.example.com:8080/chat/"],
        expect: &[],
    });
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["websocket"]["upgrades"], serde_json::Value::Bool(true));
    assert_eq!(v["location"]["name"], "/chat/");
    assert_eq!(v["upstream_request"]["request_line"], "GET /chat/ HTTP/1.1");
    assert_eq!(v["upstream"]["name"], "backend");
}
