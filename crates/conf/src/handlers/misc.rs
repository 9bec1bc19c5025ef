//! Value checks of handlers that are not generic slots but matter for
//! configs in the wild: `error_page`, `keepalive_timeout`,
//! `worker_connections`, `ssl_session_cache`, `proxy_redirect`, the
//! `*_param` directives and `charset_map` lines.

use super::{Cx, Semantics, values};
use crate::ast::Directive;
use crate::error::ConfError;
use crate::load::at_end;

impl Semantics {
    /// `ngx_http_core_error_page`.
    pub(super) fn error_page(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let n = d.args.len();
        if n < 2 {
            return Ok(());
        }
        let mut codes_end = n - 1;
        let overwrite = &d.args[n - 2];
        if overwrite.value.first() == Some(&b'=') {
            if n - 2 == 0 {
                return Err(at_end(d, format!("invalid value \"{overwrite}\"")));
            }
            if overwrite.value.len() > 1 && values::atoi(&overwrite.value[1..]).is_none() {
                return Err(at_end(d, format!("invalid value \"{overwrite}\"")));
            }
            codes_end = n - 2;
        }
        self.complex_values(cx, d, n - 1..)?;
        for code in &d.args[..codes_end] {
            match values::atoi(&code.value) {
                None | Some(499) => return Err(at_end(d, format!("invalid value \"{code}\""))),
                Some(status) if !(300..=599).contains(&status) => {
                    return Err(at_end(
                        d,
                        format!("value \"{code}\" must be between 300 and 599"),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// `ngx_http_core_keepalive`: `keepalive_timeout TIMEOUT [HEADER_TIMEOUT]`.
    pub(super) fn keepalive_timeout(&mut self, d: &Directive) -> Result<(), ConfError> {
        let invalid = || at_end(d, format!("\"{}\" directive invalid value", d.name));
        if let Some(timeout) = d.args.first()
            && values::parse_time(&timeout.value, false).is_none()
        {
            return Err(invalid());
        }
        if let Some(header) = d.args.get(1)
            && values::parse_time(&header.value, true).is_none()
        {
            return Err(invalid());
        }
        Ok(())
    }

    /// `ngx_event_connections`.
    pub(super) fn worker_connections(&mut self, d: &Directive) -> Result<(), ConfError> {
        match d.args.first() {
            Some(n) if values::atoi(&n.value).is_none() => {
                Err(at_end(d, format!("invalid number \"{n}\"")))
            }
            _ => Ok(()),
        }
    }

    /// `ngx_http_ssl_session_cache` (and stream's, mail's): each value is
    /// checked, a `shared:NAME:SIZE` adds its zone at once.
    pub(super) fn ssl_session_cache(
        &mut self,
        d: &Directive,
        module: u16,
    ) -> Result<(), ConfError> {
        for arg in &d.args {
            let v = arg.text();
            let invalid = || at_end(d, format!("invalid session cache \"{v}\""));
            match v.as_ref() {
                "off" | "none" | "builtin" => {}
                v if v.len() > 8 && v.starts_with("builtin:") => {
                    if values::atoi(&v.as_bytes()[8..]).is_none() {
                        return Err(invalid());
                    }
                }
                v if v.len() > 7 && v.starts_with("shared:") => {
                    let Some((name, size)) = v[7..].split_once(':').filter(|(n, _)| !n.is_empty())
                    else {
                        return Err(invalid());
                    };
                    let Some(size) = values::parse_size(size.as_bytes()) else {
                        return Err(invalid());
                    };
                    // 8 pages of 4 KB.
                    if size < 8 * 4096 {
                        return Err(at_end(d, format!("session cache \"{v}\" is too small")));
                    }
                    self.ssl_shared_zone(d, name.as_bytes(), size, false, module)?;
                }
                _ => return Err(invalid()),
            }
        }
        Ok(())
    }

    /// `ngx_http_proxy_redirect`: one argument must be `off` or `default`
    /// (case-sensitive); two are a rewrite whose replacement may hold
    /// variables.
    pub(super) fn proxy_redirect(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        // After `off` nothing more may follow; `off` may not follow others.
        let duplicate = || at_end(d, format!("\"{}\" directive is duplicate", d.name));
        if self.is_marked_in_block("proxy_redirect off") {
            return Err(duplicate());
        }
        if d.args.len() == 1 && d.args[0].is("off") {
            if self.is_marked_in_block("proxy_redirect") {
                return Err(duplicate());
            }
            self.mark_in_block("proxy_redirect off");
            return Ok(());
        }
        self.mark_in_block("proxy_redirect");
        match d.args.as_slice() {
            [one] if !one.is("off") && !one.is("default") => {
                Err(at_end(d, format!("invalid parameter \"{one}\"")))
            }
            [_, _] => self.complex_values(cx, d, 1..),
            _ => Ok(()),
        }
    }

    /// `fastcgi_param`, `scgi_param`, `uwsgi_param`: `NAME VALUE
    /// [if_not_empty]` (`ngx_http_upstream_param_set_slot`).
    pub(super) fn upstream_param(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        if let Some(flag) = d.args.get(2)
            && !flag.is("if_not_empty")
        {
            return Err(at_end(d, format!("invalid parameter \"{flag}\"")));
        }
        self.merge_time_values(cx, d, 1, 2)
    }

    /// A line of `charset_map SRC DST { ... }` (`ngx_http_charset_map`).
    pub(super) fn charset_map_entry(
        &mut self,
        d: &Directive,
        to_utf8: bool,
    ) -> Result<(), ConfError> {
        let [src, dst] = [Some(&d.name), d.args.first()];
        let (Some(src), Some(dst)) = (src, dst) else {
            return Err(at_end(d, "invalid parameters number".into()));
        };
        if d.args.len() != 1 {
            return Err(at_end(d, "invalid parameters number".into()));
        }
        if hex(&src.value).is_none_or(|v| v > 255) {
            return Err(at_end(d, format!("invalid value \"{src}\"")));
        }
        let dst_ok = if to_utf8 {
            let bytes: Option<Vec<u8>> = dst
                .value
                .chunks(2)
                .map(|pair| {
                    if pair.len() == 2 {
                        hex(pair).and_then(|v| u8::try_from(v).ok())
                    } else {
                        None
                    }
                })
                .collect();
            bytes.is_some_and(|b| {
                std::str::from_utf8(&b)
                    .ok()
                    .and_then(|s| s.chars().next())
                    .is_some_and(|c| u32::from(c) <= 0xffff)
            })
        } else {
            hex(&dst.value).is_some_and(|v| v <= 255)
        };
        if !dst_ok {
            return Err(at_end(d, format!("invalid value \"{dst}\"")));
        }
        Ok(())
    }
}

/// `ngx_hextoi`.
fn hex(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    for &c in s {
        let digit = char::from(c).to_digit(16)?;
        value = value.checked_mul(16)?.checked_add(digit)?;
    }
    Some(value)
}
