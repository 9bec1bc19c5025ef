//! Chunked bodies: no input panics, decoding never reads past its input, and
//! the decoded body does not depend on how the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upgate_proxy::http1::{BodyDecoder, BodyError, BodyFraming};

fn decode(data: &[u8], split: usize) -> (Vec<u8>, Result<bool, BodyError>) {
    let Ok(mut d) = BodyDecoder::new(BodyFraming::Chunked, 1 << 20) else {
        return (Vec::new(), Ok(false));
    };
    let mut body = Vec::new();
    for piece in data.chunks(split.max(1)) {
        let mut at = 0;
        loop {
            match d.decode(&piece[at..]) {
                Err(e) => return (body, Err(e)),
                Ok(step) => {
                    assert!(step.consumed <= piece.len() - at);
                    body.extend_from_slice(step.data);
                    at += step.consumed;
                    if step.done {
                        return (body, Ok(true));
                    }
                    if step.consumed == 0 || at == piece.len() {
                        break;
                    }
                }
            }
        }
    }
    (body, Ok(false))
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(data, data.len());
    let split = usize::from(data.first().copied().unwrap_or(1)) % 7 + 1;
    assert_eq!(decode(data, split), whole);
});
