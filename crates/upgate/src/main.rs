//! `upgate`: nginx's command line (`-t`, `-T`, `-c`, `-p`, `-g`, `-q`, `-v`,
//! `-V`) plus upgate's own subcommands. The libraries do the work; this
//! binary parses flags, renders diagnostics and picks exit codes.

mod cli;
mod cmd;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cmd::run(cli)
}
