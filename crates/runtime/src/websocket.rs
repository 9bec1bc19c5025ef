//! Whether a request can become a WebSocket tunnel, and if not, why, from
//! what nginx would send upstream (`ngx_http_proxy_create_request`) and the
//! conditions `ngx_http_proxy_process_header` / `ngx_http_upstream_upgrade`
//! put on a tunnel: the client sent Upgrade, the upstream request is
//! HTTP/1.1 and carries `Upgrade` and `Connection: upgrade` (hop-by-hop:
//! nginx forwards neither unless `proxy_set_header` says so), and the
//! backend answers 101. Also the upstream group a proxied request goes to
//! and the peer a fresh balancer picks for this client.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::conf::HttpVersion;
use crate::explain::UpstreamInfo;
use crate::headers::{HeaderList, UpstreamRequest};
use crate::location::LocationId;
use crate::proxy_pass::ProxyTarget;
use crate::request::{ClientRequest, Header, Outcome, Request};
use crate::timeouts::format_duration;
use crate::upstream::{Balancer, Peers, SelectInput};
use crate::variable;

/// The WebSocket part of an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct WebSocket {
    /// The client asked for an upgrade (sent `Upgrade`).
    pub requested: bool,
    /// The request would become a tunnel if the backend accepts.
    pub upgrades: bool,
    /// One sentence.
    pub verdict: String,
    /// What stops the upgrade, each with where it comes from.
    pub problems: Vec<String>,
    /// What applies once the tunnel is open (timeouts).
    pub notes: Vec<String>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether `value` lists `token` (comma-separated, case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&c| c == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The verdict for the request as processed.
pub fn websocket(r: &mut Request<'_>, up: Option<&UpstreamRequest>, _now: Instant) -> WebSocket {
    let requested = r.client.header_values(b"upgrade").next().is_some();
    let rt = r.rt;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let Some(up) = up else {
        let why = match &r.outcome {
            Outcome::Respond(resp) => format!(
                "nginx answers {} itself ({}): nothing is proxied",
                resp.status, resp.reason
            ),
            Outcome::Static => "the location has no proxy_pass: nothing is proxied".to_string(),
            Outcome::NoListener => "nothing listens on that address".to_string(),
            Outcome::Proxy => "the proxy_pass URL could not be evaluated".to_string(),
            Outcome::Delay(_) => "limit_req delays the handshake".to_string(),
            Outcome::StubStatus => "stub_status answers: nothing is proxied".to_string(),
            Outcome::AuthRequest(_) => {
                "the auth_request subrequest decides whether the handshake is proxied".to_string()
            }
        };
        problems.push(why);
        return finish(requested, problems, notes);
    };
    let conf = &rt.location(r.location).conf;
    if conf.proxy_http_version.value == HttpVersion::Http10 {
        problems.push(match conf.proxy_http_version.span {
            None => "proxy_http_version is 1.0 (the default): the upstream request is HTTP/1.0 and cannot be upgraded; add proxy_http_version 1.1".to_string(),
            Some(span) => format!(
                "proxy_http_version is 1.0 (at {}): the upstream request is HTTP/1.0 and cannot be upgraded",
                rt.source(span)
            ),
        });
    }
    match up.header("Upgrade") {
        Some(v) if requested && !v.is_empty() => {}
        Some(_) => {}
        None => problems.push(missing_header(r, "Upgrade", requested)),
    }
    match up.header("Connection") {
        Some(v) if has_token(v, "upgrade") => {}
        Some(v) => {
            let mut from = header_origin(r, "Connection");
            let own = rt.location(r.location).conf.proxy_set_header.clone();
            if from == "nginx's default"
                && let Some((level, span)) = replaced(r, r.location, &own, "Connection")
            {
                let here = own.defined_at.as_ref().map_or(String::new(), |l| {
                    format!(
                        " because the {}'s own proxy_set_header at {}",
                        l.name,
                        rt.source(l.span)
                    )
                });
                from = format!(
                    "nginx's default{here} replaces the {level}'s list, which sets Connection at {span}"
                );
            }
            let status = if v.eq_ignore_ascii_case(b"close") {
                " (400)"
            } else {
                ""
            };
            problems.push(format!(
                "Connection is '{}' ({from}): the backend will refuse the upgrade{status}: most servers answer 400 Bad Request, Node's ws 426 Upgrade Required",
                text(v)
            ));
        }
        None => problems.push(missing_header(r, "Connection", requested)),
    }
    let read = &conf.timeouts.proxy_read_timeout;
    notes.push(format!(
        "an open tunnel is closed after {} of silence in both directions (proxy_read_timeout{})",
        format_duration(read.value),
        match read.span {
            Some(span) => format!(" at {}", rt.source(span)),
            None => ", the default".to_string(),
        }
    ));
    let send = &conf.timeouts.send_timeout;
    notes.push(format!(
        "blocked writes are bounded by proxy_send_timeout {} (to the backend) and send_timeout {} (to the client)",
        format_duration(conf.timeouts.proxy_send_timeout.value),
        format_duration(send.value)
    ));
    // The pragmas in force, with where they are set (an off one included:
    // it may be what switched an outer level's off).
    let pragmas = &conf.pragmas;
    if let Some(span) = pragmas.websocket_ping.span {
        notes.push(match pragmas.websocket_ping.value {
            Some(period) => format!(
                "upgate pings a side after {0} without a frame from it and closes a side silent for another {0} as dead (# upgate: websocket_ping at {1})",
                format_duration(period),
                rt.source(span)
            ),
            None => format!(
                "no keepalive pings (# upgate: websocket_ping off at {})",
                rt.source(span)
            ),
        });
    }
    if let Some(span) = pragmas.websocket_close_on_timeout.span {
        notes.push(match pragmas.websocket_close_on_timeout.value {
            Some(code) => format!(
                "at a timeout or a shutdown's deadline both sides get a close frame {code} (# upgate: websocket_close_on_timeout at {})",
                rt.source(span)
            ),
            None => format!(
                "a timeout closes the connections bare, as nginx does (# upgate: websocket_close_on_timeout off at {})",
                rt.source(span)
            ),
        });
    }
    finish(requested, problems, notes)
}

fn finish(requested: bool, problems: Vec<String>, notes: Vec<String>) -> WebSocket {
    let upgrades = requested && problems.is_empty();
    let verdict = match (requested, problems.is_empty()) {
        (true, true) => "upgrades: the backend's 101 opens a tunnel".to_string(),
        (true, false) => "does not upgrade".to_string(),
        (false, true) => {
            "not a WebSocket request (no Upgrade header); a handshake here would be forwarded as an upgrade"
                .to_string()
        }
        (false, false) => "not a WebSocket request (no Upgrade header)".to_string(),
    };
    WebSocket {
        requested,
        upgrades,
        verdict,
        problems,
        notes,
    }
}

/// The handshake headers a WebSocket client sends.
pub const HANDSHAKE: &[(&str, &str)] = &[
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
];

/// For a request that is not a handshake: what a handshake to the same URL
/// would get.
pub fn hypothetical(rt: &crate::Runtime, client: &ClientRequest<'_>, now: Instant) -> WebSocket {
    let mut ws_client = client.clone();
    for (name, value) in HANDSHAKE {
        if ws_client.header_values(name.as_bytes()).next().is_none() {
            ws_client.headers.push(Header {
                name: name.as_bytes(),
                value: value.as_bytes(),
            });
        }
    }
    let mut r = rt.process(&ws_client);
    let up = r.upstream_request();
    let ws = websocket(&mut r, up.as_ref(), now);
    let verdict = if ws.upgrades {
        "not a WebSocket request (no Upgrade header); a WebSocket handshake to this URL would upgrade"
            .to_string()
    } else {
        "not a WebSocket request (no Upgrade header); a WebSocket handshake to this URL would not upgrade"
            .to_string()
    };
    WebSocket {
        requested: false,
        upgrades: false,
        verdict,
        ..ws
    }
}

/// Where a header line of the upstream request comes from.
fn header_origin(r: &Request<'_>, name: &str) -> String {
    let rt = r.rt;
    let list = &rt.location(r.location).conf.proxy_set_header;
    match list
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
    {
        Some(h) => format!(
            "proxy_set_header {} {} at {}",
            text(&h.name),
            h.value.source_text(),
            rt.source(h.span)
        ),
        None => "nginx's default".to_string(),
    }
}

/// Why `name` is not sent: the value evaluated to "", or a level's own
/// `proxy_set_header` list replaced one that set it, or no level sets it.
fn missing_header(r: &mut Request<'_>, name: &str, requested: bool) -> String {
    let rt = r.rt;
    let conf = &rt.location(r.location).conf;
    let own = &conf.proxy_set_header;
    if let Some(h) = own
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
    {
        let hint = if requested {
            ""
        } else {
            " (the client sent no Upgrade)"
        };
        return format!(
            "{name} is not forwarded: proxy_set_header {name} {} at {} evaluates to \"\"{hint}",
            h.value.source_text(),
            rt.source(h.span)
        );
    }
    if let Some((level, span)) = replaced(r, r.location, own, name) {
        let here = own
            .defined_at
            .as_ref()
            .map(|l| (l.name.clone(), rt.source(l.span)))
            .unwrap_or_default();
        return format!(
            "{name} is not forwarded: the {}'s own proxy_set_header at {} replaces the {level}'s list, which sets {name} at {span}; repeat the {name} line in the {}",
            here.0, here.1, here.0
        );
    }
    let consequence = if name == "Upgrade" {
        "backends answer 426 Upgrade Required (Node's ws) or 400"
    } else {
        "nginx sends \"Connection: close\" or nothing, and the backend will not upgrade"
    };
    format!(
        "{name} is not forwarded: it is hop-by-hop and nginx drops the client's unless proxy_set_header {name} {} is set; {consequence}",
        if name == "Upgrade" {
            "$http_upgrade"
        } else {
            "$connection_upgrade (or \"upgrade\")"
        }
    )
}

/// The nearest enclosing level whose (different) list sets `name`.
fn replaced(
    r: &Request<'_>,
    start: LocationId,
    own: &Arc<HeaderList>,
    name: &str,
) -> Option<(String, String)> {
    let rt = r.rt;
    let sets = |list: &HeaderList| {
        list.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.span)
    };
    let mut p = rt.location(start).parent;
    while let Some(id) = p {
        let list = &rt.location(id).conf.proxy_set_header;
        if !Arc::ptr_eq(list, own)
            && let Some(span) = sets(list)
        {
            let level = list
                .defined_at
                .as_ref()
                .map_or("enclosing level".to_string(), |l| l.name.clone());
            return Some((level, rt.source(span)));
        }
        p = rt.location(id).parent;
    }
    let http = &rt.http.proxy_set_header;
    if !Arc::ptr_eq(http, own) {
        return sets(http).map(|span| ("http".to_string(), rt.source(span)));
    }
    None
}

/// The upstream group of a proxied request and the peer a fresh balancer
/// picks for this client.
pub fn upstream_info(r: &mut Request<'_>, now: Instant) -> Option<UpstreamInfo> {
    let rt = r.rt;
    let pass = rt.location(r.location).conf.proxy_pass.clone()?;
    if !matches!(r.outcome, Outcome::Proxy) {
        return None;
    }
    let Some(index) = pass.upstream else {
        let host = match &pass.target {
            ProxyTarget::Static(u) => text(&u.host_header),
            ProxyTarget::Variables(t) => format!("{} (evaluated per request)", t.source_text()),
        };
        return Some(UpstreamInfo {
            name: host.clone(),
            source: None,
            balancer: "round robin over the addresses the host resolves to".into(),
            servers: vec![host],
            pick: None,
            note: Some(match &rt.upstream_error {
                Some(e) => format!("the upstream {{}} blocks could not be compiled: {e}"),
                None => "no upstream {} block has this name: an implicit group".to_string(),
            }),
        });
    };
    let group = rt.upstreams.groups.get(index)?;
    let balancer = match &group.balancer {
        Balancer::RoundRobin => "round robin".to_string(),
        Balancer::IpHash => "ip_hash".to_string(),
        Balancer::Hash { key, consistent } => {
            format!("hash {key}{}", if *consistent { " consistent" } else { "" })
        }
        Balancer::LeastConn => "least_conn".to_string(),
        Balancer::Random { two } => format!("random{}", if *two { " two" } else { "" }),
    };
    let key = match &group.balancer {
        Balancer::Hash { key, .. } => variable::compile(key.as_bytes(), &rt.user_vars)
            .ok()
            .map(|t| r.eval(&t)),
        _ => None,
    };
    let mut peers = Peers::new(group);
    let client: IpAddr = r.remote.balancer_ip();
    let mut sel = peers.begin(&SelectInput {
        client,
        hash_key: key.as_deref(),
    });
    let pick = peers
        .select(&mut sel, now)
        .map(|id| peers.peer(id).addr().to_string());
    Some(UpstreamInfo {
        name: group.name.clone(),
        source: group.span.map(|s| rt.source(s)),
        balancer,
        servers: group.servers.iter().map(|s| s.text.clone()).collect(),
        pick,
        note: match &group.balancer {
            Balancer::RoundRobin | Balancer::LeastConn | Balancer::Random { .. } => Some(
                "the pick depends on earlier requests; shown for the first request after a start"
                    .into(),
            ),
            _ => key.map(|k| format!("hash key \"{}\"", text(&k))),
        },
    })
}
