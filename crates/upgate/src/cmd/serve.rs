//! `upgate -c FILE` serves the configuration (upgate-proxy does the work);
//! `upgate -s stop|quit|reload|reopen` signals the running process through
//! the configuration's `pid` file, like `nginx -s` (`ngx_signal_process`).

use std::process::ExitCode;

use crate::cli::Cli;

pub fn run(cli: &Cli) -> ExitCode {
    let options = super::test::load_options(cli);
    match upgate_proxy::serve::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            for text in message.lines() {
                eprintln!("upgate: [emerg] {text}");
            }
            ExitCode::FAILURE
        }
    }
}

pub fn signal(cli: &Cli, name: &str) -> ExitCode {
    let options = super::test::load_options(cli);
    let loaded = upgate_conf::load(&options);
    if let Some(e) = &loaded.error {
        eprintln!("upgate: [emerg] {}", e.nginx_text(&loaded.config.sources));
        return ExitCode::FAILURE;
    }
    let Some(pid_path) = upgate_proxy::reload::main_arg(&loaded.config, "pid") else {
        eprintln!(
            "upgate: [error] the configuration has no \"pid\" directive: no process to signal"
        );
        return ExitCode::FAILURE;
    };
    let pid_path = options.prefix.join(pid_path);
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
    let sig = match name {
        "stop" => "TERM",
        "quit" => "QUIT",
        "reopen" => "USR1",
        _ => "HUP",
    };
    match std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(&pid)
        .status()
    {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("upgate: [error] kill({pid}, SIG{sig}) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("upgate: [error] kill({pid}, SIG{sig}) failed ({e})");
            ExitCode::FAILURE
        }
    }
}
