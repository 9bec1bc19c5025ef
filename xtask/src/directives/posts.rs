//! Post objects: what a command's `post` points at.

use std::collections::{BTreeSet, HashMap};

use super::c_lexer::{Tok, Token, matching_brace, parse_c_int, render_tokens, split_top_level};
use super::commands::{Command, Post, PostRef, guard_decision};

/// A definition `TYPE NAME = ...;` or `TYPE NAME[] = { ... };`.
#[derive(Debug, Clone)]
pub struct Definition {
    pub file: String,
    pub line: usize,
    pub ty: String,
    /// The initializer: the tokens inside its braces, or those before the `;`.
    pub init: Vec<Token>,
}

/// Adds the definitions of `file` to `out`, by name. Only the shape is
/// checked (`type name =` or `type name[N] =`, the type's name ending in `_t`
/// or `_pt`), so a few locals may be collected too; only the names a `post`
/// refers to are ever looked up.
pub fn extract_definitions(
    file: &str,
    tokens: &[Token],
    out: &mut HashMap<String, Vec<Definition>>,
) {
    for (i, token) in tokens.iter().enumerate() {
        let Some(ty) = token.ident() else {
            continue;
        };
        if !(ty.ends_with("_t") || ty.ends_with("_pt")) {
            continue;
        }
        let Some(name) = tokens.get(i + 1).and_then(Token::ident) else {
            continue;
        };
        let mut j = i + 2;
        if tokens.get(j).is_some_and(|t| t.is_punct('[')) {
            j += 1;
            if tokens
                .get(j)
                .is_some_and(|t| matches!(t.tok, Tok::Num(_) | Tok::Ident(_)))
            {
                j += 1;
            }
            if !tokens.get(j).is_some_and(|t| t.is_punct(']')) {
                continue;
            }
            j += 1;
        }
        if !tokens.get(j).is_some_and(|t| t.is_punct('=')) {
            continue;
        }
        let init = if tokens.get(j + 1).is_some_and(|t| t.is_punct('{')) {
            let Some(close) = matching_brace(tokens, j + 1) else {
                continue;
            };
            &tokens[j + 2..close]
        } else {
            let rest = &tokens[j + 1..];
            &rest[..rest
                .iter()
                .position(|t| t.is_punct(';'))
                .unwrap_or(rest.len())]
        };
        out.entry(name.to_owned()).or_default().push(Definition {
            file: file.to_owned(),
            line: token.line,
            ty: ty.to_owned(),
            init: init.to_vec(),
        });
    }
}

/// Fills in `command.post` from the definition its `post_ref` names: the one
/// in `file` (the module's own), else the only one among the release's files.
pub fn resolve_post(
    command: &mut Command,
    file: &str,
    definitions: &HashMap<String, Vec<Definition>>,
    guards_seen: &mut BTreeSet<String>,
) -> Result<(), String> {
    let named_kind = match command.handler.as_str() {
        "ngx_conf_set_enum_slot" => Some("ngx_conf_enum_t"),
        "ngx_conf_set_bitmask_slot" => Some("ngx_conf_bitmask_t"),
        _ => None,
    };
    let object = match (&command.post_ref, named_kind) {
        (Some(PostRef::Object(object)), _) => object,
        (_, Some(kind)) => {
            return Err(format!(
                "{file}: {:?} uses {} with no {kind} as post",
                command.name, command.handler
            ));
        }
        (Some(PostRef::Marker), None) => {
            command.post = Post {
                kind: "void *".to_owned(),
                ..Post::default()
            };
            return Ok(());
        }
        (None, None) => {
            command.post = Post::default();
            return Ok(());
        }
    };
    let candidates = definitions.get(object).map_or(&[][..], Vec::as_slice);
    let local: Vec<&Definition> = candidates.iter().filter(|d| d.file == file).collect();
    let found = if local.is_empty() {
        candidates.iter().collect()
    } else {
        local
    };
    let definition = match found.as_slice() {
        [] => {
            return Err(format!(
                "{file}: post of {:?}: found no definition of {object}",
                command.name
            ));
        }
        [first, rest @ ..]
            if rest.iter().all(|other| {
                other.ty == first.ty && render_tokens(&other.init) == render_tokens(&first.init)
            }) =>
        {
            *first
        }
        _ => {
            return Err(format!(
                "{file}: post of {:?}: {object} has {} differing definitions",
                command.name,
                found.len()
            ));
        }
    };
    let at = format!("{}:{}: {object}", definition.file, definition.line);
    let mut post = Post {
        kind: definition.ty.clone(),
        ..Post::default()
    };
    match named_kind {
        Some(kind) if kind == definition.ty => {
            post.values = named_values(&definition.init, &at, guards_seen)?;
        }
        Some(kind) => {
            return Err(format!(
                "{at}: {} of {:?} needs an {kind}, not an {}",
                command.handler, command.name, definition.ty
            ));
        }
        None if definition.ty == "ngx_conf_num_bounds_t" => {
            post.bounds = Some(num_bounds(&definition.init).ok_or_else(|| {
                format!(
                    "{at}: `{}` is not `ngx_conf_check_num_bounds, low, high`",
                    render_tokens(&definition.init)
                )
            })?);
        }
        None => {}
    }
    command.post = post;
    Ok(())
}

/// The names of an `ngx_conf_enum_t`/`ngx_conf_bitmask_t` array initializer,
/// `{ ngx_string("name"), value }, ... { ngx_null_string, 0 }`, in order.
fn named_values(
    init: &[Token],
    at: &str,
    guards_seen: &mut BTreeSet<String>,
) -> Result<Vec<String>, String> {
    let mut open_guards: Vec<bool> = Vec::new();
    let mut values = Vec::new();
    let mut terminated = false;
    let mut i = 0;
    while let Some(token) = init.get(i) {
        match &token.tok {
            Tok::Directive(directive) => {
                let text = render_tokens(directive);
                match directive.first().and_then(Token::ident) {
                    Some("if" | "ifdef" | "ifndef") => {
                        open_guards.push(guard_decision(&text, at)?);
                        guards_seen.insert(text);
                    }
                    Some("endif") => {
                        open_guards
                            .pop()
                            .ok_or_else(|| format!("{at}: #endif without #if"))?;
                    }
                    _ => return Err(format!("{at}: `#{text}` inside the array")),
                }
                i += 1;
            }
            Tok::Punct('{') if !terminated => {
                let close =
                    matching_brace(init, i).ok_or_else(|| format!("{at}: unbalanced braces"))?;
                let entry = &init[i + 1..close];
                match split_top_level(entry).first().copied() {
                    Some([null]) if null.ident() == Some("ngx_null_string") => {
                        if !open_guards.is_empty() {
                            return Err(format!("{at}: ngx_null_string inside an #if"));
                        }
                        terminated = true;
                    }
                    Some(
                        [
                            func,
                            open,
                            Token {
                                tok: Tok::Str(value),
                                ..
                            },
                            close_paren,
                        ],
                    ) if func.ident() == Some("ngx_string")
                        && open.is_punct('(')
                        && close_paren.is_punct(')') =>
                    {
                        if open_guards.iter().all(|&include| include) {
                            values.push(value.clone());
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{at}: unexpected entry `{{ {} }}`",
                            render_tokens(entry)
                        ));
                    }
                }
                i = close + 1;
                if init.get(i).is_some_and(|t| t.is_punct(',')) {
                    i += 1;
                }
            }
            _ => {
                return Err(format!(
                    "{at}: unexpected `{}`",
                    render_tokens(std::slice::from_ref(token))
                ));
            }
        }
    }
    if !terminated {
        return Err(format!("{at}: does not end with {{ ngx_null_string, 0 }}"));
    }
    Ok(values)
}

/// `ngx_conf_check_num_bounds, low, high`: an `ngx_conf_num_bounds_t`.
fn num_bounds(init: &[Token]) -> Option<(i64, i64)> {
    let number = |tokens: &[Token]| -> Option<i64> {
        match tokens {
            [
                Token {
                    tok: Tok::Num(n), ..
                },
            ] => i64::try_from(parse_c_int(n)?).ok(),
            [
                minus,
                Token {
                    tok: Tok::Num(n), ..
                },
            ] if minus.is_punct('-') => i64::try_from(parse_c_int(n)?).ok().map(|v| -v),
            _ => None,
        }
    };
    match split_top_level(init).as_slice() {
        [[check], low, high] if check.ident() == Some("ngx_conf_check_num_bounds") => {
            Some((number(low)?, number(high)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::c_lexer::{MacroScope, Macros, tokenize};
    use crate::directives::commands::extract_modules;
    use crate::directives::ok;

    /// The commands of one file, posts resolved.
    fn resolved(source: &str) -> Result<Vec<Command>, String> {
        let tokens = ok(tokenize(source));
        let mut macros = Macros::default();
        macros.add_definitions(&ok(tokenize("#define T1 1\n")));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &macros],
        };
        let mut guards = BTreeSet::new();
        let mut modules = extract_modules("f.c", &tokens, &scope, &mut guards)?;
        let mut definitions = HashMap::new();
        extract_definitions("f.c", &tokens, &mut definitions);
        let mut commands = modules.remove(0).commands;
        for command in &mut commands {
            resolve_post(command, "f.c", &definitions, &mut guards)?;
        }
        Ok(commands)
    }

    const MODULE: &str = "ngx_module_t m = { NGX_MODULE_V1, &ctx, c, NGX_HTTP_MODULE };\n";

    #[test]
    fn fields_and_posts_are_resolved() {
        let source = format!(
            "{}{MODULE}",
            r#"
static ngx_conf_enum_t  ngx_v[] = {
    { ngx_string("1.0"), 10 },
#if (NGX_HTTP_SSL)
    { ngx_string("1.1"), 11 },
#endif
    { ngx_null_string, 0 }
};
static ngx_conf_num_bounds_t  b = { ngx_conf_check_num_bounds, -5, -1 };
static ngx_conf_deprecated_t  d = { ngx_conf_deprecated, "old", "new" };
static ngx_command_t c[] = {
    { ngx_string("v"), T1, ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_x_conf_t,   upstream . v), &ngx_v },
    { ngx_string("n"), T1, ngx_conf_set_num_slot, 0,
      offsetof(ngx_x_conf_t, n), &b },
    { ngx_string("o"), T1, ngx_conf_set_num_slot, 0,
      offsetof(ngx_x_conf_t, n), &d },
    { ngx_string("s"), T1, ngx_x, 0, 0, (void *) 1 },
    { ngx_string("t"), T1, ngx_x, 0, 0, &ngx_v[0] },
    ngx_null_command
};
"#
        );
        let commands = ok(resolved(&source));
        let [v, n, o, s, t] = commands.as_slice() else {
            panic!("{commands:?}");
        };
        assert_eq!(v.conf, "NGX_HTTP_LOC_CONF_OFFSET");
        assert_eq!(v.field, "ngx_x_conf_t.upstream.v");
        assert_eq!(v.post.kind, "ngx_conf_enum_t");
        assert_eq!(v.post.values, ["1.0", "1.1"]);
        assert_eq!(n.post.bounds, Some((-5, -1)));
        assert_eq!(n.field, o.field);
        assert_eq!(o.post.kind, "ngx_conf_deprecated_t");
        assert!(o.post.values.is_empty() && o.post.bounds.is_none());
        assert_eq!(s.post.kind, "void *");
        // Only enum/bitmask slots list values.
        assert_eq!(t.post.kind, "ngx_conf_enum_t");
        assert!(t.post.values.is_empty());
    }

    #[test]
    fn bad_posts_are_errors() {
        let source = |post: &str| {
            format!(
                "static ngx_conf_post_t p = {{ ngx_p }};\n\
                 static ngx_command_t c[] = {{\n\
                 {{ ngx_string(\"v\"), T1, ngx_conf_set_enum_slot, 0, 0, {post} }},\n\
                 ngx_null_command\n}};\n{MODULE}"
            )
        };
        let err = |post: &str| match resolved(&source(post)) {
            Ok(commands) => panic!("{commands:?}"),
            Err(err) => err,
        };
        assert!(err("&p").contains("needs an ngx_conf_enum_t"));
        assert!(err("&nowhere").contains("no definition of nowhere"));
        assert!(err("NULL").contains("with no ngx_conf_enum_t"));
        assert!(err("p + 1").contains("neither NULL"));
    }
}
