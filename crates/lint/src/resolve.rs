//! Whether a `proxy_pass` host name resolves, as nginx checks at `-t`
//! (getaddrinfo). Injected so that rules stay pure: the command line uses
//! [`SystemResolver`], tests use [`NoResolve`] or their own.

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use rustc_hash::FxHashMap;

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
/// with a bound on the wait; answers are cached.
#[derive(Debug, Default)]
pub struct SystemResolver {
    pub root: Option<PathBuf>,
    cache: RefCell<FxHashMap<String, bool>>,
}

impl SystemResolver {
    pub fn new(root: Option<PathBuf>) -> Self {
        SystemResolver {
            root,
            cache: RefCell::default(),
        }
    }

    fn lookup(&self, host: &str) -> bool {
        if literal(host) {
            return true;
        }
        let hosts = match &self.root {
            Some(root) => root.join("etc/hosts"),
            None => PathBuf::from("/etc/hosts"),
        };
        if let Ok(text) = std::fs::read_to_string(hosts) {
            let listed = text.lines().any(|line| {
                let line = line.split('#').next().unwrap_or("");
                line.split_whitespace()
                    .skip(1)
                    .any(|name| name.eq_ignore_ascii_case(host))
            });
            if listed {
                return true;
            }
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
