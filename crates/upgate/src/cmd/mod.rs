//! One module per command; `run` picks it from the flags.

mod fmt;
mod lint;
mod parse;
mod route;
mod serve;
mod test;
mod top;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use upgate_conf::fs::Root;

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
            Command::Top(args) => top::run(args),
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

/// The name a FILE of the command line has in the configuration read with
/// `--root`. A relative FILE is a name on this machine (what a shell or
/// pre-commit passes), while the configuration's names are the target
/// machine's: a file inside the root's directory is given its name there
/// (`etc/nginx/nginx.conf` under `--root .` is `/etc/nginx/nginx.conf`), so
/// that it is read at all and its relative includes resolve from
/// /etc/nginx/ as nginx's would. Anything else is left as it was named.
pub fn name_under_root(root: Option<&Root>, file: &Path) -> PathBuf {
    let Some(root) = root else {
        return file.to_path_buf();
    };
    if file.is_absolute() {
        return file.to_path_buf();
    }
    let (Ok(real), Ok(to)) = (std::fs::canonicalize(file), std::fs::canonicalize(&root.to)) else {
        return file.to_path_buf();
    };
    match real.strip_prefix(&to) {
        Ok(inside) => root.from.join(inside),
        Err(_) => file.to_path_buf(),
    }
}
