//! The PROXY protocol header reader: no input panics, and what it says it
//! took is within what it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upgate_proxy::proxy_protocol::read;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, used)) = read(data) {
        assert!(used <= data.len());
    }
});
