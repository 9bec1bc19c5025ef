//! The shared memory zones of `limit_req_zone` and `limit_conn_zone`: one
//! state per zone, shared by every worker thread, bounded by the zone's
//! size the way nginx's slab allocator bounds it, and handed from one
//! configuration generation to the next when a reload keeps the zone's
//! name, size and key (`ngx_init_cycle` reuses a zone of the same name,
//! size and tag; the module's `init_zone` refuses another key).

use std::sync::{Arc, Mutex, MutexGuard};

use upgate_conf::Directive;

use crate::error::CompileError;
use crate::limit_conn::ConnZoneState;
use crate::limit_req::ReqZoneState;
use crate::variable::{self, Template, UserVars};

/// `ngx_pagesize`.
const PAGE: u64 = 4096;

/// What a zone is for (nginx's tag: the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    LimitReq,
    LimitConn,
}

impl ZoneKind {
    fn directive(self) -> &'static str {
        match self {
            ZoneKind::LimitReq => "limit_req",
            ZoneKind::LimitConn => "limit_conn_zone",
        }
    }
}

/// One zone: its declaration and its state (a clone shares the state).
#[derive(Debug)]
pub struct Zone<S> {
    pub name: Vec<u8>,
    /// The key as written (`$binary_remote_addr`).
    pub key_text: Vec<u8>,
    pub key: Template,
    pub size: u64,
    /// `rate=` in requests per 1000 s (limit_req only).
    pub rate: u64,
    pub state: Arc<Mutex<S>>,
}

impl<S> Clone for Zone<S> {
    fn clone(&self) -> Self {
        Zone {
            name: self.name.clone(),
            key_text: self.key_text.clone(),
            key: self.key.clone(),
            size: self.size,
            rate: self.rate,
            state: Arc::clone(&self.state),
        }
    }
}

impl<S> Zone<S> {
    /// The state, locked (a thread that panicked while holding it left
    /// counters that are still consistent enough to go on with).
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every zone of a configuration.
#[derive(Debug, Default, Clone)]
pub struct Zones {
    pub limit_req: Vec<Zone<ReqZoneState>>,
    pub limit_conn: Vec<Zone<ConnZoneState>>,
}

impl Zones {
    /// Reads the `limit_req_zone` and `limit_conn_zone` lines of the http
    /// level (the configuration was checked: `nginx -t`'s errors are
    /// upgate-conf's).
    pub fn compile(dirs: &[&Directive], user: &UserVars) -> Result<Zones, CompileError> {
        let mut zones = Zones::default();
        for d in dirs {
            let kind = if d.is("limit_req_zone") {
                ZoneKind::LimitReq
            } else if d.is("limit_conn_zone") {
                ZoneKind::LimitConn
            } else {
                continue;
            };
            let Some(key_word) = d.args.first() else {
                return Err(CompileError::invalid(d, "invalid number of arguments"));
            };
            let key = variable::compile(&key_word.value, user)
                .map_err(|e| CompileError::template(key_word, e))?;
            let mut name = None;
            let mut size = 0;
            let mut rate = 1000;
            for a in &d.args[1..] {
                let v = a.value.as_slice();
                if let Some(z) = v.strip_prefix(b"zone=") {
                    let colon = z.iter().position(|&c| c == b':').ok_or_else(|| {
                        CompileError::at(a, format!("invalid zone size \"{}\"", a.text()))
                    })?;
                    size = crate::timeouts::parse_size(&z[colon + 1..]).ok_or_else(|| {
                        CompileError::at(a, format!("invalid zone size \"{}\"", a.text()))
                    })?;
                    name = Some(z[..colon].to_vec());
                } else if let Some(r) = v.strip_prefix(b"rate=") {
                    rate = parse_rate(r).ok_or_else(|| {
                        CompileError::at(a, format!("invalid rate \"{}\"", a.text()))
                    })?;
                }
            }
            let Some(name) = name else {
                return Err(CompileError::invalid(
                    d,
                    format!("\"{}\" must have \"zone\" parameter", d.name.text()),
                ));
            };
            match kind {
                ZoneKind::LimitReq => zones.limit_req.push(Zone {
                    state: Arc::new(Mutex::new(ReqZoneState::new(size))),
                    name,
                    key_text: key_word.value.clone(),
                    key,
                    size,
                    rate,
                }),
                ZoneKind::LimitConn => zones.limit_conn.push(Zone {
                    state: Arc::new(Mutex::new(ConnZoneState::new(size))),
                    name,
                    key_text: key_word.value.clone(),
                    key,
                    size,
                    rate: 0,
                }),
            }
        }
        Ok(zones)
    }

    /// The index of a zone by name.
    pub fn find(&self, kind: ZoneKind, name: &[u8]) -> Option<usize> {
        match kind {
            ZoneKind::LimitReq => self.limit_req.iter().position(|z| z.name == name),
            ZoneKind::LimitConn => self.limit_conn.iter().position(|z| z.name == name),
        }
    }

    /// Takes over the state of the running generation's zones that keep
    /// their name and size; the error is nginx's `[emerg]` for one whose
    /// key changed.
    pub fn adopt(&mut self, old: &Zones) -> Result<(), String> {
        adopt_list(&mut self.limit_req, &old.limit_req, ZoneKind::LimitReq)?;
        adopt_list(&mut self.limit_conn, &old.limit_conn, ZoneKind::LimitConn)
    }
}

fn adopt_list<S>(new: &mut [Zone<S>], old: &[Zone<S>], kind: ZoneKind) -> Result<(), String> {
    for zone in new {
        let Some(prev) = old
            .iter()
            .find(|o| o.name == zone.name && o.size == zone.size)
        else {
            continue;
        };
        if prev.key_text != zone.key_text {
            return Err(format!(
                "{} \"{}\" uses the \"{}\" key while previously it used the \"{}\" key",
                kind.directive(),
                String::from_utf8_lossy(&zone.name),
                String::from_utf8_lossy(&zone.key_text),
                String::from_utf8_lossy(&prev.key_text)
            ));
        }
        zone.state = Arc::clone(&prev.state);
    }
    Ok(())
}

/// `rate=Nr/s` or `Nr/m`, in requests per 1000 s (`ctx->rate`).
fn parse_rate(text: &[u8]) -> Option<u64> {
    let (digits, scale) = if let Some(d) = text.strip_suffix(b"r/s") {
        (d, 1)
    } else if let Some(d) = text.strip_suffix(b"r/m") {
        (d, 60)
    } else {
        (text, 1)
    };
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (n > 0).then(|| n * 1000 / scale)
}

/// The bytes a zone of `size` has for its nodes: the pages
/// `ngx_slab_init` leaves after the pool header and the page table.
pub(crate) fn usable_bytes(size: u64) -> u64 {
    // ngx_slab_pool_t, the slot and statistics arrays, and one
    // ngx_slab_page_t per page.
    let header = 200 + 9 * 24 + 9 * 32;
    let pages = size.saturating_sub(header) / (PAGE + 24);
    // the module's shared context and the log context take a slot of a
    // page each
    pages.saturating_sub(2) * PAGE
}

/// What the slab allocator takes for an allocation of `n` bytes: the
/// smallest power of two from 8 up, whole pages past half a page.
pub(crate) fn slab_cost(n: u64) -> u64 {
    if n > PAGE / 2 {
        n.div_ceil(PAGE) * PAGE
    } else {
        n.max(8).next_power_of_two()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate(b"2r/s"), Some(2000));
        assert_eq!(parse_rate(b"30r/m"), Some(500));
        assert_eq!(parse_rate(b"1r/m"), Some(16));
        assert_eq!(parse_rate(b"5"), Some(5000));
        assert_eq!(parse_rate(b"0r/s"), None);
        assert_eq!(parse_rate(b"xr/s"), None);
    }

    #[test]
    fn slab_sizes() {
        assert_eq!(slab_cost(84), 128);
        assert_eq!(slab_cost(128), 128);
        assert_eq!(slab_cost(3), 8);
        assert_eq!(slab_cost(3000), 4096);
        // a 1m zone keeps about 8,000 IPv4 states of 128 bytes
        let n = usable_bytes(1 << 20) / 128;
        assert!((7800..8200).contains(&n), "{n}");
    }
}
