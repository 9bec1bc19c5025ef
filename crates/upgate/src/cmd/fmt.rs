//! `upgate fmt [--check] FILE...`: rewrites each file in the printer's
//! canonical layout (upgate_conf::printer), or with `--check` only names the
//! files that would change. A file with a syntax error is never rewritten:
//! its error is printed nginx-style and the exit status is 1.

use std::path::Path;
use std::process::ExitCode;

use upgate_conf::error::errno_text;
use upgate_conf::printer;

use crate::cli::FmtArgs;

pub fn run(args: &FmtArgs) -> ExitCode {
    let mut failed = false;
    for file in &args.files {
        match format_one(file, args.check) {
            Ok(true) => {}
            Ok(false) => {
                println!("{}", file.display());
                failed = true;
            }
            Err(message) => {
                eprintln!("upgate: [emerg] {message}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Ok(true) when the file is (now) formatted, Ok(false) when `check` found
/// it unformatted, Err with nginx's message otherwise.
fn format_one(file: &Path, check: bool) -> Result<bool, String> {
    let text = std::fs::read(file)
        .map_err(|e| format!("open() \"{}\" failed {}", file.display(), errno_text(&e)))?;
    let formatted = printer::format(&text)
        .map_err(|e| format!("{} in {}:{}", e.message, file.display(), e.span.line))?;
    if formatted == text {
        return Ok(true);
    }
    if check {
        return Ok(false);
    }
    std::fs::write(file, &formatted)
        .map_err(|e| format!("open() \"{}\" failed {}", file.display(), errno_text(&e)))?;
    Ok(true)
}
