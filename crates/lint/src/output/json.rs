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
//! added; these keep their names and meaning. Objects are written with
//! their keys in byte order (the structs below declare them so), as a
//! `serde_json::Value` would be, without building one.

use serde::Serialize;

use super::Lines;
use crate::Report;

/// The whole JSON document.
#[derive(Debug, Serialize)]
pub struct Document {
    pub findings: Vec<JsonFinding>,
    pub summary: Summary,
    pub version: u32,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub error: usize,
    pub info: usize,
    pub warning: usize,
}

#[derive(Debug, Serialize)]
pub struct JsonFinding {
    pub byte_end: u32,
    pub byte_start: u32,
    pub column: usize,
    pub end_column: usize,
    pub end_line: usize,
    pub file: String,
    pub fix: Option<JsonFix>,
    pub help: Option<String>,
    pub line: usize,
    pub message: String,
    pub related: Vec<JsonRelated>,
    pub rule: &'static str,
    pub severity: &'static str,
}

#[derive(Debug, Serialize)]
pub struct JsonRelated {
    pub column: usize,
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct JsonFix {
    pub description: String,
    pub edits: Vec<JsonEdit>,
}

#[derive(Debug, Serialize)]
pub struct JsonEdit {
    pub byte_end: usize,
    pub byte_start: usize,
    pub file: String,
    pub text: String,
}

impl Document {
    /// Appends another file's findings (several files make one document).
    pub fn merge(&mut self, other: Document) {
        self.findings.extend(other.findings);
        self.summary.error += other.summary.error;
        self.summary.info += other.summary.info;
        self.summary.warning += other.summary.warning;
    }
}

pub fn render(report: &Report, lines: &Lines<'_>) -> Document {
    let sources = lines.sources();
    let path = |f: upgate_conf::FileId| sources.path(f).display().to_string();
    let findings = report
        .findings
        .iter()
        .map(|f| {
            let (line, column, end_line, end_column) = lines.region(f.span);
            let related = f
                .related
                .iter()
                .map(|r| {
                    let (line, column) = lines.position(r.span.file, r.span.start as usize);
                    JsonRelated {
                        column,
                        file: path(r.span.file),
                        line,
                        message: r.message.clone(),
                    }
                })
                .collect();
            let fix = f.fix.as_ref().map(|fix| JsonFix {
                description: fix.description.clone(),
                edits: fix
                    .edits
                    .iter()
                    .map(|e| JsonEdit {
                        byte_end: e.end,
                        byte_start: e.start,
                        file: path(e.file),
                        text: String::from_utf8_lossy(&e.text).into_owned(),
                    })
                    .collect(),
            });
            JsonFinding {
                byte_end: f.span.end,
                byte_start: f.span.start,
                column,
                end_column,
                end_line,
                file: path(f.span.file),
                fix,
                help: f.help.clone(),
                line,
                message: f.message.clone(),
                related,
                rule: f.rule,
                severity: f.severity.as_str(),
            }
        })
        .collect();
    let (error, warning, info) = super::counts(report);
    Document {
        findings,
        summary: Summary {
            error,
            info,
            warning,
        },
        version: 1,
    }
}
