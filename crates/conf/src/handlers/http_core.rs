//! http core: `server`, `listen`, `server_name`, `location`, `root`/`alias`
//! (src/http/ngx_http_core_module.c) and the post-parse steps of
//! src/http/ngx_http.c that report duplicates and conflicts.

use rustc_hash::FxHashMap as HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
}

#[derive(Debug, Default, Clone)]
struct ServerInfo {
    listens: Vec<String>,
    names: Vec<(String, Span)>,
    /// Some `listen ... ssl`.
    ssl_listen: bool,
    /// `ssl_certificate` (or `ssl_reject_handshake`) in the server.
    ssl_certificate: bool,
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
            server.listens.push("0.0.0.0:80".into());
        }
        Ok(())
    }

    /// `ngx_http_core_listen`.
    pub(super) fn listen(&mut self, _cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let Some(url) = d.args.first() else {
            return Ok(());
        };
        let addr = match parse_listen_url(&url.text()) {
            Ok(ListenAddr::Host { host, port }) => {
                if self.check_environment && self.resolve_host(&host).is_err() {
                    return Err(at_end(
                        d,
                        format!("host not found in \"{url}\" of the \"listen\" directive"),
                    ));
                }
                format!("{host}:{port}")
            }
            Ok(ListenAddr::Ip(addr)) => addr,
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
                        "setfib" | "fastopen" | "backlog" => {
                            values::atoi(value.as_bytes()).is_some()
                                || (key == "backlog" && value.starts_with('-'))
                        }
                        "rcvbuf" | "sndbuf" => values::parse_size(value.as_bytes()).is_some(),
                        "accept_filter" => {
                            return bad(format!(
                                "accept filters \"{p}\" are not supported on this platform, ignored"
                            ));
                        }
                        "ipv6only" => {
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
        let key = addr;
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
                if let Some(message) = super::regex::compile_error(&v[1..]) {
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
            if let Some(message) = super::regex::compile_error(&name) {
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

    /// `ngx_http_server_names`: a name on the same address in two servers.
    pub(super) fn check_server_names(&mut self, warnings: &mut Vec<ConfError>) {
        let mut seen: HashMap<(String, String), ()> = HashMap::default();
        let mut reported = Vec::new();
        for server in &self.http.servers {
            for addr in &server.listens {
                for (name, span) in &server.names {
                    if name.is_empty() {
                        continue;
                    }
                    let key = (addr.clone(), name.trim_end_matches('.').to_string());
                    if seen.insert(key, ()).is_some() {
                        reported.push(ConfError::warn(
                            format!("conflicting server name \"{name}\" on {addr}, ignored"),
                            *span,
                            span.line,
                        ));
                    }
                }
            }
        }
        // nginx logs these without a file position.
        for mut warning in reported {
            warning.position = crate::error::Position::None {
                hint: warning.span(),
            };
            warnings.push(warning);
        }
    }

    /// `ssl_certificate` / `ssl_reject_handshake` at http or server level.
    pub(super) fn ssl_certificate(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        let counts = !d.is("ssl_reject_handshake") || d.args.first().is_some_and(|v| v.is("on"));
        if counts {
            match cx.context {
                BlockKind::Http => self.http.http_ssl_certificate = true,
                BlockKind::Server => {
                    if let Some(server) = self.http.servers.last_mut() {
                        server.ssl_certificate = true;
                    }
                }
                _ => {}
            }
        }
        if d.is("ssl_certificate") {
            self.complex_values(cx, d, 0..)?;
        }
        Ok(())
    }

    /// `ngx_http_ssl_init`: a server listening with ssl needs a certificate.
    pub(super) fn check_ssl_certificates(&self) -> Result<(), ConfError> {
        if self.http.http_ssl_certificate {
            return Ok(());
        }
        match self
            .http
            .servers
            .iter()
            .find(|s| s.ssl_listen && !s.ssl_certificate)
        {
            Some(server) => Err(ConfError::emerg(
                "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
                server.span,
                server.line,
            )),
            None => Ok(()),
        }
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

/// A parsed `listen` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ListenAddr {
    /// The text nginx uses in messages: `0.0.0.0:80`, `[::]:80`, `unix:/p`.
    Ip(String),
    /// A name nginx resolves at -t.
    Host { host: String, port: String },
}

/// `ngx_parse_url` for `listen`.
pub(super) fn parse_listen_url(url: &str) -> Result<ListenAddr, &'static str> {
    if let Some(path) = url.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        return Ok(ListenAddr::Ip(url.to_string()));
    }
    if let Some(rest) = url.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("invalid host");
        };
        let ip: Ipv6Addr = host.parse().map_err(|_| "invalid IPv6 address")?;
        let port = match after {
            "" => "80".to_string(),
            p => parse_port(p.strip_prefix(':').ok_or("invalid host")?)?,
        };
        return Ok(ListenAddr::Ip(format!("[{ip}]:{port}")));
    }
    // A bare number is a port (if ngx_atoi takes it); anything else a host.
    let (host, port) = match url.rsplit_once(':') {
        Some((host, port)) => (host, parse_port(port)?),
        None => match values::atoi(url.as_bytes()) {
            Some(_) => ("*", parse_port(url)?),
            None if url.contains('-') && url.bytes().all(|c| c.is_ascii_digit() || c == b'-') => {
                ("*", parse_port(url)?)
            }
            None => (url, "80".to_string()),
        },
    };
    let ip: IpAddr = match host {
        "*" | "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        h => match h.parse::<Ipv4Addr>() {
            Ok(ip) => IpAddr::V4(ip),
            Err(_) if h.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Err(_) => {
                return Ok(ListenAddr::Host {
                    host: h.to_string(),
                    port,
                });
            }
        },
    };
    Ok(ListenAddr::Ip(format!("{ip}:{port}")))
}

/// A port, or for `listen` a range `FIRST-LAST` (`ngx_parse_inet_url` with
/// `u->listen`), kept as written.
fn parse_port(port: &str) -> Result<String, &'static str> {
    let one = |p: &str| match values::atoi(p.as_bytes()) {
        Some(n) if (1..=65535).contains(&n) => Ok(n),
        _ => Err("invalid port"),
    };
    match port.split_once('-') {
        Some((first, last)) => {
            let last = one(last)?;
            let first = one(first)?;
            if first > last {
                return Err("invalid port range");
            }
            Ok(format!("{first}-{last}"))
        }
        None => one(port).map(|n| n.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let ip = |s: &str| Ok(ListenAddr::Ip(s.into()));
        assert_eq!(parse_listen_url("80"), ip("0.0.0.0:80"));
        assert_eq!(parse_listen_url("127.0.0.1:8080"), ip("127.0.0.1:8080"));
        assert_eq!(parse_listen_url("127.0.0.1"), ip("127.0.0.1:80"));
        assert_eq!(parse_listen_url("[::]:443"), ip("[::]:443"));
        assert_eq!(parse_listen_url("*:8000"), ip("0.0.0.0:8000"));
        assert_eq!(parse_listen_url("80000"), Err("invalid port"));
        assert_eq!(
            parse_listen_url("127.0.0.1:8182-8183"),
            ip("127.0.0.1:8182-8183")
        );
        assert_eq!(parse_listen_url("[::1]:90-91"), ip("[::1]:90-91"));
        assert_eq!(parse_listen_url("90-91"), ip("0.0.0.0:90-91"));
        assert_eq!(
            parse_listen_url("127.0.0.1:91-90"),
            Err("invalid port range")
        );
        let host = Ok(ListenAddr::Host {
            host: "abc".into(),
            port: "80".into(),
        });
        assert_eq!(parse_listen_url("abc"), host);
    }
}
