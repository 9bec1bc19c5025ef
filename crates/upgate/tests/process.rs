//! nginx's command line and process model on the real binary: `-V` in the
//! form nginx-tests reads, nginx's option errors, `-e` for startup errors,
//! `daemon on` (detach, pid file, `-s quit`), SIGUSR1 reopening the logs
//! without reading the configuration, `worker_connections` enforced, and,
//! run as root, the privileged master with a worker that serves as `user`
//! and still binds a port below 1024 and creates log files in a root-only
//! directory after a reload. Every wait is bounded; only processes this
//! test started are signalled.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

fn upgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_upgate"));
    c.stdin(Stdio::null());
    c
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("upgate-proc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(dir.join("logs")) {
            panic!("cannot create {}: {e}", dir.display());
        }
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Err(e) = std::fs::write(&p, text) {
            panic!("cannot write {}: {e}", p.display());
        }
        p
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// One GET on a new connection: the body, or `None`.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Stops what a test detached, whatever happened.
struct Detached(PathBuf);

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(pid) = read_pid(&self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}

#[test]
fn version_in_the_form_nginx_tests_reads() {
    let out = upgate().arg("-V").output();
    let Ok(out) = out else {
        panic!("cannot run upgate");
    };
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nginx prints -V on stderr");
    let text = String::from_utf8_lossy(&out.stderr);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("nginx version: nginx/1.28.3 (upgate/"),
        "{first}"
    );
    let configure = text
        .lines()
        .find(|l| l.starts_with("configure arguments:"))
        .unwrap_or_default();
    for absent in ["http_gzip_module", "http_ssi_module"] {
        assert!(
            configure.contains(&format!("--without-{absent}")),
            "{configure}"
        );
    }
    for present in [
        "access",
        "map",
        "rewrite",
        "proxy",
        "upstream_least_conn",
        "upstream_hash",
        "auth_basic",
        "limit_req",
        "limit_conn",
    ] {
        assert!(
            !configure.contains(&format!("http_{present}_mod")),
            "{configure}"
        );
    }
    assert!(configure.contains(" --with-http_ssl_module"));
    assert!(configure.contains(" --with-http_auth_request_module"));
    assert!(
        text.contains("TLS SNI support enabled"),
        "TLS is served: nginx's tests look for SNI"
    );

    let v = upgate()
        .arg("-v")
        .output()
        .map(|o| o.stderr)
        .unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&v).lines().count(), 1);
    let h = upgate()
        .arg("-?")
        .output()
        .map(|o| o.stderr)
        .unwrap_or_default();
    assert!(String::from_utf8_lossy(&h).contains("Usage: upgate [-?hvVtTq]"));
}

#[test]
fn nginx_option_errors() {
    for (args, want) in [
        (&["-x"][..], "upgate: invalid option: \"x\""),
        (&["-tz"][..], "upgate: invalid option: \"z\""),
        (
            &["-s", "restart"][..],
            "upgate: invalid option: \"-s restart\"",
        ),
        (&["-c"][..], "upgate: option \"-c\" requires file name"),
    ] {
        let out = upgate().args(args).output();
        let Ok(out) = out else {
            panic!("cannot run upgate");
        };
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            want,
            "{args:?}"
        );
    }
}

#[test]
fn combined_test_flags() {
    let dir = Scratch::new("tq");
    dir.write(
        "nginx.conf",
        "events {}\nhttp { server { listen 127.0.0.1:1; } }\n",
    );
    let p = format!("{}/", dir.0.display());
    let quiet = upgate()
        .args(["-tq", "-p", &p, "-c", "nginx.conf", "-e", "stderr"])
        .output();
    let Ok(quiet) = quiet else {
        panic!("cannot run upgate");
    };
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let dump = upgate().args(["-qT", "-p", &p, "-cnginx.conf"]).output();
    let Ok(dump) = dump else {
        panic!("cannot run upgate");
    };
    assert!(dump.status.success());
    assert!(String::from_utf8_lossy(&dump.stdout).starts_with("# configuration file "));
}

/// `-e FILE`: the error of a configuration that does not load goes to the
/// file (under the prefix) and to stderr; exit 1.
#[test]
fn startup_errors_go_to_the_e_log() {
    let dir = Scratch::new("e");
    dir.write("nginx.conf", "daemon off;\nevents {}\nbogus;\n");
    let out = upgate()
        .args([
            "-p",
            &format!("{}/", dir.0.display()),
            "-c",
            "nginx.conf",
            "-e",
            "startup.log",
        ])
        .output();
    let Ok(out) = out else {
        panic!("cannot run upgate");
    };
    assert_eq!(out.status.code(), Some(1));
    let log = dir.read("startup.log");
    assert!(
        log.contains("[emerg]")
            && log.contains("unknown directive \"bogus\" in ")
            && log.contains("nginx.conf:3"),
        "{log}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("upgate: [emerg] unknown directive \"bogus\"")
    );
}

/// `daemon on` (the default): the command returns, the pid file names a
/// running detached process that serves; `-s reopen` reopens the logs and
/// reads no configuration; `-s quit` stops it and removes the pid file.
#[test]
fn daemon_reopen_and_quit() {
    let dir = Scratch::new("daemon");
    let port = free_port();
    let d = dir.0.display().to_string();
    let conf = |body: &str| {
        format!(
            "master_process off;\npid {d}/run.pid;\nerror_log {d}/error.log notice;\n\
             events {{}}\nhttp {{ access_log {d}/access.log;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"{body}\"; }} }} }}\n"
        )
    };
    dir.write("nginx.conf", &conf("one"));
    let pid_file = dir.0.join("run.pid");
    let _guard = Detached(pid_file.clone());
    let started = Instant::now();
    let status = upgate().args(["-c", &format!("{d}/nginx.conf")]).status();
    assert!(status.is_ok_and(|s| s.success()), "upgate -c did not start");
    assert!(started.elapsed() < Duration::from_secs(5), "did not detach");
    wait_for("pid file", Duration::from_secs(5), || {
        read_pid(&pid_file).is_some()
    });
    let pid = read_pid(&pid_file).unwrap_or_default();
    // A signal sent as soon as the pid file exists is handled (a reload),
    // never the default action (SIGHUP would end the process).
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    assert!(pid_alive(pid), "an early SIGHUP ended upgate");
    wait_for("serving", Duration::from_secs(5), || {
        get(port, "/").as_deref() == Some("one")
    });

    // Reopen: a rotated access log is replaced by a new file; the changed
    // configuration is not read.
    let _ = std::fs::rename(dir.0.join("access.log"), dir.0.join("access.log.1"));
    dir.write("nginx.conf", &conf("two"));
    let c = format!("{d}/nginx.conf");
    assert!(
        upgate()
            .args(["-s", "reopen", "-c", &c])
            .status()
            .is_ok_and(|s| s.success())
    );
    wait_for("reopened", Duration::from_secs(5), || {
        dir.read("error.log").contains("reopening logs")
    });
    assert_eq!(
        get(port, "/").as_deref(),
        Some("one"),
        "SIGUSR1 must not reload"
    );
    // "reopening logs" is logged before the files are reopened: a request
    // in between is logged in the old file, so ask again until one lands
    // in the new.
    wait_for("new access.log", Duration::from_secs(5), || {
        let _ = get(port, "/");
        dir.read("access.log").contains("GET / ")
    });

    assert!(
        upgate()
            .args(["-sreload", "-c", &c])
            .status()
            .is_ok_and(|s| s.success())
    );
    wait_for("reloaded", Duration::from_secs(5), || {
        get(port, "/").as_deref() == Some("two")
    });

    // nginx's binary upgrade: a notice, nothing else.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGUSR2);
    wait_for("the USR2 notice", Duration::from_secs(5), || {
        let log = dir.read("error.log");
        log.contains("[notice]") && log.contains("upgate does no binary upgrade")
    });
    assert_eq!(get(port, "/").as_deref(), Some("two"));

    assert!(
        upgate()
            .args(["-s", "quit", "-c", &c])
            .status()
            .is_ok_and(|s| s.success())
    );
    wait_for("exit", Duration::from_secs(10), || !pid_alive(pid));
    assert!(!pid_file.exists(), "pid file left behind");
}

/// `worker_connections 4` with one listener: three clients fit; a fourth
/// takes the place of an idle one, and is closed (with nginx's alert) when
/// the three are busy.
#[test]
fn worker_connections_are_enforced() {
    let dir = Scratch::new("wc");
    let port = free_port();
    let d = dir.0.display().to_string();
    dir.write(
        "nginx.conf",
        &format!(
            "daemon off;\nmaster_process off;\npid {d}/run.pid;\nerror_log {d}/error.log notice;\n\
             events {{ worker_connections 4; }}\nhttp {{ access_log off;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200 ok; }} }} }}\n"
        ),
    );
    let child = upgate()
        .args(["-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        panic!("cannot start upgate");
    };
    wait_for("pid file", Duration::from_secs(5), || {
        dir.0.join("run.pid").exists()
    });
    // Connections waiting for their first byte are reusable: nginx closes
    // idle ones to make room (ngx_drain_connections), and so does upgate.
    let idle: Vec<TcpStream> = (0..3)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert_eq!(idle.len(), 3);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        get(port, "/").as_deref(),
        Some("ok"),
        "idle connections were not drained"
    );
    drop(idle);
    std::thread::sleep(Duration::from_millis(200));
    // Connections in the middle of a request head are not: the fourth is
    // closed, and the error log says why.
    let held: Vec<TcpStream> = (0..3)
        .filter_map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.write_all(b"GET / HTTP/1.1\r\n").ok()?;
            Some(s)
        })
        .collect();
    assert_eq!(held.len(), 3);
    std::thread::sleep(Duration::from_millis(200));
    let refused = get(port, "/");
    let end = Instant::now() + Duration::from_secs(5);
    while !dir
        .read("error.log")
        .contains("worker_connections are not enough")
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = dir.read("error.log");
    drop(held);
    wait_for("a slot again", Duration::from_secs(5), || {
        get(port, "/").as_deref() == Some("ok")
    });
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    );
    let _ = child.wait();
    assert_eq!(refused, None, "the connection over the limit was served");
    assert!(
        log.contains("[alert]") && log.contains("4 worker_connections are not enough"),
        "{log}"
    );
}

/// The pids whose parent is `parent`.
fn children(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("PPid:"))
                        .and_then(|l| l[5..].trim().parse::<i32>().ok())
                })
                == Some(parent)
        })
        .collect()
}

fn uid_of(pid: i32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// A port below 1024 that nothing listens on (we are root here).
fn free_low_port() -> Option<u16> {
    (900..1000).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
}

/// Run as root (CI is): the master stays root, the worker serves as
/// nobody; a reload binds a port below 1024 and creates a log file in a
/// root-only directory through the master. Not root: `user` is ignored
/// with nginx's warning.
#[test]
fn user_switch_keeps_the_master_privileged() {
    let dir = Scratch::new("user");
    let port = free_port();
    let d = dir.0.display().to_string();
    let private = dir.0.join("private");
    let _ = std::fs::create_dir_all(&private);
    let root = nix::unistd::geteuid().is_root();
    if !root {
        dir.write("nginx.conf", "user nobody nogroup;\nevents {}\n");
        let out = upgate()
            .args(["-t", "-c", &format!("{d}/nginx.conf")])
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        assert!(text.contains("the \"user\" directive makes sense only if the master process runs with super-user privileges, ignored"), "{text}");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755));
    let _ = std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700));
    let Some(low) = free_low_port() else {
        panic!("no free port below 1024");
    };
    let conf = |extra: &str| {
        format!(
            "user nobody nogroup;\npid {d}/run.pid;\nerror_log {d}/error.log notice;\nevents {{}}\n\
             http {{ access_log off;\n server {{ listen 127.0.0.1:{port}; {extra}\n\
             location / {{ return 200 \"as $remote_addr\"; }} }} }}\n"
        )
    };
    dir.write("nginx.conf", &conf(""));
    let pid_file = dir.0.join("run.pid");
    let _guard = Detached(pid_file.clone());
    let c = format!("{d}/nginx.conf");
    assert!(
        upgate()
            .args(["-c", &c])
            .status()
            .is_ok_and(|s| s.success())
    );
    wait_for("pid file", Duration::from_secs(5), || {
        read_pid(&pid_file).is_some()
    });
    let master = read_pid(&pid_file).unwrap_or_default();
    // An early SIGHUP waits until the worker can take it.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(master), Signal::SIGHUP);
    wait_for("serving", Duration::from_secs(5), || {
        get(port, "/").is_some()
    });
    let workers = children(master);
    assert_eq!(workers.len(), 1, "one worker: {workers:?}");
    wait_for("the early reload", Duration::from_secs(5), || {
        dir.read("error.log").contains("signal 1 (SIGHUP) received")
    });
    assert!(
        !dir.read("error.log").contains("exited on signal"),
        "{}",
        dir.read("error.log")
    );
    assert_eq!(uid_of(master), Some(0), "the master stays root");
    assert_eq!(
        uid_of(workers[0]),
        Some(65534),
        "the worker serves as nobody"
    );

    // A reload that needs root: a port below 1024 and a new log file in a
    // directory only root may write.
    let extra = format!("listen 127.0.0.1:{low}; access_log {d}/private/access.log;");
    dir.write("nginx.conf", &conf(&extra));
    assert!(
        upgate()
            .args(["-s", "reload", "-c", &c])
            .status()
            .is_ok_and(|s| s.success())
    );
    wait_for("the low port", Duration::from_secs(5), || {
        get(low, "/").is_some()
    });
    wait_for("the private log", Duration::from_secs(5), || {
        std::fs::read_to_string(private.join("access.log")).is_ok_and(|t| t.contains("GET /"))
    });
    assert!(
        !dir.read("error.log").contains("[emerg]"),
        "{}",
        dir.read("error.log")
    );

    // A worker that dies is replaced (nginx's respawn), with every listener.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(workers[0]), Signal::SIGKILL);
    wait_for("a new worker", Duration::from_secs(5), || {
        children(master)
            .iter()
            .any(|w| *w != workers[0] && uid_of(*w) == Some(65534))
    });
    wait_for("serving again", Duration::from_secs(5), || {
        get(port, "/").is_some() && get(low, "/").is_some()
    });
    let exited = format!("worker process {} exited on signal 9", workers[0]);
    assert!(
        dir.read("error.log").contains(&exited),
        "{}",
        dir.read("error.log")
    );
    let worker = children(master)
        .into_iter()
        .find(|w| *w != workers[0])
        .unwrap_or_default();

    assert!(
        upgate()
            .args(["-s", "quit", "-c", &c])
            .status()
            .is_ok_and(|s| s.success())
    );
    wait_for("exit", Duration::from_secs(10), || {
        !pid_alive(master) && !pid_alive(worker)
    });
    assert!(!pid_file.exists(), "pid file left behind");
}
