//! Whether a `proxy_pass` host name resolves, as nginx checks at `-t`
//! (getaddrinfo). Injected so that rules stay pure: the command line uses
//! [`SystemResolver`], tests use [`NoResolve`] or their own.

use std::cell::{OnceCell, RefCell};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};
use upgate_conf::fs::Root;

/// Answers "does this host name resolve?".
pub trait Resolve {
    fn resolves(&self, host: &str) -> bool;
}

/// Addresses and `localhost` only; every other name fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoResolve;

impl Resolve for NoResolve {
    fn resolves(&self, host: &str) -> bool {
        literal(host)
    }
}

fn literal(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok() || bare.eq_ignore_ascii_case("localhost")
}

/// /etc/hosts first (under `root` when given), then the system resolver
/// with a bound on the wait; the file is read once and answers are cached.
#[derive(Debug, Default)]
pub struct SystemResolver {
    pub root: Option<Root>,
    cache: RefCell<FxHashMap<String, bool>>,
    /// The names /etc/hosts lists, lowercase.
    hosts: OnceCell<FxHashSet<String>>,
}

impl SystemResolver {
    pub fn new(root: Option<Root>) -> Self {
        SystemResolver {
            root,
            cache: RefCell::default(),
            hosts: OnceCell::new(),
        }
    }

    fn hosts_file(&self) -> &FxHashSet<String> {
        self.hosts.get_or_init(|| {
            let hosts = Path::new("/etc/hosts");
            let path = self
                .root
                .as_ref()
                .and_then(|root| root.real(hosts))
                .unwrap_or_else(|| hosts.to_path_buf());
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.lines()
                .flat_map(|line| {
                    let line = line.split('#').next().unwrap_or("");
                    line.split_whitespace().skip(1)
                })
                .map(str::to_ascii_lowercase)
                .collect()
        })
    }

    fn lookup(&self, host: &str) -> bool {
        if literal(host) {
            return true;
        }
        if self.hosts_file().contains(&host.to_ascii_lowercase()) {
            return true;
        }
        if self.root.is_some() {
            return false;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let name = format!("{host}:0");
        std::thread::spawn(move || {
            use std::net::ToSocketAddrs;
            let found = name
                .to_socket_addrs()
                .map(|mut a| a.next().is_some())
                .unwrap_or(false);
            let _ = tx.send(found);
        });
        rx.recv_timeout(Duration::from_secs(2)).unwrap_or(false)
    }
}

impl Resolve for SystemResolver {
    fn resolves(&self, host: &str) -> bool {
        if let Some(&known) = self.cache.borrow().get(host) {
            return known;
        }
        let found = self.lookup(host);
        self.cache.borrow_mut().insert(host.to_string(), found);
        found
    }
}
