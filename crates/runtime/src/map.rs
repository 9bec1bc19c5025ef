//! `map SOURCE $variable { ... }`: `ngx_http_map_block` / `ngx_http_map`
//! (src/http/modules/ngx_http_map_module.c) compile it, `ngx_http_map_variable`
//! and `ngx_http_map_find` (ngx_http_variables.c) evaluate it.
//!
//! Exact keys match case-insensitively (the hash is built lower-cased);
//! with `hostnames`, one trailing dot of the input is dropped and `*.x`,
//! `.x`, `x.*` wildcards apply; then the `~` / `~*` regexes in order on the
//! original input, never on an empty one (their captures reach the value);
//! then `default`, else "". `volatile` turns the per-request cache off.
//! A key starting with `\` is taken literally (`\~`, `\default`).

use serde::Serialize;
use upgate_conf::{Config, Directive, Span};

use crate::error::CompileError;
use crate::regex::Captures;
use crate::server_name::{HostTable, NameMatch};
use crate::variable::{self, Template, UserVarId, UserVars};

/// Index of a map in [`crate::Runtime::maps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct MapId(pub u32);

/// One compiled `map` block.
#[derive(Debug, Clone)]
pub struct Map {
    /// The variable it defines (without `$`).
    pub variable: UserVarId,
    /// The `map` directive.
    pub span: Span,
    /// The first parameter: what is looked up.
    pub source: Template,
    pub hostnames: bool,
    pub volatile: bool,
    table: HostTable<usize>,
    pub values: Vec<MapValue>,
    pub default: Option<usize>,
}

/// One `key value;` line.
#[derive(Debug, Clone)]
pub struct MapValue {
    pub key: Vec<u8>,
    pub value: Template,
    pub span: Span,
}

/// Which line of the map decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapHit {
    /// An exact key (or, with `hostnames`, a wildcard) matched.
    Key { line: usize },
    /// The regex key on this line matched.
    Regex { line: usize },
    /// `default`.
    Default { line: usize },
    /// Nothing matched and there is no `default`: the value is "".
    Empty,
}

/// The outcome of a lookup: the line and the captures of a regex key.
#[derive(Debug, Clone)]
pub struct MapFound {
    pub hit: MapHit,
    pub captures: Option<Captures>,
}

impl Map {
    /// Compiles a `map` block; `user` already knows every variable the
    /// configuration defines.
    pub fn compile(
        config: &Config,
        d: &Directive,
        user: &UserVars,
        regexes: &mut crate::compile::RegexCache,
    ) -> Result<Map, CompileError> {
        let (Some(source), Some(target)) = (d.args.first(), d.args.get(1)) else {
            return Err(CompileError::invalid(
                d,
                "invalid number of arguments in \"map\"",
            ));
        };
        let name = target.value.strip_prefix(b"$").unwrap_or(&target.value);
        let variable = user
            .get(&String::from_utf8_lossy(name))
            .ok_or_else(|| CompileError::invalid(d, "invalid variable name"))?;
        let source = variable::compile(&source.value, user)
            .map_err(|e| CompileError::template(source, e))?;
        let mut entries = Vec::new();
        crate::compile::flatten_block(config, d, &mut entries);
        let hostnames = entries
            .iter()
            .any(|e| e.args.is_empty() && e.is("hostnames"));
        let volatile = entries
            .iter()
            .any(|e| e.args.is_empty() && e.is("volatile"));
        let mut map = Map {
            variable,
            span: d.name.span,
            source,
            hostnames,
            volatile,
            table: HostTable::new(hostnames),
            values: Vec::new(),
            default: None,
        };
        for e in entries {
            let Some(value) = e.args.first() else {
                continue;
            };
            let template = variable::compile(&value.value, user)
                .map_err(|err| CompileError::template(value, err))?;
            let line = map.values.len();
            map.values.push(MapValue {
                key: e.name.value.clone(),
                value: template,
                span: e.name.span,
            });
            let key = &e.name.value;
            if e.is("default") {
                if map.default.is_none() {
                    map.default = Some(line);
                }
                continue;
            }
            if let Some(pattern) = key.strip_prefix(b"~") {
                let (pattern, caseless) = match pattern.strip_prefix(b"*") {
                    Some(p) => (p, true),
                    None => (pattern, false),
                };
                let re = regexes
                    .get(pattern, caseless)
                    .map_err(|err| CompileError::regex(&e.name, err))?;
                map.table.add_regex(re, line);
                continue;
            }
            let key = key.strip_prefix(b"\\").unwrap_or(key);
            // nginx -t refuses conflicting keys; the first one stays.
            map.table.add(key, line);
        }
        Ok(map)
    }

    /// `ngx_http_map_find` on the evaluated source.
    pub fn find(&self, input: &[u8]) -> MapFound {
        let mut key = input;
        if self.hostnames && key.last() == Some(&b'.') {
            key = &key[..key.len() - 1];
        }
        let lower = key.to_ascii_lowercase();
        if let Some((&line, _)) = self.table.find_hashed(&lower) {
            return MapFound {
                hit: MapHit::Key { line },
                captures: None,
            };
        }
        if let Some((&line, _, caps)) = self.table.find_regex(key) {
            return MapFound {
                hit: MapHit::Regex { line },
                captures: Some(caps),
            };
        }
        MapFound {
            hit: match self.default {
                Some(line) => MapHit::Default { line },
                None => MapHit::Empty,
            },
            captures: None,
        }
    }

    /// The value template of a hit (`None` for [`MapHit::Empty`]).
    pub fn value(&self, hit: &MapHit) -> Option<&MapValue> {
        match hit {
            MapHit::Key { line } | MapHit::Regex { line } | MapHit::Default { line } => {
                self.values.get(*line)
            }
            MapHit::Empty => None,
        }
    }

    /// How a hashed key matched, for explanations.
    pub fn key_match(&self, input: &[u8]) -> Option<NameMatch> {
        self.table
            .find_hashed(&input.to_ascii_lowercase())
            .map(|(_, how)| how)
    }
}
