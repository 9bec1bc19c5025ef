//! Commands arrays and module definitions.

use std::collections::{BTreeSet, HashMap};

use super::c_lexer::{MacroScope, Tok, Token, matching_brace, render_tokens, split_top_level};
use super::decisions::GUARDS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleType {
    Core,
    Conf,
    Event,
    Http,
    Stream,
    Mail,
}

impl ModuleType {
    pub fn from_c(name: &str) -> Option<ModuleType> {
        Some(match name {
            "NGX_CORE_MODULE" => ModuleType::Core,
            "NGX_CONF_MODULE" => ModuleType::Conf,
            "NGX_EVENT_MODULE" => ModuleType::Event,
            "NGX_HTTP_MODULE" => ModuleType::Http,
            "NGX_STREAM_MODULE" => ModuleType::Stream,
            "NGX_MAIL_MODULE" => ModuleType::Mail,
            _ => return None,
        })
    }

    pub fn rust_name(self) -> &'static str {
        match self {
            ModuleType::Core => "Core",
            ModuleType::Conf => "Conf",
            ModuleType::Event => "Event",
            ModuleType::Http => "Http",
            ModuleType::Stream => "Stream",
            ModuleType::Mail => "Mail",
        }
    }
}

/// One `ngx_command_t` entry.
#[derive(Debug, Clone)]
pub struct Command {
    pub name: String,
    /// `cmd->type`, evaluated.
    pub flags: u32,
    /// The type expression as written, `NGX_` prefixes dropped.
    pub expr: String,
    /// `cmd->set`: the handler function's name.
    pub handler: String,
    /// `cmd->conf` as written: `NGX_HTTP_LOC_CONF_OFFSET`, `0`, ...
    pub conf: String,
    /// `cmd->offset`: `type.member` for `offsetof(type, member)`, "" for `0`.
    pub field: String,
    /// What `cmd->post` is; None for NULL.
    pub post_ref: Option<PostRef>,
    /// What `post_ref` is, filled in by [`Release::read`].
    pub post: Post,
}

impl Command {
    /// Whether the two describe the same directive, as far as the table says.
    pub fn same_as(&self, other: &Command) -> bool {
        (
            self.flags,
            &self.handler,
            &self.conf,
            &self.field,
            &self.post,
        ) == (
            other.flags,
            &other.handler,
            &other.conf,
            &other.field,
            &other.post,
        )
    }
}

/// A command's `post` as written, when not NULL.
#[derive(Debug, Clone)]
pub enum PostRef {
    /// `name`, `&name` or `&name[0]`: the object it points at.
    Object(String),
    /// `(void *) N`: a constant telling the handler something.
    Marker,
}

/// The object a command's `post` points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Post {
    /// Its C type ("void *" for a `(void *) N` marker); "" for NULL.
    pub kind: String,
    /// For `ngx_conf_set_enum_slot`/`ngx_conf_set_bitmask_slot`: the names of
    /// the `ngx_conf_enum_t`/`ngx_conf_bitmask_t` array, in order.
    pub values: Vec<String>,
    /// For an `ngx_conf_num_bounds_t`: low and high (-1: no limit).
    pub bounds: Option<(i64, i64)>,
}

/// One `ngx_module_t` whose commands array is not NULL.
#[derive(Debug)]
pub struct Module {
    pub name: String,
    pub module_type: ModuleType,
    pub file: String,
    pub commands: Vec<Command>,
}

/// Finds the modules defined in `file` and their commands. `guards_seen`
/// collects the `#if` lines met inside commands arrays.
pub fn extract_modules(
    file: &str,
    tokens: &[Token],
    macros: &MacroScope,
    guards_seen: &mut BTreeSet<String>,
) -> Result<Vec<Module>, String> {
    let mut arrays: HashMap<String, Vec<Command>> = HashMap::new();
    let mut definitions = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let rest = &tokens[i..];
        if let Some(name) = commands_array_head(rest) {
            let (commands, next) = parse_commands(file, name, tokens, i + 6, macros, guards_seen)?;
            if arrays.insert(name.to_owned(), commands).is_some() {
                return Err(format!("{file}: commands array {name} is defined twice"));
            }
            i = next;
        } else if let Some(name) = module_head(rest) {
            let (commands, module_type, next) = parse_module(file, name, tokens, i + 3)?;
            definitions.push((name.to_owned(), commands, module_type));
            i = next;
        } else {
            i += 1;
        }
    }

    let mut modules = Vec::new();
    for (name, commands, module_type) in definitions {
        let Some(array) = commands else {
            continue;
        };
        let commands = arrays.remove(&array).ok_or_else(|| {
            format!("{file}: module {name} uses {array}, which is not defined here")
        })?;
        modules.push(Module {
            name,
            module_type,
            file: file.to_owned(),
            commands,
        });
    }
    if let Some(unused) = arrays.keys().min() {
        return Err(format!(
            "{file}: commands array {unused} is not used by any ngx_module_t here"
        ));
    }
    Ok(modules)
}

/// `ngx_command_t NAME [ ] = {` at the start of `tokens`.
fn commands_array_head(tokens: &[Token]) -> Option<&str> {
    match tokens {
        [ty, name, lb, rb, eq, brace, ..]
            if ty.ident() == Some("ngx_command_t")
                && lb.is_punct('[')
                && rb.is_punct(']')
                && eq.is_punct('=')
                && brace.is_punct('{') =>
        {
            name.ident()
        }
        _ => None,
    }
}

/// `ngx_module_t NAME = {` at the start of `tokens`.
fn module_head(tokens: &[Token]) -> Option<&str> {
    match tokens {
        [ty, name, eq, brace, ..]
            if ty.ident() == Some("ngx_module_t") && eq.is_punct('=') && brace.is_punct('{') =>
        {
            name.ident()
        }
        _ => None,
    }
}

/// Parses the body of commands array `array`, starting just after its `{`;
/// returns the entries and the index after the closing `};`.
fn parse_commands(
    file: &str,
    array: &str,
    tokens: &[Token],
    start: usize,
    macros: &MacroScope,
    guards_seen: &mut BTreeSet<String>,
) -> Result<(Vec<Command>, usize), String> {
    // One flag per open #if: are its entries included?
    let mut open_guards: Vec<bool> = Vec::new();
    let mut commands = Vec::new();
    let mut i = start;
    loop {
        let token = tokens
            .get(i)
            .ok_or_else(|| format!("{file}: {array} does not end with ngx_null_command"))?;
        let at = format!("{file}:{}: {array}", token.line);
        match &token.tok {
            Tok::Directive(directive) => {
                let text = render_tokens(directive);
                match directive.first().and_then(Token::ident) {
                    Some("if" | "ifdef" | "ifndef") => {
                        open_guards.push(guard_decision(&text, &at)?);
                        guards_seen.insert(text);
                    }
                    Some("endif") => {
                        open_guards
                            .pop()
                            .ok_or_else(|| format!("{at}: #endif without #if"))?;
                    }
                    _ => {
                        return Err(format!(
                            "{at}: `#{text}` inside a commands array; only \
                             #if/#ifdef/#ifndef ... #endif around whole entries is handled"
                        ));
                    }
                }
                i += 1;
            }
            Tok::Punct('{') => {
                let close =
                    matching_brace(tokens, i).ok_or_else(|| format!("{at}: unbalanced braces"))?;
                if open_guards.iter().all(|&include| include) {
                    let command = parse_command(&tokens[i + 1..close], macros)
                        .map_err(|err| format!("{at}: {err}"))?;
                    commands.push(command);
                }
                i = close + 1;
                if tokens.get(i).is_some_and(|t| t.is_punct(',')) {
                    i += 1;
                }
            }
            Tok::Ident(name) if name == "ngx_null_command" => {
                if !open_guards.is_empty() {
                    return Err(format!("{at}: ngx_null_command inside an #if"));
                }
                return match (tokens.get(i + 1), tokens.get(i + 2)) {
                    (Some(close), Some(semi)) if close.is_punct('}') && semi.is_punct(';') => {
                        Ok((commands, i + 3))
                    }
                    _ => Err(format!("{at}: expected `}};` after ngx_null_command")),
                };
            }
            _ => {
                return Err(format!(
                    "{at}: unexpected `{}` between entries",
                    render_tokens(std::slice::from_ref(token))
                ));
            }
        }
    }
}

/// Whether entries under `#text` (an `#if` line) are included, from [`GUARDS`].
pub fn guard_decision(text: &str, at: &str) -> Result<bool, String> {
    GUARDS
        .iter()
        .find(|(guard, _)| *guard == text)
        .map(|&(_, include)| include)
        .ok_or_else(|| {
            format!(
                "{at}: no decision for entries under `#{text}`; \
                 add it to GUARDS in xtask/src/directives/decisions.rs"
            )
        })
}

/// Parses `ngx_string("name"), TYPE, set, conf, offset, post`.
fn parse_command(fields: &[Token], macros: &MacroScope) -> Result<Command, String> {
    if fields.iter().any(|t| matches!(t.tok, Tok::Directive(_))) {
        return Err("preprocessor line inside an entry".to_owned());
    }
    let parts = split_top_level(fields);
    let [name, ty, set, conf, offset, post] = parts.as_slice() else {
        return Err(format!(
            "expected 6 fields in `{{ {} }}`",
            render_tokens(fields)
        ));
    };
    let name = match name {
        [func, open, lit, close]
            if func.ident() == Some("ngx_string") && open.is_punct('(') && close.is_punct(')') =>
        {
            match &lit.tok {
                Tok::Str(name) => name.clone(),
                _ => return Err(format!("bad name `{}`", render_tokens(name))),
            }
        }
        _ => return Err(format!("bad name `{}`", render_tokens(name))),
    };
    let value = macros
        .eval(ty, 0)
        .map_err(|err| format!("type of {name:?}: {err}"))?;
    let flags = u32::try_from(value)
        .map_err(|_| format!("type of {name:?} ({value:#x}) does not fit in 32 bits"))?;
    let expr = ty
        .iter()
        .map(|t| match &t.tok {
            Tok::Ident(s) => s.strip_prefix("NGX_").unwrap_or(s).to_owned(),
            _ => render_tokens(std::slice::from_ref(t)),
        })
        .collect();
    let handler = match set {
        [token] => token.ident().map(str::to_owned),
        _ => None,
    }
    .ok_or_else(|| format!("set of {name:?}: `{}` is not a name", render_tokens(set)))?;
    let conf = match conf {
        [token] if matches!(token.tok, Tok::Ident(_) | Tok::Num(_)) => render_tokens(conf),
        _ => {
            return Err(format!(
                "conf of {name:?}: `{}` is not a macro or a number",
                render_tokens(conf)
            ));
        }
    };
    let field = parse_offset(offset).ok_or_else(|| {
        format!(
            "offset of {name:?}: `{}` is neither 0 nor offsetof(type, member)",
            render_tokens(offset)
        )
    })?;
    // `name`, `&name`, or `&name[0]` (an array's first element, e.g. the
    // default MIME types that ngx_http_types_slot takes as post).
    let object = match post {
        [object] => object.ident(),
        [amp, object] if amp.is_punct('&') => object.ident(),
        [amp, object, open, zero, close]
            if amp.is_punct('&')
                && open.is_punct('[')
                && zero.tok == Tok::Num("0".to_owned())
                && close.is_punct(']') =>
        {
            object.ident()
        }
        _ => None,
    };
    let post_ref = match (object, post) {
        (Some("NULL"), _) => None,
        (Some(object), _) => Some(PostRef::Object(object.to_owned())),
        // `(void *) 1`: a marker, not an object (xslt_string_param has it,
        // telling it from xslt_param, which shares its handler).
        (
            None,
            [
                open,
                void,
                star,
                close,
                Token {
                    tok: Tok::Num(_), ..
                },
            ],
        ) if open.is_punct('(')
            && void.ident() == Some("void")
            && star.is_punct('*')
            && close.is_punct(')') =>
        {
            Some(PostRef::Marker)
        }
        (None, _) => {
            return Err(format!(
                "post of {name:?}: `{}` is neither NULL nor &name, name or &name[0]",
                render_tokens(post)
            ));
        }
    };
    Ok(Command {
        name,
        flags,
        expr,
        handler,
        conf,
        field,
        post_ref,
        post: Post::default(),
    })
}

/// `0` as "", `offsetof(type, a.b)` as "type.a.b", spaces dropped so that
/// two commands writing the same member give equal strings.
fn parse_offset(tokens: &[Token]) -> Option<String> {
    let compact = |tokens: &[Token]| -> Option<String> {
        let simple = tokens
            .iter()
            .all(|t| matches!(t.tok, Tok::Ident(_) | Tok::Num(_) | Tok::Punct(_)));
        (simple && !tokens.is_empty()).then(|| render_tokens(tokens).replace(' ', ""))
    };
    match tokens {
        [zero] if zero.tok == Tok::Num("0".to_owned()) => Some(String::new()),
        [func, open, inner @ .., close]
            if func.ident() == Some("offsetof") && open.is_punct('(') && close.is_punct(')') =>
        {
            match split_top_level(inner).as_slice() {
                [ty, member] => Some(format!("{}.{}", compact(ty)?, compact(member)?)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Parses an `ngx_module_t` initializer whose `{` is at `brace`; returns the
/// commands array (None for NULL), the module type and the index after `}`.
fn parse_module(
    file: &str,
    module: &str,
    tokens: &[Token],
    brace: usize,
) -> Result<(Option<String>, ModuleType, usize), String> {
    let line = tokens.get(brace).map_or(0, |t| t.line);
    let at = format!("{file}:{line}: {module}");
    let close = matching_brace(tokens, brace).ok_or_else(|| format!("{at}: unbalanced braces"))?;
    let fields = split_top_level(&tokens[brace + 1..close]);
    let single_ident = |n: usize| match fields.get(n) {
        Some([token]) => token.ident(),
        _ => None,
    };
    if single_ident(0) != Some("NGX_MODULE_V1") {
        return Err(format!(
            "{at}: initializer does not start with NGX_MODULE_V1"
        ));
    }
    let commands = match single_ident(2) {
        Some("NULL") => None,
        Some(array) => Some(array.to_owned()),
        None => return Err(format!("{at}: third field is not a commands array name")),
    };
    let module_type = single_ident(3)
        .and_then(ModuleType::from_c)
        .ok_or_else(|| format!("{at}: fourth field is not a known NGX_*_MODULE type"))?;
    Ok((commands, module_type, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::c_lexer::{Macros, tokenize};
    use crate::directives::ok;

    #[test]
    fn commands_and_modules_are_extracted() {
        let source = r#"
static ngx_command_t  ngx_foo_commands[] = {

    { ngx_string("foo"),
      T1
      |T2,
      ngx_foo, 0, 0, NULL },

#if (NGX_HTTP_SSL)
    { ngx_string("foo_ssl"), T2, ngx_foo, 0, offsetof(a, b), NULL },
#endif

      ngx_null_command
};

ngx_module_t  ngx_foo_module;

ngx_module_t  ngx_foo_module = {
    NGX_MODULE_V1,
    &ngx_foo_module_ctx,                   /* module context */
    ngx_foo_commands,                      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};
"#;
        let tokens = ok(tokenize(source));
        let mut macros = Macros::default();
        macros.add_definitions(&ok(tokenize("#define T1 1\n#define T2 2\n")));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &macros],
        };
        let mut guards = BTreeSet::new();
        let modules = ok(extract_modules("foo.c", &tokens, &scope, &mut guards));
        assert_eq!(modules.len(), 1);
        let module = &modules[0];
        assert_eq!(module.name, "ngx_foo_module");
        assert_eq!(module.module_type, ModuleType::Http);
        let names: Vec<&str> = module.commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["foo", "foo_ssl"]);
        assert_eq!(module.commands[0].flags, 3);
        assert_eq!(module.commands[0].expr, "T1|T2");
        assert!(guards.contains("if (NGX_HTTP_SSL)"));
        let (foo, foo_ssl) = (&module.commands[0], &module.commands[1]);
        assert_eq!((foo.handler.as_str(), foo.conf.as_str()), ("ngx_foo", "0"));
        assert_eq!(foo.field, "");
        assert!(foo.post_ref.is_none());
        assert_eq!(foo_ssl.field, "a.b");
    }

    #[test]
    fn offsets() {
        let offset = |text: &str| parse_offset(&ok(tokenize(text)));
        assert_eq!(offset("0").as_deref(), Some(""));
        assert_eq!(offset("offsetof(t_t,\n   a.b)").as_deref(), Some("t_t.a.b"));
        assert_eq!(offset("offsetof(t_t, a[1])").as_deref(), Some("t_t.a[1]"));
        assert_eq!(offset("offsetof(t_t)"), None);
        assert_eq!(offset("4"), None);
    }

    #[test]
    fn unknown_guards_are_errors() {
        let tokens = ok(tokenize(
            "static ngx_command_t c[] = {\n#if (NGX_SOMETHING_NEW)\n{ ngx_string(\"x\"), 1, a, 0, 0, NULL },\n#endif\nngx_null_command\n};\n",
        ));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &none],
        };
        let err = extract_modules("x.c", &tokens, &scope, &mut BTreeSet::new());
        assert!(err.is_err_and(|e| e.contains("NGX_SOMETHING_NEW")));
    }
}
