//! `upgate parse FILE`: the configuration as crossplane's JSON, for tools
//! written against `crossplane parse` (docs/crossplane.md says where the two
//! differ). Syntax and includes only: the directive checks of `upgate -t`
//! are not run, so a snippet parses as it stands.
//!
//! The JSON always goes to stdout, as crossplane prints it even for a file it
//! cannot read. When it says "failed", the errors are also printed on stderr
//! the way nginx words them, and the exit status is 1.
//!
//! Without `--combine` the JSON is written straight from the tokenizer
//! ([`crossplane::scan`], then [`crossplane::write_json`]), with no tree;
//! `--combine` rearranges files, so it builds crossplane's payload.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use upgate_conf::crossplane::{self, Options};
use upgate_conf::parser::SyntaxError;
use upgate_conf::syntax::{ReadError, load_syntax};

use crate::cli::ParseArgs;

pub fn run(args: &ParseArgs) -> ExitCode {
    let options = Options {
        combine: args.combine,
        comments: args.include_comments,
        single_file: args.single_file,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let (written, errors) = if options.combine {
        let tree = load_syntax(&args.file, !args.single_file);
        let written = crossplane::to_json(&crossplane::payload(&tree, &options), args.indent)
            .map_err(std::io::Error::from)
            .and_then(|json| out.write_all(json.as_bytes()));
        let files = (tree.config.sources.files().iter())
            .zip(&tree.config.files)
            .map(|(source, file)| (source.path.as_path(), file.error.as_ref()));
        let errors = nginx_errors(files, &tree.read_errors);
        // The process ends here; the OS frees the tree faster than drop would.
        std::mem::forget(tree);
        (written, errors)
    } else {
        let scan = crossplane::scan(&args.file, !args.single_file);
        let written = crossplane::write_json(&scan, &options, args.indent, &mut out)
            .map_err(std::io::Error::from);
        let files = scan
            .files
            .iter()
            .map(|file| (file.path.as_path(), file.error.as_ref()));
        let errors = nginx_errors(files, &scan.read_errors);
        (written, errors)
    };
    if let Err(err) = written
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush())
    {
        eprintln!("upgate: {err}");
        return ExitCode::FAILURE;
    }
    for error in &errors {
        eprintln!("upgate: [emerg] {error}");
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The payload's errors in nginx's words, in the payload's order: for each
/// file (its path and syntax error), what could not be read, then its
/// syntax error.
fn nginx_errors<'a>(
    files: impl Iterator<Item = (&'a Path, Option<&'a SyntaxError>)>,
    read_errors: &[ReadError],
) -> Vec<String> {
    let files: Vec<(&Path, Option<&SyntaxError>)> = files.collect();
    let mut errors = Vec::new();
    for (i, (path, syntax)) in files.iter().enumerate() {
        for e in read_errors.iter().filter(|e| e.file.index() == i) {
            // nginx opens a directory fine and fails on the read.
            let call = if e.errno == Some(21) { "pread" } else { "open" };
            let mut text = format!(
                "{call}() \"{}\" failed ({}: {})",
                e.path.display(),
                e.errno.unwrap_or(0),
                e.reason
            );
            if let Some(line) = e.line {
                text.push_str(&format!(" in {}:{line}", path.display()));
            }
            errors.push(text);
        }
        if let Some(e) = syntax {
            errors.push(format!(
                "{} in {}:{}",
                e.message,
                path.display(),
                e.span.line
            ));
        }
    }
    errors
}
