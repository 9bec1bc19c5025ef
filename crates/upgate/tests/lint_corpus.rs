//! `upgate lint` on every file of ../shared/corpus, placed, wrapped and
//! fixed up the way ../shared/corpus/HOW-JUDGED.md describes, and read with
//! `--root`. On the files nginx accepts (expected.json, base verdict ok) no
//! error-level finding may appear (they would not be real problems: nginx
//! runs these files), and the warnings and infos are exactly those of
//! testdata/lint/corpus.expected, each explained in docs/lint/corpus.md. On
//! the files nginx rejects, the linter still runs to the end: nginx's error
//! is a finding at nginx's file and line, with whatever else the rules find
//! (testdata/lint/corpus-rejected.expected).

#[path = "lint_common.rs"]
mod lint_common;

use std::fs;
use std::path::{Path, PathBuf};

use lint_common::*;
use serde_json::Value;

struct Entry {
    source: String,
    rel: String,
    wrap: String,
    fixups: Vec<String>,
    /// nginx's error, `MESSAGE[ in FILE:LINE]`; empty when it accepts.
    error: String,
}

fn accepted() -> Vec<Entry> {
    entries(true)
}

fn entries(accepted: bool) -> Vec<Entry> {
    let path = shared().join("corpus/expected.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    json.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["base"][1] == accepted)
        .map(|e| Entry {
            error: e["base"][2].as_str().unwrap_or_default().to_string(),
            source: e["source"].as_str().unwrap_or_default().to_string(),
            rel: e["rel"].as_str().unwrap_or_default().to_string(),
            wrap: e["base"][0].as_str().unwrap_or("direct").to_string(),
            fixups: e["base"][3]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect(),
        })
        .collect()
}

/// Where the file is as nginx sees it, after placing the source in `root`.
fn place(root: &Path, e: &Entry) -> PathBuf {
    let corpus = shared().join("corpus").join(&e.source);
    copy_tree(&corpus, &root.join("corpus").join(&e.source));
    match e.source.as_str() {
        "nginx-conf" => {
            copy_tree(&corpus, &root.join("etc/nginx"));
            Path::new("/etc/nginx").join(&e.rel)
        }
        "debian-nginx-common" | "nginx-proxy-manager" => {
            copy_tree(&corpus.join("etc/nginx"), &root.join("etc/nginx"));
            Path::new("/").join(&e.rel)
        }
        _ => Path::new("/corpus").join(&e.source).join(&e.rel),
    }
}

fn real(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn wrapper(kind: &str, file: &Path) -> String {
    let file = file.display();
    match kind {
        "main" => format!("events {{}}\ninclude {file};\n"),
        "http" => format!("events {{}}\nhttp {{\n    include {file};\n}}\n"),
        "server" => format!(
            "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        include {file};\n    }}\n}}\n"
        ),
        "location" => format!(
            "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        location / {{\n            include {file};\n        }}\n    }}\n}}\n"
        ),
        _ => format!("events {{}}\nstream {{\n    include {file};\n}}\n"),
    }
}

fn config_root(root: &Path, e: &Entry, file: &Path) -> PathBuf {
    if file.starts_with("/etc/nginx") {
        return PathBuf::from("/etc/nginx");
    }
    let mut dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    loop {
        if real(root, &dir).join("nginx.conf").exists() {
            return dir;
        }
        if dir == Path::new("/corpus").join(&e.source) || !dir.pop() {
            break;
        }
    }
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn fixup(root: &Path, f: &str) {
    let write = |p: &str, text: &str| {
        let path = real(root, Path::new(p));
        if let Some(parent) = path.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let mut old = fs::read_to_string(&path).unwrap_or_default();
        old.push_str(text);
        fs::write(&path, old).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    };
    if let Some(p) = f.strip_prefix("empty include ") {
        write(p, "");
    } else if let Some(p) = f.strip_prefix("copied Debian mime.types to ") {
        write(p, "");
    } else if let Some(name) = f.strip_prefix("/etc/hosts ") {
        write("/etc/hosts", &format!("127.0.0.1 {name}\n"));
    }
}

/// The entry placed in a fresh root, wrapped and fixed up as nginx judged
/// it: `upgate lint --root ROOT --format json` on it.
fn lint_entry(e: &Entry) -> (i32, Vec<Value>) {
    let tmp = TempDir::new("corpus");
    let root = tmp.path();
    let file = place(root, e);
    for f in &e.fixups {
        fixup(root, f);
    }
    let target = if e.wrap == "direct" {
        file.clone()
    } else {
        let at = config_root(root, e, &file).join(format!("__wrap_{}__.conf", e.wrap));
        fs::write(real(root, &at), wrapper(&e.wrap, &file)).unwrap_or_else(|err| panic!("{err}"));
        at
    };
    let root_arg = root.display().to_string();
    lint_json(&["--root", &root_arg, &target.display().to_string()])
}

#[test]
fn rejected_corpus_files_lint_to_the_end_with_nginx_s_error() {
    let mut all = String::new();
    let entries = entries(false);
    assert!(entries.len() >= 15, "{}", entries.len());
    for e in entries {
        let (code, findings) = lint_entry(&e);
        let name = format!("{}/{}", e.source, e.rel);
        assert_eq!(code, 2, "{name}: exit code");
        // `MESSAGE in FILE:LINE`, or a bare message (an unknown variable).
        let (message, place) = match e.error.rsplit_once(" in /") {
            Some((message, place)) => (message, Some(format!("/{place}"))),
            None => (e.error.as_str(), None),
        };
        let found = findings.iter().any(|f| {
            let rule_ok = f["rule"] == "nginx-config-error"
                || (f["rule"] == "unknown-variable" && message.ends_with(" variable"));
            let text = f["message"].as_str().unwrap_or_default();
            let at = format!("{}:{}", f["file"].as_str().unwrap_or_default(), f["line"]);
            rule_ok
                && text.contains(
                    message
                        .trim_start_matches("unknown ")
                        .trim_end_matches(" variable"),
                )
                && place.as_ref().is_none_or(|p| *p == at)
        });
        assert!(
            found,
            "{name}: nginx's error {:?} is not among the findings:\n{}",
            e.error,
            summary(&findings, Path::new("/"))
        );
        for line in summary(&findings, Path::new("/")).lines() {
            all.push_str(&format!("{name}: {line}\n"));
        }
    }
    expect_file(&testdata().join("corpus-rejected.expected"), &all);
}

#[test]
fn accepted_corpus_files_have_no_error_findings() {
    let mut all = String::new();
    let mut errors = Vec::new();
    let entries = accepted();
    assert!(entries.len() >= 45, "{}", entries.len());
    for e in entries {
        let (code, findings) = lint_entry(&e);
        assert!(
            code == 0 || code == 1,
            "{}/{}: exit {code}",
            e.source,
            e.rel
        );
        for f in &findings {
            if f["severity"] == "error" {
                errors.push(format!("{}/{}: {}", e.source, e.rel, f));
            }
        }
        let lines = summary(&findings, Path::new("/"));
        for line in lines.lines() {
            all.push_str(&format!("{}/{}: {line}\n", e.source, e.rel));
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
    expect_file(&testdata().join("corpus.expected"), &all);
}
