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

use serde::Serialize;

use crate::Runtime;
use crate::error_page::Special;
use crate::files::Files;
use crate::listen::AddrId;
use crate::location::{LocationId, MatchKind, find_location};
use crate::regex::Captures;
use crate::server::{ServerId, ServerMatch, find_virtual_server};
use crate::server_name::validate_host;
use crate::sockaddr::Sockaddr;
use crate::try_files::Step;
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
    pub client_addr: Sockaddr,
    /// The address the connection was accepted on.
    pub local_addr: Sockaddr,
    pub ssl: bool,
    /// What the TLS handshake chose and verified (TLS connections only).
    pub tls: Option<&'a crate::ssl::ClientTls>,
    /// A plain HTTP request on a TLS address (nginx's 497).
    pub plain_on_tls: bool,
    /// The body length when known (Content-Length, or a buffered chunked
    /// body's size).
    pub body_length: Option<u64>,
    /// The body is chunked and its length not known yet.
    pub chunked: bool,
    /// The PROXY protocol header the connection began with (`listen ...
    /// proxy_protocol`).
    pub proxy_protocol: Option<&'a crate::proxy_protocol::ProxyProtocol>,
    /// Variables of the connection only the engine knows (the `$ssl_*`
    /// of its handshake), by name.
    pub conn_values: &'a [(String, Vec<u8>)],
    /// `$connection`: the connection's number.
    pub connection: u64,
    /// `$connection_requests`.
    pub connection_requests: u64,
    /// `$connection_time`: the connection's age when the head was read.
    pub connection_time: std::time::Duration,
    /// `ngx_current_msec`: milliseconds of a monotonic clock, read once per
    /// event (limit_req's buckets drain by it).
    pub msec: u64,
    /// `$connections_active`, `_reading`, `_writing`, `_waiting`.
    pub connections: [u64; 4],
}

impl<'a> ClientRequest<'a> {
    /// A request with no headers and no body.
    pub fn new(
        method: &'a [u8],
        target: &'a [u8],
        client: impl Into<Sockaddr>,
        local: impl Into<Sockaddr>,
    ) -> Self {
        ClientRequest {
            method,
            target,
            version: ClientVersion::Http11,
            headers: Vec::new(),
            client_addr: client.into(),
            local_addr: local.into(),
            ssl: false,
            tls: None,
            plain_on_tls: false,
            body_length: None,
            chunked: false,
            proxy_protocol: None,
            conn_values: &[],
            connection: 0,
            connection_requests: 0,
            connection_time: std::time::Duration::ZERO,
            msec: 0,
            connections: [0; 4],
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
    /// limit_req delays the request: wait, then [`Request::resume`].
    Delay(std::time::Duration),
    /// The stub_status page (GET and HEAD; anything else 405).
    StubStatus,
    /// auth_request: run the subrequest
    /// ([`Request::auth_subrequest`]), then [`Request::auth_request_done`].
    AuthRequest(crate::access_phase::AuthSubrequest),
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
    /// Whether nginx finalizes the request with this status (error pages
    /// apply) rather than sending it (`return` with a text, or a 2xx).
    pub fn is_special(&self) -> bool {
        // the code `return` was given (an error page may have changed
        // `status` since)
        let Some(code) = self
            .reason
            .strip_prefix("return ")
            .and_then(|c| c.parse::<u16>().ok())
        else {
            return true;
        };
        (301..=308).contains(&code) || (code >= 400 && self.body.is_empty())
    }

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
    pub remote: Sockaddr,
    /// The connection's own address once realip replaced it (the module's
    /// ctx: `$realip_remote_addr`, and realip runs only once).
    pub realip_original: Option<Sockaddr>,
    pub(crate) slots: Vec<Slot>,
    pub outcome: Outcome,
    /// What the rewrite phases did, for explanations.
    pub trace: Vec<String>,
    /// `r->method_name`: the client's, GET after an error_page redirect.
    pub method: Vec<u8>,
    /// `r->uri_changes`: internal redirects and URI changes left (10).
    pub uri_changes: u8,
    /// `r->error_page`: error pages no longer apply.
    pub error_page: bool,
    /// `r->err_status`: the status the response is sent with, whatever its
    /// handler says (set by error pages).
    pub err_status: Option<u16>,
    /// `r->add_uri_to_alias` (try_files with an alias of a regex location).
    pub add_uri_to_alias: bool,
    /// Error log lines the phases wrote (level, text).
    pub log: Vec<(upgate_conf::Level, String)>,
    /// The body length when known (the client's, or a chunked body's once
    /// read).
    pub body_length: Option<u64>,
    /// `r->headers_out.location`: set by a redirect, kept through the
    /// internal redirect of an error page.
    pub headers_location: Option<Vec<u8>>,
    /// Values of variables only the engine knows (`$upstream_addr` after an
    /// intercepted response), by name.
    pub runtime_values: Vec<(String, Vec<u8>)>,
    /// `r->main->limit_req_status` (`$limit_req_status`; set once per
    /// client request).
    pub limit_req_status: Option<crate::limit_req::Status>,
    /// `r->main->limit_conn_status`.
    pub limit_conn_status: Option<crate::limit_conn::Status>,
    /// The limit_conn slots the request holds until it ends (a tunnel
    /// holds them until it closes).
    pub limit_conn_slots: Vec<std::sync::Arc<crate::limit_conn::Slot>>,
    /// `r->access_code`: the refusal `satisfy any` keeps.
    pub access_code: Option<u16>,
    /// `WWW-Authenticate` values for the response (auth_basic's realm, the
    /// auth_request subrequest's).
    pub www_authenticate: Vec<Vec<u8>>,
    /// The auth_request subrequest's result, once it is done.
    pub auth_result: Option<crate::access_phase::AuthResult>,
    /// `r != r->main`: an auth_request subrequest.
    pub subrequest: bool,
    pub(crate) entry: Entry,
}

/// Where the phase engine goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// After an internal redirect: the server's rewrite phase.
    ServerRewrite,
    /// After `rewrite ... last`: location matching.
    FindConfig,
    /// After a jump to a named location: its rewrite phase.
    LocationRewrite,
    /// limit_conn (after limit_req, or its delay).
    LimitConn,
    /// The access phase (again with auth_request's result).
    Access,
    /// try_files and the content handler.
    Content,
    /// The 401 after auth_delay.
    Unauthorized,
    /// The outcome is decided.
    Done,
}

/// `NGX_HTTP_MAX_URI_CHANGES + 1`.
const URI_CHANGES: u8 = 11;

impl Runtime {
    /// Runs nginx's phases up to the content handler for one request, with
    /// no file system (try_files and index find nothing).
    pub fn process<'a>(&'a self, client: &'a ClientRequest<'a>) -> Request<'a> {
        self.process_with(client, &crate::files::NoFiles)
    }

    /// Runs nginx's phases up to the content handler, asking `files` for
    /// try_files and index.
    pub fn process_with<'a>(
        &'a self,
        client: &'a ClientRequest<'a>,
        files: &dyn Files,
    ) -> Request<'a> {
        let addr = self.listens.find(&client.local_addr);
        // `hc->conf_ctx`: the server the SNI name chose, else the address's
        // default server.
        let server = client
            .tls
            .and_then(|t| t.sni_server)
            .or_else(|| {
                addr.and_then(|a| self.listens.get(a))
                    .map(|a| a.default_server)
            })
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
            remote: client.client_addr.clone(),
            realip_original: None,
            slots: vec![Slot::Unset; self.user_vars.len()],
            outcome: Outcome::Static,
            trace: Vec::new(),
            method: client.method.to_vec(),
            uri_changes: URI_CHANGES,
            error_page: false,
            err_status: None,
            add_uri_to_alias: false,
            log: Vec::new(),
            body_length: client.body_length,
            headers_location: None,
            runtime_values: Vec::new(),
            limit_req_status: None,
            limit_conn_status: None,
            limit_conn_slots: Vec::new(),
            access_code: None,
            www_authenticate: Vec::new(),
            auth_result: None,
            subrequest: false,
            entry: Entry::ServerRewrite,
        };
        if addr.is_none() {
            r.outcome = Outcome::NoListener;
            return r;
        }
        if let Err(outcome) = r.read_request() {
            r.outcome = outcome;
            return r;
        }
        if let Some(outcome) = r.ssl_checks() {
            r.outcome = outcome;
            r.finish(files);
            return r;
        }
        // The post-read phase runs with the server level's configuration.
        r.realip(r.rt.server(r.server).level);
        r.run_phases(files);
        r.finish(files);
        r
    }
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
            self.set_virtual_server(host)?;
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
                self.set_virtual_server(host)?;
            }
        }
        if self.host.is_empty() {
            self.set_virtual_server(Vec::new())?;
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

    /// `ngx_http_set_virtual_server`. With TLS, a name that finds no server
    /// keeps the one the SNI name chose, and a Host other than the SNI name
    /// is 421 when the server it picks verifies client certificates.
    fn set_virtual_server(&mut self, host: Vec<u8>) -> Result<(), Outcome> {
        let Some(addr) = self.addr.and_then(|a| self.rt.listens.get(a)) else {
            return Ok(());
        };
        let (mut server, how, caps) = find_virtual_server(addr, &host);
        let declined = matches!(how, ServerMatch::Default | ServerMatch::Only);
        if let Some(tls) = self.client.tls {
            if let Some(sni) = &tls.server_name
                && *sni != host
            {
                let picked = if declined {
                    addr.default_server
                } else {
                    server
                };
                let level = self.rt.server(picked).level;
                if self.rt.location(level).conf.ssl_verify_client != crate::ssl::VerifyClient::Off {
                    return Err(Response::error(
                        421,
                        "client attempted to request the server name different from the one that was negotiated",
                    ));
                }
            }
            if declined && let Some(sni_server) = tls.sni_server {
                server = sni_server;
            }
        }
        self.server = server;
        self.server_match = how;
        self.location = self.rt.server(server).level;
        if let Some(caps) = caps {
            self.set_captures(caps);
        }
        self.host = host;
        Ok(())
    }

    /// `ngx_http_process_request`'s TLS checks, after the Host chose the
    /// server: a plain request on a TLS address, then the client
    /// certificate against the server's `ssl_verify_client`.
    fn ssl_checks(&self) -> Option<Outcome> {
        if self.client.plain_on_tls {
            return Some(Response::error(
                497,
                "client sent plain HTTP request to HTTPS port",
            ));
        }
        let tls = self.client.tls?;
        let level = self.rt.server(self.server).level;
        let verify = self.rt.location(level).conf.ssl_verify_client;
        crate::ssl::verify_status(verify, tls.client_cert)
            .map(|(status, reason)| Response::error(status, reason))
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

    /// Server rewrite, find config, rewrite, post rewrite, try_files,
    /// content: from `self.entry` until the outcome is decided.
    pub(crate) fn run_phases(&mut self, files: &dyn Files) {
        let level = self.rt.server(self.server).level;
        loop {
            if matches!(self.outcome, Outcome::Delay(_) | Outcome::AuthRequest(_)) {
                return;
            }
            match self.entry {
                Entry::Done => return,
                Entry::ServerRewrite => {
                    self.location = level;
                    self.entry = Entry::FindConfig;
                    if self.run_script(level, files) {
                        self.entry = Entry::Done;
                    }
                }
                Entry::FindConfig => self.find_config(level),
                Entry::LocationRewrite => self.after_find_config(level, files),
                Entry::LimitConn => self.limit_conn_phase(),
                Entry::Access => self.access(files),
                Entry::Content => self.content(files),
                Entry::Unauthorized => {
                    self.outcome = Response::error(401, "access phase");
                    self.entry = Entry::Done;
                }
            }
        }
    }

    /// `ngx_http_core_find_config_phase`.
    fn find_config(&mut self, level: LocationId) {
        self.uri_changed = false;
        self.searched = true;
        self.entry = Entry::Done;
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
        // ngx_http_update_location_config: a method the location's
        // `limit_except` does not list is served by that block's
        // configuration.
        if let Some((block, methods)) = &loc.limit_except
            && !methods.contains(&self.method)
        {
            self.location = *block;
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
                reason: "auto redirect: the location's name ends with \"/\" and it uses proxy_pass"
                    .into(),
            });
            return;
        }
        self.entry = Entry::LocationRewrite;
    }

    /// The rewrite and post-rewrite phases, then preaccess.
    fn after_find_config(&mut self, level: LocationId, files: &dyn Files) {
        self.entry = Entry::Done;
        // ngx_http_rewrite_handler skips the location rewrite phase
        // when no location matched ("server null location").
        if self.location != level && self.run_script(self.location, files) {
            return;
        }
        if self.uri_changed {
            self.uri_changes -= 1;
            if self.uri_changes == 0 {
                self.log_error(format!(
                    "rewrite or internal redirection cycle while processing \"{}\"",
                    String::from_utf8_lossy(&self.uri)
                ));
                self.outcome = Response::error(500, "rewrite or internal redirection cycle");
                return;
            }
            self.trace.push(format!(
                "URI changed to \"{}\": searching the locations again",
                String::from_utf8_lossy(&self.uri)
            ));
            self.entry = Entry::FindConfig;
            return;
        }
        // The preaccess phase: realip again, with the location's
        // configuration (nothing when the post-read phase set an address),
        // then the limits and the access phase.
        self.realip(self.location);
        self.preaccess();
    }

    /// The try_files and content phases.
    fn content(&mut self, files: &dyn Files) {
        self.entry = Entry::Done;
        let rt = self.rt;
        let conf = &rt.location(self.location).conf;
        if let Some(tf) = conf.try_files.clone() {
            match self.try_files(&tf, files) {
                Step::Declined => {}
                Step::Redirected => return,
                Step::Status(code) => {
                    self.outcome = Response::error(code, "try_files");
                    return;
                }
            }
        }
        if conf.proxy_pass.is_some() {
            self.outcome = Outcome::Proxy;
            return;
        }
        if conf.stub_status {
            self.outcome = if matches!(self.method.as_slice(), b"GET" | b"HEAD") {
                Outcome::StubStatus
            } else {
                Response::error(405, "stub_status serves GET and HEAD")
            };
            return;
        }
        self.static_content(files);
    }

    /// The content phase without a content handler: the index module,
    /// then the static module's checks that need no file
    /// (`ngx_http_index_handler`, `ngx_http_static_handler`,
    /// `ngx_http_core_content_phase`).
    fn static_content(&mut self, files: &dyn Files) {
        if !matches!(self.method.as_slice(), b"GET" | b"HEAD" | b"POST") {
            self.outcome = Response::error(405, "the static module serves GET, HEAD and POST");
            return;
        }
        if self.uri.last() != Some(&b'/') {
            self.outcome = Outcome::Static;
            return;
        }
        match self.index(files) {
            Step::Redirected => {}
            Step::Status(code) => self.outcome = Response::error(code, "index"),
            Step::Declined => {
                if let Ok(m) = self.map_uri_to_path() {
                    self.log_error(format!(
                        "directory index of \"{}\" is forbidden",
                        String::from_utf8_lossy(&m.path)
                    ));
                }
                self.outcome = Response::error(403, "directory index is forbidden");
            }
        }
    }

    /// An error log line at `error`.
    pub(crate) fn log_error(&mut self, text: String) {
        self.log.push((upgate_conf::Level::Error, text));
    }

    /// `ngx_http_internal_redirect`: false when the redirect limit is hit
    /// (the outcome is then a 500).
    pub(crate) fn internal_redirect(&mut self, uri: Vec<u8>, args: Vec<u8>) -> bool {
        self.uri_changes = self.uri_changes.saturating_sub(1);
        if self.uri_changes == 0 {
            self.log_error(format!(
                "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                String::from_utf8_lossy(&uri)
            ));
            self.outcome = Response::error(500, "rewrite or internal redirection cycle");
            self.entry = Entry::Done;
            return false;
        }
        self.trace.push(format!(
            "internal redirect to \"{}{}{}\"",
            String::from_utf8_lossy(&uri),
            if args.is_empty() { "" } else { "?" },
            String::from_utf8_lossy(&args)
        ));
        self.uri = uri;
        self.args = args;
        self.internal = true;
        // ngx_http_internal_redirect clears the modules' contexts
        self.auth_result = None;
        self.valid_unparsed_uri = false;
        self.add_uri_to_alias = false;
        self.valid_location = true;
        self.location = self.rt.server(self.server).level;
        self.entry = Entry::ServerRewrite;
        true
    }

    /// `ngx_http_named_location`.
    pub(crate) fn named_location(&mut self, name: &[u8]) -> bool {
        self.uri_changes = self.uri_changes.saturating_sub(1);
        self.entry = Entry::Done;
        if self.uri_changes == 0 {
            self.log_error(format!(
                "rewrite or internal redirection cycle while redirect to named location \"{}\"",
                String::from_utf8_lossy(name)
            ));
            self.outcome = Response::error(500, "rewrite or internal redirection cycle");
            return false;
        }
        let rt = self.rt;
        let level = rt.server(self.server).level;
        let found = rt
            .location(level)
            .tree
            .named
            .iter()
            .copied()
            .find(|&id| rt.location(id).name == name);
        let Some(id) = found else {
            self.log_error(format!(
                "could not find named location \"{}\"",
                String::from_utf8_lossy(name)
            ));
            self.outcome = Response::error(500, "could not find named location");
            return false;
        };
        self.trace.push(format!(
            "jump to the named location {}",
            String::from_utf8_lossy(name)
        ));
        self.internal = true;
        self.auth_result = None;
        self.uri_changed = false;
        self.location = id;
        self.location_match = MatchKind::Named;
        self.entry = Entry::LocationRewrite;
        true
    }

    /// `ngx_http_finalize_request` with a special status: the error pages
    /// of the level apply, and the phases run again after a redirect.
    /// Returns what happened; with [`Special::Page`] the outcome is the
    /// status's page (the engine may add its own headers to it).
    pub fn finalize(&mut self, status: u16, reason: &str, files: &dyn Files) -> Special {
        self.outcome = Response::error(status, reason);
        let first = self.special_response(status);
        if first == Special::Redirected {
            self.run_phases(files);
            self.finish(files);
        }
        first
    }

    /// Applies error pages to special responses the phases decided, until
    /// a response is final.
    pub(crate) fn finish(&mut self, files: &dyn Files) {
        loop {
            let Outcome::Respond(resp) = &self.outcome else {
                return;
            };
            if !resp.is_special() {
                if let Some(s) = self.err_status
                    && let Outcome::Respond(resp) = &mut self.outcome
                {
                    resp.status = s;
                }
                return;
            }
            let status = resp.status;
            if resp.location.is_some() {
                self.headers_location = resp.location.clone();
            }
            // 444 (NGX_HTTP_CLOSE) ends the connection before error pages.
            if status < 300 || status == 444 {
                return;
            }
            if self.special_response(status) != Special::Redirected {
                return;
            }
            self.run_phases(files);
        }
    }

    /// `ngx_http_realip_handler` with the configuration of `level`: does
    /// nothing once an address was set for this request.
    fn realip(&mut self, level: LocationId) {
        if self.realip_original.is_some() {
            return;
        }
        let conf = &self.rt.location(level).conf.realip;
        let headers = self.client.headers.iter().map(|h| (h.name, h.value));
        let proxy_protocol = self.client.proxy_protocol;
        if let Some(addr) = conf.real_addr(&self.remote, headers, proxy_protocol) {
            self.realip_original = Some(std::mem::replace(&mut self.remote, addr));
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
            out.extend_from_slice(self.client.local_addr.addr_text().as_bytes());
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
