//! The rewrite module's directives (src/http/modules/ngx_http_rewrite_module.c):
//! `set`, `if`, `return`, `rewrite`.

use super::{Cx, Semantics, values};
use crate::ast::{Directive, Word};
use crate::error::ConfError;
use crate::load::at_end;

/// Variables `set` may not redefine (not NGX_HTTP_VAR_CHANGEABLE): every
/// built-in one except the few nginx marks changeable.
const CHANGEABLE_BUILTINS: &[&str] = &["args", "limit_rate", "query_string"];

impl Semantics {
    /// `ngx_http_rewrite_set`.
    pub(super) fn set(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let [var, value] = d.args.as_slice() else {
            return Ok(());
        };
        let Some(name) = var.value.strip_prefix(b"$") else {
            return Err(at_end(d, format!("invalid variable name \"{var}\"")));
        };
        let name = String::from_utf8_lossy(name).to_lowercase();
        let builtin = super::variables::HTTP_VARIABLES.contains(&name.as_str())
            && !CHANGEABLE_BUILTINS.contains(&name.as_str());
        if builtin {
            return Err(at_end(d, format!("the duplicate \"{name}\" variable")));
        }
        self.http_vars.define(&name);
        let _ = cx;
        self.use_script(value, false)
            .map_err(|e| super::relocate(e, d))
    }

    /// `ngx_http_rewrite_return`.
    pub(super) fn return_(&mut self, _cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let Some(code) = d.args.first() else {
            return Ok(());
        };
        let text = match values::atoi(&code.value) {
            Some(status) if status <= 999 => d.args.get(1),
            Some(_) => return Err(at_end(d, format!("invalid return code \"{code}\""))),
            None => {
                let v = &code.value;
                let is_url = v.starts_with(b"http://")
                    || v.starts_with(b"https://")
                    || v.starts_with(b"$scheme");
                if d.args.len() == 1 && is_url {
                    Some(code)
                } else {
                    return Err(at_end(d, format!("invalid return code \"{code}\"")));
                }
            }
        };
        match text {
            Some(text) => self
                .use_script(text, false)
                .map_err(|e| super::relocate(e, d)),
            None => Ok(()),
        }
    }

    /// `ngx_http_rewrite`.
    pub(super) fn rewrite(&mut self, _cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let Some(regex) = d.args.first() else {
            return Ok(());
        };
        if let Some(message) = self.regexes.compile_error(&regex.value) {
            return Err(at_end(d, message));
        }
        self.define_named_captures(&regex.value);
        if let Some(flag) = d.args.get(2)
            && !matches!(
                flag.value.as_slice(),
                b"last" | b"break" | b"redirect" | b"permanent"
            )
        {
            return Err(at_end(d, format!("invalid parameter \"{flag}\"")));
        }
        match d.args.get(1) {
            Some(replacement) => self
                .use_script(replacement, false)
                .map_err(|e| super::relocate(e, d)),
            None => Ok(()),
        }
    }

    /// `ngx_http_rewrite_if_condition`.
    pub(super) fn if_block(&mut self, _cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let invalid = |w: &str| at_end(d, format!("invalid condition \"{w}\""));
        let mut words: Vec<(Vec<u8>, &Word)> =
            d.args.iter().map(|w| (w.value.clone(), w)).collect();
        let Some(first) = words.first_mut() else {
            return Ok(());
        };
        if first.0.first() != Some(&b'(') {
            return Err(invalid(&first.1.text()));
        }
        if first.0.len() == 1 {
            words.remove(0);
        } else {
            first.0.remove(0);
        }
        let Some(last) = words.last_mut() else {
            return Err(invalid(""));
        };
        if last.0.last() != Some(&b')') {
            return Err(invalid(&String::from_utf8_lossy(&last.0)));
        }
        if last.0.len() == 1 {
            words.pop();
        } else {
            last.0.pop();
        }
        let Some((cur, cur_word)) = words.first().cloned() else {
            return Err(invalid(""));
        };
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        if cur.len() > 1 && cur[0] == b'$' {
            if words.len() != 1 && words.len() != 3 {
                return Err(invalid(&text(&cur)));
            }
            self.http_vars
                .use_var(&String::from_utf8_lossy(&cur[1..]), cur_word.span);
            if words.len() == 1 {
                return Ok(());
            }
            let op = words[1].0.as_slice();
            let (value, value_word) = (&words[2].0, words[2].1);
            match op {
                b"=" | b"!=" => {
                    let word = Word {
                        value: value.clone(),
                        ..value_word.clone()
                    };
                    return self
                        .use_script(&word, false)
                        .map_err(|e| super::relocate(e, d));
                }
                b"~" | b"~*" | b"!~" | b"!~*" => {
                    if let Some(message) = self.regexes.compile_error(value) {
                        return Err(at_end(d, message));
                    }
                    self.define_named_captures(value);
                    return Ok(());
                }
                _ => {
                    return Err(at_end(
                        d,
                        format!("unexpected \"{}\" in condition", text(op)),
                    ));
                }
            }
        }
        if matches!(
            cur.as_slice(),
            b"-f" | b"-d" | b"-e" | b"-x" | b"!-f" | b"!-d" | b"!-e" | b"!-x"
        ) {
            if words.len() != 2 {
                return Err(invalid(&text(&cur)));
            }
            let (value, value_word) = (&words[1].0, words[1].1);
            let word = Word {
                value: value.clone(),
                ..value_word.clone()
            };
            return self
                .use_script(&word, false)
                .map_err(|e| super::relocate(e, d));
        }
        Err(invalid(&text(&cur)))
    }
}
