//! A finding: which rule, how bad, where (the span of the offending
//! directive, in the file where that directive lives across includes), what
//! to do, and, where it is certain, the edits that fix it.

use upgate_conf::Span;

use crate::fix::Fix;
use crate::rule::Severity;

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's stable id (`websocket-missing-upgrade-header`).
    pub rule: &'static str,
    /// Usually the rule's severity; a few rules raise or lower it when the
    /// consequence differs (each rule's page says when).
    pub severity: Severity,
    pub message: String,
    /// The offending directive (its name and arguments).
    pub span: Span,
    /// Other places that explain the finding ("set here", "inherited from").
    pub related: Vec<Related>,
    /// Advice beyond the message.
    pub help: Option<String>,
    /// Edits that fix it, only when the fix is certain.
    pub fix: Option<Fix>,
}

/// A secondary location with its own short message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub span: Span,
    pub message: String,
}

impl Finding {
    pub fn new(rule: &'static str, severity: Severity, span: Span, message: String) -> Self {
        Finding {
            rule,
            severity,
            message,
            span,
            related: Vec::new(),
            help: None,
            fix: None,
        }
    }

    pub fn related(mut self, span: Span, message: impl Into<String>) -> Self {
        self.related.push(Related {
            span,
            message: message.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn fix(mut self, fix: Option<Fix>) -> Self {
        self.fix = fix;
        self
    }
}
