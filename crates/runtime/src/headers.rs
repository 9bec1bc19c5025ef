//! Header lists of a location: `proxy_set_header` with nginx's whole-list
//! inheritance and defaults (`ngx_http_proxy_merge_loc_conf`,
//! `ngx_http_proxy_init_headers` in ngx_http_proxy_module.c),
//! `proxy_hide_header` / `proxy_pass_header` (`ngx_http_upstream_hide_headers_hash`),
//! `add_header` (ngx_http_headers_filter_module.c), and the exact upstream
//! request head (`ngx_http_proxy_create_request`): request line, the
//! `proxy_set_header` lines in configuration order with names as written,
//! the defaults not overridden (Host $proxy_host, Connection close,
//! Content-Length / Transfer-Encoding when there is a body), then every
//! client header whose name is not in that list, in arrival order and
//! original case. A header whose value evaluates to "" is not sent but
//! still hides the client's header of that name.

use std::borrow::Cow;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use serde::Serialize;
use upgate_conf::Span;

use crate::proxy_pass::{ProxyTarget, UriState, upstream_uri};
use crate::request::Request;
use crate::variable::{Template, Var};

/// One `proxy_set_header NAME VALUE;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetHeader {
    pub name: Vec<u8>,
    pub value: Template,
    pub span: Span,
}

/// The `proxy_set_header` list in force: the list of the nearest level that
/// has any (nginx never merges lists).
#[derive(Debug, Clone, Default)]
pub struct HeaderList {
    pub headers: Vec<SetHeader>,
    /// The level that defined it (`None`: no level did).
    pub defined_at: Option<Level>,
}

/// Where a list-valued setting was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// `http`, `server`, `location /x`, `if (...)`.
    pub name: String,
    /// The first directive of the list at that level.
    pub span: Span,
}

/// Where a line of the upstream request comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum HeaderOrigin {
    /// A `proxy_set_header` directive.
    ProxySetHeader {
        #[serde(skip)]
        span: Span,
    },
    /// nginx's built-in default (`ngx_http_proxy_headers[]`).
    Default,
    /// Forwarded from the client.
    Client,
}

/// `ngx_http_proxy_init_headers`: the merged list and the names it hides.
#[derive(Debug, Clone, Default)]
pub struct UpstreamHeaders {
    pub entries: Vec<MergedHeader>,
    /// Lower-cased names: client headers with these names are not passed.
    pub names: FxHashSet<Vec<u8>>,
}

/// One line of the merged list.
#[derive(Debug, Clone)]
pub struct MergedHeader {
    pub name: Vec<u8>,
    pub value: Template,
    pub origin: HeaderOrigin,
}

/// `ngx_http_proxy_headers[]`, in nginx's order.
static DEFAULT_HEADERS: std::sync::LazyLock<Vec<(&'static [u8], Template)>> =
    std::sync::LazyLock::new(|| {
        vec![
            (b"Host", var_template(Var::ProxyHost, b"$proxy_host")),
            (b"Connection", Template::literal(b"close")),
            (
                b"Content-Length",
                var_template(Var::ProxyInternalBodyLength, b"$proxy_internal_body_length"),
            ),
            (
                b"Transfer-Encoding",
                var_template(Var::ProxyInternalChunked, b"$proxy_internal_chunked"),
            ),
            (b"TE", Template::literal(b"")),
            (b"Keep-Alive", Template::literal(b"")),
            (b"Expect", Template::literal(b"")),
            (b"Upgrade", Template::literal(b"")),
        ]
    });

fn var_template(var: Var, source: &[u8]) -> Template {
    Template {
        parts: vec![crate::variable::Part::Var(var)],
        source: source.to_vec(),
    }
}

impl UpstreamHeaders {
    /// Merges a `proxy_set_header` list with the defaults.
    pub fn init(list: &HeaderList) -> UpstreamHeaders {
        let mut entries: Vec<MergedHeader> = list
            .headers
            .iter()
            .map(|h| MergedHeader {
                name: h.name.clone(),
                value: h.value.clone(),
                origin: HeaderOrigin::ProxySetHeader { span: h.span },
            })
            .collect();
        for (name, value) in DEFAULT_HEADERS.iter() {
            if !list
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
            {
                entries.push(MergedHeader {
                    name: name.to_vec(),
                    value: value.clone(),
                    origin: HeaderOrigin::Default,
                });
            }
        }
        let names = entries
            .iter()
            .map(|e| e.name.to_ascii_lowercase())
            .collect();
        UpstreamHeaders { entries, names }
    }
}

/// `proxy_hide_header` or `proxy_pass_header`: each inherited on its own.
#[derive(Debug, Clone, Default)]
pub struct NameList {
    pub names: Vec<Vec<u8>>,
    pub defined_at: Option<Level>,
}

/// `ngx_http_proxy_hide_headers[]`: upstream response headers nginx does not
/// pass to the client unless `proxy_pass_header` names them.
pub const HIDDEN_BY_DEFAULT: &[&str] = &[
    "Date",
    "Server",
    "X-Pad",
    "X-Accel-Expires",
    "X-Accel-Redirect",
    "X-Accel-Limit-Rate",
    "X-Accel-Buffering",
    "X-Accel-Charset",
];

/// The response headers hidden from the client: the defaults plus
/// `proxy_hide_header`, minus `proxy_pass_header`.
pub fn hidden_response_headers(hide: &NameList, pass: &NameList) -> Vec<String> {
    let passed: FxHashSet<Vec<u8>> = pass.names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let mut out: Vec<String> = Vec::new();
    let all = HIDDEN_BY_DEFAULT
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain(hide.names.iter().cloned());
    for name in all {
        let lower = name.to_ascii_lowercase();
        if !passed.contains(&lower) && !out.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(&name))
        {
            out.push(String::from_utf8_lossy(&name).into_owned());
        }
    }
    out
}

/// One `add_header NAME VALUE [always];`.
#[derive(Debug, Clone)]
pub struct AddHeader {
    pub name: Vec<u8>,
    pub value: Template,
    pub always: bool,
    pub span: Span,
}

/// The `add_header` list in force (whole-list inheritance, like
/// `proxy_set_header`).
#[derive(Debug, Clone, Default)]
pub struct AddHeaders {
    pub headers: Vec<AddHeader>,
    pub defined_at: Option<Level>,
}

/// Statuses `add_header` applies to without `always`
/// (`ngx_http_headers_filter`).
pub fn add_header_applies(status: u16, always: bool) -> bool {
    always
        || matches!(
            status,
            200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
        )
}

/// The parts of a location's configuration that shape the upstream head,
/// shared between locations that inherit them unchanged.
pub type SharedHeaders = Arc<UpstreamHeaders>;

/// One line of the upstream request head, with its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamHeader {
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub name: Vec<u8>,
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub value: Vec<u8>,
    #[serde(flatten)]
    pub origin: HeaderOrigin,
}

/// The exact head nginx writes to the upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamRequest {
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub method: Vec<u8>,
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub uri: Vec<u8>,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: &'static str,
    pub headers: Vec<UpstreamHeader>,
}

impl UpstreamRequest {
    /// The bytes nginx sends: request line, headers, empty line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = self.method.len()
            + self.uri.len()
            + self.version.len()
            + 6
            + self
                .headers
                .iter()
                .map(|h| h.name.len() + h.value.len() + 4)
                .sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.method);
        out.push(b' ');
        out.extend_from_slice(&self.uri);
        out.push(b' ');
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(b"\r\n");
        for h in &self.headers {
            out.extend_from_slice(&h.name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.as_slice())
    }
}

/// Whether proxy_set_header names `name` (in `names`, lower-cased): such a
/// client header is not passed. Lower-cased on the stack, as names are
/// short; only a longer one is copied.
fn set_by_location(names: &FxHashSet<Vec<u8>>, name: &[u8]) -> bool {
    let mut lower = [0u8; 64];
    match lower.get_mut(..name.len()) {
        Some(to) => {
            for (t, c) in to.iter_mut().zip(name) {
                *t = c.to_ascii_lowercase();
            }
            names.contains(&to[..])
        }
        None => names.contains(&name.to_ascii_lowercase()),
    }
}

/// `ngx_http_parse_header_line`'s name check: letters, digits, `-`, and
/// `_` with `underscores_in_headers on`. Other lines are dropped when
/// `ignore_invalid_headers` is on (the default).
pub fn valid_header_name(name: &[u8], underscores: bool) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || (underscores && c == b'_'))
}

impl Request<'_> {
    /// Whether nginx keeps this client header line (see [`valid_header_name`]).
    pub fn keeps_header(&self, name: &[u8]) -> bool {
        let server = self.rt.server(self.server);
        !server.ignore_invalid_headers || valid_header_name(name, server.underscores_in_headers)
    }

    /// The head `ngx_http_proxy_create_request` writes for this request, or
    /// `None` when the location does not proxy.
    pub fn upstream_request(&mut self) -> Option<UpstreamRequest> {
        let rt = self.rt;
        let conf = &rt.location(self.location).conf;
        let pass = conf.proxy_pass.as_ref()?;
        let method = match &conf.proxy_method {
            Some(t) => self.eval(t),
            None => self.method.clone(),
        };
        let uri_part = match &pass.target {
            ProxyTarget::Static(url) => url.uri.as_deref().map(Cow::Borrowed),
            ProxyTarget::Variables(_) => self
                .proxy_url()
                .and_then(|u| u.into_owned().uri)
                .map(Cow::Owned),
        };
        let state = UriState {
            uri: &self.uri,
            args: &self.args,
            unparsed_uri: &self.unparsed_uri,
            valid_unparsed_uri: self.valid_unparsed_uri,
            valid_location: self.valid_location,
            quoted_uri: self.quoted_uri,
            internal: self.internal,
        };
        let uri = match (&pass.target, uri_part) {
            // with variables, an evaluated URI part is sent as it is
            (ProxyTarget::Variables(_), Some(u)) if !u.is_empty() => u.into_owned(),
            (ProxyTarget::Variables(_), _) => upstream_uri(None, b"", state),
            (ProxyTarget::Static(_), part) => upstream_uri(part.as_deref(), &pass.location, state),
        };
        let mut headers =
            Vec::with_capacity(conf.upstream_headers.entries.len() + self.client.headers.len());
        for e in &conf.upstream_headers.entries {
            let value = self.eval(&e.value);
            if value.is_empty() {
                continue;
            }
            headers.push(UpstreamHeader {
                name: e.name.clone(),
                value,
                origin: e.origin.clone(),
            });
        }
        if conf.proxy_pass_request_headers.value {
            for h in &self.client.headers {
                if !self.keeps_header(h.name)
                    || set_by_location(&conf.upstream_headers.names, h.name)
                {
                    continue;
                }
                headers.push(UpstreamHeader {
                    name: h.name.to_vec(),
                    value: h.value.to_vec(),
                    origin: HeaderOrigin::Client,
                });
            }
        }
        Some(UpstreamRequest {
            method,
            uri,
            version: conf.proxy_http_version.value.as_str(),
            headers,
        })
    }

    /// The `add_header` lines for a response with `status`, evaluated
    /// (empty values are not sent).
    pub fn add_headers(&mut self, status: u16) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.add_headers_with(status, &|_| None)
    }

    /// As [`Request::add_headers`], with the values only the engine knows
    /// (`$upstream_*`, `$status`, ...) from `runtime`.
    pub fn add_headers_with(
        &mut self,
        status: u16,
        runtime: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let rt = self.rt;
        let list = &rt.location(self.location).conf.add_header;
        let mut out = Vec::new();
        for h in &list.headers {
            if !add_header_applies(status, h.always) {
                continue;
            }
            let value = self.eval_with(&h.value, runtime);
            if !value.is_empty() {
                out.push((h.name.clone(), value));
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_set_list() {
        let list = HeaderList {
            headers: vec![SetHeader {
                name: b"host".to_vec(),
                value: Template::literal(b"Custom.Host"),
                span: Span::default(),
            }],
            defined_at: None,
        };
        let merged = UpstreamHeaders::init(&list);
        let names: Vec<&[u8]> = merged.entries.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(
            names,
            vec![
                &b"host"[..],
                b"Connection",
                b"Content-Length",
                b"Transfer-Encoding",
                b"TE",
                b"Keep-Alive",
                b"Expect",
                b"Upgrade"
            ]
        );
        assert!(merged.names.contains(b"upgrade".as_slice()));
    }

    #[test]
    fn hide_and_pass() {
        let hide = NameList {
            names: vec![b"X-Custom".to_vec()],
            defined_at: None,
        };
        let pass = NameList {
            names: vec![b"server".to_vec()],
            defined_at: None,
        };
        let hidden = hidden_response_headers(&hide, &pass);
        assert!(hidden.contains(&"X-Custom".to_string()));
        assert!(!hidden.contains(&"Server".to_string()));
        assert!(hidden.contains(&"Date".to_string()));
    }
}
