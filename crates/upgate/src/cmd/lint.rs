//! `upgate lint`: load each file the way `-t` does, run the rules of
//! `upgate-lint`, print the findings (human, JSON or SARIF) and pick the
//! exit code: 0 when nothing is at or above `--min-severity`, 1 when
//! something is, 2 when a configuration could not be read at all (syntax
//! error, missing file). With `--fix`, the certain fixes are written in
//! place, round after round until none is left, before reporting.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;
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
    for id in args.enable.iter().chain(&args.disable) {
        if upgate_lint::rule::find(id).is_none() {
            eprintln!("upgate lint: unknown rule \"{id}\" (see --list-rules)");
            return ExitCode::from(2);
        }
    }
    let nginx_version = match args
        .nginx_version
        .as_deref()
        .map(str::parse::<NginxVersion>)
    {
        None => NginxVersion::default(),
        Some(Ok(v)) => v,
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
    };
    let files: Vec<PathBuf> = match (&args.conf, args.files.is_empty()) {
        (Some(conf), _) => vec![conf.clone()],
        (None, false) => args.files.clone(),
        (None, true) => vec![PathBuf::from(DEFAULT_CONF)],
    };
    let mut unreadable = false;
    let mut found = false;
    let mut outputs = Vec::new();
    for file in &files {
        let load_options = load_options(args, file);
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
        let loaded = load(&load_options);
        if let Some(error) = upgate_lint::unreadable(&loaded) {
            report::nginx_line(error, &loaded.config.sources);
            report::fancy(error, &loaded.config.sources);
            unreadable = true;
            continue;
        }
        let lint_report = lint(&loaded, &options);
        found |= !lint_report.findings.is_empty();
        outputs.push(render(args, &loaded, &lint_report));
    }
    if print(args, outputs).is_err() {
        return ExitCode::from(2);
    }
    if unreadable {
        ExitCode::from(2)
    } else if found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn load_options(args: &LintArgs, file: &Path) -> LoadOptions {
    let mut options = upgate_lint::load_options(file);
    if let Some(prefix) = &args.prefix {
        options.prefix = prefix.clone();
    }
    if let Some(context) = args.context {
        options.context = ContextChoice::Fixed(context.into());
    }
    options.fs.root = args.root.clone();
    options
}

/// One file's rendering: text, or a JSON value to merge.
enum Output {
    Text(String),
    Json(Value),
}

fn render(args: &LintArgs, loaded: &Loaded, lint_report: &Report) -> Output {
    let lines = Lines::new(&loaded.config.sources);
    match args.format.as_str() {
        "json" => Output::Json(json::render(lint_report, &lines)),
        "sarif" => {
            let base = std::env::current_dir().ok();
            Output::Json(sarif::render(lint_report, &lines, base.as_deref()))
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
    let mut out = std::io::stdout().lock();
    let mut merged: Option<Value> = None;
    for output in outputs {
        match output {
            Output::Text(text) => out.write_all(text.as_bytes())?,
            Output::Json(value) => merge(&mut merged, value),
        }
    }
    if args.format != "human" {
        let value = merged.unwrap_or_else(|| empty(args));
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    }
    Ok(())
}

fn empty(args: &LintArgs) -> Value {
    let report = Report::default();
    let sources = upgate_conf::SourceMap::default();
    let lines = Lines::new(&sources);
    if args.format == "sarif" {
        sarif::render(&report, &lines, None)
    } else {
        json::render(&report, &lines)
    }
}

fn merge(into: &mut Option<Value>, value: Value) {
    let Some(acc) = into else {
        *into = Some(value);
        return;
    };
    if let (Some(a), Some(b)) = (
        acc.pointer_mut("/runs/0/results")
            .and_then(Value::as_array_mut),
        value.pointer("/runs/0/results").and_then(Value::as_array),
    ) {
        a.extend(b.iter().cloned());
        return;
    }
    if let (Some(a), Some(b)) = (
        acc.get_mut("findings").and_then(Value::as_array_mut),
        value.get("findings").and_then(Value::as_array),
    ) {
        a.extend(b.iter().cloned());
    }
    for key in ["error", "warning", "info"] {
        let add = value["summary"][key].as_u64().unwrap_or(0);
        if let Some(n) = acc.pointer_mut(&format!("/summary/{key}")) {
            *n = Value::from(n.as_u64().unwrap_or(0) + add);
        }
    }
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
