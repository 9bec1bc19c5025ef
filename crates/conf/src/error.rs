//! Diagnostics in nginx's words: the message `nginx -t` prints, the file and
//! line it prints after `in`, and the span a caret should underline.

use std::fmt;

use crate::span::{SourceMap, Span};

/// nginx's log levels (`err_levels` in src/core/ngx_log.c), most severe
/// first: the configuration checks and the engine's error log share them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    const ALL: [Level; 8] = [
        Level::Emerg,
        Level::Alert,
        Level::Crit,
        Level::Error,
        Level::Warn,
        Level::Notice,
        Level::Info,
        Level::Debug,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// The level named as in `error_log FILE LEVEL`.
    pub fn parse(text: &[u8]) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().as_bytes() == text)
    }
}

/// When nginx finds the problem: while reading the files (before it prints
/// "syntax is ok") or while initialising the cycle (after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Parse,
    Init,
}

/// Where nginx says the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// `in FILE:LINE`, with the span to underline.
    File { span: Span, line: u32 },
    /// `in command line` (the `-g` directives).
    CommandLine,
    /// No position (nginx logs some post-parse errors without one, e.g.
    /// `unknown "x" variable`); `hint` still points at the cause.
    None { hint: Option<Span> },
}

/// One message of `nginx -t`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfError {
    pub level: Level,
    pub phase: Phase,
    pub message: String,
    pub position: Position,
    /// A sentence of advice beyond nginx's message (shown by miette only).
    pub help: Option<String>,
    /// upgate's own check (a `# upgate:` pragma): nginx, which skips
    /// comments, does not make it.
    pub upgate_only: bool,
}

impl ConfError {
    pub fn emerg(message: impl Into<String>, span: Span, line: u32) -> Self {
        ConfError {
            level: Level::Emerg,
            phase: Phase::Parse,
            message: message.into(),
            position: Position::File { span, line },
            help: None,
            upgate_only: false,
        }
    }

    pub fn warn(message: impl Into<String>, span: Span, line: u32) -> Self {
        ConfError {
            level: Level::Warn,
            ..ConfError::emerg(message, span, line)
        }
    }

    pub fn unplaced(message: impl Into<String>, hint: Option<Span>) -> Self {
        ConfError {
            level: Level::Emerg,
            phase: Phase::Parse,
            message: message.into(),
            position: Position::None { hint },
            help: None,
            upgate_only: false,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Marks an error nginx does not make (see [`ConfError::upgate_only`]).
    pub fn by_upgate(mut self) -> Self {
        self.upgate_only = true;
        self
    }

    pub fn in_phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }

    pub fn at_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// The span to underline, if any.
    pub fn span(&self) -> Option<Span> {
        match &self.position {
            Position::File { span, .. } => Some(*span),
            Position::None { hint } => *hint,
            Position::CommandLine => None,
        }
    }

    /// The line nginx reports, if any.
    pub fn line(&self) -> Option<u32> {
        match &self.position {
            Position::File { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// nginx's text after `nginx: [level] `: the message and its position.
    pub fn nginx_text<'a>(&'a self, sources: &'a SourceMap) -> impl fmt::Display + 'a {
        NginxText {
            error: self,
            sources,
        }
    }
}

struct NginxText<'a> {
    error: &'a ConfError,
    sources: &'a SourceMap,
}

impl fmt::Display for NginxText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error.message)?;
        match &self.error.position {
            Position::File { span, line } if span.file.index() < self.sources.len() => {
                write!(f, " in {}:{}", self.sources.path(span.file).display(), line)
            }
            Position::CommandLine => f.write_str(" in command line"),
            _ => Ok(()),
        }
    }
}

/// `(2: No such file or directory)`: how nginx appends an errno.
pub fn errno_text(err: &std::io::Error) -> String {
    let code = err.raw_os_error().unwrap_or(0);
    let text = err.to_string();
    let text = match text.rfind(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    };
    format!("({code}: {text})")
}
