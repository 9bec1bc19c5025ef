//! The limit_conn module (src/http/modules/ngx_http_limit_conn_module.c):
//! requests in progress per key. A request that passes holds one slot of
//! each limit's key until it ends (nginx frees it with the request's pool:
//! after the response, or when a WebSocket tunnel closes); a key at its
//! limit, or a zone with no memory for a new key, rejects the request and
//! gives back the slots it took. Only the first pass of the phase counts
//! (`r->main->limit_conn_status`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use upgate_conf::{Directive, Level};

use crate::error::CompileError;
use crate::zone::{ZoneKind, Zones, slab_cost, usable_bytes};

/// The state of one `limit_conn_zone`: connections per key.
#[derive(Debug)]
pub struct ConnZoneState {
    conns: HashMap<Vec<u8>, u32>,
    used: u64,
    budget: u64,
}

impl ConnZoneState {
    pub(crate) fn new(size: u64) -> ConnZoneState {
        ConnZoneState {
            conns: HashMap::new(),
            used: 0,
            budget: usable_bytes(size),
        }
    }

    /// The connections `key` holds.
    pub fn count(&self, key: &[u8]) -> u32 {
        self.conns.get(key).copied().unwrap_or(0)
    }

    fn cost(key: &[u8]) -> u64 {
        // the rbtree node up to its color, ngx_http_limit_conn_node_t up
        // to its data, the key
        slab_cost(32 + 4 + key.len() as u64)
    }

    fn release(&mut self, key: &[u8]) {
        if let Some(n) = self.conns.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.conns.remove(key);
                self.used = self.used.saturating_sub(Self::cost(key));
            }
        }
    }
}

/// One slot a request holds; dropping it gives it back
/// (`ngx_http_limit_conn_cleanup`).
#[derive(Debug)]
pub struct Slot {
    state: Arc<Mutex<ConnZoneState>>,
    key: Vec<u8>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.release(&self.key);
    }
}

/// One `limit_conn` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Into [`Zones::limit_conn`].
    pub zone: usize,
    pub conn: u32,
}

/// The limit_conn settings of a level.
#[derive(Debug, Clone)]
pub struct LimitConnConf {
    pub limits: Vec<Limit>,
    pub log_level: Level,
    pub status: u16,
    pub dry_run: bool,
}

impl Default for LimitConnConf {
    fn default() -> Self {
        LimitConnConf {
            limits: Vec::new(),
            log_level: Level::Error,
            status: 503,
            dry_run: false,
        }
    }
}

/// Parses a `limit_conn ZONE N` line.
pub fn parse_limit(d: &Directive, zones: &Zones) -> Result<Limit, CompileError> {
    let (Some(name), Some(n)) = (d.args.first(), d.args.get(1)) else {
        return Err(CompileError::invalid(d, "invalid number of arguments"));
    };
    let zone = zones
        .find(ZoneKind::LimitConn, &name.value)
        .ok_or_else(|| {
            CompileError::at(
                name,
                format!("zero size shared memory zone \"{}\"", name.text()),
            )
        })?;
    let conn = std::str::from_utf8(&n.value)
        .ok()
        .and_then(|t| t.parse::<u32>().ok())
        .filter(|&c| (1..=65535).contains(&c))
        .ok_or_else(|| {
            CompileError::at(n, format!("invalid number of connections \"{}\"", n.text()))
        })?;
    Ok(Limit { zone, conn })
}

/// `$limit_conn_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Rejected,
    RejectedDryRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Rejected => "REJECTED",
            Status::RejectedDryRun => "REJECTED_DRY_RUN",
        }
    }
}

/// What the handler decided.
#[derive(Debug, Default)]
pub struct Decision {
    /// None: no limit applied (every key empty).
    pub status: Option<Status>,
    pub reject: bool,
    /// The slots taken (empty when rejected).
    pub slots: Vec<Arc<Slot>>,
    pub log: Vec<(Level, String)>,
}

/// `ngx_http_limit_conn_handler` over the evaluated keys of the limits.
pub fn decide(zones: &Zones, conf: &LimitConnConf, keys: &[Vec<u8>]) -> Decision {
    let mut d = Decision::default();
    for (limit, key) in conf.limits.iter().zip(keys) {
        let Some(zone) = zones.limit_conn.get(limit.zone) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        if key.len() > 255 {
            d.log.push((
                Level::Error,
                format!(
                    "the value of the \"{}\" key is more than 255 bytes: \"{}\"",
                    String::from_utf8_lossy(&zone.key_text),
                    String::from_utf8_lossy(key)
                ),
            ));
            continue;
        }
        d.status = Some(Status::Passed);
        let admitted = {
            let mut st = zone.lock();
            match st.conns.get_mut(key.as_slice()) {
                Some(n) if *n >= limit.conn => {
                    d.log.push((
                        conf.log_level,
                        format!(
                            "limiting connections{} by zone \"{}\"",
                            if conf.dry_run { ", dry run," } else { "" },
                            String::from_utf8_lossy(&zone.name)
                        ),
                    ));
                    false
                }
                Some(n) => {
                    *n += 1;
                    true
                }
                None => {
                    let cost = ConnZoneState::cost(key);
                    if st.used + cost > st.budget {
                        false
                    } else {
                        st.used += cost;
                        st.conns.insert(key.clone(), 1);
                        true
                    }
                }
            }
        };
        if !admitted {
            // ngx_http_limit_conn_cleanup_all: the slots this pass took
            d.slots.clear();
            if conf.dry_run {
                d.status = Some(Status::RejectedDryRun);
            } else {
                d.status = Some(Status::Rejected);
                d.reject = true;
            }
            return d;
        }
        d.slots.push(Arc::new(Slot {
            state: Arc::clone(&zone.state),
            key: key.clone(),
        }));
    }
    d
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::variable::Template;
    use crate::zone::Zone;

    fn zones(n: usize, size: u64) -> Zones {
        let mut z = Zones::default();
        for i in 0..n {
            z.limit_conn.push(Zone {
                name: format!("z{i}").into_bytes(),
                key_text: b"$binary_remote_addr".to_vec(),
                key: Template::literal(b""),
                size,
                rate: 0,
                state: Arc::new(Mutex::new(ConnZoneState::new(size))),
            });
        }
        z
    }

    fn conf(limits: &[(usize, u32)]) -> LimitConnConf {
        LimitConnConf {
            limits: limits
                .iter()
                .map(|&(zone, conn)| Limit { zone, conn })
                .collect(),
            ..LimitConnConf::default()
        }
    }

    #[test]
    fn slots_are_held_until_dropped() {
        let z = zones(1, 1 << 20);
        let c = conf(&[(0, 2)]);
        let keys = vec![b"a".to_vec()];
        let first = decide(&z, &c, &keys);
        let second = decide(&z, &c, &keys);
        assert!(!first.reject && !second.reject);
        let third = decide(&z, &c, &keys);
        assert!(third.reject);
        assert_eq!(third.status, Some(Status::Rejected));
        assert!(
            third.log[0]
                .1
                .contains("limiting connections by zone \"z0\"")
        );
        drop(first);
        assert!(!decide(&z, &c, &keys).reject);
        drop(second);
        assert_eq!(z.limit_conn[0].lock().count(b"a"), 0);
    }

    #[test]
    fn a_rejection_gives_back_the_other_slots() {
        let z = zones(2, 1 << 20);
        let keys = vec![b"a".to_vec(), b"a".to_vec()];
        let held = decide(&z, &conf(&[(1, 1)]), &keys[..1]);
        let d = decide(&z, &conf(&[(0, 5), (1, 1)]), &keys);
        assert!(d.reject);
        assert_eq!(z.limit_conn[0].lock().count(b"a"), 0);
        drop(held);
    }

    #[test]
    fn dry_run_empty_keys_and_full_zones() {
        let z = zones(1, 32 * 1024);
        let mut c = conf(&[(0, 1)]);
        c.dry_run = true;
        let keys = vec![b"a".to_vec()];
        let _held = decide(&z, &c, &keys);
        let d = decide(&z, &c, &keys);
        assert_eq!((d.status, d.reject), (Some(Status::RejectedDryRun), false));
        assert!(
            d.log[0]
                .1
                .contains("limiting connections, dry run, by zone")
        );
        assert_eq!(decide(&z, &c, &[Vec::new()]).status, None);
        c.dry_run = false;
        let mut held = Vec::new();
        let mut rejected = 0;
        for i in 0..2000 {
            let d = decide(&z, &c, &[format!("{i}").into_bytes()]);
            rejected += usize::from(d.reject);
            held.push(d);
        }
        assert!(rejected > 0, "a 32k zone holds fewer than 2000 keys");
    }
}
