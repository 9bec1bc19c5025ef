//! The engine's own settings of each level, read from the syntax tree next to
//! the runtime's tables: what `ngx_http_core_merge_loc_conf` /
//! `ngx_http_core_merge_srv_conf` (src/http/ngx_http_core_module.c) and
//! `ngx_http_log_merge_loc_conf` (ngx_http_log_module.c) leave for the
//! directives the runtime does not compile yet: keepalive_timeout,
//! keepalive_requests, keepalive_time, client_max_body_size,
//! client_body_timeout, client_header_timeout, reset_timedout_connection,
//! the header buffers, server_tokens, chunked_transfer_encoding,
//! default_type and types, resolver, access_log, the `proxy_ssl_*`
//! directives.
//!
//! This is a thin adapter: it maps each [`LocationId`] back to its block by
//! span and merges scalars from the nearest level that sets them. When the
//! runtime compiles these directives, this file goes.

use std::collections::HashMap;
use std::time::Duration;

use upgate_conf::{Config, Directive, Span};
use upgate_runtime::Runtime;
use upgate_runtime::compile::flatten_block;
use upgate_runtime::timeouts::{parse_size, parse_time};

use crate::http1::{HeaderLimits, ServerTokens};

/// One `access_log` line of a level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogSpec {
    /// The path as written (relative paths are under the prefix).
    pub path: String,
    /// The `log_format` name (`combined` by default).
    pub format: String,
    /// `buffer=SIZE`: lines are written when the buffer fills or on flush.
    pub buffer: Option<usize>,
    /// `flush=TIME`.
    pub flush: Option<Duration>,
    /// `if=CONDITION`: a complex value; "" or "0" skips the line.
    pub condition: Option<Vec<u8>>,
}

/// The merged engine settings of one level.
#[derive(Clone, Debug)]
pub struct LocSettings {
    /// keepalive_timeout (75s; 0 turns keepalive off).
    pub keepalive_timeout: Duration,
    /// keepalive_timeout's second parameter: `Keep-Alive: timeout=N`.
    pub keepalive_header: Option<u64>,
    /// keepalive_requests (1000).
    pub keepalive_requests: u64,
    /// keepalive_time (1h).
    pub keepalive_time: Duration,
    /// keepalive_disable: (msie6, safari); msie6 by default.
    pub keepalive_disable: (bool, bool),
    /// client_max_body_size (1m; 0 means no limit).
    pub client_max_body_size: u64,
    /// client_body_buffer_size (16k): a body up to this size is in memory,
    /// and only then `$request_body` has it.
    pub client_body_buffer_size: u64,
    /// client_body_timeout (60s).
    pub client_body_timeout: Duration,
    /// reset_timedout_connection (off).
    pub reset_timedout_connection: bool,
    /// server_tokens (on).
    pub server_tokens: ServerTokens,
    /// chunked_transfer_encoding (on).
    pub chunked_transfer_encoding: bool,
    /// default_type (text/plain).
    pub default_type: Vec<u8>,
    /// `types {}`: extension -> type (nginx's three built-in types when no
    /// level has a `types` block).
    pub types: std::sync::Arc<HashMap<Vec<u8>, Vec<u8>>>,
    /// A `resolver` is configured: proxy_pass with variables may name hosts.
    pub resolver: bool,
    /// access_log lines in force; empty for `access_log off`.
    pub access_log: Vec<AccessLogSpec>,
    /// The `proxy_ssl_*` directives in force.
    pub proxy_ssl: crate::tls::upstream::ProxySslConf,
}

/// The server-level settings nginx applies before the Host header is read.
#[derive(Clone, Debug)]
pub struct SrvSettings {
    /// client_header_timeout (60s).
    pub client_header_timeout: Duration,
    /// client_header_buffer_size and large_client_header_buffers.
    pub limits: HeaderLimits,
}

/// The settings of every location (indexed like `Runtime::locations`) and
/// every server (like `Runtime::servers`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub locations: Vec<LocSettings>,
    pub servers: Vec<SrvSettings>,
    /// `log_format` NAME -> (escape, format text).
    pub log_formats: HashMap<String, (Escape, Vec<u8>)>,
}

/// `log_format ... escape=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Escape {
    #[default]
    Default,
    Json,
    None,
}

/// nginx's predefined `combined` format.
pub const COMBINED: &[u8] = b"$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

impl Settings {
    /// Reads the settings for the levels of `rt`, compiled from `config`.
    pub fn read(config: &Config, rt: &Runtime) -> Settings {
        let mut blocks: HashMap<Span, &Directive> = HashMap::new();
        let mut http: Option<&Directive> = None;
        config.walk(|d, _| {
            if d.block.is_some() {
                blocks.insert(d.name.span, d);
                if d.is("http") && http.is_none() {
                    http = Some(d);
                }
            }
        });
        let mut log_formats = HashMap::new();
        log_formats.insert("combined".to_string(), (Escape::Default, COMBINED.to_vec()));
        let mut http_dirs = Vec::new();
        if let Some(h) = http {
            flatten_block(config, h, &mut http_dirs);
        }
        for d in http_dirs.iter().filter(|d| d.is("log_format")) {
            let Some(name) = d.args.first() else { continue };
            let mut escape = Escape::Default;
            let mut text = Vec::new();
            for a in &d.args[1..] {
                match a.value.strip_prefix(b"escape=") {
                    Some(b"json") if text.is_empty() => escape = Escape::Json,
                    Some(b"none") if text.is_empty() => escape = Escape::None,
                    Some(b"default") if text.is_empty() => escape = Escape::Default,
                    _ => text.extend_from_slice(&a.value),
                }
            }
            log_formats.insert(name.text().into_owned(), (escape, text));
        }
        let base = LocSettings::default();
        let http_level = apply(&base, &http_dirs);
        let mut locations = Vec::with_capacity(rt.locations.len());
        for (i, loc) in rt.locations.iter().enumerate() {
            // The chain from this level up to the server level.
            let mut chain = vec![i];
            let mut at = loc.parent;
            while let Some(p) = at {
                chain.push(p.index());
                at = rt.locations.get(p.index()).and_then(|l| l.parent);
            }
            let mut s = http_level.clone();
            for &level in chain.iter().rev() {
                let Some(l) = rt.locations.get(level) else {
                    continue;
                };
                if let Some(d) = blocks.get(&l.span).filter(|d| !d.is("http")) {
                    let mut dirs = Vec::new();
                    flatten_block(config, d, &mut dirs);
                    s = apply(&s, &dirs);
                }
            }
            locations.push(s);
        }
        let http_srv = apply_srv(&SrvSettings::default(), &http_dirs);
        let servers = rt
            .servers
            .iter()
            .map(
                |srv| match blocks.get(&srv.span).filter(|d| d.is("server")) {
                    Some(d) => {
                        let mut dirs = Vec::new();
                        flatten_block(config, d, &mut dirs);
                        apply_srv(&http_srv, &dirs)
                    }
                    None => http_srv.clone(),
                },
            )
            .collect();
        Settings {
            locations,
            servers,
            log_formats,
        }
    }
}

impl Default for LocSettings {
    fn default() -> Self {
        let mut types = HashMap::new();
        types.insert(b"html".to_vec(), b"text/html".to_vec());
        types.insert(b"gif".to_vec(), b"image/gif".to_vec());
        types.insert(b"jpg".to_vec(), b"image/jpeg".to_vec());
        LocSettings {
            keepalive_timeout: Duration::from_secs(75),
            keepalive_header: None,
            keepalive_requests: 1000,
            keepalive_time: Duration::from_secs(3600),
            keepalive_disable: (true, false),
            client_max_body_size: 1024 * 1024,
            client_body_buffer_size: 16 * 1024,
            client_body_timeout: Duration::from_secs(60),
            reset_timedout_connection: false,
            server_tokens: ServerTokens::On,
            chunked_transfer_encoding: true,
            default_type: b"text/plain".to_vec(),
            types: std::sync::Arc::new(types),
            resolver: false,
            access_log: vec![AccessLogSpec {
                path: "logs/access.log".into(),
                format: "combined".into(),
                buffer: None,
                flush: None,
                condition: None,
            }],
            proxy_ssl: crate::tls::upstream::ProxySslConf::default(),
        }
    }
}

impl Default for SrvSettings {
    fn default() -> Self {
        SrvSettings {
            client_header_timeout: Duration::from_secs(60),
            limits: HeaderLimits::default(),
        }
    }
}

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args
        .get(i)
        .map(|a| a.value.as_slice())
        .unwrap_or_default()
}

fn on(d: &Directive) -> bool {
    arg(d, 0).eq_ignore_ascii_case(b"on")
}

/// One level's directives over the inherited settings.
fn apply(parent: &LocSettings, dirs: &[&Directive]) -> LocSettings {
    let mut s = parent.clone();
    let mut logs: Option<Vec<AccessLogSpec>> = None;
    let mut types: Option<HashMap<Vec<u8>, Vec<u8>>> = None;
    for d in dirs {
        let name = d.name.value.as_slice();
        match name {
            b"keepalive_timeout" => {
                if let Some(t) = parse_time(arg(d, 0)) {
                    s.keepalive_timeout = t;
                }
                s.keepalive_header = d
                    .args
                    .get(1)
                    .and_then(|a| parse_time(&a.value))
                    .map(|t| t.as_secs());
            }
            b"keepalive_requests" => {
                if let Some(n) = std::str::from_utf8(arg(d, 0))
                    .ok()
                    .and_then(|t| t.parse().ok())
                {
                    s.keepalive_requests = n;
                }
            }
            b"keepalive_disable" => {
                let has = |w: &[u8]| d.args.iter().any(|a| a.value == w);
                s.keepalive_disable = if has(b"none") {
                    (false, false)
                } else {
                    (has(b"msie6"), has(b"safari"))
                };
            }
            b"keepalive_time" => {
                if let Some(t) = parse_time(arg(d, 0)) {
                    s.keepalive_time = t;
                }
            }
            b"client_max_body_size" => {
                if let Some(n) = parse_size(arg(d, 0)) {
                    s.client_max_body_size = n;
                }
            }
            b"client_body_buffer_size" => {
                if let Some(n) = parse_size(arg(d, 0)) {
                    s.client_body_buffer_size = n;
                }
            }
            b"client_body_timeout" => {
                if let Some(t) = parse_time(arg(d, 0)) {
                    s.client_body_timeout = t;
                }
            }
            b"reset_timedout_connection" => {
                s.reset_timedout_connection = arg(d, 0) == b"on";
            }
            b"server_tokens" => {
                s.server_tokens = match arg(d, 0) {
                    b"off" => ServerTokens::Off,
                    b"build" => ServerTokens::Build(None),
                    _ => ServerTokens::On,
                }
            }
            b"chunked_transfer_encoding" => s.chunked_transfer_encoding = on(d),
            b"default_type" => s.default_type = arg(d, 0).to_vec(),
            b"resolver" => s.resolver = true,
            n if n.starts_with(b"proxy_ssl_") => s.proxy_ssl.apply(d),
            b"types" => {
                let t = types.get_or_insert_with(HashMap::new);
                for entry in d.children() {
                    for ext in &entry.args {
                        t.insert(ext.value.to_ascii_lowercase(), entry.name.value.clone());
                    }
                }
            }
            b"access_log" => {
                let list = logs.get_or_insert_with(Vec::new);
                let path = String::from_utf8_lossy(arg(d, 0)).into_owned();
                if path == "off" {
                    continue;
                }
                let mut spec = AccessLogSpec {
                    path,
                    format: "combined".into(),
                    buffer: None,
                    flush: None,
                    condition: None,
                };
                for a in d.args.iter().skip(1) {
                    if let Some(v) = a.value.strip_prefix(b"buffer=") {
                        spec.buffer = parse_size(v).map(|n| n as usize);
                    } else if let Some(v) = a.value.strip_prefix(b"flush=") {
                        spec.flush = parse_time(v);
                    } else if let Some(v) = a.value.strip_prefix(b"if=") {
                        spec.condition = Some(v.to_vec());
                    } else if !a.value.contains(&b'=') && a.value != b"gzip" {
                        spec.format = a.text().into_owned();
                    }
                }
                list.push(spec);
            }
            _ => {}
        }
    }
    if let Some(list) = logs {
        s.access_log = list;
    }
    if let Some(t) = types {
        s.types = std::sync::Arc::new(t);
    }
    s
}

fn apply_srv(parent: &SrvSettings, dirs: &[&Directive]) -> SrvSettings {
    let mut s = parent.clone();
    for d in dirs {
        match d.name.value.as_slice() {
            b"client_header_timeout" => {
                if let Some(t) = parse_time(arg(d, 0)) {
                    s.client_header_timeout = t;
                }
            }
            b"client_header_buffer_size" => {
                if let Some(n) = parse_size(arg(d, 0)) {
                    s.limits.client_header_buffer_size = n as usize;
                }
            }
            b"large_client_header_buffers" => {
                let n = std::str::from_utf8(arg(d, 0))
                    .ok()
                    .and_then(|t| t.parse().ok());
                if let (Some(n), Some(size)) = (n, parse_size(arg(d, 1))) {
                    s.limits.large_buffers = n;
                    s.limits.large_buffer_size = size as usize;
                }
            }
            _ => {}
        }
    }
    s
}

impl LocSettings {
    /// `ngx_http_set_content_type`: the type of the URI's extension, else
    /// default_type.
    pub fn content_type(&self, uri: &[u8]) -> Vec<u8> {
        let name = uri.rsplit(|&c| c == b'/').next().unwrap_or_default();
        if let Some(dot) = name.iter().rposition(|&c| c == b'.') {
            let ext = name[dot + 1..].to_ascii_lowercase();
            if let Some(t) = self.types.get(&ext) {
                return t.clone();
            }
        }
        self.default_type.clone()
    }
}
