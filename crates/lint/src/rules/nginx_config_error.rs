//! `nginx-config-error` (error; warning for nginx's own warnings): what
//! `nginx -t` itself reports, as findings, so that one run shows
//! everything. The linter still lints what was read: the tree is complete
//! up to the error (for an unknown variable, whole). `unknown "NAME"
//! variable` is left to unknown-variable, which reports every use with its
//! place (and `$connection_upgrade` to
//! websocket-missing-connection-upgrade-map, which also fixes it).

use upgate_conf::{ConfError, Span};

use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "nginx-config-error";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if let Some(error) = &cx.loaded.error
        && unknown_variable(error).is_none()
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
    for warning in &cx.loaded.warnings {
        out.push(Finding::new(
            ID,
            Severity::Warning,
            span_of(cx, warning),
            format!("nginx -t warns: {}", warning.message),
        ));
    }
}

/// `unknown "NAME" variable` -> NAME.
pub fn unknown_variable(error: &ConfError) -> Option<&str> {
    error
        .message
        .strip_prefix("unknown \"")?
        .strip_suffix("\" variable")
}

/// Where an error points, or the start of the user's file when nginx gives
/// no place.
pub fn span_of(cx: &Cx<'_>, error: &ConfError) -> Span {
    match error.span() {
        Some(span) if span.file.index() < cx.config.sources.len() => span,
        _ => Span::new(cx.user_main(), 0, 0, 1),
    }
}
