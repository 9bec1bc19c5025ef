//! The request-target and the normalised URI, as nginx computes them:
//! the URI states of `ngx_http_parse_request_line` (origin-form and
//! absolute-form, what makes a target "complex"), `ngx_http_process_request_uri`
//! and `ngx_http_parse_complex_uri` (src/http/ngx_http_parse.c): percent-
//! decoding, `//` merged (merge_slashes), `.` and `..` segments resolved,
//! `?args` and `#fragment` split off, and the 400s for a bad `%` escape, an
//! escaped NUL, a control byte, or `..` above the root. Also `ngx_escape_uri`
//! with the NGX_ESCAPE_URI table (src/core/ngx_string.c), used for proxied
//! URIs and the auto-redirect `Location`.

/// Why nginx answers 400 to a request-target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// Not origin-form or absolute-form (`*`, authority-form, garbage).
    InvalidTarget,
    /// A control byte or DEL in the target ("client sent invalid request").
    ControlByte,
    /// `%` not followed by two hex digits, or `%00`.
    BadEscape,
    /// A `..` segment that climbs above `/`.
    AboveRoot,
}

impl UriError {
    /// nginx's log line for it ("client sent invalid ...").
    pub fn message(self) -> &'static str {
        match self {
            UriError::InvalidTarget => "client sent invalid request",
            UriError::ControlByte => "client sent invalid request",
            UriError::BadEscape => "client sent invalid request (bad %-escape)",
            UriError::AboveRoot => "client sent invalid request (\"..\" above the root)",
        }
    }
}

/// A parsed request-target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestTarget {
    /// `r->unparsed_uri`: the target from the path on, args included, as
    /// received (for absolute-form, without scheme and authority).
    pub unparsed_uri: Vec<u8>,
    /// `r->uri`: decoded and normalised, without args.
    pub uri: Vec<u8>,
    /// `r->args`: after `?`, raw, without `#fragment`.
    pub args: Vec<u8>,
    /// The authority of an absolute-form target (`host[:port]`), raw.
    pub host: Option<Vec<u8>>,
    /// The scheme of an absolute-form target.
    pub schema: Option<Vec<u8>>,
    /// `r->quoted_uri`: the path had a `%` escape.
    pub quoted_uri: bool,
    /// `r->valid_unparsed_uri`: false for `http://host?args`.
    pub valid_unparsed_uri: bool,
}

impl RequestTarget {
    /// Parses a request-target the way nginx's request-line parser does,
    /// then normalises its path (`merge_slashes` of the default server).
    pub fn parse(target: &[u8], merge_slashes: bool) -> Result<RequestTarget, UriError> {
        let mut out = RequestTarget {
            valid_unparsed_uri: true,
            ..RequestTarget::default()
        };
        let (path, empty_path) = match target.first() {
            Some(b'/') => (target, false),
            Some(c) if c.is_ascii_alphabetic() => {
                let abs = split_absolute(target)?;
                out.host = Some(abs.host.to_vec());
                out.schema = Some(abs.schema.to_vec());
                (abs.path, abs.empty_path)
            }
            _ => return Err(UriError::InvalidTarget),
        };
        if path.iter().any(|&c| c <= 0x20 || c == 0x7f) {
            return Err(UriError::ControlByte);
        }
        out.quoted_uri = path.contains(&b'%');
        out.valid_unparsed_uri = !empty_path;
        out.unparsed_uri = if path.is_empty() {
            b"/".to_vec()
        } else {
            path.to_vec()
        };
        let parsed = parse_complex_uri(path, empty_path, merge_slashes)?;
        out.uri = parsed.uri;
        out.args = parsed.args;
        Ok(out)
    }
}

struct Absolute<'a> {
    schema: &'a [u8],
    host: &'a [u8],
    path: &'a [u8],
    empty_path: bool,
}

/// The absolute-form states of `ngx_http_parse_request_line`: scheme,
/// `//`, host (letters, digits, `.`, `-`, or an `[IP-literal]`), `:port`.
fn split_absolute(target: &[u8]) -> Result<Absolute<'_>, UriError> {
    let colon = target
        .iter()
        .position(|&c| c == b':')
        .ok_or(UriError::InvalidTarget)?;
    let schema = &target[..colon];
    if !schema
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return Err(UriError::InvalidTarget);
    }
    let rest = target[colon + 1..]
        .strip_prefix(b"//")
        .ok_or(UriError::InvalidTarget)?;
    let mut i = 0;
    if rest.first() == Some(&b'[') {
        i = 1;
        loop {
            match rest.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(c) if c.is_ascii_alphanumeric() || b":-._~!$&'()*+,;=".contains(c) => i += 1,
                _ => return Err(UriError::InvalidTarget),
            }
        }
    } else {
        while rest
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-')
        {
            i += 1;
        }
    }
    let host = &rest[..i];
    let mut j = i;
    if rest.get(j) == Some(&b':') {
        j += 1;
        while rest.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    }
    let after = &rest[j..];
    match after.first() {
        None => Ok(Absolute {
            schema,
            host,
            path: b"/",
            empty_path: false,
        }),
        Some(b'/') => Ok(Absolute {
            schema,
            host,
            path: after,
            empty_path: false,
        }),
        Some(b'?') => Ok(Absolute {
            schema,
            host,
            path: after,
            empty_path: true,
        }),
        Some(_) => Err(UriError::InvalidTarget),
    }
}

/// What `ngx_http_parse_complex_uri` leaves in `r->uri` and `r->args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexUri {
    pub uri: Vec<u8>,
    pub args: Vec<u8>,
}

/// The `usual` table of ngx_http_parse.c: bytes copied without a second look.
const USUAL: [u32; 8] = [
    0x0000_0000,
    0x7fff_37d6,
    0xffff_ffff,
    0x7fff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
];

fn usual(c: u8) -> bool {
    USUAL[(c >> 5) as usize] & (1 << (c & 0x1f)) != 0
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Usual,
    Slash,
    Dot,
    DotDot,
    Quoted,
    QuotedSecond,
}

/// `ngx_http_parse_complex_uri`: `input` runs from the first byte of the
/// path (or the `?` of an empty path) to the end of the target.
pub fn parse_complex_uri(
    input: &[u8],
    empty_path: bool,
    merge_slashes: bool,
) -> Result<ComplexUri, UriError> {
    let mut u: Vec<u8> = Vec::with_capacity(input.len() + 1);
    if empty_path {
        u.push(b'/');
    }
    let mut state = State::Usual;
    let mut quoted_state = State::Usual;
    let mut decoded: u8 = 0;
    let mut p = 0;
    let mut args: Option<usize> = None;
    // `ch` is the byte being looked at; `None` once the input is used up.
    let mut ch = input.first().copied();
    if ch.is_some() {
        p = 1;
    }
    let advance = |p: &mut usize| -> Option<u8> {
        let c = input.get(*p).copied();
        if c.is_some() {
            *p += 1;
        }
        c
    };
    'outer: while let Some(c) = ch {
        match state {
            State::Usual => {
                if usual(c) {
                    u.push(c);
                } else {
                    match c {
                        b'/' => {
                            state = State::Slash;
                            u.push(c);
                        }
                        b'%' => {
                            quoted_state = state;
                            state = State::Quoted;
                        }
                        b'?' => {
                            args = Some(p);
                            break 'outer;
                        }
                        b'#' => return Ok(done(u, Vec::new())),
                        _ => u.push(c),
                    }
                }
                ch = advance(&mut p);
            }
            State::Slash => {
                if usual(c) {
                    state = State::Usual;
                    u.push(c);
                } else {
                    match c {
                        b'/' => {
                            if !merge_slashes {
                                u.push(c);
                            }
                        }
                        b'.' => {
                            state = State::Dot;
                            u.push(c);
                        }
                        b'%' => {
                            quoted_state = state;
                            state = State::Quoted;
                        }
                        b'?' => {
                            args = Some(p);
                            break 'outer;
                        }
                        b'#' => return Ok(done(u, Vec::new())),
                        _ => {
                            state = State::Usual;
                            u.push(c);
                        }
                    }
                }
                ch = advance(&mut p);
            }
            State::Dot => {
                if usual(c) {
                    state = State::Usual;
                    u.push(c);
                } else {
                    match c {
                        b'/' => {
                            state = State::Slash;
                            u.pop();
                        }
                        b'.' => {
                            state = State::DotDot;
                            u.push(c);
                        }
                        b'%' => {
                            quoted_state = state;
                            state = State::Quoted;
                        }
                        b'?' => {
                            u.pop();
                            args = Some(p);
                            break 'outer;
                        }
                        b'#' => {
                            u.pop();
                            return Ok(done(u, Vec::new()));
                        }
                        _ => {
                            state = State::Usual;
                            u.push(c);
                        }
                    }
                }
                ch = advance(&mut p);
            }
            State::DotDot => {
                if usual(c) {
                    state = State::Usual;
                    u.push(c);
                } else {
                    match c {
                        b'/' | b'?' | b'#' => {
                            climb(&mut u)?;
                            if c == b'?' {
                                args = Some(p);
                                break 'outer;
                            }
                            if c == b'#' {
                                return Ok(done(u, Vec::new()));
                            }
                            state = State::Slash;
                        }
                        b'%' => {
                            quoted_state = state;
                            state = State::Quoted;
                        }
                        _ => {
                            state = State::Usual;
                            u.push(c);
                        }
                    }
                }
                ch = advance(&mut p);
            }
            State::Quoted => {
                decoded = hex(c).ok_or(UriError::BadEscape)?;
                state = State::QuotedSecond;
                ch = advance(&mut p);
            }
            State::QuotedSecond => {
                let low = hex(c).ok_or(UriError::BadEscape)?;
                let value = (decoded << 4) + low;
                if c.is_ascii_digit() {
                    if value == b'%' || value == b'#' {
                        state = State::Usual;
                        u.push(value);
                        ch = advance(&mut p);
                        continue;
                    } else if value == 0 {
                        return Err(UriError::BadEscape);
                    }
                } else if value == b'?' {
                    state = State::Usual;
                    u.push(value);
                    ch = advance(&mut p);
                    continue;
                }
                // The decoded byte is looked at again in the earlier state.
                state = quoted_state;
                ch = Some(value);
            }
        }
    }
    if let Some(start) = args {
        let rest = &input[start..];
        let end = rest.iter().position(|&c| c == b'#').unwrap_or(rest.len());
        return Ok(done(u, rest[..end].to_vec()));
    }
    match state {
        State::Quoted | State::QuotedSecond => return Err(UriError::BadEscape),
        State::Dot => {
            u.pop();
        }
        State::DotDot => climb(&mut u)?,
        _ => {}
    }
    Ok(done(u, Vec::new()))
}

fn done(uri: Vec<u8>, args: Vec<u8>) -> ComplexUri {
    ComplexUri { uri, args }
}

/// The `u -= 4` walk back of `sw_dot_dot`: drop `/..` and the segment
/// before it; fails when it would leave the root.
fn climb(u: &mut Vec<u8>) -> Result<(), UriError> {
    // u ends with "/..": look for the '/' before that one.
    let mut i = u.len() as isize - 4;
    loop {
        if i < 0 {
            return Err(UriError::AboveRoot);
        }
        if u[i as usize] == b'/' {
            u.truncate(i as usize + 1);
            return Ok(());
        }
        i -= 1;
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        _ => {
            let l = c | 0x20;
            (b'a'..=b'f').contains(&l).then(|| l - b'a' + 10)
        }
    }
}

/// NGX_ESCAPE_URI: bytes escaped by `ngx_escape_uri` for a URI path
/// (" ", "#", "%", "?", controls, bytes >= 0x7f and `"<>\^`{|}`).
const ESCAPE_URI: [u32; 8] = [
    0xffff_ffff,
    0xd000_002d,
    0x5000_0000,
    0xb800_0001,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
];

/// Whether `ngx_escape_uri(.., NGX_ESCAPE_URI)` would change `s`.
pub fn needs_escape(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| ESCAPE_URI[(c >> 5) as usize] & (1 << (c & 0x1f)) != 0)
}

/// `ngx_escape_uri(.., NGX_ESCAPE_URI)`: `%XX` in upper-case hex.
pub fn escape_uri(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if ESCAPE_URI[(c >> 5) as usize] & (1 << (c & 0x1f)) != 0 {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 0xf) as usize]]);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
