//! Serve only what is enforced (issue 10, section 1): a configuration with
//! a directive that decides who gets in, what they may send or where a
//! request goes, and that upgate does not enforce yet, is refused by
//! `upgate -c` (exit 1, `[emerg] "NAME" is not enforced by upgate yet in
//! FILE:LINE`, nothing bound) and passes `upgate -t` with the same line as
//! `[warn]`. nginx accepts every one of these files (checked with `nginx -t`
//! when Debian's nginx is installed; CI installs it). Directives that only
//! change the response are served with a warning; tuning is listed by `-t`.

mod common;

use std::ffi::OsStr;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{TempDir, find_on_path, run_bounded};

/// Runs upgate with `args` (bounded); its success and stderr.
fn upgate<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String) {
    let run = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_upgate")).args(args),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (
        run.success,
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn nginx() -> Option<PathBuf> {
    find_on_path("nginx").or_else(|| {
        let p = PathBuf::from("/usr/sbin/nginx");
        p.is_file().then_some(p)
    })
}

/// One must-not-be-ignored use: what goes in `http {}`, in the server and
/// in `location /`, and the name the refusal quotes.
struct Case {
    refused: &'static str,
    http: &'static str,
    server: &'static str,
    location: &'static str,
    /// nginx -t needs files this test does not make (certificates).
    nginx_checks: bool,
}

const CASES: &[Case] = &[
    Case {
        refused: "secure_link",
        http: "",
        server: "",
        location: "secure_link $arg_md5,$arg_expires;",
        nginx_checks: true,
    },
    Case {
        refused: "proxy_ssl_conf_command",
        http: "",
        server: "",
        location: "proxy_ssl_conf_command Options -SessionTicket;",
        nginx_checks: true,
    },
    Case {
        refused: "proxy_ssl_password_file",
        http: "",
        server: "",
        location: "proxy_ssl_password_file passwords.txt;",
        nginx_checks: false,
    },
    Case {
        // TLS is served; OCSP stapling is not yet.
        refused: "ssl_stapling",
        http: "",
        server: "listen 127.0.0.1:1 ssl; ssl_certificate c.pem; ssl_certificate_key k.pem; ssl_stapling on;",
        location: "",
        nginx_checks: false,
    },
    Case {
        refused: "proxy_ssl_certificate with variables",
        http: "",
        server: "",
        location: "proxy_ssl_certificate $host.pem; proxy_ssl_certificate_key $host.key;",
        nginx_checks: false,
    },
];

const BACKEND: u16 = 9;

fn config(case: &Case, port: u16) -> String {
    format!(
        "daemon off;\nevents {{}}\nhttp {{\n    access_log off;\n    {}\n    server {{\n        listen 127.0.0.1:{port};\n        {}\n        location / {{\n            {}\n            proxy_pass http://127.0.0.1:{BACKEND};\n        }}\n    }}\n}}\n",
        case.http, case.server, case.location
    )
}

/// `c.pem` and `k.pem` in `dir`: `-t` loads a TLS server's certificate
/// as nginx -t does, so the refusal of what follows it needs a real one.
fn certificate(dir: &Path) {
    let run = run_bounded(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=x"])
            .arg("-keyout")
            .arg(dir.join("k.pem"))
            .arg("-out")
            .arg(dir.join("c.pem")),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("openssl is needed for this test: {e}"));
    assert!(run.success, "openssl req failed");
}

/// The line of `text` that holds `needle` (1-based).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("nginx.conf");
    if let Err(e) = std::fs::write(&path, text) {
        panic!("write {}: {e}", path.display());
    }
    path
}

#[test]
fn must_not_be_ignored_directives_are_refused_by_c_and_warned_by_t() {
    // A missing reference fails the test, never skips it (`cargo xtask test`
    // installs Debian's nginx).
    let Some(nginx) = nginx() else {
        panic!("Debian's nginx is needed for the nginx -t half of this test");
    };
    for case in CASES {
        let dir = match TempDir::new("fail-closed") {
            Ok(d) => d,
            Err(e) => panic!("temp dir: {e}"),
        };
        let port = free_port();
        let text = config(case, port);
        let conf = write(dir.path(), &text);
        if case.server.contains("c.pem") {
            certificate(dir.path());
        }
        let directive = case.refused.split(' ').next().unwrap_or(case.refused);
        let needle = format!("{directive} ");
        let line = line_of(&text, &needle);
        let expected = format!(
            "\"{}\" is not enforced by upgate yet in {}:{line}",
            case.refused,
            conf.display()
        );

        let (prefix, file) = (dir.path().as_os_str(), conf.as_os_str());
        let (served, stderr) = upgate(&[OsStr::new("-p"), prefix, OsStr::new("-c"), file]);
        assert!(!served, "upgate -c served {}:\n{text}", case.refused);
        assert!(
            stderr.contains(&format!("[emerg] {expected}")),
            "{}: stderr lacks the [emerg] line `{expected}`:\n{stderr}",
            case.refused
        );
        assert!(
            TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(300)
            )
            .is_err(),
            "{}: something listens on {port} after a refused start",
            case.refused
        );

        let (ok, stderr) = upgate(&[
            OsStr::new("-t"),
            OsStr::new("-p"),
            prefix,
            OsStr::new("-c"),
            file,
        ]);
        assert!(ok, "{}: upgate -t failed:\n{stderr}", case.refused);
        assert!(
            stderr.contains(&format!("[warn] {expected}")),
            "{}: upgate -t lacks `[warn] {expected}`:\n{stderr}",
            case.refused
        );

        if case.nginx_checks {
            let for_nginx = text.replace("daemon off;\n", "daemon off;\npid nginx.pid;\n");
            let conf = write(dir.path(), &for_nginx);
            std::fs::create_dir_all(dir.path().join("logs")).ok();
            let run = run_bounded(
                Command::new(&nginx)
                    .arg("-t")
                    .arg("-p")
                    .arg(dir.path())
                    .arg("-e")
                    .arg("stderr")
                    .arg("-c")
                    .arg(&conf),
                Duration::from_secs(20),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                run.success,
                "nginx -t rejects the {} case, so it proves nothing:\n{}",
                case.refused,
                String::from_utf8_lossy(&run.stderr)
            );
        }
    }
}

#[test]
fn off_values_and_response_transforms_start() {
    let dir = match TempDir::new("fail-closed-ok") {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    let text = "events {}\nhttp {\n    sendfile on;\n    gzip on;\n    charset utf-8;\n    auth_basic off;\n    ssl_protocols TLSv1.2;\n    server {\n        listen 127.0.0.1:1;\n        location / { return 200 ok; }\n    }\n}\n";
    let conf = write(dir.path(), text);
    let (prefix, file) = (dir.path().as_os_str(), conf.as_os_str());
    let (ok, stderr) = upgate(&[
        OsStr::new("-t"),
        OsStr::new("-p"),
        prefix,
        OsStr::new("-c"),
        file,
    ]);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("would refuse"), "{stderr}");
    let name = conf.display();
    assert!(
        stderr.contains(&format!(
            "[warn] \"gzip\" is ignored by upgate: responses are sent uncompressed in {name}:4"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("[warn] \"charset\" is ignored by upgate"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "[info] ignored, no effect on what clients get, in {name}: sendfile (3), auth_basic (6)"
        )),
        "{stderr}"
    );
    // -q keeps the warnings and drops the list of harmless directives.
    let (ok, stderr) = upgate(&[
        OsStr::new("-tq"),
        OsStr::new("-p"),
        prefix,
        OsStr::new("-c"),
        file,
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("\"gzip\" is ignored"), "{stderr}");
    assert!(
        !stderr.contains("no effect on what clients get"),
        "{stderr}"
    );
}

/// The seed configurations users start from all start (nothing in them is
/// refused).
#[test]
fn seed_configs_are_not_refused() {
    let seeds = common::shared_dir().join("seed-configs");
    let entries = match std::fs::read_dir(&seeds) {
        Ok(e) => e,
        Err(e) => panic!("{}: {e}", seeds.display()),
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let (_, stderr) = upgate(&[OsStr::new("-t"), path.as_os_str()]);
        assert!(
            !stderr.contains("would refuse"),
            "{}:\n{stderr}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 6, "only {n} seed configs in {}", seeds.display());
}

/// Copies Debian's /etc/nginx into `dir` with its absolute paths moved under
/// `dir` and its listen lines on `port` of 127.0.0.1 and ::1, the document
/// root (/var/www/html) left where it is.
fn relocated_debian_conf(dir: &Path, port: u16) -> PathBuf {
    let etc = Path::new("/etc/nginx");
    if let Err(e) = common::copy_tree(etc, &dir.join("etc")) {
        panic!("copy {}: {e}", etc.display());
    }
    std::fs::create_dir_all(dir.join("logs")).ok();
    let here = dir.display().to_string();
    let relocate = |text: String| {
        text.replace("/etc/nginx/", &format!("{here}/etc/"))
            .replace("/var/log/nginx/", &format!("{here}/logs/"))
            .replace("/run/nginx.pid", &format!("{here}/nginx.pid"))
            .replace("listen 80 ", &format!("listen 127.0.0.1:{port} "))
            .replace("listen [::]:80 ", &format!("listen [::1]:{port} "))
    };
    for rel in ["etc/nginx.conf", "etc/sites-enabled/default"] {
        let path = dir.join(rel);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, relocate(text)) {
            panic!("write {}: {e}", path.display());
        }
    }
    dir.join("etc/nginx.conf")
}

/// The status line, Content-Type and body of a GET on 127.0.0.1:`port`,
/// waiting (bounded) for the server to listen.
fn get(port: u16, target: &str) -> (String, Option<String>, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() > deadline => panic!("connect {addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {target} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()) {
        panic!("write: {e}");
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head.lines().next().unwrap_or_default().to_string();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .map(str::to_string);
    (status, content_type, body)
}

/// Stops the server on drop: SIGTERM, so that a master stops its workers
/// (SIGKILL would leave them running), then SIGKILL after 5 s.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's default nginx.conf and sites-enabled/default start under upgate
/// and its welcome page, a missing file and a directory answer as under
/// Debian's nginx (See: #10).
#[test]
fn debian_default_site_answers_as_nginx_does() {
    let Some(nginx) = nginx() else {
        panic!("Debian's nginx is needed to compare its default site");
    };
    if !Path::new("/etc/nginx/sites-enabled/default").is_file() {
        panic!("Debian's nginx package is installed without its default site");
    }
    let (ud, nd) = match (TempDir::new("debian-upgate"), TempDir::new("debian-nginx")) {
        (Ok(a), Ok(b)) => (a, b),
        _ => panic!("temp dirs"),
    };
    let (up, np) = (free_port(), free_port());
    let uconf = relocated_debian_conf(ud.path(), up);
    let nconf = relocated_debian_conf(nd.path(), np);
    let start = |bin: &Path, dir: &Path, conf: &Path| match Command::new(bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(conf)
        .arg("-g")
        .arg("daemon off;")
        .stdin(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => Running(c),
        Err(e) => panic!("start {}: {e}", bin.display()),
    };
    let mut ours = start(Path::new(env!("CARGO_BIN_EXE_upgate")), ud.path(), &uconf);
    let _n = start(&nginx, nd.path(), &nconf);
    get(up, "/");
    // `-g 'daemon off;'` keeps it in the foreground, as nginx (docker's
    // usual command line): the process started is the one serving.
    assert!(
        matches!(ours.0.try_wait(), Ok(None)),
        "upgate -g 'daemon off;' went to the background"
    );
    for target in ["/", "/index.nginx-debian.html", "/missing", "/..%2f"] {
        let ours = get(up, target);
        let theirs = get(np, target);
        assert_eq!(ours.0, theirs.0, "status of GET {target}");
        assert_eq!(ours.1, theirs.1, "Content-Type of GET {target}");
        if ours.0.contains(" 200 ") {
            assert_eq!(ours.2, theirs.2, "body of GET {target}");
        }
    }
    assert!(get(up, "/").2.windows(16).any(|w| w == b"Welcome to nginx"));
}

/// A reload into a configuration with a refused directive is refused like
/// a start: the `[emerg]` line goes to the error log and the running
/// configuration goes on serving.
#[test]
fn reload_with_a_refused_directive_keeps_the_old_configuration() {
    let dir = match TempDir::new("fail-closed-reload") {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    std::fs::create_dir_all(dir.path().join("logs")).ok();
    let port = free_port();
    let conf_text = |location: &str| {
        format!(
            "daemon off;\nmaster_process off;\npid nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:{port};\n        location / {{\n            {location}\n        }}\n    }}\n}}\n"
        )
    };
    let conf = write(dir.path(), &conf_text("return 200 \"v1\\n\";"));
    let server = match Command::new(env!("CARGO_BIN_EXE_upgate"))
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => Running(c),
        Err(e) => panic!("start upgate: {e}"),
    };
    assert_eq!(get(port, "/").2, b"v1\n");
    write(
        dir.path(),
        &conf_text("secure_link $arg_md5;\n            return 200 \"v2\\n\";"),
    );
    let pid = server.0.id().to_string();
    let _ = Command::new("kill").args(["-HUP", &pid]).status();
    let log = dir.path().join("logs/error.log");
    let expected = format!(
        "[emerg] {}#{}: \"secure_link\" is not enforced by upgate yet in {}:11",
        pid,
        pid,
        conf.display()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while std::time::Instant::now() < deadline {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(&expected) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        text.contains(&expected),
        "error.log lacks `{expected}`:\n{text}"
    );
    assert_eq!(
        get(port, "/").2,
        b"v1\n",
        "the refused configuration took over"
    );
}
