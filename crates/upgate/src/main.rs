//! `upgate`: nginx's command line (`-t`, `-T`, `-c`, `-p`, `-e`, `-g`, `-q`,
//! `-s`, `-v`, `-V`) plus upgate's own subcommands. The libraries do the
//! work; this binary parses flags, renders diagnostics and picks exit codes.

mod cli;
mod cmd;
mod report;
mod version;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::Cli::parse(std::env::args_os().collect()) {
        Ok(cli) => cmd::run(cli),
        Err(message) => {
            eprintln!("upgate: {message}");
            ExitCode::FAILURE
        }
    }
}
