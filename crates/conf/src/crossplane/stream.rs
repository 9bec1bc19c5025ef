//! The same JSON as [`super::to_json`] of [`super::payload`], written
//! straight from the syntax tree to a writer: no copy of the configuration
//! is built first, so a 300,000-line file is printed in one pass with the
//! memory of the tree alone. `--combine` still goes through the payload
//! (it rearranges files).

use std::io::{self, Write};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::{Builder, FileError, Options, PayloadError, status_of};
use crate::ast::{Block, Directive, Node};
use crate::span::FileId;
use crate::syntax::SyntaxTree;

/// Writes crossplane's JSON for the tree (not for `--combine`).
pub fn write_json<W: Write>(
    tree: &SyntaxTree,
    options: &Options,
    indent: Option<usize>,
    out: W,
) -> Result<(), serde_json::Error> {
    let builder = Builder { tree, options };
    let files: Vec<(FileId, Vec<FileError>)> = (0..tree.config.files.len())
        .map(|i| {
            let id = FileId(i as u32);
            (id, builder.file_errors(id))
        })
        .collect();
    let document = Document {
        builder: &builder,
        files: &files,
    };
    match indent {
        None => {
            let mut ser = serde_json::Serializer::with_formatter(
                out,
                Ascii(serde_json::ser::CompactFormatter),
            );
            document.serialize(&mut ser)
        }
        Some(n) => {
            let indent = vec![b' '; n];
            let pretty = serde_json::ser::PrettyFormatter::with_indent(&indent);
            let mut ser = serde_json::Serializer::with_formatter(out, Ascii(pretty));
            document.serialize(&mut ser)
        }
    }
}

struct Document<'a> {
    builder: &'a Builder<'a>,
    files: &'a [(FileId, Vec<FileError>)],
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let errors: Vec<PayloadError> = self
            .files
            .iter()
            .flat_map(|(id, errors)| {
                errors.iter().map(|e| PayloadError {
                    file: self.builder.path(*id),
                    error: e.error.clone(),
                    line: e.line,
                })
            })
            .collect();
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("status", &status_of(&errors))?;
        map.serialize_entry("errors", &errors)?;
        map.serialize_entry(
            "config",
            &Files {
                builder: self.builder,
                files: self.files,
            },
        )?;
        map.end()
    }
}

struct Files<'a> {
    builder: &'a Builder<'a>,
    files: &'a [(FileId, Vec<FileError>)],
}

impl Serialize for Files<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.files.len()))?;
        for (id, errors) in self.files {
            seq.serialize_element(&FileView {
                builder: self.builder,
                id: *id,
                errors,
            })?;
        }
        seq.end()
    }
}

struct FileView<'a> {
    builder: &'a Builder<'a>,
    id: FileId,
    errors: &'a [FileError],
}

impl Serialize for FileView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let file = self.builder.tree.config.file(self.id);
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("file", &self.builder.path(self.id))?;
        map.serialize_entry("status", &status_of(self.errors))?;
        map.serialize_entry("errors", self.errors)?;
        // crossplane keeps nothing of a file its lexer rejects.
        let empty = Block::default();
        let block = if file.error.is_some() {
            &empty
        } else {
            &file.block
        };
        map.serialize_entry(
            "parsed",
            &BlockView {
                builder: self.builder,
                id: self.id,
                block,
            },
        )?;
        map.end()
    }
}

struct BlockView<'a> {
    builder: &'a Builder<'a>,
    id: FileId,
    block: &'a Block,
}

impl Serialize for BlockView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let comments = self.builder.options.comments;
        let mut seq = s.serialize_seq(None)?;
        for node in &self.block.nodes {
            match node {
                Node::Comment(c) => {
                    if comments {
                        seq.serialize_element(&self.builder.comment(self.id, c, c.line(), true))?;
                    }
                }
                Node::Directive(d) => {
                    seq.serialize_element(&DirectiveView {
                        builder: self.builder,
                        id: self.id,
                        directive: d,
                    })?;
                    if comments {
                        for c in &d.inner_comments {
                            seq.serialize_element(&self.builder.comment(
                                self.id,
                                c,
                                d.line(),
                                false,
                            ))?;
                        }
                    }
                }
            }
        }
        seq.end()
    }
}

struct DirectiveView<'a> {
    builder: &'a Builder<'a>,
    id: FileId,
    directive: &'a Directive,
}

impl Serialize for DirectiveView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The same fields as the payload's Stmt, with the block streamed.
        let head = self.builder.directive_head(self.directive);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("directive", &head.directive)?;
        map.serialize_entry("line", &head.line)?;
        map.serialize_entry("args", &head.args)?;
        if let Some(includes) = &head.includes {
            map.serialize_entry("includes", includes)?;
        }
        if let Some(block) = self.builder.streamed_block(self.directive) {
            map.serialize_entry(
                "block",
                &BlockView {
                    builder: self.builder,
                    id: self.id,
                    block,
                },
            )?;
        }
        map.end()
    }
}

/// serde_json's formatter with Python's `ensure_ascii`: every character
/// outside ASCII is written as `\uXXXX` (astral ones as a surrogate pair).
struct Ascii<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for Ascii<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(|c: char| !c.is_ascii() || c == '\u{7f}') {
            w.write_all(&rest.as_bytes()[..at])?;
            let mut chars = rest[at..].chars();
            if let Some(c) = chars.next() {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
            rest = chars.as_str();
        }
        w.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}
