//! Statements -> tree, for one file (`ngx_conf_parse` without the handlers).
//!
//! nginx runs each directive's handler as soon as it has read it, so a
//! syntax error late in a file is reported only if nothing before it failed.
//! To keep that order the parser never gives up on the whole file: it returns
//! the tree read so far and the syntax error that stopped it; the loader walks
//! the tree and raises the syntax error when it reaches the point where
//! reading stopped.

use crate::ast::{Block, Comment, Directive, Node, Word};
use crate::lexer::{LexError, Lexer, Terminator};
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
    let mut lexer = Lexer::new(text, file);
    let mut block = Block::default();
    let error = parse_block(&mut lexer, &mut block, 0).err();
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

/// Reads statements into `block` until its `}` (`nested`) or the end of the
/// file. Unclosed blocks keep `close == None`.
fn parse_block(lexer: &mut Lexer<'_>, block: &mut Block, depth: usize) -> Result<(), SyntaxError> {
    let nested = depth > 0;
    loop {
        let statement = lexer.next_statement()?;
        push_comments(&mut block.nodes, statement.leading_comments);
        match statement.terminator {
            Terminator::BlockEnd => {
                if !nested {
                    return Err(SyntaxError {
                        message: "unexpected \"}\"".into(),
                        span: statement.terminator_span,
                    });
                }
                block.close = Some(statement.terminator_span);
                return Ok(());
            }
            Terminator::FileEnd => {
                if nested {
                    return Err(SyntaxError {
                        message: "unexpected end of file, expecting \"}\"".into(),
                        span: statement.terminator_span,
                    });
                }
                return Ok(());
            }
            Terminator::Semicolon | Terminator::BlockStart => {}
        }
        let mut words = statement.words.into_iter();
        let Some(name) = words.next() else {
            // The lexer never ends a statement with `;` or `{` without words.
            continue;
        };
        let mut directive = Directive {
            name,
            args: words.collect(),
            block: None,
            end_line: statement.terminator_span.line,
            inner_comments: statement.inner_comments,
            includes: Vec::new(),
        };
        if statement.terminator == Terminator::BlockStart {
            if is_lua_block(&directive.name) {
                let (body, close) = lexer.read_lua_block()?;
                directive.args.push(body);
                directive.block = Some(Block {
                    nodes: Vec::new(),
                    close: Some(close),
                });
                block.nodes.push(Node::Directive(directive));
                continue;
            }
            if depth + 1 > MAX_NESTING {
                return Err(too_deep(statement.terminator_span));
            }
            let mut inner = Block::default();
            let result = parse_block(lexer, &mut inner, depth + 1);
            directive.block = Some(inner);
            block.nodes.push(Node::Directive(directive));
            result?;
        } else {
            block.nodes.push(Node::Directive(directive));
        }
    }
}

fn push_comments(nodes: &mut Vec<Node>, comments: Vec<Comment>) {
    nodes.extend(comments.into_iter().map(Node::Comment));
}

/// OpenResty's `*_by_lua_block` directives hold Lua, not nginx syntax.
pub fn is_lua_block(name: &Word) -> bool {
    name.value.ends_with(b"_by_lua_block")
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
