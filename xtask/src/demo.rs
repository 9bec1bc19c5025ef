//! `cargo xtask demo`: builds upgate and the example backends, starts the
//! chat backend (127.0.0.1:9001), the echo backend (127.0.0.1:9002) and
//! upgate on examples/nginx.conf (127.0.0.1:8080), says what to open, and
//! stops everything on Ctrl-C (or when any of them exits).
//!
//! `cargo xtask demo client [URL]` is a tiny WebSocket client (std only):
//! each line typed is sent as a text message, each message received printed.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Children killed on drop, so that nothing outlives the demo.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("client") {
        let url = args
            .get(1)
            .map_or("ws://127.0.0.1:8080/echo", String::as_str);
        return client(url);
    }
    let root = workspace_root();
    let status = crate::cargo::command()
        .args([
            "build",
            "-q",
            "-p",
            "upgate",
            "-p",
            "upgate-examples",
            "--bins",
        ])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build failed".into());
    }
    let bin = target_dir(&root).join("debug");
    let mut children = Children(Vec::new());
    for (name, args) in [
        ("chat-backend", vec!["127.0.0.1:9001"]),
        ("echo-backend", vec!["127.0.0.1:9002"]),
    ] {
        let child = Command::new(bin.join(name))
            .args(&args)
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        children.0.push((name.to_string(), child));
    }
    wait_port("127.0.0.1:9001")?;
    wait_port("127.0.0.1:9002")?;
    let upgate = Command::new(bin.join("upgate"))
        .arg("-c")
        .arg(root.join("examples/nginx.conf"))
        .spawn()
        .map_err(|e| format!("upgate: {e}"))?;
    children.0.push(("upgate".into(), upgate));
    wait_port("127.0.0.1:8080")?;
    println!();
    println!("upgate is serving examples/nginx.conf on http://127.0.0.1:8080");
    println!("  chat:  open http://127.0.0.1:8080/chat/ in two browser tabs");
    println!("  echo:  websocat ws://127.0.0.1:8080/echo");
    println!("         or: cargo xtask demo client ws://127.0.0.1:8080/echo");
    println!("Ctrl-C stops everything.");
    loop {
        for (name, child) in &mut children.0 {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited ({status})"));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn wait_port(addr: &str) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on {addr} after 10 s"))
}

/// A minimal RFC 6455 client: handshake, masked text frames out, frames in.
fn client(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority).map_err(|e| format!("{authority}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).map_err(|e| e.to_string())? == 0 {
            return Err("connection closed during the handshake".into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!("no upgrade:\n{head}"));
    }
    println!("connected to {url}; type lines to send, Ctrl-D to quit");
    let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        while let Ok(Some((opcode, payload))) = read_frame(&mut reader) {
            match opcode {
                1 | 2 => println!("< {}", String::from_utf8_lossy(&payload)),
                8 => break,
                _ => {}
            }
        }
    });
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        stream
            .write_all(&frame(1, line.as_bytes()))
            .map_err(|e| e.to_string())?;
    }
    let _ = stream.write_all(&frame(8, &[]));
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}

/// A masked client frame (the mask is fixed: this is a demo).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// One unmasked server frame: `Ok(None)` at EOF.
fn read_frame(stream: &mut TcpStream) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 2];
    if stream.read_exact(&mut h).is_err() {
        return Ok(None);
    }
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len.min(16 << 20) as usize];
    stream.read_exact(&mut payload)?;
    Ok(Some((h[0] & 0x0f, payload)))
}
