//! http core: `server`, `listen`, `server_name`, `location`, `root`/`alias`
//! (src/http/ngx_http_core_module.c) and the post-parse steps of
//! src/http/ngx_http.c that report duplicates and conflicts.

use rustc_hash::FxHashMap as HashMap;

use super::listen_url::{ListenAddr, parse_listen_url, sock_text};
use super::{Cx, Semantics, values};
use crate::ast::{Directive, Word};
use crate::context::BlockKind;
use crate::error::ConfError;
use crate::load::at_end;
use crate::span::Span;

#[derive(Debug, Default)]
pub(super) struct HttpState {
    servers: Vec<ServerInfo>,
    /// Open locations: (name, modifier) from the outermost.
    location_stack: Vec<LocationInfo>,
    /// Prefix and exact locations per level, for the duplicate check.
    levels: Vec<Vec<LocationInfo>>,
    /// Levels already closed, in the order nginx initialises them.
    closed_levels: Vec<Vec<LocationInfo>>,
    /// Listen address -> whether some server is its default.
    defaults: HashMap<String, Span>,
    /// Listen address -> options set by some listen.
    options_set: HashMap<String, Span>,
    /// `ssl_certificate` at http level (inherited by every server).
    http_ssl_certificate: bool,
    /// `ssl_reject_handshake on` at http level.
    http_reject_handshake: bool,
    /// `ssl_certificate` values and the number of `ssl_certificate_key`s
    /// at http level.
    http_certificates: (Vec<String>, usize),
    /// Listen addresses in the order nginx adds them (`cmcf->ports`,
    /// `port->addrs`).
    addrs: Vec<Addr>,
    /// Where each address is in `addrs` (a configuration can listen on
    /// thousands: a scan per `listen` made -t quadratic).
    addr_index: HashMap<String, usize>,
    /// `server_names_hash_bucket_size` / `server_names_hash_max_size`.
    names_bucket_size: Option<i64>,
    names_max_size: Option<i64>,
}

/// One `ngx_http_conf_addr_t`.
#[derive(Debug, Clone)]
struct Addr {
    text: String,
    /// Some listen of it had `ssl` (nginx ORs them).
    ssl: bool,
    /// Index of its default server: the first to listen, or the one with
    /// `default_server`.
    default: usize,
    /// The servers listening on it, in order.
    servers: Vec<usize>,
}

#[derive(Debug, Default, Clone)]
struct ServerInfo {
    listens: Vec<String>,
    names: Vec<(String, Span)>,
    /// Some `listen ... ssl`.
    ssl_listen: bool,
    /// `ssl_certificate` (or `ssl_reject_handshake`) in the server.
    ssl_certificate: bool,
    /// `ssl_reject_handshake on` in the server.
    reject_handshake: bool,
    /// Its `ssl_certificate` values and number of `ssl_certificate_key`s.
    certificates: (Vec<String>, usize),
    /// Where nginx reports the server (its `{` line).
    span: Span,
    line: u32,
}

#[derive(Debug, Clone)]
pub(super) struct LocationInfo {
    pub name: Vec<u8>,
    pub kind: LocationKind,
    pub span: Span,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LocationKind {
    Prefix,
    NoRegex,
    Exact,
    Regex,
    Named,
}

impl Semantics {
    /// `ngx_http_core_server`: a new virtual server.
    pub(super) fn server_block(
        &mut self,
        _cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        self.http.servers.push(ServerInfo {
            span: d.head_span(),
            line: d.end_line,
            ..ServerInfo::default()
        });
        self.http.levels.push(Vec::new());
        Ok(())
    }

    /// After the server's `}`: a server without `listen` listens on *:80
    /// (8000 when not root).
    pub(super) fn finish_server(&mut self, _d: &Directive) -> Result<(), ConfError> {
        if let Some(level) = self.http.levels.pop() {
            self.http.closed_levels.push(level);
        }
        if let Some(server) = self.http.servers.last_mut()
            && server.listens.is_empty()
        {
            let port = if super::core::running_as_root() {
                80
            } else {
                8000
            };
            server.listens.push(format!("0.0.0.0:{port}"));
        }
        Ok(())
    }

    /// How many `server {}` blocks were opened in http so far (the number
    /// of the current one, from 1).
    pub(super) fn server_count(&self) -> usize {
        self.http.servers.len()
    }

    /// `ngx_http_core_listen`.
    pub(super) fn listen(&mut self, _cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let Some(url) = d.args.first() else {
            return Ok(());
        };
        let addrs = match parse_listen_url(&url.text()) {
            Ok(ListenAddr::Host { host, ports }) => {
                if self.check_hosts && self.resolve_host(&host).is_err() {
                    return Err(at_end(
                        d,
                        format!("host not found in \"{url}\" of the \"listen\" directive"),
                    ));
                }
                let ips = self.hosts_addresses(&host);
                let mut addrs = Vec::new();
                for port in ports.0..=ports.1 {
                    if ips.is_empty() {
                        addrs.push(format!("{host}:{port}"));
                    }
                    for ip in &ips {
                        addrs.push(sock_text(*ip, port));
                    }
                }
                addrs
            }
            Ok(ListenAddr::Ip(addrs)) => addrs,
            Err(err) => {
                return Err(at_end(
                    d,
                    format!("{err} in \"{url}\" of the \"listen\" directive"),
                ));
            }
        };
        if d.args.iter().skip(1).any(|p| p.is("ssl"))
            && let Some(server) = self.http.servers.last_mut()
        {
            server.ssl_listen = true;
        }
        let mut default_server = false;
        let mut options = false;
        for param in &d.args[1..] {
            let p = param.text();
            let p = p.as_ref();
            let bad = |message: String| Err(ConfError::emerg(message, param.span, d.end_line));
            match p {
                "default_server" | "default" => default_server = true,
                "bind" | "deferred" | "reuseport" | "ssl" | "http2" | "proxy_protocol" => {
                    options |= p != "ssl" && p != "http2" && p != "proxy_protocol";
                }
                "quic" => return bad("the \"quic\" parameter requires ngx_http_v3_module".into()),
                _ => {
                    let Some((key, value)) = p.split_once('=') else {
                        return bad(format!("invalid parameter \"{p}\""));
                    };
                    options = true;
                    let ok = match key {
                        "fastopen" => values::atoi(value.as_bytes()).is_some(),
                        // ngx_atoi fails on a sign; 0 is refused too.
                        "backlog" => values::atoi(value.as_bytes()).is_some_and(|n| n != 0),
                        "rcvbuf" | "sndbuf" => values::parse_size(value.as_bytes()).is_some(),
                        "accept_filter" => {
                            return bad(format!(
                                "accept filters \"{p}\" are not supported on this platform, ignored"
                            ));
                        }
                        "ipv6only" if value.starts_with('o') => {
                            if value != "on" && value != "off" {
                                return bad(format!("invalid ipv6only flags \"{value}\""));
                            }
                            true
                        }
                        "so_keepalive" => valid_so_keepalive(value),
                        _ => return bad(format!("invalid parameter \"{p}\"")),
                    };
                    if !ok {
                        return bad(match key {
                            "so_keepalive" => format!("invalid so_keepalive value: \"{value}\""),
                            _ => format!("invalid {key} \"{p}\""),
                        });
                    }
                }
            }
        }
        let ssl = d.args.iter().skip(1).any(|p| p.is("ssl"));
        let server_index = self.http.servers.len().saturating_sub(1);
        // `ngx_http_add_listen` for each address, in order.
        for key in addrs {
            let known = self.http.addr_index.get(&key).copied();
            match known.and_then(|i| self.http.addrs.get_mut(i)) {
                Some(addr) => {
                    addr.ssl |= ssl;
                    if default_server {
                        addr.default = server_index;
                    }
                    if !addr.servers.contains(&server_index) {
                        addr.servers.push(server_index);
                    }
                }
                None => {
                    let at = self.http.addrs.len();
                    self.http.addr_index.insert(key.clone(), at);
                    self.http.addrs.push(Addr {
                        text: key.clone(),
                        ssl,
                        default: server_index,
                        servers: vec![server_index],
                    });
                }
            }
            if let Some(server) = self.http.servers.last_mut() {
                if server.listens.contains(&key) {
                    return Err(at_end(d, format!("a duplicate listen {key}")));
                }
                server.listens.push(key.clone());
            }
            if options
                && self
                    .http
                    .options_set
                    .insert(key.clone(), d.name.span)
                    .is_some()
            {
                return Err(at_end(d, format!("duplicate listen options for {key}")));
            }
            if default_server
                && self
                    .http
                    .defaults
                    .insert(key.clone(), d.name.span)
                    .is_some()
            {
                return Err(at_end(d, format!("a duplicate default server for {key}")));
            }
        }
        Ok(())
    }

    /// `ngx_http_core_server_name`.
    pub(super) fn server_name(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        for name in &d.args {
            let v = &name.value;
            let first = v.first().copied().unwrap_or(0);
            if (first == b'*' && (v.len() < 3 || v[1] != b'.')) || (first == b'.' && v.len() < 2) {
                return Err(ConfError::emerg(
                    format!("server name \"{name}\" is invalid"),
                    name.span,
                    d.end_line,
                ));
            }
            if v.contains(&b'/') {
                cx.warnings.push(ConfError::warn(
                    format!("server name \"{name}\" has suspicious symbols"),
                    name.span,
                    d.end_line,
                ));
            }
            if first == b'~' {
                if v.len() == 1 {
                    return Err(ConfError::emerg(
                        format!("empty regex in server name \"{name}\""),
                        name.span,
                        d.end_line,
                    ));
                }
                if let Some(message) = self.regexes.compile_error(&v[1..]) {
                    return Err(at_end(d, message));
                }
                self.define_named_captures(&v[1..]);
                continue;
            }
            if let Some(server) = self.http.servers.last_mut() {
                server
                    .names
                    .push((String::from_utf8_lossy(v).to_lowercase(), name.span));
            }
        }
        Ok(())
    }

    /// `ngx_http_core_location`: modifiers and nesting rules.
    pub(super) fn location(&mut self, _cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let (kind, name) = match d.args.as_slice() {
            [modifier, name] => {
                let kind = match modifier.value.as_slice() {
                    b"=" => LocationKind::Exact,
                    b"^~" => LocationKind::NoRegex,
                    b"~" | b"~*" => LocationKind::Regex,
                    _ => {
                        return Err(ConfError::emerg(
                            format!("invalid location modifier \"{modifier}\""),
                            modifier.span,
                            d.end_line,
                        ));
                    }
                };
                (kind, name.value.clone())
            }
            [name] => split_location(name),
            _ => return Ok(()),
        };
        if kind == LocationKind::Regex {
            if let Some(message) = self.regexes.compile_error(&name) {
                return Err(at_end(d, message));
            }
            self.define_named_captures(&name);
        }
        let display = String::from_utf8_lossy(&name).into_owned();
        if let Some(parent) = self.http.location_stack.last() {
            let parent_name = String::from_utf8_lossy(&parent.name).into_owned();
            if parent.kind == LocationKind::Exact {
                return Err(at_end(
                    d,
                    format!(
                        "location \"{display}\" cannot be inside the exact location \"{parent_name}\""
                    ),
                ));
            }
            if parent.kind == LocationKind::Named {
                return Err(at_end(
                    d,
                    format!(
                        "location \"{display}\" cannot be inside the named location \"{parent_name}\""
                    ),
                ));
            }
            if kind == LocationKind::Named {
                return Err(at_end(
                    d,
                    format!("named location \"{display}\" can be on the server level only"),
                ));
            }
            if kind != LocationKind::Regex && !name.starts_with(&parent.name) {
                return Err(at_end(
                    d,
                    format!("location \"{display}\" is outside location \"{parent_name}\""),
                ));
            }
        }
        let info = LocationInfo {
            name,
            kind,
            span: d.head_span(),
            line: d.end_line,
        };
        if let Some(level) = self.http.levels.last_mut() {
            level.push(info.clone());
        }
        self.http.location_stack.push(info);
        self.http.levels.push(Vec::new());
        Ok(())
    }

    /// Whether the innermost open location is a regex or named one (where
    /// `proxy_pass` may not have a URI part).
    pub(super) fn current_location_is_regex_or_named(&self) -> bool {
        self.http
            .location_stack
            .last()
            .is_some_and(|l| matches!(l.kind, LocationKind::Regex | LocationKind::Named))
    }

    /// After a location's `}`.
    pub(super) fn finish_location(&mut self) {
        self.http.location_stack.pop();
        if let Some(level) = self.http.levels.pop() {
            self.http.closed_levels.push(level);
        }
    }

    /// `root` / `alias`: values may hold variables.
    pub(super) fn root(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        if d.is("alias")
            && cx.context == BlockKind::Location
            && let Some(loc) = self.http.location_stack.last()
            && loc.kind == LocationKind::Named
        {
            return Err(at_end(
                d,
                "\"alias\" directive cannot be used inside the named location".to_string(),
            ));
        }
        self.complex_values(cx, d, 0..)
    }

    /// `ngx_http_init_locations` / `ngx_http_join_exact_locations`: two
    /// prefix or two exact locations with the same name on one level.
    pub(super) fn check_locations(&mut self) -> Result<(), ConfError> {
        for level in &self.http.closed_levels {
            let mut seen: HashMap<(&[u8], bool), &LocationInfo> = HashMap::default();
            for loc in level {
                let exact = match loc.kind {
                    LocationKind::Exact => true,
                    LocationKind::Prefix | LocationKind::NoRegex => false,
                    LocationKind::Regex | LocationKind::Named => continue,
                };
                if seen.insert((loc.name.as_slice(), exact), loc).is_some() {
                    return Err(ConfError::emerg(
                        format!(
                            "duplicate location \"{}\"",
                            String::from_utf8_lossy(&loc.name)
                        ),
                        loc.span,
                        loc.line,
                    ));
                }
            }
        }
        Ok(())
    }

    /// `server_names_hash_bucket_size` / `_max_size` (as given; nginx
    /// aligns the bucket size to the cache line when http is initialised).
    pub(super) fn server_names_hash(&mut self, d: &Directive) {
        let value = d.args.first().and_then(|v| values::atoi(&v.value));
        if d.is("server_names_hash_bucket_size") {
            self.http.names_bucket_size = value;
        } else {
            self.http.names_max_size = value;
        }
    }

    /// `ngx_http_optimize_servers` / `ngx_http_server_names`: on every
    /// address that more than one server listens on, a name two servers
    /// give is ignored with a warning, and the exact names must fit the
    /// server names hash (`ngx_hash_init`). nginx logs both without a file
    /// position.
    pub(super) fn check_server_names(
        &mut self,
        warnings: &mut Vec<ConfError>,
    ) -> Result<(), ConfError> {
        /// x86-64's `ngx_cacheline_size`.
        const CACHE_LINE: i64 = 64;
        let bucket_size = self.http.names_bucket_size.unwrap_or(CACHE_LINE);
        let bucket_size = (bucket_size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
        let max_size = self.http.names_max_size.unwrap_or(512);
        // Addresses in the order they were first listened on, with their
        // servers (found by a hash: there can be thousands).
        let mut addrs: Vec<(&str, Vec<usize>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::default();
        for (i, server) in self.http.servers.iter().enumerate() {
            for addr in &server.listens {
                let next = addrs.len();
                let at = *index.entry(addr.as_str()).or_insert(next);
                match addrs.get_mut(at) {
                    Some((_, servers)) => servers.push(i),
                    None => addrs.push((addr, vec![i])),
                }
            }
        }
        let unplaced = |mut e: ConfError| {
            e.position = crate::error::Position::None { hint: e.span() };
            e
        };
        for (addr, servers) in &addrs {
            if servers.len() < 2 {
                continue;
            }
            let mut seen: HashMap<String, ()> = HashMap::default();
            let mut exact = Vec::new();
            for &i in servers {
                for (name, span) in &self.http.servers[i].names {
                    if name.is_empty() {
                        continue;
                    }
                    let key = name.trim_end_matches('.').to_string();
                    if seen.insert(key.clone(), ()).is_some() {
                        warnings.push(unplaced(ConfError::warn(
                            format!("conflicting server name \"{name}\" on {addr}, ignored"),
                            *span,
                            span.line,
                        )));
                        continue;
                    }
                    // `.name` and wildcards go to the wildcard hashes,
                    // one label per level (ngx_hash_wildcard_init).
                    let inner = name
                        .strip_prefix("*.")
                        .or_else(|| name.strip_suffix(".*"))
                        .or_else(|| name.strip_prefix('.'));
                    match inner {
                        Some(inner) => {
                            if let Some(label) = inner.split('.').map(str::len).max() {
                                exact.push((label, *span));
                            }
                        }
                        None => exact.push((key.len(), *span)),
                    }
                }
            }
            if exact.is_empty() {
                continue;
            }
            let fail = |message: String, span: Option<Span>| {
                Err(ConfError::unplaced(message, span)
                    .with_help("raise server_names_hash_bucket_size (or _max_size) in http {}"))
            };
            if max_size == 0 {
                return fail(
                    format!(
                        "could not build server_names_hash, you should increase server_names_hash_max_size: {max_size}"
                    ),
                    None,
                );
            }
            if bucket_size > 65536 - CACHE_LINE {
                return fail(
                    format!(
                        "could not build server_names_hash, too large server_names_hash_bucket_size: {bucket_size}"
                    ),
                    None,
                );
            }
            // NGX_HASH_ELT_SIZE plus the bucket's end pointer.
            let elt = |len: usize| 8 + (len as i64 + 2 + 7) / 8 * 8 + 8;
            if let Some((_, span)) = exact.iter().find(|(len, _)| elt(*len) > bucket_size) {
                return fail(
                    format!(
                        "could not build server_names_hash, you should increase server_names_hash_bucket_size: {bucket_size}"
                    ),
                    Some(*span),
                );
            }
        }
        Ok(())
    }

    /// `ssl_certificate` / `ssl_reject_handshake` at http or server level.
    pub(super) fn ssl_certificate(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        let reject = d.is("ssl_reject_handshake");
        let counts = !reject || d.args.first().is_some_and(|v| v.is("on"));
        if counts {
            match (cx.context, reject) {
                (BlockKind::Http, false) => self.http.http_ssl_certificate = true,
                (BlockKind::Http, true) => self.http.http_reject_handshake = true,
                (BlockKind::Server, _) => {
                    if let Some(server) = self.http.servers.last_mut() {
                        if reject {
                            server.reject_handshake = true;
                        } else {
                            server.ssl_certificate = true;
                        }
                    }
                }
                _ => {}
            }
        }
        if d.is("ssl_certificate") || d.is("ssl_certificate_key") {
            let target = match cx.context {
                BlockKind::Http => Some(&mut self.http.http_certificates),
                BlockKind::Server => self.http.servers.last_mut().map(|s| &mut s.certificates),
                _ => None,
            };
            if let Some((certificates, keys)) = target {
                match d.args.first() {
                    Some(cert) if d.is("ssl_certificate") => {
                        certificates.push(cert.text().into_owned())
                    }
                    _ => *keys += 1,
                }
            }
        }
        if d.is("ssl_certificate") {
            self.complex_values(cx, d, 0..)?;
        }
        Ok(())
    }

    /// `ngx_http_ssl_merge_srv_conf`, server by server: as many keys as
    /// certificates (the server's own, else those of http). Logged
    /// without a file position.
    pub(super) fn check_certificate_keys(&self) -> Result<(), ConfError> {
        for server in &self.http.servers {
            // Each merged on its own (ngx_conf_merge_ptr_value).
            let certificates = if server.certificates.0.is_empty() {
                &self.http.http_certificates.0
            } else {
                &server.certificates.0
            };
            let keys = if server.certificates.1 == 0 {
                self.http.http_certificates.1
            } else {
                server.certificates.1
            };
            if let Some(last) = certificates.last()
                && keys < certificates.len()
            {
                return Err(ConfError::unplaced(
                    format!("no \"ssl_certificate_key\" is defined for certificate \"{last}\""),
                    Some(server.span),
                ));
            }
        }
        Ok(())
    }

    /// `ngx_http_ssl_init`: a server listening with ssl needs a certificate.
    pub(super) fn check_ssl_certificates(&self) -> Result<(), ConfError> {
        let certificates = |s: &ServerInfo| s.ssl_certificate || self.http.http_ssl_certificate;
        let reject = |s: &ServerInfo| s.reject_handshake || self.http.http_reject_handshake;
        let missing = |s: &ServerInfo| {
            Err(ConfError::emerg(
                "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
                s.span,
                s.line,
            ))
        };
        // Ports in the order of their first address, then their addresses.
        let port_of = |text: &str| -> String {
            let family = if text.starts_with('[') {
                "6"
            } else if text.starts_with("unix:") {
                return "unix".into();
            } else {
                "4"
            };
            format!("{family}:{}", text.rsplit(':').next().unwrap_or(""))
        };
        if !self.http.addrs.iter().any(|a| a.ssl) {
            return Ok(());
        }
        // Each port's addresses, ports in the order of their first address
        // (one pass: a config can have thousands of addresses).
        let mut ports: Vec<Vec<&Addr>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::default();
        for addr in &self.http.addrs {
            let next = ports.len();
            let i = *index.entry(port_of(&addr.text)).or_insert(next);
            if i == next {
                ports.push(Vec::new());
            }
            ports[i].push(addr);
        }
        for addrs in &ports {
            for addr in addrs {
                if !addr.ssl {
                    continue;
                }
                let Some(server) = self.http.servers.get(addr.default) else {
                    continue;
                };
                if certificates(server) {
                    continue;
                }
                if !reject(server) {
                    return missing(server);
                }
                // The default server rejects handshakes: every other one
                // needs a certificate or rejects too.
                for other in addr
                    .servers
                    .iter()
                    .filter_map(|&i| self.http.servers.get(i))
                {
                    if !certificates(other) && !reject(other) {
                        return missing(other);
                    }
                }
            }
        }
        Ok(())
    }

    /// Named captures of a regex become variables (`ngx_http_regex_compile`).
    pub(super) fn define_named_captures(&mut self, regex: &[u8]) {
        let text = String::from_utf8_lossy(regex);
        for (i, _) in text.match_indices("(?") {
            let rest = &text[i + 2..];
            let rest = rest.strip_prefix('P').unwrap_or(rest);
            let (open, close) = match rest.chars().next() {
                Some('<') => ('<', '>'),
                Some('\'') => ('\'', '\''),
                _ => continue,
            };
            let rest = &rest[open.len_utf8()..];
            if rest.starts_with('=') || rest.starts_with('!') {
                continue;
            }
            if let Some(end) = rest.find(close) {
                self.http_vars.define(&rest[..end]);
            }
        }
    }
}

fn split_location(name: &Word) -> (LocationKind, Vec<u8>) {
    let v = &name.value;
    if let Some(rest) = v.strip_prefix(b"=") {
        (LocationKind::Exact, rest.to_vec())
    } else if let Some(rest) = v.strip_prefix(b"^~") {
        (LocationKind::NoRegex, rest.to_vec())
    } else if let Some(rest) = v.strip_prefix(b"~") {
        (
            LocationKind::Regex,
            rest.strip_prefix(b"*").unwrap_or(rest).to_vec(),
        )
    } else if v.first() == Some(&b'@') {
        (LocationKind::Named, v.clone())
    } else {
        (LocationKind::Prefix, v.clone())
    }
}

fn valid_so_keepalive(value: &str) -> bool {
    if value == "on" || value == "off" {
        return true;
    }
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() != 3 {
        return false;
    }
    let time_ok = |s: &str| s.is_empty() || values::parse_time(s.as_bytes(), true).is_some();
    let num_ok = |s: &str| s.is_empty() || values::atoi(s.as_bytes()).is_some();
    time_ok(parts[0]) && time_ok(parts[1]) && num_ok(parts[2]) && value != "::"
}
