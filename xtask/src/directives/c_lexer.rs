//! A C tokenizer, just enough for nginx's declarations, and object-like
//! `#define`s evaluated as ORs of integer constants.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Num(String),
    Str(String),
    CharLit,
    Punct(char),
    /// A preprocessor line, `#` to the end of the logical line, tokenized
    /// (without the `#`).
    Directive(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    /// Nothing (no space, no comment) between this token and the previous one;
    /// tells `#define F(x)` (a function-like macro) from `#define F (x)`.
    pub glued: bool,
}

impl Token {
    pub fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(name) => Some(name),
            _ => None,
        }
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
}

pub fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    lex(&chars, 1, true)
}

/// Tokenizes `chars`; `directives` is false when lexing the inside of a
/// preprocessor line, where `#` is an operator.
fn lex(chars: &[char], first_line: usize, directives: bool) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = first_line;
    let mut line_start = true;
    let mut glued = false;

    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
            line_start = true;
            glued = false;
        } else if c == '\\' && next == Some('\n') {
            line += 1;
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
            glued = false;
        } else if c == '/' && next == Some('*') {
            let end = block_comment_end(chars, i)
                .ok_or_else(|| format!("line {line}: unterminated comment"))?;
            line += newlines(&chars[i..end]);
            i = end;
            glued = false;
        } else if c == '/' && next == Some('/') {
            i = line_end(chars, i);
            glued = false;
        } else if c == '#' && directives && line_start {
            let (body, end, spliced) = directive_text(chars, i + 1, line)?;
            let inner: Vec<char> = body.chars().collect();
            tokens.push(Token {
                tok: Tok::Directive(lex(&inner, line, false)?),
                line,
                glued: false,
            });
            line += spliced;
            i = end;
            glued = false;
        } else {
            line_start = false;
            let (tok, end) = if c.is_ascii_alphabetic() || c == '_' {
                let end = scan_while(chars, i, |c| c.is_ascii_alphanumeric() || c == '_');
                (Tok::Ident(chars[i..end].iter().collect()), end)
            } else if c.is_ascii_digit() {
                let end = scan_while(chars, i, |c| {
                    c.is_ascii_alphanumeric() || c == '_' || c == '.'
                });
                (Tok::Num(chars[i..end].iter().collect()), end)
            } else if c == '"' || c == '\'' {
                let end = literal_end(chars, i)
                    .ok_or_else(|| format!("line {line}: unterminated {c} literal"))?;
                let tok = if c == '"' {
                    Tok::Str(unescape(&chars[i + 1..end - 1]))
                } else {
                    Tok::CharLit
                };
                (tok, end)
            } else {
                (Tok::Punct(c), i + 1)
            };
            tokens.push(Token { tok, line, glued });
            line += newlines(&chars[i..end]);
            i = end;
            glued = true;
        }
    }
    Ok(tokens)
}

fn scan_while(chars: &[char], start: usize, keep: impl Fn(char) -> bool) -> usize {
    let mut end = start;
    while chars.get(end).is_some_and(|&c| keep(c)) {
        end += 1;
    }
    end
}

pub fn newlines(chars: &[char]) -> usize {
    chars.iter().filter(|&&c| c == '\n').count()
}

/// Index just past the `*/` closing the comment that opens at `start`.
fn block_comment_end(chars: &[char], start: usize) -> Option<usize> {
    (start + 2..chars.len().saturating_sub(1))
        .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
        .map(|j| j + 2)
}

/// Index of the newline ending the line that contains `start` (or the end).
fn line_end(chars: &[char], start: usize) -> usize {
    scan_while(chars, start, |c| c != '\n')
}

/// Index just past the string or character literal opening at `start`.
fn literal_end(chars: &[char], start: usize) -> Option<usize> {
    let quote = *chars.get(start)?;
    let mut j = start + 1;
    loop {
        match *chars.get(j)? {
            '\\' => j += 2,
            '\n' => return None,
            c if c == quote => return Some(j + 1),
            _ => j += 1,
        }
    }
}

fn unescape(chars: &[char]) -> String {
    let mut out = String::new();
    let mut iter = chars.iter();
    while let Some(&c) = iter.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match iter.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\n') | None => {}
            Some(&other) => out.push(other),
        }
    }
    out
}

/// The text of the preprocessor line whose body starts at `start`, with line
/// splices and comments removed; also the index of its terminating newline and
/// how many newlines it swallowed.
fn directive_text(
    chars: &[char],
    start: usize,
    line: usize,
) -> Result<(String, usize, usize), String> {
    let mut body = String::new();
    let mut spliced = 0;
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => break,
            '\\' if next == Some('\n') => {
                spliced += 1;
                i += 2;
            }
            '/' if next == Some('*') => {
                let end = block_comment_end(chars, i)
                    .ok_or_else(|| format!("line {line}: unterminated comment"))?;
                spliced += newlines(&chars[i..end]);
                body.push(' ');
                i = end;
            }
            '/' if next == Some('/') => i = line_end(chars, i),
            '"' | '\'' => {
                let end = literal_end(chars, i)
                    .ok_or_else(|| format!("line {line}: unterminated {c} literal"))?;
                body.extend(&chars[i..end]);
                i = end;
            }
            _ => {
                body.push(c);
                i += 1;
            }
        }
    }
    Ok((body, i, spliced))
}

/// Source-like text of a token run, for messages and guard names.
pub fn render_tokens(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (n, token) in tokens.iter().enumerate() {
        if n > 0 && !token.glued {
            out.push(' ');
        }
        match &token.tok {
            Tok::Ident(s) | Tok::Num(s) => out.push_str(s),
            Tok::Str(s) => out.push_str(&format!("{s:?}")),
            Tok::CharLit => out.push_str("'?'"),
            Tok::Punct(c) => out.push(*c),
            Tok::Directive(inner) => {
                out.push('#');
                out.push_str(&render_tokens(inner));
            }
        }
    }
    out
}

/// Splits a brace's contents at its top-level commas; a trailing comma adds
/// no empty part.
pub fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token.tok {
            Tok::Punct('(' | '{' | '[') => depth += 1,
            Tok::Punct(')' | '}' | ']') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        parts.push(&tokens[start..]);
    }
    parts
}

/// Index of the `}` matching the `{` at `open`.
pub fn matching_brace(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        if token.is_punct('{') {
            depth += 1;
        } else if token.is_punct('}') {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

/// Object-like `#define`s by name; a name may be defined more than once (under
/// different `#if`s), which is fine as long as every definition agrees.
#[derive(Default)]
pub struct Macros {
    pub defs: HashMap<String, Vec<Vec<Token>>>,
}

impl Macros {
    pub fn add_definitions(&mut self, tokens: &[Token]) {
        for token in tokens {
            let Tok::Directive(directive) = &token.tok else {
                continue;
            };
            let [keyword, name, body @ ..] = directive.as_slice() else {
                continue;
            };
            let (Some("define"), Some(name)) = (keyword.ident(), name.ident()) else {
                continue;
            };
            if body.first().is_some_and(|t| t.glued && t.is_punct('(')) {
                continue; // function-like: never a flag
            }
            self.defs
                .entry(name.to_owned())
                .or_default()
                .push(body.to_vec());
        }
    }
}

/// The macros visible in one file: its own, then the flag headers'.
pub struct MacroScope<'a> {
    pub layers: [&'a Macros; 2],
}

impl MacroScope<'_> {
    /// Evaluates `A|B|(C|0x10)`: identifiers, integer literals, `|` and
    /// parentheses, nothing else.
    pub fn eval(&self, tokens: &[Token], depth: usize) -> Result<u64, String> {
        let shape_error = || format!("`{}` is not an OR of constants", render_tokens(tokens));
        let mut value = 0;
        let mut want_operand = true;
        let mut parens = 0usize;
        for token in tokens {
            match &token.tok {
                Tok::Punct('(') if want_operand => parens += 1,
                Tok::Punct(')') if !want_operand => {
                    parens = parens.checked_sub(1).ok_or_else(shape_error)?;
                }
                Tok::Punct('|') if !want_operand => want_operand = true,
                Tok::Ident(name) if want_operand => {
                    value |= self.eval_name(name, depth)?;
                    want_operand = false;
                }
                Tok::Num(text) if want_operand => {
                    value |=
                        parse_c_int(text).ok_or_else(|| format!("bad integer literal `{text}`"))?;
                    want_operand = false;
                }
                _ => return Err(shape_error()),
            }
        }
        if want_operand || parens != 0 {
            return Err(shape_error());
        }
        Ok(value)
    }

    pub fn eval_name(&self, name: &str, depth: usize) -> Result<u64, String> {
        if depth > 16 {
            return Err(format!("macro {name} nests too deeply (recursive?)"));
        }
        let bodies = self
            .layers
            .iter()
            .find_map(|macros| macros.defs.get(name))
            .ok_or_else(|| format!("unknown macro {name}"))?;
        let mut value = None;
        for body in bodies {
            let v = self
                .eval(body, depth + 1)
                .map_err(|err| format!("in the definition of {name}: {err}"))?;
            match value {
                Some(previous) if previous != v => {
                    return Err(format!(
                        "{name} has conflicting definitions ({previous:#x}, {v:#x})"
                    ));
                }
                _ => value = Some(v),
            }
        }
        value.ok_or_else(|| format!("{name} has an empty definition"))
    }
}

/// A C integer literal: decimal, hex or octal, with optional u/l suffixes.
pub fn parse_c_int(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::ok;

    #[test]
    fn lexer_handles_comments_directives_and_splices() {
        let tokens = ok(tokenize(
            "#define A  0x2 /* two\n lines */\n#define B (A \\\n |4)\nint x = '\"'; /* } */ \"//\"\n",
        ));
        assert_eq!(tokens.len(), 8, "{tokens:?}");
        assert!(matches!(&tokens[0].tok, Tok::Directive(d) if d.len() == 3));
        assert_eq!(tokens[1].line, 3);
        assert_eq!(tokens[2].tok, Tok::Ident("int".to_owned()));
        assert_eq!(tokens[2].line, 5);
        assert_eq!(tokens[5].tok, Tok::CharLit);
        assert_eq!(tokens[6].tok, Tok::Punct(';'));
        assert_eq!(tokens[7].tok, Tok::Str("//".to_owned()));
    }

    #[test]
    fn macros_resolve_composites_and_reject_other_shapes() {
        let mut macros = Macros::default();
        macros.add_definitions(&ok(tokenize(
            "#define T1 0x02\n#define T2 0x04\n#define T3 0x08\n\
             #define T12 (T1|T2)\n#define T123 (T12 \\\n |T3)\n#define F(x) (x|1)\n\
             #define BAD (T1 + T2)\n#define TWICE 1\n#define TWICE 2\n",
        )));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &macros],
        };
        assert_eq!(ok(scope.eval_name("T123", 0)), 0x0e);
        assert!(scope.eval_name("F", 0).is_err());
        assert!(scope.eval_name("BAD", 0).is_err());
        assert!(scope.eval_name("TWICE", 0).is_err());
    }

    #[test]
    fn c_integers() {
        assert_eq!(parse_c_int("0xFF000000"), Some(0xFF00_0000));
        assert_eq!(parse_c_int("8"), Some(8));
        assert_eq!(parse_c_int("010"), Some(8));
        assert_eq!(parse_c_int("1UL"), Some(1));
        assert_eq!(parse_c_int("0x"), None);
    }
}
