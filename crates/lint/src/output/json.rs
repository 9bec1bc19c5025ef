//! JSON output with stable fields, one object per finding:
//!
//! ```text
//! { "version": 1,
//!   "findings": [ { "rule", "severity", "message", "file", "line", "column",
//!                   "end_line", "end_column", "byte_start", "byte_end",
//!                   "help" (string|null),
//!                   "related": [ { "file", "line", "column", "message" } ],
//!                   "fix": null | { "description",
//!                                   "edits": [ { "file", "byte_start", "byte_end", "text" } ] } } ],
//!   "summary": { "error", "warning", "info" } }
//! ```
//!
//! Lines and columns are 1-based; columns count bytes. New fields may be
//! added; these keep their names and meaning.

use serde_json::{Value, json};

use super::Lines;
use crate::Report;

pub fn render(report: &Report, lines: &Lines<'_>) -> Value {
    let sources = lines.sources();
    let path = |f: upgate_conf::FileId| sources.path(f).display().to_string();
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let (line, column, end_line, end_column) = lines.region(f.span);
            let related: Vec<Value> = f
                .related
                .iter()
                .map(|r| {
                    let (line, column) = lines.position(r.span.file, r.span.start as usize);
                    json!({"file": path(r.span.file), "line": line, "column": column, "message": r.message})
                })
                .collect();
            let fix = f.fix.as_ref().map(|fix| {
                let edits: Vec<Value> = fix
                    .edits
                    .iter()
                    .map(|e| {
                        json!({
                            "file": path(e.file),
                            "byte_start": e.start,
                            "byte_end": e.end,
                            "text": String::from_utf8_lossy(&e.text),
                        })
                    })
                    .collect();
                json!({"description": fix.description, "edits": edits})
            });
            json!({
                "rule": f.rule,
                "severity": f.severity.as_str(),
                "message": f.message,
                "file": path(f.span.file),
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "byte_start": f.span.start,
                "byte_end": f.span.end,
                "help": f.help,
                "related": related,
                "fix": fix,
            })
        })
        .collect();
    let (error, warning, info) = super::counts(report);
    json!({
        "version": 1,
        "findings": findings,
        "summary": {"error": error, "warning": warning, "info": info},
    })
}
