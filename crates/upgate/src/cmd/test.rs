//! `-t` / `-T`: check the configuration like `nginx -t`, print nginx's
//! lines on stderr (and a miette view of the error), dump with `-T`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use upgate_conf::{LoadOptions, Phase, fs::Fs, load};

use crate::cli::Cli;
use crate::report;

/// Debian's nginx reads this file when -c is not given.
const DEFAULT_CONF: &str = "/etc/nginx/nginx.conf";

pub fn run(cli: &Cli) -> ExitCode {
    let options = load_options(cli);
    let loaded = load(&options);
    if let Some((ctx, also)) = &loaded.read_as {
        if also.is_empty() {
            eprintln!("note: read as {}-level snippet", ctx.name());
        } else {
            let others: Vec<&str> = also.iter().map(|c| c.name()).collect();
            eprintln!(
                "note: read as {}-level snippet, a guess: its directives fit no block together ({} would do as well); choose with --context",
                ctx.name(),
                others.join(", ")
            );
        }
    }
    let conf_name = upgate_conf::fs::full_name(&options.prefix, &options.conf_file);
    let conf_name = conf_name.display();

    for warning in &loaded.warnings {
        report::nginx_line(warning, &loaded.config.sources);
    }
    let syntax_ok = match &loaded.error {
        None => true,
        Some(e) => e.phase == Phase::Init,
    };
    if syntax_ok && !cli.quiet {
        eprintln!("upgate: the configuration file {conf_name} syntax is ok");
    }
    if let Some(error) = &loaded.error {
        report::nginx_line(error, &loaded.config.sources);
        eprintln!("upgate: configuration file {conf_name} test failed");
        report::fancy(error, &loaded.config.sources);
        return ExitCode::FAILURE;
    }
    if !cli.quiet {
        eprintln!("upgate: configuration file {conf_name} test is successful");
    }
    let status = dump(cli, &loaded);
    // The process ends here: the OS reclaims the tree faster than its
    // destructors would (a tenth of -t's time on a 300k-line file).
    std::mem::forget(loaded);
    status
}

fn dump(cli: &Cli, loaded: &upgate_conf::Loaded) -> ExitCode {
    if cli.dump {
        let mut out = std::io::stdout().lock();
        let mut seen = std::collections::HashSet::new();
        for file in loaded.config.sources.files() {
            let synthetic = file
                .path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('<'));
            if synthetic
                || file.path.as_os_str() == "<command line>"
                || !seen.insert(file.path.clone())
            {
                continue;
            }
            let written = writeln!(out, "# configuration file {}:", file.path.display())
                .and_then(|()| out.write_all(&file.text))
                .and_then(|()| writeln!(out));
            if written.is_err() {
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

pub fn load_options(cli: &Cli) -> LoadOptions {
    let conf = cli
        .conf
        .clone()
        .or_else(|| cli.file.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF));
    let mut options = LoadOptions::new(conf);
    if let Some(prefix) = &cli.prefix {
        options.prefix = prefix.clone();
    }
    options.globals = cli.globals.clone();
    if let Some(context) = cli.context {
        options.context = upgate_conf::ContextChoice::Fixed(context.into());
    }
    options.fs = Fs {
        root: cli.root.clone(),
    };
    options
}
