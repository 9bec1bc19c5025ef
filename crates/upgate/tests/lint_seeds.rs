//! The seed configs of ../shared/seed-configs linted as they sit, far from
//! /etc/nginx: no `events {}`, an `include mime.types;` whose file is not
//! beside them. The linter reads on past what stops `nginx -t`: the rule
//! findings are those of the same file made startable (stand-ins beside it,
//! a wrapper with `events {}`), plus the missing include as an error. And
//! each seed shows the trap its article (../shared/seeds) tells of, with the
//! symptom the article's users saw in the message: the backend's 400 or
//! 426, the tunnel cut after 60 s, the map that must stand in http {}.

#[path = "lint_common.rs"]
mod lint_common;

use std::fs;
use std::path::{Path, PathBuf};

use lint_common::*;
use serde_json::Value;

fn seed(stem: &str) -> PathBuf {
    shared().join("seed-configs").join(format!("{stem}.conf"))
}

/// The seed's text with an `include mime.types;` (the first line of most
/// real http blocks) where it has none, on an existing line so that the
/// findings keep their lines.
fn with_mime_types(text: &str) -> String {
    if text.contains("include mime.types;") {
        return text.to_string();
    }
    match text.find("http {") {
        Some(at) => {
            let end = at + "http {".len();
            format!("{} include mime.types;{}", &text[..end], &text[end..])
        }
        // An http-level snippet: the include is one of its directives.
        None => format!("include mime.types; {text}"),
    }
}

/// (rule, file name, line) of every finding but nginx's own errors.
fn rule_findings(findings: &[Value]) -> Vec<(String, String, i64)> {
    findings
        .iter()
        .filter(|f| f["rule"] != "nginx-config-error")
        .map(|f| {
            let file = f["file"].as_str().unwrap_or_default();
            let name = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                name,
                f["line"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// Lints `text` written as `name` alone in a fresh directory.
fn lint_alone(name: &str, text: &str) -> (i32, Vec<Value>) {
    let tmp = TempDir::new("seed-alone");
    let conf = tmp.path().join(name);
    fs::write(&conf, text).unwrap_or_else(|e| panic!("{e}"));
    lint_json(&[&conf.display().to_string()])
}

/// Lints `text` made startable: an empty mime.types and conf.d/ beside it,
/// read through a wrapper with `events {}` when it has none.
fn lint_startable(name: &str, text: &str) -> Vec<Value> {
    let tmp = TempDir::new("seed-startable");
    let conf = tmp.path().join(name);
    fs::write(&conf, text).unwrap_or_else(|e| panic!("{e}"));
    fs::write(tmp.path().join("mime.types"), "").unwrap_or_else(|e| panic!("{e}"));
    fs::create_dir_all(tmp.path().join("conf.d")).unwrap_or_else(|e| panic!("{e}"));
    let target = if text.contains("events") {
        conf.clone()
    } else {
        let wrapper = tmp.path().join("wrapper.conf");
        let include = format!("include {};", conf.display());
        let body = if text.contains("http {") {
            format!("events {{}}\n{include}\n")
        } else {
            format!("events {{}}\nhttp {{\n    {include}\n}}\n")
        };
        fs::write(&wrapper, body).unwrap_or_else(|e| panic!("{e}"));
        wrapper
    };
    let (code, findings) = lint_json(&[&target.display().to_string()]);
    assert!(
        !findings.iter().any(|f| f["rule"] == "nginx-config-error"),
        "{name} made startable still fails nginx -t: {findings:#?}"
    );
    assert_eq!(code, expected_code(&findings));
    findings
}

#[test]
fn seeds_as_they_sit_give_the_findings_of_the_startable_file_and_the_missing_include() {
    for path in seeds() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = with_mime_types(&fs::read_to_string(&path).unwrap_or_default());
        let (code, as_is) = lint_alone(&name, &text);
        assert_eq!(code, 2, "{name}: a missing include is an error");
        assert!(
            as_is.iter().any(|f| f["rule"] == "nginx-config-error"
                && f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("mime.types\" failed"))),
            "{name}: the missing mime.types is not reported: {as_is:#?}"
        );
        let startable = lint_startable(&name, &text);
        assert_eq!(
            rule_findings(&as_is),
            rule_findings(&startable),
            "{name}: the rules found other things once the file could start"
        );
    }
}

/// One trap: a seed (edited the way its article's reader had it, when the
/// shipped file is the fixed one), the rule that must report it and words
/// its message must carry.
struct Trap {
    seed: &'static str,
    edit: Option<(&'static str, &'static str)>,
    rule: &'static str,
    says: &'static [&'static str],
}

const TRAPS: &[Trap] = &[
    // 000: "the websocket parameter map must be here", in http {}.
    Trap {
        seed: "000-http-global-map",
        edit: Some((
            "    map $http_upgrade $connection_upgrade {\n        default upgrade;\n        '' close;\n    }\n",
            "",
        )),
        rule: "websocket-missing-connection-upgrade-map",
        says: &["map"],
    },
    // 000: without the Upgrade line, "Unexpected response code: 400".
    Trap {
        seed: "000-http-global-map",
        edit: Some(("        proxy_set_header Upgrade $http_upgrade;\n", "")),
        rule: "websocket-missing-upgrade-header",
        says: &["400"],
    },
    // 001: without Upgrade/Connection the backend answers 426.
    Trap {
        seed: "001-port-forward",
        edit: Some((
            "            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection $connection_upgrade;\n",
            "",
        )),
        rule: "websocket-missing-upgrade-header",
        says: &["426"],
    },
    // 001: the connection is cut after 60 s without traffic.
    Trap {
        seed: "001-port-forward",
        edit: None,
        rule: "websocket-proxy-read-timeout",
        says: &["60"],
    },
    // 002: the Connection header hard-coded.
    Trap {
        seed: "002-hash-consistent",
        edit: None,
        rule: "websocket-connection-upgrade-literal",
        says: &["Connection \"upgrade\""],
    },
    // 002: "proxy_read_timeout 60s; # if it has no effect, make it longer".
    Trap {
        seed: "002-timeouts",
        edit: None,
        rule: "websocket-proxy-read-timeout",
        says: &["60s"],
    },
    // 002: the upstream name misspelt ("webscoket").
    Trap {
        seed: "002-timeouts",
        edit: None,
        rule: "proxy-pass-unknown-upstream",
        says: &["webscoket"],
    },
    // 003: the fixed "upgrade" beside the map.
    Trap {
        seed: "003-chat-scenarios",
        edit: None,
        rule: "websocket-connection-upgrade-literal",
        says: &["upgrade"],
    },
    // 003: "proxy_hide_header Upgrade; keeps WebSocket from being proxied": 400.
    Trap {
        seed: "003-chat-scenarios",
        edit: Some((
            "            proxy_set_header Connection $connection_upgrade;\n",
            "            proxy_set_header Connection $connection_upgrade;\n            proxy_hide_header Upgrade;\n",
        )),
        rule: "websocket-hidden-upgrade-header",
        says: &["Upgrade"],
    },
    // 004: ip_hash left commented out: a reconnect lands on the other server.
    Trap {
        seed: "004-two-backends",
        edit: None,
        rule: "websocket-upstream-not-sticky",
        says: &["ip_hash"],
    },
];

#[test]
fn each_seed_reports_the_trap_its_article_tells_of() {
    let mut covered = Vec::new();
    for trap in TRAPS {
        let path = seed(trap.seed);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = match trap.edit {
            None => text,
            Some((from, to)) => {
                assert!(
                    text.contains(from),
                    "{}: {from:?} is not in the seed",
                    trap.seed
                );
                text.replacen(from, to, 1)
            }
        };
        let name = format!("{}.conf", trap.seed);
        let (_, findings) = lint_alone(&name, &with_mime_types(&text));
        let found = findings.iter().find(|f| f["rule"] == trap.rule);
        let Some(found) = found else {
            panic!("{}: no {} finding: {findings:#?}", trap.seed, trap.rule);
        };
        let words = format!(
            "{} {}",
            found["message"].as_str().unwrap_or_default(),
            found["help"].as_str().unwrap_or_default()
        );
        for say in trap.says {
            assert!(
                words.contains(say),
                "{}: {} does not say {say:?}: {words}",
                trap.seed,
                trap.rule
            );
        }
        covered.push(trap.seed);
    }
    for path in seeds() {
        let stem = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            covered.contains(&stem.as_str()),
            "no trap checked for seed {stem}"
        );
    }
}

/// A missing include does not stop `--fix`: the fixes of findings outside
/// its scope are certain still (mime.types shadows nothing).
#[test]
fn fix_works_on_a_seed_as_it_sits() {
    let tmp = TempDir::new("seed-fix");
    let conf = tmp.path().join("003-chat-scenarios.conf");
    let text = fs::read_to_string(seed("003-chat-scenarios")).unwrap_or_default();
    fs::write(&conf, with_mime_types(&text)).unwrap_or_else(|e| panic!("{e}"));
    let arg = conf.display().to_string();
    let out = upgate(&["lint", "--fix", &arg]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the missing include is still an error"
    );
    let (_, findings) = lint_json(&[&arg]);
    assert!(
        !findings
            .iter()
            .any(|f| f["rule"] == "websocket-connection-upgrade-literal"),
        "--fix did not apply: {findings:#?}"
    );
}
