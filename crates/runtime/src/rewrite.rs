//! The rewrite module's directives (`return`, `rewrite`, `set`, `if`,
//! `break`) as nginx compiles them into one script per level
//! (src/http/modules/ngx_http_rewrite_module.c) and runs them in the
//! server-rewrite and rewrite phases (`ngx_http_rewrite_handler`, the
//! codes of src/http/ngx_http_script.c). An `if` block's directives are run
//! inline when its condition holds, after which the block's configuration
//! applies to the request (it is an unnamed location).
//!
//! The file tests `-f -d -e -x` ask the request's `Files` (the engine's
//! looks at the disk; without one nothing exists). Not reproduced: the
//! unescaping of a redirect's `Location` (NGX_UNESCAPE_REDIRECT).

use upgate_conf::{Directive, Span, Word};

use crate::compile::RegexCache;
use crate::error::CompileError;
use crate::location::LocationId;
use crate::regex::Regex;
use crate::variable::{self, Template, UserVarId, UserVars};

/// The rewrite directives of one level, in order.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub ops: Vec<Op>,
}

impl Script {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One directive of a script.
#[derive(Debug, Clone)]
pub enum Op {
    /// `set $var value`.
    Set {
        var: UserVarId,
        value: Template,
        span: Span,
    },
    /// `return code [text|URL]` or `return URL`.
    Return {
        code: u16,
        text: Option<Template>,
        span: Span,
    },
    /// `rewrite regex replacement [flag]`.
    Rewrite(Box<Rewrite>),
    /// `if (condition) { ... }`: `block` is the unnamed location.
    If {
        condition: Condition,
        block: LocationId,
        span: Span,
    },
    /// `break`.
    Break { span: Span },
}

/// `rewrite` with its flag.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub regex: Regex,
    /// The replacement before `?` (all of it for a redirect).
    pub uri: Template,
    /// The replacement after `?`, when it has one (not for redirects).
    pub args: Option<Template>,
    pub flag: RewriteFlag,
    /// Whether the original args are kept (no trailing `?`).
    pub add_args: bool,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    /// No flag: the script goes on with the new URI.
    None,
    Last,
    Break,
    /// 302 (`redirect`, or a replacement starting with http://, https://
    /// or $scheme).
    Redirect,
    /// 301.
    Permanent,
}

/// An `if` condition (`ngx_http_rewrite_if_condition`).
#[derive(Debug, Clone)]
pub enum Condition {
    /// `($var)`: true unless empty or "0".
    Value(Template),
    /// `($var = text)`, `($var != text)`.
    Equals {
        left: Template,
        right: Template,
        negate: bool,
    },
    /// `($var ~ re)`, `~*`, `!~`, `!~*`.
    Matches {
        left: Template,
        regex: Regex,
        negate: bool,
    },
    /// `-f`, `-d`, `-e`, `-x` and their `!` forms: not evaluated here.
    File { test: String, operand: Template },
}

/// Parses `return`.
pub fn parse_return(d: &Directive, user: &UserVars) -> Result<Op, CompileError> {
    let span = d.name.span;
    let Some(first) = d.args.first() else {
        return Err(CompileError::invalid(
            d,
            "invalid number of arguments in \"return\"",
        ));
    };
    let code = std::str::from_utf8(&first.value)
        .ok()
        .and_then(|s| s.parse::<u16>().ok());
    match code {
        Some(code) => {
            let text = match d.args.get(1) {
                Some(w) => Some(template(w, user)?),
                None => None,
            };
            Ok(Op::Return { code, text, span })
        }
        None => Ok(Op::Return {
            code: 302,
            text: Some(template(first, user)?),
            span,
        }),
    }
}

/// Parses `rewrite regex replacement [flag]`.
pub fn parse_rewrite(
    d: &Directive,
    user: &UserVars,
    regexes: &mut RegexCache,
) -> Result<Op, CompileError> {
    let (Some(pattern), Some(replacement)) = (d.args.first(), d.args.get(1)) else {
        return Err(CompileError::invalid(
            d,
            "invalid number of arguments in \"rewrite\"",
        ));
    };
    let regex = regexes
        .get(&pattern.value, false)
        .map_err(|e| CompileError::regex(pattern, e))?;
    let mut text = replacement.value.as_slice();
    let add_args = text.last() != Some(&b'?');
    if !add_args {
        text = &text[..text.len() - 1];
    }
    let redirect_url = [&b"http://"[..], b"https://", b"$scheme"]
        .iter()
        .any(|p| replacement.value.starts_with(p));
    let mut flag = match d.args.get(2).map(|w| w.value.as_slice()) {
        Some(b"last") => RewriteFlag::Last,
        Some(b"break") => RewriteFlag::Break,
        Some(b"redirect") => RewriteFlag::Redirect,
        Some(b"permanent") => RewriteFlag::Permanent,
        Some(_) => return Err(CompileError::invalid(d, "invalid parameter")),
        None => RewriteFlag::None,
    };
    if redirect_url && !matches!(flag, RewriteFlag::Permanent) {
        flag = RewriteFlag::Redirect;
    }
    let redirect = matches!(flag, RewriteFlag::Redirect | RewriteFlag::Permanent);
    let compile =
        |t: &[u8]| variable::compile(t, user).map_err(|e| CompileError::template(replacement, e));
    let (uri, args) = match (!redirect)
        .then(|| text.iter().position(|&c| c == b'?'))
        .flatten()
    {
        Some(q) => (compile(&text[..q])?, Some(compile(&text[q + 1..])?)),
        None => (compile(text)?, None),
    };
    Ok(Op::Rewrite(Box::new(Rewrite {
        regex,
        uri,
        args,
        flag,
        add_args,
        span: d.name.span,
    })))
}

/// Parses `set $var value`.
pub fn parse_set(d: &Directive, user: &UserVars) -> Result<Op, CompileError> {
    let (Some(var), Some(value)) = (d.args.first(), d.args.get(1)) else {
        return Err(CompileError::invalid(
            d,
            "invalid number of arguments in \"set\"",
        ));
    };
    let name = var.value.strip_prefix(b"$").unwrap_or(&var.value);
    let id = user
        .get(&String::from_utf8_lossy(name))
        .ok_or_else(|| CompileError::at(var, "invalid variable name"))?;
    Ok(Op::Set {
        var: id,
        value: template(value, user)?,
        span: d.name.span,
    })
}

/// Parses the arguments of `if (...)`: nginx strips the `(` of the first
/// and the `)` of the last argument.
pub fn parse_condition(
    d: &Directive,
    user: &UserVars,
    regexes: &mut RegexCache,
) -> Result<Condition, CompileError> {
    let mut args: Vec<Word> = d.args.clone();
    if let Some(first) = args.first_mut()
        && first.value.first() == Some(&b'(')
    {
        first.value.remove(0);
    }
    if let Some(last) = args.last_mut()
        && last.value.last() == Some(&b')')
    {
        last.value.pop();
    }
    args.retain(|w| !w.value.is_empty() || w.is_quoted());
    let bad = || CompileError::invalid(d, "invalid condition");
    match args.as_slice() {
        [v] => Ok(Condition::Value(template(v, user)?)),
        [left, op, right] => {
            let left = template(left, user)?;
            match op.value.as_slice() {
                b"=" | b"!=" => Ok(Condition::Equals {
                    left,
                    right: template(right, user)?,
                    negate: op.is("!="),
                }),
                b"~" | b"~*" | b"!~" | b"!~*" => {
                    let caseless = op.value.ends_with(b"*");
                    let regex = regexes
                        .get(&right.value, caseless)
                        .map_err(|e| CompileError::regex(right, e))?;
                    Ok(Condition::Matches {
                        left,
                        regex,
                        negate: op.value.starts_with(b"!"),
                    })
                }
                _ => Err(bad()),
            }
        }
        [test, operand] if test.value.starts_with(b"-") || test.value.starts_with(b"!-") => {
            Ok(Condition::File {
                test: test.text().into_owned(),
                operand: template(operand, user)?,
            })
        }
        _ => Err(bad()),
    }
}

fn template(word: &Word, user: &UserVars) -> Result<Template, CompileError> {
    variable::compile(&word.value, user).map_err(|e| CompileError::template(word, e))
}
