//! `Runtime::compile`: the syntax tree to immutable tables, in the order
//! nginx builds them: the variables the configuration defines (so that any
//! complex value can name a later `map`), the `http` level, each `server`
//! with its levels merged top-down (`ngx_http_merge_servers`,
//! `ngx_http_merge_locations`), its location trees (`ngx_http_init_locations`,
//! `ngx_http_init_static_location_trees`), then the address:port table and
//! the server names of each address (`ngx_http_optimize_servers`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;

use rustc_hash::FxHashMap;
use upgate_conf::{Config, Directive};

use crate::error::CompileError;
use crate::listen::{Listen, ListenAddr, ListenResolver, Listens, parse_listen};
use crate::location::{Location, LocationId, LocationKind};
use crate::map::{Map, MapId};
use crate::regex::{Regex, RegexError};
use crate::server::{Server, ServerId, ServerName};
use crate::upstream::Upstreams;
use crate::variable::UserVars;

/// The compiled tables.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub listens: Listens,
    pub servers: Vec<Server>,
    /// Every location, server level, `if` and `limit_except` block.
    pub locations: Vec<Location>,
    pub maps: Vec<Map>,
    pub user_vars: UserVars,
    /// The `http` level's configuration (what servers inherit).
    pub http: crate::conf::LocConf,
    /// The `upstream {}` groups.
    pub upstreams: Upstreams,
    /// Why the upstream groups could not be compiled, if they could not.
    pub upstream_error: Option<String>,
    /// `$hostname`.
    pub hostname: Vec<u8>,
    /// The configuration's file paths, by `FileId`.
    pub paths: Vec<PathBuf>,
    /// The directory of the main file (paths are shown relative to it).
    pub conf_dir: PathBuf,
    /// The limit_req and limit_conn zones.
    pub zones: crate::zone::Zones,
}

/// Knobs of [`Runtime::compile_with`].
pub struct CompileOptions<'a> {
    /// Resolves host names in `listen` and `upstream` servers.
    pub resolver: ListenResolver<'a>,
    /// The port of a server without `listen` (nginx: 80 as root, else 8000).
    pub default_port: u16,
    /// `$hostname` and `server_name $hostname`.
    pub hostname: Vec<u8>,
    /// nginx's prefix (`-p`): relative `root` and `alias` values are under it.
    pub prefix: Vec<u8>,
    /// Compiled regexes kept from the previous compile: a reload (or a
    /// fuzzer's next input) mostly repeats the same patterns, and compiling
    /// them is most of what compiling a configuration costs.
    pub regexes: Option<&'a Mutex<RegexCache>>,
}

/// Resolves only `localhost` (no DNS: the tables stay pure).
pub fn localhost_resolver(host: &str, port: u16) -> Vec<SocketAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)]
    } else {
        Vec::new()
    }
}

impl Default for CompileOptions<'_> {
    fn default() -> Self {
        CompileOptions {
            resolver: &localhost_resolver,
            default_port: 80,
            hostname: b"localhost".to_vec(),
            prefix: b"/usr/share/nginx/".to_vec(),
            regexes: None,
        }
    }
}

/// Compiled regexes by (pattern, caseless): configurations repeat them, and
/// so do successive compiles of one configuration.
///
/// A compile looks in what it compiled itself, then in what the previous
/// compile used; [`RegexCache::end_compile`] drops the rest, so a cache that
/// lives across reloads holds no more than one configuration's patterns.
#[derive(Debug, Default)]
pub struct RegexCache {
    current: FxHashMap<(Vec<u8>, bool), Regex>,
    previous: FxHashMap<(Vec<u8>, bool), Regex>,
}

impl RegexCache {
    pub fn get(&mut self, pattern: &[u8], caseless: bool) -> Result<Regex, RegexError> {
        let key = (pattern.to_vec(), caseless);
        if let Some(re) = self.current.get(&key) {
            return Ok(re.clone());
        }
        let re = match self.previous.remove(&key) {
            Some(re) => re,
            None => Regex::new(pattern, caseless)?,
        };
        self.current.insert(key, re.clone());
        Ok(re)
    }

    /// Keeps what this compile used for the next one, and nothing else.
    pub fn end_compile(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }

    /// The number of patterns held.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The directives of a block with `include`s replaced by what they read.
pub fn flatten_block<'a>(config: &'a Config, d: &'a Directive, out: &mut Vec<&'a Directive>) {
    if let Some(block) = &d.block {
        flatten(config, block.directives(), out, 0);
    }
}

fn flatten<'a>(
    config: &'a Config,
    dirs: impl Iterator<Item = &'a Directive>,
    out: &mut Vec<&'a Directive>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for d in dirs {
        if d.is("include") && d.block.is_none() {
            for &id in &d.includes {
                if let Some(file) = config.files.get(id.index()) {
                    flatten(config, file.block.directives(), out, depth + 1);
                }
            }
        } else {
            out.push(d);
        }
    }
}

impl Runtime {
    /// Compiles a loaded configuration with the default options.
    pub fn compile(config: &Config) -> Result<Runtime, CompileError> {
        Runtime::compile_with(config, &CompileOptions::default())
    }

    /// Compiles a loaded configuration.
    pub fn compile_with(
        config: &Config,
        options: &CompileOptions<'_>,
    ) -> Result<Runtime, CompileError> {
        let mut http: Option<&Directive> = None;
        if let Some(main) = config.main() {
            let mut top = Vec::new();
            flatten(config, main.block.directives(), &mut top, 0);
            http = top.into_iter().find(|d| d.is("http") && d.block.is_some());
        }
        let http = http.ok_or(CompileError::NoHttp)?;
        let resolve = options.resolver;
        let (upstreams, upstream_error) = match Upstreams::from_config(config, resolve) {
            Ok(u) => (u, None),
            Err(e) => (Upstreams::default(), Some(e.to_string())),
        };
        let conf_dir = config
            .main()
            .and_then(|_| config.sources.files().get(config.main.index()))
            .and_then(|f| f.path.parent().map(PathBuf::from))
            .unwrap_or_default();
        let shared = options.regexes;
        let mut b = crate::build::Builder {
            config,
            options,
            user: UserVars::default(),
            regexes: shared
                .map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner())))
                .unwrap_or_default(),
            locations: Vec::new(),
            servers: Vec::new(),
            zones: Default::default(),
            conf_dir: conf_dir.as_os_str().as_encoded_bytes().to_vec(),
            upstream_index: {
                let mut index = rustc_hash::FxHashMap::default();
                for (i, g) in upstreams.groups.iter().enumerate() {
                    index.entry(g.name.to_ascii_lowercase()).or_insert(i);
                }
                index
            },
        };
        let built = http_tables(&mut b, http);
        if let Some(shared) = shared {
            b.regexes.end_compile();
            *shared.lock().unwrap_or_else(|e| e.into_inner()) = std::mem::take(&mut b.regexes);
        }
        let (maps, http_conf) = built?;
        let listens = build_listens(&b.servers);
        let paths = config
            .sources
            .files()
            .iter()
            .map(|f| f.path.clone())
            .collect();
        Ok(Runtime {
            listens,
            servers: b.servers,
            locations: b.locations,
            maps,
            user_vars: b.user,
            http: http_conf,
            upstreams,
            upstream_error,
            hostname: options.hostname.clone(),
            paths,
            conf_dir,
            zones: b.zones,
        })
    }

    pub fn server(&self, id: ServerId) -> &Server {
        &self.servers[id.index()]
    }

    pub fn location(&self, id: LocationId) -> &Location {
        &self.locations[id.index()]
    }

    /// `file:line` of a span, the file relative to the main file's
    /// directory when it is under it.
    pub fn source(&self, span: upgate_conf::Span) -> String {
        let path = self
            .paths
            .get(span.file.index())
            .cloned()
            .unwrap_or_default();
        let shown = path
            .strip_prefix(&self.conf_dir)
            .map(PathBuf::from)
            .unwrap_or(path);
        format!("{}:{}", shown.display(), span.line)
    }
}

/// The variables, maps, zones, the `http` level and every server, in
/// nginx's order.
fn http_tables<'c>(
    b: &mut crate::build::Builder<'c, '_>,
    http: &'c Directive,
) -> Result<(Vec<Map>, crate::conf::LocConf), CompileError> {
    let config = b.config;
    b.declare_variables();
    let mut dirs = Vec::new();
    flatten_block(config, http, &mut dirs);
    let mut maps = Vec::new();
    for d in dirs.iter().filter(|d| d.is("map") && d.block.is_some()) {
        let map = Map::compile(config, d, &b.user, &mut b.regexes)?;
        let id = MapId(maps.len() as u32);
        if let Some(v) = b.user.vars.get_mut(map.variable.0 as usize) {
            v.map = Some(id);
        }
        maps.push(map);
    }
    b.zones = crate::zone::Zones::compile(&dirs, &b.user)?;
    let http_conf = b.http_conf(http, &dirs)?;
    for d in dirs.iter().filter(|d| d.is("server") && d.block.is_some()) {
        b.server(d, &http_conf)?;
    }
    if b.servers.is_empty() {
        b.implicit_server(http, &http_conf);
    }
    Ok((maps, http_conf))
}

/// `ngx_http_optimize_servers`: the address table and each address's names.
fn build_listens(servers: &[Server]) -> Listens {
    let mut listens = Listens::default();
    for (i, s) in servers.iter().enumerate() {
        for l in &s.listens {
            listens.add(ServerId(i as u32), l);
        }
    }
    for addr in &mut listens.addrs {
        // ngx_http_optimize_servers: a server alone on its address is its
        // default whatever the Host, and its names are not even looked at
        // unless its (last) regex name has captures.
        if addr.servers.len() == 1 && !servers[addr.default_server.index()].captures {
            continue;
        }
        for &sid in &addr.servers {
            for name in &servers[sid.index()].names {
                match &name.regex {
                    Some(re) => addr.names.add_regex(re.clone(), sid),
                    None => {
                        if addr.names.add(&name.name, sid) != crate::server_name::Added::Ok {
                            addr.conflicts.push((name.name.clone(), sid));
                        }
                    }
                }
            }
        }
    }
    listens
}

/// The default `listen` of a server without one.
pub(crate) fn default_listen(port: u16, span: upgate_conf::Span) -> Listen {
    Listen {
        addr: ListenAddr::Inet(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        default_server: false,
        ssl: false,
        http2: false,
        proxy_protocol: false,
        span,
    }
}

/// Parses a server's `listen` directives.
pub(crate) fn listens_of(dirs: &[&Directive], options: &CompileOptions<'_>) -> Vec<Listen> {
    let mut out = Vec::new();
    for d in dirs.iter().filter(|d| d.is("listen")) {
        if let Some(ls) = parse_listen(d, options.resolver) {
            out.extend(ls);
        }
    }
    out
}

/// Reads `server_name` arguments (`ngx_http_core_server_name`).
pub(crate) fn server_names(
    dirs: &[&Directive],
    options: &CompileOptions<'_>,
    regexes: &mut RegexCache,
) -> Result<Vec<ServerName>, CompileError> {
    let mut names = Vec::new();
    for d in dirs.iter().filter(|d| d.is("server_name")) {
        for a in &d.args {
            if let Some(pattern) = a.value.strip_prefix(b"~") {
                let caseless = pattern.iter().any(u8::is_ascii_uppercase);
                let re = regexes
                    .get(pattern, caseless)
                    .map_err(|e| CompileError::regex(a, e))?;
                names.push(ServerName {
                    name: a.value.clone(),
                    regex: Some(re),
                    span: a.span,
                });
            } else {
                let name = if a.value.eq_ignore_ascii_case(b"$hostname") {
                    options.hostname.clone()
                } else {
                    a.value.to_ascii_lowercase()
                };
                names.push(ServerName {
                    name,
                    regex: None,
                    span: a.span,
                });
            }
        }
    }
    Ok(names)
}

/// Marks a [`LocationKind`] as one of nginx's unnamed locations.
pub(crate) fn is_noname(kind: LocationKind) -> bool {
    matches!(kind, LocationKind::If | LocationKind::LimitExcept)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn regex_cache_keeps_what_the_last_compile_used() {
        let mut cache = RegexCache::default();
        cache.get(br"^/a", false).unwrap();
        cache.get(br"^/b", true).unwrap();
        cache.end_compile();
        assert_eq!(cache.len(), 2);
        // The next compile uses one of the two: only that one survives it.
        assert!(cache.get(br"^/a", false).unwrap().is_match(b"/a/x"));
        cache.end_compile();
        assert_eq!(cache.len(), 1);
        // Caselessness is part of the key.
        assert!(!cache.get(br"^/A", false).unwrap().is_match(b"/a"));
        assert!(cache.get(br"^/A", true).unwrap().is_match(b"/a"));
        assert!(cache.get(br"(", false).is_err());
    }

    #[test]
    fn a_shared_cache_is_filled_by_a_compile_and_kept_on_error() {
        let dir =
            std::env::temp_dir().join(format!("upgate-rt-regex-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nginx.conf");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let mut options = upgate_conf::LoadOptions::new(&path);
            options.check_environment = false;
            upgate_conf::load(&options).config
        };
        let shared = Mutex::new(RegexCache::default());
        let options = CompileOptions {
            regexes: Some(&shared),
            ..CompileOptions::default()
        };
        let good = load(
            "events {}\nhttp { server { listen 8080; location ~ ^/a { return 204; } location ~* \\.php$ { return 403; } } }\n",
        );
        let rt = Runtime::compile_with(&good, &options).unwrap();
        assert_eq!(shared.lock().unwrap().len(), 2);
        let bad = load(
            "events {}\nhttp { server { listen 8080; location ~ ^/a { return 204; } proxy_pass http://nowhere.invalid; } }\n",
        );
        let _ = Runtime::compile_with(&bad, &options);
        assert!(!shared.lock().unwrap().is_empty());
        drop(rt);
        std::fs::remove_dir_all(&dir).ok();
    }
}
