//! SARIF 2.1.0 output for code-scanning UIs: one run, the rule table as the
//! driver's rules, one result per finding with its region, related
//! locations and fixes (byte-offset replacements). Paths under `base` are
//! written relative to it with the base id `%SRCROOT%`, others as `file://`
//! URIs; with a `root` (lint's `--root`), a configuration's absolute names
//! are first mapped to the files read for them, so that code scanning finds
//! `/etc/nginx/nginx.conf` as the repository's `etc/nginx/nginx.conf`.
//! Columns count Unicode code points (`columnKind`). As in
//! [`super::json`], objects are typed structs with their keys declared in
//! byte order.

use std::path::Path;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;
use upgate_conf::fs::Root;

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

/// A SARIF 2.1.0 log with one run.
#[derive(Debug, Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: Vec<Run>,
    version: &'static str,
}

impl Log {
    /// Appends another file's results (several files make one run).
    pub fn merge(&mut self, other: Log) {
        if let (Some(run), Some(more)) = (self.runs.first_mut(), other.runs.into_iter().next()) {
            run.results.extend(more.results);
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    column_kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_uri_base_ids: Option<BaseIds>,
    results: Vec<SarifResult>,
    tool: Tool,
}

#[derive(Debug, Serialize)]
struct BaseIds {
    #[serde(rename = "%SRCROOT%")]
    src_root: Uri,
}

#[derive(Debug, Serialize)]
struct Uri {
    uri: String,
}

#[derive(Debug, Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Debug, Serialize)]
struct Driver {
    name: &'static str,
    rules: Vec<RuleDescriptor>,
    version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleDescriptor {
    default_configuration: Level,
    help: Text,
    id: &'static str,
    short_description: Text,
}

#[derive(Debug, Serialize)]
struct Level {
    level: &'static str,
}

#[derive(Debug, Serialize)]
struct Text {
    text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fixes: Vec<SarifFix>,
    level: &'static str,
    locations: Vec<Location>,
    message: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<Location>,
    rule_id: &'static str,
    rule_index: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Text>,
    physical_location: PhysicalLocation,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: Artifact,
    region: Region,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    byte_length: u32,
    byte_offset: u32,
    end_column: usize,
    end_line: usize,
    start_column: usize,
    start_line: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifFix {
    artifact_changes: Vec<ArtifactChange>,
    description: Text,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactChange {
    artifact_location: Artifact,
    replacements: Vec<Replacement>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Replacement {
    deleted_region: Deleted,
    inserted_content: Text,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Deleted {
    byte_length: usize,
    byte_offset: usize,
}

pub fn render(report: &Report, lines: &Lines<'_>, base: Option<&Path>) -> Log {
    render_rooted(report, lines, base, None)
}

/// [`render`] for a configuration read with `--root ROOT`: its absolute
/// names are the target machine's, the files are under `root` (absolute,
/// like `base`).
pub fn render_rooted(
    report: &Report,
    lines: &Lines<'_>,
    base: Option<&Path>,
    root: Option<&Root>,
) -> Log {
    let paths = Paths { base, root };
    let sources = lines.sources();
    let location = |span: upgate_conf::Span, id: Option<usize>, message: Option<&str>| {
        let (sl, sc) = lines.char_position(span.file, span.start as usize);
        let (el, ec) = lines.char_position(span.file, span.end as usize);
        Location {
            id,
            message: message.map(|m| Text {
                text: m.to_string(),
            }),
            physical_location: PhysicalLocation {
                artifact_location: paths.artifact(sources.path(span.file)),
                region: Region {
                    byte_length: span.end - span.start,
                    byte_offset: span.start,
                    end_column: ec,
                    end_line: el,
                    start_column: sc,
                    start_line: sl,
                },
            },
        }
    };
    let results = report
        .findings
        .iter()
        .map(|f| {
            let related_locations = f
                .related
                .iter()
                .enumerate()
                .map(|(i, r)| location(r.span, Some(i), Some(&r.message)))
                .collect();
            let fixes = f
                .fix
                .iter()
                .map(|fix| fix_of(fix, sources, &paths))
                .collect();
            SarifResult {
                fixes,
                level: level(f.severity),
                locations: vec![location(f.span, None, None)],
                message: Text {
                    text: match &f.help {
                        Some(help) => format!("{} (help: {help})", f.message),
                        None => f.message.clone(),
                    },
                },
                related_locations,
                rule_id: f.rule,
                rule_index: RULES.iter().position(|r| r.id == f.rule).unwrap_or(0),
            }
        })
        .collect();
    let rules = RULES
        .iter()
        .map(|r| RuleDescriptor {
            default_configuration: Level {
                level: level(r.severity),
            },
            help: Text {
                text: format!(
                    "{}. Bad and fixed configurations: docs/lint/{}.md",
                    r.summary, r.id
                ),
            },
            id: r.id,
            short_description: Text {
                text: r.summary.to_string(),
            },
        })
        .collect();
    let original_uri_base_ids = base.map(|base| {
        let mut uri = file_uri(base);
        if !uri.ends_with('/') {
            uri.push('/');
        }
        BaseIds {
            src_root: Uri { uri },
        }
    });
    Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: vec![Run {
            column_kind: "unicodeCodePoints",
            original_uri_base_ids,
            results,
            tool: Tool {
                driver: Driver {
                    name: "upgate-lint",
                    rules,
                    version: env!("CARGO_PKG_VERSION"),
                },
            },
        }],
        version: "2.1.0",
    }
}

/// A fix as byte-offset replacements, grouped by file.
fn fix_of(fix: &crate::Fix, sources: &upgate_conf::SourceMap, paths: &Paths<'_>) -> SarifFix {
    let mut files: Vec<upgate_conf::FileId> = fix.edits.iter().map(|e| e.file).collect();
    files.sort();
    files.dedup();
    let artifact_changes = files
        .into_iter()
        .map(|file| ArtifactChange {
            artifact_location: paths.artifact(sources.path(file)),
            replacements: fix
                .edits
                .iter()
                .filter(|e| e.file == file)
                .map(|e| Replacement {
                    deleted_region: Deleted {
                        byte_length: e.end - e.start,
                        byte_offset: e.start,
                    },
                    inserted_content: Text {
                        text: String::from_utf8_lossy(&e.text).into_owned(),
                    },
                })
                .collect(),
        })
        .collect();
    SarifFix {
        artifact_changes,
        description: Text {
            text: fix.description.clone(),
        },
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// Where the files are: the SARIF base and lint's `--root`.
struct Paths<'a> {
    base: Option<&'a Path>,
    root: Option<&'a Root>,
}

impl Paths<'_> {
    fn artifact(&self, path: &Path) -> Artifact {
        match self.root.and_then(|root| root.real(path)) {
            Some(real) => artifact(&real, self.base),
            None => artifact(path, self.base),
        }
    }
}

fn artifact(path: &Path, base: Option<&Path>) -> Artifact {
    if let Some(rel) = base.and_then(|b| path.strip_prefix(b).ok()) {
        let text = rel.to_string_lossy().replace('\\', "/");
        return Artifact {
            uri: utf8_percent_encode(&text, PATH).to_string(),
            uri_base_id: Some("%SRCROOT%"),
        };
    }
    Artifact {
        uri: file_uri(path),
        uri_base_id: None,
    }
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
