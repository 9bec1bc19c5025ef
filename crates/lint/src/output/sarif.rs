//! SARIF 2.1.0 output for code-scanning UIs: one run, the rule table as the
//! driver's rules, one result per finding with its region, related
//! locations and fixes (byte-offset replacements). Paths under `base` are
//! written relative to it with the base id `%SRCROOT%`, others as `file://`
//! URIs. Columns count Unicode code points (`columnKind`).

use std::path::Path;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use super::Lines;
use crate::{RULES, Report, Severity};

/// Characters escaped in a URI path (RFC 3986 path segments keep `/`).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

pub fn render(report: &Report, lines: &Lines<'_>, base: Option<&Path>) -> Value {
    let sources = lines.sources();
    let location = |span: upgate_conf::Span| {
        let (sl, sc) = lines.char_position(span.file, span.start as usize);
        let (el, ec) = lines.char_position(span.file, span.end as usize);
        json!({
            "physicalLocation": {
                "artifactLocation": artifact(sources.path(span.file), base),
                "region": {
                    "startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec,
                    "byteOffset": span.start, "byteLength": span.end - span.start,
                }
            }
        })
    };
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": RULES.iter().position(|r| r.id == f.rule).unwrap_or(0),
                "level": level(f.severity),
                "message": {"text": match &f.help {
                    Some(help) => format!("{} (help: {help})", f.message),
                    None => f.message.clone(),
                }},
                "locations": [location(f.span)],
            });
            if !f.related.is_empty() {
                let related: Vec<Value> = f
                    .related
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let mut loc = location(r.span);
                        loc["id"] = json!(i);
                        loc["message"] = json!({"text": r.message});
                        loc
                    })
                    .collect();
                result["relatedLocations"] = json!(related);
            }
            if let Some(fix) = &f.fix {
                let mut files: Vec<upgate_conf::FileId> = fix.edits.iter().map(|e| e.file).collect();
                files.sort();
                files.dedup();
                let changes: Vec<Value> = files
                    .into_iter()
                    .map(|file| {
                        let replacements: Vec<Value> = fix
                            .edits
                            .iter()
                            .filter(|e| e.file == file)
                            .map(|e| {
                                json!({
                                    "deletedRegion": {"byteOffset": e.start, "byteLength": e.end - e.start},
                                    "insertedContent": {"text": String::from_utf8_lossy(&e.text)},
                                })
                            })
                            .collect();
                        json!({"artifactLocation": artifact(sources.path(file), base), "replacements": replacements})
                    })
                    .collect();
                result["fixes"] = json!([{"description": {"text": fix.description}, "artifactChanges": changes}]);
            }
            result
        })
        .collect();
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": {"text": r.summary},
                "help": {"text": format!("{}. Bad and fixed configurations: docs/lint/{}.md", r.summary, r.id)},
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .collect();
    let mut run = json!({
        "tool": {"driver": {
            "name": "upgate-lint",
            "version": env!("CARGO_PKG_VERSION"),
            "rules": rules,
        }},
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if let Some(base) = base {
        let mut uri = file_uri(base);
        if !uri.ends_with('/') {
            uri.push('/');
        }
        run["originalUriBaseIds"] = json!({"%SRCROOT%": {"uri": uri}});
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn artifact(path: &Path, base: Option<&Path>) -> Value {
    if let Some(rel) = base.and_then(|b| path.strip_prefix(b).ok()) {
        let text = rel.to_string_lossy().replace('\\', "/");
        return json!({"uri": utf8_percent_encode(&text, PATH).to_string(), "uriBaseId": "%SRCROOT%"});
    }
    json!({"uri": file_uri(path)})
}

fn file_uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = if text.starts_with('/') {
        text
    } else {
        format!("/{text}")
    };
    format!("file://{}", utf8_percent_encode(&text, PATH))
}
