//! Loading a configuration generation: read and check the files like
//! `nginx -t` (upgate-conf, snippets wrapped by the loader), compile the
//! tables, open the logs. nginx's `ngx_init_cycle` does the same on start
//! and on SIGHUP; a reload that fails leaves the running generation in place
//! and logs why, as nginx's master does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use upgate_conf::enforcement::Enforcement;
use upgate_conf::{ConfError, Config, LoadOptions, load};

use crate::error_log::Level;
use crate::process::MainConf;
use crate::tables::Tables;

/// A loaded generation plus the main-level settings the process uses.
pub struct Generation {
    pub tables: Tables,
    /// `daemon`, `pid`, `worker_*`, `user`.
    pub main: MainConf,
    /// The `pid` directive, under the prefix.
    pub pid: Option<PathBuf>,
    /// `worker_shutdown_timeout`.
    pub shutdown_timeout: Option<Duration>,
    /// The checks' warnings (`[warn]` lines nginx logs while loading).
    pub warnings: Vec<(Level, String)>,
    /// What serving ignores: the `[warn]` lines of directives whose
    /// response differs from nginx's and the `[info]` lines of those that
    /// change nothing, as nginx's text (`MESSAGE in FILE:LINE`).
    pub ignored: Vec<(upgate_conf::Level, String)>,
}

/// Why a generation did not load: the `[emerg]` text (one line per error),
/// and the warnings logged before it.
#[derive(Debug)]
pub struct LoadFailure {
    pub message: String,
    pub warnings: Vec<(Level, String)>,
}

/// Loads, checks and compiles; the error is the `[emerg]` lines' text, one
/// per line: the first error nginx would report, or every directive upgate
/// would have to ignore although it decides who gets in, what they may send
/// or where a request goes (`upgate_conf::enforcement`).
pub fn load_generation(options: &LoadOptions) -> Result<Generation, String> {
    load_generation_with(options, None).map_err(|f| f.message)
}

/// [`load_generation`] with the error log used when the configuration names
/// none (the `-e` file, under the prefix; `None`: stderr).
pub fn load_generation_with(
    options: &LoadOptions,
    default_log: Option<&Path>,
) -> Result<Generation, LoadFailure> {
    let loaded = load(options);
    let warnings: Vec<(Level, String)> = loaded
        .warnings
        .iter()
        .map(|w| (w.level, w.nginx_text(&loaded.config.sources).to_string()))
        .collect();
    if let Some(e) = &loaded.error {
        return Err(LoadFailure {
            message: e.nginx_text(&loaded.config.sources).to_string(),
            warnings,
        });
    }
    let enforcement = Enforcement::check(&loaded.config);
    let text = |e: &ConfError| e.nginx_text(&loaded.config.sources).to_string();
    if !enforcement.may_serve() {
        let lines: Vec<String> = enforcement.refused.iter().map(text).collect();
        return Err(LoadFailure {
            message: lines.join("\n"),
            warnings,
        });
    }
    let ignored = enforcement
        .differs
        .iter()
        .chain(enforcement.harmless_once())
        .map(|e| (e.level, text(e)))
        .collect();
    let tables = match Tables::build_with(&loaded.config, &options.prefix, default_log) {
        Ok(t) => t,
        Err(message) => return Err(LoadFailure { message, warnings }),
    };
    let main = MainConf::read(&loaded.config, &options.prefix);
    Ok(Generation {
        pid: main_arg(&loaded.config, "pid").map(|p| options.prefix.join(p)),
        shutdown_timeout: main.worker_shutdown_timeout,
        main,
        tables,
        warnings,
        ignored,
    })
}

/// The first argument of a main-level directive.
pub fn main_arg(config: &Config, name: &str) -> Option<String> {
    let main = config.main()?;
    let d = main.block.directives().find(|d| d.is(name))?;
    Some(d.args.first()?.text().into_owned())
}
