//! nginx's complex values and variables: `ngx_http_script_compile` /
//! `ngx_http_compile_complex_value` (src/http/ngx_http_script.c) turn
//! `"$scheme://$host$request_uri"`, `${name}suffix` and captures `$1`..`$9`
//! into a [`Template`]; the names resolve like `ngx_http_get_variable_index`
//! (case-insensitive) against the built-in tables of ngx_http_variables.c
//! and ngx_http_proxy_module.c, the prefix variables (`$http_`, `$arg_`,
//! `$cookie_`, ...) and the variables the configuration defines (`map`,
//! `set`, named regex captures).
//!
//! Evaluation is lazy and per request (see `request.rs`); values that only
//! exist while serving (`$status`, `$request_time`, `$upstream_addr`...)
//! evaluate to empty here and are marked [`Var::Runtime`].

use rustc_hash::FxHashMap;
use serde::Serialize;

/// Index of a variable the configuration defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct UserVarId(pub u32);

/// One variable reference, resolved at compile time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Host,
    ServerName,
    RequestUri,
    Uri,
    Args,
    IsArgs,
    Scheme,
    Https,
    RemoteAddr,
    RemotePort,
    /// `$realip_remote_addr` / `$realip_remote_port`: the connection's own
    /// address, before the realip module replaced it.
    RealipRemoteAddr,
    RealipRemotePort,
    ServerAddr,
    ServerPort,
    ServerProtocol,
    RequestMethod,
    Request,
    ContentLength,
    ContentType,
    Hostname,
    NginxVersion,
    /// `$http_NAME` (NAME lower-cased, `-` as `_`): every matching header
    /// joined with ", " (nginx 1.23+); `$http_cookie` joins with "; ".
    Http(Vec<u8>),
    /// `$arg_NAME`.
    Arg(Vec<u8>),
    /// `$cookie_NAME`.
    Cookie(Vec<u8>),
    ProxyHost,
    ProxyPort,
    ProxyAddXForwardedFor,
    ProxyInternalBodyLength,
    ProxyInternalChunked,
    /// A `map`, `set` or named-capture variable.
    User(UserVarId),
    /// Exists only while serving (`$status`, `$request_time`, ...): empty
    /// when a request is only routed.
    Runtime(String),
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(Vec<u8>),
    Var(Var),
    /// `$1`..`$9`.
    Capture(u8),
}

/// A compiled complex value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub parts: Vec<Part>,
    /// The text as written in the configuration.
    pub source: Vec<u8>,
}

impl Template {
    /// A template without variables.
    pub fn literal(text: &[u8]) -> Template {
        Template {
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![Part::Text(text.to_vec())]
            },
            source: text.to_vec(),
        }
    }

    /// The value when it has no variables or captures.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(&[]),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// The user variables it reads (for explanations).
    pub fn user_vars(&self) -> impl Iterator<Item = UserVarId> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(Var::User(id)) => Some(*id),
            _ => None,
        })
    }

    pub fn source_text(&self) -> String {
        String::from_utf8_lossy(&self.source).into_owned()
    }
}

/// What a configuration-defined variable is.
#[derive(Debug, Clone, Default)]
pub struct UserVar {
    pub name: String,
    /// The `map` that defines it, if any.
    pub map: Option<crate::map::MapId>,
}

/// The variables a configuration defines, by lower-cased name.
#[derive(Debug, Clone, Default)]
pub struct UserVars {
    pub vars: Vec<UserVar>,
    index: FxHashMap<String, UserVarId>,
}

impl UserVars {
    /// Declares `name` (idempotent) and returns its id.
    pub fn declare(&mut self, name: &str) -> UserVarId {
        let key = name.to_ascii_lowercase();
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = UserVarId(self.vars.len() as u32);
        self.vars.push(UserVar {
            name: key.clone(),
            map: None,
        });
        self.index.insert(key, id);
        id
    }

    pub fn get(&self, name: &str) -> Option<UserVarId> {
        self.index.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn var(&self, id: UserVarId) -> Option<&UserVar> {
        self.vars.get(id.0 as usize)
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

/// Why a complex value does not compile (nginx's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("invalid variable name")]
    InvalidName,
    #[error("the closing bracket in \"{0}\" variable is missing")]
    MissingBracket(String),
    #[error("unknown \"{0}\" variable")]
    Unknown(String),
}

/// Variables only known while a request is served.
const RUNTIME_VARS: &[&str] = &[
    "binary_remote_addr",
    "body_bytes_sent",
    "bytes_sent",
    "connection",
    "connection_requests",
    "connection_time",
    "connections_active",
    "connections_reading",
    "connections_waiting",
    "connections_writing",
    "document_root",
    "invalid_referer",
    "limit_conn_status",
    "limit_rate",
    "limit_req_status",
    "msec",
    "pid",
    "pipe",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "realpath_root",
    "remote_user",
    "request_body",
    "request_body_file",
    "request_completion",
    "request_filename",
    "request_id",
    "request_length",
    "request_time",
    "status",
    "tcpinfo_rtt",
    "tcpinfo_rttvar",
    "tcpinfo_snd_cwnd",
    "tcpinfo_rcv_space",
    "time_iso8601",
    "time_local",
    "upstream_addr",
    "upstream_bytes_received",
    "upstream_bytes_sent",
    "upgate_tunnel_close",
    "upstream_connect_time",
    "upstream_header_time",
    "upstream_response_length",
    "upstream_response_time",
    "upstream_status",
    "upstream_cache_status",
    "upstream_last_server_name",
    "ssl_server_name",
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_early_data",
    "ssl_alpn_protocol",
    "ssl_client_verify",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_s_dn_legacy",
    "ssl_client_i_dn_legacy",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "gzip_ratio",
    "date_local",
    "date_gmt",
];

const RUNTIME_PREFIXES: &[&str] = &[
    "sent_http_",
    "sent_trailer_",
    "upstream_http_",
    "upstream_trailer_",
    "upstream_cookie_",
];

/// The name of a variable as written in a configuration (`$host`).
pub fn var_name(var: &Var, user: &UserVars) -> String {
    let name = match var {
        Var::Host => "host",
        Var::ServerName => "server_name",
        Var::RequestUri => "request_uri",
        Var::Uri => "uri",
        Var::Args => "args",
        Var::IsArgs => "is_args",
        Var::Scheme => "scheme",
        Var::Https => "https",
        Var::RemoteAddr => "remote_addr",
        Var::RemotePort => "remote_port",
        Var::RealipRemoteAddr => "realip_remote_addr",
        Var::RealipRemotePort => "realip_remote_port",
        Var::ServerAddr => "server_addr",
        Var::ServerPort => "server_port",
        Var::ServerProtocol => "server_protocol",
        Var::RequestMethod => "request_method",
        Var::Request => "request",
        Var::ContentLength => "content_length",
        Var::ContentType => "content_type",
        Var::Hostname => "hostname",
        Var::NginxVersion => "nginx_version",
        Var::ProxyHost => "proxy_host",
        Var::ProxyPort => "proxy_port",
        Var::ProxyAddXForwardedFor => "proxy_add_x_forwarded_for",
        Var::ProxyInternalBodyLength => "proxy_internal_body_length",
        Var::ProxyInternalChunked => "proxy_internal_chunked",
        Var::Http(n) => return format!("$http_{}", String::from_utf8_lossy(n)),
        Var::Arg(n) => return format!("$arg_{}", String::from_utf8_lossy(n)),
        Var::Cookie(n) => return format!("$cookie_{}", String::from_utf8_lossy(n)),
        Var::User(id) => {
            return format!("${}", user.var(*id).map_or("?", |v| v.name.as_str()));
        }
        Var::Runtime(n) => return format!("${n}"),
    };
    format!("${name}")
}

/// Resolves a variable name (without `$`).
pub fn resolve(name: &str, user: &UserVars) -> Result<Var, TemplateError> {
    let lower = name.to_ascii_lowercase();
    // $args has a set handler: `set $args` changes the request's arguments
    // (see `Request::set_var`), which every later read sees
    if lower == "args" || lower == "query_string" {
        return Ok(Var::Args);
    }
    if let Some(id) = user.get(&lower) {
        return Ok(Var::User(id));
    }
    let var = match lower.as_str() {
        "host" => Var::Host,
        "server_name" => Var::ServerName,
        "request_uri" => Var::RequestUri,
        "uri" | "document_uri" => Var::Uri,
        "args" | "query_string" => Var::Args,
        "is_args" => Var::IsArgs,
        "scheme" => Var::Scheme,
        "https" => Var::Https,
        "remote_addr" => Var::RemoteAddr,
        "remote_port" => Var::RemotePort,
        "realip_remote_addr" => Var::RealipRemoteAddr,
        "realip_remote_port" => Var::RealipRemotePort,
        "server_addr" => Var::ServerAddr,
        "server_port" => Var::ServerPort,
        "server_protocol" => Var::ServerProtocol,
        "request_method" => Var::RequestMethod,
        "request" => Var::Request,
        "content_length" => Var::ContentLength,
        "content_type" => Var::ContentType,
        "hostname" => Var::Hostname,
        "nginx_version" => Var::NginxVersion,
        "proxy_host" => Var::ProxyHost,
        "proxy_port" => Var::ProxyPort,
        "proxy_add_x_forwarded_for" => Var::ProxyAddXForwardedFor,
        "proxy_internal_body_length" => Var::ProxyInternalBodyLength,
        "proxy_internal_chunked" => Var::ProxyInternalChunked,
        other => {
            if let Some(h) = other.strip_prefix("http_") {
                Var::Http(h.as_bytes().to_vec())
            } else if let Some(a) = other.strip_prefix("arg_") {
                Var::Arg(a.as_bytes().to_vec())
            } else if let Some(c) = other.strip_prefix("cookie_") {
                Var::Cookie(c.as_bytes().to_vec())
            } else if RUNTIME_VARS.contains(&other)
                || RUNTIME_PREFIXES.iter().any(|p| other.starts_with(p))
            {
                Var::Runtime(other.to_string())
            } else {
                return Err(TemplateError::Unknown(lower));
            }
        }
    };
    Ok(var)
}

/// `ngx_http_script_compile` for a complex value.
pub fn compile(source: &[u8], user: &UserVars) -> Result<Template, TemplateError> {
    let mut parts: Vec<Part> = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < source.len() {
        if source[i] != b'$' {
            text.push(source[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&first) = source.get(i) else {
            return Err(TemplateError::InvalidName);
        };
        if (b'1'..=b'9').contains(&first) {
            flush(&mut parts, &mut text);
            parts.push(Part::Capture(first - b'0'));
            i += 1;
            continue;
        }
        let bracket = first == b'{';
        if bracket {
            i += 1;
            if i == source.len() {
                return Err(TemplateError::InvalidName);
            }
        }
        let start = i;
        while i < source.len() && (source[i].is_ascii_alphanumeric() || source[i] == b'_') {
            i += 1;
        }
        let name = String::from_utf8_lossy(&source[start..i]).into_owned();
        if bracket {
            if source.get(i) != Some(&b'}') {
                return Err(TemplateError::MissingBracket(name));
            }
            i += 1;
        }
        if name.is_empty() {
            return Err(TemplateError::InvalidName);
        }
        flush(&mut parts, &mut text);
        parts.push(Part::Var(resolve(&name, user)?));
    }
    flush(&mut parts, &mut text);
    Ok(Template {
        parts,
        source: source.to_vec(),
    })
}

fn flush(parts: &mut Vec<Part>, text: &mut Vec<u8>) {
    if !text.is_empty() {
        parts.push(Part::Text(std::mem::take(text)));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn compiles_complex_values() {
        let mut user = UserVars::default();
        let id = user.declare("Connection_Upgrade");
        let t = compile(b"$scheme://$host${request_uri}x$1", &user).unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Var(Var::Scheme),
                Part::Text(b"://".to_vec()),
                Part::Var(Var::Host),
                Part::Var(Var::RequestUri),
                Part::Text(b"x".to_vec()),
                Part::Capture(1),
            ]
        );
        let t = compile(b"$connection_upgrade", &user).unwrap();
        assert_eq!(t.parts, vec![Part::Var(Var::User(id))]);
        let t = compile(b"$HTTP_X_Real_IP", &user).unwrap();
        assert_eq!(t.parts, vec![Part::Var(Var::Http(b"x_real_ip".to_vec()))]);
        assert_eq!(compile(b"a$", &user), Err(TemplateError::InvalidName));
        assert_eq!(
            compile(b"${host", &user),
            Err(TemplateError::MissingBracket("host".into()))
        );
        assert_eq!(
            compile(b"$nope", &user),
            Err(TemplateError::Unknown("nope".into()))
        );
        assert_eq!(
            compile(b"plain", &user).unwrap().as_literal(),
            Some(&b"plain"[..])
        );
    }
}
