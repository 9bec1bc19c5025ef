//! The same JSON as [`super::to_json`] of [`super::payload`], written
//! straight from the tokenizer: no tree and no copy of the configuration is
//! built, so a 300,000-line file is printed with the memory of its text and
//! of one directive. `--combine` still goes through the payload (it
//! rearranges files).
//!
//! The second pass over a [`Scan`]: each file without a syntax error is
//! tokenized again ([`Lexer::read_statement`], words borrowed from the
//! text) and each directive serialized as it is read, with the fields the
//! payload's `Stmt` has, in its order; blocks nest as the serializer's
//! sequences do. The lexer state is shared by the nested serializers
//! through a `RefCell`, borrowed only between two of their calls.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Write;

use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::scan::{Scan, ScannedFile};
use super::text::{Ascii, file_errors, lossy, lossy_slice};
use super::{FileError, Options, PayloadError, prepare_if_args, status_of};
use crate::lexer::{LexError, Lexer, RawComment, RawWord, StatementEnd, Terminator, Tokens};
use crate::span::FileId;

/// Writes crossplane's JSON for a scanned configuration (not for
/// `--combine`), compact or indented by `indent` spaces.
pub fn write_json<W: Write>(
    scan: &Scan,
    options: &Options,
    indent: Option<usize>,
    out: W,
) -> Result<(), serde_json::Error> {
    let files: Vec<(String, Vec<FileError>)> = scan
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let path = file.path.to_string_lossy().into_owned();
            let read = scan.read_errors.iter().filter(|e| e.file.index() == i);
            let errors = file_errors(&path, read, file.error.as_ref());
            (path, errors)
        })
        .collect();
    let document = Document {
        scan,
        options,
        files: &files,
    };
    match indent {
        None => {
            let compact = Ascii(serde_json::ser::CompactFormatter);
            document.serialize(&mut serde_json::Serializer::with_formatter(out, compact))
        }
        Some(n) => {
            let indent = vec![b' '; n];
            let pretty = Ascii(serde_json::ser::PrettyFormatter::with_indent(&indent));
            document.serialize(&mut serde_json::Serializer::with_formatter(out, pretty))
        }
    }
}

struct Document<'a> {
    scan: &'a Scan,
    options: &'a Options,
    /// Each file's name and errors.
    files: &'a [(String, Vec<FileError>)],
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let errors: Vec<PayloadError> = self
            .files
            .iter()
            .flat_map(|(path, errors)| {
                errors.iter().map(|e| PayloadError {
                    file: path.clone(),
                    error: e.error.clone(),
                    line: e.line,
                })
            })
            .collect();
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("status", &status_of(&errors))?;
        map.serialize_entry("errors", &errors)?;
        map.serialize_entry("config", &Files(self))?;
        map.end()
    }
}

struct Files<'a>(&'a Document<'a>);

impl Serialize for Files<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let doc = self.0;
        let mut seq = s.serialize_seq(Some(doc.files.len()))?;
        for (i, (file, (path, errors))) in doc.scan.files.iter().zip(doc.files).enumerate() {
            seq.serialize_element(&FileView {
                file,
                id: FileId(i as u32),
                path,
                errors,
                options: doc.options,
            })?;
        }
        seq.end()
    }
}

struct FileView<'a> {
    file: &'a ScannedFile,
    id: FileId,
    path: &'a str,
    errors: &'a [FileError],
    options: &'a Options,
}

impl Serialize for FileView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("file", self.path)?;
        map.serialize_entry("status", &status_of(self.errors))?;
        map.serialize_entry("errors", self.errors)?;
        if self.file.error.is_some() {
            // crossplane keeps nothing of a file its lexer rejects.
            map.serialize_entry("parsed", &[] as &[()])?;
        } else {
            let walk = RefCell::new(Walk::new(self.file, self.id, self.options));
            let parsed = BlockStream {
                walk: &walk,
                nested: false,
            };
            map.serialize_entry("parsed", &parsed)?;
        }
        map.end()
    }
}

/// The words and comments of the statement just read.
#[derive(Default)]
struct Gather {
    words: Vec<RawWord>,
    /// With `leading` (met before the first word); only with comments on.
    comments: Vec<(RawComment, bool)>,
    keep_comments: bool,
}

impl Tokens for Gather {
    fn word(&mut self, word: RawWord) {
        self.words.push(word);
    }

    fn comment(&mut self, comment: RawComment, leading: bool) {
        if self.keep_comments {
            self.comments.push((comment, leading));
        }
    }
}

/// The reading of one file, shared by the blocks being written.
struct Walk<'t> {
    text: &'t [u8],
    lexer: Lexer<'t>,
    tokens: Gather,
    /// What the file's next `include`s read ([`ScannedFile::includes`]).
    includes: std::slice::Iter<'t, Vec<FileId>>,
    options: &'t Options,
    /// The current directive's fields, as the payload's `Stmt` has them.
    name: Cow<'t, str>,
    args: Vec<Cow<'t, str>>,
    line: u32,
    file_includes: Option<&'t [FileId]>,
}

impl<'t> Walk<'t> {
    fn new(file: &'t ScannedFile, id: FileId, options: &'t Options) -> Self {
        Walk {
            text: &file.text,
            lexer: Lexer::new(&file.text, id),
            tokens: Gather {
                keep_comments: options.comments,
                ..Gather::default()
            },
            includes: file.includes.iter(),
            options,
            name: Cow::Borrowed(""),
            args: Vec::new(),
            line: 0,
            file_includes: None,
        }
    }

    /// Reads the next statement; for a directive, fills its fields and
    /// tells whether a block of its own follows.
    fn next(&mut self) -> Result<(StatementEnd, bool), LexError> {
        self.tokens.words.clear();
        self.tokens.comments.clear();
        self.args.clear();
        let end = self.lexer.read_statement(&mut self.tokens)?;
        let text = self.text;
        let Some((name, args)) = self.tokens.words.split_first() else {
            return Ok((end, false));
        };
        let name_value = name.value(text);
        let lua =
            end.terminator == Terminator::BlockStart && name_value.ends_with(b"_by_lua_block");
        let is_include = name_value.as_ref() == b"include";
        self.name = lossy(name_value);
        self.line = name.span.line;
        self.args.extend(args.iter().map(|a| lossy(a.value(text))));
        if lua {
            // The body as written, one argument (parser::parse does so).
            let (body, _) = self.lexer.read_lua_block_raw()?;
            self.args.push(lossy_slice(&text[body.value.range()]));
        }
        if self.name == "if" {
            let mut args: Vec<String> = self.args.drain(..).map(Cow::into_owned).collect();
            prepare_if_args(&mut args);
            self.args.extend(args.into_iter().map(Cow::Owned));
        }
        self.file_includes = if is_include {
            // Advanced at every include, listed only without --single-file.
            let read = self.includes.next().map_or(&[][..], Vec::as_slice);
            (!self.options.single_file).then_some(read)
        } else {
            None
        };
        let block = end.terminator == Terminator::BlockStart && !lua;
        Ok((end, block))
    }
}

/// A block's directives (a file's, when not `nested`), written as read.
struct BlockStream<'a, 't> {
    walk: &'a RefCell<Walk<'t>>,
    nested: bool,
}

impl Serialize for BlockStream<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        loop {
            let mut walk = self.walk.try_borrow_mut().map_err(S::Error::custom)?;
            // An error is not met either (the same lexer, the same text).
            let (end, block) = walk.next().map_err(|e| S::Error::custom(e.message))?;
            let mut inner: Vec<RawComment> = Vec::new();
            for &(comment, leading) in &walk.tokens.comments {
                if leading {
                    let text = lossy_slice(&walk.text[comment.text.range()]);
                    seq.serialize_element(&CommentView(comment.span.line, text))?;
                } else {
                    inner.push(comment);
                }
            }
            match (end.terminator, self.nested) {
                (Terminator::BlockEnd, true) | (Terminator::FileEnd, false) => break,
                (Terminator::BlockEnd | Terminator::FileEnd, _) => {
                    // Not met: the first pass found no syntax error here.
                    return Err(S::Error::custom("unbalanced braces missed by the scan"));
                }
                (Terminator::Semicolon | Terminator::BlockStart, _) => {}
            }
            let line = walk.line;
            let text = walk.text;
            drop(walk);
            seq.serialize_element(&DirectiveView {
                walk: self.walk,
                block,
            })?;
            // crossplane lists comments met between the arguments after
            // the directive, on its line.
            for comment in inner {
                let text = lossy_slice(&text[comment.text.range()]);
                seq.serialize_element(&CommentView(line, text))?;
            }
        }
        seq.end()
    }
}

/// The directive [`Walk::next`] just read, then its block.
struct DirectiveView<'a, 't> {
    walk: &'a RefCell<Walk<'t>>,
    block: bool,
}

impl Serialize for DirectiveView<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        {
            let walk = self.walk.try_borrow().map_err(S::Error::custom)?;
            map.serialize_entry("directive", &walk.name)?;
            map.serialize_entry("line", &walk.line)?;
            map.serialize_entry("args", &walk.args)?;
            if let Some(read) = walk.file_includes {
                map.serialize_entry("includes", &Indices(read))?;
            }
        }
        if self.block {
            let block = BlockStream {
                walk: self.walk,
                nested: true,
            };
            map.serialize_entry("block", &block)?;
        }
        map.end()
    }
}

/// File ids as the payload's `Vec<usize>`.
struct Indices<'a>(&'a [FileId]);

impl Serialize for Indices<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|id| id.index()))
    }
}

/// A comment as the payload's `Stmt`: line and text.
struct CommentView<'t>(u32, Cow<'t, str>);

impl Serialize for CommentView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("directive", "#")?;
        map.serialize_entry("line", &self.0)?;
        map.serialize_entry("args", &[] as &[()])?;
        map.serialize_entry("comment", &self.1)?;
        map.end()
    }
}
