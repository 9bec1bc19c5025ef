//! The settings in force at each block after nginx's inheritance, with the
//! directive that set each value so that findings can point at it: the
//! proxy settings (`ngx_http_proxy_merge_loc_conf` in
//! ngx_http_proxy_module.c) and the response headers
//! (`ngx_http_headers_merge_conf` in ngx_http_headers_filter_module.c).
//!
//! Every http, server, location, `if` and `limit_except` block is a
//! [`Scope`]. A scope's own `proxy_set_header` lines, if it has any, replace
//! the whole inherited list (nothing merges); the same holds, separately,
//! for `proxy_hide_header` and for `add_header` (unless `add_header_inherit
//! merge`, nginx 1.29.3, is in force). `proxy_http_version`,
//! `proxy_read_timeout`, `proxy_ssl_verify` and `add_header_inherit` are single values taken
//! from the nearest scope that sets them. `proxy_pass` is not inherited.
//! The client-address settings merge the same two ways: `allow`/`deny`
//! (`ngx_http_access_merge_loc_conf`), `set_real_ip_from`
//! (`ngx_http_realip_merge_loc_conf`), `limit_req` and `limit_conn` are
//! lists replaced whole by a level's own; `real_ip_header`, `auth_basic`
//! and `auth_request` are single values.
//! Directives pulled in by `include` count where the include stands.
//!
//! What is in force is computed once, parents before children, when the
//! scopes are built ([`InForce`]), so every question below is answered
//! without walking up the chain.

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

/// One block that holds location-level settings.
#[derive(Debug)]
pub struct Scope<'a> {
    pub kind: ScopeKind,
    /// The `http`, `server`, `location`, `if` or `limit_except` directive.
    pub directive: &'a Directive,
    pub parent: Option<ScopeId>,
    pub set_header: Vec<&'a Directive>,
    pub hide_header: Vec<&'a Directive>,
    pub add_header: Vec<&'a Directive>,
    pub add_header_inherit: Option<&'a Directive>,
    pub http_version: Option<&'a Directive>,
    pub read_timeout: Option<&'a Directive>,
    pub ssl_verify: Option<&'a Directive>,
    pub proxy_pass: Option<&'a Directive>,
    /// `allow` and `deny`, in order.
    pub access: Vec<&'a Directive>,
    pub set_real_ip_from: Vec<&'a Directive>,
    pub real_ip_header: Option<&'a Directive>,
    pub limit_req: Vec<&'a Directive>,
    pub limit_conn: Vec<&'a Directive>,
    pub auth_basic: Option<&'a Directive>,
    pub auth_request: Option<&'a Directive>,
    /// What is in force here after inheritance.
    pub in_force: InForce<'a>,
}

/// The values in force at a scope: for lists, the scope whose own list
/// applies; for single values, the directive.
#[derive(Debug, Clone, Copy, Default)]
pub struct InForce<'a> {
    pub set_header: Option<ScopeId>,
    pub hide_header: Option<ScopeId>,
    pub add_header: Option<ScopeId>,
    pub add_header_inherit: Option<&'a Directive>,
    pub http_version: Option<&'a Directive>,
    pub read_timeout: Option<&'a Directive>,
    /// `proxy_ssl_verify`.
    pub ssl_verify: Option<&'a Directive>,
    /// The nearest enclosing location (the scope itself when it is one).
    pub location: Option<ScopeId>,
    /// The scope whose `allow`/`deny` list applies.
    pub access: Option<ScopeId>,
    /// The scope whose `set_real_ip_from` list applies.
    pub set_real_ip_from: Option<ScopeId>,
    pub real_ip_header: Option<&'a Directive>,
    pub limit_req: Option<ScopeId>,
    pub limit_conn: Option<ScopeId>,
    pub auth_basic: Option<&'a Directive>,
    pub auth_request: Option<&'a Directive>,
}

/// Every scope of the configuration, parents before children.
#[derive(Debug, Default)]
pub struct Scopes<'a> {
    pub all: Vec<Scope<'a>>,
    proxying: Vec<ScopeId>,
}

/// nginx stops include recursion long before this; so do we.
const MAX_DEPTH: usize = 200;

impl<'a> Scopes<'a> {
    pub fn build(config: &'a Config) -> Self {
        let mut scopes = Scopes::default();
        if let Some(main) = config.main() {
            scopes.visit(config, &main.block, None, 0);
        }
        scopes.resolve();
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
                    add_header: Vec::new(),
                    add_header_inherit: None,
                    http_version: None,
                    read_timeout: None,
                    ssl_verify: None,
                    proxy_pass: None,
                    access: Vec::new(),
                    set_real_ip_from: Vec::new(),
                    real_ip_header: None,
                    limit_req: Vec::new(),
                    limit_conn: Vec::new(),
                    auth_basic: None,
                    auth_request: None,
                    in_force: InForce::default(),
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
                b"add_header" => own.add_header.push(d),
                b"add_header_inherit" => keep_first(&mut own.add_header_inherit, d),
                b"proxy_http_version" => keep_first(&mut own.http_version, d),
                b"proxy_read_timeout" => keep_first(&mut own.read_timeout, d),
                b"proxy_ssl_verify" => keep_first(&mut own.ssl_verify, d),
                b"proxy_pass" => keep_first(&mut own.proxy_pass, d),
                b"allow" | b"deny" => own.access.push(d),
                b"set_real_ip_from" => own.set_real_ip_from.push(d),
                b"real_ip_header" => keep_first(&mut own.real_ip_header, d),
                b"limit_req" => own.limit_req.push(d),
                b"limit_conn" => own.limit_conn.push(d),
                b"auth_basic" => keep_first(&mut own.auth_basic, d),
                b"auth_request" => keep_first(&mut own.auth_request, d),
                _ => {}
            }
        }
    }

    /// Fills [`Scope::in_force`], parents first (they come first in `all`).
    fn resolve(&mut self) {
        for id in 0..self.all.len() {
            let up = self.all[id]
                .parent
                .map(|p| self.all[p].in_force)
                .unwrap_or_default();
            let s = &self.all[id];
            let own_list = |list: &[&Directive], inherited| {
                if list.is_empty() { inherited } else { Some(id) }
            };
            let in_force = InForce {
                set_header: own_list(&s.set_header, up.set_header),
                hide_header: own_list(&s.hide_header, up.hide_header),
                add_header: own_list(&s.add_header, up.add_header),
                add_header_inherit: s.add_header_inherit.or(up.add_header_inherit),
                http_version: s.http_version.or(up.http_version),
                read_timeout: s.read_timeout.or(up.read_timeout),
                ssl_verify: s.ssl_verify.or(up.ssl_verify),
                location: if s.kind == ScopeKind::Location {
                    Some(id)
                } else {
                    up.location
                },
                access: own_list(&s.access, up.access),
                set_real_ip_from: own_list(&s.set_real_ip_from, up.set_real_ip_from),
                real_ip_header: s.real_ip_header.or(up.real_ip_header),
                limit_req: own_list(&s.limit_req, up.limit_req),
                limit_conn: own_list(&s.limit_conn, up.limit_conn),
                auth_basic: s.auth_basic.or(up.auth_basic),
                auth_request: s.auth_request.or(up.auth_request),
            };
            if s.proxy_pass.is_some() {
                self.proxying.push(id);
            }
            self.all[id].in_force = in_force;
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
        let owner = self.all[id].in_force.set_header?;
        Some((owner, self.all[owner].set_header.as_slice()))
    }

    /// The `proxy_hide_header` list in force and the scope that set it.
    pub fn hide_headers(&self, id: ScopeId) -> Option<(ScopeId, &[&'a Directive])> {
        let owner = self.all[id].in_force.hide_header?;
        Some((owner, self.all[owner].hide_header.as_slice()))
    }

    /// The `add_header` list in force and the scope that set it (without
    /// what `add_header_inherit merge` adds from above).
    pub fn add_headers(&self, id: ScopeId) -> Option<(ScopeId, &[&'a Directive])> {
        let owner = self.all[id].in_force.add_header?;
        Some((owner, self.all[owner].add_header.as_slice()))
    }

    pub fn http_version(&self, id: ScopeId) -> Option<&'a Directive> {
        self.all[id].in_force.http_version
    }

    pub fn read_timeout(&self, id: ScopeId) -> Option<&'a Directive> {
        self.all[id].in_force.read_timeout
    }

    /// The `proxy_set_header` line in force for a header name, if any.
    pub fn header(&self, id: ScopeId, name: &str) -> Option<&'a Directive> {
        let (_, list) = self.set_headers(id)?;
        find_header(list, name)
    }

    /// The scopes that proxy: those with their own `proxy_pass`.
    pub fn proxying(&self) -> impl Iterator<Item = ScopeId> + '_ {
        self.proxying.iter().copied()
    }

    /// The nearest enclosing location of a scope (itself when it is one).
    pub fn location(&self, id: ScopeId) -> Option<ScopeId> {
        self.all[id].in_force.location
    }

    /// The `allow`/`deny` list in force (`ngx_http_access_merge_loc_conf`:
    /// a level with any rule has its own list).
    pub fn access(&self, id: ScopeId) -> &[&'a Directive] {
        self.list(self.all[id].in_force.access, |s| &s.access)
    }

    /// The `set_real_ip_from` list in force (`ngx_http_realip_merge_loc_conf`).
    pub fn set_real_ip_from(&self, id: ScopeId) -> &[&'a Directive] {
        self.list(self.all[id].in_force.set_real_ip_from, |s| {
            &s.set_real_ip_from
        })
    }

    /// The `limit_req` and `limit_conn` lines in force (each list
    /// inherited whole by a level without one, ngx_http_limit_req_module.c
    /// and ngx_http_limit_conn_module.c).
    pub fn limits(&self, id: ScopeId) -> impl Iterator<Item = &'a Directive> + '_ {
        let f = &self.all[id].in_force;
        let req = self.list(f.limit_req, |s| &s.limit_req);
        let conn = self.list(f.limit_conn, |s| &s.limit_conn);
        req.iter().chain(conn).copied()
    }

    /// The server a scope belongs to.
    pub fn server(&self, id: ScopeId) -> Option<ScopeId> {
        self.chain(id)
            .find(|&s| self.all[s].kind == ScopeKind::Server)
    }

    fn list(
        &self,
        owner: Option<ScopeId>,
        field: for<'s> fn(&'s Scope<'a>) -> &'s Vec<&'a Directive>,
    ) -> &[&'a Directive] {
        owner
            .map(|o| field(&self.all[o]).as_slice())
            .unwrap_or_default()
    }
}

/// A single-valued directive: the first line of a block counts (nginx
/// rejects the second as a duplicate).
fn keep_first<'a>(slot: &mut Option<&'a Directive>, d: &'a Directive) {
    slot.get_or_insert(d);
}

/// The first line of a header list that sets `name` (case-insensitive).
pub fn find_header<'a>(list: &[&'a Directive], name: &str) -> Option<&'a Directive> {
    list.iter().copied().find(|d| {
        d.arg(0)
            .is_some_and(|n| n.value.eq_ignore_ascii_case(name.as_bytes()))
    })
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
        assert_eq!(scopes.location(proxying[2]), Some(proxying[1]));
        assert!(scopes.header(proxying[0], "upgrade").is_some());
    }

    #[test]
    fn add_header_lists_replace_too() {
        let text =
            "http { add_header A 1; server { location / { add_header B 2; } location /x { } } }";
        let config = upgate_conf::parse_file(Path::new("t"), text.as_bytes().to_vec());
        let scopes = Scopes::build(&config);
        let owner = |s: ScopeId| scopes.add_headers(s).map(|(o, _)| o);
        // http, server, location /, location /x
        assert_eq!(owner(1), Some(0));
        assert_eq!(owner(2), Some(2));
        assert_eq!(owner(3), Some(0));
    }
}
