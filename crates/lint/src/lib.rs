//! upgate-lint: syntax tree -> findings about what breaks WebSockets behind
//! an nginx configuration, each with a stable rule id, a severity, the span
//! of the offending directive and, where the fix is certain, text edits that
//! fix it in place.
//!
//! Its place: bytes -> `upgate-conf` (tree) -> **lint** (findings). It reads
//! the tree `upgate_conf::load` built, exactly the files `upgate -t` reads, a
//! whole nginx.conf with its includes or a single conf.d snippet read inside
//! the block it was written for. It computes nginx's inheritance of the proxy
//! settings itself ([`inherit`]) because findings need the span where each
//! value was set. It leaves flags, rendering choices and exit codes to the
//! `upgate` binary, and writing files to the caller of [`fix::apply`].
//!
//! The rules are the traps users hit again and again (see `docs/lint/`): the
//! `$connection_upgrade` map missing, Upgrade/Connection not forwarded or
//! lost to `proxy_set_header` inheritance (and response headers lost to
//! `add_header` inheritance), HTTP/1.0 upstream requests,
//! `proxy_hide_header Upgrade`, idle tunnels cut by `proxy_read_timeout`,
//! keepalive pools defeated by `Connection: close`, typos in `proxy_pass`,
//! undefined variables (every use, where nginx names only the first).
//! And the TLS traps ([`servers`] knows which servers speak TLS): a
//! `wss://` host no TLS server answers, WebSocket backends not told the
//! scheme, SSLv3/TLS 1.0/1.1 enabled, certificates that do not cover their
//! server's names, upstream certificates left unchecked. And the client
//! address traps ([`address`]): limits and `allow`/`deny` behind a proxy
//! without `set_real_ip_from`, `set_real_ip_from 0.0.0.0/0`, unreachable
//! `allow`/`deny` lines, a WebSocket location outside the authentication of
//! its siblings, `limit_req` without a burst on WebSocket handshakes.
//!
//! Linear in the configuration: the context ([`Cx`]) is built in a few
//! walks of the tree ([`inherit`], [`model`], [`facts`]); every rule then
//! reads precomputed facts instead of walking scopes or reparsing values.
//! `UPGATE_LINT_TIMING=1` prints how long each step takes.
//!
//! ```
//! use upgate_lint::{lint, Options, NoResolve};
//! let dir = std::env::temp_dir().join(format!("upgate-lint-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let conf = dir.join("nginx.conf");
//! std::fs::write(&conf, "events {}\nhttp { server { location /ws { proxy_pass http://127.0.0.1:9000; } } }\n").unwrap();
//! let loaded = upgate_conf::load(&upgate_lint::load_options(&conf));
//! let report = lint(&loaded, &Options::new(&NoResolve));
//! assert!(report.findings.iter().any(|f| f.rule == "websocket-missing-upgrade-header"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

pub mod address;
pub mod facts;
pub mod finding;
pub mod fix;
pub mod inherit;
pub mod model;
pub mod output;
pub mod resolve;
pub mod rule;
mod rules;
pub mod servers;
mod suppress;
pub mod unseen;
pub mod variables;
pub mod version;

use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};
use upgate_conf::{ConfError, Config, FileId, LoadOptions, Loaded, SnippetContext, Span};

pub use finding::{Finding, Related};
pub use fix::{Edit, Fix};
pub use resolve::{NoResolve, Resolve, SystemResolver};
pub use rule::{RULES, Rule, Severity};
pub use version::NginxVersion;

use facts::Proxied;
use inherit::Scopes;
use model::Model;
use servers::Servers;

/// How to lint.
pub struct Options<'r> {
    /// The nginx release the configuration is meant for (defaults differ
    /// from 1.29.7 on).
    pub nginx_version: NginxVersion,
    /// When not empty, only these rules run.
    pub enable: Vec<String>,
    /// These rules do not run.
    pub disable: Vec<String>,
    /// Findings below this severity are dropped.
    pub min_severity: Severity,
    /// Answers whether a host name resolves (for `proxy_pass` targets).
    pub resolver: &'r dyn Resolve,
    /// Where absolute paths are read (`--root`), for the files the rules
    /// open themselves (certificates).
    pub root: Option<upgate_conf::fs::Root>,
}

impl<'r> Options<'r> {
    pub fn new(resolver: &'r dyn Resolve) -> Self {
        Options {
            nginx_version: NginxVersion::default(),
            enable: Vec::new(),
            disable: Vec::new(),
            min_severity: Severity::Info,
            resolver,
            root: None,
        }
    }

    fn runs(&self, id: &str) -> bool {
        (self.enable.is_empty() || self.enable.iter().any(|e| e == id))
            && !self.disable.iter().any(|d| d == id)
    }
}

/// The load options lint uses: those of `-t`, without the checks against
/// the machine (host names, users, certificate files), which are not the
/// configuration's problems (`proxy_pass` names are checked by a rule), and
/// reading on past each error, so that one missing include or unknown
/// directive does not hide what the rest of the files say.
pub fn load_options(conf_file: &Path) -> LoadOptions {
    let mut options = LoadOptions::new(conf_file);
    options.check_environment = false;
    options.check_hosts = true;
    options.keep_going = true;
    options
}

/// The findings for one loaded configuration, sorted by file and position.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst severity found, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The fixes of the findings, in report order.
    pub fn fixes(&self) -> Vec<&Fix> {
        self.findings
            .iter()
            .filter_map(|f| f.fix.as_ref())
            .collect()
    }
}

/// The error that leaves a file's tree partial, if any: a syntax error (the
/// file is read up to it), or the main file not read at all. Lint reports
/// it as a finding like any other, but fixes are not written over a partial
/// file. A missing include is not one: the findings it may change have
/// lost their fixes ([`unseen`]), the others' stand.
pub fn unreadable(loaded: &Loaded) -> Option<&ConfError> {
    let main_unread = loaded
        .error
        .as_ref()
        .filter(|e| e.span().is_none() && e.message.starts_with("open() "));
    if main_unread.is_some() {
        return main_unread;
    }
    let syntax = loaded.config.files.iter().find_map(|f| f.error.as_ref())?;
    loaded
        .error
        .iter()
        .chain(&loaded.later_errors)
        .find(|e| e.message == syntax.message)
}

/// Runs the rules over a loaded configuration.
pub fn lint(loaded: &Loaded, options: &Options<'_>) -> Report {
    let mut timing = Timing::from_env();
    let cx = Cx::new(loaded, options);
    timing.lap("context");
    let mut findings = Vec::new();
    for rule in RULES {
        if !options.runs(rule.id) {
            continue;
        }
        let before = findings.len();
        (rule.check)(&cx, &mut findings);
        timing.lap(format_args!(
            "{} ({} findings)",
            rule.id,
            findings.len() - before
        ));
    }
    unseen::Unseen::build(&cx).mark(&mut findings);
    timing.lap("unseen files");
    let keep: Vec<bool> = {
        let mut seen = FxHashSet::default();
        findings
            .iter()
            .map(|f| {
                f.severity >= options.min_severity
                    && seen.insert((f.rule, f.span, f.message.as_str()))
                    && !suppress::suppressed(&cx.config.sources, f)
            })
            .collect()
    };
    let mut keep = keep.into_iter();
    findings.retain(|_| keep.next().unwrap_or(false));
    sort(cx.config, &mut findings);
    timing.lap("filter and sort");
    Report { findings }
}

/// Sorts by file path, then position, then rule order; files read twice
/// (one path, two ids) sort together.
fn sort(config: &Config, findings: &mut [Finding]) {
    let path = |i: usize| config.sources.path(FileId(i as u32));
    let mut by_path: Vec<usize> = (0..config.sources.len()).collect();
    by_path.sort_by(|&a, &b| path(a).cmp(path(b)));
    let mut file_rank = vec![0; by_path.len()];
    let mut rank = 0;
    for (i, &file) in by_path.iter().enumerate() {
        if i > 0 && path(by_path[i - 1]) != path(file) {
            rank += 1;
        }
        file_rank[file] = rank;
    }
    findings.sort_by_cached_key(|f| {
        let rank = file_rank.get(f.span.file.index()).copied();
        (rank.unwrap_or(usize::MAX), f.span.start, rule_order(f.rule))
    });
}

/// `UPGATE_LINT_TIMING=1`: how long each step took, on stderr.
struct Timing(Option<std::time::Instant>);

impl Timing {
    fn from_env() -> Self {
        Timing(std::env::var_os("UPGATE_LINT_TIMING").map(|_| std::time::Instant::now()))
    }

    fn lap(&mut self, what: impl std::fmt::Display) {
        if let Some(started) = &mut self.0 {
            eprintln!("lint: {what} {:?}", started.elapsed());
            *started = std::time::Instant::now();
        }
    }
}

fn rule_order(id: &str) -> usize {
    RULES.iter().position(|r| r.id == id).unwrap_or(usize::MAX)
}

/// What every rule sees.
pub struct Cx<'a> {
    pub loaded: &'a Loaded,
    pub config: &'a Config,
    pub scopes: Scopes<'a>,
    pub model: Model<'a>,
    /// The facts of every block with its own `proxy_pass`, in scope order.
    pub proxied: Vec<Proxied<'a>>,
    pub servers: Servers<'a>,
    pub options: &'a Options<'a>,
    pub text: fix::Text<'a>,
    /// Set when the file was read as a snippet of this block.
    pub snippet: Option<SnippetContext>,
    /// Files a fix must not edit: the snippet wrapper, and files included
    /// more than once (an edit there would change every place).
    frozen: FxHashSet<FileId>,
}

impl<'a> Cx<'a> {
    pub fn new(loaded: &'a Loaded, options: &'a Options<'a>) -> Self {
        let config = &loaded.config;
        let mut timing = Timing::from_env();
        let frozen = frozen_files(config);
        timing.lap("context: files");
        let snippet = loaded.read_as.as_ref().map(|(ctx, _)| *ctx);
        let mut frozen = frozen;
        if snippet.is_some() {
            frozen.insert(config.main);
        }
        let scopes = Scopes::build(config);
        timing.lap("context: scopes");
        let model = Model::build(config);
        timing.lap("context: model");
        let proxied = facts::build(&scopes, &model);
        timing.lap("context: facts");
        let servers = Servers::build(config);
        timing.lap("context: servers");
        Cx {
            loaded,
            config,
            scopes,
            model,
            proxied,
            servers,
            options,
            text: fix::Text::new(&config.sources),
            snippet,
            frozen,
        }
    }

    /// True when fixes may edit this file.
    pub fn editable(&self, file: FileId) -> bool {
        !self.frozen.contains(&file)
    }

    /// True when every edit of a fix lands in an editable file.
    pub fn all_editable(&self, edits: &[Edit]) -> bool {
        edits.iter().all(|e| self.editable(e.file))
    }

    /// A fix, or none when one of its edits would touch a frozen file.
    pub fn fix(
        &self,
        description: impl Into<String>,
        anchor: Span,
        edits: Vec<Edit>,
    ) -> Option<Fix> {
        (!edits.is_empty() && self.all_editable(&edits))
            .then(|| Fix::new(description, anchor, edits))
    }

    /// `FILE:LINE` of a span, for messages.
    pub fn place(&self, span: Span) -> String {
        format!(
            "{}:{}",
            self.config.sources.path(span.file).display(),
            span.line
        )
    }

    /// The user's own main file (the snippet itself when read as one).
    pub fn user_main(&self) -> FileId {
        if self.snippet.is_some() {
            self.config
                .file(self.config.main)
                .block
                .directives()
                .flat_map(|d| d.includes.iter().copied())
                .next()
                .or_else(|| first_included(self.config))
                .unwrap_or(self.config.main)
        } else {
            self.config.main
        }
    }
}

/// Files a fix must not edit: files included more than once (an edit there
/// would change every place), synthetic ones (the snippet wrapper), and
/// files the tree does not reach (`-g`, a snippet's first reading).
fn frozen_files(config: &Config) -> FxHashSet<FileId> {
    let mut live = vec![config.main];
    config.walk(|d, _| live.extend(d.includes.iter().copied()));
    let reached: FxHashSet<FileId> = live.iter().copied().collect();
    let mut by_path: FxHashMap<&Path, Vec<FileId>> = FxHashMap::default();
    for id in live {
        if id.index() < config.sources.len() {
            by_path.entry(config.sources.path(id)).or_default().push(id);
        }
    }
    let mut frozen = FxHashSet::default();
    for (path, ids) in by_path {
        let synthetic = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('<'));
        if ids.len() > 1 || synthetic {
            frozen.extend(ids);
        }
    }
    for i in 0..config.sources.len() {
        let id = FileId(i as u32);
        if !reached.contains(&id) {
            frozen.insert(id);
        }
    }
    frozen
}

fn first_included(config: &Config) -> Option<FileId> {
    let mut found = None;
    config.walk(|d, _| {
        if found.is_none() {
            found = d.includes.first().copied();
        }
    });
    found
}
