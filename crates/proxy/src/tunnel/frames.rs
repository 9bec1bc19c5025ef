//! The RFC 6455 frame boundaries of one direction of a tunnel, for the
//! `# upgate:` pragmas that put frames of their own on the wire (pings,
//! close frames). Bytes pass through unchanged and unbuffered: only a frame
//! header split across reads (at most 14 bytes) and a pong that may answer
//! our ping (at most 139 bytes) are held until whole. Payloads are never
//! looked at otherwise, so RSV bits and permessage-deflate data pass as
//! they came; control frames between the fragments of a message are
//! followed as the RFC allows.
//!
//! A stream that breaks the framing rules (a reserved opcode, a control
//! frame over 125 bytes or fragmented, a continuation with no message, a
//! 64-bit length with its top bit set) turns the direction into nginx's
//! opaque byte pipe for good: what was held is passed on and nothing is
//! injected into it again.

use std::io::Cursor;

use bytes::Bytes;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// The payload of upgate's pings: a counter after a fixed prefix, so that
/// the pong answering one is known and not passed on.
pub(super) const PING_LEN: usize = 8;
const PING_PREFIX: &[u8; 4] = b"upg\0";

pub(super) fn ping_payload(n: u32) -> [u8; PING_LEN] {
    let mut p = [0; PING_LEN];
    p[..4].copy_from_slice(PING_PREFIX);
    p[4..].copy_from_slice(&n.to_be_bytes());
    p
}

/// What a read becomes on its way to the other side.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fed {
    /// The bytes as read.
    Pass,
    /// Other bytes (some held back, some released, some dropped).
    Replace(Bytes),
}

#[derive(Debug)]
enum State {
    /// Reading a header: the bytes so far, not yet passed on.
    Header { buf: [u8; 14], len: u8 },
    /// Inside a payload.
    Payload { remaining: u64, action: Action },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Pass,
    /// A pong that may answer our ping: kept in `held` until whole.
    Hold,
    /// The tunnel is closing: nothing more goes to the other side.
    Drop,
}

/// The frames of one direction.
#[derive(Debug)]
pub(super) struct Framing {
    state: State,
    /// Inside a fragmented data message.
    in_message: bool,
    /// The framing rules were broken: bytes pass, nothing is injected.
    broken: bool,
    /// The held pong (header and payload) and its mask.
    held: Vec<u8>,
    held_mask: Option<[u8; 4]>,
    /// The payload of the ping sent to this direction's source.
    pub(super) expect_pong: Option<[u8; PING_LEN]>,
    /// The source sent a close frame.
    pub(super) close_seen: bool,
    /// Closing: frames are followed but not passed on.
    pub(super) closing: bool,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Header {
                buf: [0; 14],
                len: 0,
            },
            in_message: false,
            broken: false,
            held: Vec::new(),
            held_mask: None,
            expect_pong: None,
            close_seen: false,
            closing: false,
        }
    }
}

/// The output of one read, copied only when it differs from the input.
struct Out<'a> {
    data: &'a [u8],
    /// `data[..passed]` is the output so far while `owned` is `None`.
    passed: usize,
    owned: Option<Vec<u8>>,
}

impl<'a> Out<'a> {
    fn new(data: &'a [u8]) -> Self {
        Out {
            data,
            passed: 0,
            owned: None,
        }
    }

    fn owned(&mut self) -> &mut Vec<u8> {
        let (data, passed) = (self.data, self.passed);
        self.owned.get_or_insert_with(|| data[..passed].to_vec())
    }

    /// `data[from..to]` goes on.
    fn pass(&mut self, from: usize, to: usize) {
        if self.owned.is_none() && from == self.passed {
            self.passed = to;
        } else {
            let data = self.data;
            self.owned().extend_from_slice(&data[from..to]);
        }
    }

    /// `data[from..to]` does not go on (yet).
    fn skip(&mut self, from: usize, to: usize) {
        if from < to {
            self.owned();
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.owned().extend_from_slice(bytes);
        }
    }

    fn finish(self) -> Fed {
        match self.owned {
            None if self.passed == self.data.len() => Fed::Pass,
            None => Fed::Replace(Bytes::copy_from_slice(&self.data[..self.passed])),
            Some(v) => Fed::Replace(Bytes::from(v)),
        }
    }
}

/// A header's length once its first two bytes are known.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl Framing {
    /// The output stream ends at a frame boundary: a frame of our own may
    /// go next.
    pub(super) fn at_boundary(&self) -> bool {
        !self.broken
            && match self.state {
                State::Header { .. } => true,
                State::Payload { action, .. } => action != Action::Pass,
            }
    }

    #[cfg(test)]
    pub(super) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Follows `data` and says what goes on.
    pub(super) fn feed(&mut self, data: &[u8]) -> Fed {
        if self.broken {
            return if self.closing {
                Fed::Replace(Bytes::new())
            } else {
                Fed::Pass
            };
        }
        let mut out = Out::new(data);
        let mut i = 0;
        while i < data.len() {
            match &mut self.state {
                State::Header { buf, len } => {
                    let start = i;
                    let had = usize::from(*len);
                    // At least two bytes say how long the header is.
                    while usize::from(*len) < 2 && i < data.len() {
                        buf[usize::from(*len)] = data[i];
                        *len += 1;
                        i += 1;
                    }
                    if usize::from(*len) < 2 {
                        break;
                    }
                    let need = header_len(buf[1]);
                    while usize::from(*len) < need && i < data.len() {
                        buf[usize::from(*len)] = data[i];
                        *len += 1;
                        i += 1;
                    }
                    if usize::from(*len) < need {
                        break;
                    }
                    let header = *buf;
                    let header = &header[..need];
                    match self.begin_frame(header) {
                        Some(action) => {
                            if action == Action::Pass {
                                if had == 0 {
                                    out.pass(start, i);
                                } else {
                                    out.skip(start, i);
                                    out.bytes(header);
                                }
                            } else {
                                out.skip(start, i);
                                if action == Action::Hold {
                                    self.held.extend_from_slice(header);
                                }
                            }
                        }
                        None => {
                            // Broken: what was held goes on, then the rest.
                            self.broken = true;
                            self.state = State::Header {
                                buf: [0; 14],
                                len: 0,
                            };
                            if self.closing {
                                return Fed::Replace(Bytes::new());
                            }
                            if had == 0 {
                                out.pass(start, i);
                            } else {
                                out.skip(start, i);
                                out.bytes(header);
                            }
                            out.pass(i, data.len());
                            return out.finish();
                        }
                    }
                    self.end_frame_if_empty(&mut out);
                }
                State::Payload { remaining, action } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len() - i);
                    // Closing: the rest of a frame begun before goes
                    // nowhere either.
                    let action = if self.closing { Action::Drop } else { *action };
                    match action {
                        Action::Pass => out.pass(i, i + take),
                        Action::Hold => {
                            out.skip(i, i + take);
                            self.held.extend_from_slice(&data[i..i + take]);
                        }
                        Action::Drop => out.skip(i, i + take),
                    }
                    *remaining -= take as u64;
                    i += take;
                    self.end_frame_if_empty(&mut out);
                }
            }
        }
        out.finish()
    }

    /// Reads a whole header: the action for its frame, or `None` when the
    /// stream is broken.
    fn begin_frame(&mut self, header: &[u8]) -> Option<Action> {
        let (frame, length) = match FrameHeader::parse(&mut Cursor::new(header)) {
            Ok(Some(parsed)) => parsed,
            Ok(None) | Err(_) => return None,
        };
        if length >> 63 != 0 {
            return None;
        }
        let hold = match frame.opcode {
            OpCode::Control(control) => {
                if length > 125 || !frame.is_final {
                    return None;
                }
                if control == Control::Close {
                    self.close_seen = true;
                }
                control == Control::Pong && self.expect_pong.is_some() && length == PING_LEN as u64
            }
            OpCode::Data(data) => {
                let continuation = data == Data::Continue;
                if continuation != self.in_message {
                    return None;
                }
                self.in_message = !frame.is_final;
                false
            }
        };
        let action = if self.closing {
            Action::Drop
        } else if hold {
            self.held_mask = frame.mask;
            Action::Hold
        } else {
            Action::Pass
        };
        self.state = State::Payload {
            remaining: length,
            action,
        };
        Some(action)
    }

    /// At a payload's end: back to reading a header, and a held pong
    /// judged.
    fn end_frame_if_empty(&mut self, out: &mut Out<'_>) {
        let State::Payload {
            remaining: 0,
            action,
        } = self.state
        else {
            return;
        };
        self.state = State::Header {
            buf: [0; 14],
            len: 0,
        };
        let held = std::mem::take(&mut self.held);
        if action != Action::Hold || self.closing {
            return;
        }
        let payload_at = held.len().saturating_sub(PING_LEN);
        let mut payload = [0u8; PING_LEN];
        payload.copy_from_slice(&held[payload_at..]);
        if let Some(mask) = self.held_mask.take() {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        if self.expect_pong == Some(payload) {
            self.expect_pong = None;
        } else {
            out.bytes(&held);
        }
    }

    /// What is held when the source ends: passed on, so that the other side
    /// gets every byte, as from the byte pipe.
    pub(super) fn take_held(&mut self) -> Bytes {
        let mut rest = std::mem::take(&mut self.held);
        if let State::Header { buf, len } = &mut self.state {
            rest.splice(0..0, buf[..usize::from(*len)].iter().copied());
            *len = 0;
        }
        Bytes::from(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as tungstenite writes it.
    fn frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let header = FrameHeader {
            is_final: fin,
            opcode,
            mask,
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        let formatted = header.format(payload.len() as u64, &mut out);
        assert!(formatted.is_ok());
        let mut body = payload.to_vec();
        if let Some(mask) = mask {
            for (i, b) in body.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        out.extend(body);
        out
    }

    fn run(f: &mut Framing, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in data.chunks(chunk.max(1)) {
            match f.feed(piece) {
                Fed::Pass => out.extend_from_slice(piece),
                Fed::Replace(b) => out.extend_from_slice(&b),
            }
        }
        out.extend_from_slice(&f.take_held());
        out
    }

    const TEXT: OpCode = OpCode::Data(Data::Text);
    const CONT: OpCode = OpCode::Data(Data::Continue);
    const PING: OpCode = OpCode::Control(Control::Ping);
    const PONG: OpCode = OpCode::Control(Control::Pong);

    #[test]
    fn frames_pass_unchanged_in_any_chunking() {
        let mut stream = frame(TEXT, false, b"hel", Some([1, 2, 3, 4]));
        stream.extend(frame(PING, true, b"p", Some([9, 9, 9, 9])));
        stream.extend(frame(CONT, true, &[7; 70_000], Some([5, 6, 7, 8])));
        stream.extend(frame(OpCode::Data(Data::Binary), true, &[1; 300], None));
        for chunk in [1, 2, 3, 13, 14, 1000, 100_000] {
            let mut f = Framing::default();
            assert_eq!(run(&mut f, &stream, chunk), stream, "chunk {chunk}");
            assert!(f.at_boundary());
            assert!(!f.is_broken());
        }
        // Whole reads are passed without a copy.
        let mut f = Framing::default();
        assert_eq!(f.feed(&stream), Fed::Pass);
    }

    #[test]
    fn boundaries_are_known_mid_stream() {
        let stream = frame(TEXT, true, b"hello", None);
        let mut f = Framing::default();
        let _ = f.feed(&stream[..4]);
        assert!(!f.at_boundary(), "mid-payload");
        let _ = f.feed(&stream[4..]);
        assert!(f.at_boundary());
        // A partial header is held back, so the output is at a boundary.
        let _ = f.feed(&stream[..1]);
        assert!(f.at_boundary());
    }

    #[test]
    fn the_pong_to_our_ping_is_dropped_and_others_pass() {
        let ours = ping_payload(7);
        let mut f = Framing {
            expect_pong: Some(ours),
            ..Framing::default()
        };
        let mut stream = frame(PONG, true, b"someone", Some([1, 2, 3, 4]));
        let their_pong = stream.clone();
        stream.extend(frame(PONG, true, &ours, Some([4, 3, 2, 1])));
        let text = frame(TEXT, true, b"after", Some([0, 0, 0, 1]));
        stream.extend(&text);
        for chunk in [1, 5, 1000] {
            let mut g = Framing {
                expect_pong: Some(ours),
                ..Framing::default()
            };
            let mut want = their_pong.clone();
            want.extend(&text);
            assert_eq!(run(&mut g, &stream, chunk), want, "chunk {chunk}");
            assert_eq!(g.expect_pong, None);
        }
        // An unmasked pong of the wrong length is not held at all.
        let other = frame(PONG, true, b"x", None);
        assert_eq!(f.feed(&other), Fed::Pass);
    }

    #[test]
    fn a_broken_stream_becomes_opaque_and_keeps_every_byte() {
        let mut stream = frame(TEXT, true, b"ok", None);
        stream.extend([0x83, 0x00]); // reserved opcode 3
        stream.extend(b"garbage after");
        for chunk in [1, 3, 100] {
            let mut f = Framing::default();
            assert_eq!(run(&mut f, &stream, chunk), stream, "chunk {chunk}");
            assert!(f.is_broken());
            assert!(!f.at_boundary());
        }
        for bad in [
            frame(CONT, true, b"no message", None),
            frame(PING, false, b"fragmented control", None),
            frame(PING, true, &[0; 126], None),
            vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let mut f = Framing::default();
            assert_eq!(run(&mut f, &bad, 2), bad);
            assert!(f.is_broken(), "{bad:02x?}");
        }
    }

    #[test]
    fn closing_drops_everything_and_sees_the_close() {
        let mut f = Framing {
            closing: true,
            ..Framing::default()
        };
        let mut stream = frame(TEXT, true, b"late data", None);
        stream.extend(frame(
            OpCode::Control(Control::Close),
            true,
            &[3, 233],
            None,
        ));
        assert_eq!(f.feed(&stream), Fed::Replace(Bytes::new()));
        assert!(f.close_seen);
    }

    #[test]
    fn a_truncated_stream_gives_back_what_it_held() {
        let stream = frame(TEXT, true, &[1; 200], Some([1, 1, 1, 1]));
        let mut f = Framing::default();
        assert_eq!(run(&mut f, &stream[..5], 2), stream[..5].to_vec());
    }

    proptest::proptest! {
        /// Any bytes, cut anywhere: what goes on is what came, byte for
        /// byte (frames, broken frames or garbage alike).
        #[test]
        fn any_stream_in_any_cut_passes_unchanged(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            cuts in proptest::collection::vec(1usize..600, 1..40),
        ) {
            let mut f = Framing::default();
            let mut out = Vec::new();
            let mut rest = &data[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, after) = rest.split_at((*cut).min(rest.len()));
                match f.feed(piece) {
                    Fed::Pass => out.extend_from_slice(piece),
                    Fed::Replace(b) => out.extend_from_slice(&b),
                }
                rest = after;
            }
            out.extend_from_slice(&f.take_held());
            proptest::prop_assert_eq!(out, data);
        }

        /// Well-formed streams (fragments with control frames between,
        /// RSV1 set, every length format), cut anywhere: unchanged, never
        /// broken, and at a boundary at the end.
        #[test]
        fn frame_streams_pass_unchanged_and_end_at_a_boundary(
            frames in proptest::collection::vec(
                (0u8..4, proptest::prelude::any::<bool>(), 0usize..70_000, proptest::prelude::any::<bool>()),
                1..12,
            ),
            cut in 1usize..5000,
        ) {
            let mut data = Vec::new();
            let mut in_message = false;
            for (kind, rsv1, len, masked) in frames {
                let mask = masked.then_some([9, 8, 7, 6]);
                let (opcode, fin, len) = match kind {
                    0 => (OpCode::Control(Control::Ping), true, len % 126),
                    1 if in_message => (CONT, true, len),
                    1 => (TEXT, false, len),
                    2 if in_message => (CONT, false, len),
                    _ if in_message => (CONT, true, len),
                    _ => (OpCode::Data(Data::Binary), true, len),
                };
                if matches!(opcode, OpCode::Data(_)) {
                    in_message = !fin;
                }
                let mut header = FrameHeader { is_final: fin, opcode, mask, ..FrameHeader::default() };
                header.rsv1 = rsv1 && matches!(opcode, OpCode::Data(Data::Text | Data::Binary));
                let _ = header.format(len as u64, &mut data);
                data.extend((0..len).map(|i| i as u8));
            }
            let mut f = Framing::default();
            let out = run(&mut f, &data, cut);
            proptest::prop_assert!(out == data, "the stream changed");
            proptest::prop_assert!(!f.is_broken());
            proptest::prop_assert!(f.at_boundary());
        }
    }
}
