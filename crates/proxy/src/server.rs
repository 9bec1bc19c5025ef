//! The running server: the current [`Tables`] behind one atomic pointer
//! (arc-swap), the listening sockets, the accept loops, the count of live
//! connections and the shutdown signal. nginx's master/worker split becomes
//! one process with a multi-thread tokio runtime: a reload swaps the pointer
//! (new requests use the new generation, running ones and tunnels keep
//! theirs) and re-binds the listen set; a stop closes the listeners, ends
//! idle keepalive connections, and waits for the others.
//!
//! `worker_connections` is enforced here, as nginx's `ngx_get_connection`
//! counts: every client connection, every tunnel's upstream side and every
//! listening socket takes a slot; a connection accepted over the limit is
//! closed at once and the error log says `N worker_connections are not
//! enough` (at most once a second while the burst lasts).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use upgate_runtime::listen::ListenAddr;
use upgate_runtime::sockaddr::Sockaddr;

use crate::client::{Client, ClientStream, Transport};
use crate::connection;
use crate::error_log::Level;
use crate::listener::{Listener, StdListener, bind, bind_error, delete_socket_file};
use crate::tables::Tables;
use crate::tls::server::Accepted;

/// State shared by every connection.
pub struct Shared {
    pub tables: ArcSwap<Tables>,
    /// `true` once a stop began: idle connections close.
    pub shutdown: watch::Sender<bool>,
    next_id: AtomicU64,
    live: AtomicUsize,
    drained: Notify,
    /// Tunnels of generations below this value close (worker_shutdown_timeout
    /// after the reload that replaced them).
    pub close_before: watch::Sender<u64>,
    /// Slots taken: client connections, tunnels' upstream sides, listeners.
    slots: AtomicUsize,
    /// `worker_connections`.
    pub worker_connections: AtomicUsize,
    /// When `worker_connections are not enough` was last logged.
    refused_logged: std::sync::Mutex<Option<Instant>>,
    /// Idle keepalive connections wait on this; `drain_budget` says how
    /// many of them close to free slots.
    drain: Notify,
    drain_budget: AtomicUsize,
    /// When idle connections were last drained (at most once a second).
    drained_at: std::sync::Mutex<Option<Instant>>,
    /// stub_status's counters (they outlive reloads).
    pub stats: Arc<crate::stats::Stats>,
    /// Tunnels that answer a shutdown's deadline with close frames
    /// (`# upgate: websocket_close_on_timeout`): a stop waits for them up to
    /// CLOSE_GRACE past worker_shutdown_timeout, and for nothing else.
    pub close_frame_tunnels: AtomicUsize,
    /// The generations a reload replaced, while requests or tunnels still
    /// hold them: SIGUSR1 reopens their logs too.
    replaced: std::sync::Mutex<Vec<std::sync::Weak<Tables>>>,
}

impl Shared {
    /// The generation in force and those still held by running requests
    /// or tunnels.
    pub fn live_generations(&self) -> Vec<Arc<Tables>> {
        let mut out = vec![self.tables.load_full()];
        let replaced = match self.replaced.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        out.extend(replaced.iter().filter_map(std::sync::Weak::upgrade));
        out
    }

    /// Takes a connection slot for a tunnel's upstream side; `None` when
    /// worker_connections are used up (then the slot is not taken).
    pub fn tunnel_slot(self: &Arc<Self>) -> Option<SlotGuard> {
        if self.take_slot() {
            Some(SlotGuard(Arc::clone(self)))
        } else {
            self.not_enough();
            None
        }
    }

    /// Resolves when idle connections are asked to close.
    pub async fn drain_requested(&self) {
        self.drain.notified().await;
    }

    /// Takes one of the drain's closes; `false` when enough closed.
    pub fn take_drain(&self) -> bool {
        self.drain_budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// `ngx_drain_connections`: with no slot left, up to 32 idle keepalive
    /// connections close, at most once a second; `true` when it asked.
    fn drain_idle(&self) -> bool {
        let now = Instant::now();
        let mut at = match self.drained_at.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if at.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return false;
        }
        *at = Some(now);
        self.drain_budget.store(32, Ordering::Release);
        self.drain.notify_waiters();
        true
    }

    fn take_slot(&self) -> bool {
        let limit = self.worker_connections.load(Ordering::Relaxed);
        let taken = self.slots.fetch_add(1, Ordering::AcqRel);
        if taken >= limit {
            self.slots.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// `ngx_get_connection`'s alert, at most once a second.
    fn not_enough(&self) {
        let now = Instant::now();
        let mut last = match self.refused_logged.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return;
        }
        *last = Some(now);
        drop(last);
        self.tables.load().error_log.log(
            Level::Alert,
            &format!(
                "{} worker_connections are not enough",
                self.worker_connections.load(Ordering::Relaxed)
            ),
        );
    }
}

/// A taken connection slot, given back on drop.
pub struct SlotGuard(Arc<Shared>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.slots.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a live connection (and its slot); both drop with it.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.slots.fetch_sub(1, Ordering::AcqRel);
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

/// A running server.
pub struct Server {
    pub shared: Arc<Shared>,
    listeners: HashMap<ListenAddr, (Option<std::net::SocketAddr>, JoinHandle<()>)>,
    /// Whether closing a unix listener deletes its file: not in a worker,
    /// whose master deletes them (nginx deletes them in the master only).
    owns_socket_files: bool,
}

impl Server {
    /// Starts serving `tables`: binds every listen address (an error names
    /// the address, as nginx's `bind() to 0.0.0.0:80 failed (98: Address
    /// already in use)`).
    pub fn start(tables: Tables) -> Result<Server, String> {
        Server::start_inner(tables, None)
    }

    /// [`Server::start`] with the listeners bound before the runtime started
    /// ([`bind_listeners`], so that a daemon binds before it detaches).
    pub fn start_bound(tables: Tables, bound: Vec<Bound>) -> Result<Server, String> {
        Server::start_inner(tables, Some(bound))
    }

    fn start_inner(tables: Tables, bound: Option<Vec<Bound>>) -> Result<Server, String> {
        let (shutdown, _) = watch::channel(false);
        let (close_before, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            tables: ArcSwap::from_pointee(tables),
            shutdown,
            next_id: AtomicU64::new(1),
            live: AtomicUsize::new(0),
            drained: Notify::new(),
            close_before,
            slots: AtomicUsize::new(0),
            worker_connections: AtomicUsize::new(usize::MAX),
            refused_logged: std::sync::Mutex::new(None),
            replaced: std::sync::Mutex::new(Vec::new()),
            drain: Notify::new(),
            drain_budget: AtomicUsize::new(0),
            drained_at: std::sync::Mutex::new(None),
            stats: Arc::default(),
            close_frame_tunnels: AtomicUsize::new(0),
        });
        // Buffered access logs are written at least once a second.
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(shared) => shared.tables.load().access_logs.flush(),
                    None => break,
                }
            }
        });
        let mut server = Server {
            shared,
            listeners: HashMap::new(),
            owns_socket_files: !crate::privileges::is_worker(),
        };
        match bound {
            Some(bound) => {
                for (addr, listener) in bound {
                    let listener = Listener::from_std(listener).map_err(|e| e.to_string())?;
                    server.listen_on(addr, listener);
                }
            }
            None => server.bind_all()?,
        }
        Ok(server)
    }

    /// Sets `worker_connections` (the listeners count against it).
    pub fn set_worker_connections(&self, n: usize) {
        self.shared.worker_connections.store(n, Ordering::Relaxed);
    }

    fn listen_on(&mut self, addr: ListenAddr, listener: Listener) {
        let local = listener.inet_addr();
        self.shared.slots.fetch_add(1, Ordering::AcqRel);
        let task = tokio::spawn(accept_loop(
            listener,
            addr.clone(),
            Arc::clone(&self.shared),
        ));
        self.listeners.insert(addr, (local, task));
    }

    /// The TCP addresses bound, as the OS reports them.
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.listeners.values().filter_map(|(a, _)| *a).collect()
    }

    /// Closes every listener; unix socket files are deleted (by the
    /// process that owns them), as `ngx_close_listening_sockets` does.
    fn close_listeners(&mut self) {
        for (addr, (_, task)) in self.listeners.drain() {
            task.abort();
            if self.owns_socket_files
                && let Err(e) = delete_socket_file(&addr)
            {
                self.shared.tables.load().error_log.log(Level::Emerg, &e);
            }
        }
    }

    /// Number of open client connections (tunnels included).
    pub fn live_connections(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// Binds what the current tables listen on and is not bound yet; closes
    /// what they no longer name.
    fn bind_all(&mut self) -> Result<(), String> {
        let tables = self.shared.tables.load_full();
        let wanted = tables.listen_addrs();
        let mut fresh = Vec::new();
        for addr in &wanted {
            if self.listeners.contains_key(addr) {
                continue;
            }
            let listener = bind(addr).map_err(|e| bind_error(addr, &e))?;
            fresh.push((addr.clone(), listener));
        }
        for (addr, listener) in fresh {
            self.listen_on(addr, listener);
        }
        let shared = Arc::clone(&self.shared);
        self.listeners.retain(|addr, (_, task)| {
            let keep = wanted.contains(addr);
            if !keep {
                task.abort();
                shared.slots.fetch_sub(1, Ordering::AcqRel);
                // ngx_init_cycle: a unix listener the new cycle does not
                // name is closed and its file deleted (a worker tries too:
                // its master would bind the path again for a later reload).
                if let ListenAddr::Unix(path) = addr {
                    let log = &tables.error_log;
                    log.log(Level::Warn, &format!("deleting socket {}", path.display()));
                    if let Err(e) = delete_socket_file(addr) {
                        log.log(Level::Emerg, &e);
                    }
                }
            }
            keep
        });
        Ok(())
    }

    /// Swaps in a new generation and updates the listen set. On a bind
    /// error the new tables still serve the addresses that are bound.
    pub fn reload(&mut self, tables: Tables) -> Result<(), String> {
        self.reload_with(tables, None)
    }

    /// [`Server::reload`]; with `close_after` (worker_shutdown_timeout), the tunnels of older
    /// generations are closed that long after.
    pub fn reload_with(
        &mut self,
        mut tables: Tables,
        close_after: Option<Duration>,
    ) -> Result<(), String> {
        let generation = self.shared.tables.load().generation + 1;
        tables.generation = generation;
        let old = self.shared.tables.swap(Arc::new(tables));
        old.retire();
        let mut replaced = match self.shared.replaced.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        replaced.retain(|w| w.strong_count() > 0);
        replaced.push(Arc::downgrade(&old));
        drop(replaced);
        if let Some(after) = close_after {
            let shared = Arc::downgrade(&self.shared);
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                if let Some(shared) = shared.upgrade() {
                    shared.close_before.send_if_modified(|v| {
                        let older = *v < generation;
                        *v = (*v).max(generation);
                        older
                    });
                }
            });
        }
        self.bind_all()
    }
}

/// A listener bound before the runtime, with the address it serves.
pub type Bound = (ListenAddr, StdListener);

/// Binds every address `tables` serves, without a running runtime (a
/// current-thread one is made for the call and dropped): the error names
/// the address, as nginx's `bind() to 0.0.0.0:80 failed (98: Address
/// already in use)`.
pub fn bind_listeners(tables: &Tables) -> Result<Vec<Bound>, String> {
    let mut out = Vec::new();
    for addr in tables.listen_addrs() {
        if out.iter().any(|(a, _)| a == &addr) {
            continue;
        }
        match crate::listener::bind_std(&addr) {
            Ok(listener) => out.push((addr, listener)),
            Err(e) => {
                let message = bind_error(&addr, &e);
                // What was bound is closed: its files go too.
                for (bound, listener) in out {
                    drop(listener);
                    let _ = delete_socket_file(&bound);
                }
                return Err(message);
            }
        }
    }
    Ok(out)
}

impl Server {
    /// Stops accepting, closes idle connections and waits for the others,
    /// at most `grace` (`None`: until they end).
    pub async fn stop(mut self, grace: Option<Duration>) {
        self.close_listeners();
        let _ = self.shared.shutdown.send(true);
        self.shared.tables.load().retire();
        let wait = async {
            loop {
                let notified = self.shared.drained.notified();
                if self.shared.live.load(Ordering::Acquire) == 0 {
                    break;
                }
                notified.await;
            }
        };
        let mut wait = std::pin::pin!(wait);
        match grace {
            Some(g) => {
                if tokio::time::timeout(g, wait.as_mut()).await.is_err()
                    && !g.is_zero()
                    && self.shared.close_frame_tunnels.load(Ordering::Acquire) > 0
                {
                    // worker_shutdown_timeout has passed: the tunnels whose
                    // location asks for close frames send them and wait for
                    // the answers (CLOSE_GRACE at most); everything else
                    // closes when the process exits, as in nginx.
                    self.shared.close_before.send_replace(u64::MAX);
                    let closed = async {
                        while self.shared.close_frame_tunnels.load(Ordering::Acquire) > 0 {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    };
                    let _ = tokio::time::timeout(crate::tunnel::CLOSE_GRACE, closed).await;
                }
            }
            None => wait.await,
        }
        self.shared.tables.load().access_logs.flush();
    }
}

impl Drop for Server {
    /// Closes the listeners and tells idle connections to close.
    fn drop(&mut self) {
        self.close_listeners();
        let _ = self.shared.shutdown.send(true);
    }
}

async fn accept_loop(listener: Listener, addr: ListenAddr, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                shared.tables.load().error_log.log(
                    Level::Alert,
                    &format!("accept4() failed ({})", crate::proxy::errno(&e)),
                );
                // Out of descriptors, nginx stops accepting for
                // accept_mutex_delay (500 ms) rather than retry at once
                // (the backlog keeps the connections meanwhile); after any
                // other error it goes on, a pause here bounding a loop of
                // errors all the same.
                let errno = e.raw_os_error().map(nix::errno::Errno::from_raw);
                let out_of_files = matches!(
                    errno,
                    Some(nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE)
                );
                let pause = if out_of_files { 500 } else { 10 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
        };
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        if !shared.take_slot() {
            // nginx first closes idle keepalive connections to make room
            // (`ngx_drain_connections`), then, still short, logs and closes
            // the accepted socket (`ngx_get_connection`, `ngx_event_accept`).
            let mut got = false;
            if shared.drain_idle() {
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    if shared.take_slot() {
                        got = true;
                        break;
                    }
                }
            }
            if !got {
                shared.not_enough();
                drop(stream);
                continue;
            }
        }
        let local = match stream.local(&addr) {
            Ok(l) => l,
            Err(_) => {
                shared.slots.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared.live.fetch_add(1, Ordering::AcqRel);
        shared.stats.handled.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection_task(stream, peer, local, id, &shared));
        // Let the new connection read what it already has before the next
        // one is accepted: tokio runs the task spawned last first, which
        // would serve a burst of connections newest first; nginx serves
        // them in the order they came (a limit_conn slot goes to the first).
        tokio::task::yield_now().await;
    }
}

/// An accepted connection's task, from its handshakes to its close.
///
/// Not an `async fn`: the task's size is fixed when it is spawned and kept
/// while the connection lives, idle tunnels included, so the accept (which
/// owns the socket and its addresses until it yields the client) is boxed
/// and the rest holds only [`connection::serve`]'s small future.
fn connection_task(
    stream: Transport,
    peer: Sockaddr,
    local: Sockaddr,
    id: u64,
    shared: &Arc<Shared>,
) -> impl Future<Output = ()> + Send + use<> {
    let guard = LiveGuard(Arc::clone(shared));
    let stat = crate::stats::ConnStat::new(Arc::clone(&shared.stats));
    let accept = Box::pin(accept_client(stream, peer, local, id, Arc::clone(shared)));
    async move {
        let serve = accept.await.map(|mut client| {
            client.stat = Some(stat);
            connection::serve(client, Arc::clone(&guard.0))
        });
        if let Some(serve) = serve {
            serve.await;
        }
        drop(guard);
    }
}

/// The client of an accepted socket: on a TLS address, after the handshake
/// (bounded by the default server's client_header_timeout, as nginx's
/// `post_accept_timeout`); `None` when the handshake failed (logged at
/// `info`, as nginx logs handshake errors).
async fn accept_client(
    mut stream: Transport,
    peer: Sockaddr,
    local: Sockaddr,
    id: u64,
    shared: Arc<Shared>,
) -> Option<Client> {
    let tables = shared.tables.load_full();
    let addr = tables
        .rt
        .listens
        .find(&local)
        .and_then(|a| tables.rt.listens.get(a));
    let log = |level: Level, message: &str| {
        tables.error_log.log(
            level,
            &format!(
                "*{id} {message}, client: {}, server: {local}",
                peer.addr_text()
            ),
        );
    };
    let tls = addr.is_some_and(|a| tables.tls.is_tls(a));
    // ngx_http_init_connection: the PROXY protocol header comes first, TLS
    // included, within client_header_timeout.
    let mut proxy_protocol = None;
    if let Some(a) = addr.filter(|a| a.proxy_protocol) {
        let srv = tables.srv(a.default_server);
        // ngx_http_ssl_handshake peeks NGX_PROXY_PROTOCOL_MAX_HEADER + 1
        // bytes; ngx_http_wait_request_handler reads a header buffer.
        let size = if tls {
            4097
        } else {
            srv.limits.client_header_buffer_size.max(1)
        };
        // Boxed, as the handshake below: this future shares the
        // connection's task with what follows, idle tunnels included.
        match Box::pin(read_proxy_protocol(
            &mut stream,
            size,
            srv.client_header_timeout,
        ))
        .await
        {
            Ok(pp) => proxy_protocol = pp.map(Box::new),
            Err((level, message)) => {
                if let Some(message) = message {
                    log(level, &format!("{message} while reading PROXY protocol"));
                }
                return None;
            }
        }
    }
    let Some(addr) = addr.filter(|_| tls) else {
        let mut client = Client::new(ClientStream::Plain(stream), peer, local, id);
        client.proxy_protocol = proxy_protocol;
        return Some(client);
    };
    let timeout = tables.srv(addr.default_server).client_header_timeout;
    match Box::pin(tables.tls.accept(stream, addr, timeout)).await {
        Ok(Accepted::Tls(stream, info)) => {
            let mut client = Client::new(stream, peer.clone(), local.clone(), id);
            client.tls = Some(info);
            client.proxy_protocol = proxy_protocol;
            Some(client)
        }
        Ok(Accepted::Plain(stream)) => {
            let mut client =
                Client::new(ClientStream::Plain(stream), peer.clone(), local.clone(), id);
            client.plain_on_tls = true;
            client.proxy_protocol = proxy_protocol;
            Some(client)
        }
        Err(message) => {
            log(Level::Info, &message);
            None
        }
    }
}

/// Reads the PROXY protocol header from what the client sent first (at
/// most `size` bytes, nginx's one read), within `timeout`, and takes its
/// bytes off the socket. The error is the level and nginx's message
/// (`None`: closed without a word).
async fn read_proxy_protocol(
    stream: &mut Transport,
    size: usize,
    timeout: Duration,
) -> Result<Option<upgate_runtime::proxy_protocol::ProxyProtocol>, (Level, Option<String>)> {
    let mut buf = vec![0u8; size];
    let n = match tokio::time::timeout(timeout, stream.peek(&mut buf)).await {
        Err(_) => {
            let message = "client timed out (110: Connection timed out)";
            return Err((Level::Info, Some(message.into())));
        }
        Ok(Err(e)) => {
            let message = format!("recv() failed ({})", crate::proxy::errno(&e));
            return Err((Level::Error, Some(message)));
        }
        Ok(Ok(0)) => return Err((Level::Info, Some("client closed connection".into()))),
        Ok(Ok(n)) => n,
    };
    let (pp, used) = crate::proxy_protocol::read(&buf[..n])
        .map_err(|e| (Level::Error, e.logged().then(|| e.to_string())))?;
    // The header's bytes were peeked: they are taken now (they are there).
    let mut taken = vec![0u8; used];
    tokio::io::AsyncReadExt::read_exact(stream, &mut taken)
        .await
        .map_err(|_| (Level::Info, None))?;
    Ok(pp)
}
