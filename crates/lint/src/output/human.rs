//! Output for people: per finding, miette's caret view of the offending
//! directive in the file where it lives (an include's own file, not the one
//! that includes it), related places as further snippets, help, and whether
//! `--fix` repairs it; then a count.
//!
//! The source handed to miette reads only the lines it shows (through a line
//! index), so rendering stays linear on configurations of thousands of
//! servers.

use std::fmt;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};
use upgate_conf::{FileId, Span};

use super::Lines;
use crate::{Finding, Report, Severity};

/// Renders every finding and a closing count.
pub fn render(report: &Report, lines: &Lines<'_>, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    let mut cache = Sources::default();
    for finding in &report.findings {
        let diagnostic = FindingDiagnostic::new(finding, lines, &mut cache);
        if handler.render_report(&mut out, &diagnostic).is_err() {
            out.push_str(&format!("{}: {}\n", finding.rule, finding.message));
        }
        out.push('\n');
    }
    let (e, w, i) = super::counts(report);
    let fixable = report.findings.iter().filter(|f| f.fix.is_some()).count();
    out.push_str(&format!(
        "{} finding{}: {e} error{}, {w} warning{}, {i} info{}\n",
        report.findings.len(),
        plural(report.findings.len()),
        plural(e),
        plural(w),
        if i == 1 { "" } else { "s" },
    ));
    if fixable > 0 {
        out.push_str(&format!(
            "{fixable} can be fixed automatically with `upgate lint --fix`\n"
        ));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One file's text with a line index, as miette reads it.
#[derive(Clone)]
struct Source {
    name: String,
    text: Arc<[u8]>,
    starts: Arc<Vec<usize>>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// One [`Source`] per file, shared by every finding in it.
#[derive(Default)]
struct Sources(rustc_hash::FxHashMap<FileId, Source>);

impl Sources {
    fn get(&mut self, lines: &Lines<'_>, file: FileId) -> Source {
        self.0
            .entry(file)
            .or_insert_with(|| {
                let sources = lines.sources();
                Source {
                    name: sources.path(file).display().to_string(),
                    text: sources.get(file).text.clone(),
                    starts: Arc::new(lines.line_starts_of(file).to_vec()),
                }
            })
            .clone()
    }
}

impl SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let start = span.offset();
        let end = start + span.len();
        if end > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = self.starts.partition_point(|&s| s <= start).max(1) - 1;
        let last = self.starts.partition_point(|&s| s <= end.max(start)).max(1) - 1;
        let from_line = first.saturating_sub(before);
        let to_line = (last + after + 1).min(self.starts.len());
        let from = self.starts[from_line];
        let to = self.starts.get(to_line).copied().unwrap_or(self.text.len());
        let data = &self.text[from..to];
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data,
            SourceSpan::from(from..to),
            from_line,
            0,
            to_line - from_line,
        )))
    }
}

/// A finding as a miette diagnostic; related places in other files become
/// related diagnostics with their own source.
struct FindingDiagnostic {
    message: String,
    code: &'static str,
    severity: Severity,
    help: Option<String>,
    source: Source,
    labels: Vec<LabeledSpan>,
    related: Vec<FindingDiagnostic>,
}

impl FindingDiagnostic {
    fn new(f: &Finding, lines: &Lines<'_>, cache: &mut Sources) -> Self {
        let label = |span: Span, text: &str| {
            LabeledSpan::new_with_span(Some(text.to_string()), SourceSpan::from(span.range()))
        };
        let mut labels = vec![label(f.span, "here")];
        let mut related = Vec::new();
        for r in &f.related {
            if r.span.file == f.span.file {
                labels.push(label(r.span, &r.message));
            } else {
                related.push(FindingDiagnostic {
                    message: format!("note: {}", r.message),
                    code: f.rule,
                    severity: Severity::Info,
                    help: None,
                    source: cache.get(lines, r.span.file),
                    labels: vec![label(r.span, &r.message)],
                    related: Vec::new(),
                });
            }
        }
        let mut help = f.help.clone();
        if let Some(fix) = &f.fix {
            let text = format!("`upgate lint --fix` will {}", fix.description);
            help = Some(match help {
                Some(h) => format!("{h}\n{text}"),
                None => text,
            });
        }
        FindingDiagnostic {
            message: f.message.clone(),
            code: f.rule,
            severity: f.severity,
            help,
            source: cache.get(lines, f.span.file),
            labels,
            related,
        }
    }
}

impl fmt::Debug for FindingDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for FindingDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FindingDiagnostic {}

impl Diagnostic for FindingDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
    }
}
