//! The merged configuration of one level (http, server, location, `if`):
//! what `ngx_http_core_merge_loc_conf`, `ngx_http_proxy_merge_loc_conf` and
//! `ngx_http_headers_merge_conf` leave after inheritance. Scalars take the
//! nearest level that sets them, else nginx's default; array directives
//! (`proxy_set_header`, `proxy_hide_header`, `proxy_pass_header`,
//! `add_header`, `proxy_redirect`) take the whole list of the nearest level
//! that has any, and never merge. `proxy_pass` is not inherited, except by
//! `if` and `limit_except` blocks.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use upgate_conf::{Directive, Word};

use crate::compile::RegexCache;
use crate::error::CompileError;
use crate::headers::{
    AddHeader, AddHeaders, HeaderList, Level, NameList, SetHeader, UpstreamHeaders,
};
use crate::proxy_pass::{
    ProxyPass, ProxyRedirect, RedirectPattern, RedirectRule, default_redirect,
};
use crate::realip::{self, RealipConf};
use crate::timeouts::{NextUpstream, Setting, Timeouts, parse_size, parse_time};
use crate::variable::{self, Template, UserVars};

/// `proxy_http_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HttpVersion {
    #[serde(rename = "1.0")]
    Http10,
    #[serde(rename = "1.1")]
    Http11,
}

impl HttpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
        }
    }
}

/// The merged configuration of one level.
#[derive(Debug, Clone)]
pub struct LocConf {
    pub proxy_pass: Option<Arc<ProxyPass>>,
    pub proxy_set_header: Arc<HeaderList>,
    /// `proxy_set_header` merged with nginx's defaults.
    pub upstream_headers: Arc<UpstreamHeaders>,
    pub proxy_pass_request_headers: Setting<bool>,
    /// proxy_pass_request_body (on): off sends no body, while the
    /// Content-Length header still says the client's length.
    pub proxy_pass_request_body: Setting<bool>,
    pub proxy_hide_header: Arc<NameList>,
    pub proxy_pass_header: Arc<NameList>,
    pub proxy_http_version: Setting<HttpVersion>,
    pub proxy_method: Option<Template>,
    pub timeouts: Timeouts,
    pub proxy_buffer_size: Setting<u64>,
    pub proxy_next_upstream: Setting<NextUpstream>,
    pub proxy_next_upstream_tries: Setting<u32>,
    pub proxy_request_buffering: Setting<bool>,
    pub proxy_redirect: Arc<ProxyRedirect>,
    /// An explicit `proxy_redirect off` at this level or above.
    pub proxy_redirect_off: bool,
    pub add_header: Arc<AddHeaders>,
    pub absolute_redirect: bool,
    pub port_in_redirect: bool,
    pub server_name_in_redirect: bool,
    /// `internal` (this level only).
    pub internal: bool,
    /// set_real_ip_from, real_ip_header, real_ip_recursive.
    pub realip: RealipConf,
    /// `root` / `alias` (inherited together).
    pub root: Arc<crate::root::Root>,
    /// `index` (index.html).
    pub index: Arc<Vec<Template>>,
    /// `try_files` (this level only: nginx does not inherit it).
    pub try_files: Option<Arc<crate::try_files::TryFiles>>,
    /// `error_page` entries (a level with its own replaces the list).
    pub error_pages: Arc<Vec<crate::error_page::ErrorPage>>,
    /// recursive_error_pages (off).
    pub recursive_error_pages: bool,
    /// log_not_found (on).
    pub log_not_found: bool,
    /// etag (on).
    pub etag: bool,
    /// if_modified_since (exact).
    pub if_modified_since: IfModifiedSince,
    /// max_ranges (unlimited).
    pub max_ranges: Option<u32>,
    /// proxy_intercept_errors (off).
    pub proxy_intercept_errors: bool,
    /// ssl_verify_client (off; a server-level setting).
    pub ssl_verify_client: crate::ssl::VerifyClient,
    /// `allow` / `deny`, in order (a level with any has its own list).
    pub access: Arc<Vec<crate::access::Rule>>,
    /// satisfy, auth_basic, auth_request, limit_req, limit_conn
    /// (merged by `access_phase::merge`).
    pub access_phase: crate::access_phase::AccessPhaseConf,
    /// `valid_referers` (`$invalid_referer`).
    pub referer: crate::referer::RefererConf,
    /// `stub_status` is the content handler (like proxy_pass, kept by the
    /// `if` blocks inside).
    pub stub_status: bool,
    /// upgate's `# upgate:` pragmas for the tunnels of this level.
    pub pragmas: crate::pragmas::TunnelPragmas,
}

/// `if_modified_since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IfModifiedSince {
    Off,
    Exact,
    Before,
}

static DEFAULT_HEADERS: std::sync::LazyLock<(Arc<HeaderList>, Arc<UpstreamHeaders>)> =
    std::sync::LazyLock::new(|| {
        let list = Arc::new(HeaderList::default());
        let merged = Arc::new(UpstreamHeaders::init(&list));
        (list, merged)
    });

impl Default for LocConf {
    fn default() -> Self {
        let (list, merged) = &*DEFAULT_HEADERS;
        LocConf {
            proxy_pass: None,
            upstream_headers: merged.clone(),
            proxy_set_header: list.clone(),
            proxy_pass_request_headers: Setting::default_value(true),
            proxy_pass_request_body: Setting::default_value(true),
            proxy_hide_header: Arc::default(),
            proxy_pass_header: Arc::default(),
            proxy_http_version: Setting::default_value(HttpVersion::Http10),
            proxy_method: None,
            timeouts: Timeouts::default(),
            proxy_buffer_size: Setting::default_value(4096),
            proxy_next_upstream: Setting::default_value(NextUpstream::default()),
            proxy_next_upstream_tries: Setting::default_value(0),
            proxy_request_buffering: Setting::default_value(true),
            proxy_redirect: Arc::default(),
            proxy_redirect_off: false,
            add_header: Arc::default(),
            absolute_redirect: true,
            port_in_redirect: true,
            server_name_in_redirect: false,
            internal: false,
            realip: RealipConf::default(),
            root: Arc::default(),
            index: Arc::new(vec![Template::literal(b"index.html")]),
            try_files: None,
            error_pages: Arc::default(),
            recursive_error_pages: false,
            log_not_found: true,
            etag: true,
            if_modified_since: IfModifiedSince::Exact,
            max_ranges: None,
            proxy_intercept_errors: false,
            ssl_verify_client: crate::ssl::VerifyClient::Off,
            access: Arc::default(),
            access_phase: Default::default(),
            referer: Default::default(),
            stub_status: false,
            pragmas: Default::default(),
        }
    }
}

/// Which kind of block a level is (proxy_pass inheritance depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelKind {
    Http,
    Server,
    Location,
    /// `if` and `limit_except`: nginx's unnamed locations.
    Noname,
}

/// Merges the directives of one level into its parent's configuration.
/// `proxy_pass` is parsed by the caller (it needs the upstream groups).
pub fn merge(
    parent: &LocConf,
    dirs: &[&Directive],
    level: Level,
    kind: LevelKind,
    proxy_pass: Option<Arc<ProxyPass>>,
    user: &UserVars,
    regexes: &mut RegexCache,
) -> Result<LocConf, CompileError> {
    let mut conf = parent.clone();
    conf.internal = false;
    conf.try_files = None;
    let mut index: Option<Vec<Template>> = None;
    let mut error_pages: Option<Vec<crate::error_page::ErrorPage>> = None;
    if kind != LevelKind::Noname {
        conf.stub_status = false;
    }
    conf.proxy_pass = match (proxy_pass, kind) {
        (Some(p), _) => Some(p),
        (None, LevelKind::Noname) => parent.proxy_pass.clone(),
        (None, _) => None,
    };
    let mut set_headers: Vec<SetHeader> = Vec::new();
    let mut hide: Vec<Vec<u8>> = Vec::new();
    let mut pass: Vec<Vec<u8>> = Vec::new();
    let mut adds: Vec<AddHeader> = Vec::new();
    let mut redirects: Option<Vec<RedirectRule>> = None;
    // `plcf->redirect` of this level: unset, off, or rules.
    let mut redirect_here: Option<bool> = None;
    let mut real_ip_from: Option<Vec<realip::Cidr>> = None;
    let mut access: Option<Vec<crate::access::Rule>> = None;
    let first_span = |list_empty: bool, d: &Directive| list_empty.then_some(d.name.span);
    let (mut set_at, mut hide_at, mut pass_at, mut add_at) = (None, None, None, None);
    for d in dirs {
        let arg = |i: usize| d.args.get(i);
        let name = d.name.value.as_slice();
        match name {
            b"proxy_set_header" => {
                let (Some(n), Some(v)) = (arg(0), arg(1)) else {
                    continue;
                };
                set_at = set_at.or(first_span(set_headers.is_empty(), d));
                set_headers.push(SetHeader {
                    name: n.value.clone(),
                    value: template(v, user)?,
                    span: d.name.span,
                });
            }
            b"proxy_hide_header" | b"proxy_pass_header" => {
                let Some(n) = arg(0) else { continue };
                if name == b"proxy_hide_header" {
                    hide_at = hide_at.or(first_span(hide.is_empty(), d));
                    hide.push(n.value.clone());
                } else {
                    pass_at = pass_at.or(first_span(pass.is_empty(), d));
                    pass.push(n.value.clone());
                }
            }
            b"add_header" => {
                let (Some(n), Some(v)) = (arg(0), arg(1)) else {
                    continue;
                };
                add_at = add_at.or(first_span(adds.is_empty(), d));
                adds.push(AddHeader {
                    name: n.value.clone(),
                    value: template(v, user)?,
                    always: arg(2).is_some_and(|a| a.is("always")),
                    span: d.name.span,
                });
            }
            b"proxy_pass_request_headers" => {
                conf.proxy_pass_request_headers = flag(d)?;
            }
            b"proxy_pass_request_body" => conf.proxy_pass_request_body = flag(d)?,
            b"proxy_request_buffering" => conf.proxy_request_buffering = flag(d)?,
            b"proxy_http_version" => {
                let v = if arg(0).is_some_and(|a| a.is("1.1")) {
                    HttpVersion::Http11
                } else {
                    HttpVersion::Http10
                };
                conf.proxy_http_version = Setting::set(v, d.name.span);
            }
            b"proxy_method" => {
                if let Some(v) = arg(0) {
                    conf.proxy_method = Some(template(v, user)?);
                }
            }
            b"proxy_connect_timeout" => conf.timeouts.proxy_connect_timeout = time(d)?,
            b"proxy_read_timeout" => conf.timeouts.proxy_read_timeout = time(d)?,
            b"proxy_send_timeout" => conf.timeouts.proxy_send_timeout = time(d)?,
            b"send_timeout" => conf.timeouts.send_timeout = time(d)?,
            b"proxy_next_upstream_timeout" => {
                conf.timeouts.proxy_next_upstream_timeout = time(d)?;
            }
            b"proxy_buffer_size" => {
                let size = arg(0)
                    .and_then(|a| parse_size(&a.value))
                    .ok_or_else(|| CompileError::invalid(d, "invalid value"))?;
                conf.proxy_buffer_size = Setting::set(size, d.name.span);
            }
            b"proxy_next_upstream_tries" => {
                let n = arg(0)
                    .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse().ok())
                    .ok_or_else(|| CompileError::invalid(d, "invalid value"))?;
                conf.proxy_next_upstream_tries = Setting::set(n, d.name.span);
            }
            b"proxy_next_upstream" => {
                let value = NextUpstream::parse(d.args.iter().map(|a| a.value.as_slice()));
                conf.proxy_next_upstream = Setting::set(value, d.name.span);
            }
            b"proxy_redirect" => {
                // ngx_http_proxy_redirect: after "off" at a level, the
                // level's other proxy_redirect lines are ignored.
                if redirect_here == Some(false) {
                    continue;
                }
                let rules = redirects.get_or_insert_with(Vec::new);
                match (arg(0), arg(1)) {
                    (Some(a), None) if a.is("off") || a.is("false") => {
                        redirect_here = Some(false);
                        rules.clear();
                    }
                    (Some(a), None) if a.is("default") => {
                        redirect_here = Some(true);
                        if let Some((p, r)) = conf.proxy_pass.as_deref().and_then(default_redirect)
                        {
                            rules.push(RedirectRule {
                                pattern: RedirectPattern::Prefix(Template::literal(&p)),
                                replacement: Template::literal(&r),
                                span: Some(d.name.span),
                            });
                        }
                    }
                    (Some(p), Some(r)) => {
                        redirect_here = Some(true);
                        rules.push(redirect_rule(d, p, r, user, regexes)?);
                    }
                    _ => {}
                }
            }
            b"absolute_redirect" => conf.absolute_redirect = flag(d)?.value,
            b"port_in_redirect" => conf.port_in_redirect = flag(d)?.value,
            b"server_name_in_redirect" => conf.server_name_in_redirect = flag(d)?.value,
            b"internal" => conf.internal = true,
            b"stub_status" => conf.stub_status = true,
            b"set_real_ip_from" => {
                let Some(a) = arg(0) else { continue };
                let resolve = |host: &str| -> Vec<std::net::IpAddr> {
                    use std::net::ToSocketAddrs;
                    (host, 0)
                        .to_socket_addrs()
                        .map(|it| it.map(|sa| sa.ip()).collect())
                        .unwrap_or_default()
                };
                let (list, _low_bits) = realip::parse_from(&a.text(), &resolve)
                    .map_err(|e| CompileError::at(a, e.to_string()))?;
                real_ip_from.get_or_insert_with(Vec::new).extend(list);
            }
            b"real_ip_header" => {
                let Some(a) = arg(0) else { continue };
                conf.realip.header = realip::parse_header(&a.value)
                    .map_err(|e| CompileError::at(a, e.to_string()))?;
            }
            b"real_ip_recursive" => conf.realip.recursive = flag(d)?.value,
            b"index" => {
                let list = index.get_or_insert_with(Vec::new);
                for a in &d.args {
                    list.push(template(a, user)?);
                }
            }
            b"try_files" => {
                conf.try_files = Some(Arc::new(crate::try_files::TryFiles::parse(d, user)?));
            }
            b"error_page" => {
                let list = error_pages.get_or_insert_with(Vec::new);
                crate::error_page::parse(d, user, list)?;
            }
            b"recursive_error_pages" => conf.recursive_error_pages = flag(d)?.value,
            b"log_not_found" => conf.log_not_found = flag(d)?.value,
            b"etag" => conf.etag = flag(d)?.value,
            b"proxy_intercept_errors" => conf.proxy_intercept_errors = flag(d)?.value,
            b"allow" | b"deny" => {
                let (rule, _low_bits) = crate::access::parse(d)?;
                access.get_or_insert_with(Vec::new).push(rule);
            }
            b"ssl_verify_client" => {
                let Some(a) = arg(0) else { continue };
                conf.ssl_verify_client = crate::ssl::VerifyClient::parse(&a.value)
                    .ok_or_else(|| CompileError::invalid(d, "invalid value"))?;
            }
            b"if_modified_since" => {
                conf.if_modified_since = match arg(0).map(|a| a.value.as_slice()) {
                    Some(b"off") => IfModifiedSince::Off,
                    Some(b"before") => IfModifiedSince::Before,
                    _ => IfModifiedSince::Exact,
                }
            }
            b"max_ranges" => {
                conf.max_ranges =
                    arg(0).and_then(|a| std::str::from_utf8(&a.value).ok()?.parse().ok());
            }
            _ => {}
        }
    }
    let named = |span: Option<upgate_conf::Span>| {
        span.map(|span| Level {
            name: level.name.clone(),
            span,
        })
    };
    if !set_headers.is_empty() {
        let list = HeaderList {
            headers: set_headers,
            defined_at: named(set_at),
        };
        conf.upstream_headers = Arc::new(UpstreamHeaders::init(&list));
        conf.proxy_set_header = Arc::new(list);
    }
    if !hide.is_empty() {
        conf.proxy_hide_header = Arc::new(NameList {
            names: hide,
            defined_at: named(hide_at),
        });
    }
    if !pass.is_empty() {
        conf.proxy_pass_header = Arc::new(NameList {
            names: pass,
            defined_at: named(pass_at),
        });
    }
    if !adds.is_empty() {
        conf.add_header = Arc::new(AddHeaders {
            headers: adds,
            defined_at: named(add_at),
        });
    }
    if let Some(list) = real_ip_from {
        conf.realip.from = Some(Arc::new(list));
    }
    if let Some(list) = access {
        conf.access = Arc::new(list);
    }
    // ngx_conf_merge_value(conf->redirect, prev->redirect, 1).
    if let Some(on) = redirect_here {
        conf.proxy_redirect_off = !on;
    }
    if let Some(list) = index {
        conf.index = Arc::new(list);
    }
    if let Some(list) = error_pages {
        conf.error_pages = Arc::new(list);
    }
    conf.proxy_redirect = resolve_redirect(parent, &conf, redirects);
    Ok(conf)
}

/// nginx: `redirects = own ?? parent's ?? default(own proxy_pass)`, unless off.
fn resolve_redirect(
    parent: &LocConf,
    conf: &LocConf,
    own: Option<Vec<RedirectRule>>,
) -> Arc<ProxyRedirect> {
    if conf.proxy_redirect_off && own.as_ref().is_none_or(Vec::is_empty) {
        return Arc::new(ProxyRedirect::Off);
    }
    if let Some(rules) = own {
        return Arc::new(ProxyRedirect::Rules(rules));
    }
    if let ProxyRedirect::Rules(_) = &*parent.proxy_redirect {
        return parent.proxy_redirect.clone();
    }
    match conf.proxy_pass.as_deref().and_then(default_redirect) {
        Some((pattern, replacement)) => Arc::new(ProxyRedirect::Rules(vec![RedirectRule {
            pattern: RedirectPattern::Prefix(Template::literal(&pattern)),
            replacement: Template::literal(&replacement),
            span: None,
        }])),
        None => Arc::new(ProxyRedirect::Off),
    }
}

fn redirect_rule(
    d: &Directive,
    pattern: &Word,
    replacement: &Word,
    user: &UserVars,
    regexes: &mut RegexCache,
) -> Result<RedirectRule, CompileError> {
    let pattern = if let Some(re) = pattern.value.strip_prefix(b"~") {
        let (re, caseless) = match re.strip_prefix(b"*") {
            Some(r) => (r, true),
            None => (re, false),
        };
        RedirectPattern::Regex(
            regexes
                .get(re, caseless)
                .map_err(|e| CompileError::regex(pattern, e))?,
        )
    } else {
        RedirectPattern::Prefix(template(pattern, user)?)
    };
    Ok(RedirectRule {
        pattern,
        replacement: template(replacement, user)?,
        span: Some(d.name.span),
    })
}

pub(crate) fn template(word: &Word, user: &UserVars) -> Result<Template, CompileError> {
    variable::compile(&word.value, user).map_err(|e| CompileError::template(word, e))
}

fn flag(d: &Directive) -> Result<Setting<bool>, CompileError> {
    match d.args.first() {
        Some(a) if a.value.eq_ignore_ascii_case(b"on") => Ok(Setting::set(true, d.name.span)),
        Some(a) if a.value.eq_ignore_ascii_case(b"off") => Ok(Setting::set(false, d.name.span)),
        _ => Err(CompileError::invalid(
            d,
            "invalid value, it must be \"on\" or \"off\"",
        )),
    }
}

fn time(d: &Directive) -> Result<Setting<Duration>, CompileError> {
    d.args
        .first()
        .and_then(|a| parse_time(&a.value))
        .map(|t| Setting::set(t, d.name.span))
        .ok_or_else(|| CompileError::invalid(d, "invalid value"))
}
