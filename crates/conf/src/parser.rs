//! Statements -> tree, for one file (`ngx_conf_parse` without the handlers).
//!
//! nginx runs each directive's handler as soon as it has read it, so a
//! syntax error late in a file is reported only if nothing before it failed.
//! To keep that order the parser never gives up on the whole file: it returns
//! the tree read so far and the syntax error that stopped it; the loader walks
//! the tree and raises the syntax error when it reaches the point where
//! reading stopped.
//!
//! The tree is most of `-t`'s memory (a 300,000-line file has some 220,000
//! directives), so every list in it is allocated once at its final length:
//! words and nodes are gathered on stacks shared by the whole file and moved
//! into their directive or block when it ends, never grown in place.

use crate::ast::{Block, Comment, Directive, Node, Word};
use crate::lexer::{LexError, Lexer, RawComment, RawWord, Terminator, Tokens};
use crate::span::{FileId, Span};

/// A file's tree and, if reading stopped early, why.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub block: Block,
    pub error: Option<SyntaxError>,
}

/// A syntax error with nginx's message and the span nginx's line refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

impl From<LexError> for SyntaxError {
    fn from(e: LexError) -> Self {
        SyntaxError {
            message: e.message,
            span: e.span,
        }
    }
}

/// Parses one file's text.
pub fn parse(text: &[u8], file: FileId) -> ParsedFile {
    let mut parser = Parser {
        lexer: Lexer::new(text, file),
        tokens: Gather {
            text,
            words: Vec::new(),
            nodes: Vec::new(),
            inner_comments: Vec::new(),
        },
    };
    let mut block = Block::default();
    let error = parser.block(&mut block, 0).err();
    ParsedFile { block, error }
}

/// Blocks nested deeper than this are refused. nginx has no such limit and
/// overflows its stack somewhere past it; every walk over the tree here is
/// recursive too, so the limit keeps a hostile file from crashing upgate.
/// Real configurations nest a handful of levels.
pub const MAX_NESTING: usize = 200;

/// The error for a block nested past [`MAX_NESTING`], at its `{`.
pub fn too_deep(at: Span) -> SyntaxError {
    SyntaxError {
        message: format!("too many nested blocks (more than {MAX_NESTING})"),
        span: at,
    }
}

/// OpenResty's `*_by_lua_block` directives hold Lua, not nginx syntax.
pub fn is_lua_block(name: &Word) -> bool {
    name.value.ends_with(b"_by_lua_block")
}

struct Parser<'t> {
    lexer: Lexer<'t>,
    tokens: Gather<'t>,
}

/// The stacks the statements of a file are read into.
struct Gather<'t> {
    text: &'t [u8],
    /// The words of the statement being read.
    words: Vec<Word>,
    /// The nodes of every open block, innermost last; a block takes its
    /// own off the top when it closes.
    nodes: Vec<Node>,
    /// Comments between the words of the statement being read.
    inner_comments: Vec<Comment>,
}

impl Tokens for Gather<'_> {
    fn word(&mut self, word: RawWord) {
        self.words.push(word.to_word(self.text));
    }

    fn comment(&mut self, comment: RawComment, leading: bool) {
        let comment = comment.to_comment(self.text);
        // A comment before the statement's first word stands in the block
        // before the directive, as it stands in the file.
        if leading {
            self.nodes.push(Node::Comment(comment));
        } else {
            self.inner_comments.push(comment);
        }
    }
}

impl Parser<'_> {
    /// Reads statements into `block` until its `}` (`depth > 0`) or the end
    /// of the file. Unclosed blocks keep `close == None`. What was read
    /// stays in `block` when an error stops it.
    fn block(&mut self, block: &mut Block, depth: usize) -> Result<(), SyntaxError> {
        let base = self.tokens.nodes.len();
        let result = self.statements(block, depth);
        block.nodes = self.tokens.nodes.drain(base..).collect();
        result
    }

    fn statements(&mut self, block: &mut Block, depth: usize) -> Result<(), SyntaxError> {
        let nested = depth > 0;
        loop {
            self.tokens.words.clear();
            let before = self.tokens.nodes.len();
            let end = match self.lexer.read_statement(&mut self.tokens) {
                Ok(end) => end,
                Err(e) => {
                    // The tree holds whole statements only: one that fails
                    // to read leaves nothing, not even its leading comments.
                    self.tokens.nodes.truncate(before);
                    return Err(e.into());
                }
            };
            match end.terminator {
                Terminator::BlockEnd => {
                    if !nested {
                        return Err(SyntaxError {
                            message: "unexpected \"}\"".into(),
                            span: end.terminator_span,
                        });
                    }
                    block.close = Some(end.terminator_span);
                    return Ok(());
                }
                Terminator::FileEnd => {
                    if nested {
                        return Err(SyntaxError {
                            message: "unexpected end of file, expecting \"}\"".into(),
                            span: end.terminator_span,
                        });
                    }
                    return Ok(());
                }
                Terminator::Semicolon | Terminator::BlockStart => {}
            }
            let mut words = self.tokens.words.drain(..);
            let Some(name) = words.next() else {
                // The lexer never ends a statement with `;` or `{` without words.
                continue;
            };
            // Collected from the drain: one allocation of the exact length.
            let args: Vec<Word> = words.collect();
            let inner_comments = if self.tokens.inner_comments.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut self.tokens.inner_comments)
            };
            let mut directive = Directive {
                name,
                args,
                block: None,
                end_line: end.terminator_span.line,
                inner_comments,
                includes: Vec::new(),
            };
            if end.terminator == Terminator::BlockStart {
                if is_lua_block(&directive.name) {
                    let (body, close) = self.lexer.read_lua_block()?;
                    directive.args.push(body);
                    directive.block = Some(Block {
                        nodes: Vec::new(),
                        close: Some(close),
                    });
                    self.tokens.nodes.push(Node::Directive(directive));
                    continue;
                }
                if depth + 1 > MAX_NESTING {
                    return Err(too_deep(end.terminator_span));
                }
                let mut inner = Block::default();
                let result = self.block(&mut inner, depth + 1);
                directive.block = Some(inner);
                self.tokens.nodes.push(Node::Directive(directive));
                result?;
            } else {
                self.tokens.nodes.push(Node::Directive(directive));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(block: &Block) -> Vec<String> {
        block.directives().map(|d| d.name().into_owned()).collect()
    }

    #[test]
    fn nested_blocks() {
        let parsed = parse(b"events {}\nhttp { server { listen 80; } }\n", FileId(0));
        assert!(parsed.error.is_none());
        assert_eq!(names(&parsed.block), vec!["events", "http"]);
        let http = parsed
            .block
            .directives()
            .nth(1)
            .map(|d| d.children().count());
        assert_eq!(http, Some(1));
    }

    #[test]
    fn error_keeps_the_tree_before_it() {
        let parsed = parse(b"a;\nb {\n c;\n", FileId(0));
        assert_eq!(names(&parsed.block), vec!["a", "b"]);
        let err = parsed.error.unwrap_or_else(|| panic!("expected error"));
        assert_eq!(err.message, "unexpected end of file, expecting \"}\"");
        assert_eq!(err.span.line, 4);
    }

    #[test]
    fn stray_close_brace() {
        let parsed = parse(b"a;\n}\n", FileId(0));
        let err = parsed.error.unwrap_or_else(|| panic!("expected error"));
        assert_eq!(
            (err.message.as_str(), err.span.line),
            ("unexpected \"}\"", 2)
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let depth = MAX_NESTING + 5;
        let text = format!("{}{}", "a {".repeat(depth), "}".repeat(depth));
        let parsed = parse(text.as_bytes(), FileId(0));
        let err = parsed.error.unwrap_or_else(|| panic!("expected error"));
        assert!(
            err.message.starts_with("too many nested blocks"),
            "{}",
            err.message
        );
    }

    #[test]
    fn end_line_is_the_terminator_line() {
        let parsed = parse(b"a\n b\n ;", FileId(0));
        let a = parsed
            .block
            .directives()
            .next()
            .map(|d| (d.line(), d.end_line));
        assert_eq!(a, Some((1, 3)));
    }
}
