//! Session resumption with nginx's `ssl_session_timeout`: rustls's session
//! cache keeps sessions for as long as it likes, so each entry and each
//! ticket carries its expiry, and an expired one resumes nothing
//! (OpenSSL checks the session's time against its timeout the same way).

use std::sync::Arc;
use std::time::Duration;

use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};

fn now() -> u64 {
    u64::try_from(super::verify::now()).unwrap_or(0)
}

/// `expiry (8 bytes, big endian) || value`.
fn stamp(value: &[u8], timeout: Duration) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&(now() + timeout.as_secs()).to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The value of a stamped entry that has not expired.
fn fresh(mut stamped: Vec<u8>) -> Option<Vec<u8>> {
    let expiry = u64::from_be_bytes(stamped.get(..8)?.try_into().ok()?);
    if now() > expiry {
        return None;
    }
    stamped.drain(..8);
    Some(stamped)
}

/// A session cache (`builtin` or a `shared:` zone) whose entries expire.
#[derive(Debug)]
pub struct TimedSessions {
    inner: Arc<ServerSessionMemoryCache>,
    timeout: Duration,
}

impl TimedSessions {
    pub fn new(sessions: usize, timeout: Duration) -> Arc<TimedSessions> {
        Arc::new(TimedSessions {
            inner: ServerSessionMemoryCache::new(sessions.max(1)),
            timeout,
        })
    }
}

impl StoresServerSessions for TimedSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, stamp(&value, self.timeout))
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        fresh(self.inner.get(key)?)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        fresh(self.inner.take(key)?)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Session tickets (`ssl_session_tickets on`): `name (16) || nonce (12) ||
/// AES-GCM(expiry || state)`, each carrying its expiry. The keys are those
/// of `ssl_session_ticket_key` files (the first seals, every one opens:
/// nginx's rotation by hand; 48-byte files give AES-128, 80-byte AES-256),
/// or, without files, random keys made per generation and replaced every
/// session timeout, the previous one still opening, as nginx 1.23.2+
/// rotates its own. (The format is upgate's: nginx's tickets do not resume
/// here.)
pub struct Tickets {
    keys: std::sync::Mutex<Keys>,
    timeout: Duration,
    rng: ring::rand::SystemRandom,
}

struct Keys {
    /// Newest first.
    list: Vec<([u8; 16], ring::aead::LessSafeKey)>,
    /// When the newest random key was made; `None` for key files.
    made: Option<u64>,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Tickets {
    /// Tickets with random keys rotated every `timeout`.
    pub fn random(timeout: Duration) -> Result<Arc<Tickets>, String> {
        let t = Tickets {
            keys: std::sync::Mutex::new(Keys {
                list: Vec::new(),
                made: Some(0),
            }),
            timeout,
            rng: ring::rand::SystemRandom::new(),
        };
        t.rotate(&mut t.lock())?;
        Ok(Arc::new(t))
    }

    /// Tickets sealed with the contents of key files, in order; the error
    /// is nginx's `"…" must be 48 or 80 bytes`.
    pub fn from_files(
        files: &[(String, Vec<u8>)],
        timeout: Duration,
    ) -> Result<Arc<Tickets>, String> {
        let mut list = Vec::new();
        for (path, bytes) in files {
            let (name, aes, alg) = match bytes.len() {
                48 => (&bytes[..16], &bytes[32..48], &ring::aead::AES_128_GCM),
                80 => (&bytes[..16], &bytes[48..80], &ring::aead::AES_256_GCM),
                _ => return Err(format!("\"{path}\" must be 48 or 80 bytes")),
            };
            let key = ring::aead::UnboundKey::new(alg, aes)
                .map_err(|_| format!("\"{path}\": unusable key"))?;
            let mut id = [0u8; 16];
            id.copy_from_slice(name);
            list.push((id, ring::aead::LessSafeKey::new(key)));
        }
        Ok(Arc::new(Tickets {
            keys: std::sync::Mutex::new(Keys { list, made: None }),
            timeout,
            rng: ring::rand::SystemRandom::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        match self.keys.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A new random key in front; the previous one stays to open.
    fn rotate(&self, keys: &mut Keys) -> Result<(), String> {
        use ring::rand::SecureRandom;
        let mut name = [0u8; 16];
        let mut secret = [0u8; 32];
        self.rng
            .fill(&mut name)
            .and_then(|()| self.rng.fill(&mut secret))
            .map_err(|_| "RAND_bytes() failed".to_string())?;
        let key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &secret)
            .map_err(|_| "unusable ticket key".to_string())?;
        keys.list
            .insert(0, (name, ring::aead::LessSafeKey::new(key)));
        keys.list.truncate(2);
        keys.made = Some(now());
        Ok(())
    }
}

impl ProducesTickets for Tickets {
    fn enabled(&self) -> bool {
        !self.lock().list.is_empty()
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.timeout.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        use ring::rand::SecureRandom;
        let mut keys = self.lock();
        if let Some(made) = keys.made
            && now() >= made + self.timeout.as_secs().max(1)
        {
            self.rotate(&mut keys).ok()?;
        }
        let (name, key) = keys.list.first()?;
        let mut nonce = [0u8; 12];
        self.rng.fill(&mut nonce).ok()?;
        let mut sealed = stamp(plain, self.timeout);
        key.seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::from(name),
            &mut sealed,
        )
        .ok()?;
        let mut out = Vec::with_capacity(28 + sealed.len());
        out.extend_from_slice(name);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let name = cipher.get(..16)?;
        let nonce: [u8; 12] = cipher.get(16..28)?.try_into().ok()?;
        let mut sealed = cipher.get(28..)?.to_vec();
        let keys = self.lock();
        let (_, key) = keys.list.iter().find(|(n, _)| n == name)?;
        let len = key
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(name),
                &mut sealed,
            )
            .ok()?
            .len();
        sealed.truncate(len);
        fresh(sealed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_tickets_expire() {
        let live = TimedSessions::new(8, Duration::from_secs(60));
        assert!(live.put(b"k".to_vec(), b"v".to_vec()));
        assert_eq!(live.get(b"k"), Some(b"v".to_vec()));
        assert_eq!(fresh(stamp(b"x", Duration::ZERO)), Some(b"x".to_vec()));
        let mut old = stamp(b"x", Duration::ZERO);
        old[..8].copy_from_slice(&(now() - 5).to_be_bytes());
        assert_eq!(fresh(old), None);
        let t = Tickets::random(Duration::from_secs(30)).unwrap();
        let c = t.encrypt(b"state").unwrap();
        assert_eq!(t.decrypt(&c), Some(b"state".to_vec()));
        assert_eq!(t.lifetime(), 30);
        // Rotation: a new key seals, the previous still opens.
        t.lock().made = Some(0);
        let c2 = t.encrypt(b"next").unwrap();
        assert_ne!(&c2[..16], &c[..16]);
        assert_eq!(t.decrypt(&c), Some(b"state".to_vec()));
        assert_eq!(t.decrypt(&c2), Some(b"next".to_vec()));
    }

    #[test]
    fn rotation_seals_with_the_first_and_opens_with_any() {
        let old = ("old.key".to_string(), vec![1u8; 80]);
        let new = ("new.key".to_string(), vec![2u8; 48]);
        let before =
            Tickets::from_files(std::slice::from_ref(&old), Duration::from_secs(60)).unwrap();
        let ticket = before.encrypt(b"session").unwrap();
        let after = Tickets::from_files(&[new.clone(), old], Duration::from_secs(60)).unwrap();
        assert_eq!(after.decrypt(&ticket), Some(b"session".to_vec()));
        let newer = after.encrypt(b"s2").unwrap();
        assert_eq!(&newer[..16], &[2u8; 16]);
        let only_new = Tickets::from_files(&[new], Duration::from_secs(60)).unwrap();
        assert_eq!(only_new.decrypt(&ticket), None);
        let mut tampered = newer.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(after.decrypt(&tampered), None);
        assert!(
            Tickets::from_files(&[("bad".into(), vec![0; 10])], Duration::ZERO)
                .unwrap_err()
                .contains("must be 48 or 80 bytes")
        );
    }
}
