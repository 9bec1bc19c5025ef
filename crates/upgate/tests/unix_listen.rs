//! `listen unix:/path` on the real binary: a GET over the unix socket
//! (`$remote_addr` is `unix:`, `$remote_port` empty, `$server_addr` the
//! path, X-Forwarded-For gets `unix:`), `allow unix:` / `deny all` against
//! a TCP client and a unix one, a WebSocket tunnel over the unix socket, a
//! reload that keeps the socket and one that removes it (closed, file
//! deleted), and the file deleted on exit as nginx deletes it. Every wait
//! is bounded.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_tungstenite::tungstenite::Message;

use common::TempDir;
use common::process::Upgate;

const IO_LIMIT: Duration = Duration::from_secs(5);

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

fn config(dir: &Path, port: u16, ws: u16, with_unix: bool) -> String {
    let sock = dir.join("u.sock");
    let unix = if with_unix {
        format!("listen unix:{};", sock.display())
    } else {
        String::new()
    };
    format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n\
           map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    {unix}\n\
             location / {{ return 200 \"[$remote_addr] [$remote_port] [$server_addr] [$server_port] [$proxy_add_x_forwarded_for]\"; }}\n\
             location /unix-only {{ root {d}/html; allow unix:; deny all; }}\n\
             location /ws {{ proxy_pass http://127.0.0.1:{ws}; proxy_http_version 1.1;\n\
               proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; }}\n\
           }}\n}}\n",
        d = dir.display(),
    )
}

async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
) -> Result<(u16, String), String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    let io = async {
        s.write_all(request.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let out = tokio::time::timeout(IO_LIMIT, io)
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no head")?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_string()))
}

async fn get_unix(sock: &Path, path: &str) -> Result<(u16, String), String> {
    let s = UnixStream::connect(sock).await.map_err(|e| e.to_string())?;
    exchange(s, path).await
}

async fn get_tcp(port: u16, path: &str) -> Result<(u16, String), String> {
    let s = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    exchange(s, path).await
}

async fn wait_for(what: &str, limit: Duration, mut ok: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok().await {
        assert!(Instant::now() < end, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_listener_serves_like_tcp() {
    let dir = TempDir::new("unix-listen").unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let sock = d.join("u.sock");
    let ws_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let ws = ws_listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(upgate_examples::websocket::serve(
        ws_listener,
        upgate_examples::websocket::Mode::Echo,
    ));
    let port = free_port();
    std::fs::write(d.join("nginx.conf"), config(d, port, ws, true))
        .unwrap_or_else(|e| panic!("{e}"));
    // A static file: allow/deny run in the access phase, after `return`.
    std::fs::create_dir_all(d.join("html")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(d.join("html/unix-only"), "in").unwrap_or_else(|e| panic!("{e}"));
    let mut up = Upgate::start(d);

    // The variables of a unix client, as nginx gives them.
    let (status, body) = get_unix(&sock, "/").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!("[unix:] [] [unix:{}] [] [unix:]", sock.display())
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sock)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o666, "nginx makes the socket 0666");

    // allow unix: lets the unix client in, not the TCP one.
    assert_eq!(get_unix(&sock, "/unix-only").await, Ok((200, "in".into())));
    let tcp = get_tcp(port, "/unix-only")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tcp.0, 403);
    assert!(
        up.error_log()
            .contains("access forbidden by rule, client: 127.0.0.1")
    );

    // A WebSocket tunnel over the unix socket.
    let stream = UnixStream::connect(&sock)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut socket, resp) = tokio::time::timeout(
        IO_LIMIT,
        tokio_tungstenite::client_async("ws://x/ws", stream),
    )
    .await
    .unwrap_or_else(|_| panic!("handshake timed out"))
    .unwrap_or_else(|e| panic!("handshake: {e}"));
    assert_eq!(resp.status().as_u16(), 101);
    socket
        .send(Message::text("over unix"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let echoed = tokio::time::timeout(IO_LIMIT, socket.next()).await;
    assert!(
        matches!(echoed, Ok(Some(Ok(Message::Text(ref t)))) if t.as_str() == "over unix"),
        "{echoed:?}"
    );

    // A reload that keeps the unix listener: same socket, still served,
    // and the live tunnel goes on.
    up.signal(Signal::SIGHUP);
    wait_for("reload", IO_LIMIT, async || {
        up.error_log().contains("reconfiguring")
    })
    .await;
    assert_eq!(get_unix(&sock, "/unix-only").await, Ok((200, "in".into())));
    socket
        .send(Message::text("after reload"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let echoed = tokio::time::timeout(IO_LIMIT, socket.next()).await;
    assert!(
        matches!(echoed, Ok(Some(Ok(Message::Text(_))))),
        "{echoed:?}"
    );

    // A reload that drops it: the socket is closed and its file deleted.
    std::fs::write(d.join("nginx.conf"), config(d, port, ws, false))
        .unwrap_or_else(|e| panic!("{e}"));
    up.signal(Signal::SIGHUP);
    wait_for("socket file deleted", IO_LIMIT, async || {
        !sock.exists() || up.error_log().contains("[emerg]")
    })
    .await;
    assert!(!sock.exists(), "{}", up.error_log());
    assert!(UnixStream::connect(&sock).await.is_err());
    assert!(
        up.error_log()
            .contains(&format!("deleting socket {}", sock.display()))
    );
    assert_eq!(get_tcp(port, "/").await.map(|r| r.0), Ok(200));

    // Back again, then the file goes on exit.
    std::fs::write(d.join("nginx.conf"), config(d, port, ws, true))
        .unwrap_or_else(|e| panic!("{e}"));
    up.signal(Signal::SIGHUP);
    wait_for("unix listener back", IO_LIMIT, async || {
        get_unix(&sock, "/").await.is_ok()
    })
    .await;
    drop(socket);
    up.signal(Signal::SIGTERM);
    assert!(
        up.wait_exit(IO_LIMIT).await.is_some(),
        "no exit after SIGTERM"
    );
    assert!(!sock.exists(), "the socket file is deleted on exit");
}
