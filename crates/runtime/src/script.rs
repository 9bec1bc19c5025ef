//! Running a level's rewrite script against a request: the codes of
//! src/http/ngx_http_script.c that `ngx_http_rewrite_handler` executes
//! (`ngx_http_script_regex_start_code` / `_end_code` for `rewrite`,
//! `ngx_http_script_if_code`, `ngx_http_script_return_code`,
//! `ngx_http_script_set_var_code`, `ngx_http_script_break_code`).

use crate::files::{FileError, FileKind, Files};
use crate::location::LocationId;
use crate::request::{Outcome, Request, Response};
use crate::rewrite::{Condition, Op, Rewrite, RewriteFlag};

/// How a run of codes ended.
enum Flow {
    /// The codes ran out: the phase goes on.
    Continue,
    /// `break`, or a `rewrite` with `last` / `break`.
    Stop,
    /// A response was decided (`return`, a redirect, an error).
    Done,
}

impl<'a> Request<'a> {
    /// Runs the script of `level`; true when the request got its response.
    pub(crate) fn run_script(&mut self, level: LocationId, files: &dyn Files) -> bool {
        let rt = self.rt;
        let ops = &rt.location(level).script.ops;
        matches!(self.exec(ops, files), Flow::Done)
    }

    fn exec(&mut self, ops: &'a [Op], files: &dyn Files) -> Flow {
        let rt = self.rt;
        for op in ops {
            match op {
                Op::Set { var, value, .. } => {
                    let v = self.eval(value);
                    self.set_var(*var, v);
                }
                Op::Return { code, text, .. } => {
                    let text = text.as_ref().map(|t| self.eval(t));
                    let redirect = matches!(code, 301 | 302 | 303 | 307 | 308);
                    let (location, body) = match (redirect, text) {
                        (true, t) => (t, Vec::new()),
                        (false, t) => (None, t.unwrap_or_default()),
                    };
                    self.outcome = Outcome::Respond(Response {
                        status: *code,
                        location,
                        body,
                        reason: format!("return {code}"),
                    });
                    return Flow::Done;
                }
                Op::Rewrite(rw) => match self.rewrite(rw) {
                    Flow::Continue => {}
                    other => return other,
                },
                Op::If {
                    condition, block, ..
                } => {
                    if self.condition(condition, files) {
                        self.location = *block;
                        self.trace.push(format!(
                            "if ({}) is true: its block applies",
                            String::from_utf8_lossy(&rt.location(*block).name)
                        ));
                        match self.exec(&rt.location(*block).script.ops, files) {
                            Flow::Continue => {}
                            other => return other,
                        }
                    }
                }
                Op::Break { .. } => return Flow::Stop,
            }
        }
        Flow::Continue
    }

    fn rewrite(&mut self, rw: &Rewrite) -> Flow {
        let Some(caps) = rw.regex.captures(&self.uri) else {
            // a failed match clears the captures (r->ncaptures = 0)
            self.captures = None;
            return Flow::Continue;
        };
        self.set_captures(caps);
        if matches!(rw.flag, RewriteFlag::Redirect | RewriteFlag::Permanent) {
            let mut location = self.eval(&rw.uri);
            if rw.add_args && !self.args.is_empty() {
                location.push(if location.contains(&b'?') { b'&' } else { b'?' });
                location.extend_from_slice(&self.args);
            }
            let status = if rw.flag == RewriteFlag::Permanent {
                301
            } else {
                302
            };
            self.outcome = Outcome::Respond(Response {
                status,
                location: Some(location),
                body: Vec::new(),
                reason: "rewrite redirect".into(),
            });
            return Flow::Done;
        }
        let uri = self.eval(&rw.uri);
        match &rw.args {
            Some(t) => {
                let mut args = self.eval_args(t);
                if rw.add_args && !self.args.is_empty() {
                    args.push(b'&');
                    args.extend_from_slice(&self.args);
                }
                self.args = args;
            }
            None if !rw.add_args => self.args.clear(),
            None => {}
        }
        self.internal = true;
        self.valid_unparsed_uri = false;
        if rw.flag == RewriteFlag::Break {
            self.valid_location = false;
            self.uri_changed = false;
        } else {
            self.uri_changed = true;
        }
        if uri.is_empty() {
            self.outcome = Response::error(500, "the rewritten URI has a zero length");
            return Flow::Done;
        }
        self.trace.push(format!(
            "rewrite: URI is now \"{}\"",
            String::from_utf8_lossy(&uri)
        ));
        self.uri = uri;
        match rw.flag {
            RewriteFlag::Last | RewriteFlag::Break => Flow::Stop,
            _ => Flow::Continue,
        }
    }

    /// The args part of a replacement: captures are escaped for args
    /// (NGX_ESCAPE_ARGS) when the request URI was escaped or had a `+`
    /// (`ngx_http_script_copy_capture_code` with `is_args`).
    fn eval_args(&mut self, t: &crate::variable::Template) -> Vec<u8> {
        let escape = self.quoted_uri || self.unparsed_uri.contains(&b'+');
        if !escape {
            return self.eval(t);
        }
        let mut out = Vec::new();
        for part in &t.parts {
            match part {
                crate::variable::Part::Capture(n) => {
                    if let Some(caps) = &self.captures {
                        for &b in caps.group(usize::from(*n)) {
                            if escape_in_args(b) {
                                out.extend_from_slice(format!("%{b:02X}").as_bytes());
                            } else {
                                out.push(b);
                            }
                        }
                    }
                }
                other => {
                    let one = crate::variable::Template {
                        parts: vec![other.clone()],
                        source: Vec::new(),
                    };
                    out.extend_from_slice(&self.eval(&one));
                }
            }
        }
        out
    }

    /// `ngx_http_script_if_code` and the comparison codes.
    fn condition(&mut self, c: &Condition, files: &dyn Files) -> bool {
        match c {
            Condition::Value(t) => {
                let v = self.eval(t);
                !(v.is_empty() || v == b"0")
            }
            Condition::Equals {
                left,
                right,
                negate,
            } => {
                let l = self.eval(left);
                let r = self.eval(right);
                (l == r) != *negate
            }
            Condition::Matches {
                left,
                regex,
                negate,
            } => {
                let l = self.eval(left);
                match regex.captures(&l) {
                    Some(caps) => {
                        self.set_captures(caps);
                        !*negate
                    }
                    None => {
                        self.captures = None;
                        *negate
                    }
                }
            }
            Condition::File { test, operand } => {
                // ngx_http_script_file_code
                let path = self.eval(operand);
                let negate = test.starts_with('!');
                let kind = files.stat(&path);
                let holds = match (test.trim_start_matches('!'), &kind) {
                    ("-f", Ok(FileKind::File)) => true,
                    ("-d", Ok(FileKind::Dir)) => true,
                    ("-e", Ok(_)) => true,
                    ("-x", Ok(_)) => files.executable(&path),
                    _ => false,
                };
                if let Err(e) = &kind
                    && matches!(e, FileError::Denied | FileError::Other(_))
                {
                    self.log.push((
                        upgate_conf::Level::Crit,
                        format!(
                            "stat() \"{}\" failed{}",
                            String::from_utf8_lossy(&path),
                            e.suffix()
                        ),
                    ));
                }
                let result = holds != negate;
                self.trace.push(format!(
                    "if ({test} \"{}\") is {result}",
                    String::from_utf8_lossy(&path)
                ));
                result
            }
        }
    }
}

/// The bytes `ngx_escape_uri(.., NGX_ESCAPE_ARGS)` escapes: controls,
/// space, `#`, `%`, `&`, `+`, `;`, `?` and bytes from 0x7f.
fn escape_in_args(b: u8) -> bool {
    !(0x20..0x7f).contains(&b) || matches!(b, b' ' | b'#' | b'%' | b'&' | b'+' | b';' | b'?')
}
