//! Slow and stalled clients against nginx: each case is a script of writes
//! and pauses sent at once to nginx and to upgate (announcing itself as that
//! nginx), each on its own ports with the same configuration, and what the
//! client saw compared: the bytes it received and how the connection ended
//! (FIN, reset, or still open when the case gave up).
//!
//! Covered, each with reset_timedout_connection off and on (one server each):
//! - a head dripped a byte at a time for longer than client_header_timeout
//!   (the timer covers the whole head and is not re-armed per byte);
//! - a connection that sends nothing (closed by the same timer, never reset:
//!   nginx has no request to free yet);
//! - a body that stops (client_body_timeout, re-armed per read: a slow but
//!   steady body still gets through);
//! - `return 444` with a pipelined request behind it;
//! - a client that never reads a large response (send_timeout), and one
//!   that never reads its WebSocket tunnel while the backend floods it.
//!
//! nginx is required: the tests fail, never skip, without it.

mod serve_support;

use std::time::{Duration, Instant};

use serve_support::{Nginx, Upgate, free_port, nginx_version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// The longest a case waits for the server to end the connection.
const GIVE_UP: Duration = Duration::from_secs(8);

const CONF: &str = r#"events {}
http {
    access_log off;
    client_header_timeout 1s;
    client_body_timeout 1s;
    send_timeout 1s;
    keepalive_timeout 30s;
    server {
        listen 127.0.0.1:{OFF};
        include {DIR}/locations.conf;
    }
    server {
        listen 127.0.0.1:{ON};
        reset_timedout_connection on;
        include {DIR}/locations.conf;
    }
    server {
        listen 127.0.0.1:{BACKEND};
        location / { return 200 "len=$content_length\n"; }
    }
}
"#;

const LOCATIONS: &str = r#"
location / { return 200 "ok\n"; }
location /444 { return 444; }
location /body { proxy_pass http://127.0.0.1:{BACKEND}; }
location /big { root {DIR}; }
location /ws {
    proxy_pass http://127.0.0.1:{FLOOD};
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
}
"#;

/// The file behind /big: larger than any socket buffers between the server
/// and a client whose receive buffer is small, so a client that does not
/// read blocks the server's writes.
const BIG: usize = 24 * 1024 * 1024;

/// One step of a client's script.
#[derive(Clone, Copy)]
enum Step {
    Send(&'static [u8]),
    /// Each byte alone, this long apart.
    Drip(&'static [u8], Duration),
    /// Sends nothing and reads nothing for this long.
    Stall(Duration),
}

/// How the connection ended for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The server closed in order (FIN).
    Closed,
    /// The server reset the connection.
    Reset,
    /// Still open at [`GIVE_UP`].
    Open,
}

/// What the client saw.
struct Seen {
    received: Vec<u8>,
    end: End,
    /// From the first byte sent to the end (or to the last step for
    /// [`End::Open`]).
    elapsed: Duration,
    /// The script ran to its end before the server ended the connection.
    script_done: bool,
}

impl std::fmt::Debug for Seen {
    /// The bytes' count and their start: a failure must not print 24 MiB.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let start = &self.received[..self.received.len().min(120)];
        f.debug_struct("Seen")
            .field("received", &self.received.len())
            .field("start", &String::from_utf8_lossy(start))
            .field("end", &self.end)
            .field("elapsed", &self.elapsed)
            .field("script_done", &self.script_done)
            .finish()
    }
}

impl Seen {
    fn status_line(&self) -> String {
        let end = self
            .received
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(0);
        String::from_utf8_lossy(&self.received[..end]).into_owned()
    }
}

/// Runs `script` on a new connection to `port`, then reads until the server
/// ends the connection or [`GIVE_UP`]. Between drips and during stalls the
/// client reads nothing (a stalled reader) unless `reads_while_stalled`.
async fn run(port: u16, script: &[Step], reads_while_stalled: bool) -> Seen {
    let socket = match TcpSocket::new_v4() {
        Ok(s) => s,
        Err(e) => panic!("socket: {e}"),
    };
    // A small receive buffer: a client that stops reading stops the
    // server's writes soon.
    let _ = socket.set_recv_buffer_size(16 * 1024);
    let mut stream = match socket.connect(([127, 0, 0, 1], port).into()).await {
        Ok(s) => s,
        Err(e) => panic!("connect {port}: {e}"),
    };
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Reads for up to `wait`: Some(end) once the server ended it.
    async fn read_for(
        stream: &mut tokio::net::TcpStream,
        buf: &mut [u8],
        received: &mut Vec<u8>,
        wait: Duration,
    ) -> Option<End> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(until, stream.read(buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) => return Some(End::Closed),
                Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Some(End::Reset);
                }
                Ok(Err(e)) => panic!("read: {e}"),
            }
        }
    }
    for step in script {
        let pieces: Vec<(&[u8], Duration)> = match *step {
            Step::Send(bytes) => vec![(bytes, Duration::ZERO)],
            Step::Drip(bytes, gap) => bytes.chunks(1).map(|b| (b, gap)).collect(),
            Step::Stall(d) => vec![(&b""[..], d)],
        };
        for (bytes, gap) in pieces {
            if !bytes.is_empty()
                && let Err(e) = stream.write_all(bytes).await
            {
                // The server is gone: how, the next read tells.
                let end = match e.kind() {
                    std::io::ErrorKind::ConnectionReset => Some(End::Reset),
                    _ => read_for(&mut stream, &mut buf, &mut received, GIVE_UP).await,
                };
                return Seen {
                    received,
                    end: end.unwrap_or(End::Open),
                    elapsed: started.elapsed(),
                    script_done: false,
                };
            }
            if reads_while_stalled || !matches!(step, Step::Stall(_)) {
                if let Some(end) = read_for(&mut stream, &mut buf, &mut received, gap).await {
                    return Seen {
                        received,
                        end,
                        elapsed: started.elapsed(),
                        script_done: false,
                    };
                }
            } else {
                tokio::time::sleep(gap).await;
            }
        }
    }
    let end = read_for(&mut stream, &mut buf, &mut received, GIVE_UP).await;
    Seen {
        received,
        end: end.unwrap_or(End::Open),
        elapsed: started.elapsed(),
        script_done: true,
    }
}

/// nginx and upgate on the same configuration, each on its own ports.
struct Pair {
    nginx: (u16, u16),
    upgate: (u16, u16),
    _nginx: Nginx,
    _upgate: Upgate,
    _dirs: (serve_support::Dir, serve_support::Dir),
}

/// A WebSocket backend that answers 101 and then writes as fast as the
/// tunnel takes it, until the tunnel closes.
async fn flooding_backend() -> u16 {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => panic!("local_addr: {e}"),
    };
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(GIVE_UP, s.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
                if s.write_all(answer).await.is_err() {
                    return;
                }
                let chunk = vec![b'w'; 256 * 1024];
                let until = tokio::time::Instant::now() + 2 * GIVE_UP;
                while tokio::time::timeout_at(until, s.write_all(&chunk))
                    .await
                    .is_ok_and(|r| r.is_ok())
                {}
            });
        }
    });
    port
}

impl Pair {
    async fn start() -> Pair {
        let flood = flooding_backend().await;
        let nginx_dir = serve_support::Dir::new("limits-nginx-files");
        let upgate_dir = serve_support::Dir::new("limits-upgate-files");
        let ports = |dir: &serve_support::Dir| {
            let (off, on, backend) = (free_port(), free_port(), free_port());
            let path = dir.path().display().to_string();
            let locations = LOCATIONS
                .replace("{BACKEND}", &backend.to_string())
                .replace("{FLOOD}", &flood.to_string())
                .replace("{DIR}", &path);
            let big = vec![b'x'; BIG];
            for (name, bytes) in [("locations.conf", locations.as_bytes()), ("big", &big)] {
                if let Err(e) = std::fs::write(dir.path().join(name), bytes) {
                    panic!("write {name}: {e}");
                }
            }
            let conf = CONF
                .replace("{OFF}", &off.to_string())
                .replace("{ON}", &on.to_string())
                .replace("{BACKEND}", &backend.to_string())
                .replace("{DIR}", &path);
            (off, on, backend, conf)
        };
        let (n_off, n_on, n_back, n_conf) = ports(&nginx_dir);
        let (u_off, u_on, _, u_conf) = ports(&upgate_dir);
        let nginx = Nginx::start(&n_conf, &[n_off, n_on, n_back]);
        let upgate = Upgate::start_as(&u_conf, "nginx", &nginx_version());
        Pair {
            nginx: (n_off, n_on),
            upgate: (u_off, u_on),
            _nginx: nginx,
            _upgate: upgate,
            _dirs: (nginx_dir, upgate_dir),
        }
    }

    /// The script against both servers, reset off and on, all at once:
    /// [(nginx, upgate) with reset off, (nginx, upgate) with reset on].
    async fn both(&self, script: &[Step], reads_while_stalled: bool) -> [(Seen, Seen); 2] {
        let (a, b, c, d) = tokio::join!(
            run(self.nginx.0, script, reads_while_stalled),
            run(self.upgate.0, script, reads_while_stalled),
            run(self.nginx.1, script, reads_while_stalled),
            run(self.upgate.1, script, reads_while_stalled),
        );
        [(a, b), (c, d)]
    }
}

/// upgate ended the connection as nginx did and sent the same status line.
fn same_end(case: &str, seen: &[(Seen, Seen); 2]) {
    for ((nginx, upgate), reset) in seen.iter().zip(["off", "on"]) {
        assert_eq!(
            (upgate.end, upgate.status_line()),
            (nginx.end, nginx.status_line()),
            "{case}, reset_timedout_connection {reset}:\n nginx  {nginx:?}\n upgate {upgate:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stalled_clients_end_as_with_nginx() {
    let pair = Pair::start().await;
    let ms = Duration::from_millis;

    // Slowloris: 40 bytes, 100 ms apart, with client_header_timeout 1s.
    let head = Step::Drip(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaa\r\n\r\n",
        ms(100),
    );
    let seen = pair.both(&[head], false).await;
    same_end("slowloris head", &seen);
    for (nginx, upgate) in &seen {
        for s in [nginx, upgate] {
            assert!(!s.script_done && s.received.is_empty(), "{s:?}");
            assert!(s.elapsed < Duration::from_millis(2500), "{s:?}");
        }
    }
    assert_eq!(seen[0].1.end, End::Closed);
    assert_eq!(seen[1].1.end, End::Reset);

    // Nothing sent: the same timer closes it, without a reset.
    let seen = pair.both(&[Step::Stall(ms(3000))], true).await;
    same_end("nothing sent", &seen);
    assert_eq!((seen[0].1.end, seen[1].1.end), (End::Closed, End::Closed));

    // A body that stops half way: client_body_timeout, no response.
    let stops = [
        Step::Send(b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n12345"),
        Step::Stall(ms(3000)),
    ];
    let seen = pair.both(&stops, true).await;
    same_end("body stops", &seen);
    assert!(seen.iter().all(|(_, u)| u.received.is_empty()));
    assert_eq!((seen[0].1.end, seen[1].1.end), (End::Closed, End::Reset));

    // A slow but steady body: the timer is re-armed by every read.
    let steady = [
        Step::Send(
            b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nConnection: close\r\n\r\n",
        ),
        Step::Drip(b"abcdef", ms(400)),
    ];
    let seen = pair.both(&steady, false).await;
    same_end("steady body", &seen);
    for (nginx, upgate) in &seen {
        assert!(upgate.received.ends_with(b"len=6\n"), "{upgate:?}");
        assert!(nginx.received.ends_with(b"len=6\n"), "{nginx:?}");
    }

    // return 444, a request pipelined behind it: nothing answered.
    let pipelined = [Step::Send(
        b"GET /444 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    )];
    let seen = pair.both(&pipelined, false).await;
    same_end("return 444", &seen);
    assert!(
        seen.iter()
            .all(|(n, u)| n.received.is_empty() && u.received.is_empty())
    );
    assert_eq!((seen[0].1.end, seen[1].1.end), (End::Closed, End::Reset));

    // A client that reads nothing of a large file for 3 s: send_timeout
    // (1s) ends the response, then the client reads what was queued.
    let stalled = [
        Step::Send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n"),
        Step::Stall(ms(3000)),
    ];
    let seen = pair.both(&stalled, false).await;
    same_end("client never reads", &seen);
    for (nginx, upgate) in &seen {
        for s in [nginx, upgate] {
            assert!(
                s.received.len() < BIG,
                "the whole file went out: {}",
                s.received.len()
            );
        }
    }
    assert_eq!(seen[1].1.end, End::Reset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_client_that_never_reads_ends_as_with_nginx() {
    let pair = Pair::start().await;
    let upgrade = [
        Step::Send(
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ),
        Step::Stall(Duration::from_millis(3000)),
    ];
    let seen = pair.both(&upgrade, false).await;
    same_end("tunnel client never reads", &seen);
    for (_, upgate) in &seen {
        assert!(
            upgate.status_line().starts_with("HTTP/1.1 101"),
            "{upgate:?}"
        );
    }
    assert_eq!(seen[1].1.end, End::Reset);
}
