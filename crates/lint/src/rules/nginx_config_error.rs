//! `nginx-config-error` (error; warning for nginx's own warnings) and
//! `unknown-variable` (error): what `nginx -t` itself reports, as findings,
//! so that one run shows everything. The linter still lints what was read:
//! the tree is complete up to the error (for an unknown variable, whole).
//! `unknown "connection_upgrade" variable` is left to
//! websocket-missing-connection-upgrade-map, which says where and fixes it.

use upgate_conf::{ConfError, Span};

use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "nginx-config-error";
pub const UNKNOWN_VARIABLE: &str = "unknown-variable";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if let Some(error) = &cx.loaded.error
        && unknown_variable(error).is_none()
    {
        {
            out.push(
                Finding::new(
                    ID,
                    Severity::Error,
                    span_of(cx, error),
                    format!("nginx -t fails: {}", error.message),
                )
                .help(
                    error
                        .help
                        .clone()
                        .unwrap_or_else(|| "nginx refuses to start with this configuration".into()),
                ),
            );
        }
    }
    for warning in &cx.loaded.warnings {
        out.push(Finding::new(
            ID,
            Severity::Warning,
            span_of(cx, warning),
            format!("nginx -t warns: {}", warning.message),
        ));
    }
}

pub fn check_unknown_variable(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(error) = &cx.loaded.error else {
        return;
    };
    let Some(name) = unknown_variable(error) else {
        return;
    };
    if name.eq_ignore_ascii_case("connection_upgrade") {
        return;
    }
    out.push(
        Finding::new(
            UNKNOWN_VARIABLE,
            Severity::Error,
            span_of(cx, error),
            format!(
                "${name} is used but nothing defines it; nginx -t fails with `{}` and names no file or line",
                error.message
            ),
        )
        .help(
            "define it with `map`, `set` or `geo`, or fix the spelling; if another file defines it, lint the nginx.conf that includes both",
        ),
    );
}

/// `unknown "NAME" variable` -> NAME.
fn unknown_variable(error: &ConfError) -> Option<&str> {
    error
        .message
        .strip_prefix("unknown \"")?
        .strip_suffix("\" variable")
}

fn span_of(cx: &Cx<'_>, error: &ConfError) -> Span {
    match error.span() {
        Some(span) if span.file.index() < cx.config.sources.len() => span,
        _ => Span::new(cx.user_main(), 0, 0, 1),
    }
}
