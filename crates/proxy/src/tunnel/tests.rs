//! Tunnel timers on a paused clock and scripted duplex streams, after
//! NGINX-BEHAVIOUR.md items 6-8.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

use super::*;

fn cfg(read: u64, send: u64, client_send: u64) -> TunnelConfig {
    TunnelConfig {
        proxy_read_timeout: Duration::from_secs(read),
        proxy_send_timeout: Duration::from_secs(send),
        send_timeout: Duration::from_secs(client_send),
        on_timeout: TimeoutClose::Silent,
    }
}

/// A tunnel between two duplex pairs; returns the far ends (what the client
/// and the upstream hold) and the tunnel task.
fn start(
    capacity: usize,
    client_leftover: &'static [u8],
    upstream_leftover: &'static [u8],
    cfg: TunnelConfig,
) -> (DuplexStream, DuplexStream, JoinHandle<TunnelEnd>) {
    let (client_far, client_near) = duplex(capacity);
    let (upstream_near, upstream_far) = duplex(capacity);
    let task = tokio::spawn(async move {
        tunnel(
            client_near,
            upstream_near,
            Bytes::from_static(client_leftover),
            Bytes::from_static(upstream_leftover),
            &cfg,
        )
        .await
    });
    (client_far, upstream_far, task)
}

async fn read_n(s: &mut DuplexStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    let got = s.read_exact(&mut buf).await;
    assert!(got.is_ok(), "read {n}: {got:?}");
    buf
}

async fn end_of(task: JoinHandle<TunnelEnd>) -> TunnelEnd {
    match task.await {
        Ok(end) => end,
        Err(e) => panic!("tunnel task failed: {e}"),
    }
}

#[tokio::test(start_paused = true)]
async fn leftovers_go_first_then_both_directions() {
    let (mut client, mut upstream, task) = start(1024, b"CLIENTEARLY", b"EARLY", cfg(60, 60, 60));
    assert_eq!(read_n(&mut upstream, 11).await, b"CLIENTEARLY");
    assert_eq!(read_n(&mut client, 5).await, b"EARLY");
    client.write_all(b"ping").await.ok();
    assert_eq!(read_n(&mut upstream, 4).await, b"ping");
    upstream.write_all(b"pong!").await.ok();
    assert_eq!(read_n(&mut client, 5).await, b"pong!");
    drop(client);
    let end = end_of(task).await;
    assert_eq!(
        end,
        TunnelEnd {
            reason: EndReason::ClientClosed,
            client_to_upstream: 15,
            upstream_to_client: 10
        }
    );
}

#[tokio::test(start_paused = true)]
async fn silence_both_ways_ends_at_proxy_read_timeout() {
    let (_client, _upstream, task) = start(1024, b"", b"", cfg(3, 60, 60));
    let t0 = Instant::now();
    let end = end_of(task).await;
    assert_eq!(end.reason, EndReason::ReadTimeout);
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn client_traffic_keeps_a_silent_upstream_alive() {
    let (mut client, mut upstream, task) = start(1024, b"", b"", cfg(3, 60, 60));
    let t0 = Instant::now();
    for _ in 0..8 {
        client.write_all(b"x").await.ok();
        sleep(Duration::from_secs(1)).await;
    }
    assert!(!task.is_finished(), "alive at 8 s");
    assert_eq!(read_n(&mut upstream, 8).await, b"xxxxxxxx");
    let end = end_of(task).await;
    assert_eq!(end.reason, EndReason::ReadTimeout);
    // The last byte went at 7 s: 3 s of silence after it.
    assert_eq!(t0.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn upstream_traffic_keeps_a_silent_client_alive() {
    let (mut client, mut upstream, task) = start(1024, b"", b"", cfg(3, 60, 60));
    for _ in 0..8 {
        upstream.write_all(b"y").await.ok();
        sleep(Duration::from_secs(1)).await;
    }
    assert!(!task.is_finished(), "alive at 8 s");
    assert_eq!(read_n(&mut client, 8).await, b"yyyyyyyy");
    assert_eq!(end_of(task).await.reason, EndReason::ReadTimeout);
}

#[tokio::test(start_paused = true)]
async fn client_half_close_closes_both_and_drops_the_echo() {
    let (mut client, mut upstream, task) = start(1024, b"", b"", cfg(60, 60, 60));
    client.write_all(b"x").await.ok();
    client.shutdown().await.ok();
    assert_eq!(read_n(&mut upstream, 1).await, b"x");
    let end = end_of(task).await;
    assert_eq!(end.reason, EndReason::ClientClosed);
    // The upstream sees EOF; its echo has nowhere to go.
    let mut rest = Vec::new();
    assert!(upstream.read_to_end(&mut rest).await.is_ok());
    assert!(rest.is_empty());
    let _ = upstream.write_all(b"echo").await;
    let mut got = Vec::new();
    assert!(client.read_to_end(&mut got).await.is_ok());
    assert!(got.is_empty());
}

#[tokio::test(start_paused = true)]
async fn upstream_close_delivers_what_it_sent_first() {
    let (mut client, mut upstream, task) = start(1024, b"", b"", cfg(60, 60, 60));
    upstream.write_all(b"bye").await.ok();
    upstream.shutdown().await.ok();
    let end = end_of(task).await;
    assert_eq!(end.reason, EndReason::UpstreamClosed);
    let mut got = Vec::new();
    assert!(client.read_to_end(&mut got).await.is_ok());
    assert_eq!(got, b"bye");
}

#[tokio::test(start_paused = true)]
async fn slow_client_is_bounded_by_send_timeout_not_read_timeout() {
    // The client never reads: writes to it block once 64 bytes are queued.
    let (_client, mut upstream, task) = start(64, b"", b"", cfg(2, 60, 5));
    let t0 = Instant::now();
    upstream.write_all(&[b'z'; 200]).await.ok();
    let end = end_of(task).await;
    assert_eq!(end.reason, EndReason::ClientSendTimeout);
    // The read timer (2 s) is off while upstream bytes wait for the client.
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn blocked_upstream_write_is_bounded_by_proxy_send_timeout() {
    let (mut client, _upstream, task) = start(64, b"", b"", cfg(10, 2, 60));
    let t0 = Instant::now();
    client.write_all(&[b'q'; 200]).await.ok();
    let end = end_of(task).await;
    assert_eq!(end.reason, EndReason::SendTimeout);
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn events_the_other_way_rearm_a_blocked_write() {
    // Upstream writes are blocked (the upstream never reads) but it keeps
    // talking: every event re-arms proxy_send_timeout, as in nginx.
    let (mut client, mut upstream, task) = start(64, b"", b"", cfg(10, 2, 60));
    client.write_all(&[b'q'; 100]).await.ok();
    for _ in 0..5 {
        sleep(Duration::from_secs(1)).await;
        upstream.write_all(b"tick").await.ok();
        assert_eq!(read_n(&mut client, 4).await, b"tick");
    }
    assert!(!task.is_finished(), "alive at 5 s");
    let t0 = Instant::now();
    assert_eq!(end_of(task).await.reason, EndReason::SendTimeout);
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn read_errors_end_the_tunnel_after_delivering_what_was_read() {
    let upstream = tokio_test::io::Builder::new()
        .read(b"last words")
        .read_error(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
        .build();
    let (mut client_far, client_near) = duplex(1024);
    let end = tunnel(
        client_near,
        upstream,
        Bytes::new(),
        Bytes::new(),
        &cfg(60, 60, 60),
    )
    .await;
    assert_eq!(
        end.reason,
        EndReason::Error(Side::Upstream, io::ErrorKind::ConnectionReset)
    );
    assert_eq!(read_n(&mut client_far, 10).await, b"last words");
}

#[tokio::test(start_paused = true)]
async fn write_errors_end_the_tunnel_at_once() {
    let upstream = tokio_test::io::Builder::new()
        .write_error(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
        .build();
    let (_client_far, client_near) = duplex(1024);
    let end = tunnel(
        client_near,
        upstream,
        Bytes::from_static(b"x"),
        Bytes::new(),
        &cfg(60, 60, 60),
    )
    .await;
    assert_eq!(
        end.reason,
        EndReason::Error(Side::Upstream, io::ErrorKind::BrokenPipe)
    );
}

#[test]
fn an_idle_tunnel_is_small() {
    // The future's own state (streams excluded): no buffer lives in it.
    let (a, b) = duplex(1);
    let (c, d) = duplex(1);
    let cfg = TunnelConfig::default();
    let fut = tunnel(a, c, Bytes::new(), Bytes::new(), &cfg);
    let own = std::mem::size_of_val(&fut) - 2 * std::mem::size_of::<DuplexStream>();
    println!("tunnel future: {own} bytes besides the streams");
    assert!(
        own < 512,
        "tunnel future holds {own} bytes besides the streams"
    );
    drop((fut, b, d));
}
