//! crossplane's JSON (`crossplane parse`, PyPI crossplane 0.5.8) for a
//! configuration read by [`crate::syntax::load_syntax`], so that tools built
//! on crossplane can read upgate's output unchanged.
//!
//! Same keys in the same order, same shapes: `{"status","errors","config"}`;
//! per file `{"file","status","errors","parsed"}`; per directive
//! `{"directive","line","args"}` plus `"includes"` (indices into `config`)
//! and `"block"`; comments as `{"directive":"#",...,"comment"}`; `if`
//! arguments without their parentheses; `*_by_lua_block` bodies as one
//! argument and no block; `--combine` inlines includes and puts `"file"`
//! first; `json.dumps`'s layout and its `\uXXXX` escapes of non-ASCII.
//!
//! Where crossplane reads a file differently from nginx, the values here are
//! nginx's (escapes decoded, a syntax error wherever nginx reports one);
//! docs/crossplane.md lists those cases. Errors carry nginx's message, except
//! an unreadable include, which keeps crossplane's (Python's) wording.
//!
//! Two ways to the same bytes: [`payload`] builds the document as a value
//! from [`crate::syntax::load_syntax`]'s tree ([`to_json`] prints it), which
//! `--combine` needs; [`write_json`] streams it from the tokenizer over a
//! [`scan`] of the files, with no tree (every other mode; `upgate parse`
//! uses it). crossplane/stream_tests.rs holds them to the same output.

use serde::Serialize;

use crate::ast::{Block, Comment, Directive, Node};
use crate::span::FileId;
use crate::syntax::SyntaxTree;

/// The flags of `crossplane parse` that shape the payload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--combine`: one config entry, includes inlined.
    pub combine: bool,
    /// `--include-comments`: comments as `"#"` directives.
    pub comments: bool,
    /// `--single-file`: `include`s carry no `"includes"` key.
    pub single_file: bool,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payload {
    pub status: Status,
    pub errors: Vec<PayloadError>,
    pub config: Vec<FileEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

/// An error in the top-level list, naming its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadError {
    pub file: String,
    pub error: String,
    pub line: Option<u32>,
}

/// One file of `config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub file: String,
    pub status: Status,
    pub errors: Vec<FileError>,
    pub parsed: Vec<Stmt>,
}

/// An error in a file's own list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub error: String,
    pub line: Option<u32>,
}

/// A directive or, with comments on, a comment (`"directive": "#"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stmt {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub directive: String,
    pub line: u32,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<Vec<Stmt>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// crossplane stops inlining nowhere (an include cycle overflows Python's
/// stack); upgate stops here.
const MAX_COMBINE_DEPTH: usize = 100;

/// Builds crossplane's payload for a configuration.
pub fn payload(tree: &SyntaxTree, options: &Options) -> Payload {
    let builder = Builder { tree, options };
    let config: Vec<FileEntry> = (0..tree.config.files.len())
        .map(|i| builder.file(FileId(i as u32)))
        .collect();
    let errors: Vec<PayloadError> = config
        .iter()
        .flat_map(|entry| {
            entry.errors.iter().map(|e| PayloadError {
                file: entry.file.clone(),
                error: e.error.clone(),
                line: e.line,
            })
        })
        .collect();
    let payload = Payload {
        status: status_of(&errors),
        errors,
        config,
    };
    if options.combine {
        combine(payload)
    } else {
        payload
    }
}

/// `json.dumps(payload)` as `crossplane parse` prints it: compact
/// (`separators=(',', ':')`) or indented by `indent` spaces, ASCII only.
pub fn to_json(payload: &Payload, indent: Option<usize>) -> Result<String, serde_json::Error> {
    let text = match indent {
        None => serde_json::to_string(payload)?,
        Some(n) => {
            let indent = vec![b' '; n];
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&indent);
            let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
            payload.serialize(&mut ser)?;
            String::from_utf8_lossy(&out).into_owned()
        }
    };
    Ok(text::ensure_ascii(&text))
}

fn status_of<T>(errors: &[T]) -> Status {
    if errors.is_empty() {
        Status::Ok
    } else {
        Status::Failed
    }
}

struct Builder<'a> {
    tree: &'a SyntaxTree,
    options: &'a Options,
}

impl Builder<'_> {
    fn path(&self, id: FileId) -> String {
        self.tree
            .config
            .sources
            .path(id)
            .to_string_lossy()
            .into_owned()
    }

    /// A file's own errors: what could not be read, then its syntax error.
    fn file_errors(&self, id: FileId) -> Vec<FileError> {
        let read = self.tree.read_errors.iter().filter(|e| e.file == id);
        let syntax = self.tree.config.file(id).error.as_ref();
        text::file_errors(&self.path(id), read, syntax)
    }

    fn file(&self, id: FileId) -> FileEntry {
        let file = self.tree.config.file(id);
        let errors = self.file_errors(id);
        let parsed = match &file.error {
            // crossplane keeps nothing of a file its lexer rejects.
            Some(_) => Vec::new(),
            None => self.block(id, &file.block),
        };
        FileEntry {
            file: self.path(id),
            status: status_of(&errors),
            errors,
            parsed,
        }
    }

    fn block(&self, id: FileId, block: &Block) -> Vec<Stmt> {
        let mut out = Vec::new();
        for node in &block.nodes {
            match node {
                Node::Comment(c) => {
                    if self.options.comments {
                        out.push(self.comment(id, c, c.line(), true));
                    }
                }
                Node::Directive(d) => {
                    out.push(self.directive(id, d));
                    if self.options.comments {
                        // crossplane lists comments met between the arguments
                        // after the directive, on its line, without "file".
                        for c in &d.inner_comments {
                            out.push(self.comment(id, c, d.line(), false));
                        }
                    }
                }
            }
        }
        out
    }

    fn comment(&self, id: FileId, c: &Comment, line: u32, with_file: bool) -> Stmt {
        Stmt {
            file: (with_file && self.options.combine).then(|| self.path(id)),
            directive: "#".into(),
            line,
            args: Vec::new(),
            includes: None,
            block: None,
            comment: Some(String::from_utf8_lossy(&c.text).into_owned()),
        }
    }

    fn directive(&self, id: FileId, d: &Directive) -> Stmt {
        let mut stmt = self.directive_head(d);
        stmt.file = self.options.combine.then(|| self.path(id));
        stmt.block = self.streamed_block(d).map(|b| self.block(id, b));
        stmt
    }

    /// The block crossplane lists for a directive (its Lua extension ends
    /// the directive after the body: no block).
    fn streamed_block<'d>(&self, d: &'d Directive) -> Option<&'d Block> {
        match &d.block {
            Some(b) if !crate::parser::is_lua_block(&d.name) => Some(b),
            _ => None,
        }
    }

    /// A directive's entry without its block and file.
    fn directive_head(&self, d: &Directive) -> Stmt {
        let name = d.name.text().into_owned();
        let mut args: Vec<String> = d.args.iter().map(|a| a.text().into_owned()).collect();
        if name == "if" {
            prepare_if_args(&mut args);
        }
        let includes = (!self.options.single_file && name == "include")
            .then(|| d.includes.iter().map(|f| f.index()).collect());
        Stmt {
            file: None,
            directive: name,
            line: d.line(),
            args,
            includes,
            block: None,
            comment: None,
        }
    }
}

/// crossplane's `_combine_parsed_configs`: the main file's directives with
/// every followed `include` replaced by what it read.
fn combine(payload: Payload) -> Payload {
    let Payload {
        status,
        errors,
        config,
    } = payload;
    let file_errors = config.iter().flat_map(|c| c.errors.clone()).collect();
    let combined_status = if config.iter().any(|c| c.status == Status::Failed) {
        Status::Failed
    } else {
        Status::Ok
    };
    let parsed = config
        .first()
        .map(|main| inline(&main.parsed, &config, 0))
        .unwrap_or_default();
    let file = config.first().map(|c| c.file.clone()).unwrap_or_default();
    Payload {
        status,
        errors,
        config: vec![FileEntry {
            file,
            status: combined_status,
            errors: file_errors,
            parsed,
        }],
    }
}

fn inline(block: &[Stmt], config: &[FileEntry], depth: usize) -> Vec<Stmt> {
    let mut out = Vec::new();
    for stmt in block {
        match &stmt.includes {
            Some(indices) => {
                if depth >= MAX_COMBINE_DEPTH {
                    continue;
                }
                for &i in indices {
                    if let Some(entry) = config.get(i) {
                        out.extend(inline(&entry.parsed, config, depth + 1));
                    }
                }
            }
            None => {
                let mut stmt = stmt.clone();
                if let Some(inner) = &stmt.block {
                    stmt.block = Some(inline(inner, config, depth));
                }
                out.push(stmt);
            }
        }
    }
    out
}

mod scan;
mod stream;
mod text;

pub use scan::{Scan, ScannedFile, scan};
pub use stream::write_json;
use text::prepare_if_args;

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
