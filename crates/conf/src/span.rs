//! Where a piece of configuration came from: a file of the [`SourceMap`] and
//! a byte range in it, with the line numbers nginx prints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

impl FileId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A byte range in one file. `line` is 1-based, counted the way nginx counts
/// (every LF starts a new line), so it matches `nginx -t`'s `in FILE:LINE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
    pub line: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize, line: u32) -> Self {
        Span {
            file,
            start: start as u32,
            end: end as u32,
            line,
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(&self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
            line: self.line.min(other.line),
        }
    }
}

/// One configuration file as read from disk, kept whole for diagnostics,
/// `-T` and the formatter.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as nginx names it in messages (after prefix resolution).
    pub path: PathBuf,
    pub text: Arc<[u8]>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<[u8]>>) -> Self {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Column (1-based, in bytes) of a byte offset.
    pub fn column(&self, offset: usize) -> usize {
        let before = &self.text[..offset.min(self.text.len())];
        match before.iter().rposition(|&b| b == b'\n') {
            Some(nl) => offset - nl,
            None => offset + 1,
        }
    }

    /// The text as UTF-8, with invalid bytes replaced (for display only).
    pub fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// Every file read while loading a configuration, in the order nginx opened them.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId((self.files.len() - 1) as u32)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.index()]
    }

    pub fn path(&self, id: FileId) -> &Path {
        &self.files[id.index()].path
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
