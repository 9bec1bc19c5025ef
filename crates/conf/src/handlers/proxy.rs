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
        let has_uri = self.pass_url(cx, d)?;
        let in_regex_or_named = match cx.context {
            BlockKind::LocationIf | BlockKind::LimitExcept => true,
            _ => self.current_location_is_regex_or_named(),
        };
        if in_regex_or_named && has_uri {
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
