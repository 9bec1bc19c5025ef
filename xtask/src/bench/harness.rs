//! The side-by-side run: passes of every figure the command asks for, each
//! pass measuring the backends alone ("direct", the machine's limit), then
//! nginx and upgate in turn (the order alternating between passes, so that
//! a drift of the shared machine does not favour one), each on a fresh
//! server started from the same configuration text. Idle-tunnel memory is
//! measured first on a fresh server, before any load has grown its heap.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::backends::{self, Backends};
use super::config::{self, Listen};
use super::figures::{self as fig, Group};
use super::load::{self, Load};
use super::procfs::Cpu;
use super::report::{Sample, Samples, Side};
use super::servers::{Cpus, Server, free_port, write};
use super::{Options, parse, tls, wrk};

/// What a run works with.
pub struct Setup {
    pub root: PathBuf,
    pub work: PathBuf,
    pub nginx: PathBuf,
    pub upgate: PathBuf,
    pub wrk: PathBuf,
    pub pinned: bool,
}

/// Everything a pass needs, started once.
struct Bench<'a> {
    setup: &'a Setup,
    options: &'a Options,
    groups: &'a [Group],
    backends: Backends,
    tls: Arc<rustls::ClientConfig>,
    samples: Samples,
}

pub async fn run(setup: &Setup, options: &Options, groups: &[Group]) -> Result<Samples, String> {
    let serving = groups
        .iter()
        .any(|g| !matches!(g, Group::Check | Group::CheckExtra));
    let checking = groups.contains(&Group::Check);
    let inputs = if checking {
        eprintln!("bench: generating the 5,000-server configuration");
        Some(parse::inputs(&setup.root, &setup.work, groups).await?)
    } else {
        None
    };
    let mut bench = Bench {
        setup,
        options,
        groups,
        backends: if serving {
            tls::certificates(&setup.work)?;
            write(&setup.work.join("htpasswd"), config::HTPASSWD)?;
            backends::start().await?
        } else {
            Backends { http: 0, ws: 0 }
        },
        tls: tls::client_config()?,
        samples: Samples::default(),
    };
    for pass in 0..options.runs {
        eprintln!("bench: pass {} of {}", pass + 1, options.runs);
        let order = if pass % 2 == 0 {
            [Side::Nginx, Side::Upgate]
        } else {
            [Side::Upgate, Side::Nginx]
        };
        if serving {
            bench.direct().await?;
            for side in order {
                bench.one_worker(pass, side).await?;
                if bench.has(Group::Tls) {
                    bench.tls(pass, side).await?;
                }
            }
            if bench.has(Group::Workers) {
                for side in order {
                    bench.two_workers(pass, side).await?;
                }
            }
        }
        if let Some(inputs) = &inputs {
            parse::pass(
                inputs,
                &setup.nginx,
                &setup.upgate,
                groups,
                &mut bench.samples,
            )
            .await?;
        }
    }
    Ok(bench.samples)
}

fn name(side: Side) -> &'static str {
    match side {
        Side::Nginx => "nginx",
        Side::Upgate => "upgate",
        Side::Direct => "direct",
    }
}

impl Bench<'_> {
    fn has(&self, group: Group) -> bool {
        self.groups.contains(&group)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.options.seconds)
    }

    fn record(&mut self, id: &'static str, side: Side, sample: Sample, errors: u64) {
        let unit = fig::FIGURES
            .iter()
            .find(|f| f.id == id)
            .map_or("", |f| f.unit);
        let latency = match (sample.p50_ms, sample.p99_ms) {
            (Some(p50), Some(p99)) => format!(", p50 {p50:.2} ms, p99 {p99:.2} ms"),
            _ => String::new(),
        };
        let errors = if errors > 0 {
            format!(", {errors} errors")
        } else {
            String::new()
        };
        eprintln!(
            "  {:<6} {id}: {:.0} {unit}{latency}{errors}",
            name(side),
            sample.value
        );
        self.samples.add(id, side, sample);
    }

    /// A load and a "per proxy CPU-second" figure from the same pass: the
    /// server's utime + stime over the load. The log line also splits the
    /// CPU time per unit into user space and kernel, which is where a
    /// profile of these rows starts.
    fn record_per_cpu(&mut self, id: &'static str, side: Side, count: u64, cpu: Cpu) {
        if cpu.total() > 0.0 && count > 0 {
            let us = |s: f64| s * 1e6 / count as f64;
            eprintln!(
                "  {:<6} {id}: {:.2} µs user + {:.2} µs system each",
                name(side),
                us(cpu.user),
                us(cpu.system)
            );
            self.record(id, side, Sample::plain(count as f64 / cpu.total()), 0);
        }
    }

    async fn wrk(&self, port: u16, path: &str, headers: &[&str]) -> Result<wrk::Wrk, String> {
        let url = format!("http://127.0.0.1:{port}{path}");
        wrk::run(
            &self.setup.wrk,
            &url,
            self.options.conns,
            self.options.seconds,
            headers,
        )
        .await
    }

    fn record_wrk(&mut self, id: &'static str, side: Side, w: &wrk::Wrk) {
        let sample = Sample {
            value: w.per_second,
            p50_ms: w.p50_ms,
            p99_ms: w.p99_ms,
        };
        self.record(id, side, sample, w.errors);
    }

    fn record_load(&mut self, id: &'static str, side: Side, l: &Load) {
        self.record(id, side, l.sample(), l.errors);
    }

    async fn echo(&self, port: u16, path: &str, size: usize) -> Result<Load, String> {
        let path = path.to_string();
        let sockets = load::open_many(self.options.conns, self.options.conns, move || {
            let path = path.clone();
            async move { load::open_ws(port, &path).await }
        })
        .await?;
        Ok(load::echo(sockets, size, self.duration()).await)
    }

    async fn handshakes(&self, port: u16, path: &str, extra: &str) -> Load {
        let request = load::upgrade_request(path, extra);
        load::repeat(self.options.conns, self.duration(), move || {
            load::ws_handshake(port, request.clone())
        })
        .await
    }

    /// The same loads straight at the backends.
    async fn direct(&mut self) -> Result<(), String> {
        let b = self.backends;
        if self.has(Group::Http) {
            let w = self.wrk(b.http, config::HTTP_PATH, &[]).await?;
            self.record_wrk(fig::HTTP, Side::Direct, &w);
        }
        if self.has(Group::Ws) {
            let l = self.echo(b.ws, config::WS_PATH, 64).await?;
            self.record_load(fig::WS_64, Side::Direct, &l);
            let l = self.echo(b.ws, config::WS_PATH, 16 * 1024).await?;
            self.record_load(fig::WS_16K, Side::Direct, &l);
            let l = self.handshakes(b.ws, config::WS_PATH, "").await;
            self.record_load(fig::HANDSHAKES, Side::Direct, &l);
        }
        Ok(())
    }

    fn binary(&self, side: Side) -> &Path {
        match side {
            Side::Upgate => &self.setup.upgate,
            _ => &self.setup.nginx,
        }
    }

    async fn start(
        &self,
        pass: usize,
        side: Side,
        what: &str,
        workers: usize,
    ) -> Result<(Server, Listen), String> {
        let listen = Listen {
            http: free_port()?,
            ecdsa: free_port()?,
            rsa: free_port()?,
        };
        let conf = config::nginx_conf(
            &self.setup.work,
            listen,
            self.backends,
            workers,
            self.options.tunnels,
        );
        let prefix = self
            .setup
            .work
            .join(format!("pass{pass}-{what}-{}", name(side)));
        let cpus = if workers == 1 && self.setup.pinned {
            Cpus::Zero
        } else {
            Cpus::All
        };
        let server = Server::start(
            name(side),
            self.binary(side),
            &prefix,
            &conf,
            &listen.all(),
            cpus,
        )
        .await?;
        Ok((server, listen))
    }

    /// The 1-worker figures over plain TCP, on one fresh server.
    async fn one_worker(&mut self, pass: usize, side: Side) -> Result<(), String> {
        let (mut server, listen) = self.start(pass, side, "plain", 1).await?;
        let port = listen.http;
        if self.has(Group::Tunnels) {
            let bytes = self
                .idle_bytes(&server, move || async move {
                    load::checked(load::open_ws(port, config::WS_PATH).await?).await
                })
                .await?;
            self.record(fig::IDLE_TUNNEL, side, Sample::plain(bytes), 0);
        }
        if self.has(Group::Http) {
            let cpu = server.cpu_seconds();
            let w = self.wrk(port, config::HTTP_PATH, &[]).await?;
            let cpu = server.cpu_seconds() - cpu;
            self.record_wrk(fig::HTTP, side, &w);
            self.record_per_cpu(fig::HTTP_CPU, side, w.requests, cpu);
        }
        if self.has(Group::Access) {
            let w = self
                .wrk(port, config::GUARDED_HTTP_PATH, &[config::AUTHORIZATION])
                .await?;
            self.record_wrk(fig::HTTP_GUARDED, side, &w);
        }
        if self.has(Group::Ws) {
            let cpu = server.cpu_seconds();
            let l = self.echo(port, config::WS_PATH, 64).await?;
            let cpu = server.cpu_seconds() - cpu;
            self.record_load(fig::WS_64, side, &l);
            self.record_per_cpu(fig::WS_64_CPU, side, l.done, cpu);
            let l = self.echo(port, config::WS_PATH, 16 * 1024).await?;
            self.record_load(fig::WS_16K, side, &l);
            let cpu = server.cpu_seconds();
            let l = self.handshakes(port, config::WS_PATH, "").await;
            let cpu = server.cpu_seconds() - cpu;
            self.record_load(fig::HANDSHAKES, side, &l);
            self.record_per_cpu(fig::HANDSHAKES_CPU, side, l.done, cpu);
        }
        if self.has(Group::Pragmas) {
            let l = self.echo(port, config::PRAGMA_WS_PATH, 64).await?;
            self.record_load(fig::WS_64_PRAGMAS, side, &l);
            let l = self.echo(port, config::PRAGMA_WS_PATH, 16 * 1024).await?;
            self.record_load(fig::WS_16K_PRAGMAS, side, &l);
        }
        if self.has(Group::Access) {
            let extra = format!("{}\r\n", config::AUTHORIZATION);
            let l = self.handshakes(port, config::GUARDED_WS_PATH, &extra).await;
            self.record_load(fig::HANDSHAKES_GUARDED, side, &l);
        }
        server.check_alive()
    }

    /// The TLS figures, on another fresh server (the idle wss tunnels
    /// want a heap no load has grown).
    async fn tls(&mut self, pass: usize, side: Side) -> Result<(), String> {
        let (mut server, listen) = self.start(pass, side, "tls", 1).await?;
        let config = self.tls.clone();
        let ecdsa = listen.ecdsa;
        let bytes = self
            .idle_bytes(&server, move || {
                let config = config.clone();
                async move { load::checked(load::open_wss(ecdsa, &config).await?).await }
            })
            .await?;
        self.record(fig::WSS_IDLE, side, Sample::plain(bytes), 0);
        for (id, port) in [(fig::TLS_ECDSA, ecdsa), (fig::TLS_RSA, listen.rsa)] {
            let config = self.tls.clone();
            let l = load::repeat(self.options.conns, self.duration(), move || {
                let config = config.clone();
                async move { tls::connect(port, &config).await.is_ok() }
            })
            .await;
            self.record_load(id, side, &l);
        }
        for (id, size) in [(fig::WSS_64, 64), (fig::WSS_16K, 16 * 1024)] {
            let config = self.tls.clone();
            let sockets = load::open_many(self.options.conns, self.options.conns, move || {
                let config = config.clone();
                async move { load::open_wss(ecdsa, &config).await }
            })
            .await?;
            let l = load::echo(sockets, size, self.duration()).await;
            self.record_load(id, side, &l);
        }
        server.check_alive()
    }

    /// HTTP with `worker_processes 2`, the server on every CPU.
    async fn two_workers(&mut self, pass: usize, side: Side) -> Result<(), String> {
        let (mut server, listen) = self.start(pass, side, "2w", 2).await?;
        let w = self.wrk(listen.http, config::HTTP_PATH, &[]).await?;
        self.record_wrk(fig::HTTP_2W, side, &w);
        server.check_alive()
    }

    /// Opens `--tunnels` idle tunnels with `open` and returns the server's
    /// resident bytes per tunnel: one tunnel first (so that what every
    /// first connection allocates is not counted), then the baseline, then
    /// the rest, then a pause for the server to settle.
    async fn idle_bytes<T, F, Fut>(&self, server: &Server, open: F) -> Result<f64, String>
    where
        T: Send + 'static,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
    {
        let settle = if self.options.quick {
            Duration::from_millis(800)
        } else {
            Duration::from_secs(2)
        };
        let warm = load::open_many(1, 1, &open).await?;
        tokio::time::sleep(settle / 4).await;
        let before = server.rss();
        let n = self.options.tunnels;
        let tunnels = load::open_many(n, 100, &open)
            .await
            .map_err(|e| format!("{}: idle tunnels: {e}", server.name))?;
        tokio::time::sleep(settle).await;
        let after = server.rss();
        drop(tunnels);
        drop(warm);
        Ok(after.saturating_sub(before) as f64 / n as f64)
    }
}
