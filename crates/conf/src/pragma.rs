//! upgate's own settings, written as comments nginx ignores:
//! `# upgate: websocket_ping 25s;`. The file stays valid for `nginx -t`;
//! upgate reads each pragma like a directive of the block it stands in
//! (http, server or location, inherited inwards, a nearer level winning)
//! and refuses one it does not know, one in the wrong block, a bad value or
//! a duplicate, with the comment's file and line: a pragma that was meant
//! to change a tunnel and silently did nothing would be worse than none.
//!
//! One comment may hold several pragmas, each ended by `;`. Only a comment
//! whose text starts with `upgate:` is read (`# upgate-lint: ...` is the
//! linter's); one that starts with `upgate` and a known pragma's name but
//! no colon is refused as a likely typo.

use std::time::Duration;

use crate::ast::{Block, Comment, Directive, Quote, Word};
use crate::context::BlockKind;
use crate::error::ConfError;
use crate::handlers::values::{atoi, parse_time};
use crate::load::Config;
use crate::span::Span;

/// What marks a comment as pragmas.
pub const MARK: &str = "upgate:";

/// One pragma as written: its name and arguments, with spans inside the
/// comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pragma {
    pub name: Word,
    pub args: Vec<Word>,
    pub value: PragmaValue,
}

impl Pragma {
    /// The name and arguments, for carets.
    pub fn span(&self) -> Span {
        match self.args.last() {
            Some(last) => self.name.span.to(last.span),
            None => self.name.span,
        }
    }

    pub fn line(&self) -> u32 {
        self.name.span.line
    }
}

/// The meaning of a pragma, its value checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PragmaValue {
    /// `websocket_ping T | off`: after T without a frame from a side, ping
    /// it; a side silent for another T is closed as dead.
    WebsocketPing(Option<Duration>),
    /// `websocket_close_on_timeout [CODE] | off`: at proxy_read_timeout and
    /// at a shutdown's deadline, a close frame with CODE (1001) to both
    /// sides instead of a bare TCP close.
    WebsocketCloseOnTimeout(Option<u16>),
}

/// A pragma upgate knows.
pub struct PragmaSpec {
    pub name: &'static str,
    /// The syntax, as the docs show it.
    pub syntax: &'static str,
    pub default: &'static str,
    pub summary: &'static str,
    parse: fn(&[Word]) -> Result<PragmaValue, String>,
}

/// The blocks a pragma may stand in: those of the proxy_* timeouts it goes
/// with.
pub const CONTEXTS: &[BlockKind] = &[BlockKind::Http, BlockKind::Server, BlockKind::Location];

/// Every pragma, in the order the docs list them.
pub const PRAGMAS: &[PragmaSpec] = &[
    PragmaSpec {
        name: "websocket_ping",
        syntax: "websocket_ping TIME | off;",
        default: "off",
        summary: "after TIME without a frame from one side of a WebSocket tunnel, send that side a \
                  ping; a side that sends nothing for another TIME is closed as dead (both sides \
                  get a close frame 1001, or the websocket_close_on_timeout code). Its pong is not \
                  passed on. The tunnel's other timers are those of nginx.",
        parse: parse_ping,
    },
    PragmaSpec {
        name: "websocket_close_on_timeout",
        syntax: "websocket_close_on_timeout [CODE] | off;",
        default: "off",
        summary: "when proxy_read_timeout ends a WebSocket tunnel, or a shutdown's \
                  worker_shutdown_timeout does, send both sides a close frame with CODE (1001, \
                  \"going away\", when none is given) at a frame boundary, wait up to a second for \
                  their close, then close the connections. nginx closes them bare (a browser sees \
                  1006).",
        parse: parse_close_code,
    },
];

pub fn find(name: &[u8]) -> Option<&'static PragmaSpec> {
    PRAGMAS.iter().find(|p| p.name.as_bytes() == name)
}

fn parse_ping(args: &[Word]) -> Result<PragmaValue, String> {
    let [arg] = args else {
        return Err("invalid number of arguments".into());
    };
    if arg.is("off") {
        return Ok(PragmaValue::WebsocketPing(None));
    }
    match parse_time(&arg.value, false) {
        Some(ms) if ms > 0 => Ok(PragmaValue::WebsocketPing(Some(Duration::from_millis(
            ms.unsigned_abs(),
        )))),
        Some(_) => Err("a ping period must be more than 0 (use \"off\")".into()),
        None => Err(format!("invalid value \"{arg}\"")),
    }
}

/// The codes an endpoint may send (RFC 6455 7.4): 1004-1006 and 1015 are
/// reserved for reports, never put on the wire.
fn sendable_code(code: i64) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn parse_close_code(args: &[Word]) -> Result<PragmaValue, String> {
    match args {
        [] => Ok(PragmaValue::WebsocketCloseOnTimeout(Some(1001))),
        [arg] if arg.is("off") => Ok(PragmaValue::WebsocketCloseOnTimeout(None)),
        [arg] => match atoi(&arg.value) {
            Some(code) if sendable_code(code) => Ok(PragmaValue::WebsocketCloseOnTimeout(Some(
                u16::try_from(code).map_err(|_| format!("invalid close code \"{arg}\""))?,
            ))),
            _ => Err(format!(
                "invalid close code \"{arg}\": a close frame may carry 1000-1003, 1007-1014 or \
                 3000-4999"
            )),
        },
        _ => Err("invalid number of arguments".into()),
    }
}

/// The pragmas of one comment: `None` when it holds none, else each pragma
/// or the error that refuses it.
pub fn parse(comment: &Comment) -> Option<Vec<Result<Pragma, ConfError>>> {
    let text = &comment.text;
    let lead = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let rest = &text[lead..];
    // The text starts one byte after the comment's `#`.
    let offset = comment.span.start as usize + 1 + lead;
    let here = |start: usize, end: usize| {
        Span::new(
            comment.span.file,
            offset + start,
            offset + end,
            comment.span.line,
        )
    };
    let Some(body) = rest.strip_prefix(MARK.as_bytes()) else {
        return likely_typo(rest).map(|len| {
            vec![Err(ConfError::emerg(
                format!("pragma comment without \"{MARK}\""),
                here(0, len),
                comment.span.line,
            )
            .with_help(format!(
                "upgate reads pragmas only from comments that start with \"{MARK}\": write \
                 \"# {MARK} {}\"",
                String::from_utf8_lossy(rest[b"upgate".len()..].trim_ascii())
            )))]
        });
    };
    let body_at = MARK.len();
    let mut out = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b == b';' {
            let semicolon = here(body_at + i, body_at + i + 1);
            out.push(statement(std::mem::take(&mut words), semicolon));
            i += 1;
            continue;
        }
        let start = i;
        while i < body.len() && !body[i].is_ascii_whitespace() && body[i] != b';' {
            i += 1;
        }
        words.push(Word {
            value: body[start..i].to_vec(),
            quote: Quote::None,
            span: here(body_at + start, body_at + i),
        });
    }
    if let Some(first) = words.first() {
        let last = words.last().map_or(first.span, |w| w.span);
        out.push(Err(ConfError::emerg(
            format!("pragma \"{first}\" is not terminated by \";\""),
            first.span.to(last),
            comment.span.line,
        )));
    } else if out.is_empty() {
        out.push(Err(ConfError::emerg(
            "empty pragma",
            here(0, MARK.len()),
            comment.span.line,
        )));
    }
    Some(out)
}

/// `# upgate websocket_ping 25s;`: the length of `upgate` when what follows
/// is a known pragma.
fn likely_typo(rest: &[u8]) -> Option<usize> {
    let after = rest.strip_prefix(b"upgate")?;
    let after = after.strip_prefix(b" ").or(after.strip_prefix(b"\t"))?;
    let name: Vec<u8> = after
        .trim_ascii_start()
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .copied()
        .collect();
    find(&name).map(|_| b"upgate".len())
}

fn statement(mut words: Vec<Word>, semicolon: Span) -> Result<Pragma, ConfError> {
    if words.is_empty() {
        return Err(ConfError::emerg(
            "unexpected \";\" in pragma",
            semicolon,
            semicolon.line,
        ));
    }
    let name = words.remove(0);
    let Some(spec) = find(&name.value) else {
        let mut e = ConfError::emerg(
            format!("unknown pragma \"{name}\""),
            name.span,
            name.span.line,
        );
        if let Some(near) = did_you_mean(&name.text()) {
            e = e.with_help(format!("did you mean \"{near}\"?"));
        }
        return Err(e);
    };
    let value = (spec.parse)(&words).map_err(|message| {
        let span = words.iter().fold(name.span, |s, w| s.to(w.span));
        ConfError::emerg(
            format!("{message} in \"{}\" pragma", spec.name),
            span,
            name.span.line,
        )
        .with_help(format!("syntax: # {MARK} {}", spec.syntax))
    })?;
    Ok(Pragma {
        name,
        args: words,
        value,
    })
}

/// The known pragma nearest in spelling, when one is near enough.
pub fn did_you_mean(name: &str) -> Option<&'static str> {
    PRAGMAS
        .iter()
        .map(|p| (strsim::damerau_levenshtein(name, p.name), p.name))
        .filter(|(d, p)| *d <= (p.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, p)| p)
}

/// The pragmas of a block as the runtime reads a level: its own comments and
/// those of the files its `include`s read, in order. Comments between a
/// directive's arguments count as the block's. Errors are left out: the
/// loader has refused them.
pub fn of_block(config: &Config, block: &Block) -> Vec<Pragma> {
    let mut out = Vec::new();
    collect(config, block, &mut out, 0);
    out
}

fn collect(config: &Config, block: &Block, out: &mut Vec<Pragma>, depth: usize) {
    if depth > 64 {
        return;
    }
    for node in &block.nodes {
        match node {
            crate::ast::Node::Comment(c) => out.extend(parse(c).into_iter().flatten().flatten()),
            crate::ast::Node::Directive(d) => {
                for c in &d.inner_comments {
                    out.extend(parse(c).into_iter().flatten().flatten());
                }
                if is_include(d) {
                    for id in &d.includes {
                        if let Some(file) = config.files.get(id.index()) {
                            collect(config, &file.block, out, depth + 1);
                        }
                    }
                }
            }
        }
    }
}

fn is_include(d: &Directive) -> bool {
    d.is("include") && d.block.is_none()
}

/// The pragmas seen at one level, for the duplicate check.
#[derive(Debug, Default)]
pub(crate) struct Level {
    seen: Vec<&'static str>,
}

impl Level {
    /// Checks one comment of a block of `context`.
    pub(crate) fn check(&mut self, comment: &Comment, context: BlockKind) -> Vec<ConfError> {
        let Some(pragmas) = parse(comment) else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        for pragma in pragmas {
            let pragma = match pragma {
                Ok(p) => p,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let Some(spec) = find(&pragma.name.value) else {
                continue;
            };
            if !CONTEXTS.contains(&context) {
                errors.push(
                    ConfError::emerg(
                        format!(
                            "\"{}\" pragma is not allowed here (in {})",
                            spec.name,
                            context.name()
                        ),
                        pragma.span(),
                        pragma.line(),
                    )
                    .with_help("pragmas stand in http, server or location blocks"),
                );
            } else if self.seen.contains(&spec.name) {
                errors.push(ConfError::emerg(
                    format!("\"{}\" pragma is duplicate", spec.name),
                    pragma.span(),
                    pragma.line(),
                ));
            } else {
                self.seen.push(spec.name);
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;

    fn comment(text: &str) -> Comment {
        Comment {
            text: text.as_bytes().to_vec(),
            span: Span::new(FileId(0), 10, 11 + text.len(), 3),
            trailing: false,
        }
    }

    fn values(text: &str) -> Vec<Result<PragmaValue, String>> {
        parse(&comment(text))
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.map(|p| p.value).map_err(|e| e.message))
            .collect()
    }

    #[test]
    fn reads_pragmas_and_their_values() {
        assert_eq!(
            values(" upgate: websocket_ping 25s;"),
            [Ok(PragmaValue::WebsocketPing(Some(Duration::from_secs(
                25
            ))))]
        );
        assert_eq!(
            values("upgate:websocket_ping 1m500ms; websocket_close_on_timeout;"),
            [
                Ok(PragmaValue::WebsocketPing(Some(Duration::from_millis(
                    60_500
                )))),
                Ok(PragmaValue::WebsocketCloseOnTimeout(Some(1001))),
            ]
        );
        assert_eq!(
            values(" upgate: websocket_close_on_timeout 4000; websocket_ping off;"),
            [
                Ok(PragmaValue::WebsocketCloseOnTimeout(Some(4000))),
                Ok(PragmaValue::WebsocketPing(None)),
            ]
        );
    }

    #[test]
    fn other_comments_are_not_pragmas() {
        for text in [
            " plain comment",
            " upgate-lint: disable=all",
            "upgate is great",
            "",
        ] {
            assert_eq!(parse(&comment(text)), None, "{text:?}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let errors = values(" upgate: websocket_pnig 25s;");
        assert_eq!(errors, [Err("unknown pragma \"websocket_pnig\"".into())]);
        let e = parse(&comment(" upgate: websocket_pnig 25s;")).unwrap_or_default();
        let help = e[0].as_ref().err().and_then(|e| e.help.clone());
        assert_eq!(help.as_deref(), Some("did you mean \"websocket_ping\"?"));

        assert!(
            matches!(&values(" upgate: websocket_ping 0;")[0], Err(m) if m.contains("more than 0"))
        );
        assert!(
            matches!(&values(" upgate: websocket_ping;")[0], Err(m) if m.contains("number of arguments"))
        );
        assert!(
            matches!(&values(" upgate: websocket_ping 5x;")[0], Err(m) if m.contains("invalid value"))
        );
        for code in ["1005", "1006", "1015", "999", "5000", "abc"] {
            let text = format!(" upgate: websocket_close_on_timeout {code};");
            assert!(
                matches!(&values(&text)[0], Err(m) if m.contains("invalid close code")),
                "{code}"
            );
        }
        assert!(
            matches!(&values(" upgate: websocket_ping 5s")[0], Err(m) if m.contains("not terminated"))
        );
        assert!(matches!(&values(" upgate:")[0], Err(m) if m == "empty pragma"));
        assert!(matches!(&values(" upgate: ;")[0], Err(m) if m.contains("unexpected")));
        assert!(
            matches!(&values(" upgate websocket_ping 5s;")[0], Err(m) if m.contains("without"))
        );
    }

    #[test]
    fn spans_point_into_the_comment() {
        let c = comment(" upgate: websocket_ping 25s;");
        let parsed = parse(&c).unwrap_or_default();
        let Some(Ok(p)) = parsed.first() else {
            panic!("{parsed:?}");
        };
        // `#` at 10, the text from 11: " upgate: " is 9 bytes.
        assert_eq!((p.name.span.start, p.name.span.end), (20, 34));
        assert_eq!(p.args[0].span.start, 35);
        assert_eq!(p.line(), 3);
    }

    #[test]
    fn levels_refuse_duplicates_and_wrong_blocks() {
        let mut level = Level::default();
        let c = comment(" upgate: websocket_ping 5s;");
        assert!(level.check(&c, BlockKind::Location).is_empty());
        let again = level.check(&c, BlockKind::Location);
        assert_eq!(again[0].message, "\"websocket_ping\" pragma is duplicate");
        let mut level = Level::default();
        let wrong = level.check(&c, BlockKind::Upstream);
        assert!(wrong[0].message.contains("not allowed here"), "{wrong:?}");
    }
}
