//! `upgate -t` on `proxy_ssl_*` as `nginx -t` (Debian's nginx; the test
//! fails without it): the files a location proxying to https needs are
//! read by the check, so a missing trusted certificate or client
//! certificate fails both, with nginx's `[emerg]` text (upgate adds where).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{TempDir, run_bounded};

fn nginx() -> PathBuf {
    let p = PathBuf::from("/usr/sbin/nginx");
    if !p.is_file() {
        panic!("Debian's nginx is needed for this test (apt-get install nginx)");
    }
    p
}

/// `-t` with `bin`: success and stderr.
fn check(bin: &Path, dir: &Path, conf: &Path) -> (bool, String) {
    let run = run_bounded(
        Command::new(bin)
            .arg("-t")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(conf),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (
        run.success,
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

/// The text after `[emerg] ` (nginx puts a pid first).
fn emerg(stderr: &str) -> String {
    let line = stderr.lines().find(|l| l.contains("[emerg]")).unwrap_or("");
    let text = line.split_once("[emerg] ").map_or("", |(_, t)| t);
    let text = match text.split_once(": ") {
        Some((pid, rest)) if pid.contains('#') => rest,
        _ => text,
    };
    text.to_string()
}

#[test]
fn missing_files_fail_the_check_as_in_nginx() {
    let nginx = nginx();
    let dir = TempDir::new("proxy-ssl-check").unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().display();
    for (location, same_text) in [
        ("proxy_ssl_verify on;", true),
        (
            "proxy_ssl_verify on; proxy_ssl_trusted_certificate empty.crt;",
            true,
        ),
        (
            "proxy_ssl_certificate missing.crt; proxy_ssl_certificate_key missing.key;",
            false,
        ),
    ] {
        let _ = std::fs::write(dir.path().join("empty.crt"), "nothing\n");
        let text = format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    proxy_temp_path {d}/proxy;\n    client_body_temp_path {d}/body;\n    server {{\n        listen 127.0.0.1:1;\n        location / {{\n            proxy_pass https://127.0.0.1:1;\n            {location}\n        }}\n    }}\n}}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, &text).unwrap_or_else(|e| panic!("{e}"));
        let (n_ok, n_err) = check(&nginx, dir.path(), &conf);
        let (u_ok, u_err) = check(Path::new(env!("CARGO_BIN_EXE_upgate")), dir.path(), &conf);
        assert!(
            !n_ok && !u_ok,
            "{location}: nginx {n_ok}, upgate {u_ok}\n{n_err}\n{u_err}"
        );
        let (n, u) = (emerg(&n_err), emerg(&u_err));
        assert!(!n.is_empty() && !u.is_empty(), "{n_err}\n{u_err}");
        if same_text {
            assert!(
                u.starts_with(&n),
                "{location}:\n  nginx:  {n}\n  upgate: {u}"
            );
        }
    }
}
