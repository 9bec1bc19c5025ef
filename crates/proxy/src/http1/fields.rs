//! Header lines, tokenised by httparse and judged by nginx's rules from
//! `ngx_http_parse_header_line` (src/http/ngx_http_parse.c) and
//! `ngx_http_process_request_headers` (src/http/ngx_http_request.c).
//!
//! httparse splits every line into name and value. On top of it:
//! - the value keeps nginx's bounds: only spaces are trimmed, a tab stays;
//! - a name with a byte outside `A-Za-z0-9-` (and `_` unless
//!   underscores_in_headers) is "invalid": dropped when
//!   ignore_invalid_headers is on, kept otherwise;
//! - a line httparse refuses is looked at once more to give nginx's verdict:
//!   a refusal (nginx's `NGX_HTTP_PARSE_INVALID_HEADER`: 400 from a client, 502
//!   from an upstream), a drop (an invalid name nginx would skip), or
//!   `Unsupported`: a line nginx accepts but upgate refuses (a header without a
//!   colon, a control byte in a value, `CR CR LF`). This second look never
//!   produces a header: every header upgate forwards was tokenised by httparse.

use std::ops::Range;

/// How to judge header lines: the client side uses the configuration, the
/// upstream side nginx's fixed choice (underscores allowed, nothing dropped).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldOptions {
    pub allow_underscores: bool,
    pub ignore_invalid: bool,
    /// Skip the duplicate `HTTP/1.1 ...` lines some servers (IIS) send.
    pub upstream: bool,
}

/// What became of one header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Kept: offsets of the name and the value in the buffer.
    Field {
        name: Range<usize>,
        value: Range<usize>,
    },
    /// An invalid name, dropped ("client sent invalid header line").
    Dropped,
    /// An upstream's stray status line, skipped.
    Skipped,
    /// nginx refuses the line at the byte `at` (an offset in the buffer).
    Rejected { at: usize },
    /// nginx would accept the line; upgate refuses it.
    Unsupported,
}

/// One line and its fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// The whole line, LF included.
    pub span: Range<usize>,
    pub outcome: Outcome,
}

/// The header block from `start`, line by line, up to the first refused line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Block {
    pub lines: Vec<Line>,
    /// One past the empty line that ends the head, when it arrived.
    pub end: Option<usize>,
    /// A byte nginx refuses in the line still arriving (found only when
    /// httparse refused the block).
    pub tail_violation: Option<usize>,
}

/// Tokenises the header lines of `buf` that start at `start`. Only lines whose
/// LF has arrived are returned; the block stops after a `Rejected` or
/// `Unsupported` line.
pub(crate) fn parse_block(buf: &[u8], start: usize, opts: FieldOptions) -> Block {
    let tail = buf.get(start..).unwrap_or_default();
    match tokenise(tail, start, buf, opts) {
        Tokenised::Complete(lines, n) => Block {
            lines,
            end: Some(start + n),
            tail_violation: None,
        },
        Tokenised::Partial => {
            // Every complete line is fine: tokenise them again, closed by an
            // empty line, to get their offsets (one copy, one pass).
            let Some(last_lf) = tail.iter().rposition(|&b| b == b'\n') else {
                return Block::default();
            };
            let mut closed = Vec::with_capacity(last_lf + 3);
            closed.extend_from_slice(&tail[..=last_lf]);
            closed.extend_from_slice(b"\r\n");
            match tokenise(&closed, start, buf, opts) {
                Tokenised::Complete(lines, _) => Block {
                    lines,
                    end: None,
                    tail_violation: None,
                },
                _ => line_by_line(buf, start, opts),
            }
        }
        Tokenised::Refused => line_by_line(buf, start, opts),
    }
}

enum Tokenised {
    Complete(Vec<Line>, usize),
    Partial,
    Refused,
}

/// httparse over `src`, which holds the bytes of `buf` from `offset` on.
fn tokenise(src: &[u8], offset: usize, buf: &[u8], opts: FieldOptions) -> Tokenised {
    // Most heads have a few dozen lines: their slots live on the stack, and
    // only a longer head is counted to size them on the heap.
    let mut on_stack = [httparse::EMPTY_HEADER; 32];
    match tokenise_into(src, offset, buf, opts, &mut on_stack) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut on_heap = vec![httparse::EMPTY_HEADER; head_lines(src)];
            tokenise_into(src, offset, buf, opts, &mut on_heap).unwrap_or(Tokenised::Refused)
        }
        Err(_) => Tokenised::Refused,
        Ok(t) => t,
    }
}

fn tokenise_into<'s>(
    src: &'s [u8],
    offset: usize,
    buf: &[u8],
    opts: FieldOptions,
    headers: &mut [httparse::Header<'s>],
) -> Result<Tokenised, httparse::Error> {
    match httparse::parse_headers(src, headers)? {
        httparse::Status::Complete((n, parsed)) => {
            let mut lines = Vec::with_capacity(parsed.len());
            let base = src.as_ptr() as usize;
            for h in parsed {
                let rel = (h.name.as_ptr() as usize).wrapping_sub(base);
                // The value's end: the line's LF is at most a few bytes on
                // (an empty value's slice need not point into `src`).
                let value_end = if h.value.is_empty() {
                    0
                } else {
                    (h.value.as_ptr() as usize)
                        .wrapping_sub(base)
                        .wrapping_add(h.value.len())
                };
                let value_end = if value_end == 0 {
                    0
                } else {
                    offset.wrapping_add(value_end)
                };
                match accepted_line(buf, offset.wrapping_add(rel), h.name.len(), value_end, opts) {
                    Some(line) => lines.push(line),
                    // Offsets that do not add up: let the slow path judge.
                    None => return Ok(Tokenised::Refused),
                }
            }
            Ok(Tokenised::Complete(lines, n))
        }
        httparse::Status::Partial => Ok(Tokenised::Partial),
    }
}

/// How many lines the head in `src` has at most: LFs up to the first empty
/// line (body bytes after it are not counted).
fn head_lines(src: &[u8]) -> usize {
    let mut lines = 1;
    let mut at = 0;
    while let Some(i) = src
        .get(at..)
        .and_then(|t| t.iter().position(|&b| b == b'\n'))
    {
        lines += 1;
        at += i + 1;
        if let Some([b'\n', ..] | [b'\r', b'\n', ..]) = src.get(at..) {
            break;
        }
    }
    lines
}

/// A line httparse accepted: the name at `name_at`, the colon right after
/// it, its value ending at `value_end` (where the search for the LF
/// starts, when it is past the colon).
fn accepted_line(
    buf: &[u8],
    name_at: usize,
    name_len: usize,
    value_end: usize,
    opts: FieldOptions,
) -> Option<Line> {
    let colon = name_at.checked_add(name_len)?;
    if buf.get(colon) != Some(&b':') {
        return None;
    }
    let from = if value_end > colon && value_end <= buf.len() {
        value_end
    } else {
        colon
    };
    let lf = from + buf.get(from..)?.iter().position(|&b| b == b'\n')?;
    let name = name_at..colon;
    let outcome = if !opts.ignore_invalid || valid_name(&buf[name.clone()], opts.allow_underscores)
    {
        Outcome::Field {
            name,
            value: value_bounds(buf, colon + 1, lf),
        }
    } else {
        Outcome::Dropped
    };
    Some(Line {
        span: name_at..lf + 1,
        outcome,
    })
}

/// nginx's value: after the colon, spaces skipped; before the CR LF, spaces
/// trimmed. Tabs are part of the value.
fn value_bounds(buf: &[u8], mut from: usize, lf: usize) -> Range<usize> {
    let mut to = lf;
    if to > from && buf[to - 1] == b'\r' {
        to -= 1;
    }
    while from < to && buf[from] == b' ' {
        from += 1;
    }
    while to > from && buf[to - 1] == b' ' {
        to -= 1;
    }
    from..to
}

/// nginx's `lowcase[]` table plus `_` when allowed.
pub(crate) fn valid_name(name: &[u8], allow_underscores: bool) -> bool {
    // One table lookup a byte: every header name of every request and
    // response is checked here.
    let table = if allow_underscores {
        &NAME_BYTES_UNDERSCORE
    } else {
        &NAME_BYTES
    };
    !name.is_empty() && name.iter().all(|&b| table[usize::from(b)])
}

/// The bytes of a valid name: `A-Za-z0-9-`, and `_` in the second table.
const NAME_BYTES: [bool; 256] = name_bytes(false);
const NAME_BYTES_UNDERSCORE: [bool; 256] = name_bytes(true);

const fn name_bytes(underscore: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || (c == b'_' && underscore);
        b += 1;
    }
    table
}

/// The slow path: each complete line on its own through httparse.
fn line_by_line(buf: &[u8], start: usize, opts: FieldOptions) -> Block {
    let mut block = Block::default();
    let mut at = start;
    let mut scratch = Vec::new();
    while let Some(pos) = buf
        .get(at..)
        .and_then(|t| t.iter().position(|&b| b == b'\n'))
    {
        let lf = at + pos;
        let mut content = &buf[at..lf];
        if content.last() == Some(&b'\r') {
            content = &content[..content.len() - 1];
        }
        if content.is_empty() {
            block.end = Some(lf + 1);
            return block;
        }
        scratch.clear();
        scratch.extend_from_slice(content);
        scratch.extend_from_slice(b"\r\n\r\n");
        let mut one = [httparse::EMPTY_HEADER; 1];
        let outcome = match httparse::parse_headers(&scratch, &mut one) {
            Ok(httparse::Status::Complete((_, [h]))) => {
                let colon = at + h.name.len();
                if buf.get(colon) != Some(&b':') {
                    Outcome::Rejected { at: colon }
                } else if valid_name(h.name.as_bytes(), opts.allow_underscores)
                    || !opts.ignore_invalid
                {
                    Outcome::Field {
                        name: at..colon,
                        value: value_bounds(buf, colon + 1, lf),
                    }
                } else {
                    Outcome::Dropped
                }
            }
            _ => classify_refused(&buf[at..lf], at, opts),
        };
        let stop = matches!(outcome, Outcome::Rejected { .. } | Outcome::Unsupported);
        block.lines.push(Line {
            span: at..lf + 1,
            outcome,
        });
        if stop {
            return block;
        }
        at = lf + 1;
    }
    let tail = buf.get(at..).unwrap_or_default();
    block.tail_violation = first_violation(tail, opts.upstream).map(|i| at + i);
    block
}

/// nginx's verdict on a line httparse refused (`line` without its LF,
/// starting at `offset` in the buffer).
fn classify_refused(line: &[u8], offset: usize, opts: FieldOptions) -> Outcome {
    if opts.upstream && line.starts_with(b"HTTP/") {
        return Outcome::Skipped;
    }
    if let Some(i) = first_violation(line, opts.upstream) {
        return Outcome::Rejected { at: offset + i };
    }
    let name_end = line
        .iter()
        .position(|&b| b == b':' || b == b'\r')
        .unwrap_or(line.len());
    if !valid_name(&line[..name_end], opts.allow_underscores) && opts.ignore_invalid {
        return Outcome::Dropped;
    }
    Outcome::Unsupported
}

/// The first byte of a header line (LF excluded, maybe still arriving) at
/// which `ngx_http_parse_header_line` returns `NGX_HTTP_PARSE_INVALID_HEADER`.
fn first_violation(line: &[u8], upstream: bool) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Start,
        Name,
        SpaceBeforeValue,
        Value,
        AlmostDone,
        HeaderAlmostDone,
    }
    let mut st = St::Start;
    for (i, &ch) in line.iter().enumerate() {
        st = match (st, ch) {
            (St::Start, b'\r') => St::HeaderAlmostDone,
            (St::Start, c) if c <= 0x20 || c == 0x7f || c == b':' => return Some(i),
            (St::Start, _) => St::Name,
            (St::Name, b':') => St::SpaceBeforeValue,
            (St::Name, b'\r') => St::AlmostDone,
            (St::Name, b'/') if upstream && i == 4 && line.starts_with(b"HTTP") => return None,
            (St::Name, c) if c <= 0x20 || c == 0x7f => return Some(i),
            (St::Name, _) => St::Name,
            (St::SpaceBeforeValue | St::Value, b'\r') => St::AlmostDone,
            (St::SpaceBeforeValue | St::Value, 0) => return Some(i),
            (St::SpaceBeforeValue, b' ') => St::SpaceBeforeValue,
            (St::SpaceBeforeValue | St::Value, _) => St::Value,
            (St::AlmostDone, b'\r') => St::AlmostDone,
            (St::AlmostDone | St::HeaderAlmostDone, _) => return Some(i),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: FieldOptions = FieldOptions {
        allow_underscores: false,
        ignore_invalid: true,
        upstream: false,
    };
    const KEEP: FieldOptions = FieldOptions {
        allow_underscores: false,
        ignore_invalid: false,
        upstream: false,
    };
    const UPSTREAM: FieldOptions = FieldOptions {
        allow_underscores: true,
        ignore_invalid: false,
        upstream: true,
    };

    fn outcomes(block: &[u8], opts: FieldOptions) -> Vec<Outcome> {
        parse_block(block, 0, opts)
            .lines
            .into_iter()
            .map(|l| l.outcome)
            .collect()
    }

    fn field(buf: &[u8], line: &Line) -> (Vec<u8>, Vec<u8>) {
        match &line.outcome {
            Outcome::Field { name, value } => {
                (buf[name.clone()].to_vec(), buf[value.clone()].to_vec())
            }
            other => panic!("not a field: {other:?}"),
        }
    }

    #[test]
    fn values_keep_tabs_and_lose_spaces() {
        let buf = b"A:  \tx y \t  \r\nB:\r\nC: v\n\r\n";
        let b = parse_block(buf, 0, CLIENT);
        assert_eq!(b.end, Some(buf.len()));
        assert_eq!(
            field(buf, &b.lines[0]),
            (b"A".to_vec(), b"\tx y \t".to_vec())
        );
        assert_eq!(field(buf, &b.lines[1]), (b"B".to_vec(), b"".to_vec()));
        assert_eq!(field(buf, &b.lines[2]), (b"C".to_vec(), b"v".to_vec()));
    }

    #[test]
    fn underscore_and_dot_names_are_dropped_or_kept() {
        let buf = b"X_Under: u\r\nX.Dot: d\r\nOk: 1\r\n\r\n";
        let dropped = outcomes(buf, CLIENT);
        assert_eq!(dropped[..2], [Outcome::Dropped, Outcome::Dropped]);
        assert!(matches!(dropped[2], Outcome::Field { .. }));
        assert!(
            outcomes(buf, KEEP)
                .iter()
                .all(|o| matches!(o, Outcome::Field { .. }))
        );
        let under = FieldOptions {
            allow_underscores: true,
            ..CLIENT
        };
        assert!(matches!(outcomes(buf, under)[0], Outcome::Field { .. }));
    }

    #[test]
    fn non_token_name_is_dropped_when_ignoring() {
        let buf = b"X@Y: v\r\nA: b\r\n\r\n";
        let b = parse_block(buf, 0, CLIENT);
        assert_eq!(b.lines[0].outcome, Outcome::Dropped);
        assert_eq!(field(buf, &b.lines[1]), (b"A".to_vec(), b"b".to_vec()));
        assert_eq!(b.end, Some(buf.len()));
        assert_eq!(outcomes(buf, KEEP), vec![Outcome::Unsupported]);
    }

    #[test]
    fn nginx_refusals() {
        for line in [
            &b" folded: x\r\n\r\n"[..],
            b"\tX: y\r\n\r\n",
            b": v\r\n\r\n",
            b"X Y: v\r\n\r\n",
            b"X : v\r\n\r\n",
            b"X: a\0b\r\n\r\n",
            b"X: a\rb\r\n\r\n",
            b"X\x7f: v\r\n\r\n",
            b"\r\r\n\r\n",
        ] {
            let got = outcomes(line, CLIENT);
            assert!(
                matches!(got.last(), Some(Outcome::Rejected { .. })),
                "{line:?}"
            );
        }
    }

    #[test]
    fn obs_fold_after_a_header_is_refused() {
        let buf = b"Transfer-Encoding: chunked\r\n gzip\r\n\r\n";
        let got = outcomes(buf, CLIENT);
        assert!(matches!(got[0], Outcome::Field { .. }));
        assert_eq!(got[1], Outcome::Rejected { at: 28 });
    }

    #[test]
    fn lines_nginx_accepts_but_upgate_refuses() {
        for line in [
            &b"NoColon\r\n\r\n"[..],
            b"X: a\x01b\r\n\r\n",
            b"X: a\r\r\n\r\n",
            b"X: \x7f\r\n\r\n",
        ] {
            assert_eq!(
                outcomes(line, CLIENT),
                vec![Outcome::Unsupported],
                "{line:?}"
            );
        }
    }

    #[test]
    fn upstream_skips_stray_status_lines_and_keeps_odd_names() {
        let buf = b"HTTP/1.1 200 OK\r\nX.Y_Z: v\r\n\r\n";
        let got = outcomes(buf, UPSTREAM);
        assert_eq!(got[0], Outcome::Skipped);
        assert!(matches!(got[1], Outcome::Field { .. }));
    }

    #[test]
    fn partial_block_returns_complete_lines_only() {
        let buf = b"A: 1\r\nB: 2\r\nC: 3";
        let b = parse_block(buf, 0, CLIENT);
        assert_eq!(b.end, None);
        assert_eq!(b.lines.len(), 2);
        assert_eq!(b.lines[1].span, 6..12);
    }

    #[test]
    fn body_lines_after_the_head_are_not_counted() {
        assert_eq!(head_lines(b"A: 1\r\n\r\nx\ny\nz\n"), 2);
        assert_eq!(head_lines(b"A: 1\nB: 2\n\n\n\n"), 3);
        assert_eq!(head_lines(b"no newline"), 1);
    }

    #[test]
    fn block_may_start_mid_buffer() {
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nrest";
        let b = parse_block(buf, 16, CLIENT);
        assert_eq!(b.end, Some(27));
        assert_eq!(field(buf, &b.lines[0]), (b"Host".to_vec(), b"h".to_vec()));
    }
}
