//! Session resumption with nginx's `ssl_session_timeout`: rustls's session
//! cache and ticketer keep sessions for as long as they like, so each entry
//! and each ticket carries its expiry, and an expired one resumes nothing
//! (OpenSSL checks the session's time against its timeout the same way).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

/// Session tickets (`ssl_session_tickets on`) that expire after the
/// session timeout; keys are made per generation, as nginx makes them per
/// start when no `ssl_session_ticket_key` is given.
#[derive(Debug)]
pub struct TimedTickets {
    inner: Arc<dyn ProducesTickets>,
    timeout: Duration,
}

impl TimedTickets {
    pub fn new(timeout: Duration) -> Result<Arc<TimedTickets>, rustls::Error> {
        Ok(Arc::new(TimedTickets {
            inner: rustls::crypto::ring::Ticketer::new()?,
            timeout,
        }))
    }
}

impl ProducesTickets for TimedTickets {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.timeout.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(&stamp(plain, self.timeout))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        fresh(self.inner.decrypt(cipher)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let live = TimedSessions::new(8, Duration::from_secs(60));
        assert!(live.put(b"k".to_vec(), b"v".to_vec()));
        assert_eq!(live.get(b"k"), Some(b"v".to_vec()));
        assert_eq!(fresh(stamp(b"x", Duration::ZERO)), Some(b"x".to_vec()));
        let mut old = stamp(b"x", Duration::ZERO);
        old[..8].copy_from_slice(&(now() - 5).to_be_bytes());
        assert_eq!(fresh(old), None);
        let t = TimedTickets::new(Duration::from_secs(30)).unwrap();
        let c = t.encrypt(b"state").unwrap();
        assert_eq!(t.decrypt(&c), Some(b"state".to_vec()));
        assert_eq!(t.lifetime(), 30);
    }
}
