//! The generic handlers of src/core/ngx_conf_file.c (`ngx_conf_set_flag_slot`,
//! `_num_`, `_size_`, `_off_`, `_msec_`, `_sec_`, `_bufs_`, `_enum_`,
//! `_bitmask_`, `_str_`, ...) and src/http/ngx_http_script.c
//! (`ngx_http_set_complex_value_slot`), driven by the handler name the
//! directive table carries: their value checks and their `is duplicate`.

use rustc_hash::FxHashSet as HashSet;

use super::{Cx, Semantics, values};
use crate::ast::Directive;
use crate::context::BlockKind;
use crate::error::ConfError;
use crate::load::at_end;

/// The struct fields already set in one block (nginx's `NGX_CONF_UNSET`
/// test), keyed by the table's `struct.field` text.
#[derive(Debug, Default)]
pub(super) struct BlockSlots {
    pub kind: Option<BlockKind>,
    set: HashSet<&'static str>,
    /// Zones this block's `limit_req` / `limit_conn` already name (their
    /// `is duplicate` is per zone): (directive, zone index).
    pub limits: Vec<(&'static str, usize)>,
}

impl BlockSlots {
    pub fn new(kind: BlockKind) -> Self {
        BlockSlots {
            kind: Some(kind),
            set: HashSet::default(),
            limits: Vec::new(),
        }
    }
}

/// Directive-specific handlers that answer `is duplicate` when their
/// directive comes twice in one block (found by the string in nginx's
/// source; those whose test depends on the value, like `limit_req` zones or
/// `proxy_redirect`'s lists, are left out).
const CUSTOM_DUPLICATE_CHECKED: &[&str] = &[
    "ngx_event_connections",
    "ngx_event_use",
    "ngx_events_block",
    "ngx_http_auth_basic_user_file",
    "ngx_http_auth_request",
    "ngx_http_block",
    "ngx_http_core_directio",
    "ngx_http_core_internal",
    "ngx_http_core_keepalive",
    "ngx_http_core_limit_except",
    "ngx_http_core_open_file_cache",
    "ngx_http_core_resolver",
    "ngx_http_core_set_aio",
    "ngx_http_disable_symlinks",
    "ngx_http_fastcgi_cache",
    "ngx_http_fastcgi_cache_key",
    "ngx_http_fastcgi_pass",
    "ngx_http_fastcgi_store",
    "ngx_http_grpc_pass",
    "ngx_http_headers_expires",
    "ngx_http_log_open_file_cache",
    "ngx_http_memcached_pass",
    "ngx_http_proxy_cache",
    "ngx_http_proxy_cache_key",
    "ngx_http_proxy_pass",
    "ngx_http_proxy_ssl_password_file",
    "ngx_http_proxy_store",
    "ngx_http_scgi_cache",
    "ngx_http_scgi_cache_key",
    "ngx_http_scgi_pass",
    "ngx_http_scgi_store",
    "ngx_http_set_charset_slot",
    "ngx_http_ssl_password_file",
    "ngx_http_try_files",
    "ngx_http_upstream_bind_set_slot",
    "ngx_http_upstream_keepalive",
    "ngx_http_userid_expires",
    "ngx_http_userid_mark",
    "ngx_http_uwsgi_cache",
    "ngx_http_uwsgi_cache_key",
    "ngx_http_uwsgi_pass",
    "ngx_http_uwsgi_store",
    "ngx_mail_block",
    "ngx_set_cpu_affinity",
    "ngx_set_priority",
    "ngx_set_user",
    "ngx_set_worker_processes",
    "ngx_stream_block",
    "ngx_stream_proxy_pass",
    "ngx_stream_return",
];

/// Which duplicate rule a handler follows; the lists are searched for
/// every directive of a large configuration, so through sets built once.
fn duplicate_rule(handler: &'static str) -> (bool, bool) {
    use std::sync::LazyLock;
    static GENERIC: LazyLock<HashSet<&'static str>> =
        LazyLock::new(|| DUPLICATE_CHECKED.iter().copied().collect());
    static CUSTOM: LazyLock<HashSet<&'static str>> =
        LazyLock::new(|| CUSTOM_DUPLICATE_CHECKED.iter().copied().collect());
    (GENERIC.contains(handler), CUSTOM.contains(handler))
}

/// Handlers that refuse a second value for their field.
const DUPLICATE_CHECKED: &[&str] = &[
    "ngx_conf_set_flag_slot",
    "ngx_conf_set_str_slot",
    "ngx_conf_set_num_slot",
    "ngx_conf_set_size_slot",
    "ngx_conf_set_off_slot",
    "ngx_conf_set_msec_slot",
    "ngx_conf_set_sec_slot",
    "ngx_conf_set_bufs_slot",
    "ngx_conf_set_enum_slot",
    "ngx_conf_set_path_slot",
    "ngx_conf_set_access_slot",
    "ngx_http_set_complex_value_slot",
    "ngx_http_set_complex_value_zero_slot",
    "ngx_http_set_complex_value_size_slot",
    "ngx_stream_set_complex_value_slot",
    "ngx_stream_set_complex_value_zero_slot",
    "ngx_stream_set_complex_value_size_slot",
];

impl Semantics {
    /// Runs the generic slot handler named in the table, if the directive
    /// uses one.
    pub(super) fn slot(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let spec = cx.spec;
        let handler = spec.handler;
        let (generic_duplicate, custom_duplicate) = duplicate_rule(handler);
        if !spec.field.is_empty() && generic_duplicate {
            let main_conf = spec.conf.contains("MAIN_CONF");
            let block = if main_conf {
                self.blocks.iter_mut().rev().find(|b| {
                    matches!(
                        b.kind,
                        Some(BlockKind::Http | BlockKind::Stream | BlockKind::Mail)
                    )
                })
            } else {
                self.blocks.last_mut()
            };
            if let Some(block) = block
                && !block.set.insert(spec.field)
            {
                return Err(at_end(d, format!("\"{}\" directive is duplicate", d.name)));
            }
        }
        if custom_duplicate
            && let Some(block) = self.blocks.last_mut()
            && !block.set.insert(handler)
        {
            return Err(at_end(d, format!("\"{}\" directive is duplicate", d.name)));
        }
        if handler == "ngx_http_core_root"
            && let Some(block) = self.blocks.last_mut()
        {
            // ngx_http_core_root: one of root/alias per location.
            let other = if d.is("root") { "alias" } else { "root" };
            if block.set.contains(other) {
                return Err(at_end(
                    d,
                    format!(
                        "\"{}\" directive is duplicate, \"{other}\" directive was specified earlier",
                        d.name
                    ),
                ));
            }
            if !block
                .set
                .insert(if d.is("root") { "root" } else { "alias" })
            {
                return Err(at_end(d, format!("\"{}\" directive is duplicate", d.name)));
            }
        }
        let Some(value) = d.args.first() else {
            return Ok(());
        };
        let invalid = || at_end(d, format!("\"{}\" directive invalid value", d.name));
        match handler {
            "ngx_conf_set_flag_slot"
                if !(value.value.eq_ignore_ascii_case(b"on")
                    || value.value.eq_ignore_ascii_case(b"off")) =>
            {
                return Err(at_end(
                    d,
                    format!(
                        "invalid value \"{value}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                        d.name
                    ),
                ));
            }
            "ngx_conf_set_num_slot" => {
                let Some(n) = values::atoi(&value.value) else {
                    return Err(at_end(
                        d,
                        format!("\"{}\" directive invalid number", d.name),
                    ));
                };
                self.check_bounds(cx, d, n)?;
            }
            "ngx_conf_set_size_slot" => {
                let Some(n) = values::parse_size(&value.value) else {
                    return Err(invalid());
                };
                self.check_bounds(cx, d, n)?;
            }
            "ngx_conf_set_off_slot" if values::parse_offset(&value.value).is_none() => {
                return Err(invalid());
            }
            "ngx_conf_set_msec_slot" if values::parse_time(&value.value, false).is_none() => {
                return Err(invalid());
            }
            "ngx_conf_set_sec_slot" if values::parse_time(&value.value, true).is_none() => {
                return Err(invalid());
            }
            "ngx_conf_set_bufs_slot" => {
                let num = values::atoi(&value.value);
                let size = d.args.get(1).and_then(|s| values::parse_size(&s.value));
                if num.is_none_or(|n| n == 0) || size.is_none_or(|s| s == 0) {
                    return Err(invalid());
                }
            }
            "ngx_conf_set_enum_slot"
                if !spec
                    .post
                    .iter()
                    .any(|v| value.value.eq_ignore_ascii_case(v.as_bytes())) =>
            {
                return Err(at_end(d, format!("invalid value \"{value}\"")));
            }
            "ngx_conf_set_bitmask_slot" => {
                let mut seen = HashSet::default();
                for v in &d.args {
                    let Some(known) = spec
                        .post
                        .iter()
                        .find(|p| v.value.eq_ignore_ascii_case(p.as_bytes()))
                    else {
                        return Err(at_end(d, format!("invalid value \"{v}\"")));
                    };
                    if !seen.insert(*known) {
                        cx.warnings.push(ConfError::warn(
                            format!("duplicate value \"{v}\""),
                            v.span,
                            d.end_line,
                        ));
                    }
                }
            }
            "ngx_http_set_complex_value_slot"
            | "ngx_http_set_complex_value_zero_slot"
            | "ngx_http_set_complex_value_size_slot" => {
                self.complex_values(cx, d, 0..1)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// `ngx_conf_check_num_bounds`.
    fn check_bounds(&self, cx: &Cx<'_>, d: &Directive, n: i64) -> Result<(), ConfError> {
        let Some((low, high)) = cx.spec.bounds else {
            return Ok(());
        };
        if high == -1 {
            if n < low {
                return Err(at_end(
                    d,
                    format!("value must be equal to or greater than {low}"),
                ));
            }
        } else if n < low || n > high {
            return Err(at_end(d, format!("value must be between {low} and {high}")));
        }
        Ok(())
    }

    /// Marks `key` as set in the current block; false if it already was.
    pub(super) fn mark_in_block(&mut self, key: &'static str) -> bool {
        self.blocks.last_mut().is_none_or(|b| b.set.insert(key))
    }

    pub(super) fn is_marked_in_block(&self, key: &'static str) -> bool {
        self.blocks.last().is_some_and(|b| b.set.contains(key))
    }

    /// Opens the slot scope of a block.
    pub(super) fn push_block(&mut self, kind: BlockKind) {
        self.blocks.push(BlockSlots::new(kind));
    }
}
