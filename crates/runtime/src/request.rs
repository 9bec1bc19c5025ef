//! One request through the tables: what `ngx_http_process_request_line`,
//! `ngx_http_process_request_headers` / `ngx_http_process_request_header`
//! (Host, absolute-form, the 400s), `ngx_http_set_virtual_server`, the
//! server-rewrite phase, `ngx_http_core_find_config_phase` (with the
//! auto-redirect 301 and `internal`), the rewrite and post-rewrite phases
//! (at most 10 URI changes) and the content-handler choice decide
//! (src/http/ngx_http_request.c, ngx_http_core_module.c).
//!
//! [`ClientRequest`] is what the engine hands in (a view of the parsed
//! request line and headers plus the connection's addresses); [`Request`]
//! is nginx's `r`: the chosen server and location, the URI as rewritten,
//! captures and the per-request variable cache.

use std::net::SocketAddr;

use serde::Serialize;

use crate::Runtime;
use crate::listen::AddrId;
use crate::location::{LocationId, MatchKind, find_location};
use crate::regex::Captures;
use crate::server::{ServerId, ServerMatch, find_virtual_server};
use crate::server_name::validate_host;
use crate::uri::RequestTarget;

/// One header line as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// The client's HTTP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ClientVersion {
    Http10,
    Http11,
}

/// What the engine (or `upgate route`) knows of a request before nginx's
/// phases run.
#[derive(Debug, Clone)]
pub struct ClientRequest<'a> {
    pub method: &'a [u8],
    /// The request-target as received.
    pub target: &'a [u8],
    pub version: ClientVersion,
    /// In arrival order, original case.
    pub headers: Vec<Header<'a>>,
    pub client_addr: SocketAddr,
    /// The address the connection was accepted on.
    pub local_addr: SocketAddr,
    pub ssl: bool,
    /// The body length when known (Content-Length, or a buffered chunked
    /// body's size).
    pub body_length: Option<u64>,
    /// The body is chunked and its length not known yet.
    pub chunked: bool,
}

impl<'a> ClientRequest<'a> {
    /// A request with no headers and no body.
    pub fn new(method: &'a [u8], target: &'a [u8], client: SocketAddr, local: SocketAddr) -> Self {
        ClientRequest {
            method,
            target,
            version: ClientVersion::Http11,
            headers: Vec::new(),
            client_addr: client,
            local_addr: local,
            ssl: false,
            body_length: None,
            chunked: false,
        }
    }

    /// Every value of a header, case-insensitively, in order.
    pub fn header_values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// What nginx does with the request once the phases have run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// nginx answers itself.
    Respond(Response),
    /// The location's `proxy_pass` handles it.
    Proxy,
    /// No content handler: nginx would serve a file from `root` (upgate
    /// serves no files: 404).
    Static,
    /// Nothing listens on the connection's local address.
    NoListener,
}

/// A response nginx makes without an upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    pub status: u16,
    /// The `Location` header (relative values are made absolute with
    /// [`Request::absolute_location`]).
    #[serde(serialize_with = "crate::explain::ser_opt_bytes")]
    pub location: Option<Vec<u8>>,
    #[serde(serialize_with = "crate::explain::ser_bytes")]
    pub body: Vec<u8>,
    /// Why, in nginx's words where it logs one.
    pub reason: String,
}

impl Response {
    pub fn error(status: u16, reason: impl Into<String>) -> Outcome {
        Outcome::Respond(Response {
            status,
            location: None,
            body: Vec::new(),
            reason: reason.into(),
        })
    }
}

/// A cached variable value.
#[derive(Debug, Clone, Default)]
pub(crate) enum Slot {
    #[default]
    Unset,
    /// Being evaluated (a map that reads itself evaluates to "").
    Busy,
    Value(Vec<u8>),
}

/// nginx's `r`.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub rt: &'a Runtime,
    pub client: &'a ClientRequest<'a>,
    pub addr: Option<AddrId>,
    pub server: ServerId,
    pub server_match: ServerMatch,
    /// `r->loc_conf`: the location (or server level, or `if` block) whose
    /// configuration applies.
    pub location: LocationId,
    pub location_match: MatchKind,
    /// Whether the find-config phase ran (false when nginx refused the
    /// request line or headers, or a server-level `return` answered).
    pub searched: bool,
    /// `r->headers_in.server`: the validated host ("" when none).
    pub host: Vec<u8>,
    pub uri: Vec<u8>,
    pub args: Vec<u8>,
    pub unparsed_uri: Vec<u8>,
    pub quoted_uri: bool,
    pub valid_unparsed_uri: bool,
    pub valid_location: bool,
    pub internal: bool,
    pub uri_changed: bool,
    pub captures: Option<Captures>,
    /// `c->sockaddr`: the client address in force, the realip module's
    /// once it set one (port 0 when the header gave none).
    pub remote: SocketAddr,
    /// The connection's own address once realip replaced it (the module's
    /// ctx: `$realip_remote_addr`, and realip runs only once).
    pub realip_original: Option<SocketAddr>,
    pub(crate) slots: Vec<Slot>,
    pub outcome: Outcome,
    /// What the rewrite phases did, for explanations.
    pub trace: Vec<String>,
}

/// `NGX_HTTP_MAX_URI_CHANGES`.
const MAX_URI_CHANGES: usize = 10;

impl Runtime {
    /// Runs nginx's phases up to the content handler for one request.
    pub fn process<'a>(&'a self, client: &'a ClientRequest<'a>) -> Request<'a> {
        let addr = self.listens.find(client.local_addr);
        let server = addr
            .and_then(|a| self.listens.get(a))
            .map(|a| a.default_server)
            .unwrap_or(ServerId(0));
        let level = self.server(server).level;
        let mut r = Request {
            rt: self,
            client,
            addr,
            server,
            server_match: ServerMatch::Default,
            location: level,
            location_match: MatchKind::None,
            searched: false,
            host: Vec::new(),
            uri: Vec::new(),
            args: Vec::new(),
            unparsed_uri: Vec::new(),
            quoted_uri: false,
            valid_unparsed_uri: true,
            valid_location: true,
            internal: false,
            uri_changed: false,
            captures: None,
            remote: client.client_addr,
            realip_original: None,
            slots: vec![Slot::Unset; self.user_vars.len()],
            outcome: Outcome::Static,
            trace: Vec::new(),
        };
        if addr.is_none() {
            r.outcome = Outcome::NoListener;
            return r;
        }
        if let Err(outcome) = r.read_request() {
            r.outcome = outcome;
            return r;
        }
        // The post-read phase runs with the server level's configuration.
        r.realip(level_of(&r));
        r.run_phases();
        r
    }
}

/// The server level of the server chosen for `r`.
fn level_of(r: &Request<'_>) -> LocationId {
    r.rt.server(r.server).level
}

impl<'a> Request<'a> {
    /// The request line and headers: method, target, Host.
    fn read_request(&mut self) -> Result<(), Outcome> {
        let c = self.client;
        let valid_method = !c.method.is_empty()
            && c.method
                .iter()
                .all(|&b| b.is_ascii_uppercase() || b == b'_' || b == b'-');
        if !valid_method {
            return Err(Response::error(400, "client sent invalid method"));
        }
        let merge_slashes = self.rt.server(self.server).merge_slashes;
        let target = RequestTarget::parse(c.target, merge_slashes)
            .map_err(|e| Response::error(400, e.message()))?;
        self.uri = target.uri;
        self.args = target.args;
        self.unparsed_uri = target.unparsed_uri;
        self.quoted_uri = target.quoted_uri;
        self.valid_unparsed_uri = target.valid_unparsed_uri;
        if let Some(host) = &target.host {
            let host = validate_host(host)
                .ok_or_else(|| Response::error(400, "client sent invalid host in request line"))?;
            self.set_virtual_server(host);
        }
        let mut host_headers = 0;
        for h in &c.headers {
            if !h.name.eq_ignore_ascii_case(b"host") {
                continue;
            }
            host_headers += 1;
            if host_headers > 1 {
                return Err(Response::error(400, "client sent duplicate host header"));
            }
            let host = validate_host(h.value)
                .ok_or_else(|| Response::error(400, "client sent invalid host header"))?;
            if self.host.is_empty() {
                self.set_virtual_server(host);
            }
        }
        if self.host.is_empty() {
            self.set_virtual_server(Vec::new());
        }
        if host_headers == 0 && c.version >= ClientVersion::Http11 {
            return Err(Response::error(
                400,
                "client sent HTTP/1.1 request without \"Host\" header",
            ));
        }
        if c.method == b"TRACE" {
            return Err(Response::error(405, "client sent TRACE method"));
        }
        Ok(())
    }

    /// `ngx_http_set_virtual_server`.
    fn set_virtual_server(&mut self, host: Vec<u8>) {
        let Some(addr) = self.addr.and_then(|a| self.rt.listens.get(a)) else {
            return;
        };
        let (server, how, caps) = find_virtual_server(addr, &host);
        self.server = server;
        self.server_match = how;
        self.location = self.rt.server(server).level;
        if let Some(caps) = caps {
            self.set_captures(caps);
        }
        self.host = host;
    }

    /// Stores the captures of a successful regex and the named ones as
    /// variables (`ngx_http_regex_exec`).
    pub fn set_captures(&mut self, caps: Captures) {
        for (index, name) in caps.names.iter() {
            if let Some(id) = self.rt.user_vars.get(name) {
                self.slots[id.0 as usize] = Slot::Value(caps.group(*index).to_vec());
            }
        }
        self.captures = Some(caps);
    }

    /// Server rewrite, find config, rewrite, post rewrite, content.
    fn run_phases(&mut self) {
        let level = self.rt.server(self.server).level;
        self.location = level;
        if self.run_script(level) {
            return;
        }
        for _ in 0..=MAX_URI_CHANGES {
            self.uri_changed = false;
            self.searched = true;
            let found = find_location(&self.rt.locations, level, &self.uri);
            self.location = found.location;
            self.location_match = found.kind.clone();
            if let Some(caps) = found.captures {
                self.set_captures(caps);
            }
            let loc = self.rt.location(self.location);
            if !self.internal && loc.conf.internal {
                self.outcome = Response::error(404, "location is internal");
                return;
            }
            if found.kind == MatchKind::AutoRedirect {
                let mut location = loc.escaped_name.clone();
                if !self.args.is_empty() {
                    location.push(b'?');
                    location.extend_from_slice(&self.args);
                }
                self.outcome = Outcome::Respond(Response {
                    status: 301,
                    location: Some(location),
                    body: Vec::new(),
                    reason:
                        "auto redirect: the location's name ends with \"/\" and it uses proxy_pass"
                            .into(),
                });
                return;
            }
            // ngx_http_rewrite_handler skips the location rewrite phase
            // when no location matched ("server null location").
            if self.location != level && self.run_script(self.location) {
                return;
            }
            if !self.uri_changed {
                // The preaccess phase: realip again, with the location's
                // configuration.
                self.realip(self.location);
                self.outcome = match self.rt.location(self.location).conf.proxy_pass {
                    Some(_) => Outcome::Proxy,
                    None => Outcome::Static,
                };
                return;
            }
            self.trace.push(format!(
                "URI changed to \"{}\": searching the locations again",
                String::from_utf8_lossy(&self.uri)
            ));
        }
        self.outcome = Response::error(500, "rewrite or internal redirection cycle");
    }

    /// `ngx_http_realip_handler` with the configuration of `level`: does
    /// nothing once an address was set for this request.
    fn realip(&mut self, level: LocationId) {
        if self.realip_original.is_some() {
            return;
        }
        let conf = &self.rt.location(level).conf.realip;
        let headers = self.client.headers.iter().map(|h| (h.name, h.value));
        if let Some(addr) = conf.real_addr(self.remote, headers) {
            self.realip_original = Some(self.remote);
            self.remote = addr;
        }
    }

    /// `Location` made absolute as `ngx_http_header_filter` does
    /// (absolute_redirect, server_name_in_redirect, port_in_redirect).
    pub fn absolute_location(&self, location: &[u8]) -> Vec<u8> {
        let conf = &self.rt.location(self.location).conf;
        if location.first() != Some(&b'/') || !conf.absolute_redirect {
            return location.to_vec();
        }
        let mut out = if self.client.ssl {
            b"https://".to_vec()
        } else {
            b"http://".to_vec()
        };
        if conf.server_name_in_redirect {
            out.extend_from_slice(&self.rt.server(self.server).server_name);
        } else if !self.host.is_empty() {
            out.extend_from_slice(&self.host);
        } else {
            out.extend_from_slice(crate::eval::ip_text(self.client.local_addr.ip()).as_bytes());
        }
        let port = self.client.local_addr.port();
        let default = if self.client.ssl { 443 } else { 80 };
        if conf.port_in_redirect && port != default {
            out.extend_from_slice(format!(":{port}").as_bytes());
        }
        out.extend_from_slice(location);
        out
    }
}
