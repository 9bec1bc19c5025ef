//! The first pass of `upgate parse`'s streaming writer: every file of the
//! configuration read in crossplane's order, and for each its syntax error
//! and the files its `include`s name, without building a tree.
//!
//! crossplane prints a file's status and errors before its directives, and
//! all the errors of all files before the first file; so everything that
//! can fail is known before a byte is written. This pass tokenizes each
//! file without copying a word ([`Lexer::read_statement`]), follows the
//! block structure with a depth counter, and resolves each `include` the
//! way [`crate::syntax::load_syntax`] does (the same [`Includes`]), in the
//! same breadth-first order, so the file indices agree. The texts are kept
//! for the second pass ([`super::write_json`]).

use std::path::{Path, PathBuf};

use crate::lexer::{Lexer, RawComment, RawWord, Terminator, Tokens};
use crate::parser::SyntaxError;
use crate::span::FileId;
use crate::syntax::{FileSink, Includes, ReadError};

/// A configuration read for crossplane's JSON, without its tree.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Every file read, in crossplane's order (as [`crate::syntax::SyntaxTree`]).
    pub files: Vec<ScannedFile>,
    /// Files that could not be read, in the order they were met.
    pub read_errors: Vec<ReadError>,
}

/// One file of a [`Scan`].
#[derive(Debug, Clone, Default)]
pub struct ScannedFile {
    pub path: PathBuf,
    pub text: Vec<u8>,
    /// The syntax error that stopped reading it, as [`crate::parser::parse`]
    /// reports it.
    pub error: Option<SyntaxError>,
    /// What each `include` directive read, in file order: one entry per
    /// `include` met before `error` (empty without an argument, or when
    /// includes are not followed).
    pub includes: Vec<Vec<FileId>>,
}

impl FileSink for Scan {
    fn add(&mut self, path: &Path, text: Vec<u8>) -> FileId {
        self.files.push(ScannedFile {
            path: path.to_path_buf(),
            text,
            ..ScannedFile::default()
        });
        FileId((self.files.len() - 1) as u32)
    }

    fn read_error(&mut self, error: ReadError) {
        self.read_errors.push(error);
    }
}

/// Reads `path` and, when `follow_includes`, every file its `include`s
/// name, as [`crate::syntax::load_syntax`] does. Never fails: a main file
/// that cannot be read is an empty file with a [`ReadError`].
pub fn scan(path: &Path, follow_includes: bool) -> Scan {
    let mut scan = Scan::default();
    let mut includes = Includes::open(path, &mut scan).filter(|_| follow_includes);
    let mut next = 0;
    while next < scan.files.len() {
        let id = FileId(next as u32);
        // Out of the list while it is read: its includes add files to it.
        let text = std::mem::take(&mut scan.files[next].text);
        let (error, found) = scan_file(&text, id, includes.as_mut(), &mut scan);
        let file = &mut scan.files[next];
        file.text = text;
        file.error = error;
        file.includes = found;
        next += 1;
    }
    scan
}

/// The first two words of a statement, which decide what it is.
#[derive(Default)]
struct Head {
    name: Option<RawWord>,
    arg: Option<RawWord>,
}

impl Tokens for Head {
    fn word(&mut self, word: RawWord) {
        if self.name.is_none() {
            self.name = Some(word);
        } else if self.arg.is_none() {
            self.arg = Some(word);
        }
    }

    fn comment(&mut self, _: RawComment, _: bool) {}
}

/// One file's syntax error (where [`crate::parser::parse`] would stop) and
/// what its `include`s read.
fn scan_file(
    text: &[u8],
    id: FileId,
    mut includes: Option<&mut Includes>,
    scan: &mut Scan,
) -> (Option<SyntaxError>, Vec<Vec<FileId>>) {
    let mut lexer = Lexer::new(text, id);
    let mut found = Vec::new();
    let mut depth = 0usize;
    loop {
        let mut head = Head::default();
        let end = match lexer.read_statement(&mut head) {
            Ok(end) => end,
            Err(e) => return (Some(e.into()), found),
        };
        let message = match end.terminator {
            Terminator::BlockEnd if depth == 0 => "unexpected \"}\"",
            Terminator::FileEnd if depth > 0 => "unexpected end of file, expecting \"}\"",
            Terminator::BlockEnd => {
                depth -= 1;
                continue;
            }
            Terminator::FileEnd => return (None, found),
            Terminator::Semicolon | Terminator::BlockStart => {
                let Some(name) = head.name else { continue };
                let name_value = name.value(text);
                if name_value.as_ref() == b"include" {
                    let read = match (includes.as_deref_mut(), head.arg) {
                        (Some(includes), Some(arg)) => {
                            let arg = String::from_utf8_lossy(&arg.value(text)).into_owned();
                            includes.include(&arg, id, name.span.line, scan)
                        }
                        _ => Vec::new(),
                    };
                    found.push(read);
                }
                if end.terminator == Terminator::BlockStart {
                    // parser::is_lua_block: the body is one opaque word.
                    if name_value.ends_with(b"_by_lua_block") {
                        if let Err(e) = lexer.read_lua_block_raw() {
                            return (Some(e.into()), found);
                        }
                    } else {
                        depth += 1;
                        if depth > crate::parser::MAX_NESTING {
                            return (Some(crate::parser::too_deep(end.terminator_span)), found);
                        }
                    }
                }
                continue;
            }
        };
        let error = SyntaxError {
            message: message.into(),
            span: end.terminator_span,
        };
        return (Some(error), found);
    }
}
