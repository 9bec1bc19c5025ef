//! The tunnel's copy loop (`tunnel::tunnel`) under a WebSocket-like echo:
//! one iteration is one round trip of a 64 B or a 16 KiB message, client ->
//! tunnel -> echoing upstream -> tunnel -> client, the shape of
//! `cargo xtask bench`'s WS echo rows. Two transports: tokio's in-memory
//! duplex pipes (the loop's own cost, no kernel) and loopback TCP (with the
//! syscalls the proxy really makes). A current-thread runtime, as
//! `worker_processes 1` serves (serve.rs `worker_runtime`).
//! `cargo bench -p upgate-proxy --bench tunnel`.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, duplex};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use upgate_proxy::tunnel::{EndReason, TunnelConfig, tunnel};

/// The duplex pipes' capacity: about what a loopback socket buffers, so
/// neither transport blocks a 16 KiB message half way.
const PIPE: usize = 64 * 1024;

/// Two connections, each as the end a peer holds and the end the tunnel
/// holds.
struct Wires<S> {
    client: S,
    client_near: S,
    upstream_near: S,
    upstream: S,
}

async fn duplex_wires() -> io::Result<Wires<tokio::io::DuplexStream>> {
    let (client, client_near) = duplex(PIPE);
    let (upstream_near, upstream) = duplex(PIPE);
    Ok(Wires {
        client,
        client_near,
        upstream_near,
        upstream,
    })
}

async fn tcp_wires() -> io::Result<Wires<TcpStream>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (client, client_near) = tcp_pair(&listener).await?;
    let (upstream, upstream_near) = tcp_pair(&listener).await?;
    Ok(Wires {
        client,
        client_near,
        upstream_near,
        upstream,
    })
}

/// One loopback connection: (the connecting end, the accepted end).
async fn tcp_pair(listener: &TcpListener) -> io::Result<(TcpStream, TcpStream)> {
    let (far, near) = tokio::join!(
        TcpStream::connect(listener.local_addr()?),
        listener.accept()
    );
    let (far, (near, _)) = (far?, near?);
    // As listener.rs and upstream/connect.rs set them: a 64 B message must
    // not wait for Nagle.
    far.set_nodelay(true)?;
    near.set_nodelay(true)?;
    Ok((far, near))
}

/// Starts a tunnel and an echo upstream on `wires`, then times `iters`
/// round trips of `size` bytes; the set-up and the close are not timed.
async fn round_trips<S>(wires: Wires<S>, size: usize, iters: u64) -> io::Result<Duration>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Wires {
        mut client,
        client_near,
        upstream_near,
        mut upstream,
    } = wires;
    // Tasks of their own, as connection.rs runs them: polled only when
    // their own sockets wake them.
    let tunnel = tokio::spawn(async move {
        let cfg = TunnelConfig::default();
        tunnel(client_near, upstream_near, Bytes::new(), Bytes::new(), &cfg).await
    });
    let echo = tokio::spawn(async move {
        let mut buf = vec![0u8; PIPE];
        loop {
            match upstream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if upstream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let message = vec![b'x'; size];
    let mut back = vec![0u8; size];
    let start = Instant::now();
    for _ in 0..iters {
        client.write_all(&message).await?;
        client.read_exact(&mut back).await?;
    }
    let elapsed = start.elapsed();
    drop(client);
    let end = tunnel.await.map_err(io::Error::other)?;
    echo.await.map_err(io::Error::other)?;
    // A tunnel that lost or invented bytes would make the time meaningless.
    let sent = iters * size as u64;
    if end.reason != EndReason::ClientClosed
        || end.client_to_upstream != sent
        || end.upstream_to_client != sent
    {
        return Err(io::Error::other(format!(
            "tunnel ended as {end:?}, {sent} bytes sent each way"
        )));
    }
    Ok(elapsed)
}

fn bench(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tunnel bench: no tokio runtime: {e}");
            return;
        }
    };
    let mut g = c.benchmark_group("tunnel");
    // One element is one message echoed: criterion's elem/s reads as the
    // issue's msg/s for one connection.
    g.throughput(Throughput::Elements(1));
    for (name, size) in [("64B", 64), ("16KiB", 16 * 1024)] {
        g.bench_function(format!("duplex_{name}"), |b| {
            b.iter_custom(|iters| timed(&rt, duplex_wires(), size, iters))
        });
        g.bench_function(format!("tcp_{name}"), |b| {
            b.iter_custom(|iters| timed(&rt, tcp_wires(), size, iters))
        });
    }
    g.finish();
}

/// [`round_trips`] on `rt`. A failure ends the run: a figure from a broken
/// tunnel would pass for a fast one.
fn timed<S>(
    rt: &Runtime,
    wires: impl Future<Output = io::Result<Wires<S>>>,
    size: usize,
    iters: u64,
) -> Duration
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let run = async { round_trips(wires.await?, size, iters).await };
    rt.block_on(run)
        .unwrap_or_else(|e| panic!("tunnel bench, {size} B messages: {e}"))
}

criterion_group!(benches, bench);
criterion_main!(benches);
