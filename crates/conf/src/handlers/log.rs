//! `log_format` and `access_log` (src/http/modules/ngx_http_log_module.c,
//! src/stream/ngx_stream_log_module.c).

use super::{Cx, Semantics, values};
use crate::ast::{Directive, Word};
use crate::error::ConfError;
use crate::load::at_end;

#[derive(Debug)]
pub(super) struct LogState {
    http_formats: Vec<String>,
    stream_formats: Vec<String>,
}

impl Default for LogState {
    fn default() -> Self {
        LogState {
            http_formats: vec!["combined".into()],
            stream_formats: Vec::new(),
        }
    }
}

impl Semantics {
    /// `ngx_http_log_set_format` (and `ngx_stream_log_set_format`).
    pub(super) fn log_format(&mut self, d: &Directive, stream: bool) -> Result<(), ConfError> {
        let Some(name) = d.args.first() else {
            return Ok(());
        };
        let name_text = name.text().into_owned();
        let formats = if stream {
            &mut self.log.stream_formats
        } else {
            &mut self.log.http_formats
        };
        if formats.contains(&name_text) {
            return Err(at_end(
                d,
                format!("duplicate \"log_format\" name \"{name_text}\""),
            ));
        }
        formats.push(name_text);
        let mut parts = &d.args[1..];
        if let Some(first) = parts.first()
            && let Some(escape) = first.text().strip_prefix("escape=")
        {
            if !matches!(escape, "default" | "json" | "none") {
                return Err(at_end(
                    d,
                    format!("unknown log format escaping \"{escape}\""),
                ));
            }
            parts = &parts[1..];
        }
        for part in parts {
            self.log_format_part(part, d, stream)?;
        }
        Ok(())
    }

    /// `ngx_http_log_compile_format`: `$name` and `${name}` in a format.
    fn log_format_part(
        &mut self,
        part: &Word,
        d: &Directive,
        stream: bool,
    ) -> Result<(), ConfError> {
        let v = &part.value;
        let invalid = || at_end(d, format!("invalid parameter \"{part}\""));
        let mut i = 0;
        while i < v.len() {
            if v[i] != b'$' {
                i += 1;
                continue;
            }
            i += 1;
            if i == v.len() {
                return Err(invalid());
            }
            let bracket = v[i] == b'{';
            if bracket {
                i += 1;
                if i == v.len() {
                    return Err(invalid());
                }
            }
            let start = i;
            while i < v.len() && (v[i].is_ascii_alphanumeric() || v[i] == b'_') {
                i += 1;
            }
            let name = &v[start..i];
            if bracket {
                if v.get(i) != Some(&b'}') {
                    return Err(at_end(
                        d,
                        format!(
                            "the closing bracket in \"{}\" variable is missing",
                            String::from_utf8_lossy(name)
                        ),
                    ));
                }
                i += 1;
            }
            if name.is_empty() {
                return Err(invalid());
            }
            let name = String::from_utf8_lossy(name);
            if stream {
                self.stream_vars.use_var(&name, part.span);
            } else {
                self.http_vars.use_var(&name, part.span);
            }
        }
        Ok(())
    }

    /// `ngx_http_log_set_log`.
    pub(super) fn access_log(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let Some(path) = d.args.first() else {
            return Ok(());
        };
        if path.is("off") {
            if let Some(extra) = d.args.get(1) {
                return Err(at_end(d, format!("invalid parameter \"{extra}\"")));
            }
            return Ok(());
        }
        if !path.value.starts_with(b"syslog:") {
            self.complex_values(cx, d, 0..1)?;
        }
        if let Some(format) = d.args.get(1) {
            let name = format.text().into_owned();
            if !self.log.http_formats.contains(&name) {
                return Err(at_end(d, format!("unknown log format \"{name}\"")));
            }
        }
        for param in d.args.iter().skip(2) {
            let p = param.text();
            let p = p.as_ref();
            if let Some(size) = p.strip_prefix("buffer=") {
                if values::parse_size(size.as_bytes()).is_none() {
                    return Err(at_end(d, format!("invalid buffer size \"{size}\"")));
                }
            } else if let Some(time) = p.strip_prefix("flush=") {
                if values::parse_time(time.as_bytes(), false).is_none_or(|t| t == 0) {
                    return Err(at_end(d, format!("invalid flush time \"{time}\"")));
                }
            } else if p == "gzip" {
            } else if let Some(level) = p.strip_prefix("gzip=") {
                if !values::atoi(level.as_bytes()).is_some_and(|l| (1..=9).contains(&l)) {
                    return Err(at_end(d, format!("invalid compression level \"{level}\"")));
                }
            } else if let Some(cond) = p.strip_prefix("if=") {
                let word = Word {
                    value: cond.as_bytes().to_vec(),
                    ..param.clone()
                };
                self.use_script(&word, false)
                    .map_err(|e| super::relocate(e, d))?;
            } else {
                return Err(at_end(d, format!("invalid parameter \"{p}\"")));
            }
        }
        Ok(())
    }
}
