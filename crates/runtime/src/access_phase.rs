//! nginx's preaccess and access phases (`ngx_http_core_generic_phase`,
//! `ngx_http_core_access_phase`, `ngx_http_core_post_access_phase`) and the
//! settings of the modules that run in them, merged level by level as each
//! module merges its own.
//!
//! The handlers run in nginx's order, the reverse of module registration:
//! preaccess is realip, then limit_req, then limit_conn; access is the
//! access module (allow/deny), then auth_basic, then auth_request.
//! `satisfy all` stops at the first handler that refuses; `satisfy any`
//! lets the request in at the first that accepts, and otherwise answers
//! with the refusal kept (401 wins over 403). Subrequests skip the access
//! phase; the limits count once per client request.
//!
//! limit_req's delay and auth_request's subrequest are waits: the phase
//! engine stops with [`Outcome::Delay`] or [`Outcome::AuthRequest`], the
//! engine waits or runs the subrequest, and [`Request::resume`] /
//! [`Request::auth_request_done`] go on from there.

use std::sync::Arc;

use upgate_conf::Directive;

use crate::auth_basic::{AuthBasicConf, UserFile, Verdict};
use crate::conf::template;
use crate::error::CompileError;
use crate::files::Files;
use crate::limit_conn::{self, LimitConnConf};
use crate::limit_req::{self, LimitReqConf};
use crate::request::{Entry, Outcome, Request, Response};
use crate::variable::{Template, UserVarId, UserVars};
use crate::zone::Zones;

/// The settings of both phases at one level.
#[derive(Debug, Clone, Default)]
pub struct AccessPhaseConf {
    /// `satisfy any` (all).
    pub satisfy_any: bool,
    pub auth_basic: AuthBasicConf,
    /// `auth_request URI` (empty: off).
    pub auth_request: Vec<u8>,
    /// `auth_request_set` (the list of the nearest level with any).
    pub auth_request_set: Arc<Vec<(UserVarId, Template)>>,
    pub limit_req: Arc<LimitReqConf>,
    pub limit_conn: Arc<LimitConnConf>,
    /// `auth_delay` (0): how long a 401 of the access phase waits.
    pub auth_delay: std::time::Duration,
}

/// What the engine needs to run an auth_request subrequest and give its
/// result back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSubrequest {
    pub uri: Vec<u8>,
}

/// The subrequest's answer (`ngx_http_auth_request_done`).
#[derive(Debug, Clone, Default)]
pub struct AuthResult {
    pub status: u16,
    /// Its `WWW-Authenticate` values (its own response's, else its
    /// upstream's).
    pub www_authenticate: Vec<Vec<u8>>,
    /// The `auth_request_set` values, evaluated in the subrequest.
    pub vars: Vec<(UserVarId, Vec<u8>)>,
}

/// Merges a level's preaccess and access directives into its parent's.
pub fn merge(
    parent: &AccessPhaseConf,
    dirs: &[&Directive],
    user: &UserVars,
    zones: &Zones,
    conf_dir: &[u8],
) -> Result<AccessPhaseConf, CompileError> {
    let mut conf = parent.clone();
    let mut req_limits: Option<Vec<limit_req::Limit>> = None;
    let mut conn_limits: Option<Vec<limit_conn::Limit>> = None;
    let mut req = (*parent.limit_req).clone();
    let mut conn = (*parent.limit_conn).clone();
    let mut sets: Option<Vec<(UserVarId, Template)>> = None;
    for d in dirs {
        let arg = d.args.first();
        match d.name.value.as_slice() {
            b"satisfy" => conf.satisfy_any = arg.is_some_and(|a| a.is("any")),
            b"auth_basic" => {
                if let Some(a) = arg {
                    conf.auth_basic.realm = Some(template(a, user)?);
                }
            }
            b"auth_basic_user_file" => {
                if let Some(a) = arg {
                    let t = template(a, user)?;
                    conf.auth_basic.user_file = Some(match t.as_literal() {
                        Some(path) => UserFile::Fixed(full_name(conf_dir, path)),
                        None => UserFile::Template(t),
                    });
                }
            }
            b"auth_request" => {
                if let Some(a) = arg {
                    conf.auth_request = if a.is("off") {
                        Vec::new()
                    } else {
                        a.value.clone()
                    };
                }
            }
            b"auth_request_set" => {
                let (Some(name), Some(value)) = (arg, d.args.get(1)) else {
                    continue;
                };
                let var = name.value.strip_prefix(b"$").unwrap_or(&name.value);
                let id = user
                    .get(&String::from_utf8_lossy(var))
                    .ok_or_else(|| CompileError::at(name, "invalid variable name"))?;
                sets.get_or_insert_with(Vec::new)
                    .push((id, template(value, user)?));
            }
            b"limit_req" => req_limits
                .get_or_insert_with(Vec::new)
                .push(limit_req::parse_limit(d, zones)?),
            b"limit_req_status" => req.status = status(d)?,
            b"limit_req_log_level" => req.log_level = log_level(d)?,
            b"limit_req_dry_run" => req.dry_run = on(d),
            b"limit_conn" => conn_limits
                .get_or_insert_with(Vec::new)
                .push(limit_conn::parse_limit(d, zones)?),
            b"limit_conn_status" => conn.status = status(d)?,
            b"limit_conn_log_level" => conn.log_level = log_level(d)?,
            b"limit_conn_dry_run" => conn.dry_run = on(d),
            b"auth_delay" => {
                conf.auth_delay = arg
                    .and_then(|a| crate::timeouts::parse_time(&a.value))
                    .ok_or_else(|| CompileError::invalid(d, "invalid value"))?;
            }
            _ => {}
        }
    }
    if let Some(l) = req_limits {
        req.limits = l;
    }
    if let Some(l) = conn_limits {
        conn.limits = l;
    }
    if let Some(s) = sets {
        conf.auth_request_set = Arc::new(s);
    }
    conf.limit_req = Arc::new(req);
    conf.limit_conn = Arc::new(conn);
    Ok(conf)
}

/// `ngx_conf_full_name` with the configuration's directory.
pub(crate) fn full_name(conf_dir: &[u8], path: &[u8]) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        return path.to_vec();
    }
    let mut p = conf_dir.to_vec();
    if !p.is_empty() && p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(path);
    p
}

fn on(d: &Directive) -> bool {
    d.args
        .first()
        .is_some_and(|a| a.value.eq_ignore_ascii_case(b"on"))
}

fn status(d: &Directive) -> Result<u16, CompileError> {
    d.args
        .first()
        .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse::<u16>().ok())
        .filter(|s| (400..=599).contains(s))
        .ok_or_else(|| CompileError::invalid(d, "value must be between 400 and 599"))
}

fn log_level(d: &Directive) -> Result<upgate_conf::Level, CompileError> {
    use upgate_conf::Level;
    match d.args.first().map(|a| a.value.as_slice()) {
        Some(b"info") => Ok(Level::Info),
        Some(b"notice") => Ok(Level::Notice),
        Some(b"warn") => Ok(Level::Warn),
        Some(b"error") => Ok(Level::Error),
        _ => Err(CompileError::invalid(d, "invalid value")),
    }
}

/// Where the access phase stopped to wait for auth_request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Satisfy {
    All,
    Any,
}

impl Request<'_> {
    /// The preaccess phase from limit_req on: limit_req, which may stop the
    /// request for a delay; limit_conn comes next.
    pub(crate) fn preaccess(&mut self) {
        let rt = self.rt;
        let conf = &rt.location(self.location).conf.access_phase.limit_req;
        if self.limit_req_status.is_none() && !conf.limits.is_empty() {
            let keys: Vec<Vec<u8>> = conf
                .limits
                .iter()
                .map(|l| {
                    rt.zones
                        .limit_req
                        .get(l.zone)
                        .map(|z| self.eval(&z.key))
                        .unwrap_or_default()
                })
                .collect();
            let d = limit_req::decide(&rt.zones, conf, &keys, self.client.msec);
            self.log.extend(d.log);
            self.limit_req_status = d.status;
            if d.reject {
                self.outcome = Response::error(conf.status, "limiting requests");
                self.entry = Entry::Done;
                return;
            }
            if d.delay > 0 {
                self.outcome = Outcome::Delay(std::time::Duration::from_millis(d.delay));
                self.entry = Entry::LimitConn;
                return;
            }
        }
        self.entry = Entry::LimitConn;
    }

    /// limit_conn; the access phase comes next.
    pub(crate) fn limit_conn_phase(&mut self) {
        let rt = self.rt;
        let conf = &rt.location(self.location).conf.access_phase.limit_conn;
        if self.limit_conn_status.is_none() && !conf.limits.is_empty() {
            let keys: Vec<Vec<u8>> = conf
                .limits
                .iter()
                .map(|l| {
                    rt.zones
                        .limit_conn
                        .get(l.zone)
                        .map(|z| self.eval(&z.key))
                        .unwrap_or_default()
                })
                .collect();
            let d = limit_conn::decide(&rt.zones, conf, &keys);
            self.log.extend(d.log);
            self.limit_conn_status = d.status;
            self.limit_conn_slots.extend(d.slots);
            if d.reject {
                self.outcome = Response::error(conf.status, "limiting connections");
                self.entry = Entry::Done;
                return;
            }
        }
        self.entry = Entry::Access;
    }

    /// `ngx_http_core_access_phase` over allow/deny, auth_basic and
    /// auth_request; entered again with the subrequest's result, which
    /// only auth_request reads (nginx runs that handler again).
    pub(crate) fn access(&mut self, files: &dyn Files) {
        if self.subrequest {
            self.entry = Entry::Content;
            return;
        }
        let rt = self.rt;
        let conf = &rt.location(self.location).conf;
        let satisfy = if conf.access_phase.satisfy_any {
            Satisfy::Any
        } else {
            Satisfy::All
        };
        if let Some(result) = self.auth_result.take() {
            let verdict = self.auth_request_verdict(&result);
            if !self.satisfy(satisfy, verdict) {
                self.post_access();
            }
            return;
        }
        self.access_code = None;
        let verdict = match crate::access::find(&conf.access, self.remote.ip()) {
            None => Verdict::Declined,
            Some(false) => Verdict::Ok,
            Some(true) => {
                if satisfy == Satisfy::All {
                    self.log_error("access forbidden by rule".into());
                }
                Verdict::Status(403)
            }
        };
        if self.satisfy(satisfy, verdict) {
            return;
        }
        let verdict = self.auth_basic(files);
        if self.satisfy(satisfy, verdict) {
            return;
        }
        if conf.access_phase.auth_request.is_empty() {
            self.post_access();
            return;
        }
        self.outcome = Outcome::AuthRequest(AuthSubrequest {
            uri: conf.access_phase.auth_request.clone(),
        });
        self.entry = Entry::Access;
    }

    /// One handler's answer under `satisfy`: true when the phase is over
    /// (the request goes on to the content phase, or is finalized).
    fn satisfy(&mut self, satisfy: Satisfy, verdict: Verdict) -> bool {
        match (satisfy, verdict) {
            (_, Verdict::Declined) | (Satisfy::All, Verdict::Ok) => false,
            (Satisfy::Any, Verdict::Ok) => {
                // the refusals so far are forgotten, their WWW-Authenticate
                // not sent
                self.access_code = None;
                self.www_authenticate.clear();
                self.entry = Entry::Content;
                true
            }
            (Satisfy::Any, Verdict::Status(code @ (401 | 403))) => {
                if self.access_code != Some(401) {
                    self.access_code = Some(code);
                }
                false
            }
            (_, Verdict::Status(code)) => {
                self.refuse(code);
                true
            }
        }
    }

    /// `ngx_http_core_post_access_phase`.
    fn post_access(&mut self) {
        match self.access_code.take() {
            Some(code) => {
                if code == 403 {
                    self.log_error("access forbidden by rule".into());
                }
                self.refuse(code);
            }
            None => self.entry = Entry::Content,
        }
    }

    /// Finalizes the request with the access phase's refusal; a 401 waits
    /// `auth_delay` first (`ngx_http_core_auth_delay`).
    fn refuse(&mut self, code: u16) {
        let delay = self.rt.location(self.location).conf.access_phase.auth_delay;
        if code == 401 && !delay.is_zero() {
            self.log.push((
                upgate_conf::Level::Info,
                "delaying unauthorized request".into(),
            ));
            self.outcome = Outcome::Delay(delay);
            self.entry = Entry::Unauthorized;
            return;
        }
        self.outcome = Response::error(code, "access phase");
        self.entry = Entry::Done;
    }

    /// `ngx_http_auth_request_handler` once the subrequest is done.
    fn auth_request_verdict(&mut self, result: &AuthResult) -> Verdict {
        for (id, value) in &result.vars {
            self.set_var(*id, value.clone());
        }
        match result.status {
            403 => Verdict::Status(403),
            401 => {
                self.www_authenticate
                    .extend(result.www_authenticate.iter().cloned());
                Verdict::Status(401)
            }
            200..=299 => Verdict::Ok,
            other => {
                self.log_error(format!("auth request unexpected status: {other}"));
                Verdict::Status(500)
            }
        }
    }

    /// After a limit_req delay: the phases go on (limit_req does not run
    /// again).
    pub fn resume(&mut self, files: &dyn Files) {
        self.outcome = Outcome::Static;
        self.run_phases(files);
        self.finish(files);
    }

    /// The auth_request subrequest ended with `result`.
    pub fn auth_request_done(&mut self, result: AuthResult, files: &dyn Files) {
        self.auth_result = Some(result);
        self.resume(files);
    }

    /// The auth_request subrequest to `uri`, as `ngx_http_subrequest`
    /// makes it: GET, no arguments, the client's headers, internal, from
    /// the server's rewrite phase; its access phase is skipped.
    pub fn auth_subrequest(&self, uri: &[u8], files: &dyn Files) -> Self {
        let mut sr = self.clone();
        sr.uri = uri.to_vec();
        sr.args = Vec::new();
        sr.method = b"GET".to_vec();
        sr.internal = true;
        sr.subrequest = true;
        // $request_uri stays the client's, but proxy_pass without a URI
        // sends the subrequest's
        sr.valid_unparsed_uri = false;
        sr.captures = None;
        sr.outcome = Outcome::Static;
        sr.trace = Vec::new();
        sr.log = Vec::new();
        sr.err_status = None;
        sr.error_page = false;
        sr.headers_location = None;
        sr.www_authenticate = Vec::new();
        sr.limit_conn_slots = Vec::new();
        sr.auth_result = None;
        // sr->variables = r->variables: the cache is the main request's
        // (a copy here: what the subrequest sets stays in it).
        sr.entry = Entry::ServerRewrite;
        sr.run_phases(files);
        sr.finish(files);
        sr
    }

    /// The values of the location's `auth_request_set`, evaluated in this
    /// (sub)request with the engine's values.
    pub fn auth_request_vars(
        &mut self,
        main_location: crate::LocationId,
        runtime: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Vec<(UserVarId, Vec<u8>)> {
        let rt = self.rt;
        let sets = Arc::clone(
            &rt.location(main_location)
                .conf
                .access_phase
                .auth_request_set,
        );
        sets.iter()
            .map(|(id, t)| (*id, self.eval_with(t, runtime)))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::files::MemFiles;
    use crate::test_support::runtime;
    use crate::{ClientRequest, Header};

    /// The outcome of one request from `ip` with `headers`, in short.
    fn run(body: &str, uri: &str, ip: &str, headers: &[(&str, &str)]) -> String {
        let rt = runtime(body);
        let client: SocketAddr = format!("{ip}:5000").parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut c = ClientRequest::new(b"GET", uri.as_bytes(), client, local);
        c.msec = 1_000_000_000;
        c.headers = std::iter::once(("Host", "example.com"))
            .chain(headers.iter().copied())
            .map(|(n, v)| Header {
                name: n.as_bytes(),
                value: v.as_bytes(),
            })
            .collect();
        let mut files = MemFiles::new(&["/prefix/htpasswd"], &[]);
        files.contents.insert(
            b"/prefix/htpasswd".to_vec(),
            b"alice:{PLAIN}secret\n".to_vec(),
        );
        let r = rt.process_with(&c, &files);
        let www = r
            .www_authenticate
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
            .join(",");
        match &r.outcome {
            Outcome::Respond(resp) if www.is_empty() => format!("{}", resp.status),
            Outcome::Respond(resp) => format!("{} {www}", resp.status),
            Outcome::Proxy => "proxy".into(),
            Outcome::AuthRequest(sr) => format!("auth {}", String::from_utf8_lossy(&sr.uri)),
            other => format!("{other:?}"),
        }
    }

    const ALICE: (&str, &str) = ("Authorization", "Basic YWxpY2U6c2VjcmV0");

    #[test]
    fn satisfy_all_and_any() {
        let body = "location / { proxy_pass http://b;
            allow 10.0.0.0/8; deny all;
            auth_basic \"r\"; auth_basic_user_file /prefix/htpasswd; }
            location /any/ { proxy_pass http://b; satisfy any;
            allow 10.0.0.0/8; deny all;
            auth_basic \"r\"; auth_basic_user_file /prefix/htpasswd; }";
        assert_eq!(run(body, "/", "10.0.0.1", &[ALICE]), "proxy");
        assert_eq!(run(body, "/", "10.0.0.1", &[]), "401 Basic realm=\"r\"");
        assert_eq!(run(body, "/", "192.168.0.1", &[ALICE]), "403");
        assert_eq!(run(body, "/any/", "192.168.0.1", &[ALICE]), "proxy");
        assert_eq!(run(body, "/any/", "10.0.0.1", &[]), "proxy");
        // 401 wins over the 403 kept before it
        assert_eq!(
            run(body, "/any/", "192.168.0.1", &[]),
            "401 Basic realm=\"r\""
        );
    }

    #[test]
    fn return_answers_before_access_and_auth_request_waits() {
        let body = "location / { deny all; return 200 x; }
            location /a/ { auth_request /auth; proxy_pass http://b; }
            location /off/ { auth_request /auth; location /off/in/ { auth_request off; proxy_pass http://b; } }";
        assert_eq!(run(body, "/", "10.0.0.1", &[]), "200");
        assert_eq!(run(body, "/a/", "10.0.0.1", &[]), "auth /auth");
        assert_eq!(run(body, "/off/in/", "10.0.0.1", &[]), "proxy");
    }

    #[test]
    fn auth_request_results() {
        let rt = runtime(
            "location / { auth_request /auth; auth_request_set $user $arg_u;
                auth_request_set $args \"x=1\"; proxy_pass http://b; }
             location = /auth { return 204; }",
        );
        let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut c = ClientRequest::new(b"GET", b"/p?u=bob", client, local);
        c.headers = vec![Header {
            name: b"Host",
            value: b"example.com",
        }];
        let files = MemFiles::default();
        let mut r = rt.process_with(&c, &files);
        let Outcome::AuthRequest(sr) = r.outcome.clone() else {
            panic!("{:?}", r.outcome);
        };
        let mut sub = r.auth_subrequest(&sr.uri, &files);
        assert_eq!(sub.uri, b"/auth");
        assert_eq!(sub.method, b"GET");
        assert!(matches!(&sub.outcome, Outcome::Respond(resp) if resp.status == 204));
        let vars = sub.auth_request_vars(r.location, &|_| None);
        for (status, want) in [(401, "401"), (403, "403"), (500, "500"), (302, "500")] {
            let mut again = rt.process_with(&c, &files);
            again.auth_request_done(
                AuthResult {
                    status,
                    www_authenticate: Vec::new(),
                    vars: Vec::new(),
                },
                &files,
            );
            let got = match &again.outcome {
                Outcome::Respond(resp) => resp.status.to_string(),
                other => format!("{other:?}"),
            };
            assert_eq!(got, want, "subrequest status {status}");
        }
        r.auth_request_done(
            AuthResult {
                status: 204,
                www_authenticate: Vec::new(),
                vars,
            },
            &files,
        );
        assert_eq!(r.outcome, Outcome::Proxy);
        // $args has a set handler: the upstream request carries it
        let up = r.upstream_request().unwrap();
        assert_eq!(up.uri, b"/p?x=1");
    }

    #[test]
    fn limit_req_rejects_and_delays() {
        let body = "location / { limit_req zone=one burst=1; proxy_pass http://b; }";
        let rt = crate::test_support::http_runtime(&format!(
            "limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
             server {{ listen 8080; server_name example.com; {body} }}"
        ));
        let client: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut c = ClientRequest::new(b"GET", b"/", client, local);
        c.msec = 1_000_000_000;
        c.headers = vec![Header {
            name: b"Host",
            value: b"example.com",
        }];
        let files = MemFiles::default();
        assert_eq!(rt.process_with(&c, &files).outcome, Outcome::Proxy);
        let mut r = rt.process_with(&c, &files);
        assert_eq!(
            r.outcome,
            Outcome::Delay(std::time::Duration::from_millis(1000))
        );
        r.resume(&files);
        assert_eq!(r.outcome, Outcome::Proxy);
        let r = rt.process_with(&c, &files);
        assert!(matches!(&r.outcome, Outcome::Respond(resp) if resp.status == 503));
    }
}
