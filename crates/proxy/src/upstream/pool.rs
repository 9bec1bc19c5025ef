//! The `keepalive N` cache of an upstream group, as
//! `ngx_http_upstream_keepalive_module.c` keeps it: after the balancer chose
//! a peer, a cached connection to that same address is used if one is idle
//! (`ngx_http_upstream_get_keepalive_peer`); a connection is cached only when
//! the response allows it (`ngx_http_upstream_free_keepalive_peer`: HTTP/1.1
//! without "Connection: close", body fully read, never after a 101), at most
//! N of them, the oldest evicted first; a cached connection is dropped after
//! keepalive_timeout idle, after keepalive_requests requests, or once older
//! than keepalive_time. TLS connections are cached the same way.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use upgate_runtime::upstream::{Keepalive, PeerAddr};

use super::UpstreamStream;

/// A connection with its history.
#[derive(Debug)]
pub struct Conn {
    pub stream: UpstreamStream,
    pub addr: PeerAddr,
    /// Requests sent on it so far.
    pub requests: u64,
    pub born: Instant,
    /// Taken from the cache (a failure then gives the try back).
    pub cached: bool,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

/// The cache of one group.
#[derive(Debug)]
pub struct Pool {
    settings: Keepalive,
    /// Oldest first: connections are cached at the back, so the ones idle
    /// longer than keepalive_timeout are a prefix (nginx closes each on
    /// its own timer; here they go when the cache is next used).
    idle: Mutex<VecDeque<Idle>>,
}

impl Pool {
    pub fn new(settings: Keepalive) -> Pool {
        Pool {
            settings,
            idle: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        match self.idle.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The most recently cached live connection to `addr`, if any, TLS or
    /// plain as `tls` asks.
    pub fn take(&self, addr: &PeerAddr, tls: bool, now: Instant) -> Option<Conn> {
        let mut idle = self.lock();
        self.expire(&mut idle, now);
        let at = idle
            .iter()
            .rposition(|i| &i.conn.addr == addr && i.conn.stream.is_tls() == tls)?;
        let Idle { mut conn, .. } = idle.remove(at)?;
        drop(idle);
        if !conn.stream.idle_ok() {
            return None;
        }
        conn.cached = true;
        Some(conn)
    }

    /// Caches `conn` if it may serve another request.
    pub fn put(&self, conn: Conn, now: Instant) {
        if conn.requests >= self.settings.requests
            || now.duration_since(conn.born) > self.settings.time
        {
            return;
        }
        let mut idle = self.lock();
        self.expire(&mut idle, now);
        if idle.len() >= self.settings.connections as usize {
            idle.pop_front();
        }
        idle.push_back(Idle { conn, since: now });
    }

    /// Closes the connections idle for keepalive_timeout: the oldest ones.
    fn expire(&self, idle: &mut VecDeque<Idle>, now: Instant) {
        while idle
            .front()
            .is_some_and(|i| now.saturating_duration_since(i.since) >= self.settings.timeout)
        {
            idle.pop_front();
        }
    }

    /// How many connections are cached (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
