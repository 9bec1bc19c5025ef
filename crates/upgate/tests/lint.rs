//! `upgate lint` end to end. Per rule, testdata/lint/rules/<rule>/ holds
//! `bad.conf` with its exact findings (`bad.expected`: rule, severity, file,
//! line), and either `fixed.conf`, what `--fix` must produce, or
//! `good.conf`, the fix written by hand. Fixed and good files lint clean
//! and pass `upgate -t` and the real `nginx -t`; a second `--fix` changes
//! nothing. Bad files pass the real `nginx -t` too, but for the rules whose
//! trap is that nginx rejects the file. The seed configs of ../shared/seed-configs are checked the same
//! way against testdata/lint/seeds/*.expected. UPGATE_BLESS=1 rewrites the
//! expected files.

#[path = "lint_common.rs"]
mod lint_common;

use std::fs;
use std::path::{Path, PathBuf};

use lint_common::*;

fn rule_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(testdata().join("rules"))
        .unwrap_or_else(|e| panic!("testdata/lint/rules: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The rule a testdata/lint/rules/ directory is for.
fn rule_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn every_rule_has_a_case_and_a_page() {
    let out = upgate(&["lint", "--list-rules"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(ids.len() >= 16, "{listed}");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lint");
    for id in ids {
        assert!(
            testdata().join("rules").join(id).join("bad.conf").exists(),
            "no testdata for {id}"
        );
        assert!(
            docs.join(format!("{id}.md")).exists(),
            "no docs/lint/{id}.md"
        );
    }
}

#[test]
fn bad_configs_give_exactly_the_expected_findings() {
    for dir in rule_dirs() {
        let rule = rule_of(&dir);
        let tmp = TempDir::new("bad");
        copy_tree(&dir, tmp.path());
        let (code, findings) = lint_json(&[&tmp.path().join("bad.conf").display().to_string()]);
        assert_eq!(code, expected_code(&findings), "{rule}: exit code");
        assert!(
            findings.iter().any(|f| f["rule"] == rule.as_str()),
            "{rule}: bad.conf does not trigger it"
        );
        expect_file(&dir.join("bad.expected"), &summary(&findings, tmp.path()));
    }
}

#[test]
fn fixes_are_exact_idempotent_and_accepted_by_nginx() {
    for dir in rule_dirs() {
        let rule = rule_of(&dir);
        let tmp = TempDir::new("fix");
        let conf = tmp.path().join("nginx.conf");
        fs::copy(dir.join("bad.conf"), &conf).unwrap_or_else(|e| panic!("{e}"));
        let conf_arg = conf.display().to_string();
        upgate(&["lint", "--fix", &conf_arg]);
        let once = fs::read(&conf).unwrap_or_default();
        upgate(&["lint", "--fix", &conf_arg]);
        assert_eq!(
            once,
            fs::read(&conf).unwrap_or_default(),
            "{rule}: a second --fix changed the file"
        );
        let fixed = dir.join("fixed.conf");
        if fixed.exists() {
            if bless() {
                fs::write(&fixed, &once).unwrap_or_else(|e| panic!("{e}"));
            }
            assert_eq!(
                String::from_utf8_lossy(&once),
                fs::read_to_string(&fixed).unwrap_or_default(),
                "{rule}: --fix output differs from fixed.conf"
            );
        } else {
            assert_eq!(
                once,
                fs::read(dir.join("bad.conf")).unwrap_or_default(),
                "{rule}: --fix changed a file whose rule has no fix (add fixed.conf)"
            );
        }
    }
}

#[test]
fn good_and_fixed_configs_lint_clean_and_pass_nginx() {
    for dir in rule_dirs() {
        for name in ["good.conf", "fixed.conf"] {
            let file = dir.join(name);
            if !file.exists() {
                continue;
            }
            let (code, findings) = lint_json(&[&file.display().to_string()]);
            assert_eq!(
                (code, findings.len()),
                (0, 0),
                "{}: {}",
                file.display(),
                summary(&findings, &dir)
            );
            if let Err(e) = upgate_t(&file) {
                panic!("upgate -t {}: {e}", file.display());
            }
            if let Err(e) = nginx_t(&file) {
                panic!("nginx -t {}: {e}", file.display());
            }
        }
    }
}

/// Rules whose bad configuration nginx itself rejects: that is the trap.
const NGINX_REJECTS: &[&str] = &[
    "nginx-config-error",
    "proxy-pass-unknown-upstream",
    "ssl-certificate-not-valid-for-server",
    "unknown-variable",
    "websocket-missing-connection-upgrade-map",
];

#[test]
fn bad_configs_pass_nginx_unless_nginx_rejects_them() {
    for dir in rule_dirs() {
        let rule = rule_of(&dir);
        let bad = dir.join("bad.conf");
        match (nginx_t(&bad), NGINX_REJECTS.contains(&rule.as_str())) {
            (Ok(()), false) | (Err(_), true) => {}
            (Ok(()), true) => panic!("{rule}: nginx -t accepts bad.conf"),
            (Err(e), false) => panic!("nginx -t {}: {e}", bad.display()),
        }
    }
}

/// A seed copied into a temp dir with the stand-ins nginx needs (an empty
/// mime.types, an empty conf.d/) and a wrapper that nginx accepts as a
/// whole configuration.
fn seed_dir(seed: &Path) -> (TempDir, PathBuf, PathBuf) {
    let tmp = TempDir::new("seed");
    let name = seed
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let conf = tmp.path().join(&name);
    fs::copy(seed, &conf).unwrap_or_else(|e| panic!("{e}"));
    fs::write(tmp.path().join("mime.types"), "").unwrap_or_else(|e| panic!("{e}"));
    fs::create_dir_all(tmp.path().join("conf.d")).unwrap_or_else(|e| panic!("{e}"));
    let text = fs::read_to_string(&conf).unwrap_or_default();
    let wrapper = tmp.path().join("wrapper.conf.main");
    let wrapped = if text.contains("events") {
        conf.clone()
    } else if text.contains("http {") {
        fs::write(
            &wrapper,
            format!("events {{}}\ninclude {};\n", conf.display()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        wrapper
    } else {
        fs::write(
            &wrapper,
            format!(
                "events {{}}\nhttp {{\n    include {};\n}}\n",
                conf.display()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        wrapper
    };
    (tmp, conf, wrapped)
}

#[test]
fn seed_configs_give_exactly_the_expected_findings() {
    for seed in seeds() {
        let (tmp, conf, _) = seed_dir(&seed);
        let (code, findings) = lint_json(&[&conf.display().to_string()]);
        assert_eq!(code, expected_code(&findings), "{}", seed.display());
        let name = seed
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        expect_file(
            &testdata().join("seeds").join(format!("{name}.expected")),
            &summary(&findings, tmp.path()),
        );
    }
}

#[test]
fn seed_configs_after_fix() {
    for seed in seeds() {
        let (_tmp, conf, wrapped) = seed_dir(&seed);
        let conf_arg = conf.display().to_string();
        let (_, before) = lint_json(&[&conf_arg]);
        upgate(&["lint", "--fix", &conf_arg]);
        let once = fs::read(&conf).unwrap_or_default();
        upgate(&["lint", "--fix", &conf_arg]);
        assert_eq!(
            once,
            fs::read(&conf).unwrap_or_default(),
            "{}: second --fix",
            seed.display()
        );
        let (_, after) = lint_json(&[&conf_arg]);
        for fixed in before.iter().filter(|f| !f["fix"].is_null()) {
            assert!(
                !after.iter().any(|f| f["rule"] == fixed["rule"]),
                "{}: {} still reported after --fix",
                seed.display(),
                fixed["rule"]
            );
        }
        let unfixable_typo = after
            .iter()
            .any(|f| f["rule"] == "proxy-pass-unknown-upstream");
        match (upgate_t(&wrapped), nginx_t(&wrapped)) {
            (Ok(()), Ok(())) => assert!(!unfixable_typo),
            (Err(a), Err(b)) if unfixable_typo => {
                assert!(
                    a.contains("host not found in upstream")
                        && b.contains("host not found in upstream"),
                    "{a}\n{b}"
                );
            }
            (a, b) => panic!("{}: upgate -t {a:?}, nginx -t {b:?}", seed.display()),
        }
    }
}

#[test]
fn exit_codes() {
    let tmp = TempDir::new("exit");
    let broken = tmp.path().join("broken.conf");
    fs::write(&broken, "events {}\nhttp { server { listen 80 }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = upgate(&["lint", &broken.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let missing = tmp.path().join("missing.conf");
    assert_eq!(
        upgate(&["lint", &missing.display().to_string()])
            .status
            .code(),
        Some(2)
    );
    let include = tmp.path().join("include.conf");
    fs::write(&include, "events {}\nhttp { include nothere.conf; }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        upgate(&["lint", &include.display().to_string()])
            .status
            .code(),
        Some(2)
    );
    let good = testdata().join("rules/websocket-proxy-read-timeout/good.conf");
    assert_eq!(
        upgate(&["lint", &good.display().to_string()]).status.code(),
        Some(0)
    );
    let bad = testdata().join("rules/websocket-upstream-not-sticky/bad.conf");
    let bad = bad.display().to_string();
    assert_eq!(upgate(&["lint", &bad]).status.code(), Some(1));
    assert_eq!(
        upgate(&["lint", "--min-severity", "warning", &bad])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        upgate(&["lint", "--disable", "websocket-upstream-not-sticky", &bad])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        upgate(&["lint", "--disable", "no-such-rule", &bad])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn explain_prints_the_rules_page() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lint");
    for id in [
        "websocket-missing-upgrade-header",
        "nginx-config-error",
        "websocket-limit-req-without-burst",
    ] {
        let out = upgate(&["lint", "--explain", id]);
        assert_eq!(out.status.code(), Some(0), "--explain {id}");
        let page = fs::read_to_string(docs.join(format!("{id}.md")))
            .unwrap_or_else(|e| panic!("docs/lint/{id}.md: {e}"));
        assert_eq!(String::from_utf8_lossy(&out.stdout), page, "--explain {id}");
    }
}

/// The pages are built into the binary: a copy of it far from the
/// checkout (as `cargo install` leaves it) still explains.
#[test]
fn explain_needs_no_docs_directory() {
    let tmp = TempDir::new("explain");
    let binary = tmp.path().join("upgate");
    fs::copy(env!("CARGO_BIN_EXE_upgate"), &binary).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(&binary)
        .args(["lint", "--explain", "unknown-variable"])
        .current_dir(tmp.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("# unknown-variable\n"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn explain_unknown_rule_suggests_one() {
    let out = upgate(&["lint", "--explain", "websocket-missing-upgrade-headers"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown rule \"websocket-missing-upgrade-headers\"")
            && err.contains("did you mean \"websocket-missing-upgrade-header\"?")
            && err.contains("--list-rules"),
        "{err}"
    );
    // Part of a name is enough to be pointed at the whole.
    let err = upgate(&["lint", "--explain", "read-timeout"]).stderr;
    assert!(
        String::from_utf8_lossy(&err).contains("did you mean \"websocket-proxy-read-timeout\"?"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    // Nothing near: no guess, still the pointer to the list.
    let out = upgate(&["lint", "--explain", "zzzz"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("did you mean") && err.contains("--list-rules"),
        "{err}"
    );
    // --enable and --disable give the same hint.
    let err = upgate(&["lint", "--disable", "unknown_variable"]).stderr;
    assert!(
        String::from_utf8_lossy(&err).contains("did you mean \"unknown-variable\"?"),
        "{}",
        String::from_utf8_lossy(&err)
    );
}

/// A repository keeping the server's tree as etc/nginx/: `--root .` with
/// the names a shell or pre-commit gives (relative) reads
/// etc/nginx/nginx.conf as /etc/nginx/nginx.conf, its absolute includes
/// under the root, and SARIF names the repository's files.
#[test]
fn root_with_relative_names_as_in_a_repository() {
    let tmp = TempDir::new("root-rel");
    let conf_d = tmp.path().join("etc/nginx/conf.d");
    fs::create_dir_all(&conf_d).unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        tmp.path().join("etc/nginx/nginx.conf"),
        "events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        conf_d.join("ws.conf"),
        "server {\n    listen 127.0.0.1:8080;\n    location /ws {\n        proxy_pass http://127.0.0.1:9000;\n        proxy_http_version 1.1;\n        proxy_read_timeout 1h;\n        proxy_set_header Connection upgrade;\n    }\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_upgate"))
            .args(args)
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot run upgate: {e}"))
    };
    let out = run(&["-t", "--root", ".", "etc/nginx/nginx.conf"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "lint",
        "--root",
        ".",
        "--format",
        "json",
        "etc/nginx/nginx.conf",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let findings = json["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "websocket-missing-upgrade-header"
                && f["file"] == "/etc/nginx/conf.d/ws.conf"),
        "{json}"
    );
    let out = run(&[
        "lint",
        "--root",
        ".",
        "--format",
        "sarif",
        "etc/nginx/nginx.conf",
    ]);
    let sarif: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let location =
        &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(location["uri"], "etc/nginx/conf.d/ws.conf", "{sarif}");
    assert_eq!(location["uriBaseId"], "%SRCROOT%", "{sarif}");
}

// See: #6 — an unknown variable makes nginx -t fail without a file or line;
// lint still lints the whole tree and points at the use.
#[test]
fn unknown_connection_upgrade_is_located_in_its_include() {
    let dir = testdata().join("cases/include");
    let (code, findings) = lint_json(&[&dir.join("nginx.conf").display().to_string()]);
    assert_eq!(code, expected_code(&findings));
    expect_file(&dir.join("expected"), &summary(&findings, &dir));
}

#[test]
fn server_snippet_says_where_the_map_goes() {
    let dir = testdata().join("cases/server-snippet");
    let conf = dir.join("ws.conf");
    let out = upgate(&["lint", "--format", "json", &conf.display().to_string()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let findings = json["findings"].as_array().cloned().unwrap_or_default();
    expect_file(&dir.join("expected"), &summary(&findings, &dir));
    let map = findings
        .iter()
        .find(|f| f["rule"] == "websocket-missing-connection-upgrade-map")
        .unwrap_or_else(|| panic!("no map finding"));
    assert!(map["fix"].is_null());
    assert!(
        map["help"]
            .as_str()
            .unwrap_or_default()
            .contains("http {} block of the nginx.conf")
    );
}

#[test]
fn nginx_version_changes_the_defaults() {
    let bad = testdata().join("rules/websocket-proxy-http-version/bad.conf");
    let bad = bad.display().to_string();
    let rules = |v: &str| -> Vec<String> {
        let (_, f) = lint_json(&["--nginx-version", v, &bad]);
        f.iter()
            .map(|f| format!("{} {}", f["rule"], f["line"]))
            .collect()
    };
    assert_eq!(rules("1.22").len(), 2);
    assert_eq!(
        rules("1.30"),
        vec!["\"websocket-proxy-http-version\" 17".to_string()]
    );
}

#[test]
fn json_fields_are_stable() {
    let bad = testdata().join("rules/websocket-missing-upgrade-header/bad.conf");
    let (_, findings) = lint_json(&[&bad.display().to_string()]);
    let f = &findings[0];
    for key in [
        "rule",
        "severity",
        "message",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "byte_start",
        "byte_end",
        "help",
        "related",
        "fix",
    ] {
        assert!(f.get(key).is_some(), "missing {key}");
    }
    assert_eq!(
        f["fix"]["edits"][0]["text"],
        "            proxy_set_header Upgrade $http_upgrade;\n"
    );
}

#[test]
fn human_output_shows_the_file_of_the_include() {
    let dir = testdata().join("cases/include");
    let out = upgate(&["lint", &dir.join("nginx.conf").display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("conf.d/app.conf:"), "{text}");
    assert!(
        text.contains("websocket-missing-connection-upgrade-map"),
        "{text}"
    );
}

#[test]
fn a_snippet_whose_path_has_a_space_or_a_quote_is_read() {
    let tmp = TempDir::new("odd path");
    let dir = tmp.path().join("conf \"d\"");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let snippet = dir.join("my site.conf");
    fs::write(
        &snippet,
        "server {\n    listen 127.0.0.1:8080;\n    location /ws {\n        proxy_pass http://127.0.0.1:9000;\n    }\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let arg = snippet.display().to_string();
    let (code, findings) = lint_json(&[&arg]);
    assert_eq!(code, 2);
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "websocket-missing-upgrade-header"),
        "{findings:#?}"
    );
    assert!(
        !findings.iter().any(|f| f["rule"] == "nginx-config-error"),
        "{findings:#?}"
    );
    let out = upgate(&["-t", &arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A site written for /etc/nginx, kept in a repository's deploy/nginx: its
/// absolute include is missing here. The include is an error finding whose
/// help names the `--root` that reads it; the findings the unread file may
/// contradict name it and lose their fix; with that `--root` the file is
/// read and they are gone.
#[test]
fn an_unread_include_marks_what_it_may_change_and_names_the_root() {
    let tmp = TempDir::new("unread");
    let deploy = tmp.path().join("deploy/nginx");
    fs::create_dir_all(deploy.join("snippets")).unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        deploy.join("site.conf"),
        "server {\n    listen 127.0.0.1:8080;\n    location /ws {\n        include /etc/upgate-example/snippets/ws.conf;\n        proxy_pass http://127.0.0.1:9000;\n    }\n    location /other {\n        proxy_pass http://127.0.0.1:9001;\n        proxy_http_version 1.1;\n        proxy_read_timeout 1h;\n        proxy_set_header Upgrade $http_upgrade;\n    }\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        deploy.join("snippets/ws.conf"),
        "proxy_http_version 1.1;\nproxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection upgrade;\nproxy_read_timeout 1h;\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let site = deploy.join("site.conf").display().to_string();
    let (code, findings) = lint_json(&[&site]);
    assert_eq!(code, 2);
    let missing = findings
        .iter()
        .find(|f| f["rule"] == "nginx-config-error" && f["line"] == 4)
        .unwrap_or_else(|| panic!("no finding for the include: {findings:#?}"));
    let help = missing["help"].as_str().unwrap_or_default();
    assert!(
        help.contains(&format!("--root /etc/upgate-example={}", deploy.display())),
        "{help}"
    );
    let in_ws: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["rule"] != "nginx-config-error" && f["line"] == 5)
        .collect();
    assert!(
        in_ws
            .iter()
            .any(|f| f["rule"] == "websocket-missing-upgrade-header"),
        "{findings:#?}"
    );
    for f in &in_ws {
        assert!(f["fix"].is_null(), "a fix over an unread file: {f}");
        assert!(
            f["related"].as_array().into_iter().flatten().any(|r| {
                r["message"].as_str().is_some_and(|m| {
                    m.contains("could not read /etc/upgate-example/snippets/ws.conf")
                })
            }),
            "not marked: {f}"
        );
    }
    // /other is outside the include's scope: its finding keeps its fix.
    let other = findings
        .iter()
        .find(|f| f["rule"] == "websocket-missing-connection-header" && f["line"] == 8)
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert!(!other["fix"].is_null() && other["related"].as_array().is_none_or(|r| r.is_empty()));

    let root = format!("/etc/upgate-example={}", deploy.display());
    let (_, findings) = lint_json(&["--root", &root, &site]);
    assert!(
        !findings
            .iter()
            .any(|f| f["rule"] == "nginx-config-error" || f["line"] == 5),
        "{findings:#?}"
    );
}
