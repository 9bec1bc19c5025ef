//! Renderings of a [`crate::Report`]: for people ([`human`], miette carets
//! in the file where each directive lives across includes), for scripts
//! ([`json`], stable fields) and for code-scanning UIs ([`sarif`], SARIF
//! 2.1.0). All share [`Lines`], which turns byte offsets into lines and
//! columns without rescanning a file per finding.

mod caret;
pub mod human;
pub mod json;
pub mod sarif;
mod source;

use upgate_conf::{FileId, SourceMap, Span};

/// Line starts of every file, built once per rendering.
pub struct Lines<'a> {
    sources: &'a SourceMap,
    starts: Vec<std::cell::OnceCell<Vec<usize>>>,
}

impl<'a> Lines<'a> {
    pub fn new(sources: &'a SourceMap) -> Self {
        Lines {
            sources,
            starts: (0..sources.len())
                .map(|_| std::cell::OnceCell::new())
                .collect(),
        }
    }

    pub fn sources(&self) -> &'a SourceMap {
        self.sources
    }

    fn starts(&self, file: FileId) -> &[usize] {
        self.starts[file.index()].get_or_init(|| line_starts(&self.sources.get(file).text))
    }

    /// 1-based line and byte column of an offset.
    pub fn position(&self, file: FileId, offset: usize) -> (usize, usize) {
        if file.index() >= self.starts.len() {
            return (1, 1);
        }
        let starts = self.starts(file);
        let line = starts.partition_point(|&s| s <= offset).max(1);
        (line, offset - starts[line - 1] + 1)
    }

    /// 1-based line and column in Unicode code points (SARIF's columns).
    pub fn char_position(&self, file: FileId, offset: usize) -> (usize, usize) {
        let (line, col) = self.position(file, offset);
        if file.index() >= self.starts.len() {
            return (line, col);
        }
        let start = self.starts(file)[line - 1];
        let text = &self.sources.get(file).text;
        let end = offset.min(text.len()).max(start);
        (
            line,
            String::from_utf8_lossy(&text[start..end]).chars().count() + 1,
        )
    }

    /// (start line, start column, end line, end column), byte columns.
    pub fn region(&self, span: Span) -> (usize, usize, usize, usize) {
        let (l1, c1) = self.position(span.file, span.start as usize);
        let (l2, c2) = self.position(span.file, span.end as usize);
        (l1, c1, l2, c2)
    }

    pub fn line_starts_of(&self, file: FileId) -> &[usize] {
        self.starts(file)
    }
}

pub fn line_starts(text: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect()
}

/// Counts by severity: (errors, warnings, infos).
pub fn counts(report: &crate::Report) -> (usize, usize, usize) {
    use crate::Severity::*;
    let n = |s| report.findings.iter().filter(|f| f.severity == s).count();
    (n(Error), n(Warning), n(Info))
}
