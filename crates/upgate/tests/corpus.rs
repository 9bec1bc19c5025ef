//! Corpus agreement: every file of ../shared/corpus, placed and wrapped the
//! way ../shared/corpus/HOW-JUDGED.md describes, with the listed fixups, is
//! checked by `upgate -t --root <fake root>`; verdict, first message and line
//! must equal nginx's (expected.json).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use upgate_conf::SnippetContext;

mod common;
use common::{copy_tree, shared_dir};

/// Where each source's files go inside the fake root, besides /corpus/<source>.
fn placed_at(source: &str) -> Option<(&'static str, &'static str)> {
    match source {
        "nginx-conf" => Some(("", "etc/nginx")),
        "debian-nginx-common" | "nginx-proxy-manager" => Some(("etc/nginx", "etc/nginx")),
        _ => None,
    }
}

/// The judge's wrapper (HOW-JUDGED.md), which the loader also uses for snippets.
fn wrapper(kind: &str, file: &str) -> String {
    SnippetContext::from_name(kind)
        .map(|ctx| ctx.wrapper(Path::new(file)))
        .unwrap_or_default()
}

/// The directory the wrapper is written to (HOW-JUDGED.md).
fn config_root(root: &Path, source: &str, rel: &str) -> PathBuf {
    if placed_at(source).is_some() {
        return PathBuf::from("/etc/nginx");
    }
    let file = Path::new("/corpus").join(source).join(rel);
    let mut dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    loop {
        let real = root.join(dir.strip_prefix("/").unwrap_or(&dir));
        if real.join("nginx.conf").exists() {
            return dir;
        }
        if dir == Path::new("/corpus").join(source) || !dir.pop() {
            break;
        }
    }
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn apply_fixup(root: &Path, fixup: &str) -> std::io::Result<()> {
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    if let Some(path) = fixup.strip_prefix("empty include ") {
        fs::create_dir_all(at(path).parent().unwrap_or(root))?;
        return fs::write(at(path), "");
    }
    if let Some(path) = fixup.strip_prefix("mkdir ") {
        return fs::create_dir_all(at(path));
    }
    if let Some(rest) = fixup.strip_prefix("copied Debian ")
        && let Some((name, to)) = rest.split_once(" to ")
    {
        return fs::copy(at(&format!("/etc/nginx/{name}")), at(to)).map(|_| ());
    }
    for (prefix, file, line) in [
        (
            "user ",
            "etc/passwd",
            "{}:x:1000:1000::/nonexistent:/usr/sbin/nologin\n",
        ),
        ("group ", "etc/group", "{}:x:1000:\n"),
        ("/etc/hosts ", "etc/hosts", "127.0.0.1 {}\n"),
    ] {
        if let Some(name) = fixup.strip_prefix(prefix) {
            // The judge's useradd made the user's own group too.
            if prefix == "user " {
                apply_fixup(root, &format!("group {name}"))?;
            }
            let mut text = fs::read_to_string(root.join(file)).unwrap_or_default();
            text.push_str(&line.replace("{}", name));
            return fs::write(root.join(file), text);
        }
    }
    Ok(())
}

fn build_root(shared: &Path, root: &Path, entry: &Value) -> std::io::Result<()> {
    let corpus = shared.join("corpus");
    copy_tree(
        &corpus.join("debian-nginx-common/etc/nginx"),
        &root.join("etc/nginx"),
    )?;
    for dir in [
        "etc/nginx/conf.d",
        "etc/nginx/modules-enabled",
        "etc/nginx/sites-enabled",
        "var/log/nginx",
        "var/lib/nginx",
        "usr/share/nginx/html",
        "etc/ssl/certs",
        "etc/ssl/private",
    ] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::write(root.join("etc/ssl/certs/ssl-cert-snakeoil.pem"), "")?;
    fs::write(root.join("etc/ssl/private/ssl-cert-snakeoil.key"), "")?;
    for file in ["passwd", "group"] {
        fs::copy(Path::new("/etc").join(file), root.join("etc").join(file))?;
    }
    fs::write(
        root.join("etc/hosts"),
        "127.0.0.1 localhost\n::1 localhost\n",
    )?;
    let source = entry["source"].as_str().unwrap_or_default();
    copy_tree(&corpus.join(source), &root.join("corpus").join(source))?;
    if let Some((from, to)) = placed_at(source) {
        copy_tree(&corpus.join(source).join(from), &root.join(to))?;
    }
    for fixup in entry["base"][3].as_array().into_iter().flatten() {
        apply_fixup(root, fixup.as_str().unwrap_or_default())?;
    }
    Ok(())
}

/// What nginx said: (ok, first emerg message with its position).
fn expected(entry: &Value) -> (bool, String) {
    let base = &entry["base"];
    (
        base[1].as_bool().unwrap_or(false),
        base[2].as_str().unwrap_or_default().to_string(),
    )
}

fn run_upgate(root: &Path, conf: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_upgate"))
        .arg("-t")
        .arg("--root")
        .arg(root)
        .arg("-c")
        .arg(conf)
        .output();
    let Ok(out) = out else {
        return (false, "could not run upgate".into(), String::new());
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let first = stderr
        .lines()
        .find_map(|l| l.strip_prefix("upgate: [emerg] "))
        .unwrap_or_default()
        .to_string();
    (out.status.success(), first, stderr)
}

#[test]
fn corpus_agrees_with_nginx() {
    let shared = shared_dir();
    let expected_json = fs::read_to_string(shared.join("corpus/expected.json"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (set UPGATE_SHARED)", shared.display()));
    let entries: Vec<Value> = serde_json::from_str(&expected_json).unwrap_or_default();
    assert!(!entries.is_empty(), "expected.json holds no entries");

    let tmp = std::env::temp_dir().join(format!("upgate-corpus-{}", std::process::id()));
    let mut agree = 0;
    let mut report = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let source = entry["source"].as_str().unwrap_or_default();
        let rel = entry["rel"].as_str().unwrap_or_default();
        let root = tmp.join(i.to_string());
        if let Err(e) = build_root(&shared, &root, entry) {
            report.push(format!("{source}/{rel}: cannot build the fake root: {e}"));
            continue;
        }
        let wrap = entry["base"][0].as_str().unwrap_or("direct");
        let placed = match placed_at(source) {
            Some((from, to)) => Path::new("/")
                .join(to)
                .join(Path::new(rel).strip_prefix(from).unwrap_or(Path::new(rel))),
            None => Path::new("/corpus").join(source).join(rel),
        };
        let conf = if wrap == "direct" {
            placed.display().to_string()
        } else {
            let dir = config_root(&root, source, rel);
            let wrapper_path = dir.join(format!("__wrap_{wrap}__.conf"));
            let real = root.join(wrapper_path.strip_prefix("/").unwrap_or(&wrapper_path));
            if let Err(e) = fs::write(&real, wrapper(wrap, &placed.display().to_string())) {
                report.push(format!("{source}/{rel}: cannot write wrapper: {e}"));
                continue;
            }
            wrapper_path.display().to_string()
        };
        let (want_ok, want_msg) = expected(entry);
        let (got_ok, got_msg, stderr) = run_upgate(&root, &conf);
        if want_ok == got_ok && (want_ok || want_msg == got_msg) {
            agree += 1;
        } else {
            report.push(format!(
                "{source}/{rel} [{wrap}]\n    nginx:  {}\n    upgate: {}\n{}",
                if want_ok { "ok".into() } else { want_msg },
                if got_ok { "ok".into() } else { got_msg },
                stderr
                    .lines()
                    .take(3)
                    .map(|l| format!("      | {l}\n"))
                    .collect::<String>()
            ));
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    println!("agreement: {agree}/{}", entries.len());
    for line in &report {
        println!("{line}");
    }
    assert_eq!(
        agree,
        entries.len(),
        "corpus disagreements:\n{}",
        report.join("\n")
    );
}

/// The message without nginx's ` in FILE:LINE`, and the line.
fn split_position(message: &str) -> (&str, Option<&str>) {
    match message.rsplit_once(" in ") {
        Some((text, position)) if position.contains(':') => {
            (text, position.rsplit_once(':').map(|(_, line)| line))
        }
        _ => (message, None),
    }
}

/// Issue 7: every corpus file the judge had to wrap in http{}, server{} or
/// location{} is checked on its own (`upgate -t FILE`, no wrapper written by
/// hand) and gets nginx's verdict on the wrapped file: same message, same
/// line.
#[test]
fn snippets_check_alone() {
    let shared = shared_dir();
    let expected_json = fs::read_to_string(shared.join("corpus/expected.json"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (set UPGATE_SHARED)", shared.display()));
    let entries: Vec<Value> = serde_json::from_str(&expected_json).unwrap_or_default();
    let tmp = std::env::temp_dir().join(format!("upgate-snippets-{}", std::process::id()));
    let (mut total, mut agree) = (0, 0);
    let mut report = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let wrap = entry["base"][0].as_str().unwrap_or("direct");
        if !matches!(wrap, "http" | "server" | "location") {
            continue;
        }
        total += 1;
        let source = entry["source"].as_str().unwrap_or_default();
        let rel = entry["rel"].as_str().unwrap_or_default();
        let root = tmp.join(i.to_string());
        if let Err(e) = build_root(&shared, &root, entry) {
            report.push(format!("{source}/{rel}: cannot build the fake root: {e}"));
            continue;
        }
        let placed = match placed_at(source) {
            Some((from, to)) => Path::new("/")
                .join(to)
                .join(Path::new(rel).strip_prefix(from).unwrap_or(Path::new(rel))),
            None => Path::new("/corpus").join(source).join(rel),
        };
        let (want_ok, want_msg) = expected(entry);
        let (got_ok, got_msg, stderr) = run_upgate(&root, &placed.display().to_string());
        let noted = stderr.contains(&format!("note: read as {wrap}-level snippet"));
        let (want_text, want_line) = split_position(&want_msg);
        let (got_text, got_line) = split_position(&got_msg);
        let same =
            want_ok == got_ok && (want_ok || (want_text == got_text && want_line == got_line));
        if same && noted {
            agree += 1;
        } else {
            report.push(format!(
                "{source}/{rel} [{wrap}]\n    nginx:  {}\n    upgate: {}\n{}",
                if want_ok {
                    "ok".into()
                } else {
                    want_msg.clone()
                },
                if got_ok { "ok".into() } else { got_msg },
                stderr
                    .lines()
                    .take(4)
                    .map(|l| format!("      | {l}\n"))
                    .collect::<String>()
            ));
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    println!("snippets alone: {agree}/{total}");
    for line in &report {
        println!("{line}");
    }
    assert!(total > 0, "expected.json lists no wrapped files");
    assert_eq!(
        agree,
        total,
        "snippet disagreements:\n{}",
        report.join("\n")
    );
}

/// `--with-main`: a corpus main configuration plus one of its own included
/// files gets nginx's verdict on the main configuration.
#[test]
fn with_main_checks_a_snippet_in_place() {
    let corpus = shared_dir().join("corpus/crossplane/includes-globbed");
    let out = Command::new(env!("CARGO_BIN_EXE_upgate"))
        .arg("-t")
        .arg("--with-main")
        .arg(corpus.join("nginx.conf"))
        .arg(corpus.join("servers/server1.conf"))
        .output();
    let Ok(out) = out else {
        panic!("could not run upgate");
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("is included by"), "{stderr}");

    // A new file, not yet in conf.d: checked where the glob would read it.
    let dir = std::env::temp_dir().join(format!("upgate-with-main-{}", std::process::id()));
    let setup = fs::create_dir_all(dir.join("conf.d"))
        .and_then(|()| fs::write(dir.join("nginx.conf"), "events {}\nhttp {\n    include conf.d/*.conf;\n}\n"))
        .and_then(|()| {
            fs::write(
                dir.join("chat.conf"),
                "server {\n    listen 127.0.0.1:8080;\n    location /ws {\n        proxy_set_header Connection $connection_upgrade;\n        proxy_pass http://127.0.0.1:9000;\n    }\n}\n",
            )
        });
    assert!(setup.is_ok(), "cannot write the test files: {setup:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_upgate"))
        .arg("-t")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg(dir.join("chat.conf"))
        .output();
    let _ = fs::remove_dir_all(&dir);
    let Ok(out) = out else {
        panic!("could not run upgate");
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("conf.d/chat.conf (where"), "{stderr}");
    assert!(
        stderr.contains("unknown \"connection_upgrade\" variable"),
        "{stderr}"
    );
}
