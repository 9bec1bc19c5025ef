//! Static files, index, try_files, error_page and conditional and range
//! requests, differential against a running nginx: the same configuration
//! over the same document root is served by nginx, then by upgate on the
//! same port, and every response must match (status line, every header
//! line but Date, body). Multipart boundaries are compared after both are
//! replaced by one token, as nginx's counter depends on its temp files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serve_support::{Dir, Nginx, Seen, Upgate, exchange, free_port, parse_responses};

/// 2024-01-02 03:04:05 UTC.
const MTIME: u64 = 1_704_164_645;

fn write(doc: &Path, name: &str, body: &[u8]) {
    let p = doc.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, body).unwrap();
    let f = fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(MTIME))
        .unwrap();
}

fn docroot(doc: &Path) {
    write(
        doc,
        "index.nginx-debian.html",
        b"<html>welcome to nginx!</html>\n",
    );
    write(doc, "a.txt", b"alpha\n");
    write(doc, "page.html", b"<p>page</p>\n");
    write(doc, "img.gif", b"GIF89a");
    write(doc, "noext", b"no extension\n");
    write(doc, "UPPER.HTML", b"<p>upper</p>\n");
    write(doc, "404.html", b"<h1>custom 404</h1>\n");
    write(doc, "50x.html", b"<h1>custom 50x</h1>\n");
    write(doc, "dir/index.html", b"<p>dir index</p>\n");
    write(doc, "dir/b.txt", b"bravo\n");
    write(doc, "sub/c.txt", b"charlie\n");
    write(doc, "tf/default.txt", b"default\n");
    write(doc, "two/index.htm", b"<p>htm index</p>\n");
    write(doc, "sp ace/x.txt", b"space\n");
    fs::create_dir_all(doc.join("empty")).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    write(doc, "big.bin", &big);
}

fn config(port: u16, dead: u16, doc: &Path) -> String {
    let d = doc.display();
    format!(
        r#"events {{}}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        server_name debian;
        root {d};
        index index.html index.htm index.nginx-debian.html;
        location / {{
            try_files $uri $uri/ =404;
        }}
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name pages;
        root {d};
        error_page 404 /404.html;
        error_page 502 503 504 /50x.html;
        location /eq/ {{ error_page 404 = /fallback; }}
        location = /fallback {{ return 200 "fallback $uri $request_method $args\n"; }}
        location /code/ {{ error_page 404 =200 /404.html; }}
        location /code410/ {{ error_page 404 =410 /404.html; }}
        location /url/ {{ error_page 404 http://example.com/nf; }}
        location /url301/ {{ error_page 404 =301 http://example.com/nf; }}
        location /named/ {{ error_page 404 @named; }}
        location @named {{ return 200 "named $uri\n"; }}
        location /ret/ {{ error_page 403 /404.html; return 403; }}
        location /rettext/ {{ error_page 403 /404.html; return 403 "text"; }}
        location /retredir/ {{ error_page 301 /404.html; return 301 /elsewhere; }}
        location /close/ {{ return 444; }}
        location /internal/ {{ internal; }}
        location /loop/ {{ recursive_error_pages on; error_page 404 /loop/x; }}
        location /norec/ {{ error_page 404 /norec/missing; }}
        location /tf/ {{ try_files $uri /tf/default.txt; }}
        location /tfnamed/ {{ try_files $uri @named; }}
        location /tfcode/ {{ try_files $uri $uri/ =418; }}
        location /tfargs/ {{ try_files $uri /fallback?from=$uri; }}
        location /tfloop/ {{ try_files $uri /tfloop/x; }}
        location /alias/ {{ alias {d}/sub/; }}
        location ~ ^/re/(.+)$ {{ alias {d}/sub/$1; }}
        location /types/ {{ types {{ application/x-test txt; }} default_type application/octet-stream; alias {d}/; }}
        location /mime/ {{ include mime.types; alias {d}/; }}
        location /noetag/ {{ etag off; alias {d}/; }}
        location /before/ {{ if_modified_since before; alias {d}/; }}
        location /imsoff/ {{ if_modified_since off; alias {d}/; }}
        location /onerange/ {{ max_ranges 1; alias {d}/; }}
        location /norange/ {{ max_ranges 0; alias {d}/; }}
        location /hdr/ {{ add_header X-A a; add_header X-B b always; alias {d}/; }}
        location /quiet/ {{ log_not_found off; }}
        location /idx/ {{ alias {d}/dir/; index b.txt; }}
        location /abs/ {{ index /a.txt; }}
        location /iff/ {{ alias {d}/; if (!-f $request_filename) {{ return 200 "no file\n"; }} }}
        location /proxy/ {{ proxy_pass http://127.0.0.1:{dead}; }}
        location /intercept/ {{ proxy_pass http://127.0.0.1:{port}/upstream404/; proxy_intercept_errors on; proxy_set_header Host pages; }}
        location /nointercept/ {{ proxy_pass http://127.0.0.1:{port}/upstream404/; proxy_set_header Host pages; }}
        location /upstream404/ {{ return 404 "upstream says 404\n"; }}
        location /ep-proxy/ {{ error_page 404 /upstream404/x; }}
    }}
}}
"#
    )
}

struct Case {
    name: String,
    bytes: Vec<u8>,
    heads: Vec<bool>,
    n: usize,
}

fn get(host: &str, target: &str, extra: &str) -> Case {
    req("GET", host, target, extra)
}

fn req(method: &str, host: &str, target: &str, extra: &str) -> Case {
    Case {
        name: format!("{method} {host} {target} {}", extra.replace("\r\n", " | ")),
        bytes: {
            let (headers, body) = extra.split_once("\r\n\r\n").unwrap_or((extra, ""));
            let headers = if headers.is_empty() || headers.ends_with("\r\n") {
                headers.to_string()
            } else {
                format!("{headers}\r\n")
            };
            format!(
                "{method} {target} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n{body}"
            )
            .into_bytes()
        },
        heads: vec![method == "HEAD"],
        n: 1,
    }
}

fn cases() -> Vec<Case> {
    let date = "Tue, 02 Jan 2024 03:04:05 GMT";
    let earlier = "Tue, 02 Jan 2024 03:04:04 GMT";
    let later = "Tue, 02 Jan 2024 03:04:06 GMT";
    let etag_a = format!("\"{MTIME:x}-6\"");
    let mut c = vec![
        // Debian's default site
        get("debian", "/", ""),
        req("HEAD", "debian", "/", ""),
        get("debian", "/a.txt", ""),
        get("debian", "/page.html", ""),
        get("debian", "/img.gif", ""),
        get("debian", "/noext", ""),
        get("debian", "/UPPER.HTML", ""),
        get("debian", "/missing", ""),
        get("debian", "/dir", ""),
        get("debian", "/dir?x=1", ""),
        get("debian", "/dir/", ""),
        get("debian", "/dir/b.txt", ""),
        get("debian", "/two/", ""),
        get("debian", "/empty/", ""),
        get("debian", "/empty", ""),
        get("debian", "/sp%20ace", ""),
        get("debian", "/sp%20ace/x.txt", ""),
        get("debian", "/a.txt/", ""),
        get("debian", "/nodir/", ""),
        req("POST", "debian", "/a.txt", "Content-Length: 0\r\n"),
        req("POST", "debian", "/missing", "Content-Length: 0\r\n"),
        req("DELETE", "debian", "/a.txt", ""),
        req("OPTIONS", "debian", "/", ""),
        get("debian", "/big.bin", ""),
        // conditional requests
        get(
            "debian",
            "/a.txt",
            &format!("If-Modified-Since: {date}\r\n"),
        ),
        get(
            "debian",
            "/a.txt",
            &format!("If-Modified-Since: {earlier}\r\n"),
        ),
        get(
            "debian",
            "/a.txt",
            &format!("If-Modified-Since: {later}\r\n"),
        ),
        get("debian", "/a.txt", "If-Modified-Since: garbage\r\n"),
        get("debian", "/a.txt", &format!("If-None-Match: {etag_a}\r\n")),
        get(
            "debian",
            "/a.txt",
            &format!("If-None-Match: W/{etag_a}\r\n"),
        ),
        get("debian", "/a.txt", "If-None-Match: \"other\"\r\n"),
        get("debian", "/a.txt", "If-None-Match: *\r\n"),
        get(
            "debian",
            "/a.txt",
            &format!("If-None-Match: {etag_a}\r\nIf-Modified-Since: {earlier}\r\n"),
        ),
        get("debian", "/a.txt", "If-Match: \"other\"\r\n"),
        get("debian", "/a.txt", &format!("If-Match: {etag_a}\r\n")),
        get(
            "debian",
            "/a.txt",
            &format!("If-Unmodified-Since: {earlier}\r\n"),
        ),
        get(
            "debian",
            "/a.txt",
            &format!("If-Unmodified-Since: {date}\r\n"),
        ),
        req(
            "HEAD",
            "debian",
            "/a.txt",
            &format!("If-Modified-Since: {date}\r\n"),
        ),
        get(
            "pages",
            "/before/a.txt",
            &format!("If-Modified-Since: {later}\r\n"),
        ),
        get(
            "pages",
            "/before/a.txt",
            &format!("If-Modified-Since: {earlier}\r\n"),
        ),
        get(
            "pages",
            "/imsoff/a.txt",
            &format!("If-Modified-Since: {date}\r\n"),
        ),
        get("pages", "/noetag/a.txt", ""),
        get("pages", "/noetag/a.txt", "If-None-Match: *\r\n"),
        // ranges
        get("debian", "/big.bin", "Range: bytes=0-9\r\n"),
        get("debian", "/big.bin", "Range: bytes=299990-\r\n"),
        get("debian", "/big.bin", "Range: bytes=-7\r\n"),
        get("debian", "/big.bin", "Range: bytes=100-200000\r\n"),
        get("debian", "/big.bin", "Range: bytes=300000-\r\n"),
        get("debian", "/big.bin", "Range: bytes=abc\r\n"),
        get("debian", "/big.bin", "Range: items=0-1\r\n"),
        get("debian", "/big.bin", "Range: bytes=0-1,5-6\r\n"),
        get("debian", "/big.bin", "Range: bytes=0-299999,0-10\r\n"),
        get(
            "debian",
            "/a.txt",
            "Range: bytes=0-1\r\nIf-Range: \"nope\"\r\n",
        ),
        get(
            "debian",
            "/a.txt",
            &format!("Range: bytes=0-1\r\nIf-Range: {etag_a}\r\n"),
        ),
        get(
            "debian",
            "/a.txt",
            &format!("Range: bytes=0-1\r\nIf-Range: {date}\r\n"),
        ),
        get(
            "debian",
            "/a.txt",
            &format!("Range: bytes=0-1\r\nIf-Range: {earlier}\r\n"),
        ),
        get(
            "debian",
            "/a.txt",
            &format!("Range: bytes=1-2\r\nIf-Modified-Since: {date}\r\n"),
        ),
        req("HEAD", "debian", "/big.bin", "Range: bytes=0-9\r\n"),
        get("pages", "/onerange/big.bin", "Range: bytes=0-1,5-6\r\n"),
        get("pages", "/onerange/big.bin", "Range: bytes=0-1\r\n"),
        get("pages", "/norange/big.bin", "Range: bytes=0-1\r\n"),
        get("pages", "/norange/a.txt", ""),
        // error_page
        get("pages", "/nothing", ""),
        req("HEAD", "pages", "/nothing", ""),
        get("pages", "/eq/x?q=1", ""),
        req("POST", "pages", "/eq/x", "Content-Length: 3\r\n\r\nabc"),
        req("HEAD", "pages", "/eq/x", ""),
        get("pages", "/code/x", ""),
        get("pages", "/code410/x", ""),
        get("pages", "/url/x", ""),
        get("pages", "/url301/x", ""),
        get("pages", "/named/x", ""),
        get("pages", "/ret/", ""),
        get("pages", "/rettext/", ""),
        get("pages", "/retredir/", ""),
        get("pages", "/internal/a.txt", ""),
        get("pages", "/loop/x", ""),
        get("pages", "/norec/x", ""),
        get("pages", "/proxy/x", ""),
        get("pages", "/intercept/x", ""),
        get("pages", "/nointercept/x", ""),
        get("pages", "/ep-proxy/x", ""),
        // try_files
        get("pages", "/tf/missing", ""),
        get("pages", "/tf/default.txt", ""),
        get("pages", "/tfnamed/x", ""),
        get("pages", "/tfcode/x", ""),
        get("pages", "/tfargs/x?y=2", ""),
        get("pages", "/tfloop/x", ""),
        // root, alias, types, index
        get("pages", "/alias/c.txt", ""),
        get("pages", "/alias/", ""),
        get("pages", "/alias", ""),
        get("pages", "/re/c.txt", ""),
        get("pages", "/types/a.txt", ""),
        get("pages", "/types/noext", ""),
        get("pages", "/mime/a.txt", ""),
        get("pages", "/mime/page.html", ""),
        get("pages", "/hdr/a.txt", ""),
        get("pages", "/hdr/missing", ""),
        get(
            "pages",
            "/hdr/a.txt",
            &format!("If-Modified-Since: {date}\r\n"),
        ),
        get("pages", "/hdr/big.bin", "Range: bytes=0-3\r\n"),
        get("pages", "/hdr/big.bin", "Range: bytes=999999-\r\n"),
        get("pages", "/quiet/x", ""),
        get("pages", "/idx/", ""),
        get("pages", "/abs/", ""),
        get("pages", "/iff/a.txt", ""),
        get("pages", "/iff/zzz", ""),
        get("pages", "/iff/dir", ""),
    ];
    // keepalive: two requests on one connection, the first one static
    c.push(Case {
        name: "keepalive after a file and a 404".into(),
        bytes: b"GET /a.txt HTTP/1.1\r\nHost: debian\r\n\r\nGET /missing HTTP/1.1\r\nHost: debian\r\n\r\nGET /dir HTTP/1.1\r\nHost: debian\r\nConnection: close\r\n\r\n".to_vec(),
        heads: vec![false, false, false],
        n: 3,
    });
    c.push(Case {
        name: "HTTP/1.0 file".into(),
        bytes: b"GET /a.txt HTTP/1.0\r\n\r\n".to_vec(),
        heads: vec![false],
        n: 1,
    });
    c
}

/// The response without its Date line, boundaries made one token.
fn normalise(mut seen: Vec<Seen>) -> Vec<Seen> {
    for s in &mut seen {
        s.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("date"));
        let boundary = s
            .headers
            .iter()
            .find_map(|(_, v)| v.split_once("boundary=").map(|(_, b)| b.to_string()));
        if let Some(b) = boundary {
            for (_, v) in &mut s.headers {
                *v = v.replace(&b, "BOUNDARY");
            }
            let body = String::from_utf8_lossy(&s.body).replace(&b, "BOUNDARY");
            s.body = body.into_bytes();
        }
    }
    seen
}

async fn run(port: u16, case: &Case) -> (Vec<Seen>, bool) {
    let (raw, closed) = exchange(port, &case.bytes, &case.heads, case.n).await;
    (normalise(parse_responses(&raw, &case.heads)), closed)
}

fn show(seen: &(Vec<Seen>, bool)) -> String {
    let mut out = String::new();
    for s in &seen.0 {
        out.push_str(&format!("  {}\n", s.status_line));
        for (n, v) in &s.headers {
            out.push_str(&format!("  {n}: {v}\n"));
        }
        let body = String::from_utf8_lossy(&s.body);
        let body: String = body.chars().take(200).collect();
        out.push_str(&format!("  body: {body:?}\n"));
    }
    out.push_str(&format!("  closed: {}\n", seen.1));
    out
}

async fn wait_closed(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_content_matches_nginx() {
    let doc_dir = Dir::new("static-doc");
    let doc = doc_dir.path().join("www");
    docroot(&doc);
    let (port, dead) = (free_port(), free_port());
    let conf = config(port, dead, &doc);
    let cases = cases();

    let nginx = Nginx::start(&conf, &[port]);
    let mut theirs = Vec::new();
    for case in &cases {
        theirs.push(run(port, case).await);
    }
    drop(nginx);
    wait_closed(port).await;

    let upgate = Upgate::start_as(&conf, "nginx", &serve_support::nginx_version());
    let mut differ = Vec::new();
    for (case, nginx) in cases.iter().zip(&theirs) {
        let ours = run(port, case).await;
        if &ours != nginx {
            differ.push(format!(
                "{}\n nginx:\n{} upgate:\n{}",
                case.name,
                show(nginx),
                show(&ours)
            ));
        }
    }
    drop(upgate);
    eprintln!(
        "{} of {} cases match nginx",
        cases.len() - differ.len(),
        cases.len()
    );
    assert!(
        differ.is_empty(),
        "{} cases differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
