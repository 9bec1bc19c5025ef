//! `upgate route -c FILE 'GET ws://host/path' [-H 'Name: value']... [--json]`:
//! explains what nginx (and upgate) would do with one request, without
//! serving it: the listen entry, server and location (file:line), maps and
//! variables, the exact upstream request, the upstream peer, the timeouts,
//! and whether it becomes a WebSocket tunnel. The work is
//! `upgate_runtime::Runtime::explain`; this file reads flags and renders.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Instant;

use upgate_conf::{LoadOptions, Phase, load};
use upgate_runtime::explain::Explanation;
use upgate_runtime::{ClientRequest, ClientVersion, CompileOptions, Header, Runtime};

use crate::cli::RouteArgs;
use crate::report;

/// The handshake headers added for `ws://` and `wss://` URLs.
const WS_HEADERS: &[(&str, &str)] = upgate_runtime::websocket::HANDSHAKE;

pub fn run(args: &RouteArgs) -> ExitCode {
    let mut options = LoadOptions::new(&args.conf);
    options.check_environment = false;
    if let Some(prefix) = &args.prefix {
        options.prefix = prefix.clone();
    }
    let loaded = load(&options);
    if let Some(error) = &loaded.error {
        report::nginx_line(error, &loaded.config.sources);
        if error.phase == Phase::Parse {
            report::fancy(error, &loaded.config.sources);
            return ExitCode::FAILURE;
        }
        eprintln!("upgate: note: nginx -t would fail as above; explaining the request anyway");
    }
    let compile = CompileOptions {
        resolver: &resolve,
        default_port: if running_as_root() { 80 } else { 8000 },
        hostname: hostname(),
        prefix: match &args.prefix {
            Some(p) => {
                let mut p = p.as_os_str().as_encoded_bytes().to_vec();
                if p.last() != Some(&b'/') {
                    p.push(b'/');
                }
                p
            }
            None => CompileOptions::default().prefix,
        },
        regexes: None,
    };
    let rt = match Runtime::compile_with(&loaded.config, &compile) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("upgate: [emerg] {e}");
            return ExitCode::FAILURE;
        }
    };
    let parsed = match parse_request(args, &rt) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("upgate route: {e}");
            return ExitCode::from(2);
        }
    };
    let headers: Vec<Header<'_>> = parsed
        .headers
        .iter()
        .map(|(n, v)| Header {
            name: n.as_bytes(),
            value: v.as_bytes(),
        })
        .collect();
    let mut client = ClientRequest::new(
        parsed.method.as_bytes(),
        parsed.target.as_bytes(),
        parsed.client,
        parsed.local,
    );
    client.headers = headers;
    // TLS is a property of the listen, whatever the URL says.
    let listen = rt
        .listens
        .find(&parsed.local.into())
        .and_then(|a| rt.listens.get(a));
    client.ssl = listen.is_some_and(|a| a.ssl);
    let mut notes = parsed.notes.clone();
    if parsed.ssl && !client.ssl && listen.is_some() {
        notes.push(format!(
            "the URL is TLS but the listen on {} has no ssl: nginx would answer a TLS handshake with 400",
            parsed.local
        ));
    }
    client.version = if args.http10 {
        ClientVersion::Http10
    } else {
        ClientVersion::Http11
    };
    client.body_length = parsed
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok());
    // try_files and index look at the files as the server would.
    let explanation = rt.explain_with(
        &client,
        Instant::now(),
        &upgate_proxy::static_file::DiskFiles,
    );
    if args.json {
        match serde_json::to_string_pretty(&explanation) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("upgate route: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        if let Some(up) = &explanation.upstream
            && up.source.is_none()
            && !up.name.contains(' ')
        {
            let (host, port) = match up.name.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().unwrap_or(80)),
                None => (up.name.clone(), 80),
            };
            if host.parse::<IpAddr>().is_err() && resolve(&host, port).is_empty() {
                notes.push(format!(
                    "\"{host}\" does not resolve and no upstream {{}} block has that name: nginx -t fails with host not found in upstream \"{host}\""
                ));
            }
        }
        print!("{}", render(&explanation, &args.request, &notes));
    }
    ExitCode::SUCCESS
}

/// The request the flags describe.
struct Parsed {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    ssl: bool,
    client: SocketAddr,
    local: SocketAddr,
    notes: Vec<String>,
}

fn parse_request(args: &RouteArgs, rt: &Runtime) -> Result<Parsed, String> {
    let words: Vec<&str> = args.request.split_whitespace().collect();
    let (method, url) = match words.as_slice() {
        [url] => ("GET".to_string(), *url),
        [method, url] => (method.to_ascii_uppercase(), *url),
        _ => return Err(format!("expected 'METHOD URL', got '{}'", args.request)),
    };
    let mut notes = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &args.headers {
        let (n, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header '{h}' is not 'Name: value'"))?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let has = |headers: &[(String, String)], n: &str| {
        headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n))
    };
    let (scheme, authority, target) = match url.split_once("://") {
        Some((scheme, rest)) => {
            let cut = rest.find(['/', '?']).unwrap_or(rest.len());
            let path = &rest[cut..];
            let path = if path.starts_with('?') || path.is_empty() {
                format!("/{path}")
            } else {
                path.to_string()
            };
            (
                scheme.to_ascii_lowercase(),
                Some(rest[..cut].to_string()),
                path,
            )
        }
        None if url.starts_with('/') => ("http".to_string(), None, url.to_string()),
        None => return Err(format!("'{url}' is neither a URL nor a path")),
    };
    let ssl = matches!(scheme.as_str(), "https" | "wss");
    if matches!(scheme.as_str(), "ws" | "wss") {
        let mut added = Vec::new();
        for (n, v) in WS_HEADERS {
            if !has(&headers, n) {
                headers.push(((*n).to_string(), (*v).to_string()));
                added.push(*n);
            }
        }
        if !added.is_empty() {
            notes.push(format!("WebSocket handshake: added {}", added.join(", ")));
        }
    }
    if let Some(a) = &authority
        && !has(&headers, "host")
    {
        headers.insert(0, ("Host".to_string(), a.clone()));
    }
    let default_port = if ssl { 443 } else { 80 };
    let url_port = authority
        .as_deref()
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(default_port);
    let client = match &args.client {
        Some(c) => c
            .parse::<SocketAddr>()
            .or_else(|_| c.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 50000)))
            .map_err(|_| format!("--client '{c}' is not an address"))?,
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000),
    };
    let local = match &args.listen {
        Some(l) => l
            .parse::<SocketAddr>()
            .map_err(|_| format!("--listen '{l}' is not ADDR:PORT"))?,
        None => guess_local(rt, authority.as_deref(), url_port, &mut notes),
    };
    Ok(Parsed {
        method,
        target,
        headers,
        ssl,
        client,
        local,
        notes,
    })
}

/// The connection's local address when `--listen` is not given: the URL's
/// IP if it is one, else the first address listening on the URL's port,
/// else the first address the configuration listens on.
fn guess_local(
    rt: &Runtime,
    authority: Option<&str>,
    port: u16,
    notes: &mut Vec<String>,
) -> SocketAddr {
    use upgate_runtime::listen::ListenAddr;
    let host = authority.map(|a| a.rsplit_once(':').map_or(a, |(h, _)| h));
    let host = host.map(|h| h.trim_start_matches('[').trim_end_matches(']'));
    if let Some(ip) = host.and_then(|h| h.parse::<IpAddr>().ok()) {
        return SocketAddr::new(ip, port);
    }
    let loopback = |a: &SocketAddr| {
        if a.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port())
        } else {
            *a
        }
    };
    let inet: Vec<SocketAddr> = rt
        .listens
        .addrs
        .iter()
        .filter_map(|a| match &a.addr {
            ListenAddr::Inet(sa) => Some(*sa),
            ListenAddr::Unix(_) => None,
        })
        .collect();
    if let Some(a) = inet.iter().find(|a| a.port() == port) {
        return loopback(a);
    }
    match inet.first() {
        Some(a) => {
            let local = loopback(a);
            notes.push(format!(
                "nothing listens on port {port}; assuming the connection arrives on {local} (the first listen; give --listen to choose)"
            ));
            local
        }
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
    }
}

fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)];
    }
    (host, port)
        .to_socket_addrs()
        .map(|a| a.filter(SocketAddr::is_ipv4).collect())
        .unwrap_or_default()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(true)
}

fn hostname() -> Vec<u8> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().as_bytes().to_vec())
        .unwrap_or_else(|_| b"localhost".to_vec())
}

/// The human rendering.
pub fn render(e: &Explanation, asked: &str, notes: &[String]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "request     {asked}");
    let _ = writeln!(o, "            sent as {}", e.request.request_line);
    for (n, v) in &e.request.headers {
        let _ = writeln!(o, "            {n}: {v}");
    }
    for n in notes {
        let _ = writeln!(o, "            ({n})");
    }
    match &e.listen {
        Some(l) => {
            let _ = writeln!(
                o,
                "connection  {} -> {} (listen {} at {}; {} server{} here, default {})",
                e.request.client,
                e.request.local,
                l.addr,
                l.sources.join(", "),
                l.servers,
                if l.servers == 1 { "" } else { "s" },
                l.default_server
            );
        }
        None => {
            let _ = writeln!(
                o,
                "connection  {} -> {}: nothing listens there",
                e.request.client, e.request.local
            );
        }
    }
    let _ = writeln!(
        o,
        "server      {} ({}): {}",
        e.server.server_name, e.server.source, e.server.detail
    );
    let path = if e.location.path.is_empty() {
        String::new()
    } else {
        format!(" inside {}", e.location.path.join(" > "))
    };
    let _ = writeln!(
        o,
        "location    {}{}{}: {} (URI \"{}\"{})",
        e.location.name,
        e.location
            .source
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        path,
        e.location.detail,
        e.request.uri,
        if e.request.args.is_empty() {
            String::new()
        } else {
            format!(", args \"{}\"", e.request.args)
        }
    );
    for r in &e.rewrites {
        let _ = writeln!(o, "            {r}");
    }
    let result = match (&e.outcome.kind, e.outcome.status) {
        (&"proxy", _) => match &e.upstream_request {
            Some(u) => format!(
                "proxied: proxy_pass {} ({})",
                u.proxy_pass, u.proxy_pass_source
            ),
            None => e.outcome.detail.clone(),
        },
        (_, Some(status)) => {
            let mut s = format!("{status}: {}", e.outcome.detail);
            if let Some(l) = &e.outcome.location_header {
                let _ = write!(s, "; Location: {l}");
            }
            if let Some(b) = &e.outcome.body {
                let _ = write!(s, "; body {b:?}");
            }
            s
        }
        _ => e.outcome.detail.clone(),
    };
    let _ = writeln!(o, "result      {result}");
    if !e.variables.is_empty() {
        let _ = writeln!(o, "\nvariables");
        let width = e.variables.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for v in &e.variables {
            let _ = write!(o, "  {:width$} = {:?}", v.name, v.value);
            if let Some(d) = &v.detail {
                let _ = write!(o, "    {d}");
            }
            o.push('\n');
        }
    }
    if let Some(u) = &e.upstream_request {
        let _ = writeln!(o, "\nupstream request");
        let _ = writeln!(o, "  {}", u.request_line);
        let width = u
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 2)
            .max()
            .unwrap_or(0);
        for h in &u.headers {
            let line = format!("{}: {}", h.name, h.value);
            let _ = writeln!(o, "  {line:width$}    <- {}", h.from);
        }
    }
    if let Some(up) = &e.upstream {
        let _ = write!(o, "\nupstream    {}", up.name);
        if let Some(s) = &up.source {
            let _ = write!(o, " ({s})");
        }
        let _ = write!(o, ", {}: {}", up.balancer, up.servers.join(", "));
        if let Some(p) = &up.pick {
            let _ = write!(o, "; picks {p} for {}", e.request.client);
        }
        o.push('\n');
        if let Some(n) = &up.note {
            let _ = writeln!(o, "            ({n})");
        }
    }
    if let Some(t) = &e.timeouts {
        let parts: Vec<String> = t
            .iter()
            .map(|t| {
                format!(
                    "{} {} ({})",
                    t.name,
                    t.value,
                    t.source.clone().unwrap_or_else(|| "default".into())
                )
            })
            .collect();
        let _ = writeln!(o, "timeouts    {}", parts.join(", "));
    }
    if let Some(p) = &e.proxy {
        for (i, s) in p.iter().enumerate() {
            let head = if i == 0 { "proxy      " } else { "           " };
            let src = s.source.clone().unwrap_or_else(|| "default".into());
            let _ = writeln!(o, "{head} {} {} ({src})", s.name, s.value);
        }
    }
    let ws = &e.websocket;
    let _ = writeln!(o, "\nwebsocket   {}", ws.verdict);
    for p in &ws.problems {
        let _ = writeln!(o, "  - {p}");
    }
    for n in &ws.notes {
        let _ = writeln!(o, "  * {n}");
    }
    o
}
