//! `-t` / `-T`: check the configuration like `nginx -t`, print nginx's
//! lines on stderr (and a miette view of the error), dump with `-T`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use upgate_conf::enforcement::Enforcement;
use upgate_conf::fs::{Fs, full_name};
use upgate_conf::snippet::Detected;
use upgate_conf::{ContextChoice, LoadOptions, Loaded, Phase, SnippetContext, load};

use crate::cli::Cli;
use crate::report;

/// Debian's nginx reads this file when -c is not given.
const DEFAULT_CONF: &str = "/etc/nginx/nginx.conf";

pub fn run(cli: &Cli) -> ExitCode {
    // No transparent huge pages for a check: it touches its memory once
    // and exits, and the 2 MB pages mimalloc asks for are each zeroed whole
    // on first touch; on the virtual machine measured, one carved from
    // memory another process just freed faults in several times slower.
    // The 5,000-server file right after `nginx -t` on it: 0.45-0.52 s with
    // them, 0.17-0.19 s without; run alone 0.13 s against 0.18 s; 113 MB of
    // RSS against 97 MB. Should the call fail, the check runs as before.
    let _ = nix::sys::prctl::set_thp_disable(true);
    let mut options = load_options(cli);
    let loaded = match with_main(cli, &mut options) {
        Ok(Some(loaded)) => loaded,
        Ok(None) => load(&options),
        Err(message) => {
            eprintln!("upgate: [emerg] {message}");
            return ExitCode::FAILURE;
        }
    };
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
    if loaded.error.is_none() {
        enforcement(cli, &loaded);
        // nginx loads certificates while it reads the file: a bad one fails
        // the test before "syntax is ok".
        if let Err(message) = tls_check(&loaded, &options.prefix) {
            eprintln!("upgate: [emerg] {message}");
            eprintln!("upgate: configuration file {conf_name} test failed");
            return ExitCode::FAILURE;
        }
    }
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

/// nginx -t loads every server's certificates and keys, and the
/// `proxy_ssl_*` files of the locations that proxy to https: so does this, with
/// the configurations `-c` would build (only for a file that has any, so
/// that a configuration without TLS is not compiled twice).
fn tls_check(loaded: &Loaded, prefix: &Path) -> Result<(), String> {
    let (mut any, mut upstream) = (false, false);
    loaded.config.walk(|d, _| {
        any |= d.is("ssl_certificate");
        upstream |= d.name.value.starts_with(b"proxy_ssl_");
    });
    if !any && !upstream {
        return Ok(());
    }
    let mut prefix_bytes = prefix.as_os_str().as_encoded_bytes().to_vec();
    if prefix_bytes.last() != Some(&b'/') {
        prefix_bytes.push(b'/');
    }
    let resolve = |host: &str, port: u16| upgate_proxy::upstream::system_resolve(host, port);
    let options = upgate_runtime::CompileOptions {
        resolver: &resolve,
        prefix: prefix_bytes,
        ..upgate_runtime::CompileOptions::default()
    };
    let rt = upgate_runtime::Runtime::compile_with(&loaded.config, &options)
        .map_err(|e| e.to_string())?;
    if any {
        let tls = upgate_proxy::tls::server::TlsServers::build(&loaded.config, &rt)?;
        for warning in &tls.warnings {
            eprintln!("upgate: [warn] {warning}");
        }
    }
    for warning in upgate_proxy::tls::upstream::check(&loaded.config, &rt)? {
        eprintln!("upgate: [warn] {warning}");
    }
    Ok(())
}

/// What `upgate -c` would do with the file beyond nginx's checks: the
/// directives it would refuse (as `[warn]`: the file is valid nginx), those
/// whose response differs, and, unless `-q`, per file the directives it
/// ignores because they change nothing a client gets.
fn enforcement(cli: &Cli, loaded: &Loaded) {
    let sources = &loaded.config.sources;
    let checked = Enforcement::check(&loaded.config);
    // One buffered writer: a large configuration can have thousands of lines.
    let mut err = std::io::BufWriter::new(std::io::stderr().lock());
    for e in &checked.refused {
        let _ = writeln!(
            err,
            "upgate: [warn] {} (upgate -c would refuse to start)",
            e.nginx_text(sources)
        );
    }
    for e in &checked.differs {
        let _ = writeln!(
            err,
            "upgate: [{}] {}",
            e.level.as_str(),
            e.nginx_text(sources)
        );
    }
    if cli.quiet {
        return;
    }
    // Per file, in the order files were first met.
    let mut by_file: Vec<(upgate_conf::FileId, Vec<String>)> = Vec::new();
    let mut index: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for e in &checked.harmless {
        let Some(span) = e.span() else { continue };
        let name = e.message.split('"').nth(1).unwrap_or_default();
        let entry = format!("{name} ({})", e.line().unwrap_or(0));
        let next = by_file.len();
        let i = *index.entry(span.file.index()).or_insert(next);
        if i == next {
            by_file.push((span.file, Vec::new()));
        }
        by_file[i].1.push(entry);
    }
    for (file, names) in by_file {
        let _ = writeln!(
            err,
            "upgate: [info] ignored, no effect on what clients get, in {}: {}",
            sources.path(file).display(),
            names.join(", ")
        );
    }
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

/// `--with-main MAIN FILE` (or `-c MAIN FILE`): loads MAIN with FILE where
/// nginx would read it. `Ok(None)` when the flags ask for no such check.
fn with_main(cli: &Cli, options: &mut LoadOptions) -> Result<Option<Loaded>, String> {
    let main = match (&cli.with_main, &cli.conf) {
        (Some(main), _) => main,
        (None, Some(main)) if cli.file.is_some() => main,
        _ => return Ok(None),
    };
    let main = &super::name_under_root(cli.root.as_ref(), main);
    let Some(snippet) = &cli.file else {
        return Err("--with-main needs the snippet to check as FILE".into());
    };
    let snippet = full_name(&options.prefix, snippet);
    options.conf_file = main.clone();
    options.context = ContextChoice::Fixed(SnippetContext::Main);
    let first = load(options);
    let same = |p: &Path| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&snippet).ok();
    if first.config.sources.files().iter().any(|f| same(&f.path)) {
        eprintln!(
            "note: {} is included by {}",
            snippet.display(),
            main.display()
        );
        return Ok(Some(first));
    }
    let text = std::fs::read(&snippet)
        .map_err(|e| format!("open() \"{}\" failed ({e})", snippet.display()))?;
    let wanted = match upgate_conf::snippet::detect(&text) {
        Detected::MainFile => Some(SnippetContext::Main),
        Detected::Snippet(ctx) => Some(ctx),
        Detected::Ambiguous { best, .. } => Some(best),
    };
    let name = snippet.file_name().unwrap_or_default();
    let Some(point) = upgate_conf::snippet::injection_point(&first.config, name, wanted) else {
        return Err(format!(
            "{} includes no file pattern that would read {}: add an include for it",
            main.display(),
            snippet.display()
        ));
    };
    eprintln!(
        "note: checked as {} (where {}'s include would read it)",
        point.display(),
        main.display()
    );
    options.fs.overlay.push((point, snippet));
    Ok(Some(load(options)))
}

pub fn load_options(cli: &Cli) -> LoadOptions {
    let conf = cli
        .file
        .clone()
        .or_else(|| cli.conf.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF));
    let mut options = LoadOptions::new(super::name_under_root(cli.root.as_ref(), &conf));
    if let Some(prefix) = &cli.prefix {
        options.prefix = prefix.clone();
    }
    options.globals = cli.globals.clone();
    if let Some(context) = cli.context {
        options.context = upgate_conf::ContextChoice::Fixed(context.into());
    }
    options.fs = Fs::rooted(cli.root.clone());
    options.release = cli.nginx_version;
    options
}
