//! One module per command; `run` picks it from the flags.

mod fmt;
mod lint;
mod parse;
mod route;
mod serve;
mod test;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> ExitCode {
    if cli.version {
        // nginx: the version (and -V's lines, -h's usage), then exit unless
        // -t asks for a test too.
        eprint!("{}", crate::version::text(cli.version_long, cli.help));
        if !cli.test {
            return ExitCode::SUCCESS;
        }
    }
    if let Some(command) = &cli.command {
        return match command {
            Command::Parse(args) => parse::run(args),
            Command::Fmt(args) => fmt::run(args),
            Command::Lint(args) => lint::run(args),
            Command::Route(args) => route::run(args),
        };
    }
    if cli.test || cli.dump {
        return test::run(&cli);
    }
    if let Some(signal) = &cli.signal {
        return serve::signal(&cli, signal);
    }
    serve::run(&cli)
}
