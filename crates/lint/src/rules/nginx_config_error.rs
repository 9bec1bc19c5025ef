//! `nginx-config-error` (error; warning for nginx's own warnings): what
//! `nginx -t` itself reports, as findings, so that one run shows
//! everything: the linter reads on past each error (a missing include, an
//! unknown directive, a bad value), so there may be several, and every rule
//! still runs on what was read. `host not found in upstream` on a
//! `proxy_pass` is left to proxy-pass-unknown-upstream, which names the
//! upstream probably meant. `unknown "NAME"
//! variable` is left to unknown-variable, which reports every use with its
//! place (and `$connection_upgrade` to
//! websocket-missing-connection-upgrade-map, which also fixes it).

use upgate_conf::{ConfError, Span};

use crate::rule::Severity;
use crate::{Cx, Finding};

pub const ID: &str = "nginx-config-error";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let errors = cx.loaded.error.iter().chain(&cx.loaded.later_errors);
    for error in errors.filter(|e| unknown_variable(e).is_none()) {
        let span = span_of(cx, error);
        if error.message.starts_with("host not found in upstream ") && on_proxy_pass(cx, span) {
            // proxy-pass-unknown-upstream reports it, with the name meant.
            continue;
        }
        let help = match cx.loaded.unread.iter().find(|u| u.span == span) {
            Some(unread) => {
                let mut help = format!(
                    "{} was not read: the findings it may change say so",
                    unread.path.display()
                );
                if let Some(hint) = crate::unseen::root_hint(cx, unread) {
                    help = format!("{help}; {hint}");
                }
                help
            }
            None => error
                .help
                .clone()
                .unwrap_or_else(|| "nginx refuses to start with this configuration".into()),
        };
        out.push(
            Finding::new(
                ID,
                Severity::Error,
                span,
                if error.upgate_only {
                    format!(
                        "upgate -t fails (nginx skips the comment): {}",
                        error.message
                    )
                } else {
                    format!("nginx -t fails: {}", error.message)
                },
            )
            .help(help),
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

/// True when the span is a `proxy_pass` directive's.
fn on_proxy_pass(cx: &Cx<'_>, span: Span) -> bool {
    cx.proxied.iter().any(|p| {
        let head = p.proxy_pass.head_span();
        head.file == span.file && head.start <= span.start && span.start <= head.end
    })
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
