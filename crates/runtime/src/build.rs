//! Building servers and their levels: `ngx_http_core_server`,
//! `ngx_http_core_location` (modifiers, nesting), `ngx_http_rewrite_if`
//! (an `if` block is an unnamed location whose directives run inline),
//! `ngx_http_proxy_pass`, and the merge of each level into its parent's
//! configuration (see `conf.rs`).

use std::sync::Arc;

use upgate_conf::{Config, Directive};

use crate::compile::{
    CompileOptions, RegexCache, default_listen, flatten_block, is_noname, listens_of, server_names,
};
use crate::conf::{self, LevelKind, LocConf};
use crate::error::CompileError;
use crate::headers::Level;
use crate::location::{Location, LocationId, LocationKind, LocationTree, StaticEntry};
use crate::pragmas::TunnelPragmas;
use crate::proxy_pass::{ProxyPass, ProxyTarget, parse_url};
use crate::regex::Regex;
use crate::rewrite::{self, Op, Script};
use crate::server::{Server, ServerId, ServerName};
use crate::uri::escape_uri;
use crate::variable::{self, UserVars};

pub(crate) struct Builder<'c, 'o> {
    pub config: &'c Config,
    pub options: &'o CompileOptions<'o>,
    pub user: UserVars,
    pub regexes: RegexCache,
    pub locations: Vec<Location>,
    pub servers: Vec<Server>,
    /// The limit zones (declared at the http level, before any level
    /// refers to them).
    pub zones: crate::zone::Zones,
    /// The configuration's directory (`conf_prefix`).
    pub conf_dir: Vec<u8>,
    /// Lower-cased upstream names -> index in `upstreams.groups`.
    pub upstream_index: rustc_hash::FxHashMap<String, usize>,
}

/// What a block is, before it is compiled.
struct Spec<'c> {
    d: &'c Directive,
    kind: LocationKind,
    name: Vec<u8>,
    regex: Option<Regex>,
    parent: Option<LocationId>,
    server: ServerId,
    level_name: String,
}

impl<'c> Builder<'c, '_> {
    /// Declares every variable the configuration defines: `map` targets,
    /// `set` targets and named regex captures.
    pub fn declare_variables(&mut self) {
        let mut regex_words: Vec<Vec<u8>> = Vec::new();
        let user = &mut self.user;
        self.config.walk(|d, parents| {
            let in_http = d.is("http") || parents.iter().any(|p| p.is("http"));
            if !in_http {
                return;
            }
            let arg = |i: usize| d.args.get(i).map(|w| w.value.as_slice());
            if d.is("map") && d.block.is_some() {
                if let Some(name) = arg(1) {
                    user.declare(&String::from_utf8_lossy(
                        name.strip_prefix(b"$").unwrap_or(name),
                    ));
                }
            } else if d.is("set") || d.is("auth_request_set") {
                if let Some(name) = arg(0) {
                    user.declare(&String::from_utf8_lossy(
                        name.strip_prefix(b"$").unwrap_or(name),
                    ));
                }
            } else if d.is("location") || d.is("server_name") || d.is("rewrite") || d.is("if") {
                regex_words.extend(d.args.iter().map(|w| w.value.clone()));
            } else if parents.last().is_some_and(|p| p.is("map")) && d.name.value.starts_with(b"~")
            {
                regex_words.push(d.name.value.clone());
            }
        });
        for word in regex_words {
            for name in named_groups(&word) {
                self.user.declare(&name);
            }
        }
    }

    /// The `http` level's configuration.
    pub fn http_conf(
        &mut self,
        http: &Directive,
        dirs: &[&Directive],
    ) -> Result<LocConf, CompileError> {
        let level = Level {
            name: "http".into(),
            span: Default::default(),
        };
        let mut conf = conf::merge(
            &LocConf::default(),
            dirs,
            level,
            LevelKind::Http,
            None,
            &self.user,
            &mut self.regexes,
        )?;
        conf.access_phase = crate::access_phase::merge(
            &conf.access_phase,
            dirs,
            &self.user,
            &self.zones,
            &self.conf_dir,
        )?;
        crate::root::apply(
            &mut conf,
            dirs,
            b"",
            false,
            true,
            &self.options.prefix,
            &self.user,
        )?;
        conf.pragmas = self.pragmas(&conf.pragmas, http);
        Ok(conf)
    }

    /// A level's pragmas over its parent's.
    fn pragmas(&self, parent: &TunnelPragmas, d: &Directive) -> TunnelPragmas {
        let own = d
            .block
            .as_ref()
            .map(|block| upgate_conf::pragma::of_block(self.config, block))
            .unwrap_or_default();
        TunnelPragmas::merge(parent, &own)
    }

    /// A `server {}` block.
    pub fn server(&mut self, d: &'c Directive, http_conf: &LocConf) -> Result<(), CompileError> {
        let id = ServerId(self.servers.len() as u32);
        let mut dirs = Vec::new();
        flatten_block(self.config, d, &mut dirs);
        let mut listens = listens_of(&dirs, self.options);
        if listens.is_empty() {
            listens.push(default_listen(self.options.default_port, d.name.span));
        }
        let mut names = server_names(&dirs, self.options, &mut self.regexes)?;
        if names.is_empty() {
            names.push(ServerName {
                name: Vec::new(),
                regex: None,
                span: d.name.span,
            });
        }
        let server_name = match names.first() {
            Some(n) if n.regex.is_none() && n.name.first() == Some(&b'.') => n.name[1..].to_vec(),
            Some(n) => n.name.clone(),
            None => Vec::new(),
        };
        let flag = |name: &str, default: bool| {
            dirs.iter()
                .rev()
                .find(|x| x.is(name))
                .and_then(|x| x.args.first())
                .map_or(default, |a| a.value.eq_ignore_ascii_case(b"on"))
        };
        let merge_slashes = flag("merge_slashes", true);
        let ignore_invalid_headers = flag("ignore_invalid_headers", true);
        let underscores_in_headers = flag("underscores_in_headers", false);
        let captures = names
            .iter()
            .rev()
            .find_map(|n| n.regex.as_ref())
            .is_some_and(|re| re.captures_len() > 0);
        // The Server entry must exist before its levels refer to it.
        self.servers.push(Server {
            span: d.name.span,
            listens,
            captures,
            names,
            server_name,
            level: LocationId(0),
            merge_slashes,
            ignore_invalid_headers,
            underscores_in_headers,
        });
        let level = self.block(
            Spec {
                d,
                kind: LocationKind::Server,
                name: Vec::new(),
                regex: None,
                parent: None,
                server: id,
                level_name: "server".into(),
            },
            http_conf,
        )?;
        self.servers[id.index()].level = level;
        Ok(())
    }

    /// An `http {}` without servers: one server with no listen, so that
    /// every table has a server to point at.
    pub fn implicit_server(&mut self, http: &'c Directive, http_conf: &LocConf) {
        let id = ServerId(0);
        let level = LocationId(self.locations.len() as u32);
        self.locations.push(placeholder(http, id, None));
        *self.locations[level.index()].conf = http_conf.clone();
        self.servers.push(Server {
            span: http.name.span,
            listens: Vec::new(),
            names: vec![ServerName {
                name: Vec::new(),
                regex: None,
                span: http.name.span,
            }],
            server_name: Vec::new(),
            level,
            captures: false,
            merge_slashes: true,
            ignore_invalid_headers: true,
            underscores_in_headers: false,
        });
    }

    /// A `location` directive.
    fn location(
        &mut self,
        d: &'c Directive,
        parent: LocationId,
        server: ServerId,
        parent_conf: &LocConf,
    ) -> Result<LocationId, CompileError> {
        let (modifier, name) = match d.args.as_slice() {
            [m, n] => (m.value.clone(), n),
            [n] => (Vec::new(), n),
            _ => {
                return Err(CompileError::invalid(
                    d,
                    "invalid number of arguments in \"location\"",
                ));
            }
        };
        let raw = name.value.as_slice();
        let (kind, text): (LocationKind, &[u8]) = match (modifier.as_slice(), raw) {
            (b"=", _) => (LocationKind::Exact, raw),
            (b"^~", _) => (LocationKind::PrefixNoRegex, raw),
            (b"~", _) => (LocationKind::Regex { caseless: false }, raw),
            (b"~*", _) => (LocationKind::Regex { caseless: true }, raw),
            (b"", [b'=', rest @ ..]) => (LocationKind::Exact, rest),
            (b"", [b'^', b'~', rest @ ..]) => (LocationKind::PrefixNoRegex, rest),
            (b"", [b'~', b'*', rest @ ..]) => (LocationKind::Regex { caseless: true }, rest),
            (b"", [b'~', rest @ ..]) => (LocationKind::Regex { caseless: false }, rest),
            (b"", [b'@', ..]) => (LocationKind::Named, raw),
            (b"", _) => (LocationKind::Prefix, raw),
            _ => return Err(CompileError::at(name, "invalid location modifier")),
        };
        let regex = match kind {
            LocationKind::Regex { caseless } => Some(
                self.regexes
                    .get(text, caseless)
                    .map_err(|e| CompileError::regex(name, e))?,
            ),
            _ => None,
        };
        let level_name = format!(
            "location {}{}",
            kind.modifier(),
            String::from_utf8_lossy(text)
        );
        self.block(
            Spec {
                d,
                kind,
                name: text.to_vec(),
                regex,
                parent: Some(parent),
                server,
                level_name,
            },
            parent_conf,
        )
    }

    /// Any level: server, location, `if`, `limit_except`.
    fn block(&mut self, spec: Spec<'c>, parent_conf: &LocConf) -> Result<LocationId, CompileError> {
        let id = LocationId(self.locations.len() as u32);
        self.locations
            .push(placeholder(spec.d, spec.server, spec.parent));
        let mut dirs = Vec::new();
        flatten_block(self.config, spec.d, &mut dirs);
        let proxy_pass = self.proxy_pass(&dirs, &spec)?;
        let auto_redirect = proxy_pass.is_some() && spec.name.last() == Some(&b'/');
        let level_kind = match spec.kind {
            LocationKind::Server => LevelKind::Server,
            k if is_noname(k) => LevelKind::Noname,
            _ => LevelKind::Location,
        };
        let level = Level {
            name: spec.level_name.clone(),
            span: spec.d.name.span,
        };
        let mut conf = conf::merge(
            parent_conf,
            &dirs,
            level,
            level_kind,
            proxy_pass,
            &self.user,
            &mut self.regexes,
        )?;
        conf.pragmas = self.pragmas(&parent_conf.pragmas, spec.d);
        conf.access_phase = crate::access_phase::merge(
            &parent_conf.access_phase,
            &dirs,
            &self.user,
            &self.zones,
            &self.conf_dir,
        )?;
        let names = self
            .servers
            .get(spec.server.index())
            .map(|s| s.names.clone())
            .unwrap_or_default();
        conf.referer = crate::referer::RefererConf::merge(
            &parent_conf.referer,
            &dirs,
            &names,
            &mut self.regexes,
        )?;
        crate::root::apply(
            &mut conf,
            &dirs,
            &spec.name,
            spec.regex.is_some(),
            false,
            &self.options.prefix,
            &self.user,
        )?;
        let mut statics = Vec::new();
        let mut regexes = Vec::new();
        let mut named = Vec::new();
        let mut ops = Vec::new();
        let mut limit_except = None;
        for d in &dirs {
            match d.name.value.as_slice() {
                b"location" if d.block.is_some() => {
                    let child = self.location(d, id, spec.server, &conf)?;
                    let loc = &self.locations[child.index()];
                    match loc.kind {
                        LocationKind::Exact
                        | LocationKind::Prefix
                        | LocationKind::PrefixNoRegex => statics.push(StaticEntry {
                            name: loc.name.clone(),
                            exact: loc.kind == LocationKind::Exact,
                            id: child,
                            auto_redirect: loc.auto_redirect,
                        }),
                        LocationKind::Regex { .. } => regexes.push(child),
                        LocationKind::Named => named.push(child),
                        _ => {}
                    }
                }
                b"if" if d.block.is_some() => {
                    let condition = rewrite::parse_condition(d, &self.user, &mut self.regexes)?;
                    let text: Vec<String> = d.args.iter().map(|a| a.text().into_owned()).collect();
                    let text = text.join(" ");
                    let text = text
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .trim()
                        .to_string();
                    let block = self.block(
                        Spec {
                            d,
                            kind: LocationKind::If,
                            name: text.clone().into_bytes(),
                            regex: None,
                            parent: Some(id),
                            server: spec.server,
                            level_name: format!("if ({text})"),
                        },
                        &conf,
                    )?;
                    ops.push(Op::If {
                        condition,
                        block,
                        span: d.name.span,
                    });
                }
                b"limit_except" if d.block.is_some() => {
                    let mut methods: Vec<Vec<u8>> = d
                        .args
                        .iter()
                        .map(|a| a.value.to_ascii_uppercase())
                        .collect();
                    // ngx_http_core_limit_except: GET allows HEAD too.
                    if methods.iter().any(|m| m == b"GET") {
                        methods.push(b"HEAD".to_vec());
                    }
                    let block = self.block(
                        Spec {
                            d,
                            kind: LocationKind::LimitExcept,
                            name: Vec::new(),
                            regex: None,
                            parent: Some(id),
                            server: spec.server,
                            level_name: "limit_except".into(),
                        },
                        &conf,
                    )?;
                    limit_except = Some((block, methods));
                }
                b"set" => ops.push(rewrite::parse_set(d, &self.user)?),
                b"return" => ops.push(rewrite::parse_return(d, &self.user)?),
                b"rewrite" => ops.push(rewrite::parse_rewrite(d, &self.user, &mut self.regexes)?),
                b"break" => ops.push(Op::Break { span: d.name.span }),
                _ => {}
            }
        }
        let loc = &mut self.locations[id.index()];
        loc.kind = spec.kind;
        loc.escaped_name = escape_uri(&spec.name);
        loc.name = spec.name;
        loc.regex = spec.regex;
        loc.auto_redirect = auto_redirect;
        loc.tree = LocationTree::build(statics, regexes, named);
        *loc.conf = conf;
        loc.script = Script { ops };
        loc.limit_except = limit_except;
        Ok(id)
    }

    /// This level's own `proxy_pass`, if any.
    fn proxy_pass(
        &self,
        dirs: &[&Directive],
        spec: &Spec<'_>,
    ) -> Result<Option<Arc<ProxyPass>>, CompileError> {
        let Some(d) = dirs.iter().find(|d| d.is("proxy_pass")) else {
            return Ok(None);
        };
        let Some(url) = d.args.first() else {
            return Ok(None);
        };
        let location = match spec.kind {
            LocationKind::Regex { .. }
            | LocationKind::Named
            | LocationKind::If
            | LocationKind::LimitExcept => Vec::new(),
            _ => spec.name.clone(),
        };
        let (target, upstream) = if url.value.contains(&b'$') {
            let t = variable::compile(&url.value, &self.user)
                .map_err(|e| CompileError::template(url, e))?;
            (ProxyTarget::Variables(t), None)
        } else {
            let parsed =
                parse_url(&url.value).ok_or_else(|| CompileError::at(url, "invalid URL prefix"))?;
            let host = String::from_utf8_lossy(&parsed.host).into_owned();
            let group = if parsed.unix || parsed.port.is_some() {
                None
            } else {
                self.upstream_index.get(&host.to_ascii_lowercase()).copied()
            };
            (ProxyTarget::Static(parsed), group)
        };
        Ok(Some(Arc::new(ProxyPass {
            url: url.value.clone(),
            span: d.name.span,
            target,
            location,
            upstream,
        })))
    }
}

fn placeholder(d: &Directive, server: ServerId, parent: Option<LocationId>) -> Location {
    Location {
        kind: LocationKind::Server,
        name: Vec::new(),
        regex: None,
        span: d.name.span,
        server,
        parent,
        escaped_name: Vec::new(),
        auto_redirect: false,
        tree: LocationTree::default(),
        conf: Box::default(),
        script: Script::default(),
        limit_except: None,
    }
}

/// Named groups of a PCRE pattern: `(?<name>`, `(?P<name>`, `(?'name'`.
pub(crate) fn named_groups(pattern: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(pattern);
    let mut out = Vec::new();
    for (i, _) in text.match_indices("(?") {
        let rest = &text[i + 2..];
        let rest = rest.strip_prefix('P').unwrap_or(rest);
        let close = match rest.chars().next() {
            Some('<') => '>',
            Some('\'') => '\'',
            _ => continue,
        };
        let rest = &rest[1..];
        if rest.starts_with('=') || rest.starts_with('!') {
            continue;
        }
        if let Some(end) = rest.find(close) {
            out.push(rest[..end].to_string());
        }
    }
    out
}
