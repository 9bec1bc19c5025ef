//! The syntax tree: directives with their arguments and blocks, and comments,
//! each with the span it was read from.
//!
//! The tree is lossless enough for the formatter (quotes and comments are
//! kept) and close to crossplane's JSON (a file is a list of directives; an
//! `include` names the files it pulled in).

use std::borrow::Cow;
use std::fmt;

use crate::span::{FileId, Span};

/// How an argument was written. nginx strips the quotes; the printer puts
/// them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Quote {
    #[default]
    None,
    Single,
    Double,
}

/// A directive name or argument: the value nginx sees (quotes removed,
/// `\"` `\'` `\\` `\t` `\r` `\n` unescaped) and the span of the raw text.
/// Values are bytes: configuration files need not be UTF-8.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Word {
    pub value: Vec<u8>,
    pub quote: Quote,
    pub span: Span,
}

impl Word {
    pub fn bytes(&self) -> &[u8] {
        &self.value
    }

    /// The value as text, invalid UTF-8 replaced (for messages and matching
    /// against ASCII keywords).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }

    pub fn is(&self, keyword: &str) -> bool {
        self.value == keyword.as_bytes()
    }

    pub fn is_quoted(&self) -> bool {
        self.quote != Quote::None
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text())
    }
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// A `# ...` comment. `text` is what follows the `#`, without the newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub text: Vec<u8>,
    pub span: Span,
    /// True when the comment follows other tokens on its line (kept there by
    /// the formatter).
    pub trailing: bool,
}

impl Comment {
    pub fn line(&self) -> u32 {
        self.span.line
    }
}

/// One directive: `name arg...;` or `name arg... { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: Word,
    pub args: Vec<Word>,
    pub block: Option<Block>,
    /// Line of the `;` or `{` that ended the directive: where nginx reports
    /// errors about it (`ngx_conf_handler` logs `cf->conf_file->line`).
    pub end_line: u32,
    /// Comments met between the arguments (crossplane lists them separately).
    pub inner_comments: Vec<Comment>,
    /// For `include`: the files it read, in nginx's glob order.
    pub includes: Vec<FileId>,
}

impl Directive {
    pub fn name(&self) -> Cow<'_, str> {
        self.name.text()
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.is(name)
    }

    /// Line of the directive's name, as crossplane reports it.
    pub fn line(&self) -> u32 {
        self.name.span.line
    }

    pub fn file(&self) -> FileId {
        self.name.span.file
    }

    pub fn arg(&self, i: usize) -> Option<&Word> {
        self.args.get(i)
    }

    /// The directives of its block, comments skipped.
    pub fn children(&self) -> impl Iterator<Item = &Directive> {
        self.block.iter().flat_map(|b| b.directives())
    }

    /// Span from the name to the end of the last argument (the text a caret
    /// should underline for the whole directive).
    pub fn head_span(&self) -> Span {
        match self.args.last() {
            Some(last) => self.name.span.to(last.span),
            None => self.name.span,
        }
    }
}

/// A directive or a comment, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Directive(Directive),
    Comment(Comment),
}

impl Node {
    pub fn as_directive(&self) -> Option<&Directive> {
        match self {
            Node::Directive(d) => Some(d),
            Node::Comment(_) => None,
        }
    }
}

/// The inside of `{ ... }`, or a whole file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Block {
    pub nodes: Vec<Node>,
    /// Span of the closing `}` (empty for a file or an unterminated block).
    pub close: Option<Span>,
}

impl Block {
    pub fn directives(&self) -> impl Iterator<Item = &Directive> {
        self.nodes.iter().filter_map(Node::as_directive)
    }

    pub fn directives_mut(&mut self) -> impl Iterator<Item = &mut Directive> {
        self.nodes.iter_mut().filter_map(|n| match n {
            Node::Directive(d) => Some(d),
            Node::Comment(_) => None,
        })
    }
}
