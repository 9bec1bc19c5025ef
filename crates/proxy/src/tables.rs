//! Everything one configuration generation serves with: the runtime's tables,
//! the engine settings of each level (`settings.rs`), the upstream groups
//! with their balancer state and keepalive pools, and the open access logs.
//! nginx builds the same in `ngx_init_cycle`; a reload builds a new
//! [`Tables`] and swaps the pointer, while requests and tunnels already
//! running keep the generation they started with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use upgate_conf::Config;
use upgate_runtime::proxy_pass::ProxyTarget;
use upgate_runtime::{CompileOptions, LocationId, RegexCache, Runtime};

use crate::access_log::AccessLogs;
use crate::error_log::ErrorLog;
use crate::http1::{HideHeaders, ServerIdent};
use crate::settings::{LocSettings, Settings, SrvSettings};
use crate::tls::upstream::UpstreamTls;
use crate::upstream::{Group, implicit_group, implicit_key, system_resolve};

/// The regexes of the last configuration compiled: a reload recompiles only
/// the patterns it changed.
static RELOAD_REGEXES: OnceLock<Mutex<RegexCache>> = OnceLock::new();

/// One configuration generation.
#[derive(Debug)]
pub struct Tables {
    pub rt: Runtime,
    pub settings: Settings,
    /// `upstream {}` blocks, in `rt.upstreams.groups` order.
    pub groups: Vec<Arc<Group>>,
    /// Implicit groups by `host:port`.
    pub implicit: HashMap<String, Arc<Group>>,
    /// TLS to upstreams, per location whose proxy_pass is https or made of
    /// variables (indexed like `rt.locations`); levels with the same
    /// `proxy_ssl_*` share one, and so its session cache.
    upstream_tls: Vec<Option<Arc<UpstreamTls>>>,
    pub access_logs: AccessLogs,
    pub error_log: ErrorLog,
    /// The TLS configurations of the servers.
    pub tls: crate::tls::server::TlsServers,
    /// The `Server:` line and error page tail for each location.
    idents: Vec<ServerIdent>,
    /// proxy_hide_header / proxy_pass_header resolved, for each location.
    hide_headers: Vec<HideHeaders>,
    /// nginx's prefix (`-p`): relative paths are under it.
    pub prefix: PathBuf,
    /// Which generation this is (0 at start, then one more per reload): a
    /// tunnel of an older one is closed worker_shutdown_timeout after the
    /// reload that replaced it.
    pub generation: u64,
    /// `--metrics`: this generation's handles (`None`: no metrics).
    pub metrics: Option<std::sync::Arc<crate::metrics::TablesMetrics>>,
}

impl Tables {
    /// Compiles a loaded configuration; the error is nginx's `[emerg]` text.
    pub fn build(config: &Config, prefix: &Path) -> Result<Tables, String> {
        Tables::build_with(config, prefix, None)
    }

    /// [`Tables::build`] with the error log to use when the configuration
    /// names none (the `-e` file; `None`: stderr).
    pub fn build_with(
        config: &Config,
        prefix: &Path,
        default_log: Option<&Path>,
    ) -> Result<Tables, String> {
        let resolve = |host: &str, port: u16| system_resolve(host, port);
        let mut prefix_bytes = prefix.as_os_str().as_encoded_bytes().to_vec();
        if prefix_bytes.last() != Some(&b'/') {
            prefix_bytes.push(b'/');
        }
        let options = CompileOptions {
            resolver: &resolve,
            prefix: prefix_bytes,
            regexes: Some(RELOAD_REGEXES.get_or_init(Default::default)),
            ..CompileOptions::default()
        };
        let rt = Runtime::compile_with(config, &options).map_err(|e| e.to_string())?;
        if let Some(e) = &rt.upstream_error {
            return Err(e.clone());
        }
        let tls = crate::tls::server::TlsServers::build(config, &rt)?;
        let settings = Settings::read(config, &rt);
        let groups = rt
            .upstreams
            .groups
            .iter()
            .map(|g| Arc::new(Group::new(g.clone(), &rt.user_vars)))
            .collect();
        let mut implicit = HashMap::new();
        for loc in &rt.locations {
            let Some(pass) = &loc.conf.proxy_pass else {
                continue;
            };
            let ProxyTarget::Static(url) = &pass.target else {
                continue;
            };
            if pass.upstream.is_some() {
                continue;
            }
            let port = url.port.unwrap_or(if url.https { 443 } else { 80 });
            let key = implicit_key(&url.host, port);
            if implicit.contains_key(&key) {
                continue;
            }
            let group = implicit_group(&url.host, port, url.unix, &resolve, &rt.user_vars)
                .ok_or_else(|| {
                    format!(
                        "host not found in upstream \"{}\"",
                        String::from_utf8_lossy(&url.host)
                    )
                })?;
            implicit.insert(key, Arc::new(group));
        }
        let (upstream_tls, upstream_tls_warnings) =
            crate::tls::upstream::build_all(config, &rt, &settings)?;
        let access_logs = AccessLogs::open(&settings, &rt, prefix);
        let error_log = ErrorLog::open(config, prefix, default_log)?;
        for warning in tls.warnings.iter().chain(&upstream_tls_warnings) {
            error_log.log(crate::error_log::Level::Warn, warning);
        }
        let idents = settings
            .locations
            .iter()
            .map(|s| ServerIdent::upgate(&s.server_tokens))
            .collect();
        let hide_headers = rt
            .locations
            .iter()
            .map(|l| {
                let hide: Vec<&[u8]> = l
                    .conf
                    .proxy_hide_header
                    .names
                    .iter()
                    .map(Vec::as_slice)
                    .collect();
                let pass: Vec<&[u8]> = l
                    .conf
                    .proxy_pass_header
                    .names
                    .iter()
                    .map(Vec::as_slice)
                    .collect();
                HideHeaders::new(&hide, &pass)
            })
            .collect();
        Ok(Tables {
            rt,
            settings,
            groups,
            implicit,
            upstream_tls,
            access_logs,
            error_log,
            tls,
            idents,
            hide_headers,
            prefix: prefix.to_path_buf(),
            generation: 0,
            metrics: None,
        })
    }

    /// Names the product in `Server:` lines and error pages as `product/version`
    /// (server_tokens still applies): differential tests announce themselves
    /// as the nginx they compare with, so that every byte can be compared.
    pub fn announce_as(&mut self, product: &str, version: &str) {
        self.idents = self
            .settings
            .locations
            .iter()
            .map(|s| ServerIdent::new(product, version, &s.server_tokens))
            .collect();
    }

    /// The engine settings of a level.
    pub fn loc(&self, id: LocationId) -> &LocSettings {
        static DEFAULT: std::sync::OnceLock<LocSettings> = std::sync::OnceLock::new();
        self.settings
            .locations
            .get(id.index())
            .unwrap_or_else(|| DEFAULT.get_or_init(LocSettings::default))
    }

    /// How a location talks TLS to its upstreams, if its proxy_pass may be
    /// https.
    pub fn upstream_tls(&self, id: LocationId) -> Option<&Arc<UpstreamTls>> {
        self.upstream_tls.get(id.index()).and_then(Option::as_ref)
    }

    /// The server-level settings of a server.
    pub fn srv(&self, id: upgate_runtime::ServerId) -> &SrvSettings {
        static DEFAULT: std::sync::OnceLock<SrvSettings> = std::sync::OnceLock::new();
        self.settings
            .servers
            .get(id.index())
            .unwrap_or_else(|| DEFAULT.get_or_init(SrvSettings::default))
    }

    /// server_tokens of a level, as the `Server:` line and page tail.
    pub fn ident(&self, id: LocationId) -> &ServerIdent {
        static DEFAULT: std::sync::OnceLock<ServerIdent> = std::sync::OnceLock::new();
        self.idents
            .get(id.index())
            .unwrap_or_else(|| DEFAULT.get_or_init(ServerIdent::default))
    }

    /// The upstream response headers a location withholds.
    pub fn hide_headers(&self, id: LocationId) -> &HideHeaders {
        static DEFAULT: std::sync::OnceLock<HideHeaders> = std::sync::OnceLock::new();
        self.hide_headers
            .get(id.index())
            .unwrap_or_else(|| DEFAULT.get_or_init(HideHeaders::default))
    }

    /// Every address the servers listen on.
    /// The generation stops serving new requests (a reload replaced it, or
    /// the server stops): its cached upstream connections are closed and
    /// none is cached any more, as in a worker that is shutting down.
    pub fn retire(&self) {
        for group in self.groups.iter().chain(self.implicit.values()) {
            if let Some(pool) = &group.pool {
                pool.close();
            }
        }
    }

    pub fn listen_addrs(&self) -> Vec<upgate_runtime::listen::ListenAddr> {
        self.rt
            .listens
            .addrs
            .iter()
            .map(|a| a.addr.clone())
            .collect()
    }
}
