//! `upgate parse FILE`: the configuration as crossplane's JSON, for tools
//! written against `crossplane parse` (docs/crossplane.md says where the two
//! differ). Syntax and includes only: the directive checks of `upgate -t`
//! are not run, so a snippet parses as it stands.
//!
//! The JSON always goes to stdout, as crossplane prints it even for a file it
//! cannot read. When it says "failed", the errors are also printed on stderr
//! the way nginx words them, and the exit status is 1.

use std::io::Write;
use std::process::ExitCode;

use upgate_conf::crossplane::{self, Options};
use upgate_conf::syntax::{SyntaxTree, load_syntax};

use crate::cli::ParseArgs;

pub fn run(args: &ParseArgs) -> ExitCode {
    let tree = load_syntax(&args.file, !args.single_file);
    let options = Options {
        combine: args.combine,
        comments: args.include_comments,
        single_file: args.single_file,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = if options.combine {
        crossplane::to_json(&crossplane::payload(&tree, &options), args.indent)
            .map_err(std::io::Error::from)
            .and_then(|json| out.write_all(json.as_bytes()))
    } else {
        // Straight from the tree: no copy of a large configuration.
        crossplane::write_json(&tree, &options, args.indent, &mut out).map_err(std::io::Error::from)
    };
    if let Err(err) = written
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush())
    {
        eprintln!("upgate: {err}");
        return ExitCode::FAILURE;
    }
    let errors = nginx_errors(&tree);
    for error in &errors {
        eprintln!("upgate: [emerg] {error}");
    }
    // The process ends here; the OS frees the tree faster than drop would.
    std::mem::forget(tree);
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The payload's errors in nginx's words, in the payload's order.
fn nginx_errors(tree: &SyntaxTree) -> Vec<String> {
    let sources = &tree.config.sources;
    let mut errors = Vec::new();
    for (i, file) in tree.config.files.iter().enumerate() {
        for e in tree.read_errors.iter().filter(|e| e.file.index() == i) {
            // nginx opens a directory fine and fails on the read.
            let call = if e.errno == Some(21) { "pread" } else { "open" };
            let mut text = format!(
                "{call}() \"{}\" failed ({}: {})",
                e.path.display(),
                e.errno.unwrap_or(0),
                e.reason
            );
            if let Some(line) = e.line {
                text.push_str(&format!(" in {}:{line}", sources.path(e.file).display()));
            }
            errors.push(text);
        }
        if let Some(e) = &file.error {
            errors.push(format!(
                "{} in {}:{}",
                e.message,
                sources.path(e.span.file).display(),
                e.span.line
            ));
        }
    }
    errors
}
