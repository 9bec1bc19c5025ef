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
        ping: None,
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

// With the pragmas: frames of upgate's own, on a paused clock, against
// tungstenite's endpoints (which answer pings and close frames when read).

mod pragmas {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;

    fn ws_cfg(read: u64, ping: Option<u64>, close: Option<u16>) -> TunnelConfig {
        TunnelConfig {
            ping: ping.map(Duration::from_secs),
            on_timeout: close.map_or(TimeoutClose::Silent, TimeoutClose::CloseFrame),
            ..cfg(read, 60, 60)
        }
    }

    async fn endpoints(
        cfg: TunnelConfig,
    ) -> (
        WebSocketStream<DuplexStream>,
        WebSocketStream<DuplexStream>,
        JoinHandle<TunnelEnd>,
    ) {
        let (client, upstream, task) = start(1 << 20, b"", b"", cfg);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let upstream = WebSocketStream::from_raw_socket(upstream, Role::Server, None).await;
        (client, upstream, task)
    }

    /// Reads (and so answers pings) until a message that is not a ping
    /// comes, or the stream ends.
    fn reader(
        mut ws: WebSocketStream<DuplexStream>,
    ) -> JoinHandle<(WebSocketStream<DuplexStream>, Option<Message>)> {
        tokio::spawn(async move {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Ping(_))) => continue,
                    Some(Ok(m)) => return (ws, Some(m)),
                    _ => return (ws, None),
                }
            }
        })
    }

    async fn joined<T>(h: JoinHandle<T>) -> T {
        match h.await {
            Ok(v) => v,
            Err(e) => panic!("task failed: {e}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pings_keep_an_idle_tunnel_past_proxy_read_timeout() {
        let (mut client, upstream, task) = endpoints(ws_cfg(5, Some(2), None)).await;
        let upstream = reader(upstream);
        let t0 = Instant::now();
        // The client answers pings by reading; at 20 s it sends a text.
        loop {
            tokio::select! {
                m = client.next() => match m {
                    Some(Ok(Message::Ping(_))) => continue,
                    other => panic!("client read {other:?}"),
                },
                () = tokio::time::sleep_until(t0 + Duration::from_secs(20)) => break,
            }
        }
        assert!(!task.is_finished(), "the tunnel is alive at 20 s");
        assert!(client.send(Message::text("hello")).await.is_ok());
        // No pong of upgate's pings reached the other side: the first
        // message the upstream reads is the client's text.
        let (_upstream, first) = joined(upstream).await;
        assert_eq!(first, Some(Message::text("hello")));
        assert!(!task.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn a_side_that_answers_no_ping_is_closed_as_dead() {
        // The client's end is never read: it answers nothing.
        let (_client, upstream, task) = start(1 << 20, b"", b"", ws_cfg(60, Some(2), None));
        let upstream = WebSocketStream::from_raw_socket(upstream, Role::Server, None).await;
        let t0 = Instant::now();
        let (_upstream, got) = joined(reader(upstream)).await;
        match got {
            Some(Message::Close(Some(close))) => {
                assert_eq!(close.code, CloseCode::Away);
                assert_eq!(close.reason.as_str(), "peer not responding");
            }
            other => panic!("upstream read {other:?}"),
        }
        let end = end_of(task).await;
        assert_eq!(end.reason, EndReason::DeadPeer(Side::Client));
        // Pinged at 2 s, dead at 4 s; the close waits at most CLOSE_GRACE.
        assert!(t0.elapsed() >= Duration::from_secs(4), "{:?}", t0.elapsed());
        assert!(t0.elapsed() <= Duration::from_secs(4) + CLOSE_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn proxy_read_timeout_sends_both_sides_the_close_code() {
        let (client, upstream, task) = endpoints(ws_cfg(5, None, Some(1001))).await;
        let t0 = Instant::now();
        let (client, upstream) = (reader(client), reader(upstream));
        for side in [client, upstream] {
            match joined(side).await.1 {
                Some(Message::Close(Some(close))) => {
                    assert_eq!(close.code, CloseCode::Away);
                    assert_eq!(close.reason.as_str(), "idle timeout");
                }
                other => panic!("read {other:?}"),
            }
        }
        let end = end_of(task).await;
        assert_eq!(end.reason, EndReason::ReadTimeout);
        // Both answered the close at once: no wait for the grace.
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shutdown_sends_close_frames_when_asked() {
        let (a, b) = duplex(1 << 16);
        let (c, d) = duplex(1 << 16);
        let mut t = tunnel(
            a,
            c,
            Bytes::new(),
            Bytes::new(),
            &ws_cfg(60, None, Some(4000)),
        );
        assert!(t.close_for_shutdown());
        let client = reader(WebSocketStream::from_raw_socket(b, Role::Client, None).await);
        let upstream = reader(WebSocketStream::from_raw_socket(d, Role::Server, None).await);
        let end = (&mut t).await;
        assert_eq!(end.reason, EndReason::Shutdown);
        for side in [client, upstream] {
            match joined(side).await.1 {
                Some(Message::Close(Some(close))) => {
                    assert_eq!(u16::from(close.code), 4000);
                    assert_eq!(close.reason.as_str(), "server shutting down");
                }
                other => panic!("read {other:?}"),
            }
        }
        // Without the pragma the caller closes bare.
        let (a, _b) = duplex(16);
        let (c, _d) = duplex(16);
        let mut plain = tunnel(a, c, Bytes::new(), Bytes::new(), &cfg(60, 60, 60));
        assert!(!plain.close_for_shutdown());
    }

    /// A server's first frames in the 101's leftover, the last one cut in
    /// two: the client gets every byte, and the ping that follows the
    /// silence comes after the whole frame, where its reader expects one.
    #[tokio::test(start_paused = true)]
    async fn frames_in_the_leftover_are_followed() {
        // "welcome" (unmasked text), then a 200-byte binary frame of which
        // the leftover holds the header and 10 bytes.
        let mut first = vec![0x81, 7];
        first.extend(b"welcome");
        let mut second = vec![0x82, 126, 0, 200];
        second.extend([7u8; 200]);
        let mut leftover = first.clone();
        leftover.extend(&second[..14]);
        let leftover: &'static [u8] = Box::leak(leftover.into_boxed_slice());
        let (client, mut upstream, task) = start(1 << 16, b"", leftover, ws_cfg(60, Some(2), None));
        upstream.write_all(&second[14..]).await.ok();
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let got = client.next().await;
        assert!(
            matches!(&got, Some(Ok(Message::Text(t))) if t.as_str() == "welcome"),
            "{got:?}"
        );
        let got = client.next().await;
        assert!(
            matches!(&got, Some(Ok(Message::Binary(b))) if b.len() == 200),
            "{got:?}"
        );
        // Then silence: upgate's ping, a well-formed frame.
        let got = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
        assert!(matches!(got, Ok(Some(Ok(Message::Ping(_))))), "{got:?}");
        drop(client);
        assert_eq!(end_of(task).await.reason, EndReason::ClientClosed);
    }

    /// Frames as a fuzzer would send them: fragments with control frames
    /// between, RSV1 (compressed) payloads, sizes around the length
    /// formats, then garbage.
    fn frame_soup(seed: u64) -> Vec<u8> {
        use tungstenite::protocol::frame::FrameHeader;
        use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        for _ in 0..200 {
            let r = next();
            let (opcode, fin) = match r % 6 {
                0 => (OpCode::Data(Data::Text), r & 64 == 0),
                1 => (OpCode::Data(Data::Binary), true),
                2 => (OpCode::Control(Control::Ping), true),
                3 => (OpCode::Control(Control::Pong), true),
                _ => (OpCode::Data(Data::Binary), true),
            };
            let len = match opcode {
                OpCode::Control(_) => (r >> 8) as usize % 126,
                _ => [0, 1, 125, 126, 127, 65_535, 65_536, 70_000][(r >> 8) as usize % 8],
            };
            let header = FrameHeader {
                is_final: fin,
                rsv1: matches!(opcode, OpCode::Data(_)) && r & 128 != 0,
                opcode,
                mask: Some([(r >> 16) as u8, (r >> 24) as u8, 1, 2]),
                ..FrameHeader::default()
            };
            let _ = header.format(len as u64, &mut out);
            out.extend((0..len).map(|i| (i as u64 ^ r) as u8));
            if !fin {
                // The message's end, after a control frame.
                let ping = FrameHeader {
                    opcode: OpCode::Control(Control::Ping),
                    mask: Some([1, 2, 3, 4]),
                    ..FrameHeader::default()
                };
                let _ = ping.format(3, &mut out);
                out.extend(b"abc");
                let end = FrameHeader {
                    opcode: OpCode::Data(Data::Continue),
                    mask: Some([4, 3, 2, 1]),
                    ..FrameHeader::default()
                };
                let _ = end.format(5, &mut out);
                out.extend(b"tail!");
            }
        }
        // A reserved opcode: the rest is opaque, and still delivered.
        out.extend([0x8b, 0x80, 0, 0, 0, 0]);
        out.extend((0..5000).map(|i| (i * 7) as u8));
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_stream_reaches_the_other_side_unchanged() {
        for seed in [1u64, 7, 42, 1234] {
            let soup = frame_soup(seed);
            let (mut client, mut upstream, task) =
                start(4096, b"", b"", ws_cfg(60, Some(30), Some(1001)));
            let sent = soup.clone();
            let writer = tokio::spawn(async move {
                // Writes of odd sizes, so that headers split across reads.
                for piece in sent.chunks(1009) {
                    client.write_all(piece).await.ok();
                }
                client
            });
            let got = read_n(&mut upstream, soup.len()).await;
            assert!(got == soup, "seed {seed}: the stream changed");
            drop(joined(writer).await);
            assert_eq!(end_of(task).await.reason, EndReason::ClientClosed);
        }
    }
}
