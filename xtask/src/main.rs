//! Project automation for upgate, run as `cargo xtask <command> [args]`.
//!
//! The `xtask` alias lives in `.cargo/config.toml`. Each command is a module of
//! this crate with a `run(args) -> Result<(), String>` entry point; `main` only
//! dispatches on the first argument, so adding a command means adding a module,
//! a match arm and a line of usage text.

mod bench;
mod cargo;
mod conformance;
mod demo;
mod directives;
mod docs;
mod fuzz;
mod soak;
mod test;

use std::ffi::OsString;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  bench        upgate against Debian's nginx on one generated nginx.conf, each
               pinned to CPU 0, load and backends on CPU 1: HTTP keepalive (wrk),
               WebSocket echo and handshakes, per proxy CPU-second, bytes per idle
               tunnel, -t on the 5,000-server config, 2 workers, TLS, access
               control; medians of 3 passes against issue 13's goals. A table on
               stdout, JSON in target/bench/, the chart docs/bench/latest.svg.
               (`--quick`: under 2 minutes; `--runs N`, `--seconds S`,
               `--tunnels N`, `--conns N`, `--no-pin`;
               `--svg-from FILE`: redraw the chart from a saved JSON)
  bench parse  only the -t rows, plus 5,000 included files and crossplane
  bench tls    only TLS handshakes/s, wss echo and bytes per idle wss tunnel
  bench access only the plain HTTP/WebSocket rows and the same through a
               location with allow/deny, limit_req and auth_basic
  bench pragmas only the WebSocket rows and WS echo through a location with
               upgate's `# upgate:` pragmas (frame-aware tunnels)
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
               missing, then fmt, clippy, every test, a build of the criterion
               benchmarks and the passing files of nginx's own test suite
               (`--no-install`, `--skip-nginx-tests`)
  fuzz         the cargo-fuzz targets of fuzz/ (`TARGET ...` or `all`), one after
               the other, each for `--time SECS` (default 60) or `--runs N`
               executions, `--jobs N` child fuzzers (libFuzzer's -fork, default 1),
               `--sanitizer address|none` (default address); scratch corpora in target/fuzz-corpus/, crashes in
               target/fuzz/artifacts/, figures in target/fuzz/summary.json and a
               table on stdout (needs `cargo install cargo-fuzz`)
  soak         the release upgate for `--minutes N` (default 30) under `--tunnels N`
               (default 10,000) WebSocket tunnels with traffic and HTTP load, a reload
               every minute, backends restarted every three; resident memory and
               descriptors sampled, flat within 5 % or it fails; target/soak/soak.json
               and soak.svg (`--quick`: 2 minutes, 500 tunnels)
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
        "fuzz" => fuzz::run(rest),
        "soak" => soak::run(rest),
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
