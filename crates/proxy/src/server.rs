//! The running server: the current [`Tables`] behind one atomic pointer
//! (arc-swap), the listening sockets, the accept loops, the count of live
//! connections and the shutdown signal. nginx's master/worker split becomes
//! one process with a multi-thread tokio runtime: a reload swaps the pointer
//! (new requests use the new generation, running ones and tunnels keep
//! theirs) and re-binds the listen set; a stop closes the listeners, ends
//! idle keepalive connections, and waits for the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use upgate_runtime::listen::ListenAddr;

use crate::client::Client;
use crate::connection;
use crate::error_log::Level;
use crate::tables::Tables;

/// State shared by every connection.
pub struct Shared {
    pub tables: ArcSwap<Tables>,
    /// `true` once a stop began: idle connections close.
    pub shutdown: watch::Sender<bool>,
    next_id: AtomicU64,
    live: AtomicUsize,
    drained: Notify,
}

/// Counts a live connection; the count drops with it.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

/// A running server.
pub struct Server {
    pub shared: Arc<Shared>,
    listeners: HashMap<ListenAddr, (std::net::SocketAddr, JoinHandle<()>)>,
}

impl Server {
    /// Starts serving `tables`: binds every listen address (an error names
    /// the address, as nginx's `bind() to 0.0.0.0:80 failed (98: Address
    /// already in use)`).
    pub fn start(tables: Tables) -> Result<Server, String> {
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            tables: ArcSwap::from_pointee(tables),
            shutdown,
            next_id: AtomicU64::new(1),
            live: AtomicUsize::new(0),
            drained: Notify::new(),
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
        };
        server.bind_all()?;
        Ok(server)
    }

    /// The addresses bound, as the OS reports them.
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.listeners.values().map(|(a, _)| *a).collect()
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
            if tables
                .rt
                .listens
                .addrs
                .iter()
                .any(|a| &a.addr == addr && a.ssl)
            {
                tables.error_log.log(
                    Level::Warn,
                    &format!(
                        "TLS (listen ... ssl) is not served yet: {} is not bound",
                        addr.text()
                    ),
                );
                continue;
            }
            let ListenAddr::Inet(sa) = addr else {
                tables.error_log.log(
                    Level::Warn,
                    &format!("unix listen sockets are not served yet: {}", addr.text()),
                );
                continue;
            };
            let listener = bind(*sa)
                .map_err(|e| format!("bind() to {sa} failed ({})", crate::proxy::errno(&e)))?;
            fresh.push((addr.clone(), listener));
        }
        for (addr, listener) in fresh {
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let task = tokio::spawn(accept_loop(listener, Arc::clone(&self.shared)));
            self.listeners.insert(addr, (local, task));
        }
        self.listeners.retain(|addr, (_, task)| {
            let keep = wanted.contains(addr);
            if !keep {
                task.abort();
            }
            keep
        });
        Ok(())
    }

    /// Swaps in a new generation and updates the listen set. On a bind
    /// error the new tables still serve the addresses that are bound.
    pub fn reload(&mut self, tables: Tables) -> Result<(), String> {
        self.shared.tables.store(Arc::new(tables));
        self.bind_all()
    }

    /// Stops accepting, closes idle connections and waits for the others,
    /// at most `grace` (`None`: until they end).
    pub async fn stop(mut self, grace: Option<Duration>) {
        for (_, (_, task)) in self.listeners.drain() {
            task.abort();
        }
        let _ = self.shared.shutdown.send(true);
        let wait = async {
            loop {
                let notified = self.shared.drained.notified();
                if self.shared.live.load(Ordering::Acquire) == 0 {
                    break;
                }
                notified.await;
            }
        };
        match grace {
            Some(g) => {
                let _ = tokio::time::timeout(g, wait).await;
            }
            None => wait.await,
        }
        self.shared.tables.load().access_logs.flush();
    }
}

impl Drop for Server {
    /// Closes the listeners and tells idle connections to close.
    fn drop(&mut self) {
        for (_, (_, task)) in self.listeners.drain() {
            task.abort();
        }
        let _ = self.shared.shutdown.send(true);
    }
}

/// A listening socket as nginx makes one: SO_REUSEADDR, backlog 511.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(511)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and the like: nginx logs and goes on.
                shared.tables.load().error_log.log(
                    Level::Alert,
                    &format!("accept() failed ({})", crate::proxy::errno(&e)),
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = match stream.local_addr() {
            Ok(l) => l,
            Err(_) => continue,
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared.live.fetch_add(1, Ordering::AcqRel);
        let guard = LiveGuard(Arc::clone(&shared));
        let client = Client::new(stream, peer, local, id);
        tokio::spawn(async move {
            connection::serve(client, Arc::clone(&guard.0)).await;
            drop(guard);
        });
    }
}
