//! The proxy settings in force at each block after nginx's inheritance
//! (`ngx_http_proxy_merge_loc_conf` in ngx_http_proxy_module.c), with the
//! directive that set each value so that findings can point at it.
//!
//! Every http, server, location, `if` and `limit_except` block is a
//! [`Scope`]. A scope's own `proxy_set_header` lines, if it has any, replace
//! the whole inherited list (nothing merges); the same holds, separately, for
//! `proxy_hide_header`. `proxy_http_version` and `proxy_read_timeout` are
//! single values taken from the nearest scope that sets them. `proxy_pass`
//! is not inherited. Directives pulled in by `include` count where the
//! include stands.

use upgate_conf::{Block, Config, Directive};

/// Index of a scope in [`Scopes::all`].
pub type ScopeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Http,
    Server,
    Location,
    If,
    LimitExcept,
}

/// One block that holds location-level proxy settings.
#[derive(Debug)]
pub struct Scope<'a> {
    pub kind: ScopeKind,
    /// The `http`, `server`, `location`, `if` or `limit_except` directive.
    pub directive: &'a Directive,
    pub parent: Option<ScopeId>,
    pub set_header: Vec<&'a Directive>,
    pub hide_header: Vec<&'a Directive>,
    pub http_version: Option<&'a Directive>,
    pub read_timeout: Option<&'a Directive>,
    pub proxy_pass: Option<&'a Directive>,
}

/// Every scope of the configuration, parents before children.
#[derive(Debug, Default)]
pub struct Scopes<'a> {
    pub all: Vec<Scope<'a>>,
}

/// nginx stops include recursion long before this; so do we.
const MAX_DEPTH: usize = 200;

impl<'a> Scopes<'a> {
    pub fn build(config: &'a Config) -> Self {
        let mut scopes = Scopes::default();
        if let Some(main) = config.main() {
            scopes.visit(config, &main.block, None, 0);
        }
        scopes
    }

    fn visit(
        &mut self,
        config: &'a Config,
        block: &'a Block,
        scope: Option<ScopeId>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for d in block.directives() {
            for &id in &d.includes {
                if let Some(file) = config.files.get(id.index()) {
                    self.visit(config, &file.block, scope, depth + 1);
                }
            }
            let kind = match (scope.map(|s| self.all[s].kind), d.name.value.as_slice()) {
                (None, b"http") => Some(ScopeKind::Http),
                (Some(ScopeKind::Http), b"server") => Some(ScopeKind::Server),
                (Some(ScopeKind::Server | ScopeKind::Location), b"location") => {
                    Some(ScopeKind::Location)
                }
                (Some(ScopeKind::Server | ScopeKind::Location), b"if") => Some(ScopeKind::If),
                (Some(ScopeKind::Location), b"limit_except") => Some(ScopeKind::LimitExcept),
                _ => None,
            };
            if let (Some(kind), Some(inner)) = (kind, &d.block) {
                self.all.push(Scope {
                    kind,
                    directive: d,
                    parent: scope,
                    set_header: Vec::new(),
                    hide_header: Vec::new(),
                    http_version: None,
                    read_timeout: None,
                    proxy_pass: None,
                });
                let id = self.all.len() - 1;
                self.visit(config, inner, Some(id), depth);
                continue;
            }
            if d.is("events") || d.is("stream") || d.is("mail") {
                continue;
            }
            let Some(s) = scope else {
                continue;
            };
            let own = &mut self.all[s];
            match d.name.value.as_slice() {
                b"proxy_set_header" => own.set_header.push(d),
                b"proxy_hide_header" => own.hide_header.push(d),
                b"proxy_http_version" => {
                    own.http_version.get_or_insert(d);
                }
                b"proxy_read_timeout" => {
                    own.read_timeout.get_or_insert(d);
                }
                b"proxy_pass" => {
                    own.proxy_pass.get_or_insert(d);
                }
                _ => {}
            }
        }
    }

    pub fn get(&self, id: ScopeId) -> &Scope<'a> {
        &self.all[id]
    }

    /// The scope and its ancestors, innermost first.
    pub fn chain(&self, id: ScopeId) -> impl Iterator<Item = ScopeId> + '_ {
        std::iter::successors(Some(id), move |&s| self.all[s].parent)
    }

    /// The `proxy_set_header` list in force and the scope that set it.
    pub fn set_headers(&self, id: ScopeId) -> Option<(ScopeId, &[&'a Directive])> {
        self.chain(id)
            .find(|&s| !self.all[s].set_header.is_empty())
            .map(|s| (s, self.all[s].set_header.as_slice()))
    }

    /// The `proxy_hide_header` list in force and the scope that set it.
    pub fn hide_headers(&self, id: ScopeId) -> Option<(ScopeId, &[&'a Directive])> {
        self.chain(id)
            .find(|&s| !self.all[s].hide_header.is_empty())
            .map(|s| (s, self.all[s].hide_header.as_slice()))
    }

    pub fn http_version(&self, id: ScopeId) -> Option<&'a Directive> {
        self.chain(id).find_map(|s| self.all[s].http_version)
    }

    pub fn read_timeout(&self, id: ScopeId) -> Option<&'a Directive> {
        self.chain(id).find_map(|s| self.all[s].read_timeout)
    }

    /// The `proxy_set_header` line in force for a header name, if any.
    pub fn header(&self, id: ScopeId, name: &str) -> Option<&'a Directive> {
        let (_, list) = self.set_headers(id)?;
        list.iter().copied().find(|d| {
            d.arg(0)
                .is_some_and(|n| n.text().eq_ignore_ascii_case(name))
        })
    }

    /// The scopes that proxy: those with their own `proxy_pass`.
    pub fn proxying(&self) -> impl Iterator<Item = ScopeId> + '_ {
        (0..self.all.len()).filter(|&s| self.all[s].proxy_pass.is_some())
    }

    /// The nearest enclosing location of a scope (itself when it is one).
    pub fn location(&self, id: ScopeId) -> Option<ScopeId> {
        self.chain(id)
            .find(|&s| self.all[s].kind == ScopeKind::Location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn lists_replace_and_values_inherit() {
        let text = "http { proxy_http_version 1.1; server { proxy_set_header Upgrade $http_upgrade;\n\
            location / { proxy_pass http://a; }\n\
            location /x { proxy_set_header X 1; proxy_pass http://a; if ($x) { proxy_pass http://b; } } } }";
        let config = upgate_conf::parse_file(Path::new("t"), text.as_bytes().to_vec());
        let scopes = Scopes::build(&config);
        let proxying: Vec<ScopeId> = scopes.proxying().collect();
        assert_eq!(proxying.len(), 3);
        let names = |s: ScopeId| -> Vec<String> {
            scopes
                .set_headers(s)
                .map(|(_, l)| l.iter().map(|d| d.args[0].text().into_owned()).collect())
                .unwrap_or_default()
        };
        assert_eq!(names(proxying[0]), vec!["Upgrade"]);
        assert_eq!(names(proxying[1]), vec!["X"]);
        assert_eq!(names(proxying[2]), vec!["X"]);
        assert!(scopes.http_version(proxying[2]).is_some());
        assert_eq!(scopes.get(proxying[2]).kind, ScopeKind::If);
    }
}
