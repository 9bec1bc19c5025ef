//! `ngx_crypt` (src/core/ngx_crypt.c): the password schemes of an
//! htpasswd line. nginx computes its own four (`$apr1$`, `{PLAIN}`,
//! `{SSHA}`, `{SHA}`) and hands every other one to crypt(3); the reference
//! build (Debian's, with libxcrypt) knows DES, BSDi `_`, `$1$` MD5, `$5$`
//! and `$6$` SHA-crypt, `$2a$`/`$2b$`/`$2y$` bcrypt and `$y$` yescrypt,
//! and answers any other salt with the failure token `*0`, which matches no
//! stored hash (a 401, not a 500). Sun's `$md5$` is the one libxcrypt
//! scheme left out here: it fails like an unknown salt. `$1$` is apr1's
//! algorithm with another magic and is computed here, salts and all, as
//! libxcrypt takes them.
//!
//! Both sides are C strings in nginx: the password ends at its first NUL.
//!
//! nginx runs the hash on every request (an `$apr1$` check costs about
//! 100 µs, a bcrypt one milliseconds). A check that succeeded is
//! remembered by a keyed digest of the stored value and the password
//! (never the password itself), so a client that sends the same right
//! credentials again is let in without hashing; the answer is the one the
//! hash gives, since it depends on nothing else. Failures are never
//! remembered: guessing costs what it costs in nginx.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// nginx's `strcmp(ngx_crypt(password, stored), stored) == 0`, the
/// comparison in constant time.
pub fn verify(password: &[u8], stored: &[u8]) -> bool {
    let key = c_string(password);
    let stored = c_string(stored);
    let tag = verified::tag(stored, key);
    if tag.as_ref().is_some_and(verified::contains) {
        return true;
    }
    let Some(encrypted) = encrypt(key, stored) else {
        return false;
    };
    let ok = encrypted.len() == stored.len() && bool::from(encrypted.as_slice().ct_eq(stored));
    if ok && let Some(tag) = tag {
        verified::insert(tag);
    }
    ok
}

/// The checks that succeeded, by HMAC-SHA-256 (a key drawn at first use)
/// of the stored value and the password; the oldest are forgotten past
/// [`verified::CAPACITY`].
mod verified {
    use std::sync::{Mutex, OnceLock};

    use lru::LruCache;
    use ring::hmac;

    pub const CAPACITY: usize = 4096;

    type Tag = [u8; 32];

    struct Cache {
        key: hmac::Key,
        seen: Mutex<LruCache<Tag, ()>>,
    }

    fn cache() -> Option<&'static Cache> {
        static CACHE: OnceLock<Option<Cache>> = OnceLock::new();
        CACHE
            .get_or_init(|| {
                let rng = ring::rand::SystemRandom::new();
                let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).ok()?;
                let capacity = std::num::NonZeroUsize::new(CAPACITY)?;
                Some(Cache {
                    key,
                    seen: Mutex::new(LruCache::new(capacity)),
                })
            })
            .as_ref()
    }

    pub fn tag(stored: &[u8], password: &[u8]) -> Option<Tag> {
        let cache = cache()?;
        let mut ctx = hmac::Context::with_key(&cache.key);
        ctx.update(&(stored.len() as u64).to_be_bytes());
        ctx.update(stored);
        ctx.update(password);
        ctx.sign().as_ref().try_into().ok()
    }

    pub fn contains(tag: &Tag) -> bool {
        cache().is_some_and(|c| {
            c.seen
                .lock()
                .map(|mut seen| seen.get(tag).is_some())
                .unwrap_or(false)
        })
    }

    pub fn insert(tag: Tag) {
        if let Some(c) = cache()
            && let Ok(mut seen) = c.seen.lock()
        {
            seen.put(tag, ());
        }
    }
}

/// What `ngx_crypt` makes of `key` with `salt` (`None`: libxcrypt's
/// failure token, which equals no stored value).
fn encrypt(key: &[u8], salt: &[u8]) -> Option<Vec<u8>> {
    if let Some(rest) = salt.strip_prefix(b"$apr1$") {
        return Some(apr1(key, rest));
    }
    if salt.starts_with(b"{PLAIN}") {
        let mut out = b"{PLAIN}".to_vec();
        out.extend_from_slice(key);
        return Some(out);
    }
    if let Some(encoded) = salt.strip_prefix(b"{SSHA}") {
        return Some(ssha(key, encoded));
    }
    if salt.starts_with(b"{SHA}") {
        let mut out = b"{SHA}".to_vec();
        out.extend_from_slice(STANDARD.encode(Sha1::digest(key)).as_bytes());
        return Some(out);
    }
    libc_crypt(key, salt)
}

/// `ngx_crypt_apr1`: Poul-Henning Kamp's MD5 crypt with Apache's magic,
/// the salt being at most 8 bytes up to the first `$`.
fn apr1(key: &[u8], rest: &[u8]) -> Vec<u8> {
    md5_crypt(b"$apr1$", key, rest)
}

/// Poul-Henning Kamp's MD5 crypt after `magic` (`$1$` in libxcrypt, which
/// takes the salt as apr1 does: any safe byte, at most 8, up to a `$`).
fn md5_crypt(magic: &[u8], key: &[u8], rest: &[u8]) -> Vec<u8> {
    let salt_len = rest.iter().take(8).take_while(|&&c| c != b'$').count();
    let salt = &rest[..salt_len];
    let mut md5 = Md5::new();
    md5.update(key);
    md5.update(magic);
    md5.update(salt);
    let mut alt = Md5::new();
    alt.update(key);
    alt.update(salt);
    alt.update(key);
    let alt = alt.finalize();
    let mut n = key.len();
    while n > 0 {
        md5.update(&alt[..n.min(16)]);
        n = n.saturating_sub(16);
    }
    let mut i = key.len();
    while i != 0 {
        if i & 1 == 1 {
            md5.update([0u8]);
        } else {
            md5.update(&key[..1]);
        }
        i >>= 1;
    }
    let mut fin: [u8; 16] = md5.finalize().into();
    for i in 0..1000 {
        let mut ctx = Md5::new();
        if i & 1 == 1 {
            ctx.update(key);
        } else {
            ctx.update(fin);
        }
        if i % 3 != 0 {
            ctx.update(salt);
        }
        if i % 7 != 0 {
            ctx.update(key);
        }
        if i & 1 == 1 {
            ctx.update(fin);
        } else {
            ctx.update(key);
        }
        fin = ctx.finalize().into();
    }
    let mut out = magic.to_vec();
    out.extend_from_slice(salt);
    out.push(b'$');
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        let v = (u32::from(fin[a]) << 16) | (u32::from(fin[b]) << 8) | u32::from(fin[c]);
        to64(&mut out, v, 4);
    }
    to64(&mut out, u32::from(fin[11]), 2);
    out
}

/// `ngx_crypt_to64`: `n` characters of crypt's base64, low bits first.
fn to64(out: &mut Vec<u8>, mut v: u32, n: usize) {
    const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for _ in 0..n {
        out.push(ITOA64[(v & 0x3f) as usize]);
        v >>= 6;
    }
}

/// `ngx_crypt_ssha`: base64(SHA1(key salt) salt), the salt being what the
/// stored value decodes to past its first 20 bytes (none when it does not
/// decode to at least 20).
fn ssha(key: &[u8], encoded: &[u8]) -> Vec<u8> {
    let salt = match decode_base64(encoded) {
        Some(d) if d.len() >= 20 => d[20..].to_vec(),
        _ => Vec::new(),
    };
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(&salt);
    let mut decoded = sha.finalize().to_vec();
    decoded.extend_from_slice(&salt);
    let mut out = b"{SSHA}".to_vec();
    out.extend_from_slice(STANDARD.encode(&decoded).as_bytes());
    out
}

/// crypt(3) as libxcrypt computes it: the schemes chosen by the salt's
/// prefix.
fn libc_crypt(key: &[u8], salt: &[u8]) -> Option<Vec<u8>> {
    // libxcrypt fails a setting holding a byte it deems unsafe anywhere:
    // blanks, controls, non-ASCII and `:;*!\` (and pwhash's decoders must
    // never see a control byte).
    let unsafe_byte = |&c: &u8| c <= b' ' || c >= 0x7f || b":;*!\\".contains(&c);
    if salt.iter().any(unsafe_byte) {
        return None;
    }
    if let Some(rest) = salt.strip_prefix(b"$1$") {
        return Some(md5_crypt(b"$1$", key, rest));
    }
    let salt = std::str::from_utf8(salt).ok()?;
    if salt.starts_with("$y$") {
        use yescrypt::{PasswordHashRef, PasswordVerifier as _, Yescrypt};
        let hash = PasswordHashRef::new(salt).ok()?;
        // yescrypt's check recomputes from the stored setting, so a
        // successful one means crypt(3) gives back the stored value.
        return Yescrypt::default()
            .verify_password(key, hash)
            .ok()
            .map(|()| salt.as_bytes().to_vec());
    }
    // pwhash knows libxcrypt's other prefixes; the `$sha1$` and `$md5$`
    // ones libxcrypt reads differently fail here.
    if salt.starts_with("$sha1$") || salt.starts_with("$md5") {
        return None;
    }
    // DES takes two salt characters, BSDi's `_` four of count and four of
    // salt; libxcrypt fails any of them outside the crypt alphabet (and
    // pwhash's decoder must never see a control byte).
    let des_salt = match salt.strip_prefix('_') {
        Some(bsdi) => bsdi.as_bytes().get(..8),
        None if salt.starts_with('$') => Some(&[][..]),
        None => salt.as_bytes().get(..2),
    };
    let in_alphabet = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/');
    if !des_salt.is_some_and(|s| s.iter().all(in_alphabet)) {
        return None;
    }
    pwhash::unix::crypt(key, salt).ok().map(String::into_bytes)
}

/// `ngx_decode_base64`: the characters up to the first `=`, all of the
/// standard alphabet, not one past a multiple of four; stray low bits are
/// ignored.
pub(crate) fn decode_base64(src: &[u8]) -> Option<Vec<u8>> {
    let end = src.iter().position(|&c| c == b'=').unwrap_or(src.len());
    let text = &src[..end];
    if text.len() % 4 == 1 {
        return None;
    }
    LENIENT.decode(text).ok()
}

/// The first NUL ends a C string.
fn c_string(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&c| c == 0) {
        Some(n) => &bytes[..n],
        None => bytes,
    }
}

const STANDARD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The values nginx's own test (auth_basic.t) writes, and what it
    /// expects of them.
    #[test]
    fn nginx_schemes() {
        assert!(verify(b"password", b"$apr1$salt$Xxd1irWT9ycqoYxGFn4cb."));
        assert!(!verify(b"123", b"$apr1$salt$Xxd1irWT9ycqoYxGFn4cb."));
        assert!(!verify(b"1", b"$apr1$"));
        assert!(verify(b"password", b"{PLAIN}password"));
        assert!(!verify(b"passwor", b"{PLAIN}password"));
        assert!(verify(
            b"password",
            b"{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0"
        ));
        assert!(!verify(b"123", b"{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0"));
        assert!(!verify(b"1", b"{SSHA}_____wQadOA1e+/f+T+H3eCQQhRzYWx0"));
        assert!(!verify(b"1", b"{SSHA}Zm9vCg=="));
        assert!(verify(b"password", b"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="));
        assert!(!verify(b"1", b"{SHA}_____Mm5Pz8GgiULbPgzG37mj9g="));
        assert!(!verify(b"1", b"{SHA}Zm9vCg=="));
    }

    /// What Debian's crypt(3) gave for these salts (perl's `crypt`).
    #[test]
    fn libxcrypt_schemes() {
        assert!(verify(b"password", b"sa3tHJ3/KuYvI"));
        assert!(verify(b"password", b"$1$$I2o9Z7NcvQAKp7wyCTlia0"));
        assert!(verify(b"password", b"$1$r~p$8rVew9Nv6rru/HhOsUk4v0"));
        assert!(verify(b"password", b"_J9..abcdIPPmXD22F8s"));
        assert!(verify(
            b"password",
            b"$5$salt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1"
        ));
        assert!(verify(
            b"password",
            b"$6$rounds=1000$salt$O0nhCLTaysO7YRx7RhswA9LUudDbe8n/29Fg0mCv48MlTSygeX82/gn5a5m7.zIERei.MTm0LX6AbQbQLYGS5."
        ));
        assert!(verify(
            b"password",
            b"$2y$05$abcdefghijklmnopqrstuuWG29KuyeAicPCJODk1zjyGvyQUU2awu"
        ));
        assert!(verify(
            b"password",
            b"$y$j9T$abcdefgh$79JhsKZwfY/UU2qrk3QcffpHl7EyEEJK0pA5pD1wu73"
        ));
        assert!(!verify(
            b"passwore",
            b"$y$j9T$abcdefgh$79JhsKZwfY/UU2qrk3QcffpHl7EyEEJK0pA5pD1wu73"
        ));
        // libxcrypt's failure token for salts it does not know
        // and for DES and BSDi salt characters outside the crypt alphabet
        for bad in [
            &b"$1$"[..],
            b"!",
            b"",
            b"*0",
            b"$7$",
            b"a",
            b"\x01",
            b"\x01a",
            b"a\x01",
            b"!!",
            b"\x7fa",
            b"s\xc3",
            b"_J9..ab\x01d",
            b"_\x01\x01..abcd",
            // and for any setting with a byte libxcrypt deems unsafe
            b"$1$rp\x17",
            b"$1$rp\x17$abc",
            b"$1$r:p",
            b"$1$r p$",
            b"$1$r!p",
            b"$1$r\\p",
            b"$5$a\x01b$",
            b"$6$a\x7fb",
            b"$1$\xc3\xa9",
            b"$2y$05$abcdefghijklmnopqrst\x01u",
            b"sa3tHJ3/KuYvI ",
            b"$1$$I2o9Z7NcvQAKp7wyCTlia0\x01",
        ] {
            assert!(
                !verify(b"password", bad),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn remembered_checks_answer_as_the_hash() {
        let stored = b"$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.";
        let tag = verified::tag(stored, b"password").unwrap();
        assert!(verify(b"password", stored));
        assert!(verified::contains(&tag));
        assert!(verify(b"password", stored));
        // another password, or the same one against another stored value
        assert!(!verify(b"passwore", stored));
        assert!(!verify(b"password", b"$apr1$salt$Xxd1irWT9ycqoYxGFn4cc."));
        assert!(!verified::contains(
            &verified::tag(stored, b"passwore").unwrap()
        ));
    }

    #[test]
    fn password_ends_at_nul() {
        assert!(verify(b"password\0junk", b"{PLAIN}password"));
        assert!(verify(b"password", b"{PLAIN}password\0junk"));
    }

    #[test]
    fn base64_as_nginx_decodes() {
        assert_eq!(decode_base64(b"Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64(b"Zm9vYg==").unwrap(), b"foob");
        assert_eq!(decode_base64(b"Zm9vYg").unwrap(), b"foob");
        assert_eq!(decode_base64(b"Zm9vYg=junk").unwrap(), b"foob");
        assert!(decode_base64(b"Zm9vY").is_none());
        assert!(decode_base64(b"Zm9_").is_none());
        assert_eq!(decode_base64(b"").unwrap(), b"");
    }
}
