//! Request body framing as nginx reads it in `ngx_http_request_body_length_filter`
//! and `ngx_http_request_body_chunked_filter` (src/http/ngx_http_request_body.c):
//! exactly Content-Length bytes, or chunked (`chunked.rs`) with
//! `client_max_body_size` checked before each chunk's data ("client intended to
//! send too large chunked body", 413). A Content-Length above the limit is
//! refused before reading, as `ngx_http_core_find_config_phase` does.
//! `Expect: 100-continue` is answered by [`CONTINUE_100`] when the body is
//! about to be read (`ngx_http_test_expect`).
//!
//! The same decoder reads upstream response bodies (no limit, and
//! close-delimited bodies, see [`super::ResponseFraming`]).

use super::chunked::{ChunkedError, ChunkedParser, ChunkedStep};

/// nginx's interim response to `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How a message body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (upstream responses only).
    UntilClose,
}

/// A body nginx refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// "client sent invalid chunked body" (400), or an upstream's (502).
    #[error("invalid chunked body")]
    InvalidChunked,
    /// "client intended to send too large body" (413).
    #[error("client intended to send too large body")]
    TooLarge,
}

impl From<ChunkedError> for BodyError {
    fn from(_: ChunkedError) -> Self {
        BodyError::InvalidChunked
    }
}

impl BodyError {
    /// nginx's status for a client body error.
    pub fn status(self) -> u16 {
        match self {
            BodyError::InvalidChunked => 400,
            BodyError::TooLarge => 413,
        }
    }
}

/// One step of decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Input bytes used (framing and data).
    pub consumed: usize,
    /// Body data found (a slice of the input), possibly empty.
    pub data: &'a [u8],
    /// The body is complete; bytes after `consumed` belong to the next message.
    pub done: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Length(u64),
    Chunked(ChunkedParser),
    UntilClose,
}

/// A streaming body decoder: feed it whatever arrived, at any split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyDecoder {
    kind: Kind,
    received: u64,
    max: u64,
}

impl BodyDecoder {
    /// A decoder for `framing`. `client_max_body_size` 0 means no limit; a
    /// Content-Length above it fails at once with [`BodyError::TooLarge`].
    pub fn new(framing: BodyFraming, client_max_body_size: u64) -> Result<Self, BodyError> {
        let kind = match framing {
            BodyFraming::None => Kind::Length(0),
            BodyFraming::Length(n) => {
                if client_max_body_size != 0 && n > client_max_body_size {
                    return Err(BodyError::TooLarge);
                }
                Kind::Length(n)
            }
            BodyFraming::Chunked => Kind::Chunked(ChunkedParser::new()),
            BodyFraming::UntilClose => Kind::UntilClose,
        };
        Ok(BodyDecoder {
            kind,
            received: 0,
            max: client_max_body_size,
        })
    }

    /// Body bytes handed out so far (nginx's `content_length_n` for chunked).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether the whole body was read.
    pub fn is_done(&self) -> bool {
        match &self.kind {
            Kind::Length(rest) => *rest == 0,
            Kind::Chunked(p) => p.is_done(),
            Kind::UntilClose => false,
        }
    }

    /// Decodes from the front of `input`. Call again with the rest while
    /// `consumed > 0` and not `done`; `consumed == 0` means "read more".
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, BodyError> {
        let (consumed, data, done) = match &mut self.kind {
            Kind::Length(rest) => {
                let take = (*rest).min(input.len() as u64) as usize;
                *rest -= take as u64;
                (take, &input[..take], *rest == 0)
            }
            Kind::UntilClose => (input.len(), input, false),
            Kind::Chunked(parser) => {
                let (consumed, step) = parser.step(input)?;
                match step {
                    ChunkedStep::Data(range) => {
                        // nginx checks the chunk's remaining size each time
                        // data arrives, before taking it.
                        let whole = parser.pending_chunk().unwrap_or(0) + range.len() as u64;
                        if self.max != 0 && self.max.saturating_sub(self.received) < whole {
                            return Err(BodyError::TooLarge);
                        }
                        (consumed, &input[range], false)
                    }
                    ChunkedStep::Done => (consumed, &input[..0], true),
                    ChunkedStep::NeedMore => (consumed, &input[..0], false),
                }
            }
        };
        self.received += data.len() as u64;
        Ok(Decoded {
            consumed,
            data,
            done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `split` bytes; returns the body, whether it
    /// ended, and the bytes left after it.
    fn run(
        framing: BodyFraming,
        max: u64,
        input: &[u8],
        split: usize,
    ) -> Result<(Vec<u8>, bool, usize), BodyError> {
        let mut dec = BodyDecoder::new(framing, max)?;
        let mut body = Vec::new();
        let mut used = 0;
        for piece in input.chunks(split.max(1)) {
            let mut at = 0;
            loop {
                let d = dec.decode(&piece[at..])?;
                body.extend_from_slice(d.data);
                at += d.consumed;
                if d.done {
                    return Ok((body, true, input.len() - (used + at)));
                }
                if d.consumed == 0 || at == piece.len() {
                    break;
                }
            }
            used += piece.len();
        }
        Ok((body, dec.is_done(), 0))
    }

    fn at_every_split(
        framing: BodyFraming,
        max: u64,
        input: &[u8],
    ) -> Result<(Vec<u8>, bool, usize), BodyError> {
        let whole = run(framing, max, input, input.len());
        for split in 1..input.len() {
            assert_eq!(run(framing, max, input, split), whole, "split {split}");
        }
        whole
    }

    fn decoder(framing: BodyFraming) -> BodyDecoder {
        match BodyDecoder::new(framing, 0) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn content_length_stops_at_the_length() {
        let got = at_every_split(BodyFraming::Length(5), 0, b"helloGET / HTTP/1.1\r\n");
        assert_eq!(got, Ok((b"hello".to_vec(), true, 16)));
    }

    #[test]
    fn empty_bodies_are_done_at_once() {
        let mut d = decoder(BodyFraming::None);
        assert_eq!(
            d.decode(b"x"),
            Ok(Decoded {
                consumed: 0,
                data: b"",
                done: true
            })
        );
        let mut d = decoder(BodyFraming::Length(0));
        assert_eq!(d.decode(b"").map(|d| d.done), Ok(true));
    }

    #[test]
    fn chunked_at_every_split() {
        let got = at_every_split(
            BodyFraming::Chunked,
            0,
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nX",
        );
        assert_eq!(got, Ok((b"abcde".to_vec(), true, 1)));
    }

    #[test]
    fn content_length_above_the_limit_is_413_before_reading() {
        assert_eq!(
            BodyDecoder::new(BodyFraming::Length(11), 10),
            Err(BodyError::TooLarge)
        );
        assert!(BodyDecoder::new(BodyFraming::Length(10), 10).is_ok());
        assert!(BodyDecoder::new(BodyFraming::Length(u64::MAX >> 1), 0).is_ok());
    }

    #[test]
    fn chunked_above_the_limit_is_413_at_the_chunk_that_crosses_it() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(
            at_every_split(BodyFraming::Chunked, 10, body),
            Err(BodyError::TooLarge)
        );
        assert!(at_every_split(BodyFraming::Chunked, 11, body).is_ok());
        // A huge announced chunk fails with its first data byte.
        assert!(run(BodyFraming::Chunked, 10, b"ffff\r\n", 6).is_ok());
        assert_eq!(
            run(BodyFraming::Chunked, 10, b"ffff\r\nx", 7),
            Err(BodyError::TooLarge)
        );
    }

    #[test]
    fn bad_chunk_is_400() {
        let err = at_every_split(BodyFraming::Chunked, 0, b"5\r\nhello\r\nzz\r\n");
        assert_eq!(err, Err(BodyError::InvalidChunked));
        assert_eq!(BodyError::InvalidChunked.status(), 400);
        assert_eq!(BodyError::TooLarge.status(), 413);
    }

    #[test]
    fn until_close_takes_everything() {
        let mut d = decoder(BodyFraming::UntilClose);
        assert_eq!(d.decode(b"abc").map(|d| d.data), Ok(&b"abc"[..]));
        assert!(!d.is_done());
        assert_eq!(d.received(), 3);
    }
}
