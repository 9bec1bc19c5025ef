//! `listen ... proxy_protocol` on the real binary: v1 and v2 headers before
//! HTTP give `$proxy_protocol_*`; `real_ip_header proxy_protocol` with
//! `set_real_ip_from` makes the header's source `$remote_addr` and what
//! allow/deny judge; a broken header closes the connection with nginx's
//! error log line. Every wait is bounded.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::TempDir;
use common::process::Upgate;

const IO_LIMIT: Duration = Duration::from_secs(5);

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// Sends `bytes`, reads to EOF: the response text ("" when closed at once).
async fn send(port: u16, bytes: &[u8]) -> String {
    let io = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(bytes).await?;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        Ok::<_, std::io::Error>(out)
    };
    match tokio::time::timeout(IO_LIMIT, io).await {
        Ok(Ok(out)) => String::from_utf8_lossy(&out).into_owned(),
        Ok(Err(e)) => panic!("io: {e}"),
        Err(_) => panic!("no answer within {IO_LIMIT:?}"),
    }
}

fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn v2_inet(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12 + 5]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&[0x01, 0, 2, b'h', b'2']);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_headers() {
    let dir = TempDir::new("proxy-protocol").unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let (plain, real) = (free_port(), free_port());
    let conf = format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n\
           server {{ listen 127.0.0.1:{plain} proxy_protocol;\n\
             location / {{ return 200 \"$remote_addr $proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\"; }} }}\n\
           server {{ listen 127.0.0.1:{real} proxy_protocol;\n\
             set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol;\n\
             location / {{ return 200 \"$remote_addr $remote_port $realip_remote_addr\"; }}\n\
             location /in {{ root {d}/html; deny 192.0.2.66; allow all; }} }}\n}}\n",
        d = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(d.join("html")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(d.join("html/in"), "in").unwrap_or_else(|e| panic!("{e}"));
    let up = Upgate::start(d);
    let get = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n";

    let v1 = [&b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n"[..], get].concat();
    let r = send(plain, &v1).await;
    assert_eq!(body(&r), "127.0.0.1 192.0.2.1 1234 192.0.2.2 80", "{r}");
    let v6 = [&b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"[..], get].concat();
    let r = send(plain, &v6).await;
    assert_eq!(body(&r), "127.0.0.1 2001:db8::1 1 2001:db8::2 2", "{r}");
    let unknown = [&b"PROXY UNKNOWN\r\n"[..], get].concat();
    assert_eq!(body(&send(plain, &unknown).await), "127.0.0.1    ");
    let v2 = [
        v2_inet([192, 0, 2, 7], 5000, [192, 0, 2, 8], 443).as_slice(),
        get,
    ]
    .concat();
    let r = send(plain, &v2).await;
    assert_eq!(body(&r), "127.0.0.1 192.0.2.7 5000 192.0.2.8 443", "{r}");

    // real_ip_header proxy_protocol: the header's source is the client.
    let v1 = [&b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n"[..], get].concat();
    assert_eq!(body(&send(real, &v1).await), "192.0.2.1 1234 127.0.0.1");
    let denied = b"PROXY TCP4 192.0.2.66 192.0.2.2 1 80\r\nGET /in HTTP/1.0\r\n\r\n";
    assert!(send(real, denied).await.starts_with("HTTP/1.1 403"));
    assert!(
        up.error_log()
            .contains("access forbidden by rule, client: 192.0.2.66")
    );
    let allowed = b"PROXY TCP4 192.0.2.67 192.0.2.2 1 80\r\nGET /in HTTP/1.0\r\n\r\n";
    assert_eq!(body(&send(real, allowed).await), "in");

    // No valid header: closed, nothing answered, nginx's line.
    assert_eq!(send(plain, get).await, "");
    let log = up.error_log();
    assert!(
        log.contains("[error]")
            && log.contains(
                "broken header: \"GET / HTTP/1.0\" while reading PROXY protocol, client: 127.0.0.1"
            ),
        "{log}"
    );
}
