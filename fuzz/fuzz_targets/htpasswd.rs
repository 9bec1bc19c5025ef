//! auth_basic: the Authorization header, the user file scanner and every
//! password scheme. No input panics; a found password is a slice of the
//! file; a check is the same when made twice (the second may be answered
//! from what the first remembered).
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
        // bcrypt and yescrypt costs come from the input: keep them cheap
        let costly = stored.starts_with(b"$2")
            || stored.starts_with(b"$y$")
            || stored.starts_with(b"$5$rounds")
            || stored.starts_with(b"$6$rounds");
        if !costly {
            let first = crypt::verify(header, stored);
            assert_eq!(crypt::verify(header, stored), first);
        }
    }
});
