//! `CompileError`: why a syntax tree could not be turned into tables. The
//! loader (`upgate_conf::load`) already refuses what `nginx -t` refuses, so
//! these are the cases it lets through or that upgate cannot reproduce
//! (a regex neither engine compiles), each with the span to point at.

use upgate_conf::{Directive, Span, Word};

use crate::regex::RegexError;
use crate::variable::TemplateError;

/// An error of [`crate::Runtime::compile`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A directive whose arguments make no sense here.
    #[error("{message}")]
    Invalid { message: String, span: Span },
    /// A complex value that does not compile (nginx's wording).
    #[error("{error}")]
    Template { error: TemplateError, span: Span },
    /// A regex neither the `regex` crate nor fancy-regex compiles.
    #[error("{error}")]
    Regex { error: RegexError, span: Span },
    /// The configuration has no `http {}` block.
    #[error("no \"http\" section in configuration")]
    NoHttp,
}

impl CompileError {
    pub(crate) fn invalid(d: &Directive, message: impl Into<String>) -> Self {
        CompileError::Invalid {
            message: message.into(),
            span: d.head_span(),
        }
    }

    pub(crate) fn at(word: &Word, message: impl Into<String>) -> Self {
        CompileError::Invalid {
            message: message.into(),
            span: word.span,
        }
    }

    pub(crate) fn template(word: &Word, error: TemplateError) -> Self {
        CompileError::Template {
            error,
            span: word.span,
        }
    }

    pub(crate) fn regex(word: &Word, error: RegexError) -> Self {
        CompileError::Regex {
            error,
            span: word.span,
        }
    }

    /// Where the problem is, when known.
    pub fn span(&self) -> Option<Span> {
        match self {
            CompileError::Invalid { span, .. }
            | CompileError::Template { span, .. }
            | CompileError::Regex { span, .. } => Some(*span),
            CompileError::NoHttp => None,
        }
    }
}
