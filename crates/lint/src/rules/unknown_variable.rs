//! `unknown-variable` (error): a variable is used that neither nginx
//! (`upgate_conf::variables`: the built-in names and prefixes of the http
//! and stream modules) nor the configuration (`set`, `map`, `geo`,
//! `split_clients`, `auth_request_set`, `perl_set`, `js_set`, a named regex
//! capture) defines. nginx -t stops at the first such name
//! (`ngx_http_variables_init_vars` in src/http/ngx_http_variables.c) and
//! names no file or line; this rule reports every use of every undefined
//! name, each at the `$name` itself. `$connection_upgrade` is left to
//! websocket-missing-connection-upgrade-map, which also fixes it. No fix:
//! only the author knows what was meant. upgate's own variables
//! (`$upgate_tunnel_close`) are a warning: upgate serves the file, nginx
//! would refuse it.

use std::borrow::Cow;

use upgate_conf::Span;

use crate::rule::Severity;
use crate::rules::nginx_config_error::{span_of, unknown_variable};
use crate::variables::{Space, Use};
use crate::{Cx, Finding};

pub const ID: &str = "unknown-variable";

const HELP: &str = "define it with `map`, `set` or `geo`, or fix the spelling; if another file defines it, lint the nginx.conf that includes both";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut found_nginx_s = false;
    let nginx_s = cx.loaded.error.as_ref().and_then(unknown_variable);
    for u in &cx.model.uses {
        let name = lower(u.name);
        if defined(cx, u.space, &name) {
            continue;
        }
        found_nginx_s |= nginx_s == Some(name.as_ref());
        let written = String::from_utf8_lossy(u.name);
        if u.space == Space::Http
            && upgate_conf::variables::UPGATE_VARIABLES.contains(&name.as_ref())
        {
            out.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    span_of_use(cx, u),
                    format!(
                        "${written} is upgate's own variable: upgate fills it, but nginx -t fails on this file with `unknown \"{name}\" variable`"
                    ),
                )
                .help("keep the log_format that uses it in a file only upgate reads, or accept that this configuration is upgate-only"),
            );
            continue;
        }
        out.push(
            Finding::new(
                ID,
                Severity::Error,
                span_of_use(cx, u),
                format!(
                    "${written} is used but nothing defines it; nginx -t fails with `unknown \"{name}\" variable` and names no file or line"
                ),
            )
            .help(HELP),
        );
    }
    // What nginx -t reported but the uses above do not show (a directive
    // whose scripts this linter does not know): at nginx's own place.
    if let (Some(name), Some(error)) = (nginx_s, &cx.loaded.error)
        && !found_nginx_s
        && !defined(cx, Space::Http, &lower(name.as_bytes()))
    {
        out.push(
            Finding::new(
                ID,
                Severity::Error,
                span_of(cx, error),
                format!(
                    "${name} is used but nothing defines it; nginx -t fails with `{}` and names no file or line",
                    error.message
                ),
            )
            .help(HELP),
        );
    }
}

fn lower(name: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(name) {
        Cow::Borrowed(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Borrowed(s),
        s => Cow::Owned(s.to_ascii_lowercase()),
    }
}

/// True when the configuration defines the name, or another rule owns it.
fn defined(cx: &Cx<'_>, space: Space, name: &str) -> bool {
    match space {
        Space::Http => name == "connection_upgrade" || cx.model.defined.contains(name),
        Space::Stream => cx.model.stream_defined.contains(name),
    }
}

/// The span of `$name` itself when the word is written as nginx reads it
/// (no escapes before it), else the whole word.
fn span_of_use(cx: &Cx<'_>, u: &Use<'_>) -> Span {
    let span = u.word.span;
    let Some(source) = cx.config.sources.files().get(span.file.index()) else {
        return span;
    };
    let raw = &source.text;
    let base = span.start as usize + usize::from(u.word.is_quoted());
    let (from, to) = (base + u.at.0, base + u.at.1);
    match (raw.get(span.start as usize..from), raw.get(from..to)) {
        (Some(before), Some(text)) if text == &u.word.value[u.at.0..u.at.1] => {
            let newlines = before.iter().filter(|b| **b == b'\n').count() as u32;
            Span::new(span.file, from, to, span.line + newlines)
        }
        _ => span,
    }
}

#[cfg(test)]
mod tests {
    use crate::{NoResolve, Options, lint, load_options};

    #[test]
    fn every_use_is_reported_at_its_place() {
        let dir =
            std::env::temp_dir().join(format!("upgate-lint-unknown-var-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("nginx.conf");
        let text = "events {}\nhttp {\n    geo $remote_addr $g { default 1; }\n    server {\n        listen 8080;\n        location / {\n            return 200 \"$Foo $g\";\n        }\n        location /x {\n            proxy_set_header X \"a${foo}\";\n            if ($bar) { return 404; }\n            proxy_pass http://127.0.0.1:1;\n        }\n    }\n}\nstream {\n    server {\n        listen 9000;\n        return $baz;\n    }\n}\n";
        let _ = std::fs::write(&path, text);
        let loaded = upgate_conf::load(&load_options(&path));
        let report = lint(&loaded, &Options::new(&NoResolve));
        let names: Vec<(u32, &str)> = report
            .findings
            .iter()
            .filter(|f| f.rule == super::ID)
            .map(|f| {
                let at = f.span.start as usize..f.span.end as usize;
                (f.span.line, text.get(at).unwrap_or_default())
            })
            .collect();
        assert_eq!(
            names,
            vec![(7, "$Foo"), (10, "${foo}"), (11, "$bar"), (19, "$baz")],
            "{:#?}",
            report.findings
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
