//! The configuration and request generator of the routing differential
//! test: a seeded PRNG (splitmix64) builds servers with random `listen`
//! sets and `server_name`s (exact, `*.x`, `.x`, `x.*`, regexes, none),
//! location trees of every kind (nested, `^~`, `=`, `~`, `~*`, proxy_pass
//! for the auto-redirect), a `map`, and requests aimed at them (hosts with
//! case changes, trailing dots and ports; paths with %-escapes, `..`, `//`,
//! case changes; absolute-form targets; HTTP/1.0 without Host).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::SocketAddr;

#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
}

/// One request to send to both sides.
#[derive(Debug, Clone)]
pub struct Req {
    pub local: SocketAddr,
    pub method: String,
    pub target: String,
    pub http10: bool,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn raw(&self) -> Vec<u8> {
        let mut s = format!(
            "{} {} HTTP/1.{}\r\n",
            self.method,
            self.target,
            if self.http10 { 0 } else { 1 }
        );
        for (n, v) in &self.headers {
            let _ = write!(s, "{n}: {v}\r\n");
        }
        s.push_str("Connection: close\r\n\r\n");
        s.into_bytes()
    }
}

/// A generated configuration and its requests.
pub struct Case {
    pub http_body: String,
    pub probe: SocketAddr,
    pub requests: Vec<Req>,
}

const LABELS: &[&str] = &["a", "b", "www", "api", "x", "cdn"];
const TLDS: &[&str] = &["test", "example", "t"];
const PREFIXES: &[&str] = &[
    "/", "/a", "/a/", "/ab", "/a/b", "/a/b/", "/b", "/b/", "/c/d", "/c/d/", "/A/", "/x y/", "/%/",
];
const EXACTS: &[&str] = &["/", "/a", "/a/", "/b/x.php", "/c/d", "/ab"];
const REGEXES: &[&str] = &[
    "^/a",
    r"\.php$",
    "b$",
    "/c/",
    r"^/(?<seg>[a-z]+)/x",
    "^/A",
    "^/b/(.*)$",
    r"\.(gif|jpg)$",
    "^/$",
    "d/?$",
];
const SUFFIXES: &[&str] = &["x", "/", "b/", "c", "/d", "x.php"];

struct Gen<'r> {
    rng: &'r mut Rng,
    out: String,
    hosts: Vec<String>,
    paths: Vec<String>,
    next_loc: usize,
    listened: Vec<SocketAddr>,
}

/// Builds one configuration (servers on `ports[0]` and `ports[1]`,
/// proxy_pass to the closed `ports[2]`) and `n` requests.
pub fn case(rng: &mut Rng, ports: [u16; 3], n: usize) -> Case {
    let mut g = Gen {
        rng,
        out: String::new(),
        hosts: Vec::new(),
        paths: Vec::new(),
        next_loc: 0,
        listened: Vec::new(),
    };
    let [p1, p2, dead] = ports;
    g.map();
    let servers = 2 + g.rng.below(4);
    let mut defaults: HashSet<String> = HashSet::new();
    for s in 0..servers {
        g.server(s, p1, p2, dead, &mut defaults);
    }
    let addrs: Vec<SocketAddr> = [
        format!("127.0.0.1:{p1}"),
        format!("127.0.0.1:{p1}"),
        format!("127.0.0.2:{p1}"),
        format!("127.0.0.3:{p1}"),
        format!("127.0.0.1:{p2}"),
        format!("[::1]:{p1}"),
    ]
    .iter()
    .filter_map(|a| a.parse().ok())
    .collect();
    let requests = (0..n).map(|_| g.request(&addrs)).collect();
    Case {
        http_body: g.out,
        probe: g.listened[0],
        requests,
    }
}

impl Gen<'_> {
    fn label(&mut self) -> &'static str {
        let label: &&'static str = self.rng.pick(LABELS);
        label
    }

    fn host_name(&mut self) -> String {
        let tld = *self.rng.pick(TLDS);
        if self.rng.chance(50) {
            format!("{}.{tld}", self.label())
        } else {
            format!("{}.{}.{tld}", self.label(), self.label())
        }
    }

    fn map(&mut self) {
        let sources = ["$host", "$host", "$uri", "$http_x_k", "$arg_k", "$host$uri"];
        let source = *self.rng.pick(&sources);
        let hostnames = source == "$host" && self.rng.chance(60);
        let _ = writeln!(self.out, "    map {source} $m {{");
        if hostnames {
            self.out.push_str("        hostnames;\n");
        }
        if self.rng.chance(80) {
            self.out.push_str("        default dflt;\n");
        }
        let mut used: HashSet<String> = HashSet::new();
        for i in 0..(1 + self.rng.below(6)) {
            let key = match (source, self.rng.below(4)) {
                (_, 0) => {
                    let re = *self.rng.pick(&[
                        r"~^(?<mx>[a-z]+)\.",
                        r"~*^WWW",
                        r"~^/a(.*)",
                        r"~(\d+)",
                        "~^$",
                        r"~^(.)",
                    ]);
                    format!("\"{re}\"")
                }
                ("$uri" | "$host$uri", _) => (*self.rng.pick(PREFIXES)).to_string(),
                ("$host", 1) if hostnames => {
                    let h = self.host_name();
                    let base = h.split_once('.').map_or(h.clone(), |x| x.1.to_string());
                    match self.rng.below(3) {
                        0 => format!("*.{base}"),
                        1 => format!(".{base}"),
                        _ => format!("{}.*", self.label()),
                    }
                }
                _ => {
                    let h = self.host_name();
                    if self.rng.chance(30) {
                        h.to_uppercase()
                    } else {
                        h
                    }
                }
            };
            let norm = key
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            if !key.starts_with('"') && !used.insert(norm) {
                continue;
            }
            if !key.starts_with('"') && key.contains(' ') {
                continue;
            }
            let value = match self.rng.below(4) {
                0 => "r$1".to_string(),
                1 => "u$uri".to_string(),
                2 => "\"\"".to_string(),
                _ => format!("v{i}"),
            };
            let _ = writeln!(self.out, "        {key} {value};");
            if !key.starts_with('"') && !key.contains('*') {
                self.hosts.push(key.trim_start_matches('.').to_string());
            }
        }
        self.out.push_str("    }\n");
    }

    fn server(&mut self, s: usize, p1: u16, p2: u16, dead: u16, defaults: &mut HashSet<String>) {
        let _ = writeln!(self.out, "    server {{");
        let choices = [
            format!("127.0.0.1:{p1}"),
            format!("{p1}"),
            format!("127.0.0.2:{p1}"),
            format!("{p2}"),
            format!("[::1]:{p1}"),
        ];
        let mut listens: Vec<String> = Vec::new();
        for _ in 0..(1 + self.rng.below(2)) {
            let l = self.rng.pick(&choices).clone();
            if !listens.contains(&l) {
                listens.push(l);
            }
        }
        for l in &listens {
            let probe = if l.contains(':') {
                l.clone()
            } else {
                format!("127.0.0.1:{l}")
            };
            if let Ok(a) = probe.parse() {
                self.listened.push(a);
            }
            let key = if l.contains(':') {
                l.clone()
            } else {
                format!("*:{l}")
            };
            let default = self.rng.chance(20) && defaults.insert(key);
            let _ = writeln!(
                self.out,
                "        listen {l}{};",
                if default { " default_server" } else { "" }
            );
        }
        let mut names: Vec<String> = Vec::new();
        for _ in 0..self.rng.below(4) {
            let tld = *self.rng.pick(TLDS);
            let name = match self.rng.below(8) {
                0 | 1 => self.host_name(),
                2 => format!("*.{}.{tld}", self.label()),
                3 => format!(".{}.{tld}", self.label()),
                4 => format!("{}.*", self.label()),
                5 => format!("~^(?<sub>[a-z]+)\\.{}\\.{tld}$", self.label()),
                6 => {
                    (*self
                        .rng
                        .pick(&[r"~^w\d*\.", r"~^[A-Z]+\.t$", r"~^(www|api)\.(.+)$", "\"\""]))
                    .to_string()
                }
                _ => format!("{}.{}", self.label(), self.label()),
            };
            self.hosts.push(name.clone());
            names.push(name);
        }
        if !names.is_empty() {
            let _ = writeln!(self.out, "        server_name {};", names.join(" "));
        }
        let _ = writeln!(self.out, "        add_header X-Loc \"S{s}|-|$m\" always;");
        if self.rng.chance(10) {
            self.out.push_str("        merge_slashes off;\n");
        }
        if self.rng.chance(20) {
            self.out.push_str("        rewrite ^/old(.*)$ /a$1 last;\n");
            self.paths.push("/old/b".into());
            self.paths.push("/oldx".into());
        }
        if self.rng.chance(15) {
            let _ = writeln!(
                self.out,
                "        if ($http_x_k = abc) {{ return 200 \"S{s}|if|$m|$1\"; }}"
            );
        }
        let n = 1 + self.rng.below(7);
        let mut siblings = HashSet::new();
        for _ in 0..n {
            self.location(s, None, dead, 2, &mut siblings);
        }
        self.out.push_str("    }\n");
    }

    /// One location; `parent` is (modifier, name) of the enclosing one.
    fn location(
        &mut self,
        s: usize,
        parent: Option<(&str, String)>,
        dead: u16,
        depth: usize,
        siblings: &mut HashSet<(bool, String)>,
    ) {
        let (modifier, name) = match &parent {
            Some(("~" | "~*", _)) => (if self.rng.chance(50) { "~" } else { "~*" }, self.regex()),
            Some((_, pname)) => {
                if self.rng.chance(30) {
                    ("~", self.regex())
                } else {
                    let m = *self.rng.pick(&["", "", "^~", "="]);
                    (m, format!("{pname}{}", self.rng.pick(SUFFIXES)))
                }
            }
            None => match self.rng.below(6) {
                0 => ("=", (*self.rng.pick(EXACTS)).to_string()),
                1 => ("^~", (*self.rng.pick(PREFIXES)).to_string()),
                2 => ("~", self.regex()),
                3 => ("~*", self.regex()),
                _ => ("", (*self.rng.pick(PREFIXES)).to_string()),
            },
        };
        if !modifier.starts_with('~') {
            // nginx refuses two `=` or two inclusive locations of one name
            if !siblings.insert((modifier == "=", name.clone())) {
                return;
            }
            self.paths.push(name.clone());
        }
        let id = self.next_loc;
        self.next_loc += 1;
        let indent = "    ".repeat(4 - depth);
        let quoted = format!("\"{name}\"");
        let shown = if name.contains(' ') || name.contains('{') || name.contains('$') {
            &quoted
        } else {
            &name
        };
        let _ = writeln!(self.out, "{indent}location {modifier} {shown} {{");
        let _ = writeln!(
            self.out,
            "{indent}    add_header X-Loc \"S{s}|L{id}|$m\" always;"
        );
        if self.rng.chance(10) {
            let _ = writeln!(self.out, "{indent}    rewrite ^(.*)\\.GIF$ $1.gif last;");
        }
        if self.rng.chance(8) {
            let _ = writeln!(
                self.out,
                "{indent}    if ($arg_k ~ ^v(\\d)) {{ return 200 \"S{s}|L{id}if|$m|$1\"; }}"
            );
        }
        let proxy = !modifier.starts_with('~') && self.rng.chance(25);
        if proxy {
            let _ = writeln!(self.out, "{indent}    proxy_pass http://127.0.0.1:{dead};");
        } else {
            let _ = writeln!(self.out, "{indent}    return 200 \"S{s}|L{id}|$m|$1\";");
        }
        if depth > 1 && modifier != "=" && self.rng.chance(35) {
            let mut nested = HashSet::new();
            for _ in 0..(1 + self.rng.below(3)) {
                self.location(
                    s,
                    Some((modifier, name.clone())),
                    dead,
                    depth - 1,
                    &mut nested,
                );
            }
        }
        let _ = writeln!(self.out, "{indent}}}");
    }

    fn regex(&mut self) -> String {
        (*self.rng.pick(REGEXES)).to_string()
    }

    fn host(&mut self) -> String {
        let base = if !self.hosts.is_empty() && self.rng.chance(85) {
            let h = self.rng.pick(&self.hosts).clone();
            self.instantiate(&h)
        } else {
            self.host_name()
        };
        let mut h = base;
        if self.rng.chance(20) {
            h = h.to_uppercase();
        }
        if self.rng.chance(10) {
            h.push('.');
        }
        if self.rng.chance(15) {
            h.push_str(":8080");
        }
        if self.rng.chance(3) {
            h = (*self
                .rng
                .pick(&["a..b", "x/y", ".", "", "[::1]", "bad\thost"]))
            .to_string();
        }
        h
    }

    /// A concrete host for a server name or map key.
    fn instantiate(&mut self, name: &str) -> String {
        if let Some(base) = name.strip_prefix("*.") {
            return format!("{}.{base}", self.label());
        }
        if let Some(base) = name.strip_prefix('.') {
            return if self.rng.chance(50) {
                base.to_string()
            } else {
                format!("{}.{base}", self.label())
            };
        }
        if let Some(base) = name.strip_suffix(".*") {
            return format!("{base}.{}", self.rng.pick(TLDS));
        }
        if name.starts_with('~') || name.starts_with('"') {
            let l = self.label();
            return (*self.rng.pick(&[
                format!("{l}.a.test").as_str(),
                "w12.test",
                "WWW.t",
                "api.b.example",
                "abc.t",
                "cdn.x.test",
            ]))
            .to_string();
        }
        name.to_string()
    }

    fn path(&mut self) -> String {
        let mut p = if !self.paths.is_empty() && self.rng.chance(85) {
            self.rng.pick(&self.paths).clone()
        } else {
            (*self
                .rng
                .pick(&["/", "/zz", "/b/q.jpg", "/a/B", "/seg/x", "/D"]))
            .to_string()
        };
        p = p.replace(' ', "%20");
        p = p.replace("/%/", "/%25/");
        match self.rng.below(12) {
            0 => p.push('x'),
            1 => p.push_str("/y"),
            2 => p.push_str(".php"),
            3 if p.len() > 1 && p.ends_with('/') => {
                p.pop();
            }
            4 => p = p.to_uppercase(),
            5 => p = p.replacen('/', "//", 1),
            6 => p = format!("/./{}", p.trim_start_matches('/')),
            7 => p = format!("/z/..{p}"),
            8 => p = p.replacen('a', "%61", 1),
            9 => p = p.replacen('/', "%2F", 2).replacen("%2F", "/", 1),
            10 => p.push_str(".GIF"),
            _ => {}
        }
        if self.rng.chance(3) {
            p = (*self.rng.pick(&[
                "/%zz",
                "/../x",
                "/a/%2e%2e/%2e%2e/x",
                "/a%",
                "/a#frag",
                "/%00",
            ]))
            .to_string();
        }
        if self.rng.chance(25) {
            p.push_str(if self.rng.chance(50) {
                "?k=v1&x=y"
            } else {
                "?a=1"
            });
        }
        p
    }

    fn request(&mut self, addrs: &[SocketAddr]) -> Req {
        let local = *self.rng.pick(addrs);
        let host = self.host();
        let mut target = self.path();
        let http10 = self.rng.chance(4);
        let mut headers = Vec::new();
        if self.rng.chance(5) {
            let h = self.host();
            target = format!("http://{}{target}", h.trim_end_matches(":8080"));
        }
        if !http10 {
            headers.push(("Host".to_string(), host));
        }
        if self.rng.chance(30) {
            let v = (*self.rng.pick(&["www.a.test", "abc", "12", ""])).to_string();
            headers.push(("X-K".to_string(), v));
        }
        Req {
            local,
            method: "GET".into(),
            target,
            http10,
            headers,
        }
    }
}
