//! Chunked transfer coding, a port of nginx's `ngx_http_parse_chunked`
//! (src/http/ngx_http_parse.c) without kept trailers: hex sizes (any number
//! of leading zeros, at most `0x7ff_ffff_ffff_ffff` as nginx checks
//! `size > NGX_MAX_OFF_T_VALUE / 16` before each further byte), extensions after
//! `;`, space or tab skipped, bare LF accepted for CR LF, trailer lines read
//! and dropped. Any other byte is an error: 400 from a client, 502 from an
//! upstream.
//!
//! A streaming state machine: feed it any split of the input.

use std::ops::Range;

/// A byte nginx's chunked parser refuses ("client sent invalid chunked body").
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked body")]
pub struct ChunkedError;

/// What the parser found after the bytes it consumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkedStep {
    /// `input[range]` is chunk data (already counted as consumed).
    Data(Range<usize>),
    /// The last chunk and the trailer ended; the body is complete.
    Done,
    /// All input consumed, more is needed.
    NeedMore,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum St {
    #[default]
    ChunkStart,
    ChunkSize,
    ChunkExtension,
    ChunkExtensionAlmostDone,
    ChunkData,
    AfterData,
    AfterDataAlmostDone,
    LastChunkExtension,
    LastChunkExtensionAlmostDone,
    Trailer,
    TrailerAlmostDone,
    TrailerHeader,
    TrailerHeaderAlmostDone,
    Done,
}

/// nginx's `NGX_MAX_OFF_T_VALUE` on 64-bit systems.
const MAX_OFF_T: u64 = i64::MAX as u64;

/// The decoder's state between calls (`ngx_http_chunked_t`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkedParser {
    state: St,
    /// The current chunk's size, then what is left of it.
    size: u64,
}

impl ChunkedParser {
    /// A parser at the start of a body.
    pub fn new() -> Self {
        ChunkedParser::default()
    }

    /// Whether the terminating chunk and trailer were read.
    pub fn is_done(&self) -> bool {
        self.state == St::Done
    }

    /// Consumes framing bytes from `input` up to the next data, the end of the
    /// body or the end of `input`. Returns how many bytes were consumed
    /// (data included) and what was found.
    pub fn step(&mut self, input: &[u8]) -> Result<(usize, ChunkedStep), ChunkedError> {
        if self.state == St::ChunkData && self.size == 0 {
            self.state = St::AfterData;
        }
        for (pos, &ch) in input.iter().enumerate() {
            self.state = match self.state {
                St::ChunkStart => match hex(ch) {
                    Some(d) => {
                        self.size = d;
                        St::ChunkSize
                    }
                    None => return Err(ChunkedError),
                },
                St::ChunkSize => {
                    if self.size > MAX_OFF_T / 16 {
                        return Err(ChunkedError);
                    }
                    match (hex(ch), self.size, ch) {
                        (Some(d), _, _) => {
                            self.size = self.size * 16 + d;
                            St::ChunkSize
                        }
                        (None, 0, b'\r') => St::LastChunkExtensionAlmostDone,
                        (None, 0, b'\n') => St::Trailer,
                        (None, 0, b';' | b' ' | b'\t') => St::LastChunkExtension,
                        (None, _, b'\r') => St::ChunkExtensionAlmostDone,
                        (None, _, b'\n') => St::ChunkData,
                        (None, _, b';' | b' ' | b'\t') => St::ChunkExtension,
                        (None, _, _) => return Err(ChunkedError),
                    }
                }
                St::ChunkExtension => match ch {
                    b'\r' => St::ChunkExtensionAlmostDone,
                    b'\n' => St::ChunkData,
                    _ => St::ChunkExtension,
                },
                St::ChunkExtensionAlmostDone if ch == b'\n' => St::ChunkData,
                St::ChunkData => return self.data(input, pos),
                St::AfterData => match ch {
                    b'\r' => St::AfterDataAlmostDone,
                    b'\n' => St::ChunkStart,
                    _ => return Err(ChunkedError),
                },
                St::AfterDataAlmostDone if ch == b'\n' => St::ChunkStart,
                St::LastChunkExtension => match ch {
                    b'\r' => St::LastChunkExtensionAlmostDone,
                    b'\n' => St::Trailer,
                    _ => St::LastChunkExtension,
                },
                St::LastChunkExtensionAlmostDone if ch == b'\n' => St::Trailer,
                St::Trailer => match ch {
                    b'\r' => St::TrailerAlmostDone,
                    b'\n' => return Ok(self.done(pos)),
                    _ => St::TrailerHeader,
                },
                St::TrailerAlmostDone if ch == b'\n' => return Ok(self.done(pos)),
                St::TrailerHeader => match ch {
                    b'\r' => St::TrailerHeaderAlmostDone,
                    b'\n' => St::Trailer,
                    _ => St::TrailerHeader,
                },
                St::TrailerHeaderAlmostDone if ch == b'\n' => St::Trailer,
                St::Done => return Ok((pos, ChunkedStep::Done)),
                St::ChunkExtensionAlmostDone
                | St::AfterDataAlmostDone
                | St::LastChunkExtensionAlmostDone
                | St::TrailerAlmostDone
                | St::TrailerHeaderAlmostDone => return Err(ChunkedError),
            };
        }
        if self.size > MAX_OFF_T - 5 {
            return Err(ChunkedError);
        }
        if self.state == St::Done {
            return Ok((input.len(), ChunkedStep::Done));
        }
        Ok((input.len(), ChunkedStep::NeedMore))
    }

    /// At chunk data: hand out what `input` holds of it.
    fn data(&mut self, input: &[u8], pos: usize) -> Result<(usize, ChunkedStep), ChunkedError> {
        if self.size > MAX_OFF_T - 5 {
            return Err(ChunkedError);
        }
        let avail = (input.len() - pos) as u64;
        let take = avail.min(self.size) as usize;
        self.size -= take as u64;
        Ok((pos + take, ChunkedStep::Data(pos..pos + take)))
    }

    fn done(&mut self, pos: usize) -> (usize, ChunkedStep) {
        self.state = St::Done;
        (pos + 1, ChunkedStep::Done)
    }

    /// The size of the chunk whose data comes next, when the parser stands at
    /// chunk data (for `client_max_body_size`).
    pub(crate) fn pending_chunk(&self) -> Option<u64> {
        (self.state == St::ChunkData).then_some(self.size)
    }
}

fn hex(ch: u8) -> Option<u64> {
    match ch {
        b'0'..=b'9' => Some(u64::from(ch - b'0')),
        b'a'..=b'f' => Some(u64::from(ch - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(ch - b'A' + 10)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `split` bytes (0: all at once).
    fn decode(input: &[u8], split: usize) -> Result<(Vec<u8>, bool, usize), ChunkedError> {
        let mut p = ChunkedParser::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        let pieces: Vec<&[u8]> = if split == 0 {
            vec![input]
        } else {
            input.chunks(split).collect()
        };
        for piece in pieces {
            let mut at = 0;
            loop {
                let (n, step) = p.step(&piece[at..])?;
                match step {
                    ChunkedStep::Data(r) => out.extend_from_slice(&piece[at..][r]),
                    ChunkedStep::Done => return Ok((out, true, consumed + at + n)),
                    ChunkedStep::NeedMore => {}
                }
                at += n;
                if at == piece.len() {
                    break;
                }
            }
            consumed += piece.len();
        }
        Ok((out, p.is_done(), consumed))
    }

    fn every_split(input: &[u8]) -> Result<(Vec<u8>, bool, usize), ChunkedError> {
        let whole = decode(input, 0);
        for split in 1..input.len().max(2) {
            assert_eq!(decode(input, split), whole, "split {split}");
        }
        whole
    }

    #[test]
    fn simple_body_at_every_split() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
        let Ok((out, done, used)) = every_split(body) else {
            panic!("invalid")
        };
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(used, body.len() - 4);
    }

    #[test]
    fn bare_lf_extensions_and_trailers() {
        let body = b"A\nabcdefghij\n000\t; x\r\nTrailer: t\r\nOther: o\n\r\n";
        let Ok((out, done, _)) = every_split(body) else {
            panic!("invalid")
        };
        assert_eq!((out.as_slice(), done), (&b"abcdefghij"[..], true));
    }

    #[test]
    fn leading_zeros_do_not_count_toward_the_limit() {
        let body = b"0000000000000000000000000000000001\r\nx\r\n0\r\n\r\n";
        assert_eq!(every_split(body).map(|r| r.0), Ok(b"x".to_vec()));
    }

    #[test]
    fn bad_sizes() {
        for body in [
            &b"zz\r\n"[..],
            b" 5\r\nhello",
            b"0x5\r\nhello",
            b"-1\r\n",
            b"5\rhello",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\r\r\n",
            b"\r\n",
            b"0\r\n\rX",
            b"8000000000000000\r\n",
            b"7fffffffffffffff1\r\n",
        ] {
            assert_eq!(every_split(body), Err(ChunkedError), "{body:?}");
        }
    }

    #[test]
    fn largest_sizes_nginx_allows() {
        // Not above MAX/16 before the last digit: accepted, then data.
        assert_eq!(decode(b"7fffffffffffff0\r\nab", 0).map(|r| r.1), Ok(false));
        // size > MAX - 5 once at data.
        assert_eq!(decode(b"7ffffffffffffffb\r\nab", 0), Err(ChunkedError));
        assert!(decode(b"7fffffffffffffa\r\n", 0).is_ok());
    }

    #[test]
    fn incomplete_body_needs_more() {
        let Ok((out, done, _)) = every_split(b"5\r\nhel") else {
            panic!("invalid")
        };
        assert_eq!((out.as_slice(), done), (&b"hel"[..], false));
    }
}
