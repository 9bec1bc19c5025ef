//! `add-header-inheritance-loss` (warning): the `proxy_set_header` trap
//! for response headers. A server, location or `if` block with its own
//! `add_header` lines replaces the inherited list wholesale
//! (`ngx_http_headers_merge_conf` in ngx_http_headers_filter_module.c:
//! `if (conf->headers == NULL) conf->headers = prev->headers`), so the
//! headers set around it (HSTS, CSP, CORS, `X-Frame-Options`...) are not
//! sent from there. Reported once per block, at its first own `add_header`,
//! with the lost headers and where they were set. nginx 1.29.3's
//! `add_header_inherit merge` (merge the lists) and `off` (inherit nothing,
//! on purpose) silence it. The fix copies the lost lines down, before the
//! block's own list, unless one of them uses a regex capture (`$1`), whose
//! value would come from another match there.

use upgate_conf::Directive;

use crate::inherit::ScopeId;
use crate::rule::Severity;
use crate::rules::inheritance_loss::{Loss, lost};
use crate::{Cx, Finding, NginxVersion};

pub const ID: &str = "add-header-inheritance-loss";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for (s, scope) in cx.scopes.all.iter().enumerate() {
        let Some(first) = scope.add_header.first() else {
            continue;
        };
        if inherit_mode(cx, s) != Mode::On {
            continue;
        }
        let Some(parent) = scope.parent else { continue };
        let inherited = effective(cx, parent);
        let lost = lost(&scope.add_header, &inherited, true);
        if lost.is_empty() {
            continue;
        }
        let fixable = !lost.iter().any(|d| uses_capture(d));
        let loss = Loss::new(s, first, lost);
        let mut f = loss.finding(cx, ID, Severity::Warning, "add_header", fixable);
        if cx.options.nginx_version >= MERGE_SINCE {
            f.help = Some(
                "copy the lost lines into this block, move all the lines to one level, or add `add_header_inherit merge;`"
                    .into(),
            );
        }
        out.push(f);
    }
}

/// The release that added `add_header_inherit`.
const MERGE_SINCE: NginxVersion = NginxVersion(1, 29, 3);

/// `add_header_inherit` in force: `on` (the default), `off` or `merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    On,
    Off,
    Merge,
}

fn inherit_mode(cx: &Cx<'_>, s: ScopeId) -> Mode {
    match cx
        .scopes
        .get(s)
        .in_force
        .add_header_inherit
        .and_then(|d| d.arg(0))
    {
        Some(v) if v.is("off") => Mode::Off,
        Some(v) if v.is("merge") => Mode::Merge,
        _ => Mode::On,
    }
}

/// The `add_header` lines that apply at a scope: its own, or the
/// inherited ones when it has none (none under `off`), both under `merge`.
fn effective<'a>(cx: &Cx<'a>, s: ScopeId) -> Vec<&'a Directive> {
    let scope = cx.scopes.get(s);
    let mode = inherit_mode(cx, s);
    let above = |cx: &Cx<'a>| scope.parent.map(|p| effective(cx, p)).unwrap_or_default();
    match (scope.add_header.is_empty(), mode) {
        (_, Mode::Off) => scope.add_header.clone(),
        (true, _) => above(cx),
        (false, Mode::On) => scope.add_header.clone(),
        (false, Mode::Merge) => {
            let mut all = scope.add_header.clone();
            all.extend(above(cx));
            all
        }
    }
}

/// True when a line's value uses `$1`..`$9`.
fn uses_capture(d: &Directive) -> bool {
    d.args.iter().skip(1).any(|a| {
        a.value
            .windows(2)
            .any(|w| w[0] == b'$' && (b'1'..=b'9').contains(&w[1]))
    })
}

#[cfg(test)]
mod tests {
    use crate::{NginxVersion, NoResolve, Options, lint, load_options};

    fn findings(text: &str, version: NginxVersion) -> Vec<(u32, bool, String)> {
        let dir = std::env::temp_dir().join(format!(
            "upgate-lint-add-header-{}-{}",
            std::process::id(),
            text.len()
        ));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("nginx.conf");
        let _ = std::fs::write(&path, text);
        let loaded = upgate_conf::load(&load_options(&path));
        let mut options = Options::new(&NoResolve);
        options.nginx_version = version;
        let report = lint(&loaded, &options);
        let _ = std::fs::remove_dir_all(&dir);
        report
            .findings
            .iter()
            .filter(|f| f.rule == super::ID)
            .map(|f| (f.span.line, f.fix.is_some(), f.message.clone()))
            .collect()
    }

    #[test]
    fn lists_every_lost_line_and_skips_captures() {
        let text = "events {}\nhttp {\n    add_header Link \"</a>\";\n    add_header Link \"</b>\";\n    server {\n        listen 8080;\n        location ~ ^/(x) {\n            add_header Cache-Control no-store;\n            add_header Link \"</c>\";\n            return 204;\n        }\n        location /y {\n            add_header X-Y $1;\n            location /y/z {\n                add_header Z 1;\n                return 204;\n            }\n            return 204;\n        }\n    }\n}\n";
        let found = findings(text, NginxVersion::default());
        assert_eq!(found.len(), 2, "{found:#?}");
        // location /y loses both Link lines; location ~ sets its own Link.
        assert_eq!(found[0].0, 13);
        assert!(found[0].1);
        assert!(found[0].2.contains("Link set at"), "{}", found[0].2);
        // location /y/z loses X-Y, whose $1 makes the copy uncertain.
        assert_eq!((found[1].0, found[1].1), (15, false));
    }

    #[test]
    fn merge_and_off_silence_it() {
        let text = "events {}\nhttp {\n    add_header A 1;\n    server {\n        listen 8080;\n        add_header_inherit merge;\n        location / { add_header B 2; return 204; }\n        location /x { add_header_inherit off; add_header C 3; return 204; }\n    }\n}\n";
        assert_eq!(findings(text, NginxVersion(1, 29, 3)), vec![]);
    }
}
