//! Differential test of the upstream balancers against a running nginx
//! (Debian's /usr/sbin/nginx): one nginx serves as both the front proxy and
//! the backends (`return 200 "i"`), and for every request the
//! `$upstream_addr` chain nginx reports (each peer tried, in order) must be
//! the chain upgate's `Peers` produces for the same key, client address or
//! position in the sequence.
//!
//! Round 1: `hash $arg_k` and `hash $arg_k consistent` (10,000 keys each;
//! consistent also with `localhost:P` server texts), `ip_hash` (400 client
//! addresses 127.a.b.1, and with IPv6 the same seen as ::ffff:127.a.b.1
//! through a dual-stack listener, plus ::1), round robin 5:1:1 and 3:2:1:1,
//! least_conn, and groups with refused ports (failures, retries, effective
//! weight, backup). Round 2, after a restart: the hash and ip_hash groups
//! with one server removed, and with it marked `down`; nginx's consistent
//! hash must move only the removed server's keys.
//!
//! Prints `balancers: hash N/N, consistent N/N, ip_hash N/N, rr N/N`.
//! Fails (does not skip) without nginx.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use upgate_runtime::upstream::{Outcome, PeerAddr, Peers, SelectInput, Upstreams};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const KEYS: usize = 10_000;

/// Matches against comparisons, with the first mismatches for the message.
#[derive(Default)]
struct Tally {
    same: usize,
    total: usize,
    diffs: Vec<String>,
}

impl Tally {
    fn check(&mut self, what: &str, nginx: &str, ours: &str) {
        self.total += 1;
        if nginx == ours {
            self.same += 1;
        } else if self.diffs.len() < 10 {
            self.diffs
                .push(format!("{what}: nginx {nginx:?}, upgate {ours:?}"));
        }
    }
}

/// What upgate does for one request that reaches `peers`: the status and
/// the `$upstream_addr` chain, a refused port counting as a failed attempt
/// (retried while tries are left, as `proxy_next_upstream error` does).
fn model(peers: &mut Peers, input: &SelectInput<'_>, dead: &[u16]) -> String {
    let now = Instant::now();
    let mut sel = peers.begin(input);
    let mut chain = Vec::new();
    let status = loop {
        let Some(id) = peers.select(&mut sel, now) else {
            chain.push(peers.name().to_string());
            break 502;
        };
        let addr = peers.peer(id).addr();
        chain.push(addr.to_string());
        // Backends listen on 127.0.0.1 only: [::1] (localhost's second
        // address on some systems) refuses too.
        let refused = matches!(addr, PeerAddr::Inet(a) if a.is_ipv6() || dead.contains(&a.port()));
        if !refused {
            peers.free(&mut sel, Outcome::Ok, now);
            break 200;
        }
        peers.free(&mut sel, Outcome::Failed, now);
        if sel.tries() == 0 {
            break 502;
        }
    };
    format!("{status} {}", chain.join(", "))
}

/// The group `name` of the configuration nginx is running, compiled by upgate.
fn peers_of(nginx: &Nginx, name: &str) -> Result<Peers> {
    let loaded = upgate_conf::load(&upgate_conf::LoadOptions::new(nginx.conf_path()));
    if let Some(err) = loaded.error {
        return Err(format!("upgate_conf::load: {err}").into());
    }
    let resolve = |host: &str, port: u16| -> Vec<SocketAddr> {
        (host, port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    let table = Upstreams::from_config(&loaded.config, &resolve)?;
    let group = table
        .find(name, None)
        .ok_or(format!("no upstream {name}"))?;
    Ok(Peers::new(group))
}

/// Keys of 1 to 16 URL-safe characters, distinct, from a fixed LCG.
fn keys(n: usize) -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as usize
    };
    let mut seen = HashSet::new();
    for _ in 0..n * 10 {
        if seen.len() == n {
            break;
        }
        let len = 1 + next() % 16;
        let key: String = (0..len)
            .map(|_| char::from(ALPHABET[next() % ALPHABET.len()]))
            .collect();
        seen.insert(key);
    }
    let mut keys: Vec<String> = seen.into_iter().collect();
    keys.sort();
    keys
}

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Every key through `location = /name`, compared with the model.
fn hash_group(
    nginx: &Nginx,
    name: &str,
    keys: &[String],
    tally: &mut Tally,
) -> Result<Vec<Answer>> {
    let paths: Vec<String> = keys.iter().map(|k| format!("/{name}?k={k}")).collect();
    let answers = fetch_parallel(nginx.front(), &paths, 8)?;
    let mut peers = peers_of(nginx, name)?;
    for (key, answer) in keys.iter().zip(&answers) {
        let input = SelectInput {
            client: LOCAL,
            hash_key: Some(key.as_bytes()),
        };
        tally.check(
            &format!("{name} k={key}"),
            &answer.seen(),
            &model(&mut peers, &input, &[]),
        );
    }
    Ok(answers)
}

/// A client of the ip_hash groups: the address it binds, where it
/// connects, and the address nginx sees (`$remote_addr`).
struct Client {
    bind: IpAddr,
    target: SocketAddr,
    seen: IpAddr,
}

/// One request from each client, compared with the model.
fn ip_group(nginx: &Nginx, name: &str, clients: &[Client], tally: &mut Tally) -> Result<()> {
    let mut peers = peers_of(nginx, name)?;
    for client in clients {
        let answer = fetch_from(client.target, client.bind, &format!("/{name}"))?;
        let input = SelectInput {
            client: client.seen,
            hash_key: None,
        };
        tally.check(
            &format!("{name} from {}", client.seen),
            &answer.seen(),
            &model(&mut peers, &input, &[]),
        );
    }
    Ok(())
}

/// `n` requests in order on one connection, compared with the model's sequence.
fn sequence_group(
    nginx: &Nginx,
    name: &str,
    n: usize,
    dead: &[u16],
    tally: &mut Tally,
) -> Result<()> {
    let paths = vec![format!("/{name}"); n];
    let answers = fetch_parallel(nginx.front(), &paths, 1)?;
    let mut peers = peers_of(nginx, name)?;
    let input = SelectInput {
        client: LOCAL,
        hash_key: None,
    };
    for (i, answer) in answers.iter().enumerate() {
        tally.check(
            &format!("{name} #{i}"),
            &answer.seen(),
            &model(&mut peers, &input, dead),
        );
    }
    Ok(())
}

fn report(label: &str, tally: &Tally) -> String {
    format!("{label} {}/{}", tally.same, tally.total)
}

#[test]
fn balancers_match_nginx() -> Result<()> {
    let started = Instant::now();
    let mut ports = free_ports(15)?;
    let front = ports.pop().ok_or("no port")?;
    let spare = ports.pop().ok_or("no port")?;
    let dead = ports.split_off(10);
    let b = ports;
    let with = |ports: &[usize], weights: &[u32]| -> Vec<(String, String)> {
        ports
            .iter()
            .zip(weights)
            .map(|(&i, &w)| (local(b[i]), format!("weight={w}")))
            .collect()
    };
    let hash_servers = with(&[0, 1, 2, 3, 4, 5, 6], &[1, 2, 1, 3, 1, 1, 2]);
    let chash_servers = with(&[0, 1, 2, 3, 4, 5, 6, 7], &[1, 1, 2, 1, 3, 1, 1, 1]);
    let ip_servers = with(&[0, 1, 2, 3, 4], &[1, 2, 1, 1, 3]);
    let failing =
        |port: u16, extra: &str| (local(port), format!("max_fails=2 fail_timeout=60s {extra}"));
    let round1 = vec![
        Group::new("hash", "hash $arg_k", hash_servers.clone()),
        Group::new("chash", "hash $arg_k consistent", chash_servers.clone()),
        Group::new("iphash", "ip_hash", ip_servers.clone()),
        // Points come from the text as written, not the address.
        Group::new("chash_names", "hash $arg_k consistent", {
            let name =
                |port: u16, w: &str| (format!("localhost:{port}"), format!("{w} fail_timeout=60s"));
            vec![
                name(b[7], "weight=2"),
                (local(b[8]), String::new()),
                name(b[9], "weight=1"),
            ]
        }),
        Group::new("rr511", "", with(&[0, 1, 2], &[5, 1, 1])),
        Group::new("rr3211", "", with(&[3, 4, 5, 6], &[3, 2, 1, 1])),
        Group::new("lc", "least_conn", with(&[0, 1, 2, 3], &[3, 2, 1, 1])),
        Group::new("rrfail", "", {
            let mut s = vec![failing(dead[0], "weight=3")];
            s.extend(with(&[1, 2], &[1, 2]));
            s
        }),
        Group::new("backup", "", {
            let mut s = vec![failing(dead[1], ""), failing(dead[2], "weight=2")];
            s.push((local(b[4]), "backup".into()));
            s.push((local(b[5]), "backup weight=2".into()));
            s
        }),
    ];
    let all_keys = keys(KEYS);
    // 400 IPv4 clients 127.a.b.1; when the machine has IPv6, the same
    // again through a dual-stack listener, where nginx sees them as
    // ::ffff:127.a.b.1 and hashes all 16 bytes, plus ::1.
    let front6 = TcpListener::bind("[::1]:0").is_ok().then_some(spare);
    let sources: Vec<Ipv4Addr> = (1..=20)
        .flat_map(|a| (0..20).map(move |c| Ipv4Addr::new(127, a, c, 1)))
        .collect();
    let mut clients: Vec<Client> = sources
        .iter()
        .map(|&v4| Client {
            bind: v4.into(),
            target: ([127, 0, 0, 1], front).into(),
            seen: v4.into(),
        })
        .collect();
    if let Some(port) = front6 {
        clients.extend(sources.iter().map(|&v4| Client {
            bind: v4.into(),
            target: ([127, 0, 0, 1], port).into(),
            seen: v4.to_ipv6_mapped().into(),
        }));
        clients.push(Client {
            bind: Ipv6Addr::LOCALHOST.into(),
            target: (Ipv6Addr::LOCALHOST, port).into(),
            seen: Ipv6Addr::LOCALHOST.into(),
        });
    } else {
        println!("no IPv6 on this machine: ip_hash checked for IPv4 clients only");
    }
    let (mut hash, mut chash, mut ip, mut rr) = <[Tally; 4]>::default().into();

    let nginx = Nginx::start(front, front6, &b, &round1)?;
    let hash_before = hash_group(&nginx, "hash", &all_keys, &mut hash)?;
    let chash_before = hash_group(&nginx, "chash", &all_keys, &mut chash)?;
    hash_group(&nginx, "chash_names", &all_keys, &mut chash)?;
    ip_group(&nginx, "iphash", &clients, &mut ip)?;
    sequence_group(&nginx, "rr511", 300, &[], &mut rr)?;
    sequence_group(&nginx, "rr3211", 300, &[], &mut rr)?;
    sequence_group(&nginx, "lc", 300, &[], &mut rr)?;
    sequence_group(&nginx, "rrfail", 300, &dead, &mut rr)?;
    sequence_group(&nginx, "backup", 100, &dead, &mut rr)?;
    drop(nginx);

    // Round 2: hash b3 (weight 3), chash b4 (weight 3), iphash b1 (weight 2)
    // removed, or marked down.
    let removed = |servers: &[(String, String)], port: u16| -> Vec<(String, String)> {
        servers
            .iter()
            .filter(|s| s.0 != local(port))
            .cloned()
            .collect()
    };
    let downed = |servers: &[(String, String)], port: u16| -> Vec<(String, String)> {
        let mark = |(a, w): &(String, String)| match *a == local(port) {
            true => (a.clone(), format!("{w} down")),
            false => (a.clone(), w.clone()),
        };
        servers.iter().map(mark).collect()
    };
    let round2 = vec![
        Group::new("hash", "hash $arg_k", removed(&hash_servers, b[3])),
        Group::new("hash_down", "hash $arg_k", downed(&hash_servers, b[3])),
        Group::new(
            "chash",
            "hash $arg_k consistent",
            removed(&chash_servers, b[4]),
        ),
        Group::new(
            "chash_down",
            "hash $arg_k consistent",
            downed(&chash_servers, b[4]),
        ),
        Group::new("iphash", "ip_hash", removed(&ip_servers, b[1])),
        Group::new("iphash_down", "ip_hash", downed(&ip_servers, b[1])),
    ];
    let nginx = Nginx::start(front, front6, &b, &round2)?;
    let hash_after = hash_group(&nginx, "hash", &all_keys, &mut hash)?;
    hash_group(&nginx, "hash_down", &all_keys, &mut hash)?;
    let chash_after = hash_group(&nginx, "chash", &all_keys, &mut chash)?;
    let chash_down = hash_group(&nginx, "chash_down", &all_keys, &mut chash)?;
    ip_group(&nginx, "iphash", &clients, &mut ip)?;
    ip_group(&nginx, "iphash_down", &clients, &mut ip)?;
    drop(nginx);

    // nginx's own consistency: only the removed server's keys moved, and
    // removing or marking down moves them to the same servers.
    let gone = local(b[4]);
    let mut moved = 0;
    for i in 0..all_keys.len() {
        let before = &chash_before[i].upstream;
        if *before == gone {
            moved += 1;
            if chash_after[i].upstream != chash_down[i].upstream {
                let (after, down) = (&chash_after[i].upstream, &chash_down[i].upstream);
                chash.diffs.push(format!(
                    "{}: removed -> {after}, down -> {down}",
                    all_keys[i]
                ));
            }
        } else if chash_after[i].upstream != *before {
            chash
                .diffs
                .push(format!("nginx moved {} off {before}", all_keys[i]));
        }
    }
    if moved == 0 {
        chash.diffs.push(format!("no key was on {gone} before"));
    }
    let summary = format!(
        "balancers: {}, {}, {}, {}",
        report("hash", &hash),
        report("consistent", &chash),
        report("ip_hash", &ip),
        report("rr", &rr)
    );
    println!("{summary}");
    let hash_moved = (hash_before.iter().zip(&hash_after))
        .filter(|(a, b)| a.upstream != b.upstream)
        .count();
    println!(
        "nginx moved {moved} of {} keys with consistent hash (only the removed server's), \
         {hash_moved} with plain hash; {:.1} s",
        all_keys.len(),
        started.elapsed().as_secs_f64()
    );
    let diffs: Vec<&String> = [&hash, &chash, &ip, &rr]
        .iter()
        .flat_map(|t| &t.diffs)
        .collect();
    if !diffs.is_empty() {
        return Err(format!("{summary}\n{diffs:#?}").into());
    }
    Ok(())
}

// ---- nginx, its configuration, and a minimal HTTP/1.1 client ----

/// An `upstream` block to generate: name, balancer directive, servers
/// (address as written, parameters).
struct Group {
    name: &'static str,
    method: &'static str,
    servers: Vec<(String, String)>,
}

impl Group {
    fn new(name: &'static str, method: &'static str, servers: Vec<(String, String)>) -> Group {
        Group {
            name,
            method,
            servers,
        }
    }
}

fn local(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// `n` distinct ports nothing listens on right now (bound together, then
/// released).
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn nginx_binary() -> Result<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/sbin/nginx")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("nginx")));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| "nginx not found: install nginx (apt-get install nginx)".into())
}

/// One nginx in the foreground without a master process, killed (and its
/// directory removed) on drop, also when the test panics.
struct Nginx {
    child: Child,
    dir: PathBuf,
    front: SocketAddr,
}

impl Nginx {
    /// Listens on 127.0.0.1:`front`, and on `[::]:front6` (dual stack,
    /// loopback clients only) when given.
    fn start(front: u16, front6: Option<u16>, backends: &[u16], groups: &[Group]) -> Result<Nginx> {
        let binary = nginx_binary()?;
        static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("upgate-balancers-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("nginx.conf"),
            config(&dir, front, front6, backends, groups)?,
        )?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-e", "stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("stderr.log"))?)
            .spawn()?;
        let front = SocketAddr::from(([127, 0, 0, 1], front));
        let mut nginx = Nginx { child, dir, front };
        for _ in 0..200 {
            if let Some(status) = nginx.child.try_wait()? {
                return Err(format!("nginx exited ({status}): {}", nginx.log()).into());
            }
            if TcpStream::connect_timeout(&front, Duration::from_millis(100)).is_ok() {
                return Ok(nginx);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!("nginx did not listen within 5 s: {}", nginx.log()).into())
    }

    fn front(&self) -> SocketAddr {
        self.front
    }

    fn conf_path(&self) -> PathBuf {
        self.dir.join("nginx.conf")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx.conf: backends `return 200 "i"`, one upstream block per group
/// (with an upstream keepalive pool after the balancer), and a front
/// server with `location = /NAME` per group reporting `$upstream_addr`.
fn config(
    dir: &Path,
    front: u16,
    front6: Option<u16>,
    backends: &[u16],
    groups: &[Group],
) -> Result<String> {
    let d = dir.display();
    let mut c = String::new();
    writeln!(c, "worker_processes 1;\ndaemon off;\nmaster_process off;")?;
    writeln!(
        c,
        "error_log stderr warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 1024; }}"
    )?;
    writeln!(
        c,
        "http {{\n    access_log off;\n    keepalive_requests 100000;"
    )?;
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        writeln!(c, "    {temp}_temp_path {d}/{temp};")?;
    }
    for (i, port) in backends.iter().enumerate() {
        writeln!(
            c,
            "    server {{ listen 127.0.0.1:{port}; return 200 \"{i}\"; }}"
        )?;
    }
    for g in groups {
        writeln!(c, "    upstream {} {{", g.name)?;
        if !g.method.is_empty() {
            writeln!(c, "        {};", g.method)?;
        }
        for (address, params) in &g.servers {
            writeln!(c, "        server {address} {params};")?;
        }
        writeln!(c, "        keepalive 8;\n    }}")?;
    }
    writeln!(c, "    server {{\n        listen 127.0.0.1:{front};")?;
    if let Some(port) = front6 {
        writeln!(c, "        listen [::]:{port} ipv6only=off;")?;
        writeln!(
            c,
            "        allow 127.0.0.0/8;\n        allow ::1;\n        deny all;"
        )?;
    }
    writeln!(
        c,
        "        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";"
    )?;
    writeln!(c, "        add_header X-Upstream $upstream_addr always;")?;
    for g in groups {
        writeln!(
            c,
            "        location = /{0} {{ proxy_pass http://{0}; }}",
            g.name
        )?;
    }
    writeln!(c, "    }}\n}}")?;
    Ok(c)
}

/// What the client saw: the status and nginx's `$upstream_addr`.
struct Answer {
    status: u16,
    upstream: String,
}

impl Answer {
    /// As [`model`] writes it.
    fn seen(&self) -> String {
        format!("{} {}", self.status, self.upstream)
    }
}

fn read_answer(r: &mut impl BufRead) -> Result<Answer> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| format!("bad status line {line:?}"))?;
    let (mut length, mut upstream) = (0usize, String::new());
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err("connection closed in headers".into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse()?;
        } else if name.eq_ignore_ascii_case("x-upstream") {
            upstream = value.trim().to_string();
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    Ok(Answer { status, upstream })
}

/// GETs `paths` over `conns` keep-alive connections, 100 pipelined at a
/// time; answers in the order of `paths`.
fn fetch_parallel(front: SocketAddr, paths: &[String], conns: usize) -> Result<Vec<Answer>> {
    let chunk = paths.len().div_ceil(conns.max(1)).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|part| s.spawn(move || fetch(front, part).map_err(|e| e.to_string())))
            .collect();
        let mut all = Vec::with_capacity(paths.len());
        for worker in workers {
            let answers = worker.join().map_err(|_| "client thread panicked")??;
            all.extend(answers);
        }
        Ok(all)
    })
}

fn fetch(front: SocketAddr, paths: &[String]) -> Result<Vec<Answer>> {
    let mut stream = TcpStream::connect_timeout(&front, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut answers = Vec::with_capacity(paths.len());
    for batch in paths.chunks(100) {
        let mut request = String::new();
        for path in batch {
            write!(request, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")?;
        }
        stream.write_all(request.as_bytes())?;
        for _ in batch {
            answers.push(read_answer(&mut reader)?);
        }
    }
    Ok(answers)
}

/// One HTTP/1.0 GET from a given source address (tokio's `TcpSocket` can
/// bind before connecting; std cannot).
fn fetch_from(target: SocketAddr, source: IpAddr, path: &str) -> Result<Answer> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = match source {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(target)).await??;
        stream.into_std()
    })?;
    let mut stream: TcpStream = stream;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n")?;
    read_answer(&mut BufReader::new(stream))
}
