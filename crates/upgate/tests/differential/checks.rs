//! Mutations aimed at nginx's post-parse checks, drawn from their own
//! seeded stream (so the classic mutations of a base stay the same cases):
//!
//! - `listen-conflict`: a `listen` of an address the config already uses,
//!   spelled alike or differently (`*:80`, `0.0.0.0:80`, a port range, a
//!   host name), in the same or another server, with or without
//!   `default_server` and the options nginx allows once per address
//!   (`ngx_http_add_listen`, `ngx_http_add_addresses`);
//! - `shm-zone`: declarations and uses of shared memory zones, with the
//!   base's own zone names and a fresh one: `limit_req_zone`, `limit_req`,
//!   `limit_conn_zone`, `limit_conn`, `proxy_cache_path keys_zone=`,
//!   `proxy_cache`, `zone` in upstreams, `ssl_session_cache shared:`
//!   (`ngx_shared_memory_add`, the cycle's zero size check);
//! - `implicit-upstream`: `proxy_pass`, `fastcgi_pass`, `uwsgi_pass`,
//!   `scgi_pass`, `grpc_pass`, `memcached_pass` to the base's upstream names
//!   (also in other case, with and without a port) or to unknown ones, and
//!   `upstream {}` blocks added after their use (`ngx_http_upstream_add`,
//!   `ngx_http_upstream_init_round_robin`);
//! - `geo-block`: new `geo` blocks of random entries (`ranges`, CIDRs,
//!   ranges, `default`, `delete`, `proxy`), and entries added to the base's
//!   own `geo` blocks (`ngx_http_geo`).

use super::{Base, Edit, Kind, Mutant, Rng, SEED, Site, Wrap, apply, fnv, insert, terminator};

/// Cases per base and kind, when the kind has somewhere to go.
const PER_KIND: usize = 3;

/// Where a line can go: the offset just inside a block's `{` (or the top of
/// the file), and what that block is.
struct Point {
    at: usize,
    /// `http`, `server`, `location`, `upstream`, `geo`.
    block: &'static str,
    /// Shown in the case description.
    place: String,
}

/// The innermost known block a site's children are in.
fn block_of(wrap: Wrap, parents: &[String]) -> &'static str {
    for p in parents.iter().rev() {
        match p.as_str() {
            "http" => return "http",
            "server" => {
                return if parents.iter().any(|p| p == "upstream") {
                    "other"
                } else {
                    "server"
                };
            }
            "location" | "if" | "limit_except" => return "location",
            "upstream" => return "upstream",
            "geo" => return "geo",
            "events" | "stream" | "mail" | "map" | "types" | "split_clients" => return "other",
            _ => {}
        }
    }
    match wrap {
        Wrap::Direct | Wrap::Main => "main",
        Wrap::Http => "http",
        Wrap::Server => "server",
        Wrap::Location => "location",
    }
}

fn points(text: &[u8], wrap: Wrap, sites: &[Site<'_>]) -> Vec<Point> {
    let mut out = Vec::new();
    let top = block_of(wrap, &[]);
    if top != "main" {
        out.push(Point {
            at: 0,
            block: top,
            place: "the top of the file".into(),
        });
    }
    for site in sites {
        let Some(_) = &site.d.block else { continue };
        let Some(open) = terminator(text, site.d).filter(|&o| text[o] == b'{') else {
            continue;
        };
        let mut parents = site.parents.clone();
        parents.push(site.d.name().into_owned());
        let block = block_of(wrap, &parents);
        if block == "other" || block == "main" {
            continue;
        }
        // `server` inside upstream is a directive, not a block; `if` counts
        // as a location only inside one.
        if site.d.is("if") && block_of(wrap, &site.parents) != "location" {
            continue;
        }
        out.push(Point {
            at: open + 1,
            block,
            place: format!("\"{}\" at line {}", site.d.name(), site.d.line()),
        });
    }
    out
}

/// Names the base already uses for `what` (zones, upstreams), and listen
/// addresses.
struct Names {
    zones: Vec<String>,
    upstreams: Vec<String>,
    listens: Vec<String>,
}

fn names(wrap: Wrap, sites: &[Site<'_>]) -> Names {
    let mut zones = Vec::new();
    let mut upstreams = Vec::new();
    let mut listens = Vec::new();
    for site in sites {
        let d = site.d;
        for arg in &d.args {
            let v = arg.text();
            for prefix in ["zone=", "keys_zone=", "shared:"] {
                if let Some(rest) = v.strip_prefix(prefix) {
                    let name = rest.split(':').next().unwrap_or(rest);
                    if !name.is_empty() && !zones.iter().any(|z| z == name) {
                        zones.push(name.to_string());
                    }
                }
            }
        }
        if (d.is("zone") || d.is("limit_conn"))
            && let Some(name) = d.args.first()
        {
            let name = name.text().into_owned();
            if !zones.contains(&name) {
                zones.push(name);
            }
        }
        if d.is("upstream")
            && d.block.is_some()
            && let Some(name) = d.args.first()
        {
            upstreams.push(name.text().into_owned());
        }
        if d.is("listen")
            && let Some(addr) = d.args.first()
        {
            listens.push(addr.text().into_owned());
        }
    }
    if matches!(wrap, Wrap::Server | Wrap::Location) {
        listens.push("127.0.0.1:8080".into());
    }
    zones.push("diff_zone".into());
    upstreams.push("diff_backend".into());
    Names {
        zones,
        upstreams,
        listens,
    }
}

/// Another spelling of a listen address nginx takes as the same (or
/// overlapping) one.
fn respell(addr: &str, rng: &mut Rng) -> String {
    let port = addr.rsplit(':').next().unwrap_or(addr);
    let port = port.split_whitespace().next().unwrap_or(port);
    let is_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let bare = !addr.contains(':');
    match rng.below(5) {
        0 if is_port && bare => format!("*:{port}"),
        1 if is_port && bare => format!("0.0.0.0:{port}"),
        2 if is_port => {
            let next = port.parse::<u32>().map_or(8081, |p| (p + 1).min(65535));
            let host = addr.rsplit_once(':').map_or("", |(h, _)| h);
            if host.is_empty() {
                format!("{port}-{next}")
            } else {
                format!("{host}:{port}-{next}")
            }
        }
        3 if addr.starts_with("127.0.0.1:") => format!("localhost:{port}"),
        _ => addr.to_string(),
    }
}

const LISTEN_EXTRAS: &[&str] = &[
    "",
    "",
    "default_server",
    "default",
    "backlog=511",
    "reuseport",
    "bind",
    "deferred",
    "so_keepalive=on",
    "rcvbuf=64k",
    "ipv6only=on",
    "proxy_protocol",
    "http2",
    "fastopen=10",
];

fn pick_point<'p>(points: &'p [Point], blocks: &[&str], rng: &mut Rng) -> Option<&'p Point> {
    let fit: Vec<&Point> = points
        .iter()
        .filter(|p| blocks.contains(&p.block))
        .collect();
    rng.pick(&fit).copied()
}

/// A name in other case (nginx compares upstream names case-insensitively).
fn recase(name: &str, rng: &mut Rng) -> String {
    if rng.chance(25) {
        name.to_ascii_uppercase()
    } else {
        name.to_string()
    }
}

fn listen_case(points: &[Point], names: &Names, rng: &mut Rng) -> Option<(String, Vec<Edit>)> {
    let servers: Vec<&Point> = points.iter().filter(|p| p.block == "server").collect();
    let https: Vec<&Point> = points.iter().filter(|p| p.block == "http").collect();
    let line = |rng: &mut Rng| -> Option<String> {
        let addr = match rng.pick(&names.listens) {
            Some(a) if rng.chance(85) => respell(a, rng),
            _ => ["80", "8080", "127.0.0.1:8080", "[::]:8080"][rng.below(4)].to_string(),
        };
        let extra = rng.pick(LISTEN_EXTRAS)?;
        Some(format!("listen {addr} {extra}").trim_end().to_string() + ";")
    };
    let mut edits = Vec::new();
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(2) {
        let line = line(rng)?;
        // Into a server of the base, or a new server of its own.
        match rng.pick(&servers) {
            Some(server) if https.is_empty() || rng.chance(60) => {
                edits.push(insert(server.at, format!("\n    {line}\n").as_bytes()));
                what.push(format!("[{line}] at the start of {}", server.place));
            }
            _ => {
                let http = *rng.pick(&https)?;
                let block = format!("server {{ {line} }}");
                edits.push(insert(http.at, format!("\n    {block}\n").as_bytes()));
                what.push(format!("[{block}] at the start of {}", http.place));
            }
        }
    }
    Some((format!("add {}", what.join(" and ")), edits))
}

const CACHE_PARAMS: &[&str] = &[
    "levels=1:2",
    "levels=3",
    "levels=1:2:2:1",
    "inactive=1h",
    "inactive=x",
    "use_temp_path=off",
    "max_size=1g",
    "loader_sleep=1x",
    "bogus=1",
];

fn zone_case(points: &[Point], names: &Names, rng: &mut Rng) -> Option<(String, Vec<Edit>)> {
    let zone = rng.pick(&names.zones)?.clone();
    let size = ["10m", "20m", "1m", "64k"][rng.below(4)];
    let lines: Vec<(&[&str], String)> = vec![
        (
            &["http"],
            format!("limit_req_zone $binary_remote_addr zone={zone}:{size} rate=1r/s;"),
        ),
        (
            &["http"],
            format!("limit_conn_zone $binary_remote_addr zone={zone}:{size};"),
        ),
        (
            &["http", "server", "location"],
            format!("limit_req zone={zone} burst=5;"),
        ),
        (
            &["http", "server", "location"],
            format!("limit_conn {zone} 10;"),
        ),
        (
            &["http"],
            format!(
                "proxy_cache_path cache_{zone} {} keys_zone={zone}:{size};",
                CACHE_PARAMS[rng.below(CACHE_PARAMS.len())]
            ),
        ),
        (
            &["http"],
            format!("fastcgi_cache_path cache_{zone} keys_zone={zone}:{size};"),
        ),
        (
            &["http", "server", "location"],
            format!("proxy_cache {zone};"),
        ),
        (&["upstream"], format!("zone {zone};")),
        (&["upstream"], format!("zone {zone} {size};")),
        (
            &["http", "server"],
            format!("ssl_session_cache shared:{zone}:{size};"),
        ),
    ];
    let mut edits = Vec::new();
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(2) {
        let (blocks, line) = rng.pick(&lines)?;
        let Some(point) = pick_point(points, blocks, rng) else {
            continue;
        };
        if edits.iter().any(|e: &Edit| e.start == point.at) {
            continue;
        }
        edits.push(insert(point.at, format!("\n    {line}\n").as_bytes()));
        what.push(format!("[{line}] at the start of {}", point.place));
    }
    (!edits.is_empty()).then(|| (format!("add {}", what.join(" and ")), edits))
}

fn pass_case(
    text: &[u8],
    points: &[Point],
    names: &Names,
    rng: &mut Rng,
) -> Option<(String, Vec<Edit>)> {
    let name = recase(rng.pick(&names.upstreams)?, rng);
    let name = match rng.below(6) {
        0 => "127.0.0.1".to_string(),
        1 => "localhost".to_string(),
        2 => "nosuch.invalid".to_string(),
        _ => name,
    };
    let port = match rng.below(3) {
        0 => String::new(),
        1 => ":8080".into(),
        _ => ":9000".into(),
    };
    let line = match rng.below(8) {
        0 | 1 => format!("proxy_pass http://{name}{port};"),
        2 => format!("fastcgi_pass {name}{port};"),
        3 => format!("uwsgi_pass {name}{port};"),
        4 => format!("scgi_pass {name}{port};"),
        5 => format!("grpc_pass grpc://{name}{port};"),
        6 => format!("memcached_pass {name}{port};"),
        _ => format!("fastcgi_pass {name};"),
    };
    let mut edits = Vec::new();
    let what;
    match pick_point(points, &["location"], rng) {
        Some(point) if rng.chance(70) => {
            edits.push(insert(point.at, format!("\n    {line}\n").as_bytes()));
            what = format!("add [{line}] at the start of {}", point.place);
        }
        _ => match pick_point(points, &["server"], rng) {
            Some(point) if rng.chance(60) => {
                let block = format!("location /__diff_pass {{ {line} }}");
                edits.push(insert(point.at, format!("\n    {block}\n").as_bytes()));
                what = format!("add [{block}] at the start of {}", point.place);
            }
            _ => {
                let point = pick_point(points, &["http"], rng)?;
                let block = format!("server {{ location /__diff_pass {{ {line} }} }}");
                edits.push(insert(point.at, format!("\n    {block}\n").as_bytes()));
                what = format!("add [{block}] at the start of {}", point.place);
            }
        },
    }
    // Sometimes the upstream block comes after its use.
    if rng.chance(35) {
        let http: Vec<&Point> = points.iter().filter(|p| p.block == "http").collect();
        let point = *rng.pick(&http)?;
        let block = format!("upstream {} {{ server 127.0.0.1:1; }}", recase(&name, rng));
        // At the end of that http block: just before its `}` when it is
        // one, else the end of the file.
        let at = if point.at == 0 {
            text.len()
        } else {
            close_of(text, point.at)?
        };
        edits.push(insert(at, format!("\n    {block}\n").as_bytes()));
        return Some((
            format!("{what} and [{block}] at the end of the http block"),
            edits,
        ));
    }
    Some((what, edits))
}

/// The `}` that closes the block opened just before `open`, skipping
/// quotes and comments.
fn close_of(text: &[u8], open: usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = open;
    let mut quote = None;
    while let Some(&c) = text.get(i) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), b'\\') => i += 1,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'#') => {
                while text.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            (None, b'{') => depth += 1,
            (None, b'}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

const GEO_LINES: &[&str] = &[
    "ranges;",
    "10.0.0.0/8 a;",
    "10.0.0.0/8 b;",
    "10.0.0.1/8 c;",
    "1.0.0.0-1.0.0.255 a;",
    "1.0.0.100-1.0.1.0 b;",
    "1.0.0.0-1.0.0.255 c;",
    "default x;",
    "delete 10.0.0.0/8;",
    "delete 1.0.0.0-1.0.0.255;",
    "proxy 1.2.3.4;",
    "proxy 10.0.0.0/33;",
    "proxy_recursive;",
    "::1/128 v6;",
    "255.255.255.255 z;",
    "127.0.0.1 lo;",
    "a b c;",
];

fn geo_case(points: &[Point], rng: &mut Rng) -> Option<(String, Vec<Edit>)> {
    let mut lines: Vec<&str> = Vec::new();
    if rng.chance(50) {
        lines.push("ranges;");
    }
    for _ in 0..1 + rng.below(3) {
        lines.push(rng.pick(GEO_LINES)?);
    }
    let body = lines.join(" ");
    // Into one of the base's geo blocks, or a new one.
    if let Some(point) = pick_point(points, &["geo"], rng).filter(|_| rng.chance(50)) {
        return Some((
            format!("add [{body}] at the start of {}", point.place),
            vec![insert(point.at, format!("\n    {body}\n").as_bytes())],
        ));
    }
    let point = pick_point(points, &["http"], rng)?;
    let src = if rng.chance(30) { "$remote_addr " } else { "" };
    let block = format!("geo {src}$diff_geo {{ {body} }}");
    Some((
        format!("add [{block}] at the start of {}", point.place),
        vec![insert(point.at, format!("\n    {block}\n").as_bytes())],
    ))
}

/// The check mutants of one base.
pub(super) fn mutants(base: &Base, sites: &[Site<'_>]) -> Vec<Mutant> {
    let text = &base.text;
    let points = points(text, base.wrap, sites);
    let names = names(base.wrap, sites);
    let mut rng = Rng::new(SEED ^ fnv(&base.name) ^ 0xc4ec_5c4e_c5c4_ec5c);
    let mut seen = std::collections::HashSet::new();
    seen.insert(text.clone());
    let mut out = Vec::new();
    for kind in [
        Kind::ListenConflict,
        Kind::ShmZone,
        Kind::ImplicitUpstream,
        Kind::GeoBlock,
    ] {
        let mut made = 0;
        for _ in 0..PER_KIND * 20 {
            if made == PER_KIND {
                break;
            }
            let case = match kind {
                Kind::ListenConflict => listen_case(&points, &names, &mut rng),
                Kind::ShmZone => zone_case(&points, &names, &mut rng),
                Kind::ImplicitUpstream => pass_case(text, &points, &names, &mut rng),
                _ => geo_case(&points, &mut rng),
            };
            let Some((what, edits)) = case else { continue };
            let Some(mutated) = apply(text, edits) else {
                continue;
            };
            if seen.insert(mutated.clone()) {
                out.push(Mutant {
                    kind,
                    what,
                    text: mutated,
                });
                made += 1;
            }
        }
    }
    out
}
