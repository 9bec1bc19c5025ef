//! One module per command; `run` picks it from the flags.

mod test;

use std::process::ExitCode;

use crate::cli::Cli;

pub fn run(cli: Cli) -> ExitCode {
    if cli.version || cli.version_long {
        print_version(cli.version_long);
        if !(cli.test || cli.dump) {
            return ExitCode::SUCCESS;
        }
    }
    if let Some(command) = cli.command {
        match command {}
    }
    if cli.test || cli.dump {
        return test::run(&cli);
    }
    eprintln!("upgate: serving traffic is not built yet; use -t to check a configuration");
    ExitCode::from(2)
}

fn print_version(long: bool) {
    eprintln!("upgate version: upgate/{}", env!("CARGO_PKG_VERSION"));
    if long {
        eprintln!(
            "reads nginx configuration: directive table from nginx {}",
            upgate_conf::directives::NGINX_VERSION
        );
    }
}
