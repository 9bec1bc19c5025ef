//! miette's graphical layout (unicode characters, no color, one line of
//! context, no wrapping: what [`super::human`] asks of it), written
//! directly for the plain case: every label on one line, one label per
//! offset, and context lines of printable ASCII. That is nearly every
//! finding, and miette spends most of a big report's time on them
//! (`GraphicalReportHandler::render_context`, `get_lines`). Anything else
//! (tabs, multi-line spans, other scripts, color) is left to miette. The
//! test at the end checks that both write the same bytes.

use std::fmt::Write;

use miette::LabeledSpan;

use super::human::FindingDiagnostic;
use super::source::Source;
use crate::Severity;

/// Appends the finding as miette would write it and returns true, or
/// leaves `out` as it was and returns false when the finding is not plain.
pub fn render(out: &mut String, d: &FindingDiagnostic) -> bool {
    let start = out.len();
    if write(out, d, false).is_none() {
        out.truncate(start);
        return false;
    }
    true
}

/// `render_report_inner`: header, message, snippets, help, related.
fn write(out: &mut String, d: &FindingDiagnostic, nested: bool) -> Option<()> {
    if nested {
        out.push_str(match d.severity {
            Severity::Error => "\nError: ",
            Severity::Warning => "\nWarning: ",
            Severity::Info => "\nAdvice: ",
        });
    }
    out.push_str(d.code);
    out.push_str("\n\n");
    let icon = match d.severity {
        Severity::Error => "  × ",
        Severity::Warning => "  ⚠ ",
        Severity::Info => "  ☞ ",
    };
    indent(out, &d.message, icon, "  │ ");
    snippets(out, &d.source, &d.labels)?;
    if let Some(help) = &d.help {
        indent(out, help, "  help: ", "        ");
    }
    for r in &d.related {
        write(out, r, true)?;
    }
    Some(())
}

/// miette's `wrap` without wrapping, then a newline.
fn indent(out: &mut String, text: &str, first: &str, rest: &str) {
    for (i, line) in text.split_terminator('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let prefix = if i == 0 { first } else { rest };
        if line.trim().is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
        }
        out.push_str(line);
    }
    if text.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
}

/// A label as miette's `FancySpan` compares it: text and span.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Label<'l> {
    text: Option<&'l str>,
    offset: usize,
    end: usize,
}

/// `render_snippets`: labels by offset, nearby ones sharing a context.
fn snippets(out: &mut String, source: &Source, labels: &[LabeledSpan]) -> Option<()> {
    let mut labels: Vec<Label<'_>> = labels
        .iter()
        .map(|l| Label {
            text: l.label(),
            offset: l.offset(),
            end: l.offset() + l.len(),
        })
        .collect();
    labels.sort_by_key(|l| l.offset);
    let text = &source.text;
    for (i, l) in labels.iter().enumerate() {
        let plain = l.end > l.offset
            && l.end <= text.len()
            && !text[l.offset..l.end].contains(&b'\n')
            && l.text.is_none_or(|t| !t.contains('\n'))
            && labels.get(i + 1).is_none_or(|next| next.offset != l.offset);
        if !plain {
            return None;
        }
    }
    // (span offset, span end, window)
    let mut contexts: Vec<(usize, usize, super::source::Window)> = Vec::new();
    for l in &labels {
        let right = source.window(l.offset, l.end - l.offset, 1, 1)?;
        if let Some(&(left_offset, left_end, left)) = contexts.last()
            && left.to_line >= right.from_line
        {
            let end = left_end.max(l.end);
            if let Some(merged) = source.window(left_offset, end - left_offset, 1, 1) {
                contexts.pop();
                contexts.push((left_offset, end, merged));
                continue;
            }
        }
        contexts.push((l.offset, l.end, right));
    }
    for (offset, end, window) in contexts {
        context(out, source, offset, end, window, &labels)?;
    }
    Some(())
}

/// `render_context` for labels that each sit on one line.
fn context(
    out: &mut String,
    source: &Source,
    offset: usize,
    end: usize,
    w: super::source::Window,
    labels: &[Label<'_>],
) -> Option<()> {
    let data = source.text.get(w.from..w.to)?;
    if data.is_empty()
        || !data
            .iter()
            .all(|&b| b == b'\n' || (b' '..=b'~').contains(&b))
    {
        return None;
    }
    let primary = labels.iter().find(|l| offset <= l.offset && l.end <= end);
    let primary_line = match primary {
        Some(p) => source.window(p.offset, p.end - p.offset, 0, 0)?.from_line,
        None => w.from_line,
    };
    let width = digits(w.to_line);
    let pad = " ".repeat(width + 2);
    let _ = writeln!(out, "{pad}╭─[{}:{}:1]", source.name, primary_line + 1);
    let mut line_offset = w.from;
    for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let length = line.len();
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let _ = write!(out, " {:>width$} │ ", w.from_line + i + 1);
        out.push_str(std::str::from_utf8(text).ok()?);
        out.push('\n');
        let here: Vec<&Label<'_>> = labels
            .iter()
            .filter(|l| l.offset >= line_offset && l.offset < line_offset + length)
            .collect();
        if !here.is_empty() {
            underline(out, width, line_offset, text.len(), &here);
        }
        line_offset += length;
    }
    out.push_str(&pad);
    out.push_str("╰────\n");
    Some(())
}

/// `render_single_line_highlights`: the underlines, then each label from
/// the rightmost, with bars for those left of it.
fn underline(out: &mut String, width: usize, line: usize, len: usize, here: &[&Label<'_>]) {
    let column = |offset: usize| {
        let i = offset - line;
        if i > len { len + 1 } else { i }
    };
    let no_linum = format!(" {:width$} · ", "");
    out.push_str(&no_linum);
    let mut highest = 0;
    let mut bars = Vec::with_capacity(here.len());
    for l in here {
        let start = column(l.offset).max(highest);
        let end = column(l.end).max(start + 1);
        let bar = (start + end) / 2;
        push_n(out, ' ', start.saturating_sub(highest));
        push_n(out, '─', bar - start);
        out.push(if l.text.is_some() { '┬' } else { '─' });
        push_n(out, '─', end - bar - 1);
        highest = highest.max(end);
        bars.push((**l, bar));
    }
    out.push('\n');
    for l in here.iter().rev() {
        let Some(text) = l.text else { continue };
        out.push_str(&no_linum);
        let mut at = 1;
        for (other, bar) in &bars {
            push_n(out, ' ', (bar + 1).saturating_sub(at));
            at = at.max(bar + 1);
            if other != *l {
                out.push('│');
                at += 1;
            } else {
                out.push_str("╰── ");
                out.push_str(text);
                out.push('\n');
                break;
            }
        }
    }
}

fn push_n(out: &mut String, c: char, n: usize) {
    out.extend(std::iter::repeat_n(c, n));
}

fn digits(n: usize) -> usize {
    n.max(1).ilog10() as usize + 1
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::Lines;
    use super::super::human;
    use crate::{NoResolve, Options, lint, load_options};

    /// Every testdata configuration: the direct rendering of each finding
    /// equals miette's.
    #[test]
    fn writes_what_miette_writes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lint");
        let mut confs: Vec<PathBuf> = Vec::new();
        for dir in ["rules", "cases"] {
            for entry in std::fs::read_dir(root.join(dir))
                .into_iter()
                .flatten()
                .flatten()
            {
                for file in std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if file.path().extension().is_some_and(|e| e == "conf") {
                        confs.push(file.path());
                    }
                }
            }
        }
        let mut plain = 0;
        for conf in &confs {
            let loaded = upgate_conf::load(&load_options(conf));
            let report = lint(&loaded, &Options::new(&NoResolve));
            let lines = Lines::new(&loaded.config.sources);
            for f in &report.findings {
                let (fast, slow) = human::both_ways(f, &lines);
                if let Some(fast) = fast {
                    assert_eq!(fast, slow, "{}: {}", conf.display(), f.rule);
                    plain += 1;
                }
            }
        }
        assert!(plain > 20, "only {plain} plain findings");
    }
}
