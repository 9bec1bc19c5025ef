//! The traffic of the conformance harness: a deterministic generator (seeded
//! xorshift) of client requests over methods, header case, order and
//! duplicates, bodies with Content-Length and chunked, HTTP/1.0 clients,
//! pipelining, valid and invalid upgrades, the locations of the harness's
//! config (proxy_set_header inheritance and empty values, proxy_pass with and
//! without URI and with variables, return, redirects, upstream failures)
//! and the backend's response shapes; plus fixed invalid requests.
#![allow(dead_code)]

/// One client exchange.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Per request: was it HEAD.
    pub heads: Vec<bool>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const PATHS: &[&str] = &[
    "/plain/",
    "/uri/",
    "/empty/",
    "/vars/",
    "/vars2/",
    "/ws/",
    "/ws10/",
    "/ka/",
    "/dead/",
    "/retry/",
    "/xff/",
    "/ret/",
    "/redir/",
    "/hide/",
    "/redirect/",
    "/exact",
    "/x/y.php",
    "/slash",
    "/big/",
    "/nolocation/",
    "/plain/",
    "/uri/",
    "/ws/",
    "/ka/",
];
const SUFFIXES: &[&str] = &["", "a", "a%20b", "a/../b", "x//y", "%41", "deep/er/path"];
const KINDS: &[&str] = &[
    "",
    "ok",
    "chunked",
    "close",
    "http10",
    "nocontent",
    "notmod",
    "reason",
    "redirect",
    "e500",
    "e502",
    "upg",
    "empty",
];
const METHODS: &[&str] = &[
    "GET", "GET", "GET", "GET", "HEAD", "POST", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
];

/// One generated request; returns its bytes and whether it is HEAD.
fn request(rng: &mut Rng, last: bool, name: &mut String) -> (Vec<u8>, bool) {
    let method = *rng.pick(METHODS);
    let mut path = format!("{}{}", rng.pick(PATHS), rng.pick(SUFFIXES));
    if path == "/exact" || path.starts_with("/exact") {
        path = "/exact".into();
    }
    let kind = *rng.pick(KINDS);
    if !kind.is_empty() {
        path.push_str(&format!("?k={kind}"));
        if rng.chance(30) {
            path.push_str("&q=1");
        }
    }
    let http10 = rng.chance(15);
    let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut lines: Vec<String> = Vec::new();
    let host_name = *rng.pick(&["Host", "host", "HOST"]);
    let host_value = *rng.pick(&["example.com", "Example.COM:8080", "b.example"]);
    if !http10 || rng.chance(70) {
        lines.push(format!("{host_name}: {host_value}"));
    }
    let optional: &[(u64, &[&str])] = &[
        (50, &["User-Agent: conformance/1"]),
        (30, &["Accept: */*"]),
        (20, &["X-Mixed-Case: Value"]),
        (20, &["x-dup: one", "X-Dup: two"]),
        (20, &["X-Forwarded-For: 1.1.1.1"]),
        (15, &["Cookie: a=1", "Cookie: b=2"]),
        (15, &["X_Under: u"]),
        (10, &["TE: trailers"]),
        (10, &["Keep-Alive: 300"]),
        (15, &["X-Empty: from-client"]),
        (15, &["X-Srv: from-client"]),
        (10, &["X-Custom: from-client", "X-Var: v"]),
    ];
    for (p, group) in optional {
        if rng.chance(*p) {
            for l in *group {
                lines.push((*l).to_string());
            }
        }
    }
    let upgrade = rng.below(10);
    match upgrade {
        0 | 1 => {
            lines.push("Upgrade: websocket".into());
            lines.push("Connection: Upgrade".into());
            lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".into());
            lines.push("Sec-WebSocket-Version: 13".into());
            name.push_str(" upgrade");
        }
        2 => {
            lines.push("Upgrade: websocket".into());
            lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".into());
            name.push_str(" upgrade-no-connection");
        }
        3 => {
            lines.push("Connection: keep-alive, Upgrade".into());
            lines.push("Upgrade: h2c".into());
            name.push_str(" upgrade-h2c");
        }
        _ => {
            if last && rng.chance(30) {
                lines.push("Connection: close".into());
            } else if http10 && rng.chance(40) {
                lines.push("Connection: keep-alive".into());
            }
        }
    }
    // Shuffle a little: move one line to the front.
    if lines.len() > 2 && rng.chance(30) {
        let i = rng.below(lines.len());
        let l = lines.remove(i);
        lines.insert(0, l);
    }
    let with_body = matches!(method, "POST" | "PUT" | "PATCH") || rng.chance(5);
    let mut body: Vec<u8> = Vec::new();
    if with_body {
        match rng.below(4) {
            0 => lines.push("Content-Length: 0".into()),
            1 if !http10 => {
                lines.push("Transfer-Encoding: chunked".into());
                let parts = 1 + rng.below(3);
                for i in 0..parts {
                    let chunk = format!("part{i}-{}", "x".repeat(rng.below(12)));
                    body.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
                }
                body.extend_from_slice(b"0\r\n\r\n");
                name.push_str(" chunked");
            }
            _ => {
                let n = rng.below(24);
                body = "b".repeat(n).into_bytes();
                lines.push(format!("Content-Length: {n}"));
                if !http10 && rng.chance(15) {
                    lines.push("Expect: 100-continue".into());
                    name.push_str(" expect");
                }
            }
        }
    }
    name.push_str(&format!(" {method} {path} {version}"));
    let mut out = format!("{method} {path} {version}\r\n").into_bytes();
    for l in &lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    (out, method == "HEAD")
}

/// Requests nginx refuses or treats specially, each once.
const FIXED: &[(&str, &str)] = &[
    (
        "CL and TE",
        "POST /plain/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE gzip",
        "POST /plain/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    ),
    (
        "bad chunk size",
        "POST /plain/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ),
    ("no Host", "GET /plain/ HTTP/1.1\r\nUser-Agent: x\r\n\r\n"),
    (
        "two Hosts",
        "GET /plain/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ),
    (
        "bad CL",
        "POST /plain/ HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
    ),
    (
        "HTTP/1.0 chunked",
        "POST /plain/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "too large",
        "POST /big/ HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
    ),
    (
        "too large chunked",
        "POST /big/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n",
    ),
    ("bad version", "GET /plain/ HTTP/2.0\r\nHost: a\r\n\r\n"),
    ("lower method", "get /plain/ HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("TRACE", "TRACE /plain/ HTTP/1.1\r\nHost: a\r\n\r\n"),
    (
        "absolute form",
        "GET http://Other.Host:81/plain/abs?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    (
        "leading CRLF",
        "\r\nGET /plain/ HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    (
        "slow upstream",
        "GET /slow/?k=slow HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    (
        "slow upstream HEAD",
        "HEAD /slow/?k=slow HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    (
        "dot segments",
        "GET /plain/../uri/x HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    (
        "encoded slash",
        "GET /uri/a%2Fb/../c?z=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    (
        "vars2 args dropped",
        "GET /vars2/whatever?z=1 HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    ("HTTP/0.9", "GET /ret/\r\n"),
    (
        "Connection close keepalive",
        "GET /ka/?k=ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ),
];

/// `count` generated cases (seeded), then the fixed ones.
pub fn cases(count: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng(seed.max(1));
    let mut out = Vec::with_capacity(count + FIXED.len());
    for i in 0..count {
        let pipelined = rng.chance(15);
        let n = if pipelined { 2 } else { 1 };
        let mut name = format!("#{i}");
        let mut bytes = Vec::new();
        let mut heads = Vec::new();
        for k in 0..n {
            if k > 0 {
                name.push_str(" |");
            }
            let (b, head) = request(&mut rng, k + 1 == n, &mut name);
            bytes.extend_from_slice(&b);
            heads.push(head);
        }
        out.push(Case { name, bytes, heads });
    }
    for (name, text) in FIXED {
        out.push(Case {
            name: format!("fixed: {name}"),
            bytes: text.as_bytes().to_vec(),
            heads: vec![text.starts_with("HEAD")],
        });
    }
    out
}
