//! What `upgate route` shows: for one request, the listen entry, server and
//! location chosen (with `file:line`), the variables and maps involved, the
//! exact upstream request head with the origin of every line, the upstream
//! group and the peer its balancer picks, the timeouts in force, and
//! whether the request becomes a WebSocket tunnel, and if not, why
//! (`websocket.rs`). Everything is plain data (serde) for `--json`.

use std::time::Instant;

use serde::{Serialize, Serializer};

use crate::Runtime;
use crate::headers::{HeaderOrigin, UpstreamRequest};
use crate::location::MatchKind;
use crate::map::MapHit;
use crate::request::{ClientRequest, Outcome, Request};
use crate::server::ServerMatch;
use crate::timeouts::{Setting, format_duration};
use crate::variable::{Part, Template, Var, var_name};
use crate::websocket::{WebSocket, websocket};

/// Serializes bytes as (lossy) UTF-8 text.
pub fn ser_bytes<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(v))
}

/// Serializes optional bytes as text or null.
pub fn ser_opt_bytes<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&String::from_utf8_lossy(v)),
        None => s.serialize_none(),
    }
}

/// The whole explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub request: RequestInfo,
    pub listen: Option<ListenInfo>,
    pub server: ServerInfo,
    pub location: LocationInfo,
    /// What the rewrite phases did.
    pub rewrites: Vec<String>,
    pub outcome: OutcomeInfo,
    pub variables: Vec<VariableInfo>,
    pub upstream_request: Option<UpstreamRequestInfo>,
    pub upstream: Option<UpstreamInfo>,
    pub timeouts: Option<Vec<TimeoutInfo>>,
    /// proxy_buffer_size, proxy_next_upstream, ... of a proxied request.
    pub proxy: Option<Vec<crate::settings::SettingInfo>>,
    pub websocket: WebSocket,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestInfo {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub client: String,
    pub local: String,
    /// `$uri` after normalisation (and rewrites).
    pub uri: String,
    pub args: String,
    /// `r->headers_in.server`.
    pub host: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenInfo {
    pub addr: String,
    pub sources: Vec<String>,
    pub servers: usize,
    pub default_server: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub index: usize,
    pub server_name: String,
    pub source: String,
    #[serde(flatten)]
    pub how: ServerMatch,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationInfo {
    pub name: String,
    pub source: Option<String>,
    pub how: MatchKind,
    /// Enclosing levels, outermost first.
    pub path: Vec<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomeInfo {
    /// `proxy`, `respond`, `static` or `no_listener`.
    pub kind: &'static str,
    pub status: Option<u16>,
    pub location_header: Option<String>,
    pub body: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariableInfo {
    pub name: String,
    pub value: String,
    /// For a map: which line decided, with its `file:line`.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeaderLine {
    pub name: String,
    pub value: String,
    /// `proxy_set_header (file:line, level)`, `default`, `client`.
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamRequestInfo {
    pub request_line: String,
    pub headers: Vec<HeaderLine>,
    /// The bytes nginx writes, as text.
    pub raw: String,
    pub proxy_pass: String,
    pub proxy_pass_source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamInfo {
    pub name: String,
    pub source: Option<String>,
    pub balancer: String,
    pub servers: Vec<String>,
    /// The peer a fresh balancer picks for this client.
    pub pick: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimeoutInfo {
    pub name: &'static str,
    pub value: String,
    pub source: Option<String>,
}

impl Runtime {
    /// Explains what happens to `client` (`now` only feeds the balancer).
    pub fn explain(&self, client: &ClientRequest<'_>, now: Instant) -> Explanation {
        self.explain_with(client, now, &crate::files::NoFiles)
    }

    /// [`Runtime::explain`], with `files` answering the file tests of
    /// try_files and index.
    pub fn explain_with(
        &self,
        client: &ClientRequest<'_>,
        now: Instant,
        files: &dyn crate::files::Files,
    ) -> Explanation {
        let mut r = self.process_with(client, files);
        let up = r.upstream_request();
        let mut ws = websocket(&mut r, up.as_ref(), now);
        if !ws.requested && up.is_some() {
            ws = crate::websocket::hypothetical(self, client, now);
        }
        let variables = variables(&mut r, up.as_ref());
        Explanation {
            request: request_info(&r),
            listen: listen_info(&r),
            server: server_info(&r),
            location: location_info(&r),
            rewrites: r.trace.clone(),
            outcome: outcome_info(&r),
            upstream_request: up.as_ref().map(|u| upstream_request_info(&r, u)),
            upstream: crate::websocket::upstream_info(&mut r, now),
            timeouts: up.as_ref().map(|_| timeouts(&r)),
            proxy: up.as_ref().map(|_| crate::settings::proxy_settings(&r)),
            variables,
            websocket: ws,
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn request_info(r: &Request<'_>) -> RequestInfo {
    let c = r.client;
    RequestInfo {
        request_line: format!(
            "{} {} {}",
            text(c.method),
            text(c.target),
            match c.version {
                crate::ClientVersion::Http10 => "HTTP/1.0",
                crate::ClientVersion::Http11 => "HTTP/1.1",
            }
        ),
        headers: c
            .headers
            .iter()
            .map(|h| (text(h.name), text(h.value)))
            .collect(),
        client: c.client_addr.to_string(),
        local: c.local_addr.to_string(),
        uri: text(&r.uri),
        args: text(&r.args),
        host: text(&r.host),
    }
}

fn listen_info(r: &Request<'_>) -> Option<ListenInfo> {
    let a = r.rt.listens.get(r.addr?)?;
    let mut sources = Vec::new();
    for &sid in &a.servers {
        for l in &r.rt.server(sid).listens {
            if l.addr == a.addr {
                sources.push(r.rt.source(l.span));
            }
        }
    }
    let default = r.rt.server(a.default_server);
    Some(ListenInfo {
        addr: a.addr.text(),
        sources,
        servers: a.servers.len(),
        default_server: match a.default_span {
            Some(span) => format!(
                "{} (default_server at {})",
                name_of(default),
                r.rt.source(span)
            ),
            None => format!("{} (the first server of this address)", name_of(default)),
        },
    })
}

fn name_of(s: &crate::server::Server) -> String {
    if s.server_name.is_empty() {
        "(no server_name)".to_string()
    } else {
        text(&s.server_name)
    }
}

fn server_info(r: &Request<'_>) -> ServerInfo {
    let s = r.rt.server(r.server);
    let detail = match &r.server_match {
        ServerMatch::Exact => format!("the host \"{}\" is one of its server names", text(&r.host)),
        ServerMatch::LeadingWildcard { base } => {
            format!(
                "the host matches its wildcard name *.{} (longest leading wildcard)",
                text(base)
            )
        }
        ServerMatch::TrailingWildcard { base } => {
            format!(
                "the host matches its wildcard name {}.* (longest trailing wildcard)",
                text(base)
            )
        }
        ServerMatch::Regex { .. } => {
            "the host matches one of its regex names (first regex in order)".into()
        }
        ServerMatch::Only => {
            "the only server listening on this address (nginx does not look at server names then)"
                .into()
        }
        ServerMatch::Default if r.host.is_empty() => {
            "no host: the default server of the address".into()
        }
        ServerMatch::Default => format!(
            "no server name matches \"{}\": the default server of the address",
            text(&r.host)
        ),
    };
    ServerInfo {
        index: r.server.index(),
        server_name: name_of(s),
        source: r.rt.source(s.span),
        how: r.server_match.clone(),
        detail,
    }
}

fn location_info(r: &Request<'_>) -> LocationInfo {
    let rt = r.rt;
    let loc = rt.location(r.location);
    let mut path = Vec::new();
    let mut p = loc.parent;
    while let Some(id) = p {
        let l = rt.location(id);
        if l.kind != crate::location::LocationKind::Server {
            path.insert(0, l.display_name());
        }
        p = l.parent;
    }
    let detail = match r.location_match {
        _ if !r.searched => "not searched: nginx answered before the find-config phase".to_string(),
        MatchKind::Exact => "exact match (=)".to_string(),
        MatchKind::Prefix => "longest prefix match".to_string(),
        MatchKind::Regex => "first matching regex of its level".to_string(),
        MatchKind::AutoRedirect => {
            "the URI is this name without its trailing slash: nginx redirects (301)".to_string()
        }
        MatchKind::None => "no location matches: the server level applies".to_string(),
        MatchKind::Named => "reached by a jump to this named location".to_string(),
    };
    LocationInfo {
        name: loc.display_name(),
        source: (loc.kind != crate::location::LocationKind::Server).then(|| rt.source(loc.span)),
        how: r.location_match.clone(),
        path,
        detail,
    }
}

fn outcome_info(r: &Request<'_>) -> OutcomeInfo {
    match &r.outcome {
        Outcome::Proxy => OutcomeInfo {
            kind: "proxy",
            status: None,
            location_header: None,
            body: None,
            detail: "proxied (proxy_pass)".into(),
        },
        Outcome::Static => {
            let mut r = r.clone();
            let file = r
                .map_uri_to_path()
                .map(|m| String::from_utf8_lossy(&m.path).into_owned())
                .unwrap_or_default();
            OutcomeInfo {
                kind: "static",
                status: None,
                location_header: None,
                body: None,
                detail: format!(
                    "no proxy_pass or return: the static module serves the file \"{file}\" (200; 404 when missing, 301 for a directory)"
                ),
            }
        }
        Outcome::NoListener => OutcomeInfo {
            kind: "no_listener",
            status: None,
            location_header: None,
            body: None,
            detail: format!(
                "nothing listens on {} (ports listened on: {:?})",
                r.client.local_addr,
                r.rt.listens.ports()
            ),
        },
        Outcome::StubStatus => OutcomeInfo {
            kind: "stub_status",
            status: Some(200),
            location_header: None,
            body: None,
            detail: "stub_status: the connection counters".into(),
        },
        Outcome::Delay(d) => OutcomeInfo {
            kind: "delay",
            status: None,
            location_header: None,
            body: None,
            detail: format!("limit_req delays the request {} ms", d.as_millis()),
        },
        Outcome::AuthRequest(sr) => OutcomeInfo {
            kind: "auth_request",
            status: None,
            location_header: None,
            body: None,
            detail: format!(
                "auth_request: the subrequest to \"{}\" decides (2xx lets the request in, 401/403 are answered, anything else is 500)",
                text(&sr.uri)
            ),
        },
        Outcome::Respond(resp) => OutcomeInfo {
            kind: "respond",
            status: Some(resp.status),
            location_header: resp
                .location
                .as_ref()
                .map(|l| text(&r.absolute_location(l))),
            body: (!resp.body.is_empty()).then(|| text(&resp.body)),
            detail: resp.reason.clone(),
        },
    }
}

/// The variables the upstream head (or the response) reads, with maps
/// explained.
fn variables(r: &mut Request<'_>, up: Option<&UpstreamRequest>) -> Vec<VariableInfo> {
    let rt = r.rt;
    let conf = &rt.location(r.location).conf;
    let mut templates: Vec<&Template> = Vec::new();
    if up.is_some() {
        templates.extend(conf.upstream_headers.entries.iter().map(|e| &e.value));
        if let Some(crate::proxy_pass::ProxyTarget::Variables(t)) =
            conf.proxy_pass.as_deref().map(|p| &p.target)
        {
            templates.push(t);
        }
    }
    let mut vars: Vec<Var> = Vec::new();
    let mut i = 0;
    let mut queue: Vec<&Template> = templates;
    while i < queue.len() {
        for part in &queue[i].parts {
            if let Part::Var(v) = part
                && !vars.contains(v)
            {
                vars.push(v.clone());
                if let Var::User(id) = v
                    && let Some(map) = rt.user_vars.var(*id).and_then(|u| u.map)
                    && let Some(m) = rt.maps.get(map.0 as usize)
                {
                    queue.push(&m.source);
                }
            }
        }
        i += 1;
    }
    let mut out = Vec::new();
    for v in vars {
        if matches!(v, Var::ProxyInternalBodyLength | Var::ProxyInternalChunked) {
            continue;
        }
        let value = text(&r.variable(&v));
        let detail = map_detail(r, &v);
        out.push(VariableInfo {
            name: var_name(&v, &rt.user_vars),
            value,
            detail,
        });
    }
    out
}

fn map_detail(r: &mut Request<'_>, v: &Var) -> Option<String> {
    let rt = r.rt;
    let Var::User(id) = v else { return None };
    let map_id = rt.user_vars.var(*id)?.map?;
    let map = rt.maps.get(map_id.0 as usize)?;
    let input = r.eval(&map.source);
    let found = map.find(&input);
    let line = |l: &usize| map.values.get(*l);
    Some(match &found.hit {
        MapHit::Key { line: l } | MapHit::Regex { line: l } => {
            let entry = line(l)?;
            format!(
                "map {} (at {}): \"{}\" matches key '{}' at {}",
                map.source.source_text(),
                rt.source(map.span),
                text(&input),
                text(&entry.key),
                rt.source(entry.span)
            )
        }
        MapHit::Default { line: l } => format!(
            "map {} (at {}): \"{}\" matches no key: default at {}",
            map.source.source_text(),
            rt.source(map.span),
            text(&input),
            rt.source(line(l)?.span)
        ),
        MapHit::Empty => format!(
            "map {} (at {}): \"{}\" matches no key and there is no default: \"\"",
            map.source.source_text(),
            rt.source(map.span),
            text(&input)
        ),
    })
}

fn upstream_request_info(r: &Request<'_>, up: &UpstreamRequest) -> UpstreamRequestInfo {
    let rt = r.rt;
    let conf = &rt.location(r.location).conf;
    let level = conf
        .proxy_set_header
        .defined_at
        .as_ref()
        .map(|l| l.name.clone())
        .unwrap_or_default();
    let headers = up
        .headers
        .iter()
        .map(|h| HeaderLine {
            name: text(&h.name),
            value: text(&h.value),
            from: match &h.origin {
                HeaderOrigin::ProxySetHeader { span } => {
                    format!("proxy_set_header at {} ({level})", rt.source(*span))
                }
                HeaderOrigin::Default => "nginx default".into(),
                HeaderOrigin::Client => "client".into(),
            },
        })
        .collect();
    let pass = conf.proxy_pass.as_deref();
    UpstreamRequestInfo {
        request_line: format!("{} {} {}", text(&up.method), text(&up.uri), up.version),
        headers,
        raw: text(&up.to_bytes()),
        proxy_pass: pass.map(|p| text(&p.url)).unwrap_or_default(),
        proxy_pass_source: pass.map(|p| rt.source(p.span)).unwrap_or_default(),
    }
}

fn timeouts(r: &Request<'_>) -> Vec<TimeoutInfo> {
    let rt = r.rt;
    let t = &rt.location(r.location).conf.timeouts;
    let one = |name: &'static str, s: &Setting<std::time::Duration>| TimeoutInfo {
        name,
        value: format_duration(s.value),
        source: s.span.map(|span| rt.source(span)),
    };
    vec![
        one("proxy_connect_timeout", &t.proxy_connect_timeout),
        one("proxy_read_timeout", &t.proxy_read_timeout),
        one("proxy_send_timeout", &t.proxy_send_timeout),
        one("send_timeout", &t.send_timeout),
    ]
}
