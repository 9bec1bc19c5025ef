//! The `keepalive N` cache of an upstream group, as
//! `ngx_http_upstream_keepalive_module.c` keeps it: after the balancer chose
//! a peer, a cached connection to that same address is used if one is idle
//! (`ngx_http_upstream_get_keepalive_peer`); a connection is cached only when
//! the response allows it (`ngx_http_upstream_free_keepalive_peer`: HTTP/1.1
//! without "Connection: close", body fully read, never after a 101), at most
//! N of them, the oldest evicted first; a cached connection is dropped after
//! keepalive_timeout idle, after keepalive_requests requests, or once older
//! than keepalive_time. TLS connections are cached the same way.
//!
//! nginx watches each cached connection (`ngx_http_upstream_keepalive_close_handler`):
//! the peer's close, unexpected bytes or the keepalive_timeout timer close it at
//! once, and a worker that is shutting down caches nothing and closes what it
//! holds. Here one sweeper task per pool does the first two within a second
//! (so a peer's FIN never leaves a socket in CLOSE-WAIT for long), and
//! [`Pool::close`] the last, when a reload or a stop retires the generation.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

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
    /// A sweeper task runs (it ends when the cache is empty).
    sweeping: AtomicBool,
    /// The generation is retired: nothing is cached any more (nginx's
    /// `ngx_exiting` in `ngx_http_upstream_free_keepalive_peer`).
    closed: AtomicBool,
}

/// How often the sweeper looks at the cached connections.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Pool {
    pub fn new(settings: Keepalive) -> Pool {
        Pool {
            settings,
            idle: Mutex::new(VecDeque::new()),
            sweeping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
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
    pub fn put(self: &Arc<Self>, conn: Conn, now: Instant) {
        if conn.requests >= self.settings.requests
            || now.duration_since(conn.born) > self.settings.time
            || self.closed.load(Ordering::Acquire)
        {
            return;
        }
        let mut idle = self.lock();
        self.expire(&mut idle, now);
        if idle.len() >= self.settings.connections as usize {
            idle.pop_front();
        }
        idle.push_back(Idle { conn, since: now });
        drop(idle);
        self.start_sweeper();
    }

    /// Closes every cached connection and caches none from now on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lock().clear();
    }

    /// Closes the connections the peer closed or wrote to unasked, and
    /// those idle for keepalive_timeout; returns how many stay cached.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut idle = self.lock();
        self.expire(&mut idle, now);
        idle.retain_mut(|i| i.conn.stream.idle_ok());
        idle.len()
    }

    fn start_sweeper(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(sweeper(Arc::downgrade(self)));
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

/// Sweeps `pool` every [`SWEEP_EVERY`] while it holds connections and its
/// generation is alive (the task holds no strong reference).
async fn sweeper(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let Some(pool) = pool.upgrade() else { return };
        if pool.sweep(Instant::now()) == 0 {
            pool.sweeping.store(false, Ordering::Release);
            // A put between the sweep and the store would have found the
            // flag still set: look again so its connection is watched.
            if pool.lock().is_empty() || pool.sweeping.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::net::{TcpListener, TcpStream};

    fn settings() -> Keepalive {
        Keepalive {
            connections: 8,
            requests: 1000,
            time: Duration::from_secs(3600),
            timeout: Duration::from_secs(60),
        }
    }

    /// A cached connection and the peer's end of it.
    async fn pair() -> (Conn, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let ours = TcpStream::connect(addr).await.unwrap();
        let (theirs, _) = listener.accept().await.unwrap();
        let conn = Conn {
            stream: UpstreamStream::Tcp(ours),
            addr: PeerAddr::Inet(addr),
            requests: 1,
            born: Instant::now(),
            cached: false,
        };
        (conn, theirs)
    }

    async fn until_empty(pool: &Pool) -> bool {
        for _ in 0..50 {
            if pool.is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_connection_the_peer_closes_leaves_the_cache() {
        let pool = Arc::new(Pool::new(settings()));
        let (conn, peer) = pair().await;
        pool.put(conn, Instant::now());
        assert_eq!(pool.len(), 1);
        drop(peer);
        assert!(
            until_empty(&pool).await,
            "the closed connection stayed cached"
        );
    }

    #[tokio::test]
    async fn unasked_bytes_close_a_cached_connection() {
        use tokio::io::AsyncWriteExt;
        let pool = Arc::new(Pool::new(settings()));
        let (conn, mut peer) = pair().await;
        pool.put(conn, Instant::now());
        peer.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        assert!(until_empty(&pool).await, "the connection stayed cached");
    }

    #[tokio::test]
    async fn a_live_idle_connection_stays_until_keepalive_timeout() {
        let pool = Arc::new(Pool::new(Keepalive {
            timeout: Duration::from_millis(1500),
            ..settings()
        }));
        let (conn, _peer) = pair().await;
        let addr = conn.addr.clone();
        pool.put(conn, Instant::now());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(pool.len(), 1, "a live connection was dropped early");
        assert!(until_empty(&pool).await, "kept past keepalive_timeout");
        assert!(pool.take(&addr, false, Instant::now()).is_none());
    }

    #[tokio::test]
    async fn a_retired_pool_closes_and_caches_nothing() {
        let pool = Arc::new(Pool::new(settings()));
        let (conn, mut peer) = pair().await;
        pool.put(conn, Instant::now());
        pool.close();
        assert!(pool.is_empty());
        // Our end is closed: the peer reads EOF.
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut peer, &mut byte),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(n, 0);
        let (conn, _peer) = pair().await;
        pool.put(conn, Instant::now());
        assert!(pool.is_empty(), "a retired pool cached a connection");
    }
}
