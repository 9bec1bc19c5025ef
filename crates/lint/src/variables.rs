//! Which variables a directive defines and which it uses, the way nginx
//! registers them while reading the configuration: a value compiled as a
//! script (`ngx_http_script_compile` in src/http/ngx_http_script.c) uses
//! each `$name` and `${name}` in it; `$1`..`$9` are captures. Only the
//! arguments nginx compiles count (a regex's `$` does not): those of
//! upgate-conf's handlers and of the directive table's
//! `ngx_http_set_complex_value_*_slot` entries, each checked against the
//! real `nginx -t` (1.22) with an undefined variable. Names are checked against
//! [`upgate_conf::variables`]: the built-in variables and prefixes of the
//! http and stream modules.
//!
//! Everything here borrows from the tree: no allocation per argument.

use std::sync::LazyLock;

use rustc_hash::FxHashSet;
use upgate_conf::variables::{HTTP_PREFIXES, HTTP_VARIABLES, STREAM_PREFIXES, STREAM_VARIABLES};
use upgate_conf::{Directive, Word};

/// nginx's two variable spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    Http,
    Stream,
}

impl Space {
    /// The space of a directive inside these blocks (none outside `http`
    /// and `stream`).
    pub fn of(parents: &[&Directive]) -> Option<Space> {
        match parents.first() {
            Some(p) if p.is("http") => Some(Space::Http),
            Some(p) if p.is("stream") => Some(Space::Stream),
            _ => None,
        }
    }
}

/// One `$name` that nginx registers as a use.
#[derive(Debug, Clone, Copy)]
pub struct Use<'a> {
    /// The name as written, without `$` or braces.
    pub name: &'a [u8],
    pub directive: &'a Directive,
    pub word: &'a Word,
    /// Byte range of the reference (`$name`, `${name}`) in `word.value`.
    pub at: (usize, usize),
    pub space: Space,
}

/// Calls `f` for every variable use of `d` (in `space`, below `parents`).
pub fn uses<'a>(
    d: &'a Directive,
    parents: &[&'a Directive],
    space: Space,
    f: &mut impl FnMut(Use<'a>),
) {
    // Most `$` in arguments end a regex; a reference has a name after it.
    let reference = |v: &[u8]| {
        v.contains(&b'$')
            && v.windows(2).any(|w| {
                w[0] == b'$' && (w[1].is_ascii_alphanumeric() || w[1] == b'_' || w[1] == b'{')
            })
    };
    if !d.args.iter().any(|a| reference(&a.value)) {
        return;
    }
    if parents.last().is_some_and(|p| p.is("map")) {
        // A map entry: `KEY VALUE;` (the key is the name).
        if d.args.len() == 1 && !d.is("include") {
            scan(d, 0, 0, space, f);
        }
        return;
    }
    if parents
        .last()
        .is_some_and(|p| p.is("geo") || p.is("split_clients") || p.is("types"))
    {
        return;
    }
    let n = d.args.len();
    match (space, d.name.value.as_slice()) {
        (_, b"set") => scan(d, 1, 0, space, f),
        (_, b"map" | b"split_clients" | b"proxy_pass") => scan(d, 0, 0, space, f),
        (_, b"geo") if n == 2 => scan(d, 0, 0, space, f),
        (_, b"log_format") => {
            let escape = d.arg(1).is_some_and(|a| a.value.starts_with(b"escape="));
            for i in (if escape { 2 } else { 1 })..n {
                scan(d, i, 0, space, f);
            }
        }
        (_, b"return") => {
            let code = d
                .arg(0)
                .is_some_and(|c| c.value.iter().all(u8::is_ascii_digit));
            scan(d, usize::from(code && space == Space::Http), 0, space, f);
        }
        (Space::Stream, _) => {}
        (Space::Http, b"if") => if_condition(d, space, f),
        // Keys are compiled only next to a certificate with variables
        // (`ngx_http_ssl_compile_certificates`).
        (Space::Http, b"ssl_certificate_key") => {
            let dynamic = parents.last().is_some_and(|p| {
                p.children()
                    .any(|c| c.is("ssl_certificate") && c.args.iter().any(|a| reference(&a.value)))
            });
            if dynamic {
                scan(d, 0, 0, space, f);
            }
        }
        (Space::Http, name) => match http_script_args(name, n) {
            Args::From(first) => (first..n).for_each(|i| scan(d, i, 0, space, f)),
            Args::Only(i) => scan(d, i, 0, space, f),
            Args::AccessLog => {
                let path = d.arg(0).map(|p| p.value.as_slice()).unwrap_or_default();
                if path != b"off" && !path.starts_with(b"syslog:") {
                    scan(d, 0, 0, space, f);
                }
                for i in 2..n {
                    if d.args[i].value.starts_with(b"if=") {
                        scan(d, i, 3, space, f);
                    }
                }
            }
            Args::None => {}
        },
    }
}

/// The uses in argument `i` of `d`, from byte `skip` of its value.
fn scan<'a>(d: &'a Directive, i: usize, skip: usize, space: Space, f: &mut impl FnMut(Use<'a>)) {
    if let Some(w) = d.args.get(i) {
        refs_in(w, skip, w.value.len(), |name, at| {
            f(Use {
                name,
                directive: d,
                word: w,
                at,
                space,
            })
        });
    }
}

/// The variable a directive defines, if any (`set $x`, `map ... $x`).
pub fn defines(d: &Directive, space: Space) -> Option<&Word> {
    match (space, d.name.value.as_slice()) {
        (_, b"set" | b"js_set") => d.arg(0),
        (Space::Http, b"perl_set" | b"auth_request_set") => d.arg(0),
        (_, b"map" | b"split_clients") if d.block.is_some() => d.arg(1),
        (_, b"geo") if d.block.is_some() => d.args.last(),
        _ => None,
    }
}

/// True when nginx itself provides the variable (names are case-insensitive).
pub fn is_builtin(name: &[u8], space: Space) -> bool {
    static HTTP: LazyLock<FxHashSet<&'static [u8]>> =
        LazyLock::new(|| HTTP_VARIABLES.iter().map(|v| v.as_bytes()).collect());
    static STREAM: LazyLock<FxHashSet<&'static [u8]>> =
        LazyLock::new(|| STREAM_VARIABLES.iter().map(|v| v.as_bytes()).collect());
    let (table, prefixes) = match space {
        Space::Http => (&*HTTP, HTTP_PREFIXES),
        Space::Stream => (&*STREAM, STREAM_PREFIXES),
    };
    let lower;
    let name = if name.iter().any(u8::is_ascii_uppercase) {
        lower = name.to_ascii_lowercase();
        lower.as_slice()
    } else {
        name
    };
    table.contains(name) || prefixes.iter().any(|p| name.starts_with(p.as_bytes()))
}

/// Which arguments an http directive compiles as scripts.
enum Args {
    From(usize),
    Only(usize),
    AccessLog,
    None,
}

/// The http directives with scripts (upgate-conf's handlers, nginx's
/// `ngx_http_*` handlers that call `ngx_http_compile_complex_value`).
fn http_script_args(name: &[u8], n: usize) -> Args {
    match name {
        b"proxy_set_header" | b"grpc_set_header" | b"fastcgi_param" | b"uwsgi_param"
        | b"scgi_param" | b"rewrite" => Args::Only(1),
        b"add_header" | b"add_trailer" | b"sub_filter" | b"auth_request_set" => Args::From(1),
        b"error_page" => Args::Only(n.saturating_sub(1)),
        b"proxy_redirect" if n == 2 => Args::Only(1),
        b"proxy_redirect" => Args::None,
        b"access_log" => Args::AccessLog,
        b"root"
        | b"alias"
        | b"hash"
        | b"proxy_cache"
        | b"try_files"
        | b"index"
        | b"proxy_cookie_domain"
        | b"proxy_cookie_path"
        | b"ssl_certificate"
        | b"proxy_no_cache"
        | b"proxy_cache_bypass"
        | b"proxy_cache_key"
        | b"expires"
        | b"fastcgi_pass"
        | b"uwsgi_pass"
        | b"scgi_pass"
        | b"grpc_pass"
        | b"fastcgi_cache_key"
        | b"proxy_bind"
        | b"proxy_store"
        | b"proxy_set_body"
        | b"internal_redirect" => Args::From(0),
        _ if complex_value_slot(name) => Args::Only(0),
        _ => Args::None,
    }
}

/// True when the directive table stores the value with
/// `ngx_http_set_complex_value_slot` (or its `_zero`/`_size` forms).
fn complex_value_slot(name: &[u8]) -> bool {
    upgate_conf::directives::lookup(name)
        .iter()
        .any(|spec| spec.handler.starts_with("ngx_http_set_complex_value"))
}

/// `if (...)`: `$var` alone or compared (`=`, `!=`: the value is a script),
/// `-f`-style checks on a script; regex operands are not scripts
/// (`ngx_http_rewrite_if_condition`).
fn if_condition<'a>(d: &'a Directive, space: Space, f: &mut impl FnMut(Use<'a>)) {
    let n = d.args.len();
    // The parentheses belong to the first and last words.
    let skip_paren = |i: usize| usize::from(d.args[i].value.first() == Some(&b'('));
    let Some(first) = d.args.first() else { return };
    let mut i = 0;
    let mut skip = skip_paren(0);
    if first.value.len() == skip {
        i = 1;
        skip = 0;
    }
    let Some(cur) = d.args.get(i) else { return };
    let words = n - i;
    let trim_end = |w: &Word, j: usize| {
        let v = &w.value;
        if j + 1 == n && v.last() == Some(&b')') {
            v.len() - 1
        } else {
            v.len()
        }
    };
    let end = trim_end(cur, i);
    let value = &cur.value[skip.min(end)..end];
    if value.len() > 1 && value[0] == b'$' {
        f(Use {
            name: &value[1..],
            directive: d,
            word: cur,
            at: (skip, end),
            space,
        });
        if let (Some(op), Some(rhs)) = (d.args.get(i + 1), d.args.get(i + 2))
            && (op.is("=") || op.is("!="))
        {
            let end = trim_end(rhs, i + 2);
            refs_in(rhs, 0, end, |name, at| {
                f(Use {
                    name,
                    directive: d,
                    word: rhs,
                    at,
                    space,
                })
            });
        }
    } else if matches!(
        value,
        b"-f" | b"-d" | b"-e" | b"-x" | b"!-f" | b"!-d" | b"!-e" | b"!-x"
    ) && words >= 2
        && let Some(rhs) = d.args.get(i + 1)
    {
        let end = trim_end(rhs, i + 1);
        refs_in(rhs, 0, end, |name, at| {
            f(Use {
                name,
                directive: d,
                word: rhs,
                at,
                space,
            })
        });
    }
}

/// The variable references of a script value between `from` and `to`.
fn refs_in<'a>(w: &'a Word, from: usize, to: usize, mut f: impl FnMut(&'a [u8], (usize, usize))) {
    let v = &w.value[..to.min(w.value.len())];
    let mut i = from;
    while i < v.len() {
        if v[i] != b'$' {
            i += 1;
            continue;
        }
        let dollar = i;
        i += 1;
        match v.get(i) {
            None => break,
            Some(b'1'..=b'9') => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let bracket = v[i] == b'{';
        if bracket {
            i += 1;
        }
        let start = i;
        while i < v.len() && (v[i].is_ascii_alphanumeric() || v[i] == b'_') {
            i += 1;
        }
        let name = &v[start..i];
        if bracket {
            if v.get(i) != Some(&b'}') {
                continue;
            }
            i += 1;
        }
        if !name.is_empty() {
            f(name, (dollar, i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn used(text: &str) -> Vec<String> {
        let config = upgate_conf::parse_file(Path::new("t"), text.as_bytes().to_vec());
        let mut out = Vec::new();
        config.walk(|d, parents| {
            if let Some(space) = Space::of(parents) {
                uses(d, parents, space, &mut |u| {
                    out.push(String::from_utf8_lossy(u.name).into_owned())
                });
            }
        });
        out
    }

    #[test]
    fn only_scripts_count() {
        let text = "http { map $host $m { default $a; ~^(?<x>.+)$ b; }\n\
            server { location ~ ^/(.*)$ { rewrite ^/x$ /$b?$1 last; return 200 \"${c}d\"; }\n\
            if ($d = \"$e\") { set $f $g; } if (-f $h) { } if ($i ~ ^z$) { }\n\
            log_format main escape=json '$j'; access_log /l/$k main if=$l;\n\
            proxy_set_header X $n; limit_rate $o; server_name $p; } }";
        assert_eq!(
            used(text),
            [
                "host", "a", "b", "c", "d", "e", "g", "h", "i", "j", "k", "l", "n", "o"
            ]
        );
    }

    #[test]
    fn builtins_and_prefixes() {
        assert!(is_builtin(b"remote_addr", Space::Http));
        assert!(is_builtin(b"Http_Upgrade", Space::Http));
        assert!(is_builtin(b"arg_page", Space::Http));
        assert!(!is_builtin(b"connection_upgrade", Space::Http));
        assert!(!is_builtin(b"request_uri", Space::Stream));
    }
}
