//! `proxy_pass` and `proxy_redirect`: the URL as `ngx_http_proxy_pass` and
//! `ngx_parse_url` read it (scheme, host or upstream group, port, URI part,
//! or a complex value evaluated per request by `ngx_http_proxy_eval`), the
//! variables it defines (`$proxy_host`, `$proxy_port`,
//! `ngx_http_proxy_set_vars`), the URI nginx sends
//! (`ngx_http_proxy_create_request`, NGINX-BEHAVIOUR 9) and the default
//! `proxy_redirect` (`ngx_http_proxy_merge_loc_conf`, NGINX-BEHAVIOUR 24).

use serde::Serialize;
use upgate_conf::Span;

use crate::regex::Regex;
use crate::uri::{escape_uri, needs_escape};
use crate::variable::Template;

/// A location's `proxy_pass`.
#[derive(Debug, Clone)]
pub struct ProxyPass {
    /// The URL as written.
    pub url: Vec<u8>,
    pub span: Span,
    pub target: ProxyTarget,
    /// `plcf->location`: the name of the location that holds proxy_pass
    /// (empty in regex and named locations); the URI part replaces this
    /// much of the URI.
    pub location: Vec<u8>,
    /// The `upstream {}` group it names (index in
    /// [`crate::Runtime::upstreams`]), if any.
    pub upstream: Option<usize>,
}

/// What the URL names.
#[derive(Debug, Clone)]
pub enum ProxyTarget {
    Static(StaticUrl),
    /// A URL with variables, evaluated for each request.
    Variables(Template),
}

/// A URL without variables (`ngx_parse_url` with `uri_part`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaticUrl {
    pub https: bool,
    /// Host as written (an upstream name, a host name or an address);
    /// the socket path for `unix:`.
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub host: Vec<u8>,
    /// The port as written, if any.
    pub port: Option<u16>,
    pub unix: bool,
    /// The URI part (`None`: no URI part; `Some("/")` counts as one).
    #[serde(serialize_with = "crate::explain::ser_opt_bytes")]
    pub uri: Option<Vec<u8>>,
    /// `$proxy_host`: host, with `:port` unless it is the scheme's default.
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub host_header: Vec<u8>,
    /// `$proxy_port`.
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub port_text: Vec<u8>,
}

/// Parses `http://...` / `https://...` (case-insensitive scheme).
pub fn parse_url(url: &[u8]) -> Option<StaticUrl> {
    let lower = url
        .get(..8)
        .map(<[u8]>::to_ascii_lowercase)
        .unwrap_or_default();
    let (https, rest) = if lower.starts_with(b"http://") {
        (false, &url[7..])
    } else if lower.starts_with(b"https://") {
        (true, &url[8..])
    } else {
        return None;
    };
    let default_port: u16 = if https { 443 } else { 80 };
    if let Some(path) = rest.strip_prefix(b"unix:") {
        // unix:/path[:/uri]
        let (sock, uri) = match path.iter().position(|&c| c == b':') {
            Some(i) => (&path[..i], Some(path[i + 1..].to_vec())),
            None => (path, None),
        };
        return Some(StaticUrl {
            https,
            host: sock.to_vec(),
            port: None,
            unix: true,
            uri,
            host_header: b"localhost".to_vec(),
            port_text: Vec::new(),
        });
    }
    let slash = rest.iter().position(|&c| c == b'/');
    let question = rest.iter().position(|&c| c == b'?');
    let uri_start = match (slash, question) {
        (Some(s), Some(q)) => Some(s.min(q)),
        (s, q) => s.or(q),
    };
    let (authority, uri) = match uri_start {
        Some(i) => (&rest[..i], Some(rest[i..].to_vec())),
        None => (rest, None),
    };
    let (host, port_text) = split_port(authority);
    let port = match port_text {
        Some(p) => Some(std::str::from_utf8(p).ok()?.parse::<u16>().ok()?),
        None => None,
    };
    let host_header = match (port, port_text) {
        (Some(p), Some(text)) if p != default_port => {
            let mut h = host.to_vec();
            h.push(b':');
            h.extend_from_slice(text);
            h
        }
        _ => host.to_vec(),
    };
    let port_text = match (port, port_text) {
        (Some(p), Some(text)) if p != default_port => text.to_vec(),
        _ => default_port.to_string().into_bytes(),
    };
    Some(StaticUrl {
        https,
        host: host.to_vec(),
        port,
        unix: false,
        uri,
        host_header,
        port_text,
    })
}

/// `host:port`, `[v6]:port`, `host`.
fn split_port(authority: &[u8]) -> (&[u8], Option<&[u8]>) {
    if authority.first() == Some(&b'[')
        && let Some(end) = authority.iter().position(|&c| c == b']')
    {
        let host = &authority[..=end];
        return match authority.get(end + 1) {
            Some(b':') => (host, Some(&authority[end + 2..])),
            _ => (host, None),
        };
    }
    match authority.iter().rposition(|&c| c == b':') {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    }
}

/// The URI state of a request that `ngx_http_proxy_create_request` reads.
#[derive(Debug, Clone, Copy)]
pub struct UriState<'a> {
    pub uri: &'a [u8],
    pub args: &'a [u8],
    pub unparsed_uri: &'a [u8],
    pub valid_unparsed_uri: bool,
    pub valid_location: bool,
    pub quoted_uri: bool,
    pub internal: bool,
}

/// The request-target nginx sends upstream for a URI part `url_uri`
/// (`None`: no URI part) and the location name `location`.
pub fn upstream_uri(url_uri: Option<&[u8]>, location: &[u8], r: UriState<'_>) -> Vec<u8> {
    let part = url_uri.unwrap_or_default();
    if part.is_empty() && r.valid_unparsed_uri {
        return r.unparsed_uri.to_vec();
    }
    let loc_len = if r.valid_location && !part.is_empty() {
        location.len().min(r.uri.len())
    } else {
        0
    };
    let mut out = Vec::with_capacity(part.len() + r.uri.len() + r.args.len() + 1);
    if r.valid_location {
        out.extend_from_slice(part);
    }
    let rest = &r.uri[loc_len..];
    if (r.quoted_uri || r.internal) && needs_escape(rest) {
        out.extend_from_slice(&escape_uri(rest));
    } else {
        out.extend_from_slice(rest);
    }
    if !r.args.is_empty() {
        out.push(b'?');
        out.extend_from_slice(r.args);
    }
    out
}

/// `proxy_redirect` in force.
#[derive(Debug, Clone, Default)]
pub enum ProxyRedirect {
    /// `proxy_redirect off`, or no proxy_pass to derive a default from.
    #[default]
    Off,
    Rules(Vec<RedirectRule>),
}

/// One `proxy_redirect` pair.
#[derive(Debug, Clone)]
pub struct RedirectRule {
    pub pattern: RedirectPattern,
    pub replacement: Template,
    /// `None` for the default nginx derives from proxy_pass.
    pub span: Option<Span>,
}

#[derive(Debug, Clone)]
pub enum RedirectPattern {
    /// A case-sensitive prefix (a complex value).
    Prefix(Template),
    Regex(Regex),
}

/// The default rule: `(pattern, replacement)` for `proxy_pass url` in a
/// location named `location` (`None` with variables: no default).
pub fn default_redirect(pass: &ProxyPass) -> Option<(Vec<u8>, Vec<u8>)> {
    let ProxyTarget::Static(url) = &pass.target else {
        return None;
    };
    match &url.uri {
        Some(uri) if !uri.is_empty() => Some((pass.url.clone(), pass.location.clone())),
        _ => {
            let mut pattern = pass.url.clone();
            pattern.push(b'/');
            Some((pattern, b"/".to_vec()))
        }
    }
}

impl crate::request::Request<'_> {
    /// `ngx_http_upstream_rewrite_location` / `_refresh`: the value of an
    /// upstream `Location` (or `Refresh`) header after `proxy_redirect`, or
    /// `None` when no rule applies (the header is passed unchanged).
    pub fn proxy_redirect(&mut self, value: &[u8]) -> Option<Vec<u8>> {
        self.proxy_redirect_at(value, 0)
    }

    /// `proxy_redirect` on the part of `value` from `prefix` on (after
    /// "url=" in a Refresh header): the first rule that applies wins. A
    /// prefix rule (`ngx_http_proxy_rewrite_complex_handler`) replaces the
    /// matched prefix; a regex rule (`ngx_http_proxy_rewrite_regex_handler`,
    /// which sets the captures for the replacement) replaces the whole part.
    pub fn proxy_redirect_at(&mut self, value: &[u8], prefix: usize) -> Option<Vec<u8>> {
        let rt = self.rt;
        let ProxyRedirect::Rules(rules) = &*rt.location(self.location).conf.proxy_redirect else {
            return None;
        };
        let tail = value.get(prefix..)?;
        for rule in rules {
            let mut out = value[..prefix].to_vec();
            match &rule.pattern {
                RedirectPattern::Prefix(t) => {
                    let pattern = self.eval(t);
                    if tail.starts_with(&pattern) {
                        out.extend_from_slice(&self.eval(&rule.replacement));
                        out.extend_from_slice(&tail[pattern.len()..]);
                        return Some(out);
                    }
                }
                RedirectPattern::Regex(re) => {
                    if let Some(caps) = re.captures(tail) {
                        self.set_captures(caps);
                        out.extend_from_slice(&self.eval(&rule.replacement));
                        return Some(out);
                    }
                }
            }
        }
        None
    }

    /// The upstream response headers nginx does not pass to the client.
    pub fn hidden_response_headers(&self) -> Vec<String> {
        let conf = &self.rt.location(self.location).conf;
        crate::headers::hidden_response_headers(&conf.proxy_hide_header, &conf.proxy_pass_header)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn state<'a>(uri: &'a [u8], args: &'a [u8], raw: &'a [u8]) -> UriState<'a> {
        UriState {
            uri,
            args,
            unparsed_uri: raw,
            valid_unparsed_uri: true,
            valid_location: true,
            quoted_uri: raw.contains(&b'%'),
            internal: false,
        }
    }

    #[test]
    fn url_parts() {
        let u = parse_url(b"http://backend").unwrap();
        assert_eq!(
            (u.host_header.as_slice(), u.uri.is_none()),
            (&b"backend"[..], true)
        );
        let u = parse_url(b"http://127.0.0.1:19090/redir/").unwrap();
        assert_eq!(u.host_header, b"127.0.0.1:19090");
        assert_eq!(u.uri.as_deref(), Some(&b"/redir/"[..]));
        let u = parse_url(b"https://b:443/").unwrap();
        assert_eq!(
            (u.host_header.as_slice(), u.port_text.as_slice()),
            (&b"b"[..], &b"443"[..])
        );
        let u = parse_url(b"http://[::1]:8080").unwrap();
        assert_eq!(u.host_header, b"[::1]:8080");
        let u = parse_url(b"http://unix:/tmp/s.sock:/x").unwrap();
        assert_eq!(
            (u.host_header.as_slice(), u.unix),
            (&b"localhost"[..], true)
        );
        assert!(parse_url(b"ftp://x").is_none());
    }

    /// NGINX-BEHAVIOUR 9: location /api, proxy_pass http://b/.
    #[test]
    fn uri_part_replaces_the_location_prefix() {
        type Case<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);
        let cases: &[Case<'_>] = &[
            (b"/api/x", b"q=1", b"/api/x?q=1", b"//x?q=1"),
            (b"/apix", b"", b"/apix", b"/x"),
            (b"/api/a b", b"", b"/api/a%20b", b"//a%20b"),
            (b"/api/A", b"", b"/api/%41", b"//A"),
            (b"/api/a/c", b"", b"/api/a%2Fb/../c", b"//a/c"),
            (b"/api/x", b"", b"/api//x", b"//x"),
        ];
        for (uri, args, raw, sent) in cases {
            assert_eq!(
                upstream_uri(Some(b"/"), b"/api", state(uri, args, raw)),
                sent.to_vec(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert_eq!(
            upstream_uri(None, b"/api", state(b"/api/a/c", b"", b"/api/a%2Fb/../c")),
            b"/api/a%2Fb/../c".to_vec()
        );
    }
}
