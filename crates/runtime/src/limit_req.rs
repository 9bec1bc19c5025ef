//! The limit_req module (src/http/modules/ngx_http_limit_req_module.c):
//! nginx's leaky bucket per key. Each state keeps the excess (in
//! thousandths of a request) and when it was last charged; a request adds
//! one, the rate drains it. Over `burst` the request is rejected; over
//! `delay=` (0 without it, unlimited with `nodelay`) it waits until the
//! excess has drained back to `delay`. With several limits the request is
//! checked against each in order and charged only when all let it in, the
//! longest delay winning (`ngx_http_limit_req_lookup`,
//! `ngx_http_limit_req_account`).
//!
//! States live in a most-recently-used order; a new key first drops up to
//! two of the oldest that have drained (unused for a minute), then, when
//! the zone's memory is full, the oldest by force (`ngx_http_limit_req_expire`).

use lru::LruCache;
use upgate_conf::{Directive, Level};

use crate::error::CompileError;
use crate::zone::{Zone, ZoneKind, Zones, slab_cost, usable_bytes};

/// What nginx stores per key.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Thousandths of a request.
    excess: i64,
    /// `ngx_current_msec` when last charged.
    last: u64,
    /// Requests between their lookup and their accounting (such a node is
    /// not expired).
    count: u32,
}

/// The state of one `limit_req_zone`.
#[derive(Debug)]
pub struct ReqZoneState {
    nodes: LruCache<Vec<u8>, Node>,
    used: u64,
    budget: u64,
}

impl ReqZoneState {
    pub(crate) fn new(size: u64) -> ReqZoneState {
        ReqZoneState {
            nodes: LruCache::unbounded(),
            used: 0,
            budget: usable_bytes(size),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The slab bytes of a node for `key`.
    fn cost(key: &[u8]) -> u64 {
        // the rbtree node up to its color, ngx_http_limit_req_node_t up to
        // its data, the key
        slab_cost(32 + 48 + key.len() as u64)
    }

    /// `ngx_http_limit_req_expire`: `force` drops the oldest state whatever
    /// its excess; then up to two drained ones.
    fn expire(&mut self, rate: u64, now: u64, force: bool) {
        let mut n = if force { 0 } else { 1 };
        while n < 3 {
            let Some((_, node)) = self.nodes.peek_lru() else {
                return;
            };
            if node.count != 0 {
                return;
            }
            if n != 0 {
                let ms = now.abs_diff(node.last);
                if ms < 60_000 {
                    return;
                }
                if node.excess - (rate as i64).saturating_mul(ms as i64) / 1000 > 0 {
                    return;
                }
            }
            n += 1;
            if let Some((key, _)) = self.nodes.pop_lru() {
                self.used = self.used.saturating_sub(Self::cost(&key));
            }
        }
    }
}

/// What one lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// Over the burst.
    Busy(i64),
    /// Charged (the last limit).
    Ok(i64),
    /// Let in, to be charged once the other limits agree.
    Again(i64),
    /// No memory for a new state.
    Full,
}

/// The excess after `ms` of draining plus this request.
fn drained(node: &Node, rate: u64, now: u64) -> (i64, u64) {
    let ms = now.wrapping_sub(node.last) as i64;
    let ms = if ms < -60_000 {
        1
    } else if ms < 0 {
        0
    } else {
        ms
    };
    let excess = node.excess - (rate as i64).saturating_mul(ms) / 1000 + 1000;
    (excess.max(0), ms as u64)
}

fn lookup(zone: &Zone<ReqZoneState>, key: &[u8], burst: i64, account: bool, now: u64) -> Lookup {
    let mut st = zone.lock();
    if let Some(node) = st.nodes.get_mut(key) {
        let (excess, ms) = drained(node, zone.rate, now);
        if excess > burst {
            return Lookup::Busy(excess);
        }
        if account {
            node.excess = excess;
            if ms != 0 {
                node.last = now;
            }
            return Lookup::Ok(excess);
        }
        node.count += 1;
        return Lookup::Again(excess);
    }
    st.expire(zone.rate, now, false);
    let cost = ReqZoneState::cost(key);
    if st.used + cost > st.budget {
        st.expire(zone.rate, now, true);
        if st.used + cost > st.budget {
            return Lookup::Full;
        }
    }
    st.used += cost;
    let node = if account {
        Node {
            excess: 0,
            last: now,
            count: 0,
        }
    } else {
        Node {
            excess: 0,
            last: 0,
            count: 1,
        }
    };
    st.nodes.push(key.to_vec(), node);
    if account {
        Lookup::Ok(0)
    } else {
        Lookup::Again(0)
    }
}

/// One `limit_req` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Into [`Zones::limit_req`].
    pub zone: usize,
    /// Thousandths of a request.
    pub burst: i64,
    pub delay: i64,
}

/// The limit_req settings of a level (the list is inherited whole by a
/// level without one; the others one by one).
#[derive(Debug, Clone)]
pub struct LimitReqConf {
    pub limits: Vec<Limit>,
    pub log_level: Level,
    pub status: u16,
    pub dry_run: bool,
}

impl Default for LimitReqConf {
    fn default() -> Self {
        LimitReqConf {
            limits: Vec::new(),
            log_level: Level::Error,
            status: 503,
            dry_run: false,
        }
    }
}

impl LimitReqConf {
    /// `delay_log_level`: one step milder than the limit's, info at most.
    pub fn delay_log_level(&self) -> Level {
        match self.log_level {
            Level::Error => Level::Warn,
            Level::Warn => Level::Notice,
            _ => Level::Info,
        }
    }
}

/// Parses a `limit_req` line.
pub fn parse_limit(d: &Directive, zones: &Zones) -> Result<Limit, CompileError> {
    let mut zone = None;
    let mut burst = 0;
    let mut delay = 0;
    for a in &d.args {
        let v = a.value.as_slice();
        let number = |digits: &[u8]| -> Option<i64> {
            std::str::from_utf8(digits)
                .ok()?
                .parse::<i64>()
                .ok()
                .filter(|&n| n > 0)
        };
        if let Some(name) = v.strip_prefix(b"zone=") {
            zone = Some(zones.find(ZoneKind::LimitReq, name).ok_or_else(|| {
                CompileError::at(
                    a,
                    format!(
                        "zero size shared memory zone \"{}\"",
                        String::from_utf8_lossy(name)
                    ),
                )
            })?);
        } else if let Some(n) = v.strip_prefix(b"burst=") {
            burst = number(n).ok_or_else(|| {
                CompileError::at(a, format!("invalid burst value \"{}\"", a.text()))
            })?;
        } else if let Some(n) = v.strip_prefix(b"delay=") {
            delay = number(n).ok_or_else(|| {
                CompileError::at(a, format!("invalid delay value \"{}\"", a.text()))
            })?;
        } else if v == b"nodelay" {
            delay = i64::MAX / 1000 / 1000;
        } else {
            return Err(CompileError::at(
                a,
                format!("invalid parameter \"{}\"", a.text()),
            ));
        }
    }
    let zone =
        zone.ok_or_else(|| CompileError::invalid(d, "\"limit_req\" must have \"zone\" parameter"))?;
    Ok(Limit {
        zone,
        burst: burst * 1000,
        delay: delay * 1000,
    })
}

/// `$limit_req_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Delayed,
    Rejected,
    DelayedDryRun,
    RejectedDryRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Delayed => "DELAYED",
            Status::Rejected => "REJECTED",
            Status::DelayedDryRun => "DELAYED_DRY_RUN",
            Status::RejectedDryRun => "REJECTED_DRY_RUN",
        }
    }
}

/// What the handler decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// For `$limit_req_status` (none: no limit applied, every key empty).
    pub status: Option<Status>,
    /// Milliseconds to wait before the request goes on (0: none).
    pub delay: u64,
    /// Reject with the configured status.
    pub reject: bool,
    /// (level, text) lines for the error log.
    pub log: Vec<(Level, String)>,
}

/// `ngx_http_limit_req_handler` over the evaluated keys of the limits (an
/// empty key is skipped), at `now` (milliseconds of a monotonic clock).
pub fn decide(zones: &Zones, conf: &LimitReqConf, keys: &[Vec<u8>], now: u64) -> Decision {
    let mut log = Vec::new();
    let last = conf.limits.len().saturating_sub(1);
    // (index of the limit, key) of the ones let in and not charged yet
    let mut pending: Vec<(usize, &[u8])> = Vec::new();
    let mut result = None;
    let mut stopped_at = conf.limits.len();
    for (n, (limit, key)) in conf.limits.iter().zip(keys).enumerate() {
        let Some(zone) = zones.limit_req.get(limit.zone) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        if key.len() > 65535 {
            log.push((
                Level::Error,
                format!(
                    "the value of the \"{}\" key is more than 65535 bytes: \"{}\"",
                    String::from_utf8_lossy(&zone.key_text),
                    String::from_utf8_lossy(key)
                ),
            ));
            continue;
        }
        let found = lookup(zone, key, limit.burst, n == last, now);
        result = Some((n, found));
        if let Lookup::Again(_) = found {
            pending.push((n, key));
            continue;
        }
        stopped_at = n;
        break;
    }
    let Some((n, found)) = result else {
        return Decision {
            log,
            ..Decision::default()
        };
    };
    let dry = if conf.dry_run { ", dry run" } else { "" };
    match found {
        Lookup::Busy(_) | Lookup::Full => {
            if let Lookup::Busy(excess) = found {
                log.push((
                    conf.log_level,
                    format!(
                        "limiting requests{dry}, excess: {}.{:03} by zone \"{}\"",
                        excess / 1000,
                        excess % 1000,
                        zone_name(zones, conf.limits[n].zone)
                    ),
                ));
            } else {
                log.push((
                    Level::Alert,
                    format!(
                        "could not allocate node in limit_req zone \"{}\"",
                        zone_name(zones, conf.limits[n].zone)
                    ),
                ));
            }
            unlock(zones, conf, &pending);
            let (status, reject) = if conf.dry_run {
                (Status::RejectedDryRun, false)
            } else {
                (Status::Rejected, true)
            };
            Decision {
                status: Some(status),
                delay: 0,
                reject,
                log,
            }
        }
        Lookup::Ok(_) | Lookup::Again(_) => {
            let excess = match found {
                Lookup::Ok(e) => e,
                _ => 0,
            };
            let mut at = if stopped_at < conf.limits.len() {
                stopped_at
            } else {
                last
            };
            let (delay, excess) = account(zones, conf, &pending, excess, &mut at, now);
            if delay == 0 {
                return Decision {
                    status: Some(Status::Passed),
                    log,
                    ..Decision::default()
                };
            }
            log.push((
                conf.delay_log_level(),
                format!(
                    "delaying request{dry}, excess: {}.{:03}, by zone \"{}\"",
                    excess / 1000,
                    excess % 1000,
                    zone_name(zones, conf.limits[at].zone)
                ),
            ));
            let (status, delay) = if conf.dry_run {
                (Status::DelayedDryRun, 0)
            } else {
                (Status::Delayed, delay)
            };
            Decision {
                status: Some(status),
                delay,
                reject: false,
                log,
            }
        }
    }
}

fn zone_name(zones: &Zones, zone: usize) -> String {
    zones
        .limit_req
        .get(zone)
        .map(|z| String::from_utf8_lossy(&z.name).into_owned())
        .unwrap_or_default()
}

/// `ngx_http_limit_req_account`: charges the limits that were let in
/// before the last one; the delay is the longest any of them asks.
fn account(
    zones: &Zones,
    conf: &LimitReqConf,
    pending: &[(usize, &[u8])],
    excess: i64,
    at: &mut usize,
    now: u64,
) -> (u64, i64) {
    let mut excess_out = excess;
    let mut max_delay = {
        let limit = &conf.limits[*at];
        let rate = zones.limit_req.get(limit.zone).map_or(1, |z| z.rate.max(1));
        if excess <= limit.delay {
            0
        } else {
            ((excess - limit.delay) * 1000 / rate as i64) as u64
        }
    };
    for &(n, key) in pending.iter().rev() {
        let limit = &conf.limits[n];
        let Some(zone) = zones.limit_req.get(limit.zone) else {
            continue;
        };
        let excess = {
            let mut st = zone.lock();
            let Some(node) = st.nodes.peek_mut(key) else {
                continue;
            };
            let (excess, ms) = drained(node, zone.rate, now);
            if ms != 0 {
                node.last = now;
            }
            node.excess = excess;
            node.count = node.count.saturating_sub(1);
            excess
        };
        if excess <= limit.delay {
            continue;
        }
        let delay = ((excess - limit.delay) * 1000 / zone.rate.max(1) as i64) as u64;
        if delay > max_delay {
            max_delay = delay;
            excess_out = excess;
            *at = n;
        }
    }
    (max_delay, excess_out)
}

/// `ngx_http_limit_req_unlock`: the limits let in before a rejection are
/// not charged.
fn unlock(zones: &Zones, conf: &LimitReqConf, pending: &[(usize, &[u8])]) {
    for &(n, key) in pending {
        if let Some(zone) = zones.limit_req.get(conf.limits[n].zone)
            && let Some(node) = zone.lock().nodes.peek_mut(key)
        {
            node.count = node.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::variable::Template;

    fn zones(rates: &[u64], size: u64) -> Zones {
        let mut z = Zones::default();
        for (i, &rate) in rates.iter().enumerate() {
            z.limit_req.push(Zone {
                name: format!("z{i}").into_bytes(),
                key_text: b"$binary_remote_addr".to_vec(),
                key: Template::literal(b""),
                size,
                rate,
                state: Arc::new(Mutex::new(ReqZoneState::new(size))),
            });
        }
        z
    }

    fn conf(limits: &[(usize, i64, i64)]) -> LimitReqConf {
        LimitReqConf {
            limits: limits
                .iter()
                .map(|&(zone, burst, delay)| Limit {
                    zone,
                    burst: burst * 1000,
                    delay: delay * 1000,
                })
                .collect(),
            ..LimitReqConf::default()
        }
    }

    fn run(
        z: &Zones,
        c: &LimitReqConf,
        key: &[u8],
        now: u64,
    ) -> (Option<Status>, Option<u64>, bool) {
        let keys = vec![key.to_vec(); c.limits.len()];
        let d = decide(z, c, &keys, now);
        (d.status, (d.delay != 0).then_some(d.delay), d.reject)
    }

    const NODELAY: i64 = i64::MAX / 1000 / 1000;

    /// `ngx_current_msec` is the machine's monotonic clock, far from 0.
    const T: u64 = 1_000_000_000;

    /// limit_req.t: rate=2r/s burst=1 nodelay: two pass at once, the third
    /// is rejected, and after 1/rate one passes again.
    #[test]
    fn burst_nodelay() {
        let z = zones(&[2000], 1 << 20);
        let c = conf(&[(0, 1, NODELAY)]);
        assert_eq!(
            run(&z, &c, b"a", T + 1000),
            (Some(Status::Passed), None, false)
        );
        assert_eq!(
            run(&z, &c, b"a", T + 1000),
            (Some(Status::Passed), None, false)
        );
        assert_eq!(
            run(&z, &c, b"a", T + 1000),
            (Some(Status::Rejected), None, true)
        );
        // another key has its own bucket
        assert_eq!(
            run(&z, &c, b"b", T + 1000),
            (Some(Status::Passed), None, false)
        );
        // rejected requests are not charged: 500 ms drain one
        assert_eq!(
            run(&z, &c, b"a", T + 1500),
            (Some(Status::Passed), None, false)
        );
        assert_eq!(
            run(&z, &c, b"a", T + 1500),
            (Some(Status::Rejected), None, true)
        );
    }

    /// Without nodelay the burst waits: the second request at once waits
    /// 1/rate.
    #[test]
    fn burst_delays() {
        let z = zones(&[2000], 1 << 20);
        let c = conf(&[(0, 5, 0)]);
        assert_eq!(run(&z, &c, b"a", T), (Some(Status::Passed), None, false));
        assert_eq!(
            run(&z, &c, b"a", T),
            (Some(Status::Delayed), Some(500), false)
        );
        assert_eq!(
            run(&z, &c, b"a", T),
            (Some(Status::Delayed), Some(1000), false)
        );
        // delay=1: the first excess request passes at once
        let z = zones(&[2000], 1 << 20);
        let c = conf(&[(0, 5, 1)]);
        run(&z, &c, b"a", T);
        assert_eq!(run(&z, &c, b"a", T), (Some(Status::Passed), None, false));
        assert_eq!(
            run(&z, &c, b"a", T),
            (Some(Status::Delayed), Some(500), false)
        );
    }

    /// Two limits: the request is charged to both only when both let it
    /// in; the longer delay wins.
    #[test]
    fn several_limits() {
        let z = zones(&[1000, 10_000], 1 << 20);
        let c = conf(&[(0, 0, 0), (1, 5, 0)]);
        assert_eq!(run(&z, &c, b"a", T), (Some(Status::Passed), None, false));
        // the first zone (burst 0) rejects; the second is not charged
        assert_eq!(run(&z, &c, b"a", T), (Some(Status::Rejected), None, true));
        let st = z.limit_req[1].lock();
        let node = st.nodes.peek(&b"a".to_vec()).unwrap();
        assert_eq!((node.excess, node.count), (0, 0));
    }

    #[test]
    fn dry_run_and_empty_keys() {
        let z = zones(&[1000], 1 << 20);
        let mut c = conf(&[(0, 0, NODELAY)]);
        c.dry_run = true;
        run(&z, &c, b"a", T);
        assert_eq!(
            run(&z, &c, b"a", T),
            (Some(Status::RejectedDryRun), None, false)
        );
        assert_eq!(run(&z, &c, b"", T), (None, None, false));
    }

    /// A full zone drops its oldest state for a new key.
    #[test]
    fn zone_memory_is_bounded() {
        let z = zones(&[1000], 32 * 1024);
        let c = conf(&[(0, 0, NODELAY)]);
        let cap = (usable_bytes(32 * 1024) / 128) as usize;
        for i in 0..cap * 3 {
            let key = format!("{i:08}");
            assert_eq!(run(&z, &c, key.as_bytes(), T).0, Some(Status::Passed));
        }
        assert_eq!(z.limit_req[0].lock().len(), cap);
    }

    #[test]
    fn negative_excess() {
        // fast.html in limit_req.t: a long pause drains to 0, not below
        let z = zones(&[1_000_000], 1 << 20);
        let c = conf(&[(0, 1, 0)]);
        run(&z, &c, b"a", T);
        assert_eq!(
            run(&z, &c, b"a", T + 100),
            (Some(Status::Passed), None, false)
        );
        // a clock that went back a little counts as no time: one more
        // request in the bucket, 1 ms at this rate
        assert_eq!(
            run(&z, &c, b"a", T + 50),
            (Some(Status::Delayed), Some(1), false)
        );
    }
}
