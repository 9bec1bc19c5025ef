//! Shared memory zones (`ngx_shared_memory_add` in src/core/ngx_cycle.c) and
//! the directives that declare or use them: `limit_req_zone` / `limit_req`,
//! `limit_conn_zone` / `limit_conn` (http and stream), `zone` in upstream
//! blocks, `*_cache_path keys_zone=` / `*_cache`, `ssl_session_cache
//! shared:` and `ssl_ocsp_cache shared:`.
//!
//! A use adds the zone with size 0; a declaration gives it a size. nginx
//! checks while reading (`already declared for a different use`, `the size
//! N ... conflicts`, `is already bound to key`, `duplicate zone`) and, when
//! the cycle creates the zones after parsing, fails on one that no
//! directive gave a size: `zero size shared memory zone "NAME"`, logged
//! without a file position.

use super::{Cx, Semantics, values};
use crate::ast::{Directive, Word};
use crate::error::{ConfError, Phase};
use crate::load::at_end;
use crate::span::Span;

/// `ngx_pagesize` on the reference machines (x86-64 Linux).
const PAGE_SIZE: i64 = 4096;

#[derive(Debug, Default)]
pub(super) struct ZoneState {
    /// In the order nginx adds them to `cycle->shared_memory`.
    zones: Vec<Zone>,
    /// `proxy_cache NAME` and the like: (module, directive, zone index,
    /// at http level).
    cache_uses: Vec<(u16, String, usize, bool)>,
    /// `ngx_add_path`'s list: (full path, file, line).
    paths: Vec<(String, String, u32)>,
    /// (server number, directive): a `proxy_cache` of the server's own.
    set_in_server: Vec<(usize, String)>,
}

#[derive(Debug)]
struct Zone {
    name: Vec<u8>,
    size: i64,
    /// The module pointer nginx passes as the tag.
    tag: u32,
    /// `shm_zone->data`: set by the declaring directive (the key of a
    /// limit zone, the cache of a keys zone).
    data: Option<String>,
    /// The first directive that named the zone (for the caret only).
    first: Span,
}

/// The tag of `ssl_ocsp_cache` (`&ngx_http_ssl_module_ctx`, not the module).
const OCSP_TAG: u32 = 0x1_0000;

impl Semantics {
    /// The zone directives, by nginx handler; `None` when `d` is none.
    pub(super) fn zone_directive(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Option<Result<(), ConfError>> {
        let tag = u32::from(cx.spec.module);
        let result = match cx.spec.handler {
            "ngx_http_limit_req_zone"
            | "ngx_http_limit_conn_zone"
            | "ngx_stream_limit_conn_zone" => self
                .complex_values(cx, d, 0..1)
                .and_then(|()| self.limit_zone(d, tag)),
            "ngx_http_limit_req" => self.limit_req(d, tag),
            "ngx_http_limit_conn" | "ngx_stream_limit_conn" => self.limit_conn(d, tag),
            "ngx_http_upstream_zone" | "ngx_stream_upstream_zone" => self.upstream_zone(d, tag),
            "ngx_http_ssl_ocsp_cache" => self.ocsp_cache(d),
            "ngx_http_file_cache_set_slot" => self.cache_path(cx, d, tag),
            "ngx_http_proxy_cache"
            | "ngx_http_fastcgi_cache"
            | "ngx_http_scgi_cache"
            | "ngx_http_uwsgi_cache" => self.cache_use(cx, d, tag),
            _ => return None,
        };
        Some(result)
    }

    /// `ngx_shared_memory_add`: returns the zone's index.
    pub(super) fn shm_add(
        &mut self,
        d: &Directive,
        name: &[u8],
        size: i64,
        tag: u32,
    ) -> Result<usize, ConfError> {
        let shown = String::from_utf8_lossy(name);
        if let Some(i) = self.zones.zones.iter().position(|z| z.name == name) {
            let zone = &mut self.zones.zones[i];
            if zone.tag != tag {
                return Err(at_end(
                    d,
                    format!(
                        "the shared memory zone \"{shown}\" is already declared for a different use"
                    ),
                ));
            }
            if zone.size == 0 {
                zone.size = size;
            }
            if size != 0 && size != zone.size {
                return Err(at_end(
                    d,
                    format!(
                        "the size {size} of shared memory zone \"{shown}\" conflicts with already declared size {}",
                        zone.size
                    ),
                ));
            }
            return Ok(i);
        }
        self.zones.zones.push(Zone {
            name: name.to_vec(),
            size,
            tag,
            data: None,
            first: d.head_span(),
        });
        Ok(self.zones.zones.len() - 1)
    }

    /// `ngx_ssl_session_cache` / `ssl_ocsp_cache`'s `shared:NAME:SIZE`,
    /// once its value passed the directive's own checks.
    pub(super) fn ssl_shared_zone(
        &mut self,
        d: &Directive,
        name: &[u8],
        size: i64,
        ocsp: bool,
        module: u16,
    ) -> Result<(), ConfError> {
        let tag = if ocsp { OCSP_TAG } else { u32::from(module) };
        self.shm_add(d, name, size, tag).map(|_| ())
    }

    /// `ngx_http_ssl_ocsp_cache`: `off` or `shared:NAME:SIZE`.
    fn ocsp_cache(&mut self, d: &Directive) -> Result<(), ConfError> {
        let Some(value) = d.args.first() else {
            return Ok(());
        };
        if value.is("off") {
            return Ok(());
        }
        let invalid = || at_end(d, format!("invalid OCSP cache \"{value}\""));
        let rest = value.value.strip_prefix(b"shared:").ok_or_else(invalid)?;
        let colon = rest.iter().position(|&b| b == b':').ok_or_else(invalid)?;
        if colon == 0 {
            return Err(invalid());
        }
        let size = values::parse_size(&rest[colon + 1..]).ok_or_else(invalid)?;
        if size < 8 * PAGE_SIZE {
            return Err(at_end(d, format!("OCSP cache \"{value}\" is too small")));
        }
        self.ssl_shared_zone(d, &rest[..colon], size, true, 0)
    }

    /// `ngx_http_limit_req_zone`, `ngx_http_limit_conn_zone`: `KEY
    /// zone=NAME:SIZE [rate=R]`.
    fn limit_zone(&mut self, d: &Directive, tag: u32) -> Result<(), ConfError> {
        let is_req = d.is("limit_req_zone");
        let mut zone: Option<(Vec<u8>, i64)> = None;
        for arg in d.args.iter().skip(1) {
            let v = arg.value.as_slice();
            let text = arg.text();
            if let Some(rest) = v.strip_prefix(b"zone=") {
                let Some(colon) = rest.iter().position(|&b| b == b':') else {
                    return Err(at_end(d, format!("invalid zone size \"{text}\"")));
                };
                let Some(size) = values::parse_size(&rest[colon + 1..]) else {
                    return Err(at_end(d, format!("invalid zone size \"{text}\"")));
                };
                if size < 8 * PAGE_SIZE {
                    return Err(at_end(d, format!("zone \"{text}\" is too small")));
                }
                zone = Some((rest[..colon].to_vec(), size));
                continue;
            }
            if is_req && let Some(rate) = v.strip_prefix(b"rate=") {
                let digits = rate
                    .strip_suffix(b"r/s")
                    .or_else(|| rate.strip_suffix(b"r/m"))
                    .unwrap_or(rate);
                if values::atoi(digits).is_none_or(|n| n <= 0) {
                    return Err(at_end(d, format!("invalid rate \"{text}\"")));
                }
                continue;
            }
            return Err(at_end(d, format!("invalid parameter \"{text}\"")));
        }
        let Some((name, size)) = zone.filter(|(name, _)| !name.is_empty()) else {
            return Err(at_end(
                d,
                format!("\"{}\" must have \"zone\" parameter", d.name),
            ));
        };
        let i = self.shm_add(d, &name, size, tag)?;
        let key = d.args.first().map(Word::text).unwrap_or_default();
        let zone = &mut self.zones.zones[i];
        if let Some(bound) = &zone.data {
            return Err(at_end(
                d,
                format!(
                    "{} \"{}\" is already bound to key \"{bound}\"",
                    d.name,
                    String::from_utf8_lossy(&name)
                ),
            ));
        }
        zone.data = Some(key.into_owned());
        Ok(())
    }

    /// `ngx_http_limit_req`: `zone=NAME [burst=N] [delay=N | nodelay]`.
    fn limit_req(&mut self, d: &Directive, tag: u32) -> Result<(), ConfError> {
        let mut zone = None;
        for arg in &d.args {
            let v = arg.value.as_slice();
            let text = arg.text();
            if let Some(name) = v.strip_prefix(b"zone=") {
                zone = Some(self.shm_add(d, name, 0, tag)?);
            } else if let Some(n) = v.strip_prefix(b"burst=") {
                if values::atoi(n).is_none_or(|n| n <= 0) {
                    return Err(at_end(d, format!("invalid burst value \"{text}\"")));
                }
            } else if let Some(n) = v.strip_prefix(b"delay=") {
                if values::atoi(n).is_none_or(|n| n <= 0) {
                    return Err(at_end(d, format!("invalid delay value \"{text}\"")));
                }
            } else if v != b"nodelay" {
                return Err(at_end(d, format!("invalid parameter \"{text}\"")));
            }
        }
        let Some(zone) = zone else {
            return Err(at_end(
                d,
                format!("\"{}\" must have \"zone\" parameter", d.name),
            ));
        };
        self.limit_once_per_block(d, "limit_req", zone)
    }

    /// `ngx_http_limit_conn`: `ZONE NUMBER`.
    fn limit_conn(&mut self, d: &Directive, tag: u32) -> Result<(), ConfError> {
        let [name, number] = d.args.as_slice() else {
            return Ok(());
        };
        let zone = self.shm_add(d, &name.value, 0, tag)?;
        self.limit_once_per_block(d, "limit_conn", zone)?;
        match values::atoi(&number.value) {
            Some(n) if n > 65535 => Err(at_end(d, "connection limit must be less 65536".into())),
            Some(n) if n > 0 => Ok(()),
            _ => Err(at_end(
                d,
                format!("invalid number of connections \"{number}\""),
            )),
        }
    }

    /// A zone may be limited once per block: `is duplicate`.
    fn limit_once_per_block(
        &mut self,
        d: &Directive,
        directive: &'static str,
        zone: usize,
    ) -> Result<(), ConfError> {
        let Some(block) = self.blocks.last_mut() else {
            return Ok(());
        };
        if block.limits.contains(&(directive, zone)) {
            return Err(at_end(d, format!("\"{}\" directive is duplicate", d.name)));
        }
        block.limits.push((directive, zone));
        Ok(())
    }

    /// `ngx_http_upstream_zone`: `zone NAME [SIZE]` in an upstream block.
    fn upstream_zone(&mut self, d: &Directive, tag: u32) -> Result<(), ConfError> {
        let Some(name) = d.args.first() else {
            return Ok(());
        };
        if name.value.is_empty() {
            return Err(at_end(d, format!("invalid zone name \"{name}\"")));
        }
        let size = match d.args.get(1) {
            Some(size) => {
                let Some(n) = values::parse_size(&size.value) else {
                    return Err(at_end(d, format!("invalid zone size \"{size}\"")));
                };
                if n < 8 * PAGE_SIZE {
                    return Err(at_end(d, format!("zone \"{name}\" is too small")));
                }
                n
            }
            None => 0,
        };
        self.shm_add(d, &name.value, size, tag).map(|_| ())
    }

    /// `ngx_http_file_cache_set_slot`: `PATH [levels=] keys_zone=NAME:SIZE
    /// [...]`; then `ngx_add_path` and the zone.
    fn cache_path(&mut self, cx: &mut Cx<'_>, d: &Directive, tag: u32) -> Result<(), ConfError> {
        let Some(path) = d.args.first() else {
            return Ok(());
        };
        let mut zone: Option<(Vec<u8>, i64)> = None;
        for arg in d.args.iter().skip(1) {
            let v = arg.value.as_slice();
            let bad = |what: &str| Err(at_end(d, format!("invalid {what} value \"{arg}\"")));
            if let Some(levels) = v.strip_prefix(b"levels=") {
                if !valid_levels(levels) {
                    return Err(at_end(d, format!("invalid \"levels\" \"{arg}\"")));
                }
            } else if let Some(flag) = v.strip_prefix(b"use_temp_path=") {
                if flag != b"on" && flag != b"off" {
                    return Err(at_end(
                        d,
                        format!(
                            "invalid use_temp_path value \"{arg}\", it must be \"on\" or \"off\""
                        ),
                    ));
                }
            } else if let Some(rest) = v.strip_prefix(b"keys_zone=") {
                let invalid = || at_end(d, format!("invalid keys zone size \"{arg}\""));
                let colon = rest.iter().position(|&b| b == b':').ok_or_else(invalid)?;
                let size = values::parse_size(&rest[colon + 1..]).ok_or_else(invalid)?;
                if size < 2 * PAGE_SIZE {
                    return Err(at_end(d, format!("keys zone \"{arg}\" is too small")));
                }
                zone = Some((rest[..colon].to_vec(), size));
            } else if let Some(t) = v.strip_prefix(b"inactive=") {
                if values::parse_time(t, true).is_none() {
                    return bad("inactive");
                }
            } else if let Some(n) = v.strip_prefix(b"max_size=") {
                if values::parse_offset(n).is_none() {
                    return bad("max_size");
                }
            } else if let Some(n) = v.strip_prefix(b"min_free=") {
                if values::parse_offset(n).is_none() {
                    return bad("min_free");
                }
            } else if let Some(n) = v.strip_prefix(b"loader_files=") {
                if values::atoi(n).is_none() {
                    return bad("loader_files");
                }
            } else if let Some(n) = v.strip_prefix(b"manager_files=") {
                if values::atoi(n).is_none() {
                    return bad("manager_files");
                }
            } else if let Some((key, t)) = [
                "loader_sleep=",
                "loader_threshold=",
                "manager_sleep=",
                "manager_threshold=",
            ]
            .iter()
            .find_map(|k| v.strip_prefix(k.as_bytes()).map(|t| (k, t)))
            {
                if values::parse_time(t, false).is_none() {
                    return bad(key.trim_end_matches('='));
                }
            } else {
                return Err(at_end(d, format!("invalid parameter \"{arg}\"")));
            }
        }
        let Some((name, size)) = zone.filter(|(name, size)| !name.is_empty() && *size != 0) else {
            return Err(at_end(
                d,
                format!("\"{}\" must have \"keys_zone\" parameter", d.name),
            ));
        };
        // ngx_add_path: a path serves one cache.
        let mut text = path.text().into_owned();
        if text.ends_with('/') {
            text.pop();
        }
        let full = if text.starts_with('/') {
            text
        } else {
            let prefix = self.prefix.display().to_string();
            format!("{}/{text}", prefix.trim_end_matches('/'))
        };
        let here = (
            cx.sources.path(d.name.span.file).display().to_string(),
            d.end_line,
        );
        if let Some((_, file, line)) = self.zones.paths.iter().find(|(p, _, _)| *p == full) {
            return Err(at_end(
                d,
                format!("the same path name \"{full}\" used in {file}:{line} and"),
            ));
        }
        self.zones.paths.push((full, here.0, here.1));
        let i = self.shm_add(d, &name, size, tag)?;
        let zone = &mut self.zones.zones[i];
        if zone.data.is_some() {
            return Err(at_end(
                d,
                format!("duplicate zone \"{}\"", String::from_utf8_lossy(&name)),
            ));
        }
        zone.data = Some(String::new());
        Ok(())
    }

    /// `proxy_cache NAME` (and fastcgi, scgi, uwsgi): `off`, a script, or a
    /// zone added with size 0; whether a `*_cache_path` declared it is
    /// checked when locations are merged.
    fn cache_use(&mut self, cx: &mut Cx<'_>, d: &Directive, tag: u32) -> Result<(), ConfError> {
        let Some(zone) = d.args.first() else {
            return Ok(());
        };
        if cx.context == crate::context::BlockKind::Server {
            let server = self.server_count();
            self.zones
                .set_in_server
                .push((server, d.name.text().into_owned()));
        }
        if zone.is("off") {
            return Ok(());
        }
        if super::script::has_variables(&zone.value) {
            return self.complex_values(cx, d, 0..);
        }
        let i = self.shm_add(d, &zone.value, 0, tag)?;
        let http_level = cx.context == crate::context::BlockKind::Http;
        self.zones
            .cache_uses
            .push((cx.spec.module, d.name.text().into_owned(), i, http_level));
        Ok(())
    }

    /// `ngx_http_*_merge_loc_conf`: `"proxy_cache" zone "NAME" is unknown`
    /// when no `*_cache_path` declared it; nginx reports it at the line
    /// where the http block ends, modules in their order. A use at http
    /// level is only checked where a server inherits it: with no server (or
    /// every server setting its own), the zone stays without a size and the
    /// cycle fails on that instead.
    pub(super) fn check_cache_zones(&mut self, close: Span) -> Result<(), ConfError> {
        let mut uses = std::mem::take(&mut self.zones.cache_uses);
        uses.sort_by_key(|(module, _, _, _)| *module);
        let servers = self.server_count();
        for (_, directive, i, http_level) in &uses {
            let inherited = (1..=servers).any(|n| {
                !self
                    .zones
                    .set_in_server
                    .iter()
                    .any(|(s, name)| *s == n && name == directive)
            });
            if *http_level && !inherited {
                continue;
            }
            let zone = &self.zones.zones[*i];
            if zone.data.is_none() {
                let name = String::from_utf8_lossy(&zone.name);
                return Err(ConfError::emerg(
                    format!("\"{directive}\" zone \"{name}\" is unknown"),
                    close,
                    close.line,
                )
                .with_help(format!(
                    "declare it with {directive}_path ... keys_zone={name}:10m (used at line {})",
                    zone.first.line
                )));
            }
        }
        Ok(())
    }

    /// `ngx_init_cycle`: every zone must have a size by now.
    pub(super) fn check_zone_sizes(&self) -> Result<(), ConfError> {
        match self.zones.zones.iter().find(|z| z.size == 0) {
            Some(zone) => {
                let name = String::from_utf8_lossy(&zone.name);
                Err(ConfError::unplaced(
                    format!("zero size shared memory zone \"{name}\""),
                    Some(zone.first),
                )
                .in_phase(Phase::Init)
                .with_help(format!(
                    "\"{name}\" is used but no directive declares its size (limit_req_zone, limit_conn_zone, a zone size in upstream, keys_zone=NAME:SIZE)"
                )))
            }
            None => Ok(()),
        }
    }
}

/// The `levels=` of a cache path: up to three levels of 1 or 2, by `:`.
fn valid_levels(levels: &[u8]) -> bool {
    let mut p = 0;
    let mut n = 0;
    while n < 3 && p < levels.len() {
        if !matches!(levels[p], b'1' | b'2') {
            return false;
        }
        p += 1;
        if p == levels.len() {
            return true;
        }
        let sep = levels[p];
        p += 1;
        if sep == b':' && n < 2 && p < levels.len() {
            n += 1;
            continue;
        }
        return false;
    }
    true
}
