//! `upgate lint`: load each file the way `-t` does but reading on past each
//! error, run the rules of `upgate-lint`, print the findings (human, JSON or
//! SARIF; what nginx -t rejects is a finding too) and pick the exit code: 0
//! when nothing is at or above `--min-severity`, 1 when warnings (or infos)
//! are and no error, 2 when an error is (nginx -t would fail, or a rule
//! found an error). With `--fix`, the certain fixes are written in place,
//! round after round until none is left, before reporting; not over a tree
//! a syntax error or a missing file left partial.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use upgate_conf::directives::Release;
use upgate_conf::{ContextChoice, LoadOptions, Loaded, load};
use upgate_lint::output::{Lines, human, json, sarif};
use upgate_lint::{NginxVersion, Options, RULES, Report, Severity, SystemResolver, fix, lint};

use crate::cli::LintArgs;
use crate::report;

/// Debian's nginx reads this file when -c is not given.
const DEFAULT_CONF: &str = "/etc/nginx/nginx.conf";
/// More rounds than any fix chain needs (map, then header, then version).
const MAX_FIX_ROUNDS: usize = 10;

pub fn run(args: &LintArgs) -> ExitCode {
    if args.list_rules {
        for rule in RULES {
            println!(
                "{:<44} {:<8} {}",
                rule.id,
                rule.severity.as_str(),
                rule.summary
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(id) = &args.explain {
        return explain(id);
    }
    for id in args.enable.iter().chain(&args.disable) {
        if upgate_lint::rule::find(id).is_none() {
            unknown_rule(id);
            return ExitCode::from(2);
        }
    }
    // The version sets the rules' defaults and, when given, the directive
    // table the files are loaded with; without it, every release's table
    // (the union) and 1.28's defaults, as before the flag chose a table.
    let (nginx_version, release) = match args
        .nginx_version
        .as_deref()
        .map(str::parse::<NginxVersion>)
    {
        None => (NginxVersion::default(), None),
        Some(Ok(v)) => match v.table_release() {
            Some(release) => (v, Some(release)),
            None => {
                eprintln!(
                    "upgate lint: no directive table for nginx {v}: give {} (or a release \
                     of those, e.g. 1.26.2), or 1.29 and later (1.28's table)",
                    Release::accepted()
                );
                return ExitCode::from(2);
            }
        },
        Some(Err(e)) => {
            eprintln!("upgate lint: {e}");
            return ExitCode::from(2);
        }
    };
    let resolver = SystemResolver::new(args.root.clone());
    let options = Options {
        nginx_version,
        enable: args.enable.clone(),
        disable: args.disable.clone(),
        min_severity: Severity::from_name(&args.min_severity).unwrap_or(Severity::Info),
        resolver: &resolver,
        root: args.root.clone(),
    };
    let files: Vec<PathBuf> = match (&args.conf, args.files.is_empty()) {
        (Some(conf), _) => vec![conf.clone()],
        (None, false) => args.files.clone(),
        (None, true) => vec![PathBuf::from(DEFAULT_CONF)],
    };
    let mut unreadable = false;
    let mut worst = None;
    let mut outputs = Vec::new();
    for file in &files {
        let load_options = load_options(args, file, release);
        if args.fix {
            match fix_in_place(&load_options, &options) {
                Ok(0) => {}
                Ok(n) => eprintln!(
                    "upgate lint: {}: fixed in place ({n} file writes)",
                    file.display()
                ),
                Err(()) => {
                    unreadable = true;
                    continue;
                }
            }
        }
        let mut timing = Timing::from_env();
        let loaded = load(&load_options);
        timing.lap("load");
        let lint_report = lint(&loaded, &options);
        timing.lap("lint");
        worst = worst.max(lint_report.worst());
        outputs.push(render(args, &loaded, &lint_report));
        timing.lap("render");
        // The process ends soon: freeing a tree of hundreds of thousands
        // of directives one by one would cost more than the lint itself.
        std::mem::forget(lint_report);
        std::mem::forget(loaded);
    }
    let mut timing = Timing::from_env();
    if print(args, outputs).is_err() {
        return ExitCode::from(2);
    }
    timing.lap("print");
    match (unreadable, worst) {
        (true, _) | (_, Some(Severity::Error)) => ExitCode::from(2),
        (_, Some(_)) => ExitCode::from(1),
        (false, None) => ExitCode::SUCCESS,
    }
}

/// `--explain RULE`: the rule's page, as built into the binary.
fn explain(id: &str) -> ExitCode {
    let Some(rule) = upgate_lint::rule::find(id) else {
        unknown_rule(id);
        return ExitCode::from(2);
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    match out
        .write_all(rule.page.as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(2),
    }
}

/// The message for a rule id that names no rule, with the id that was
/// probably meant.
fn unknown_rule(id: &str) {
    match upgate_lint::rule::suggest(id) {
        Some(near) => eprintln!(
            "upgate lint: unknown rule \"{id}\"; did you mean \"{near}\"? (see --list-rules)"
        ),
        None => eprintln!("upgate lint: unknown rule \"{id}\" (see --list-rules)"),
    }
}

/// `UPGATE_LINT_TIMING=1`: how long each step took, on stderr.
struct Timing(Option<std::time::Instant>);

impl Timing {
    fn from_env() -> Self {
        Timing(std::env::var_os("UPGATE_LINT_TIMING").map(|_| std::time::Instant::now()))
    }

    fn lap(&mut self, what: &str) {
        if let Some(started) = &mut self.0 {
            eprintln!("upgate lint: {what} {:?}", started.elapsed());
            *started = std::time::Instant::now();
        }
    }
}

fn load_options(args: &LintArgs, file: &Path, release: Option<Release>) -> LoadOptions {
    let mut options = upgate_lint::load_options(&super::name_under_root(args.root.as_ref(), file));
    options.release = release;
    if let Some(prefix) = &args.prefix {
        options.prefix = prefix.clone();
    }
    if let Some(context) = args.context {
        options.context = ContextChoice::Fixed(context.into());
    }
    options.fs.root = args.root.clone();
    options
}

/// One file's rendering: text, or a document to merge.
enum Output {
    Text(String),
    Json(json::Document),
    Sarif(sarif::Log),
}

fn render(args: &LintArgs, loaded: &Loaded, lint_report: &Report) -> Output {
    let lines = Lines::new(&loaded.config.sources);
    match args.format.as_str() {
        "json" => Output::Json(json::render(lint_report, &lines)),
        "sarif" => {
            let base = std::env::current_dir().ok();
            // --root is absolute (Root parses it so), like the base.
            Output::Sarif(sarif::render_rooted(
                lint_report,
                &lines,
                base.as_deref(),
                args.root.as_ref(),
            ))
        }
        _ => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut text = String::new();
            if let Some((ctx, _)) = &loaded.read_as {
                text.push_str(&format!("note: read as {}-level snippet\n", ctx.name()));
            }
            text.push_str(&human::render(lint_report, &lines, color));
            Output::Text(text)
        }
    }
}

/// Prints the renderings; several JSON or SARIF documents become one.
fn print(args: &LintArgs, outputs: Vec<Output>) -> std::io::Result<()> {
    // Buffered: stdout flushes at every newline, and a big JSON report has
    // a million of them.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut document: Option<json::Document> = None;
    let mut log: Option<sarif::Log> = None;
    for output in outputs {
        match output {
            Output::Text(text) => out.write_all(text.as_bytes())?,
            Output::Json(d) => match &mut document {
                Some(all) => all.merge(d),
                None => document = Some(d),
            },
            Output::Sarif(l) => match &mut log {
                Some(all) => all.merge(l),
                None => log = Some(l),
            },
        }
    }
    let empty = Report::default();
    let sources = upgate_conf::SourceMap::default();
    let lines = Lines::new(&sources);
    match args.format.as_str() {
        "json" => {
            let document = document.unwrap_or_else(|| json::render(&empty, &lines));
            serde_json::to_writer_pretty(&mut out, &document)?;
            writeln!(out)?;
        }
        "sarif" => {
            let log = log.unwrap_or_else(|| sarif::render(&empty, &lines, None));
            serde_json::to_writer_pretty(&mut out, &log)?;
            writeln!(out)?;
        }
        _ => {}
    }
    out.flush()
}

/// Applies fixes round after round; returns how many file writes it took.
fn fix_in_place(load_options: &LoadOptions, options: &Options<'_>) -> Result<usize, ()> {
    let mut applied = 0;
    for _ in 0..MAX_FIX_ROUNDS {
        let loaded = load(load_options);
        if let Some(error) = upgate_lint::unreadable(&loaded) {
            report::nginx_line(error, &loaded.config.sources);
            report::fancy(error, &loaded.config.sources);
            return Err(());
        }
        let lint_report = lint(&loaded, options);
        let fixes = lint_report.fixes();
        if fixes.is_empty() {
            break;
        }
        let sources = &loaded.config.sources;
        let changed = fix::apply(sources, &fixes);
        if changed.is_empty() {
            break;
        }
        for (file, text) in &changed {
            let path = sources.path(*file);
            let reparsed = upgate_conf::parse_file(path, text.clone());
            if reparsed.files.iter().any(|f| f.error.is_some()) {
                eprintln!(
                    "upgate lint: a fix would break {}; nothing written (please report this)",
                    path.display()
                );
                return Ok(applied);
            }
        }
        applied += changed.len();
        for (file, text) in changed {
            let path = load_options.fs.real(sources.path(file));
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("upgate lint: cannot write {}: {e}", path.display());
                return Err(());
            }
        }
    }
    Ok(applied)
}
