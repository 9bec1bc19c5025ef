//! `upgate -c FILE` serves the configuration (upgate-proxy does the work);
//! `upgate -s stop|quit|reload|reopen` signals the running process through
//! the configuration's `pid` file, like `nginx -s` (`ngx_signal_process`).

use std::process::ExitCode;

use crate::cli::Cli;

pub fn run(cli: &Cli) -> ExitCode {
    let options = super::test::load_options(cli);
    // -e FILE is under the prefix, as nginx's `ngx_log_init` puts it.
    let startup_log = cli
        .startup_log()
        .map(|f| upgate_conf::fs::full_name(&options.prefix, std::path::Path::new(f)));
    if upgate_proxy::serve::run(options, startup_log, cli.metrics) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub fn signal(cli: &Cli, name: &str) -> ExitCode {
    let options = super::test::load_options(cli);
    let loaded = upgate_conf::load(&options);
    if let Some(e) = &loaded.error {
        eprintln!("upgate: [emerg] {}", e.nginx_text(&loaded.config.sources));
        return ExitCode::FAILURE;
    }
    let pid_path = upgate_proxy::process::MainConf::read(&loaded.config, &options.prefix).pid;
    let pid = match std::fs::read_to_string(&pid_path) {
        Ok(text) => text.trim().to_string(),
        Err(e) => {
            eprintln!(
                "upgate: [error] open() \"{}\" failed ({e})",
                pid_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        eprintln!(
            "upgate: [error] invalid PID number \"{pid}\" in \"{}\"",
            pid_path.display()
        );
        return ExitCode::FAILURE;
    }
    use nix::sys::signal::{Signal, kill};
    let sig = match name {
        "stop" => Signal::SIGTERM,
        "quit" => Signal::SIGQUIT,
        "reopen" => Signal::SIGUSR1,
        _ => Signal::SIGHUP,
    };
    let Ok(number) = pid.parse::<i32>() else {
        eprintln!(
            "upgate: [error] invalid PID number \"{pid}\" in \"{}\"",
            pid_path.display()
        );
        return ExitCode::FAILURE;
    };
    match kill(nix::unistd::Pid::from_raw(number), sig) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "upgate: [alert] kill({pid}, {}) failed ({}: {})",
                sig as i32,
                e as i32,
                e.desc()
            );
            ExitCode::FAILURE
        }
    }
}
