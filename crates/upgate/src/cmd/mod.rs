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
    if cli.version || cli.version_long {
        print_version(cli.version_long);
        if !(cli.test || cli.dump) {
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

fn print_version(long: bool) {
    eprintln!("upgate version: upgate/{}", env!("CARGO_PKG_VERSION"));
    if long {
        eprintln!(
            "reads nginx configuration: directive table from nginx {}",
            upgate_conf::directives::NGINX_VERSION
        );
        // TEMPORARY (wt-core): tells the nginx-tests harness that the
        // realip module exists; wt-process owns the real -V line.
        eprintln!("configure arguments: --with-http_realip_module");
    }
}
