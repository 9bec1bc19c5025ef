//! Project automation for upgate, run as `cargo xtask <command> [args]`.
//!
//! The `xtask` alias lives in `.cargo/config.toml`. Each command is a module of
//! this crate with a `run(args) -> Result<(), String>` entry point; `main` only
//! dispatches on the first argument, so adding a command means adding a module,
//! a match arm and a line of usage text.

mod bench;
mod conformance;
mod demo;
mod directives;
mod docs;
mod test;

use std::ffi::OsString;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  bench parse  upgate -t / parse against nginx -t and crossplane on the big config
  bench tls    TLS handshakes/s, wss echo/s and bytes per idle wss tunnel, upgate
               against nginx (`--runs N`, `--seconds S`, `--tunnels N`, `--conns N`,
               `--pin`)
  bench access HTTP requests/s and WebSocket handshakes/s through a location with
               allow/deny, limit_req and auth_basic, upgate against nginx
               (`--runs N`, `--seconds S`, `--conns N`, `--pin`)
  conformance  the same traffic through nginx and upgate, compared byte for byte
               (`--cases N`, `--verbose`)
  demo         start the example backends and upgate on examples/nginx.conf
               (`demo client [ws://URL]`: a tiny WebSocket client)
  directives   regenerate crates/conf/src/directives/table.rs from nginx's source
               (`cargo xtask directives --help` for its options)
  docs         regenerate docs/compatibility.md from the directive table
               (`--check`: fail if it is stale)
  test         what CI runs, on a fresh machine: installs Debian's nginx, the perl
               modules of nginx's test suite, openssl, sslscan, chromium and
               chromium-driver, crossplane and selenium (into target/) when
               missing, then fmt, clippy, every test and the passing files of
               nginx's own test suite (`--no-install`, `--skip-nginx-tests`)
  help         print this message";

fn main() -> ExitCode {
    let args = match std::env::args_os()
        .skip(1)
        .map(OsString::into_string)
        .collect::<Result<Vec<String>, OsString>>()
    {
        Ok(args) => args,
        Err(bad) => {
            eprintln!("error: argument {bad:?} is not valid UTF-8");
            return ExitCode::from(2);
        }
    };

    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };

    let result = match command.as_str() {
        "bench" => bench::run(rest),
        "conformance" => conformance::run(rest),
        "demo" => demo::run(rest),
        "directives" => directives::run(rest),
        "docs" => docs::run(rest),
        "test" => test::run(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("error: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
