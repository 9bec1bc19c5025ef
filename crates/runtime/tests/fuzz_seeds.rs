//! The htpasswd target's kept inputs (fuzz/seeds/htpasswd: seeds and every
//! crash it found) replayed with its invariants on stable, so a fixed crash
//! stays fixed without libFuzzer (debug builds check overflow as the fuzz
//! build does).

use std::path::Path;

use upgate_runtime::auth_basic::{credentials, crypt, find_user};

// See: #14 (crash-des-salt-control-byte: a DES salt holding a control byte
// overflowed in pwhash's decoder; libxcrypt fails such a salt with `*0`)
#[test]
fn htpasswd_seeds_check_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/htpasswd");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut checked = 0;
    for entry in entries.filter_map(Result::ok) {
        let data = std::fs::read(entry.path()).unwrap_or_else(|e| panic!("{e}"));
        // as the target splits it: header | user | file
        let mut parts = data.splitn(3, |&c| c == 0);
        let header = parts.next().unwrap_or_default();
        let user = parts.next().unwrap_or_default();
        let file = parts.next().unwrap_or_default();
        let _ = credentials(Some(header));
        if let Some(stored) = find_user(file, user) {
            let first = crypt::verify(header, stored);
            assert_eq!(crypt::verify(header, stored), first);
        }
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} seeds in {}", dir.display());
}
