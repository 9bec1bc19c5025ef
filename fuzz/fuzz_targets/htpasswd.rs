//! auth_basic: the Authorization header, the user file scanner and every
//! password scheme. No input panics; a found password is a slice of the
//! file; a check that succeeded succeeds again (the second may be answered
//! from what the first remembered). A failed check is not remembered, so
//! its repetition would only hash again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upgate_runtime::auth_basic::{credentials, crypt, find_user};

fuzz_target!(|data: &[u8]| {
    // header | user | file, split at the first two NULs
    let mut parts = data.splitn(3, |&c| c == 0);
    let header = parts.next().unwrap_or_default();
    let user = parts.next().unwrap_or_default();
    let file = parts.next().unwrap_or_default();
    let _ = credentials(Some(header));
    if let Some(stored) = find_user(file, user) {
        assert!(stored.len() <= file.len());
        // bcrypt and yescrypt costs come from the input, SHA-crypt's are
        // at least 1,000 rounds (5,000 by default) of pwhash's own loop:
        // the work of those runs is the crates', not ours, and would bound
        // the whole target at a few hundred inputs a second. What runs in
        // front of them here (the prefix dispatch and libxcrypt's byte
        // checks) is the same code every other scheme reaches.
        let costly = [&b"$2"[..], b"$y$", b"$5$", b"$6$"]
            .iter()
            .any(|prefix| stored.starts_with(prefix));
        if !costly && crypt::verify(header, stored) {
            // the second check may be answered from what the first
            // remembered: it must say the same
            assert!(crypt::verify(header, stored));
        }
    }
});
