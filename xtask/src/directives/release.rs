//! One release read from its source: its modules and their commands.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::c_lexer::{MacroScope, Macros, Tok, Token, tokenize};
use super::commands::{Module, extract_modules};
use super::order::module_order;
use super::posts::{extract_definitions, resolve_post};
use super::source::Source;
use super::{FLAG_HEADERS, ORDER_SCRIPTS};

pub struct Release {
    /// How the header comment names the source: its tag.
    pub label: String,
    pub version: String,
    pub guards: BTreeSet<String>,
    /// In ngx_modules[] order; each has at least one directive.
    pub modules: Vec<Module>,
}

impl Release {
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    pub fn read(source: &Source) -> Result<Release, String> {
        Release::read_inner(source).map_err(|err| format!("{}: {err}", source.name()))
    }

    pub fn read_inner(source: &Source) -> Result<Release, String> {
        let version = nginx_version(&source.read("src/core/nginx.h")?)?;

        let mut header_macros = Macros::default();
        for header in FLAG_HEADERS {
            let tokens =
                tokenize(&source.read(header)?).map_err(|err| format!("{header}: {err}"))?;
            header_macros.add_definitions(&tokens);
        }

        let mut guards = BTreeSet::new();
        let mut modules = Vec::new();
        let mut definitions = HashMap::new();
        for path in source.list_sources()? {
            let tokens = tokenize(&source.read(&path)?).map_err(|err| format!("{path}: {err}"))?;
            let mut local = Macros::default();
            local.add_definitions(&tokens);
            let scope = MacroScope {
                layers: [&local, &header_macros],
            };
            modules.extend(extract_modules(&path, &tokens, &scope, &mut guards)?);
            extract_definitions(&path, &tokens, &mut definitions);
        }
        modules.retain(|m| !m.commands.is_empty());
        for module in &mut modules {
            let mut names = HashSet::new();
            for command in &mut module.commands {
                if !names.insert(command.name.clone()) {
                    return Err(format!(
                        "{}: {} declares {:?} twice",
                        module.file, module.name, command.name
                    ));
                }
                resolve_post(command, &module.file, &definitions, &mut guards)?;
            }
        }

        let order = module_order(source)?;
        let position: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(n, name)| (name.as_str(), n))
            .collect();
        let mut placed = Vec::new();
        let mut names = HashSet::new();
        for module in modules {
            if !names.insert(module.name.clone()) {
                return Err(format!("module {} is defined twice", module.name));
            }
            let at = *position.get(module.name.as_str()).ok_or_else(|| {
                format!(
                    "{}: module {} is not in any module list of {}; teach module_order",
                    module.file,
                    module.name,
                    ORDER_SCRIPTS.join(", ")
                )
            })?;
            placed.push((at, module));
        }
        placed.sort_by_key(|(at, _)| *at);

        Ok(Release {
            label: source.label(&version),
            version,
            guards,
            modules: placed.into_iter().map(|(_, m)| m).collect(),
        })
    }
}

/// `#define NGINX_VERSION "x.y.z"` from src/core/nginx.h.
fn nginx_version(nginx_h: &str) -> Result<String, String> {
    let tokens = tokenize(nginx_h).map_err(|err| format!("src/core/nginx.h: {err}"))?;
    tokens
        .iter()
        .find_map(|token| match &token.tok {
            Tok::Directive(d) => match d.as_slice() {
                [
                    define,
                    name,
                    Token {
                        tok: Tok::Str(version),
                        ..
                    },
                ] if define.ident() == Some("define") && name.ident() == Some("NGINX_VERSION") => {
                    Some(version.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .ok_or_else(|| "src/core/nginx.h does not define NGINX_VERSION".to_owned())
}
