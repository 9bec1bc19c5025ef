//! nginx's connection counters (`ngx_stat_*`, src/event/ngx_event.c) and
//! the stub_status page (src/http/modules/ngx_http_stub_status_module.c):
//! connections accepted, handled and active, requests created, and each
//! connection in one state: reading a request head (from its first byte,
//! `ngx_http_create_request`), writing (from the parsed head until the
//! request is freed; a WebSocket tunnel stays writing), or waiting (idle,
//! `ngx_reusable_connection`). The counters belong to the server, not to a
//! configuration generation: a reload keeps them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one server.
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub handled: AtomicU64,
    pub active: AtomicU64,
    pub requests: AtomicU64,
    reading: AtomicU64,
    writing: AtomicU64,
    waiting: AtomicU64,
}

/// What a connection is doing, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Counted nowhere (a TLS handshake, a lingering close).
    None,
    Waiting,
    Reading,
    Writing,
}

impl Stats {
    fn counter(&self, phase: Phase) -> Option<&AtomicU64> {
        match phase {
            Phase::None => None,
            Phase::Waiting => Some(&self.waiting),
            Phase::Reading => Some(&self.reading),
            Phase::Writing => Some(&self.writing),
        }
    }

    /// `$connections_active`, `_reading`, `_writing`, `_waiting`.
    pub fn connections(&self) -> [u64; 4] {
        [
            self.active.load(Ordering::Relaxed),
            self.reading.load(Ordering::Relaxed),
            self.writing.load(Ordering::Relaxed),
            self.waiting.load(Ordering::Relaxed),
        ]
    }

    /// accepts, handled, requests (stub_status's totals).
    pub fn totals(&self) -> [u64; 3] {
        [
            self.accepted.load(Ordering::Relaxed),
            self.handled.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        ]
    }

    /// The stub_status page, byte for byte as nginx prints it.
    pub fn page(&self) -> Vec<u8> {
        let [active, reading, writing, waiting] = self.connections();
        format!(
            "Active connections: {active} \nserver accepts handled requests\n {} {} {} \nReading: {reading} Writing: {writing} Waiting: {waiting} \n",
            self.accepted.load(Ordering::Relaxed),
            self.handled.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
        .into_bytes()
    }
}

/// One connection's place in the counters: active while it lives, in one
/// phase at a time.
#[derive(Debug)]
pub struct ConnStat {
    stats: Arc<Stats>,
    phase: Phase,
}

impl ConnStat {
    /// A handled connection, active and in no phase yet.
    pub fn new(stats: Arc<Stats>) -> ConnStat {
        stats.active.fetch_add(1, Ordering::Relaxed);
        ConnStat {
            stats,
            phase: Phase::None,
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Moves the connection to `phase`; entering Reading starts a request.
    pub fn set(&mut self, phase: Phase) {
        if phase == self.phase {
            return;
        }
        if let Some(c) = self.stats.counter(self.phase) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(c) = self.stats.counter(phase) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if phase == Phase::Reading {
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
        }
        self.phase = phase;
    }
}

impl Drop for ConnStat {
    fn drop(&mut self) {
        self.set(Phase::None);
        self.stats.active.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_the_page() {
        let stats = Arc::new(Stats::default());
        stats.accepted.fetch_add(2, Ordering::Relaxed);
        stats.handled.fetch_add(2, Ordering::Relaxed);
        let mut a = ConnStat::new(Arc::clone(&stats));
        let mut b = ConnStat::new(Arc::clone(&stats));
        a.set(Phase::Waiting);
        a.set(Phase::Reading);
        a.set(Phase::Writing);
        b.set(Phase::Reading);
        assert_eq!(stats.connections(), [2, 1, 1, 0]);
        assert_eq!(
            String::from_utf8(stats.page()).unwrap_or_default(),
            "Active connections: 2 \nserver accepts handled requests\n 2 2 2 \nReading: 1 Writing: 1 Waiting: 0 \n"
        );
        drop(b);
        a.set(Phase::Waiting);
        assert_eq!(stats.connections(), [1, 0, 0, 1]);
        drop(a);
        assert_eq!(stats.connections(), [0, 0, 0, 0]);
    }
}
