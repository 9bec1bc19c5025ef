//! Output for people: per finding, miette's caret view of the offending
//! directive in the file where it lives (an include's own file, not the one
//! that includes it), related places as further snippets, help, and whether
//! `--fix` repairs it; then a count.
//!
//! Messages are wrapped here, at spaces, to miette's width (its own
//! wrapping runs a Unicode line breaker over every message), and the plain
//! findings, nearly all, are written by [`super::caret`] in miette's exact
//! layout without going through miette, so that a report of tens of
//! thousands of findings takes a fraction of a second.

use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode, SourceSpan,
};
use upgate_conf::Span;

use super::Lines;
use super::source::{Source, Sources};
use crate::{Finding, Report, Severity};

/// Renders every finding and a closing count.
pub fn render(report: &Report, lines: &Lines<'_>, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_wrap_lines(false);
    // About 1.3 kB a finding: reserved once rather than regrown.
    let mut out = String::with_capacity(report.findings.len() * 1400 + 256);
    let mut cache = Sources::default();
    for finding in &report.findings {
        let diagnostic = FindingDiagnostic::new(finding, lines, &mut cache);
        if !color && super::caret::render(&mut out, &diagnostic) {
            out.push('\n');
            continue;
        }
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

/// One finding rendered directly (None when not plain) and by miette.
#[cfg(test)]
pub(super) fn both_ways(f: &Finding, lines: &Lines<'_>) -> (Option<String>, String) {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_context_lines(1)
        .with_wrap_lines(false);
    let d = FindingDiagnostic::new(f, lines, &mut Sources::default());
    let mut fast = String::new();
    let fast = super::caret::render(&mut fast, &d).then_some(fast);
    let mut slow = String::new();
    let _ = handler.render_report(&mut slow, &d);
    (fast, slow)
}

/// miette's width for messages and help (its 200 columns less 2).
const WIDTH: usize = 198;
/// `  × ` before a message, `  help: ` before help.
const MESSAGE_INDENT: usize = 4;
const HELP_INDENT: usize = 8;

/// Fills lines of at most `width` characters, breaking at spaces (a word
/// longer than that is cut), the way miette's first-fit wrapping does for
/// ASCII text.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut used = 0;
        for word in line.split(' ') {
            let mut word = word;
            let mut len = word.chars().count();
            if used > 0 && used + 1 + len <= width {
                out.push(' ');
                used += 1;
            } else if used > 0 {
                out.push('\n');
                used = 0;
            }
            while len > width {
                let cut = word
                    .char_indices()
                    .nth(width)
                    .map_or(word.len(), |(at, _)| at);
                out.push_str(&word[..cut]);
                out.push('\n');
                word = &word[cut..];
                len -= width;
            }
            out.push_str(word);
            used += len;
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A finding as a miette diagnostic; related places in other files become
/// related diagnostics with their own source.
pub(super) struct FindingDiagnostic {
    pub message: String,
    pub code: &'static str,
    pub severity: Severity,
    pub help: Option<String>,
    pub source: Source,
    pub labels: Vec<LabeledSpan>,
    pub related: Vec<FindingDiagnostic>,
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
        let mut help = f.help.as_deref().map(|h| wrap(h, WIDTH - HELP_INDENT));
        if let Some(fix) = &f.fix {
            let text = wrap(
                &format!("`upgate lint --fix` will {}", fix.description),
                WIDTH - HELP_INDENT,
            );
            help = Some(match help {
                Some(h) => format!("{h}\n{text}"),
                None => text,
            });
        }
        FindingDiagnostic {
            message: wrap(&f.message, WIDTH - MESSAGE_INDENT),
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

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), "aa bb\ncc");
        assert_eq!(wrap("aa\nbb cc", 80), "aa\nbb cc");
        assert_eq!(wrap("abcdefgh ij", 3), "abc\ndef\ngh\nij");
    }
}
