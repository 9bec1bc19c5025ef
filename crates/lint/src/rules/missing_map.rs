//! `websocket-missing-connection-upgrade-map` (error): `$connection_upgrade`
//! is used but no `map` (nor `set`, `geo`, ...) defines it. nginx -t then
//! fails with `unknown "connection_upgrade" variable`, naming no file or
//! line. Reported at every use; the fix inserts the canonical map at the
//! top of `http {}` (in the file that holds it, or at the top of an
//! http-level snippet); for a server or location snippet the help says where
//! it belongs instead.

use upgate_conf::{SnippetContext, Span};

use crate::fix::Edit;
use crate::rule::Severity;
use crate::variables::Space;
use crate::{Cx, Finding};

pub const ID: &str = "websocket-missing-connection-upgrade-map";

/// The map nginx's own WebSocket guide gives.
pub const CANONICAL: [&str; 4] = [
    "map $http_upgrade $connection_upgrade {",
    "    default upgrade;",
    "    '' close;",
    "}",
];

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if cx.model.defines("connection_upgrade") {
        return;
    }
    let mut uses: Vec<(&upgate_conf::Directive, Span)> = Vec::new();
    for u in &cx.model.uses {
        let span = u.word.span;
        if u.space == Space::Http
            && u.name.eq_ignore_ascii_case(b"connection_upgrade")
            && uses.last().is_none_or(|(_, last)| *last != span)
        {
            uses.push((u.directive, span));
        }
    }
    if uses.is_empty() {
        return;
    }
    let edit = map_edit(cx);
    for (d, span) in uses {
        let mut f = Finding::new(
            ID,
            Severity::Error,
            d.head_span(),
            "$connection_upgrade is used but no map defines it; nginx -t fails with `unknown \"connection_upgrade\" variable` and names no file or line".into(),
        )
        .related(span, "used here");
        f = match &edit {
            Some((anchor, edit)) => f
                .help("add the map to http {}: map $http_upgrade $connection_upgrade { default upgrade; '' close; }")
                .fix(cx.fix(
                    "insert the $connection_upgrade map into http {}",
                    *anchor,
                    vec![edit.clone()],
                )),
            None => f.help(where_it_goes(cx)),
        };
        out.push(f);
    }
}

/// Where the map would be inserted: the top of the first editable http
/// block, or of an http-level snippet.
pub fn map_edit(cx: &Cx<'_>) -> Option<(Span, Edit)> {
    let lines: Vec<String> = CANONICAL.iter().map(|s| s.to_string()).collect();
    if let Some(http) = cx.model.http_blocks.iter().find(|h| cx.editable(h.file())) {
        let edit = cx.text.insert_block_start(http, &lines);
        return cx.editable(edit.file).then_some((http.name.span, edit));
    }
    if cx.snippet != Some(SnippetContext::Http) {
        return None;
    }
    let file = cx.user_main();
    if !cx.editable(file) {
        return None;
    }
    match cx.config.file(file).block.directives().next() {
        Some(first) => Some((first.name.span, cx.text.insert_before(first, &lines))),
        None => {
            let mut text = lines.join("\n").into_bytes();
            text.push(b'\n');
            Some((
                Span::new(file, 0, 0, 1),
                Edit {
                    file,
                    start: 0,
                    end: 0,
                    text,
                },
            ))
        }
    }
}

fn where_it_goes(cx: &Cx<'_>) -> String {
    let block = cx.snippet.map_or("http", |s| s.name());
    format!(
        "this file is read inside a {block} {{}} block and cannot hold a map; add `map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}` to the http {{}} block of the nginx.conf that includes it"
    )
}
