//! The proxy module's checks (src/http/modules/ngx_http_proxy_module.c):
//! `proxy_pass` URLs, `proxy_set_header` values, cache zones.

use super::{Cx, Semantics};
use crate::ast::Directive;
use crate::context::BlockKind;
use crate::error::ConfError;
use crate::load::at_end;

impl Semantics {
    /// `ngx_http_proxy_pass`.
    pub(super) fn proxy_pass(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let Some(url) = d.args.first() else {
            return Ok(());
        };
        if super::script::has_variables(&url.value) {
            return self
                .use_script(url, false)
                .map_err(|e| super::relocate(e, d));
        }
        let text = url.text();
        let lower = text.to_ascii_lowercase();
        let (rest, default_port) = if lower.starts_with("http://") {
            (&text[7..], 80)
        } else if lower.starts_with("https://") {
            (&text[8..], 443)
        } else {
            return Err(at_end(d, "invalid URL prefix".into()));
        };
        let (authority, uri) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => match rest.find('?') {
                Some(q) => (&rest[..q], &rest[q..]),
                None => (rest, ""),
            },
        };
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'));
        let (host, port) = if authority.starts_with("unix:") {
            (authority.to_string(), None)
        } else {
            match super::upstream::split_host_port(authority, default_port) {
                Ok((host, port)) => (host, has_port.then_some(port)),
                Err(err) => return Err(at_end(d, format!("{err} in upstream \"{authority}\""))),
            }
        };
        self.add_implicit_upstream(&host, port, d.head_span(), d.end_line)?;
        let in_regex_or_named = match cx.context {
            BlockKind::LocationIf | BlockKind::LimitExcept => true,
            _ => self.current_location_is_regex_or_named(),
        };
        if in_regex_or_named && !uri.is_empty() {
            return Err(at_end(
                d,
                "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block".into(),
            ));
        }
        Ok(())
    }

    /// `proxy_set_header NAME VALUE`: the value is compiled when the
    /// location is merged.
    pub(super) fn proxy_set_header(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        self.merge_time_values(cx, d, 1, 2)
    }
}
