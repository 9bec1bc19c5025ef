//! `cargo xtask bench tls`: upgate against Debian's nginx on the same
//! machine, from the same configuration text (`worker_processes 1`,
//! `master_process off`, each in its own temp prefix, `ssl_protocols
//! TLSv1.2 TLSv1.3` so that nginx 1.22 offers 1.3):
//!
//! - full TLS 1.3 handshakes per second (no resumption), with an ECDSA
//!   P-256 certificate and with an RSA 2048 one: N clients doing connect,
//!   handshake, close for a fixed time;
//! - wss echo messages per second, 64 B and 16 KiB, over K connections
//!   through the proxy to a plain ws echo backend (in this process);
//! - bytes per idle wss tunnel: 5,000 tunnels opened through the proxy,
//!   then the server's resident memory (VmRSS of the process and its
//!   children) minus what it held before, divided by 5,000.
//!
//! Medians of 3 alternating runs (each on a fresh server), printed as a
//! Markdown table `metric | upgate | nginx | ratio` (ratio =
//! upgate / nginx). The goal: handshakes and echo >= 1.0x, bytes per
//! tunnel <= 0.5x. Options: `--runs N`, `--seconds S` (per timed load),
//! `--tunnels N`, `--conns N`, `--pin`.
//!
//! `--pin` (two CPUs or more, `taskset` of util-linux): each server runs
//! pinned to CPU 0 and the bench process (clients, ws backend) to the
//! others, so that both servers get one core whatever threads they start.
//! Off by default: on two CPUs it leaves the clients one core, and they
//! become the bottleneck (with worker_processes 1, upgate runs one tokio
//! worker thread beside its idle main thread, nginx one process).
//!
//! Needs nginx and openssl (RSA keys; ring generates none). Raises its
//! RLIMIT_NOFILE to the hard limit (higher as root), which both servers
//! inherit; the configuration sets `worker_rlimit_nofile` and
//! `worker_connections` to match.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench_tls_load::{self as load, Rate};

/// The options of the load benchmarks (`tunnels` is bench tls's only).
pub(crate) struct Options {
    pub pin: bool,
    pub runs: usize,
    pub seconds: u64,
    pub tunnels: usize,
    pub conns: usize,
}

impl Options {
    /// `--runs N`, `--seconds S`, `--conns N`, `--pin`, and `--tunnels N`
    /// where `tunnels` is accepted, over `self`'s defaults.
    pub(crate) fn parse(
        mut self,
        bench: &str,
        args: &[String],
        tunnels: bool,
    ) -> Result<Self, String> {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| -> Result<usize, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or(format!("bench {bench}: {name} wants a number"))
            };
            match a.as_str() {
                "--runs" => self.runs = value("--runs")?.max(1),
                "--seconds" => self.seconds = value("--seconds")?.max(1) as u64,
                "--tunnels" if tunnels => self.tunnels = value("--tunnels")?.max(1),
                "--conns" => self.conns = value("--conns")?.max(1),
                "--pin" => self.pin = true,
                other => return Err(format!("bench {bench}: unknown option {other:?}")),
            }
        }
        Ok(self)
    }
}

/// What a load benchmark needs before it starts: the open files it asks
/// for, the pinning, both binaries (upgate built in release) and a fresh
/// work directory.
pub(crate) fn prepare(
    root: &Path,
    bench: &str,
    options: &Options,
    nofile: usize,
) -> Result<([PathBuf; 2], PathBuf), String> {
    raise_nofile(nofile)?;
    if options.pin && !pin_self() {
        return Err("--pin needs two CPUs and taskset (util-linux)".into());
    }
    let upgate = build_upgate(root)?;
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("nginx is not installed (apt-get install nginx)")?;
    let work = std::env::temp_dir().join(format!("upgate-bench-{bench}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    Ok(([nginx.into(), upgate], work))
}

/// Runs `bench` on a multi-thread tokio runtime.
pub(crate) fn block_on<F: std::future::Future<Output = Result<(), String>>>(
    bench: F,
) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?
        .block_on(bench)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if cfg!(debug_assertions) {
        return rerun_optimized(&root, "tls", args);
    }
    let options = Options {
        pin: false,
        runs: 3,
        seconds: 5,
        tunnels: 5000,
        conns: 32,
    }
    .parse("tls", args, true)?;
    let (binaries, work) = prepare(&root, "tls", &options, options.tunnels * 3 + 4096)?;
    let result = block_on(bench(&work, &binaries, &options));
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The load clients share the machine with the servers: an unoptimized
/// client would measure itself. `cargo xtask` builds xtask in the dev
/// profile, so this builds it with `--release` and runs that.
pub(crate) fn rerun_optimized(root: &Path, bench: &str, args: &[String]) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "xtask"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p xtask failed".into());
    }
    let xtask = target_dir(root).join("release/xtask");
    let status = Command::new(&xtask)
        .args(["bench", bench])
        .args(args)
        .status()
        .map_err(|e| format!("{}: {e}", xtask.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} bench {bench} failed ({status})",
            xtask.display()
        ))
    }
}

pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Moves this process (and the threads it starts later) off CPU 0; false
/// when there is one CPU or no taskset.
pub(crate) fn pin_self() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return false;
    }
    Command::new("taskset")
        .args(["-p", "-c", &format!("1-{}", cpus - 1)])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn build_upgate(root: &Path) -> Result<PathBuf, String> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "upgate"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p upgate failed".into());
    }
    Ok(target_dir(root).join("release/upgate"))
}

/// Soft RLIMIT_NOFILE to at least `want` (the hard limit too, as root).
pub(crate) fn raise_nofile(want: usize) -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    let want = want as u64;
    let hard = if hard < want {
        match setrlimit(Resource::RLIMIT_NOFILE, want, want) {
            Ok(()) => want,
            Err(_) => hard,
        }
    } else {
        hard
    };
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|e| format!("setrlimit: {e}"))?;
    if hard < want {
        return Err(format!(
            "open files limit {hard} is below the {want} this benchmark needs (ulimit -n, or --tunnels)"
        ));
    }
    Ok(())
}

/// The ports of one configuration.
#[derive(Clone, Copy)]
struct Ports {
    ecdsa: u16,
    rsa: u16,
    ws_backend: u16,
}

const SNI: &str = "bench.test";

/// The configuration both servers run, byte for byte: paths of their own
/// files are relative to their prefix, the certificates absolute.
fn config(work: &Path, ports: Ports, tunnels: usize) -> String {
    let w = work.display();
    let rlimit = tunnels * 3 + 4096;
    let connections = tunnels * 2 + 1024;
    let server = |port: u16, cert: &str| {
        format!(
            "    server {{\n        listen 127.0.0.1:{port} ssl;\n        server_name {SNI};\n\
             \x20       ssl_protocols TLSv1.2 TLSv1.3;\n\
             \x20       ssl_certificate {w}/{cert}.crt;\n        ssl_certificate_key {w}/{cert}.key;\n\
             \x20       location /ws {{\n            proxy_pass http://127.0.0.1:{ws};\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_set_header Upgrade $http_upgrade;\n\
             \x20           proxy_set_header Connection $connection_upgrade;\n\
             \x20           proxy_read_timeout 1h;\n        }}\n\
             \x20       location / {{ return 200 \"ok\\n\"; }}\n    }}\n",
            ws = ports.ws_backend,
        )
    };
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile {rlimit};\n\
         pid logs/nginx.pid;\nerror_log logs/error.log error;\n\
         events {{ worker_connections {connections}; }}\n\
         http {{\n    access_log off;\n\
         \x20   client_body_temp_path tmp/body;\n    proxy_temp_path tmp/proxy;\n\
         \x20   fastcgi_temp_path tmp/fastcgi;\n    uwsgi_temp_path tmp/uwsgi;\n\
         \x20   scgi_temp_path tmp/scgi;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         {}{}}}\n",
        server(ports.ecdsa, "ecdsa"),
        server(ports.rsa, "rsa"),
    )
}

/// An ECDSA P-256 and an RSA 2048 self-signed certificate for `bench.test`.
fn certificates(work: &Path) -> Result<(), String> {
    let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("ECDSA key: {e}"))?;
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("openssl (apt-get install openssl): {e}"))?;
    if !out.status.success() {
        return Err("openssl genpkey failed".into());
    }
    let rsa = rcgen::KeyPair::from_pem_and_sign_algo(
        &String::from_utf8_lossy(&out.stdout),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| format!("RSA key: {e}"))?;
    for (name, key) in [("ecdsa", ecdsa), ("rsa", rsa)] {
        let params = rcgen::CertificateParams::new(vec![SNI.to_string()])
            .map_err(|e| format!("certificate: {e}"))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("certificate: {e}"))?;
        write(&work.join(format!("{name}.crt")), &cert.pem())?;
        write(&work.join(format!("{name}.key")), &key.serialize_pem())?;
    }
    Ok(())
}

pub(crate) fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A server under test, killed on drop.
pub(crate) struct Server {
    child: Child,
    prefix: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start(
        binary: &Path,
        prefix: &Path,
        conf: &str,
        ports: &[u16],
        pin: bool,
    ) -> Result<Server, String> {
        for d in ["logs", "tmp"] {
            std::fs::create_dir_all(prefix.join(d)).map_err(|e| e.to_string())?;
        }
        write(&prefix.join("nginx.conf"), conf)?;
        // taskset execs the server: the child's pid is the server's.
        let mut command = if pin {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(binary);
            c
        } else {
            Command::new(binary)
        };
        let child = command
            .arg("-p")
            .arg(format!("{}/", prefix.display()))
            .args(["-c", "nginx.conf", "-e", "logs/error.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut server = Server {
            child,
            prefix: prefix.to_path_buf(),
        };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "{} exited at start ({status}): {}",
                    binary.display(),
                    server.error_log()
                ));
            }
            let up = ports.iter().all(|p| {
                std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], *p)),
                    Duration::from_millis(200),
                )
                .is_ok()
            });
            if up {
                return Ok(server);
            }
            if Instant::now() > end {
                return Err(format!("{} did not listen in 10 s", binary.display()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }

    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// VmRSS of the process and its children, bytes.
    fn rss(&self) -> u64 {
        let pid = self.child.id();
        let mut pids = vec![pid];
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(p) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                // pid (comm) state ppid ...: the comm may hold spaces.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|s| s.parse::<u32>().ok());
                if ppid == Some(pid) {
                    pids.push(p);
                }
            }
        }
        pids.iter().map(|p| vm_rss(*p)).sum()
    }
}

fn vm_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// One run's figures for one server, in the table's row order.
type Figures = [f64; ROWS.len()];

const ROWS: [&str; 5] = [
    "TLS 1.3 full handshakes/s, ECDSA P-256",
    "TLS 1.3 full handshakes/s, RSA 2048",
    "wss echo 64 B, messages/s",
    "wss echo 16 KiB, messages/s",
    "idle wss tunnel, bytes each",
];

async fn bench(work: &Path, binaries: &[PathBuf; 2], options: &Options) -> Result<(), String> {
    certificates(work)?;
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let ws_backend = backend.local_addr().map_err(|e| e.to_string())?.port();
    tokio::spawn(upgate_examples::websocket::serve(
        backend,
        upgate_examples::websocket::Mode::Echo,
    ));
    println!(
        "bench tls: {} runs, {} s per timed load, {} handshake/echo connections, {} idle tunnels; \
         nginx {} and upgate {}, worker_processes 1 each{}",
        options.runs,
        options.seconds,
        options.conns,
        options.tunnels,
        binaries[0].display(),
        binaries[1].display(),
        if options.pin {
            ", servers pinned to CPU 0, clients to the others"
        } else {
            ""
        }
    );
    let mut figures: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    for run in 0..options.runs {
        for (which, binary) in binaries.iter().enumerate() {
            let ports = Ports {
                ecdsa: free_port()?,
                rsa: free_port()?,
                ws_backend,
            };
            let prefix = work.join(format!("run{run}-{which}"));
            let f = one_server(binary, &prefix, work, ports, options).await?;
            print_run(run, which, &f);
            figures[which].push(f);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    print_table(&ROWS, &figures);
    Ok(())
}

/// One run's figures of one server, on a line.
pub(crate) fn print_run(run: usize, which: usize, figures: &[f64]) {
    println!(
        "  run {} {}: {}",
        run + 1,
        name(which),
        figures
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
}

/// The medians of every row, nginx's runs in `figures[0]` and upgate's in
/// `figures[1]`, as a Markdown table with ratio = upgate / nginx.
pub(crate) fn print_table<const N: usize>(rows: &[&str; N], figures: &[Vec<[f64; N]>; 2]) {
    println!("\n| metric | upgate | nginx | ratio |\n|---|---|---|---|");
    for (row, label) in rows.iter().enumerate() {
        let nginx = median(figures[0].iter().map(|f| f[row]).collect());
        let upgate = median(figures[1].iter().map(|f| f[row]).collect());
        println!(
            "| {label} | {upgate:.0} | {nginx:.0} | {:.2}x |",
            upgate / nginx
        );
    }
}

pub(crate) fn name(which: usize) -> &'static str {
    if which == 0 { "nginx" } else { "upgate" }
}

async fn one_server(
    binary: &Path,
    prefix: &Path,
    work: &Path,
    ports: Ports,
    options: &Options,
) -> Result<Figures, String> {
    let conf = config(work, ports, options.tunnels);
    let mut server = Server::start(
        binary,
        prefix,
        &conf,
        &[ports.ecdsa, ports.rsa],
        options.pin,
    )?;
    let duration = Duration::from_secs(options.seconds);

    // Idle tunnels first, on a fresh server: one tunnel to warm up, then the
    // baseline, then the rest.
    let warm = load::idle_tunnels(ports.ecdsa, SNI, 1, 1).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss();
    let tunnels = load::idle_tunnels(ports.ecdsa, SNI, options.tunnels, 100)
        .await
        .map_err(|e| format!("{}: idle tunnels: {e}", binary.display()))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss();
    let per_tunnel = after.saturating_sub(before) as f64 / options.tunnels as f64;
    drop(tunnels);
    drop(warm);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let hs_ecdsa = load::handshakes(ports.ecdsa, SNI, options.conns, duration).await?;
    let hs_rsa = load::handshakes(ports.rsa, SNI, options.conns, duration).await?;
    let echo_small = load::wss_echo(ports.ecdsa, SNI, options.conns, 64, duration).await?;
    let echo_large = load::wss_echo(ports.ecdsa, SNI, options.conns, 16 * 1024, duration).await?;
    for (what, rate) in [
        ("ECDSA handshakes", hs_ecdsa),
        ("RSA handshakes", hs_rsa),
        ("echo 64 B", echo_small),
        ("echo 16 KiB", echo_large),
    ] {
        report_errors(binary, what, rate);
    }
    if !server.alive() {
        return Err(format!(
            "{} died during the run: {}",
            binary.display(),
            server.error_log()
        ));
    }
    Ok([
        hs_ecdsa.per_second,
        hs_rsa.per_second,
        echo_small.per_second,
        echo_large.per_second,
        per_tunnel,
    ])
}

pub(crate) fn report_errors(binary: &Path, what: &str, rate: Rate) {
    if rate.errors > 0 {
        println!(
            "  note: {}: {what}: {} failed attempts",
            binary.display(),
            rate.errors
        );
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
