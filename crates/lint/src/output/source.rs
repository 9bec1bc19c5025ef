//! A file's text with its line index, as the human renderings read it:
//! miette through [`SourceCode`], the direct renderer through
//! [`Source::window`]. Only the lines shown are read, so rendering stays
//! linear on configurations of thousands of servers.

use std::fmt;
use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use rustc_hash::FxHashMap;
use upgate_conf::FileId;

use super::Lines;

/// One file's text with a line index.
#[derive(Clone)]
pub struct Source {
    pub name: Arc<str>,
    pub text: Arc<[u8]>,
    pub starts: Arc<Vec<usize>>,
}

/// The lines around a span: `from_line..to_line` (0-based), bytes `from..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from_line: usize,
    pub to_line: usize,
    pub from: usize,
    pub to: usize,
}

impl Source {
    /// The span's lines with `before` and `after` lines of context, or None
    /// when the span runs past the end of the text.
    pub fn window(&self, offset: usize, len: usize, before: usize, after: usize) -> Option<Window> {
        let end = offset + len;
        if end > self.text.len() || self.starts.is_empty() {
            return None;
        }
        let first = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        let last = self.starts.partition_point(|&s| s <= end).max(1) - 1;
        let from_line = first.saturating_sub(before);
        let to_line = (last + after + 1).min(self.starts.len());
        Some(Window {
            from_line,
            to_line,
            from: self.starts[from_line],
            to: self.starts.get(to_line).copied().unwrap_or(self.text.len()),
        })
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let w = self
            .window(span.offset(), span.len(), before, after)
            .ok_or(MietteError::OutOfBounds)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            &self.text[w.from..w.to],
            SourceSpan::from(w.from..w.to),
            w.from_line,
            0,
            w.to_line - w.from_line,
        )))
    }
}

/// One [`Source`] per file, shared by every finding in it.
#[derive(Default)]
pub struct Sources(FxHashMap<FileId, Source>);

impl Sources {
    pub fn get(&mut self, lines: &Lines<'_>, file: FileId) -> Source {
        self.0
            .entry(file)
            .or_insert_with(|| {
                let sources = lines.sources();
                Source {
                    name: sources.path(file).display().to_string().into(),
                    text: sources.get(file).text.clone(),
                    starts: Arc::new(lines.line_starts_of(file).to_vec()),
                }
            })
            .clone()
    }
}
