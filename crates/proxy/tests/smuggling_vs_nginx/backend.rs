//! The recording backend of the smuggling suite. It parses what a proxy
//! sends it as strictly as an origin server would and records, in arrival
//! order, every request (method, target, whether the proxy's marker header
//! is on it, body), every byte that arrives through a tunnel after a 101,
//! and every byte it could not parse. A request that reaches it without the
//! marker was not built by the proxy: raw client bytes got through.
//!
//! Its answer to a request is `for METHOD TARGET` with a Content-Length
//! (none for HEAD), or 101 and a tunnel when the request asks to upgrade; a
//! case may replace the next answer by raw bytes (a misbehaving backend).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every read from a proxy gives up after this long.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// What reached the backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Request {
        method: String,
        target: String,
        /// The `X-Proxied` header the proxy adds was there.
        proxied: bool,
        body: Vec<u8>,
    },
    /// Bytes after a 101, merged per connection.
    Tunnel(Vec<u8>),
    /// Bytes that are no request; the backend closed on them.
    Garbage(Vec<u8>),
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned();
        match self {
            Event::Request {
                method,
                target,
                proxied,
                body,
            } => {
                let mark = if *proxied {
                    ""
                } else {
                    " (not built by the proxy)"
                };
                write!(f, "{method} {target}{mark} body {:?}", shown(body))
            }
            Event::Tunnel(b) => write!(f, "tunnel {:?}", shown(b)),
            Event::Garbage(b) => write!(f, "garbage {:?}", shown(b)),
        }
    }
}

/// The next answer replaced by raw bytes: `close` ends the connection after.
#[derive(Clone)]
pub struct Reply {
    pub raw: Vec<u8>,
    pub close: bool,
}

#[derive(Default)]
struct State {
    events: Vec<(usize, Event)>,
    next: Option<Reply>,
    conns: usize,
}

#[derive(Clone)]
pub struct Backend {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Backend {
    pub async fn start() -> Backend {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("backend bind: {e}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let backend = Backend {
            port,
            state: Arc::default(),
        };
        let accepting = backend.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let conn = accepting.with(|st| {
                    st.conns += 1;
                    st.conns
                });
                tokio::spawn(accepting.clone().serve(s, conn));
            }
        });
        backend
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        match self.state.lock() {
            Ok(mut st) => f(&mut st),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Clears the record and sets the next answer.
    pub fn reset(&self, next: Option<Reply>) {
        self.with(|st| {
            st.events.clear();
            st.next = next;
        });
    }

    pub fn events(&self) -> Vec<Event> {
        self.with(|st| st.events.iter().map(|(_, e)| e.clone()).collect())
    }

    fn record(&self, conn: usize, event: Event) {
        self.with(|st| {
            if let Event::Tunnel(more) = &event
                && let Some((c, Event::Tunnel(bytes))) = st.events.last_mut()
                && *c == conn
            {
                bytes.extend_from_slice(more);
                return;
            }
            st.events.push((conn, event));
        });
    }

    async fn serve(self, mut s: TcpStream, conn: usize) {
        let mut buf = Vec::new();
        loop {
            let request = match read_request(&mut s, &mut buf).await {
                Parsed::Request(r) => r,
                Parsed::Eof => return,
                Parsed::Garbage => {
                    self.record(conn, Event::Garbage(std::mem::take(&mut buf)));
                    return;
                }
            };
            let upgrade = request.header("upgrade").is_some();
            let close = request
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let answer = match self.with(|st| st.next.take()) {
                Some(reply) => reply,
                None if upgrade => Reply {
                    raw: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".to_vec(),
                    close: false,
                },
                None => {
                    let body = format!("for {} {}", request.method, request.target);
                    let mut raw =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                            .into_bytes();
                    if request.method != "HEAD" {
                        raw.extend_from_slice(body.as_bytes());
                    }
                    Reply { raw, close }
                }
            };
            self.record(
                conn,
                Event::Request {
                    proxied: request.header("x-proxied").is_some(),
                    method: request.method,
                    target: request.target,
                    body: request.body,
                },
            );
            if s.write_all(&answer.raw).await.is_err() || answer.close {
                return;
            }
            if answer.raw.starts_with(b"HTTP/1.1 101") {
                return self.tunnel(s, conn, buf).await;
            }
        }
    }

    /// Records what arrives after a 101 until the proxy closes.
    async fn tunnel(self, mut s: TcpStream, conn: usize, early: Vec<u8>) {
        if !early.is_empty() {
            self.record(conn, Event::Tunnel(early));
        }
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout(READ_LIMIT, s.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.record(conn, Event::Tunnel(chunk[..n].to_vec())),
                _ => return,
            }
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Parsed {
    Request(Request),
    Eof,
    Garbage,
}

/// Reads more into `buf`; false at the end of the stream or a timeout.
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(READ_LIMIT, s.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request off the front of `buf`, strictly: CRLF line ends, a
/// request line of three parts, `name: value` headers, a body framed by
/// chunked or a decimal Content-Length. Anything else is garbage (left in
/// `buf`).
async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Parsed {
    let end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 65536 || !fill(s, buf).await {
            return if buf.is_empty() {
                Parsed::Eof
            } else {
                Parsed::Garbage
            };
        }
    };
    let Ok(text) = std::str::from_utf8(&buf[..end - 4]) else {
        return Parsed::Garbage;
    };
    let mut lines = text.split("\r\n");
    let line: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let [method, target, version] = line.as_slice() else {
        return Parsed::Garbage;
    };
    if !version.starts_with("HTTP/1.") || text.split("\r\n").any(|l| l.contains(['\r', '\n'])) {
        return Parsed::Garbage;
    }
    let mut headers = Vec::new();
    for l in lines {
        match l.split_once(':') {
            Some((n, v)) if !n.is_empty() && !n.contains([' ', '\t']) => {
                headers.push((n.to_string(), v.trim().to_string()));
            }
            _ => return Parsed::Garbage,
        }
    }
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = request.header("content-length").map(|v| v.parse::<usize>());
    let mut at = end;
    if chunked {
        loop {
            let eol = loop {
                if let Some(i) = find(&buf[at..], b"\r\n") {
                    break i;
                }
                if !fill(s, buf).await {
                    return Parsed::Garbage;
                }
            };
            let Ok(size) = std::str::from_utf8(&buf[at..at + eol])
                .map_err(|_| ())
                .and_then(|t| usize::from_str_radix(t, 16).map_err(|_| ()))
            else {
                return Parsed::Garbage;
            };
            at += eol + 2;
            while buf.len() < at + size + 2 {
                if !fill(s, buf).await {
                    return Parsed::Garbage;
                }
            }
            if &buf[at + size..at + size + 2] != b"\r\n" {
                return Parsed::Garbage;
            }
            request.body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = length {
        let Ok(n) = length else {
            return Parsed::Garbage;
        };
        while buf.len() < end + n {
            if !fill(s, buf).await {
                return Parsed::Garbage;
            }
        }
        request.body = buf[end..end + n].to_vec();
        at = end + n;
    }
    buf.drain(..at);
    Parsed::Request(request)
}
