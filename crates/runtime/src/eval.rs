//! Evaluating variables and complex values against a [`Request`]: the get
//! handlers of src/http/ngx_http_variables.c (`$host`, `$http_*` joined as
//! in 1.23+, `$arg_*` as `ngx_http_arg`, `$cookie_*` as
//! `ngx_http_parse_multi_header_lines`, ...), of ngx_http_proxy_module.c
//! (`$proxy_host`, `$proxy_add_x_forwarded_for`, ...), and
//! `ngx_http_map_variable` with the per-request cache
//! (`ngx_http_get_indexed_variable`; `volatile` maps are not cached).

use std::borrow::Cow;
use std::net::IpAddr;

use crate::conf::HttpVersion;
use crate::map::{MapFound, MapHit};
use crate::proxy_pass::{ProxyTarget, StaticUrl, parse_url};
use crate::request::{ClientVersion, Request, Slot};
use crate::variable::{Part, Template, UserVarId, Var};

/// nginx's text for an address (`$remote_addr`, `$server_addr`).
pub fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

fn port_text(port: u16) -> Vec<u8> {
    if port == 0 {
        Vec::new()
    } else {
        port.to_string().into_bytes()
    }
}

impl<'a> Request<'a> {
    /// Evaluates a complex value.
    pub fn eval(&mut self, t: &Template) -> Vec<u8> {
        self.eval_with(t, &|_| None)
    }

    /// Evaluates a complex value, with the variables only the engine knows
    /// ([`Var::Runtime`]) from `runtime`, else from the values the engine
    /// stored in the request.
    pub fn eval_with(
        &mut self,
        t: &Template,
        runtime: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &t.parts {
            match part {
                Part::Text(text) => out.extend_from_slice(text),
                Part::Var(var @ Var::Runtime(name)) => match runtime(name) {
                    Some(value) => out.extend_from_slice(&value),
                    None => out.extend_from_slice(&self.variable(var)),
                },
                Part::Var(var) => out.extend_from_slice(&self.variable(var)),
                Part::Capture(n) => {
                    if let Some(caps) = &self.captures {
                        out.extend_from_slice(caps.group(usize::from(*n)));
                    }
                }
            }
        }
        out
    }

    /// The value of one variable ("" when not found).
    pub fn variable(&mut self, var: &Var) -> Vec<u8> {
        let c = self.client;
        match var {
            Var::Host => {
                if self.host.is_empty() {
                    self.rt.server(self.server).server_name.clone()
                } else {
                    self.host.clone()
                }
            }
            Var::ServerName => self.rt.server(self.server).server_name.clone(),
            Var::RequestUri => self.unparsed_uri.clone(),
            Var::Uri => self.uri.clone(),
            Var::Args => self.args.clone(),
            Var::IsArgs => {
                if self.args.is_empty() {
                    Vec::new()
                } else {
                    b"?".to_vec()
                }
            }
            Var::Scheme => (if c.ssl { "https" } else { "http" }).into(),
            Var::Https => (if c.ssl { "on" } else { "" }).into(),
            Var::RemoteAddr => self.remote.addr_text().into_bytes(),
            // ngx_http_variable_remote_port: empty for port 0 (realip
            // without a port).
            Var::RemotePort => port_text(self.remote.port()),
            Var::RealipRemoteAddr => self
                .realip_original
                .as_ref()
                .unwrap_or(&self.remote)
                .addr_text()
                .into_bytes(),
            Var::RealipRemotePort => {
                port_text(self.realip_original.as_ref().unwrap_or(&self.remote).port())
            }
            Var::ServerAddr => c.local_addr.addr_text().into_bytes(),
            Var::ServerPort => port_text(c.local_addr.port()),
            Var::ServerProtocol => match c.version {
                ClientVersion::Http10 => b"HTTP/1.0".to_vec(),
                ClientVersion::Http11 => b"HTTP/1.1".to_vec(),
            },
            Var::RequestMethod => self.method.clone(),
            Var::Request => {
                let mut line = c.method.to_vec();
                line.push(b' ');
                line.extend_from_slice(c.target);
                line.extend_from_slice(match c.version {
                    ClientVersion::Http10 => b" HTTP/1.0",
                    ClientVersion::Http11 => b" HTTP/1.1",
                });
                line
            }
            Var::ContentLength => c
                .header_values(b"content-length")
                .next()
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            Var::ContentType => c
                .header_values(b"content-type")
                .next()
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            Var::Hostname => self.rt.hostname.clone(),
            Var::NginxVersion => upgate_conf::directives::NGINX_VERSION.as_bytes().to_vec(),
            Var::Http(name) => self.http_header(name),
            Var::Arg(name) => arg(&self.args, name)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            Var::Cookie(name) => self.cookie(name),
            Var::ProxyHost => self
                .proxy_url()
                .map(|u| u.host_header.clone())
                .unwrap_or_default(),
            Var::ProxyPort => self
                .proxy_url()
                .map(|u| u.port_text.clone())
                .unwrap_or_default(),
            Var::ProxyAddXForwardedFor => {
                let mut xff = self.http_header(b"x_forwarded_for");
                if !xff.is_empty() {
                    xff.extend_from_slice(b", ");
                }
                xff.extend_from_slice(self.remote.addr_text().as_bytes());
                xff
            }
            Var::ProxyInternalBodyLength => match self.body_length {
                Some(n) if !self.streams_chunked() => n.to_string().into_bytes(),
                _ => Vec::new(),
            },
            Var::ProxyInternalChunked => {
                if self.streams_chunked() {
                    b"chunked".to_vec()
                } else {
                    Vec::new()
                }
            }
            Var::User(id) => self.user_var(*id),
            Var::Runtime(name) if name == "request_filename" => {
                self.map_uri_to_path().map(|m| m.path).unwrap_or_default()
            }
            // ngx_http_variable_binary_remote_addr: a unix client's is its
            // address text
            Var::Runtime(name) if name == "binary_remote_addr" => match self.remote.ip() {
                Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
                Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
                None => b"unix:".to_vec(),
            },
            Var::Runtime(name) if name == "invalid_referer" => self.invalid_referer(),
            Var::Runtime(name) if name.starts_with("connections_") => {
                let [active, reading, writing, waiting] = self.client.connections;
                let n = match name.as_str() {
                    "connections_active" => active,
                    "connections_reading" => reading,
                    "connections_writing" => writing,
                    _ => waiting,
                };
                n.to_string().into_bytes()
            }
            Var::Runtime(name) if name == "remote_user" => {
                self.basic_user().map(|(user, _)| user).unwrap_or_default()
            }
            Var::Runtime(name) if name == "limit_req_status" => self
                .limit_req_status
                .map(|s| s.as_str().as_bytes().to_vec())
                .unwrap_or_default(),
            Var::Runtime(name) if name == "limit_conn_status" => self
                .limit_conn_status
                .map(|s| s.as_str().as_bytes().to_vec())
                .unwrap_or_default(),
            Var::Runtime(name) if name == "document_root" => self
                .map_uri_to_path()
                .map(|m| m.path[..m.root_len].to_vec())
                .unwrap_or_default(),
            Var::Runtime(name) if name.starts_with("proxy_protocol_") => c
                .proxy_protocol
                .and_then(|pp| pp.variable(name))
                .unwrap_or_default(),
            Var::Runtime(name) if name == "connection" => c.connection.to_string().into_bytes(),
            Var::Runtime(name) if name == "connection_requests" => {
                c.connection_requests.to_string().into_bytes()
            }
            Var::Runtime(name) if name == "connection_time" => {
                let t = c.connection_time;
                format!("{}.{:03}", t.as_secs(), t.subsec_millis()).into_bytes()
            }
            Var::Runtime(name) => self
                .runtime_values
                .iter()
                .rev()
                .chain(c.conn_values.iter())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        }
    }

    /// A chunked body sent on as it arrives (proxy_request_buffering off
    /// and HTTP/1.1 upstream).
    fn streams_chunked(&self) -> bool {
        let conf = &self.rt.location(self.location).conf;
        self.client.chunked
            && self.body_length.is_none()
            && !conf.proxy_request_buffering.value
            && conf.proxy_http_version.value == HttpVersion::Http11
    }

    /// `$http_NAME`: every header whose lower-cased name, `-` read as `_`,
    /// equals NAME, joined with ", " ("; " for Cookie).
    fn http_header(&self, name: &[u8]) -> Vec<u8> {
        let sep: &[u8] = if name == b"cookie" { b"; " } else { b", " };
        let mut out: Vec<u8> = Vec::new();
        let mut first = true;
        for h in &self.client.headers {
            // The name first: it rules out most lines in a byte or two.
            let same = h.name.len() == name.len()
                && h.name.iter().zip(name).all(|(&a, &b)| {
                    let a = if a == b'-' {
                        b'_'
                    } else {
                        a.to_ascii_lowercase()
                    };
                    a == b
                });
            if same && self.keeps_header(h.name) {
                if !first {
                    out.extend_from_slice(sep);
                }
                out.extend_from_slice(h.value);
                first = false;
            }
        }
        out
    }

    /// `$cookie_NAME` (`ngx_http_parse_multi_header_lines`, 1.23+).
    fn cookie(&self, name: &[u8]) -> Vec<u8> {
        for value in self.client.header_values(b"cookie") {
            if let Some(v) = cookie_value(value, name) {
                return v.to_vec();
            }
        }
        Vec::new()
    }

    /// The evaluated proxy_pass URL of the current location.
    pub fn proxy_url(&mut self) -> Option<Cow<'a, StaticUrl>> {
        let rt = self.rt;
        let pass = rt.location(self.location).conf.proxy_pass.as_ref()?;
        match &pass.target {
            ProxyTarget::Static(url) => Some(Cow::Borrowed(url)),
            ProxyTarget::Variables(t) => {
                let text = self.eval(t);
                let mut url = parse_url(&text)?;
                // ngx_http_proxy_eval: a URI part starting with '?' gets '/'.
                if let Some(uri) = &mut url.uri
                    && uri.first() == Some(&b'?')
                {
                    uri.insert(0, b'/');
                }
                Some(Cow::Owned(url))
            }
        }
    }

    /// A `map`, `set` or named-capture variable.
    fn user_var(&mut self, id: UserVarId) -> Vec<u8> {
        let index = id.0 as usize;
        match self.slots.get(index) {
            Some(Slot::Value(v)) => return v.clone(),
            Some(Slot::Busy) | None => return Vec::new(),
            Some(Slot::Unset) => {}
        }
        let Some(map_id) = self.rt.user_vars.var(id).and_then(|v| v.map) else {
            return Vec::new();
        };
        self.slots[index] = Slot::Busy;
        let (value, _) = self.eval_map(map_id);
        let volatile = self
            .rt
            .maps
            .get(map_id.0 as usize)
            .is_some_and(|m| m.volatile);
        self.slots[index] = if volatile {
            Slot::Unset
        } else {
            Slot::Value(value.clone())
        };
        value
    }

    /// `ngx_http_map_variable`: the source, the lookup, the value.
    pub fn eval_map(&mut self, id: crate::map::MapId) -> (Vec<u8>, MapFound) {
        let rt = self.rt;
        let Some(map) = rt.maps.get(id.0 as usize) else {
            return (
                Vec::new(),
                MapFound {
                    hit: MapHit::Empty,
                    captures: None,
                },
            );
        };
        let input = self.eval(&map.source);
        let found = map.find(&input);
        if let Some(caps) = found.captures.clone() {
            self.set_captures(caps);
        }
        let value = match map.value(&found.hit) {
            Some(v) => self.eval(&v.value),
            None => Vec::new(),
        };
        (value, found)
    }

    /// Sets a variable (`set $x ...`).
    pub(crate) fn set_var(&mut self, id: UserVarId, value: Vec<u8>) {
        // $args has a set handler: it is the request's arguments
        if self
            .rt
            .user_vars
            .vars
            .get(id.0 as usize)
            .is_some_and(|v| v.name == "args")
        {
            // ngx_http_variable_set_args: the raw request line no longer
            // stands for the URI
            self.args = value;
            self.valid_unparsed_uri = false;
            return;
        }
        if let Some(slot) = self.slots.get_mut(id.0 as usize) {
            *slot = Slot::Value(value);
        }
    }
}

/// `ngx_http_arg`: `name=value` at the start of the args or after `&`,
/// name compared case-insensitively; the value is raw.
pub fn arg<'a>(args: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if name.is_empty() {
        return None;
    }
    let mut p = 0;
    while p + name.len() < args.len() {
        let found = args[p..args.len() - 1]
            .windows(name.len())
            .position(|w| w.eq_ignore_ascii_case(name))?;
        let at = p + found;
        if (at == 0 || args[at - 1] == b'&') && args.get(at + name.len()) == Some(&b'=') {
            let start = at + name.len() + 1;
            let end = args[start..]
                .iter()
                .position(|&c| c == b'&')
                .map_or(args.len(), |i| start + i);
            return Some(&args[start..end]);
        }
        p = at + 1;
    }
    None
}

/// One Cookie header value parsed as nginx 1.23+ does.
pub fn cookie_value<'a>(value: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if name.len() > value.len() {
        return None;
    }
    let end = value.len();
    let mut start = 0;
    while start < end {
        let matches = value
            .get(start..start + name.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(name));
        if matches {
            let mut p = start + name.len();
            while p < end && value[p] == b' ' {
                p += 1;
            }
            if p < end && value[p] == b'=' {
                p += 1;
                while p < end && value[p] == b' ' {
                    p += 1;
                }
                let last = value[p..]
                    .iter()
                    .position(|&c| c == b';')
                    .map_or(end, |i| p + i);
                return Some(&value[p..last]);
            }
            start = p;
        }
        // skip to after the next ';' or ','
        while start < end {
            let ch = value[start];
            start += 1;
            if ch == b';' || ch == b',' {
                break;
            }
        }
        while start < end && value[start] == b' ' {
            start += 1;
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        assert_eq!(arg(b"a=1&b=2", b"b"), Some(&b"2"[..]));
        assert_eq!(arg(b"A=1&b=2", b"a"), Some(&b"1"[..]));
        assert_eq!(arg(b"xa=1&a=3", b"a"), Some(&b"3"[..]));
        assert_eq!(arg(b"a", b"a"), None);
        assert_eq!(arg(b"a=", b"a"), Some(&b""[..]));
        assert_eq!(arg(b"ab=1", b"a"), None);
    }

    #[test]
    fn cookies() {
        assert_eq!(cookie_value(b"a=1; b=2", b"b"), Some(&b"2"[..]));
        assert_eq!(cookie_value(b"a=1;b = 2", b"b"), Some(&b"2"[..]));
        assert_eq!(cookie_value(b"ab=1", b"a"), None);
        assert_eq!(cookie_value(b"SID=x", b"sid"), Some(&b"x"[..]));
    }
}
