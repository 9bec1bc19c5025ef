//! Text as crossplane writes it: Python's `ensure_ascii`, its error
//! messages (`str()` of an `OSError`, `repr()` of a path), its preparation
//! of `if` arguments; shared by the payload and the streaming writer.

use std::borrow::Cow;
use std::io::{self, Write};

use super::FileError;
use crate::parser::SyntaxError;
use crate::syntax::ReadError;

/// A file's own errors as crossplane lists them: what could not be read
/// (`read`, in the order met), then its syntax error.
pub(super) fn file_errors<'e>(
    path: &str,
    read: impl Iterator<Item = &'e ReadError>,
    syntax: Option<&SyntaxError>,
) -> Vec<FileError> {
    let mut errors: Vec<FileError> = read
        .map(|e| FileError {
            error: read_error_text(e),
            line: e.line,
        })
        .collect();
    if let Some(syntax) = syntax {
        errors.push(FileError {
            error: format!("{} in {path}:{}", syntax.message, syntax.span.line),
            line: Some(syntax.span.line),
        });
    }
    errors
}

/// Bytes as text, invalid UTF-8 replaced (as [`crate::ast::Word::text`]),
/// still borrowed when they were.
pub(super) fn lossy(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => lossy_slice(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// `String::from_utf8_lossy`, faster on the common valid text.
pub(super) fn lossy_slice(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Python's `ensure_ascii`: every character outside `' '..='~'` that
/// serde_json left as itself (they occur only inside strings) becomes
/// `\uXXXX`, astral ones as a surrogate pair.
pub(super) fn ensure_ascii(json: &str) -> String {
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

/// crossplane's `_prepare_if_args`: `if ($a = b)` has the arguments
/// `$a`, `=`, `b`.
pub(super) fn prepare_if_args(args: &mut Vec<String>) {
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
pub(super) fn py_repr(s: &str) -> String {
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

/// serde_json's formatter with Python's `ensure_ascii`: every character
/// outside ASCII is written as `\uXXXX` (astral ones as a surrogate pair).
pub(super) struct Ascii<F>(pub(super) F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for Ascii<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        // Bytes from 0x7f up: DEL and the lead bytes of non-ASCII characters.
        while let Some(at) = rest.bytes().position(|b| b >= 0x7f) {
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
