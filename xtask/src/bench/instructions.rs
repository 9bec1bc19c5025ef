//! `cargo xtask bench instructions`: the user-space instructions nginx and
//! upgate execute per unit of work (a proxied HTTP request, a WebSocket
//! echo of 64 bytes, a WebSocket handshake), counted by valgrind's
//! callgrind on the harness's configuration and loads.
//!
//! Throughput on a shared two-CPU machine moves with whatever else runs;
//! an instruction count does not (the same binary, configuration and load
//! give the same count within a fraction of a percent, whatever the other
//! CPU does). It leaves out the kernel's share and the cache misses, so it
//! guides the work on the proxy's own code, and the timed run stays the
//! figure issue 13 is judged by.
//!
//! Each server runs under `valgrind --tool=callgrind` (one worker, the
//! master off, as in the timed run); for each load the counters are zeroed
//! with `callgrind_control -z`, the load runs `--seconds` (default 5; 2
//! with `--quick`), the counters are dumped with `callgrind_control -d`,
//! and the dump's total is divided by the units the load completed. A
//! warm-up load first, so that connection set-up and first-use
//! allocations are not counted. The table goes to stdout, the JSON to
//! target/bench/latest-instructions.json; the dumps stay in target/bench/callgrind/
//! for `callgrind_annotate`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use super::backends::{self, Backends};
use super::config::{self, Listen};
use super::load;
use super::report::thousands;
use super::servers::{Server, debian_tool, free_port, target_dir, write};
use super::{Options, tls, wrk};

/// How long a server under valgrind may take to listen (it translates the
/// binary first).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a dump may take to appear.
const DUMP_LIMIT: Duration = Duration::from_secs(30);

type Tunnel = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Http,
    Echo64,
    Handshake,
}

const WORK: [Work; 3] = [Work::Http, Work::Echo64, Work::Handshake];

impl Work {
    fn title(self) -> &'static str {
        match self {
            Work::Http => "HTTP GET keepalive, per proxied request",
            Work::Echo64 => "WS echo 64 B, per message (both ways)",
            Work::Handshake => "WS handshake, per handshake",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Work::Http => "http",
            Work::Echo64 => "ws_echo_64",
            Work::Handshake => "ws_handshake",
        }
    }
}

/// One figure of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: &'static str,
    pub title: &'static str,
    pub upgate: u64,
    pub nginx: u64,
    pub ratio: f64,
    pub upgate_units: u64,
    pub nginx_units: u64,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    command: &'a str,
    commit: Option<String>,
    seconds: u64,
    conns: usize,
    valgrind: String,
    rows: &'a [Row],
}

/// Counts both servers and prints the table.
pub async fn run(root: &Path, options: &Options, commit: Option<String>) -> Result<(), String> {
    let nginx = debian_tool("/usr/sbin/nginx", "nginx")?;
    let wrk_bin = debian_tool("/usr/bin/wrk", "wrk")?;
    debian_tool("/usr/bin/valgrind", "valgrind")?;
    let upgate = target_dir(root).join("release/upgate");
    let seconds = if options.quick { 2 } else { options.seconds };
    let work = std::env::temp_dir().join(format!("upgate-instructions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let dumps = target_dir(root).join("bench/callgrind");
    std::fs::create_dir_all(&dumps).map_err(|e| format!("{}: {e}", dumps.display()))?;
    tls::certificates(&work)?;
    write(&work.join("htpasswd"), config::HTPASSWD)?;
    let backends = backends::start().await?;
    let counter = Counter {
        work: &work,
        dumps: &dumps,
        wrk: &wrk_bin,
        backends,
        seconds,
        conns: options.conns,
    };
    eprintln!(
        "bench instructions: {seconds} s loads, {} connections, under callgrind",
        options.conns
    );
    let mut counts = Vec::new();
    for (name, binary) in [("nginx", &nginx), ("upgate", &upgate)] {
        counts.push(counter.side(name, binary).await?);
    }
    let _ = std::fs::remove_dir_all(&work);
    let rows: Vec<Row> = WORK
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (n, n_units) = counts[0][i];
            let (u, u_units) = counts[1][i];
            Row {
                id: w.id(),
                title: w.title(),
                upgate: u,
                nginx: n,
                ratio: if n > 0 { u as f64 / n as f64 } else { 0.0 },
                upgate_units: u_units,
                nginx_units: n_units,
            }
        })
        .collect();
    print!("{}", table(&rows));
    let command = "bench instructions";
    let report = Report {
        command,
        commit,
        seconds,
        conns: options.conns,
        valgrind: tool_version("valgrind"),
        rows: &rows,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    let path = target_dir(root).join("bench/latest-instructions.json");
    write(&path, &json)?;
    eprintln!(
        "bench instructions: {} (dumps in {})",
        path.display(),
        dumps.display()
    );
    Ok(())
}

/// The loads against one server.
struct Counter<'a> {
    work: &'a Path,
    dumps: &'a Path,
    wrk: &'a Path,
    backends: Backends,
    seconds: u64,
    conns: usize,
}

impl Counter<'_> {
    /// (instructions per unit, units) for each of [`WORK`].
    async fn side(&self, name: &'static str, binary: &Path) -> Result<Vec<(u64, u64)>, String> {
        let listen = Listen {
            http: free_port()?,
            ecdsa: free_port()?,
            rsa: free_port()?,
        };
        let conf = config::nginx_conf(self.work, listen, self.backends, 1, self.conns * 4);
        let prefix = self.work.join(name);
        let out = self.dumps.join(format!("{name}.out"));
        for old in dump_files(self.dumps, name) {
            let _ = std::fs::remove_file(old);
        }
        let launcher = [
            "valgrind".to_string(),
            "--tool=callgrind".to_string(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        eprintln!("  {name}: starting under callgrind");
        let mut server = Server::start_under(
            name,
            &launcher,
            binary,
            &prefix,
            &conf,
            &listen.all(),
            START_LIMIT,
        )
        .await?;
        let pid = server.pid();
        let port = listen.http;
        // Warm-up: connections, pools and first-use allocations.
        let sockets = self.open(port).await?;
        self.load(Work::Http, port, None).await?;
        self.load(Work::Echo64, port, Some(sockets)).await?;
        let mut counts = Vec::new();
        for (i, work) in WORK.into_iter().enumerate() {
            // The echo's tunnels are opened before the count starts: a
            // handshake is counted in its own row.
            let sockets = match work {
                Work::Echo64 => Some(self.open(port).await?),
                _ => None,
            };
            callgrind_control("-z", pid)?;
            let units = self.load(work, port, sockets).await?;
            callgrind_control("-d", pid)?;
            let dump = PathBuf::from(format!("{}.{}", out.display(), i + 1));
            let total = wait_total(&dump).await?;
            server.check_alive()?;
            let per_unit = total.checked_div(units).unwrap_or(0);
            eprintln!(
                "  {name}: {}: {per_unit} instructions each ({units} done)",
                work.id()
            );
            counts.push((per_unit, units));
        }
        drop(server);
        Ok(counts)
    }

    /// `conns` WebSocket tunnels through the server.
    async fn open(&self, port: u16) -> Result<Vec<Tunnel>, String> {
        load::open_many(self.conns, self.conns, move || async move {
            load::open_ws(port, config::WS_PATH).await
        })
        .await
    }

    /// Runs one load (the echo on `sockets`); the units it completed.
    async fn load(
        &self,
        work: Work,
        port: u16,
        sockets: Option<Vec<Tunnel>>,
    ) -> Result<u64, String> {
        let duration = Duration::from_secs(self.seconds);
        match work {
            Work::Http => {
                let url = format!("http://127.0.0.1:{port}{}", config::HTTP_PATH);
                let w = wrk::run(self.wrk, &url, self.conns, self.seconds, &[]).await?;
                if w.errors > 0 {
                    return Err(format!("wrk {url}: {} errors", w.errors));
                }
                Ok(w.requests)
            }
            Work::Echo64 => {
                let sockets = match sockets {
                    Some(s) => s,
                    None => self.open(port).await?,
                };
                let l = load::echo(sockets, 64, duration).await;
                no_errors("echo", l.errors)?;
                Ok(l.done)
            }
            Work::Handshake => {
                let request = load::upgrade_request(config::WS_PATH, "");
                let l = load::repeat(self.conns, duration, move || {
                    load::ws_handshake(port, request.clone())
                })
                .await;
                no_errors("handshakes", l.errors)?;
                Ok(l.done)
            }
        }
    }
}

fn no_errors(what: &str, errors: u64) -> Result<(), String> {
    if errors > 0 {
        Err(format!("{what}: {errors} errors"))
    } else {
        Ok(())
    }
}

fn callgrind_control(flag: &str, pid: u32) -> Result<(), String> {
    let out = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .output()
        .map_err(|e| format!("callgrind_control (valgrind): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "callgrind_control {flag} {pid} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The `summary:` total of a dump, once callgrind has written it whole
/// (the `totals:` line closes the file).
async fn wait_total(dump: &Path) -> Result<u64, String> {
    let end = std::time::Instant::now() + DUMP_LIMIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(dump)
            && text.lines().any(|l| l.starts_with("totals:"))
        {
            return summary(&text).ok_or_else(|| format!("{}: no summary line", dump.display()));
        }
        if std::time::Instant::now() > end {
            return Err(format!(
                "{}: no dump in {} s",
                dump.display(),
                DUMP_LIMIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `summary: N` of a callgrind dump (the first event, instructions).
fn summary(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|l| l.strip_prefix("summary:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn dump_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!("{name}.out");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tool_version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| instructions per unit | upgate | nginx | upgate / nginx |\n|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} |\n",
            r.title,
            thousands(r.upgate),
            thousands(r.nginx),
            r.ratio
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_of_a_dump() {
        let dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 281649164\n\nfn=x\n1 2\ntotals: 281649507\n";
        assert_eq!(summary(dump), Some(281_649_164));
        assert_eq!(summary("events: Ir\n"), None);
    }

    #[test]
    fn a_table_row() {
        let rows = [Row {
            id: "http",
            title: "HTTP",
            upgate: 27_008,
            nginx: 18_902,
            ratio: 27_008.0 / 18_902.0,
            upgate_units: 1,
            nginx_units: 1,
        }];
        assert!(table(&rows).contains("| HTTP | 27,008 | 18,902 | 1.43 |"));
    }
}
