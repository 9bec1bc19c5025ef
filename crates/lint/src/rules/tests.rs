//! Rule tests: a configuration in, the findings (rule, line) out, and after
//! the fixes, the fixed text out. The data-driven pairs per rule live in
//! testdata/lint/ and are checked by the upgate crate's tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{NoResolve, Options, fix, lint, load_options};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A test's own directory under the system's temporary one, removed with
/// the value so that a test run leaves nothing behind.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "upgate-lint-unit-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::create_dir_all(&dir);
        Scratch(dir)
    }

    fn conf(&self) -> PathBuf {
        self.0.join("nginx.conf")
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `text` as the nginx.conf of a fresh [`Scratch`].
fn write(text: &str) -> Scratch {
    let dir = Scratch::new();
    let _ = std::fs::write(dir.conf(), text);
    dir
}

/// (rule, line) of every finding.
fn findings(text: &str) -> Vec<(&'static str, u32)> {
    let dir = write(text);
    let path = dir.conf();
    let loaded = upgate_conf::load(&load_options(&path));
    let report = lint(&loaded, &Options::new(&NoResolve));
    report
        .findings
        .iter()
        .map(|f| (f.rule, f.span.line))
        .collect()
}

/// (line, message) of the findings of one rule.
pub(crate) fn findings_of(text: &str, rule: &str) -> Vec<(u32, String)> {
    let dir = write(text);
    let path = dir.conf();
    let loaded = upgate_conf::load(&load_options(&path));
    let report = lint(&loaded, &Options::new(&NoResolve));
    report
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.span.line, f.message.clone()))
        .collect()
}

/// The findings of one rule for a configuration written into `dir` (with
/// the files it needs), linted with `options`.
pub(crate) fn findings_in(
    dir: &std::path::Path,
    text: &str,
    rule: &str,
    options: &Options<'_>,
) -> Vec<crate::Finding> {
    let path = dir.join("nginx.conf");
    let _ = std::fs::write(&path, text);
    let loaded = upgate_conf::load(&load_options(&path));
    let report = lint(&loaded, options);
    report
        .findings
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

/// Asserts that a finding's message says `part`.
#[track_caller]
pub(crate) fn assert_says(message: &str, part: &str) {
    assert!(message.contains(part), "{message:?} does not say {part:?}");
}

/// A fresh directory for a test's files.
pub(crate) fn temp_dir() -> Scratch {
    Scratch::new()
}

/// The main file after applying every fix until none is left.
pub(crate) fn fixed(text: &str) -> String {
    let dir = write(text);
    let path = dir.conf();
    for _ in 0..10 {
        let loaded = upgate_conf::load(&load_options(&path));
        let report = lint(&loaded, &Options::new(&NoResolve));
        let fixes = report.fixes();
        if fixes.is_empty() {
            break;
        }
        for (file, bytes) in fix::apply(&loaded.config.sources, &fixes) {
            let _ = std::fs::write(loaded.config.sources.path(file), bytes);
        }
    }
    std::fs::read_to_string(&path).unwrap_or_default()
}

const HEAD: &str = "events {}\nhttp {\n";

#[test]
fn missing_map_is_inserted_at_the_top_of_http() {
    let text = format!(
        "{HEAD}    server {{\n        location /ws {{\n            proxy_pass http://127.0.0.1:9000;\n            proxy_http_version 1.1;\n            proxy_read_timeout 1h;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n        }}\n    }}\n}}\n"
    );
    assert_eq!(
        findings(&text),
        vec![("websocket-missing-connection-upgrade-map", 9)]
    );
    let out = fixed(&text);
    assert!(
        out.starts_with("events {}\nhttp {\n    map $http_upgrade $connection_upgrade {\n        default upgrade;\n        '' close;\n    }\n    server {"),
        "{out}"
    );
    assert_eq!(findings(&out), vec![]);
}

#[test]
fn a_bare_websocket_location_gets_everything() {
    let text = format!(
        "{HEAD}    server {{\n        listen 80;\n        location /ws {{\n            proxy_pass http://127.0.0.1:9000;\n        }}\n    }}\n}}\n"
    );
    let found = findings(&text);
    assert!(
        found.contains(&("websocket-missing-upgrade-header", 6)),
        "{found:?}"
    );
    assert!(
        found.contains(&("websocket-missing-connection-header", 6)),
        "{found:?}"
    );
    assert!(
        found.contains(&("websocket-proxy-read-timeout", 6)),
        "{found:?}"
    );
    let out = fixed(&text);
    let after = findings(&out);
    assert_eq!(after, vec![("websocket-proxy-read-timeout", 10)], "{out}");
    assert!(out.contains("proxy_http_version 1.1;"), "{out}");
    assert!(
        out.contains("map $http_upgrade $connection_upgrade"),
        "{out}"
    );
}

#[test]
fn inheritance_loss_lists_the_lost_headers_and_copies_them() {
    let text = format!(
        "{HEAD}    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n    server {{\n        proxy_http_version 1.1;\n        proxy_read_timeout 1h;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $connection_upgrade;\n        location / {{\n            proxy_set_header X-Real-IP $remote_addr;\n            proxy_pass http://127.0.0.1:9000;\n        }}\n    }}\n}}\n"
    );
    assert_eq!(
        findings(&text),
        vec![("proxy-set-header-inheritance-loss", 10)]
    );
    let out = fixed(&text);
    assert!(out.contains("        location / {\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n            proxy_set_header X-Real-IP $remote_addr;\n"), "{out}");
    assert_eq!(findings(&out), vec![]);
}

#[test]
fn http_version_is_inserted_next_to_upgrade() {
    let text = format!(
        "{HEAD}    server {{\n        location / {{\n            proxy_pass http://127.0.0.1:9000;\n            proxy_read_timeout 300s;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection \"upgrade\";\n        }}\n    }}\n}}\n"
    );
    let found = findings(&text);
    assert!(
        found.contains(&("websocket-proxy-http-version", 7)),
        "{found:?}"
    );
    assert!(
        found.contains(&("websocket-connection-upgrade-literal", 8)),
        "{found:?}"
    );
    let out = fixed(&text);
    assert_eq!(findings(&out), vec![], "{out}");
}

#[test]
fn suppression_comment_silences_one_rule() {
    let text = format!(
        "{HEAD}    server {{\n        location /ws {{\n            proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection \"upgrade\";\n            # upgate-lint: disable=websocket-proxy-read-timeout\n            proxy_pass http://127.0.0.1:9000;\n        }}\n    }}\n}}\n"
    );
    assert_eq!(
        findings(&text),
        vec![("websocket-connection-upgrade-literal", 7)]
    );
}

#[test]
fn keepalive_rules() {
    let text = format!(
        "{HEAD}    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n    upstream app {{\n        keepalive 16;\n        least_conn;\n        server 127.0.0.1:9000;\n    }}\n    server {{\n        location / {{ proxy_pass http://app; }}\n        location /ws {{\n            proxy_pass http://app;\n            proxy_http_version 1.1;\n            proxy_read_timeout 1h;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n        }}\n    }}\n}}\n"
    );
    let found = findings(&text);
    assert_eq!(
        found,
        vec![
            ("websocket-map-close-defeats-keepalive", 3),
            ("upstream-keepalive-before-balancer", 5),
            ("upstream-keepalive-without-http11", 10),
        ]
    );
    let out = fixed(&text);
    assert!(out.contains("'' '';"), "{out}");
    assert!(out.contains("least_conn;\n        keepalive 16;"), "{out}");
    assert_eq!(
        findings(&out),
        vec![("upstream-keepalive-without-http11", 10)]
    );
}

#[test]
fn unknown_upstream_suggests_a_name() {
    let text = format!(
        "{HEAD}    upstream websocket {{ server 127.0.0.1:9000; }}\n    server {{\n        location / {{ proxy_pass http://webscoket; }}\n    }}\n}}\n"
    );
    assert!(findings(&text).contains(&("proxy-pass-unknown-upstream", 5)));
}

/// The messages of one rule's findings, with a resolver that knows `known`.
fn messages(text: &str, rule: &str, known: &[&str]) -> Vec<(u32, String, Vec<u32>)> {
    struct Known<'k>(&'k [&'k str]);
    impl crate::Resolve for Known<'_> {
        fn resolves(&self, host: &str) -> bool {
            self.0.contains(&host) || crate::NoResolve.resolves(host)
        }
    }
    let dir = write(text);
    let path = dir.conf();
    let loaded = upgate_conf::load(&load_options(&path));
    let resolver = Known(known);
    let report = lint(&loaded, &Options::new(&resolver));
    report
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| {
            let related = f.related.iter().map(|r| r.span.line).collect();
            (f.span.line, f.message.clone(), related)
        })
        .collect()
}

#[test]
fn unknown_upstream_suggests_a_server_name_or_a_resolving_host() {
    let text = format!(
        "{HEAD}    server {{\n        server_name websocket;\n        location / {{ proxy_pass http://webscoket; }}\n        location /a {{ proxy_pass http://backend.internal; }}\n        location /b {{ proxy_pass http://backend.intrenal; }}\n    }}\n}}\n"
    );
    let found = messages(&text, "proxy-pass-unknown-upstream", &["backend.internal"]);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].1.ends_with("; did you mean \"websocket\"?"),
        "{}",
        found[0].1
    );
    assert_eq!((found[0].0, found[0].2.clone()), (5, vec![4]));
    assert!(
        found[1].1.ends_with("; did you mean \"backend.internal\"?"),
        "{}",
        found[1].1
    );
    assert_eq!((found[1].0, found[1].2.clone()), (7, vec![6]));
}

// The seed 002-timeouts.conf: no upstream block, no similar name.
#[test]
fn unknown_upstream_without_a_similar_name() {
    let text = format!(
        "{HEAD}    server {{\n        location / {{ proxy_pass http://webscoket; }}\n    }}\n}}\n"
    );
    let found = messages(&text, "proxy-pass-unknown-upstream", &[]);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .1
            .starts_with("no upstream block is named \"webscoket\" and the name does not resolve"),
        "{}",
        found[0].1
    );
    assert!(!found[0].1.contains("did you mean"), "{}", found[0].1);
}

/// A WebSocket location at the default read timeout, with `pragma` in the
/// server block.
fn ws_with_pragma(pragma: &str) -> String {
    format!(
        "{HEAD}    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n    server {{\n        {pragma}\n        location /ws {{\n            proxy_pass http://127.0.0.1:9000;\n            proxy_http_version 1.1;\n            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n        }}\n    }}\n}}\n"
    )
}

#[test]
fn upgates_pings_before_the_read_timeout_keep_the_tunnel_open() {
    let rule = "websocket-proxy-read-timeout";
    let bare = findings_of(&ws_with_pragma(""), rule);
    assert_eq!(bare.len(), 1, "{bare:?}");
    assert!(
        findings_of(&ws_with_pragma("# upgate: websocket_ping 25s;"), rule).is_empty(),
        "pings every 25 s re-arm a 60 s timeout"
    );
    let late = findings_of(&ws_with_pragma("# upgate: websocket_ping 2m;"), rule);
    assert_eq!(late.len(), 1, "{late:?}");
    assert_says(&late[0].1, "not before the proxy_read_timeout of 60s");
    assert_eq!(late[0].0, 5, "at the pragma");
    // `off` at the location brings the warning back.
    let text = ws_with_pragma("# upgate: websocket_ping 25s;").replace(
        "proxy_http_version 1.1;",
        "proxy_http_version 1.1;\n            # upgate: websocket_ping off;",
    );
    assert_eq!(findings_of(&text, rule).len(), 1);
}

#[test]
fn a_bad_pragma_is_an_upgate_error_with_a_suggestion() {
    let found = findings_of(
        &ws_with_pragma("# upgate: websocket_pnig 25s;"),
        "nginx-config-error",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_says(&found[0].1, "upgate -t fails");
    assert_says(&found[0].1, "unknown pragma \"websocket_pnig\"");
    assert_eq!(found[0].0, 5);
}

#[test]
fn upgates_own_variable_is_a_warning_not_an_unknown() {
    let text = format!(
        "{HEAD}    log_format t '$status $upgate_tunnel_close';\n    server {{\n        access_log /tmp/a.log t;\n    }}\n}}\n"
    );
    let found = findings_of(&text, "unknown-variable");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_says(&found[0].1, "upgate's own variable");
    assert_says(&found[0].1, "nginx -t fails");
    assert!(
        findings_of(&text, "nginx-config-error").is_empty(),
        "upgate -t accepts it"
    );
}
