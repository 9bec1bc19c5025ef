//! WebSocket tunnels through a server process for the memory tests: how
//! many fit the open-files limit, the configuration (nginx's own, the
//! `$connection_upgrade` map and an upstream with keepalive), opening one
//! and reading a process's resident memory. Linux only (/proc).

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

pub const IO_LIMIT: Duration = Duration::from_secs(10);

pub fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// Raises this process's open-files limit to its hard limit (a server
/// started after inherits it) and returns how many tunnels fit, at most
/// `most`: each is two sockets here and two in the server.
pub fn tunnels(most: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    let soft = if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    (soft.saturating_sub(256) as usize / 2).clamp(100, most)
}

/// A single-process server (`master_process off`) on `port` proxying every
/// location to the WebSocket upstream on `backend`, room for `n` tunnels.
pub fn config(dir: &Path, port: u16, backend: u16, n: usize) -> String {
    let d = dir.display();
    let connections = 2 * n + 256;
    format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log error;\n\
         worker_rlimit_nofile {files};\n\
         events {{ worker_connections {connections}; }}\n\
         http {{\n\
         \x20   access_log {d}/access.log;\n\
         \x20   client_body_temp_path {d}/body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         \x20   upstream ws {{ server 127.0.0.1:{backend}; keepalive 64; }}\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       location / {{\n\
         \x20           proxy_pass http://ws;\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Upgrade $http_upgrade;\n\
         \x20           proxy_set_header Connection $connection_upgrade;\n\
         \x20           proxy_read_timeout 1h;\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n",
        files = connections + 64
    )
}

/// One tunnel: the upgrade answered with 101. With `recv_buffer`, the
/// client's socket is made that small first (a client that then stops
/// reading stops the server's writes soon).
pub async fn open(port: u16, recv_buffer: Option<u32>) -> TcpStream {
    let work = async {
        let socket = TcpSocket::new_v4()?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let mut s = socket.connect(([127, 0, 0, 1], port).into()).await?;
        s.write_all(
            b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await?;
        // byte by byte: nothing the backend sends after the 101 is read
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
            if s.read(&mut byte).await? == 0 {
                break;
            }
            head.push(byte[0]);
        }
        Ok::<_, std::io::Error>((s, head))
    };
    match timeout(IO_LIMIT, work).await {
        Ok(Ok((s, head))) if head.starts_with(b"HTTP/1.1 101") => s,
        other => panic!("no 101: {other:?}"),
    }
}

/// The backend's answer to every upgrade.
pub const SWITCHING: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
      Connection: Upgrade\r\n\
      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// Reads a request head (or until the peer closes).
pub async fn read_head(s: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match timeout(IO_LIMIT, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
}

pub fn resident_bytes(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}
