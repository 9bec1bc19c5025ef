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

use serde::Serialize;

use crate::ast::{Block, Comment, Directive, Node};
use crate::span::FileId;
use crate::syntax::{ReadError, SyntaxTree};

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
    Ok(ensure_ascii(&text))
}

/// Python's `ensure_ascii`: every character outside `' '..='~'` that
/// serde_json left as itself (they occur only inside strings) becomes
/// `\uXXXX`, astral ones as a surrogate pair.
fn ensure_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() && c != '\u{7f}' {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }
    out
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
        let file = self.tree.config.file(id);
        let mut errors: Vec<FileError> = self
            .tree
            .read_errors
            .iter()
            .filter(|e| e.file == id)
            .map(|e| FileError {
                error: read_error_text(e),
                line: e.line,
            })
            .collect();
        if let Some(syntax) = &file.error {
            errors.push(FileError {
                error: format!(
                    "{} in {}:{}",
                    syntax.message,
                    self.path(id),
                    syntax.span.line
                ),
                line: Some(syntax.span.line),
            });
        }
        errors
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

/// crossplane's `_prepare_if_args`: `if ($a = b)` has the arguments
/// `$a`, `=`, `b`.
fn prepare_if_args(args: &mut Vec<String>) {
    let (Some(first), Some(last)) = (args.first(), args.last()) else {
        return;
    };
    if !(first.starts_with('(') && last.ends_with(')')) {
        return;
    }
    let first = first[1..].trim_start_matches(py_isspace).to_string();
    args[0] = first;
    let n = args.len();
    let last = &args[n - 1];
    let last = last
        .strip_suffix(')')
        .unwrap_or(last)
        .trim_end_matches(py_isspace)
        .to_string();
    args[n - 1] = last;
    let start = usize::from(args[0].is_empty());
    let end = n - usize::from(args[n - 1].is_empty());
    *args = if start < end {
        args[start..end].to_vec()
    } else {
        Vec::new()
    };
}

/// Python's `str.isspace`, which `strip()` uses.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str(e)` of the `OSError` crossplane catches: `[Errno 2] No such file or
/// directory: 'conf.d/x.conf'`.
fn read_error_text(e: &ReadError) -> String {
    let path = py_repr(&e.path.to_string_lossy());
    match e.errno {
        Some(errno) => format!("[Errno {errno}] {}: {path}", e.reason),
        None => format!("{}: {path}", e.reason),
    }
}

/// Python's `repr` of a string, for file names in messages.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
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

mod stream;

pub use stream::write_json;

#[cfg(test)]
mod tests;
