//! nginx's tokenizer: one statement at a time, the way `ngx_conf_read_token`
//! (src/core/ngx_conf_file.c) reads it.
//!
//! nginx's lexical rules are a byte state machine with quirks that matter for
//! agreement with `nginx -t`: a token ends only at whitespace, `;` or `{`
//! (a `}` or `#` inside a word is part of it); quotes open only at the start of
//! a word and must be followed by a separator (or `)`); `\x` keeps the next
//! byte from ending a word; `${` does not open a block; errors are reported on
//! the line the reader is on. The state machine below mirrors that one so that
//! every quirk (and every error message) is the same. Small sub-grammars
//! (sizes, times, listen parameters) are parsed with nom in `values.rs`.
//!
//! Runs of bytes that change nothing but the position (indentation, the
//! middle of a word) are skipped in one go; a property test holds that to
//! the byte loop. [`Lexer::read_statement`] hands the tokens out as ranges
//! of the text, for readers that copy nothing (crossplane's streaming JSON);
//! [`Lexer::next_statement`] collects them into owned [`Word`]s.

use std::borrow::Cow;

use crate::ast::{Comment, Quote, Word};
use crate::span::{FileId, Span};

/// nginx reads files through a 4096-byte buffer and refuses a token that
/// fills it (`NGX_CONF_BUFFER`).
const CONF_BUFFER: usize = 4096;

/// The bytes that stop a run inside an unquoted word, a double-quoted and a
/// single-quoted one: those that end it, `\\` (escape), `$` and `{`
/// (`${`), and LF (a line to count).
const WORD_STOPS: [bool; 256] = byte_set(b" \t\r\n;{$\\");
const DOUBLE_QUOTED_STOPS: [bool; 256] = byte_set(b"\"\n{$\\");
const SINGLE_QUOTED_STOPS: [bool; 256] = byte_set(b"'\n{$\\");

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        set[bytes[i] as usize] = true;
        i += 1;
    }
    set
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// `;` (NGX_OK).
    Semicolon,
    /// `{` (NGX_CONF_BLOCK_START).
    BlockStart,
    /// `}` with no words before it (NGX_CONF_BLOCK_DONE).
    BlockEnd,
    /// End of the file with no words pending (NGX_CONF_FILE_DONE).
    FileEnd,
}

/// One call's worth of tokens: the words of a directive and what ended it.
#[derive(Debug, Clone)]
pub struct Statement {
    pub words: Vec<Word>,
    pub terminator: Terminator,
    /// Span of the terminating byte (empty at end of file).
    pub terminator_span: Span,
    /// Comments read before the first word.
    pub leading_comments: Vec<Comment>,
    /// Comments read between words.
    pub inner_comments: Vec<Comment>,
}

/// A lexical error, with nginx's message and the line nginx reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub message: String,
    pub span: Span,
}

/// A word as the tokenizer met it, before any copy: `value` is where its
/// value lies in the text (inside the quotes, escapes not yet decoded) and
/// `span` its raw text, as in [`Word`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawWord {
    pub value: Span,
    pub quote: Quote,
    pub span: Span,
    /// It holds a `\`: its value must be decoded. The tokenizer meets
    /// every backslash anyway; the copy need not look for one again.
    pub escaped: bool,
}

impl RawWord {
    /// The value nginx sees ([`Word::value`]), borrowed from `text` unless
    /// it holds an escape.
    pub fn value<'t>(&self, text: &'t [u8]) -> Cow<'t, [u8]> {
        let raw = &text[self.value.range()];
        if self.escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// The owned [`Word`] of the tree.
    pub fn to_word(&self, text: &[u8]) -> Word {
        Word {
            value: self.value(text).into_owned(),
            quote: self.quote,
            span: self.span,
        }
    }
}

/// A comment as the tokenizer met it: `text` is the range of what follows
/// the `#` (as [`Comment::text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawComment {
    pub text: Span,
    pub span: Span,
    pub trailing: bool,
}

impl RawComment {
    /// The owned [`Comment`] of the tree.
    pub fn to_comment(&self, text: &[u8]) -> Comment {
        Comment {
            text: text[self.text.range()].to_vec(),
            span: self.span,
            trailing: self.trailing,
        }
    }
}

/// Receives the tokens of a statement as [`Lexer::read_statement`] reads
/// them, in text order.
pub trait Tokens {
    fn word(&mut self, word: RawWord);
    /// `leading`: met before the statement's first word.
    fn comment(&mut self, comment: RawComment, leading: bool);
}

/// How a statement read by [`Lexer::read_statement`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementEnd {
    pub terminator: Terminator,
    /// Span of the terminating byte (empty at end of file).
    pub terminator_span: Span,
    /// How many words it had.
    pub words: usize,
}

/// Builds a [`Statement`] from the tokens.
struct Collect<'t> {
    text: &'t [u8],
    words: Vec<Word>,
    leading_comments: Vec<Comment>,
    inner_comments: Vec<Comment>,
}

impl Tokens for Collect<'_> {
    fn word(&mut self, word: RawWord) {
        self.words.push(word.to_word(self.text));
    }

    fn comment(&mut self, comment: RawComment, leading: bool) {
        let comment = comment.to_comment(self.text);
        if leading {
            self.leading_comments.push(comment);
        } else {
            self.inner_comments.push(comment);
        }
    }
}

pub struct Lexer<'a> {
    text: &'a [u8],
    file: FileId,
    pos: usize,
    line: u32,
    /// Offset just past the last token or terminator: decides whether a
    /// comment trails code on its line.
    last_code_end: Option<usize>,
    /// Whether runs of bytes that change nothing but the position are
    /// skipped in one go (off only in tests, which check that skipping
    /// reads every text as the byte loop does).
    skips: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a [u8], file: FileId) -> Self {
        Lexer {
            text,
            file,
            pos: 0,
            line: 1,
            last_code_end: None,
            skips: true,
        }
    }

    pub fn line(&self) -> u32 {
        self.line
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn span(&self, start: usize, end: usize, line: u32) -> Span {
        Span::new(self.file, start, end, line)
    }

    fn error(&self, message: String, at: usize) -> LexError {
        let end = (at + 1).min(self.text.len());
        LexError {
            message,
            span: self.span(at.min(self.text.len()), end, self.line),
        }
    }

    /// Reads the next statement (`ngx_conf_read_token`).
    pub fn next_statement(&mut self) -> Result<Statement, LexError> {
        let mut tokens = Collect {
            text: self.text,
            // Most directives have a name and one to three arguments.
            words: Vec::with_capacity(4),
            leading_comments: Vec::new(),
            inner_comments: Vec::new(),
        };
        let end = self.read_statement(&mut tokens)?;
        Ok(Statement {
            words: tokens.words,
            terminator: end.terminator,
            terminator_span: end.terminator_span,
            leading_comments: tokens.leading_comments,
            inner_comments: tokens.inner_comments,
        })
    }

    /// Reads the next statement as [`Lexer::next_statement`] does, handing
    /// its words and comments to `tokens` as they are met instead of
    /// copying them (the same state machine: both read alike, byte for byte).
    pub fn read_statement<T: Tokens>(&mut self, tokens: &mut T) -> Result<StatementEnd, LexError> {
        let mut words = 0usize;

        let mut last_space = true;
        let mut need_space = false;
        let mut quoted = false;
        let mut d_quoted = false;
        let mut s_quoted = false;
        let mut variable = false;
        // Start of the current token's raw text (the quote, if any).
        let mut raw_start = self.pos;
        let mut start_line = self.line;
        let mut in_word = false;
        let mut escaped = false;

        loop {
            if self.skips {
                if in_word && !quoted {
                    // Bytes that only move along a word: one that ends it,
                    // an escape, `$` or `{` stop the run, and so does the
                    // length limit (checked below on the byte it falls on).
                    let (stops, value_start) = if d_quoted {
                        (&DOUBLE_QUOTED_STOPS, raw_start + 1)
                    } else if s_quoted {
                        (&SINGLE_QUOTED_STOPS, raw_start + 1)
                    } else {
                        (&WORD_STOPS, raw_start)
                    };
                    if self.skip(stops, value_start + CONF_BUFFER) {
                        variable = false;
                    }
                } else if last_space {
                    // Space between words: the next byte sets the word start.
                    self.skip_space();
                }
            }
            let Some(&ch) = self.text.get(self.pos) else {
                if words > 0 || !last_space {
                    return Err(self.error(
                        "unexpected end of file, expecting \";\" or \"}\"".into(),
                        self.text.len(),
                    ));
                }
                return Ok(StatementEnd {
                    terminator: Terminator::FileEnd,
                    terminator_span: self.span(self.pos, self.pos, self.line),
                    words,
                });
            };
            let at = self.pos;
            self.pos += 1;
            if ch == b'\n' {
                self.line += 1;
            }

            // A word's value may not fill nginx's whole read buffer.
            let value_start = if d_quoted || s_quoted {
                raw_start + 1
            } else {
                raw_start
            };
            if in_word && at - value_start >= CONF_BUFFER {
                self.line = start_line;
                let message = if d_quoted {
                    "too long parameter, probably missing terminating \"\"\" character".into()
                } else if s_quoted {
                    "too long parameter, probably missing terminating \"'\" character".into()
                } else {
                    let head = &self.text[raw_start..raw_start + 10];
                    format!(
                        "too long parameter \"{}...\" started",
                        String::from_utf8_lossy(head)
                    )
                };
                return Err(self.error(message, raw_start));
            }

            if quoted {
                quoted = false;
                continue;
            }

            if need_space {
                match ch {
                    b' ' | b'\t' | b'\r' | b'\n' => {
                        last_space = true;
                        need_space = false;
                        continue;
                    }
                    b';' => return Ok(self.finish(Terminator::Semicolon, at, words)),
                    b'{' => return Ok(self.finish(Terminator::BlockStart, at, words)),
                    // nginx lets `)` follow a quote (for `if ($a = "b")`) and
                    // then reads it as the start of the next word.
                    b')' => {
                        last_space = true;
                        need_space = false;
                    }
                    _ => {
                        return Err(self.error(format!("unexpected \"{}\"", char_display(ch)), at));
                    }
                }
            }

            if last_space {
                raw_start = at;
                start_line = self.line;
                escaped = false;
                match ch {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b';' | b'{' => {
                        if words == 0 {
                            return Err(self.error(format!("unexpected \"{}\"", ch as char), at));
                        }
                        let terminator = if ch == b'{' {
                            Terminator::BlockStart
                        } else {
                            Terminator::Semicolon
                        };
                        return Ok(self.finish(terminator, at, words));
                    }
                    b'}' => {
                        if words > 0 {
                            return Err(self.error("unexpected \"}\"".into(), at));
                        }
                        return Ok(self.finish(Terminator::BlockEnd, at, words));
                    }
                    b'#' => {
                        let comment = self.read_comment(at);
                        tokens.comment(comment, words == 0);
                        continue;
                    }
                    b'\\' => {
                        quoted = true;
                        escaped = true;
                    }
                    b'"' => d_quoted = true,
                    b'\'' => s_quoted = true,
                    b'$' => variable = true,
                    _ => {}
                }
                last_space = false;
                in_word = true;
                continue;
            }

            // Inside a word.
            if ch == b'{' && variable {
                continue;
            }
            variable = false;
            if ch == b'\\' {
                quoted = true;
                escaped = true;
                continue;
            }
            if ch == b'$' {
                variable = true;
                continue;
            }
            let found = if d_quoted {
                ch == b'"'
            } else if s_quoted {
                ch == b'\''
            } else {
                matches!(ch, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{')
            };
            if !found {
                continue;
            }
            let (quote, value_start, raw_end) = if d_quoted {
                (Quote::Double, raw_start + 1, at + 1)
            } else if s_quoted {
                (Quote::Single, raw_start + 1, at + 1)
            } else {
                (Quote::None, raw_start, at)
            };
            in_word = false;
            if quote != Quote::None {
                d_quoted = false;
                s_quoted = false;
                need_space = true;
            } else {
                last_space = true;
            }
            tokens.word(RawWord {
                value: self.span(value_start, at, start_line),
                quote,
                span: self.span(raw_start, raw_end, start_line),
                escaped,
            });
            words += 1;
            self.last_code_end = Some(raw_end);
            if quote == Quote::None {
                match ch {
                    b';' => return Ok(self.finish(Terminator::Semicolon, at, words)),
                    b'{' => return Ok(self.finish(Terminator::BlockStart, at, words)),
                    _ => {}
                }
            }
        }
    }

    /// Moves past the bytes before `limit` that are not in `stops`; tells
    /// whether there were any.
    fn skip(&mut self, stops: &[bool; 256], limit: usize) -> bool {
        let end = limit.min(self.text.len());
        let start = self.pos;
        while self.pos < end && !stops[usize::from(self.text[self.pos])] {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Moves past spaces, tabs, CRs and LFs, counting lines.
    fn skip_space(&mut self) {
        while let Some(&ch) = self.text.get(self.pos) {
            match ch {
                b' ' | b'\t' | b'\r' => {}
                b'\n' => self.line += 1,
                _ => return,
            }
            self.pos += 1;
        }
    }

    fn finish(&mut self, terminator: Terminator, at: usize, words: usize) -> StatementEnd {
        self.last_code_end = Some(at + 1);
        StatementEnd {
            terminator,
            terminator_span: self.span(at, at + 1, self.line),
            words,
        }
    }

    /// Reads a `#` comment up to (not including) the newline; the newline is
    /// left for the main loop so that line counting stays in one place.
    fn read_comment(&mut self, hash: usize) -> RawComment {
        let end = self.text[self.pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.text.len(), |n| self.pos + n);
        let trailing = self
            .last_code_end
            .is_some_and(|code_end| !self.text[code_end.min(hash)..hash].contains(&b'\n'));
        // The text ends before the CRs that end the line: not only the one
        // of a CRLF ending but every one before it, or the formatter, which
        // writes the text and a LF, would turn the last of them into a CRLF
        // ending and the text would lose a byte each time it is formatted.
        let mut text_end = end;
        while text_end > self.pos && self.text[text_end - 1] == b'\r' {
            text_end -= 1;
        }
        let comment = RawComment {
            text: self.span(self.pos, text_end, self.line),
            span: self.span(hash, text_end, self.line),
            trailing,
        };
        self.pos = end;
        comment
    }

    /// Reads the body of an OpenResty `*_by_lua_block { ... }` as one opaque
    /// argument, the way crossplane does: braces are balanced outside Lua
    /// strings and comments. Called right after the statement that ended
    /// with the block's `{`; returns the body and the span of the closing `}`.
    pub fn read_lua_block(&mut self) -> Result<(Word, Span), LexError> {
        let (body, close) = self.read_lua_block_raw()?;
        let word = Word {
            value: self.text[body.value.range()].to_vec(),
            quote: body.quote,
            span: body.span,
        };
        Ok((word, close))
    }

    /// [`Lexer::read_lua_block`] without the copy: the body's range (its
    /// value is the text as written, no escape decoded).
    pub fn read_lua_block_raw(&mut self) -> Result<(RawWord, Span), LexError> {
        let start = self.pos;
        let start_line = self.line;
        let mut depth = 0usize;
        while let Some(&ch) = self.text.get(self.pos) {
            let at = self.pos;
            self.pos += 1;
            match ch {
                b'\n' => self.line += 1,
                b'{' => depth += 1,
                b'}' => {
                    if depth == 0 {
                        let span = self.span(start, at, start_line);
                        // Lua is kept as written, backslashes and all.
                        let word = RawWord {
                            value: span,
                            quote: Quote::None,
                            span,
                            escaped: false,
                        };
                        self.last_code_end = Some(at + 1);
                        return Ok((word, self.span(at, at + 1, self.line)));
                    }
                    depth -= 1;
                }
                b'"' | b'\'' => self.skip_lua_string(ch),
                b'[' if self.lua_long_bracket_level().is_some() => {
                    if let Some(level) = self.lua_long_bracket_level() {
                        self.skip_lua_long_bracket(level);
                    }
                }
                b'-' if self.text.get(self.pos) == Some(&b'-') => {
                    self.pos += 1;
                    if self.text.get(self.pos) == Some(&b'[')
                        && let Some(level) = self.lua_long_bracket_level()
                    {
                        self.pos += 1;
                        self.skip_lua_long_bracket(level);
                        continue;
                    }
                    while let Some(&c) = self.text.get(self.pos) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => {}
            }
        }
        Err(self.error(
            "unexpected end of file, expecting \"}\"".into(),
            self.text.len(),
        ))
    }

    fn skip_lua_string(&mut self, quote: u8) {
        while let Some(&c) = self.text.get(self.pos) {
            self.pos += 1;
            match c {
                b'\\' => {
                    if self.text.get(self.pos) == Some(&b'\n') {
                        self.line += 1;
                    }
                    self.pos += 1;
                }
                b'\n' => {
                    self.line += 1;
                    return;
                }
                c if c == quote => return,
                _ => {}
            }
        }
    }

    /// At `[` (already consumed): the level of a `[==[` opener, if it is one.
    fn lua_long_bracket_level(&self) -> Option<usize> {
        let rest = &self.text[self.pos..];
        let level = rest.iter().take_while(|&&c| c == b'=').count();
        (rest.get(level) == Some(&b'[')).then_some(level)
    }

    fn skip_lua_long_bracket(&mut self, level: usize) {
        self.pos += level + 1;
        let mut closer = vec![b']'];
        closer.extend(std::iter::repeat_n(b'=', level));
        closer.push(b']');
        while self.pos < self.text.len() {
            if self.text[self.pos..].starts_with(&closer) {
                self.pos += closer.len();
                return;
            }
            if self.text[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
    }
}

/// nginx's copy loop: `\"`, `\'`, `\\` lose the backslash, `\t` `\r` `\n`
/// become control characters, any other `\x` stays as written.
pub fn unescape(raw: &[u8]) -> Vec<u8> {
    if !raw.contains(&b'\\') {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c == b'\\' {
            match raw.get(i + 1) {
                Some(b'"' | b'\'' | b'\\') => {
                    out.push(raw[i + 1]);
                    i += 2;
                    continue;
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// nginx prints the offending byte with `%c`; a raw byte that is not ASCII
/// is shown as itself when it forms text, else as `\xNN`.
fn char_display(ch: u8) -> String {
    if ch.is_ascii() {
        (ch as char).to_string()
    } else {
        format!("\\x{ch:02X}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(src: &str) -> Result<Vec<(Vec<String>, Terminator)>, LexError> {
        let mut lexer = Lexer::new(src.as_bytes(), FileId(0));
        let mut out = Vec::new();
        loop {
            let st = lexer.next_statement()?;
            let words = st.words.iter().map(|w| w.text().into_owned()).collect();
            let done = st.terminator == Terminator::FileEnd;
            out.push((words, st.terminator));
            if done {
                return Ok(out);
            }
        }
    }

    fn err(src: &str) -> (String, u32) {
        match statements(src) {
            Err(e) => (e.message, e.span.line),
            Ok(st) => panic!("expected an error, got {st:?}"),
        }
    }

    // See: #14: the CRs that end a comment's line are not its text.
    #[test]
    fn comment_text_ends_before_the_line_ending_crs() {
        let mut lexer = Lexer::new(b"# a\rb\r\r\n# c\r", FileId(0));
        let st = match lexer.next_statement() {
            Ok(st) => st,
            Err(e) => panic!("{e:?}"),
        };
        let comments: Vec<&[u8]> = st.leading_comments.iter().map(|c| &c.text[..]).collect();
        assert_eq!(comments, [&b" a\rb"[..], b" c"]);
    }

    #[test]
    fn words_end_at_space_semicolon_and_brace_only() {
        let st = statements("a b}c d#e;\n x{ }").unwrap_or_default();
        assert_eq!(st[0].0, vec!["a", "b}c", "d#e"]);
        assert_eq!(st[0].1, Terminator::Semicolon);
        assert_eq!(st[1].0, vec!["x"]);
        assert_eq!(st[1].1, Terminator::BlockStart);
        assert_eq!(st[2].1, Terminator::BlockEnd);
    }

    #[test]
    fn hash_starts_a_comment_only_at_a_word_start() {
        let st = statements("a #b;\n c;").unwrap_or_default();
        assert_eq!(st[0].0, vec!["a", "c"]);
    }

    #[test]
    fn quotes_and_escapes() {
        let st = statements(r#"a "b c" 'd\'e' "\t\q" f\ g;"#).unwrap_or_default();
        assert_eq!(st[0].0, vec!["a", "b c", "d'e", "\t\\q", "f\\ g"]);
    }

    #[test]
    fn variable_braces_do_not_open_blocks() {
        let st = statements("set $a ${b}c;").unwrap_or_default();
        assert_eq!(st[0].0, vec!["set", "$a", "${b}c"]);
    }

    #[test]
    fn quote_needs_a_separator() {
        assert_eq!(err("a \"b\"c;"), ("unexpected \"c\"".into(), 1));
        let st = statements("if ($a = \"b\") { }").unwrap_or_default();
        assert_eq!(st[0].0, vec!["if", "($a", "=", "b", ")"]);
    }

    #[test]
    fn nginx_errors_and_lines() {
        assert_eq!(err("a b\n}"), ("unexpected \"}\"".into(), 2));
        assert_eq!(err(";"), ("unexpected \";\"".into(), 1));
        assert_eq!(
            err("a\nb"),
            ("unexpected end of file, expecting \";\" or \"}\"".into(), 2)
        );
    }

    #[test]
    fn comments_are_kept() {
        let mut lexer = Lexer::new(b"# top\na b; # after\n", FileId(0));
        let first = lexer.next_statement().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(first.leading_comments[0].text, b" top");
        assert!(!first.leading_comments[0].trailing);
        let second = lexer.next_statement().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(second.leading_comments[0].text, b" after");
        assert!(second.leading_comments[0].trailing);
    }

    #[test]
    fn lua_block_is_opaque() {
        let src = b"content_by_lua_block { ngx.say(\"}\") -- }\n local t = {} }";
        let mut lexer = Lexer::new(src, FileId(0));
        let st = lexer.next_statement().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(st.terminator, Terminator::BlockStart);
        let (body, _) = lexer.read_lua_block().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(body.text(), " ngx.say(\"}\") -- }\n local t = {} ");
    }

    /// Everything a lexer reads from `src`, up to the end or an error.
    fn trace(src: &[u8], skips: bool) -> Vec<String> {
        let mut lexer = Lexer::new(src, FileId(0));
        lexer.skips = skips;
        let mut out = Vec::new();
        loop {
            match lexer.next_statement() {
                Ok(st) => {
                    let words: Vec<_> = st
                        .words
                        .iter()
                        .map(|w| (&w.value, w.quote, w.span))
                        .collect();
                    out.push(format!(
                        "{words:?} {:?} {:?} {:?} {:?}",
                        st.terminator, st.terminator_span, st.leading_comments, st.inner_comments
                    ));
                    if st.terminator == Terminator::FileEnd {
                        return out;
                    }
                    if st.terminator == Terminator::BlockStart
                        && st.words.first().is_some_and(crate::parser::is_lua_block)
                    {
                        out.push(format!("{:?}", lexer.read_lua_block()));
                    }
                }
                Err(e) => {
                    out.push(format!("{e:?} at {}", lexer.position()));
                    return out;
                }
            }
        }
    }

    /// Pieces of text that reach every state of the byte loop, and words
    /// near nginx's length limit.
    fn pieces() -> Vec<String> {
        let mut pieces: Vec<String> = [
            "a",
            "bc",
            "\"q w\"",
            "'s t'",
            ";",
            "{",
            "}",
            " ",
            "\t",
            "\n",
            "\r\n",
            "# c\n",
            "#",
            "\\",
            "\\\"",
            "$",
            "$x",
            "${y}",
            "${",
            "(",
            ")",
            "\"z\")",
            "\"",
            "'",
            "\u{e9}",
            "content_by_lua_block {",
            " x = \"}\" }",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [4094, 4095, 4096] {
            pieces.push("w".repeat(n));
            pieces.push(format!("\"{}", "d".repeat(n)));
            pieces.push(format!("'{}", "s".repeat(n)));
        }
        pieces
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        #[test]
        fn skipping_reads_as_the_byte_loop(
            picks in proptest::collection::vec(proptest::sample::select(pieces()), 0..24)
        ) {
            let src = picks.concat();
            proptest::prop_assert_eq!(trace(src.as_bytes(), true), trace(src.as_bytes(), false));
        }
    }

    #[test]
    fn length_limit_with_skips() {
        let long = format!("a {};", "w".repeat(4096));
        let err = trace(long.as_bytes(), true);
        assert_eq!(err, trace(long.as_bytes(), false));
        assert!(err[0].contains("too long parameter"), "{err:?}");
        let fits = format!("a \"{}\";", "d".repeat(4095));
        assert_eq!(trace(fits.as_bytes(), true).len(), 2);
    }
}
