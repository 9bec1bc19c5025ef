//! The byte pipe after a 101, with the timers of nginx's
//! `ngx_http_upstream_process_upgraded` (src/http/ngx_http_upstream.c):
//!
//! - every event in either direction re-arms the timers (`ngx_add_timer` at
//!   the end of each call), so the tunnel dies only after a timeout's worth of
//!   silence both ways;
//! - proxy_read_timeout runs while the upstream is being read (not while its
//!   bytes wait for a slow client);
//! - proxy_send_timeout runs only while a write to the upstream is blocked;
//! - send_timeout runs only while a write to the client is blocked;
//! - there is no timer on client reads.
//!
//! Bytes already read past the heads go first. When one side ends (EOF or a
//! read error) and what was read from it has been written, both connections
//! are closed: a half-close is not passed on and data in flight the other way
//! is dropped, as nginx does. On a timeout both are closed without a close
//! frame.
//!
//! Memory: an idle tunnel holds no buffer. Reads go into a stack buffer that
//! lives only during one poll and are written through at once; only what a
//! blocked destination does not take is copied to the heap, and that copy is
//! freed as soon as it is written. Events here are I/O progress: a blocked
//! direction's source is not read (nginx's buffer is full), so its new bytes
//! do not re-arm the timers until the write moves again.
//!
//! With upgate's pragmas (`websocket_ping`, `websocket_close_on_timeout`)
//! the tunnel also follows the frames of both directions ([`frames`]) and
//! puts its own on the wire at frame boundaries: a ping to a side silent
//! for the ping period (its pong is not passed on; a side silent for a
//! second period is closed as dead), and close frames to both sides at
//! proxy_read_timeout, at a shutdown's deadline and for a dead side, after
//! which it waits up to [`CLOSE_GRACE`] for their close frames. Without
//! them nothing here looks at a byte.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep_until};

/// Bytes read per call, on the stack and not zeroed: a 16 KiB WebSocket
/// message and its frame header come in one read (nginx's 4 or 8 KiB
/// proxy_buffer_size needs several); also the most a blocked direction
/// copies to the heap.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per direction per poll before yielding to other tasks.
const READS_PER_POLL: usize = 16;
/// How long a closing tunnel waits for the close frames that answer its
/// own.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

mod frames;
use frames::{Fed, Framing};

/// The tunnel's timeouts and options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    /// proxy_read_timeout (default 60s): silence both ways.
    pub proxy_read_timeout: Duration,
    /// proxy_send_timeout (default 60s): a blocked write to the upstream.
    pub proxy_send_timeout: Duration,
    /// send_timeout (default 60s): a blocked write to the client.
    pub send_timeout: Duration,
    /// What a timeout does to the connections.
    pub on_timeout: TimeoutClose,
    /// `# upgate: websocket_ping`: the idle period after which a side is
    /// pinged.
    pub ping: Option<Duration>,
}

impl TunnelConfig {
    /// Whether the tunnel follows WebSocket frames (a pragma is on).
    pub fn frame_aware(&self) -> bool {
        self.ping.is_some() || self.on_timeout != TimeoutClose::Silent
    }
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            proxy_read_timeout: Duration::from_secs(60),
            proxy_send_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            on_timeout: TimeoutClose::Silent,
            ping: None,
        }
    }
}

/// How a timed-out tunnel is closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutClose {
    /// Close both connections, as nginx does.
    #[default]
    Silent,
    /// `# upgate: websocket_close_on_timeout CODE`: a close frame with the
    /// code to both sides first.
    CloseFrame(u16),
}

/// Which connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
}

/// Why the tunnel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The client closed (its bytes were all delivered).
    ClientClosed,
    /// The upstream closed (its bytes were all delivered).
    UpstreamClosed,
    /// proxy_read_timeout of silence ("upstream timed out").
    ReadTimeout,
    /// A write to the upstream stayed blocked ("upstream timed out").
    SendTimeout,
    /// A write to the client stayed blocked ("client timed out").
    ClientSendTimeout,
    /// An I/O error on one side.
    Error(Side, io::ErrorKind),
    /// A side answered no ping for a ping period (`websocket_ping`).
    DeadPeer(Side),
    /// A shutdown's deadline, met with close frames.
    Shutdown,
}

/// How a tunnel ended and what it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelEnd {
    pub reason: EndReason,
    /// Bytes written to the upstream, the client's leftover included.
    pub client_to_upstream: u64,
    /// Bytes written to the client, the upstream's leftover included.
    pub upstream_to_client: u64,
}

/// The tunnel, as a future that runs until one side ends or a timer fires,
/// then drops (closes) both connections. `client_leftover` is what the
/// client sent after its request head, `upstream_leftover` what the upstream
/// sent after its 101 head.
///
/// Bounded by the timeouts in `cfg`: it never waits longer than
/// `max(proxy_read_timeout, send_timeout, proxy_send_timeout)` without I/O.
///
/// The future is [`Unpin`] and built here, not in an `async fn`: a caller
/// holding thousands of idle tunnels can poll it through `&mut` and keep a
/// single copy of its state (an `async fn` keeps its arguments beside the
/// state made from them).
///
/// Cancel safety: dropping the future closes both connections; bytes read but
/// not yet written are lost, as when nginx finalizes the request.
pub fn tunnel<C, U>(
    client: C,
    upstream: U,
    client_leftover: Bytes,
    upstream_leftover: Bytes,
    cfg: &TunnelConfig,
) -> Tunnel<C, U>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let now = Instant::now();
    let deadline = now + cfg.proxy_read_timeout;
    let mut up = Pipe::new(client_leftover);
    let mut down = Pipe::new(upstream_leftover);
    let ws = cfg.frame_aware().then(|| {
        // The leftovers are the first bytes of each stream (a server's
        // welcome message often comes with its 101): the frame readers
        // start on them, or they would take a frame's middle for a header.
        for pipe in [&mut up, &mut down] {
            let mut framing = Box::<Framing>::default();
            if let Fed::Replace(out) = framing.feed(&pipe.pending) {
                pipe.pending = out;
            }
            pipe.framing = Some(framing);
        }
        Box::new(WsControl::new(now))
    });
    Tunnel {
        client,
        upstream,
        up,
        down,
        last_event: now,
        deadline,
        sleep: None,
        timer_waker: None,
        cfg: cfg.clone(),
        ws,
    }
}

/// One direction: what was read and not yet written, and whether its source
/// ended.
struct Pipe {
    pending: Bytes,
    unflushed: bool,
    eof: Option<Option<io::ErrorKind>>,
    bytes: u64,
    /// The frames of this direction, when a pragma needs them.
    framing: Option<Box<Framing>>,
    /// Bytes were read from the source since the tunnel last looked.
    active: bool,
}

/// Where a direction stands after a poll.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Waiting to read its source.
    Reading,
    /// Waiting for its destination to take bytes.
    Blocked,
    /// Its source ended and everything read was written.
    Ended(Option<io::ErrorKind>),
}

impl Pipe {
    fn new(leftover: Bytes) -> Self {
        Pipe {
            pending: leftover,
            unflushed: false,
            eof: None,
            bytes: 0,
            framing: None,
            active: false,
        }
    }

    /// Puts a frame of upgate's own on the wire if the output stands at a
    /// frame boundary with nothing waiting.
    fn inject(&mut self, frame: Bytes) -> bool {
        let ready = self.pending.is_empty()
            && self.eof.is_none()
            && self.framing.as_ref().is_some_and(|f| f.at_boundary());
        if ready {
            self.pending = frame;
        }
        ready
    }

    /// Moves bytes from `src` to `dst` until one of them would block.
    fn poll<S, D>(
        &mut self,
        cx: &mut Context<'_>,
        src: &mut S,
        dst: &mut D,
        dst_side: Side,
        progress: &mut bool,
    ) -> Result<Flow, EndReason>
    where
        S: AsyncRead + Unpin,
        D: AsyncWrite + Unpin,
    {
        // Not zeroed: a read fills what it reports, and 16 KiB of memset per
        // direction per poll was a tenth of the tunnel's user time.
        let mut scratch = [const { MaybeUninit::<u8>::uninit() }; READ_CHUNK];
        for _ in 0..READS_PER_POLL {
            while !self.pending.is_empty() {
                match self.write(cx, dst, dst_side, progress)? {
                    Some(n) => self.pending.advance(n),
                    None => return Ok(Flow::Blocked),
                }
            }
            self.pending = Bytes::new();
            if self.unflushed {
                match Pin::new(&mut *dst).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(e)) => return Err(EndReason::Error(dst_side, e.kind())),
                    Poll::Pending => return Ok(Flow::Blocked),
                }
            }
            if let Some(err) = self.eof {
                return Ok(Flow::Ended(err));
            }
            let mut rb = ReadBuf::uninit(&mut scratch);
            match Pin::new(&mut *src).poll_read(cx, &mut rb) {
                Poll::Pending => return Ok(Flow::Reading),
                Poll::Ready(Err(e)) => {
                    *progress = true;
                    self.eof = Some(Some(e.kind()));
                    self.release_held();
                }
                Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                    *progress = true;
                    self.eof = Some(None);
                    self.release_held();
                }
                Poll::Ready(Ok(())) => {
                    *progress = true;
                    self.active = true;
                    let read = rb.filled();
                    if let Some(framing) = self.framing.as_mut()
                        && let Fed::Replace(out) = framing.feed(read)
                    {
                        // Written at the top of the loop.
                        self.pending = out;
                        continue;
                    }
                    let mut done = 0;
                    while done < read.len() {
                        match self.write_slice(cx, dst, &read[done..], dst_side, progress)? {
                            Some(k) => done += k,
                            None => {
                                self.pending = Bytes::copy_from_slice(&read[done..]);
                                return Ok(Flow::Blocked);
                            }
                        }
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Ok(Flow::Reading)
    }

    /// At the source's end, what the frame reader held goes on (unless the
    /// tunnel is closing): every byte read is delivered, as by the byte
    /// pipe.
    fn release_held(&mut self) {
        if let Some(framing) = self.framing.as_mut() {
            let held = framing.take_held();
            if !framing.closing && !held.is_empty() {
                self.pending = held;
            }
        }
    }

    fn write<D: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut D,
        side: Side,
        progress: &mut bool,
    ) -> Result<Option<usize>, EndReason> {
        let pending = self.pending.clone();
        self.write_slice(cx, dst, &pending, side, progress)
    }

    /// One write: `Some(n)` written, `None` blocked.
    fn write_slice<D: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut D,
        data: &[u8],
        side: Side,
        progress: &mut bool,
    ) -> Result<Option<usize>, EndReason> {
        match Pin::new(dst).poll_write(cx, data) {
            Poll::Ready(Ok(0)) => Err(EndReason::Error(side, io::ErrorKind::WriteZero)),
            Poll::Ready(Ok(n)) => {
                *progress = true;
                self.unflushed = true;
                self.bytes += n as u64;
                Ok(Some(n))
            }
            Poll::Ready(Err(e)) => Err(EndReason::Error(side, e.kind())),
            Poll::Pending => Ok(None),
        }
    }
}

/// A running tunnel: see [`tunnel`].
pub struct Tunnel<C, U> {
    client: C,
    upstream: U,
    /// Client to upstream.
    up: Pipe,
    /// Upstream to client.
    down: Pipe,
    last_event: Instant,
    /// When the armed timer fires: at the first timer's end or before it.
    deadline: Instant,
    /// Boxed: the timer is not `Unpin`, the tunnel is. Made at the first
    /// poll, inside the runtime whose timer it needs.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The waker the armed timer holds: it was polled since it was armed.
    timer_waker: Option<Waker>,
    cfg: TunnelConfig,
    /// The pragmas' state, when one is on.
    ws: Option<Box<WsControl>>,
}

impl<C, U> Tunnel<C, U> {
    /// The client's connection, for what its close must do (a reset).
    pub fn client(&self) -> &C {
        &self.client
    }

    /// A shutdown's deadline: with `websocket_close_on_timeout`, both sides
    /// get a close frame and the tunnel ends when they answer (within
    /// [`CLOSE_GRACE`]); the caller polls on. `false`: close it bare now.
    pub fn close_for_shutdown(&mut self) -> bool {
        let TimeoutClose::CloseFrame(code) = self.cfg.on_timeout else {
            return false;
        };
        if self.ws.as_ref().is_some_and(|ws| ws.closing.is_none()) {
            self.start_closing(EndReason::Shutdown, code, Instant::now());
        }
        self.ws.is_some()
    }

    /// Sends each side a close frame where its stream allows one, and from
    /// now on passes nothing on.
    fn start_closing(&mut self, reason: EndReason, code: u16, now: Instant) {
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let text = close_text(reason);
        ws.close_sent = [
            self.down.inject(close_frame(code, text, false)),
            self.up.inject(close_frame(code, text, true)),
        ];
        for pipe in [&mut self.up, &mut self.down] {
            if let Some(f) = pipe.framing.as_mut() {
                f.closing = true;
            }
        }
        ws.closing = Some((reason, now + CLOSE_GRACE));
    }
}

/// What upgate's frames need between polls.
struct WsControl {
    /// When each side (client, upstream) last sent a byte.
    last_from: [Instant; 2],
    /// When each side was pinged, until it sends something.
    ping_sent: [Option<Instant>; 2],
    pings: u32,
    /// Closing: why, and until when the close frames are waited for.
    closing: Option<(EndReason, Instant)>,
    /// Which sides were sent a close frame.
    close_sent: [bool; 2],
}

impl WsControl {
    fn new(now: Instant) -> Self {
        WsControl {
            last_from: [now; 2],
            ping_sent: [None; 2],
            pings: 0,
            closing: None,
            close_sent: [false; 2],
        }
    }
}

/// The reason text of upgate's close frames (a browser shows it as
/// `CloseEvent.reason`).
fn close_text(reason: EndReason) -> &'static str {
    match reason {
        EndReason::ReadTimeout => "idle timeout",
        EndReason::Shutdown => "server shutting down",
        EndReason::DeadPeer(_) => "peer not responding",
        _ => "",
    }
}

/// A control frame of upgate's own; toward the upstream (`masked`) with a
/// fresh mask, as a client's must be.
fn control_frame(frame: tungstenite::protocol::frame::Frame, masked: bool) -> Bytes {
    let mut frame = frame;
    if masked {
        let mut mask = [0u8; 4];
        // The mask protects intermediaries from payloads a client chose;
        // these payloads are upgate's, so a fixed mask would be safe too.
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut mask).is_err() {
            mask = [0x5a, 0xa5, 0x3c, 0xc3];
        }
        frame.header_mut().mask = Some(mask);
    }
    let mut out = Vec::with_capacity(frame.len());
    // Writing into a Vec cannot fail.
    let _ = frame.format(&mut out);
    Bytes::from(out)
}

fn close_frame(code: u16, text: &str, masked: bool) -> Bytes {
    let close = tungstenite::protocol::frame::CloseFrame {
        code: code.into(),
        reason: text.into(),
    };
    control_frame(
        tungstenite::protocol::frame::Frame::close(Some(close)),
        masked,
    )
}

fn ping_frame(n: u32, masked: bool) -> Bytes {
    control_frame(
        tungstenite::protocol::frame::Frame::ping(frames::ping_payload(n).to_vec()),
        masked,
    )
}

impl<C, U> Future for Tunnel<C, U>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    type Output = TunnelEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TunnelEnd> {
        let end = self.get_mut().poll_tunnel(cx);
        if let Poll::Ready(end) = &end {
            tracing::debug!(?end, "tunnel closed");
        }
        end
    }
}

impl<C, U> Tunnel<C, U>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    fn end(&self, reason: EndReason) -> Poll<TunnelEnd> {
        Poll::Ready(TunnelEnd {
            reason,
            client_to_upstream: self.up.bytes,
            upstream_to_client: self.down.bytes,
        })
    }

    fn poll_tunnel(&mut self, cx: &mut Context<'_>) -> Poll<TunnelEnd> {
        let cfg = &self.cfg;
        let mut progress = false;
        let closing = self.ws.as_ref().and_then(|ws| ws.closing);
        let down = match self.down.poll(
            cx,
            &mut self.upstream,
            &mut self.client,
            Side::Client,
            &mut progress,
        ) {
            Ok(flow) => flow,
            Err(reason) => return self.end(closing.map_or(reason, |(why, _)| why)),
        };
        let up = match self.up.poll(
            cx,
            &mut self.client,
            &mut self.upstream,
            Side::Upstream,
            &mut progress,
        ) {
            Ok(flow) => flow,
            Err(reason) => return self.end(closing.map_or(reason, |(why, _)| why)),
        };
        if let Some((reason, grace)) = closing {
            return self.poll_closing(cx, reason, grace);
        }
        match (down, up) {
            (Flow::Ended(Some(kind)), _) => {
                return self.end(EndReason::Error(Side::Upstream, kind));
            }
            (Flow::Ended(None), _) => return self.end(EndReason::UpstreamClosed),
            (_, Flow::Ended(Some(kind))) => return self.end(EndReason::Error(Side::Client, kind)),
            (_, Flow::Ended(None)) => return self.end(EndReason::ClientClosed),
            _ => {}
        }
        let now = Instant::now();
        if progress {
            self.last_event = now;
        }
        // The armed timers, each re-armed at the last event; on a tie the
        // client's write timer is checked first, as nginx's handler does.
        let mut timers = [
            (
                down == Flow::Blocked,
                cfg.send_timeout,
                EndReason::ClientSendTimeout,
            ),
            (
                up == Flow::Blocked,
                cfg.proxy_send_timeout,
                EndReason::SendTimeout,
            ),
            (
                down == Flow::Reading,
                cfg.proxy_read_timeout,
                EndReason::ReadTimeout,
            ),
        ]
        .into_iter()
        .filter(|(armed, _, _)| *armed)
        .map(|(_, timeout, reason)| (self.last_event + timeout, reason));
        let first = timers.next().map(|mut first| {
            for t in timers {
                if t.0 < first.0 {
                    first = t;
                }
            }
            first
        });
        let mut wake_at = first.map(|(at, _)| at);
        if let Some((at, reason)) = first
            && now >= at
        {
            match (reason, self.cfg.on_timeout) {
                (EndReason::ReadTimeout, TimeoutClose::CloseFrame(code)) if self.ws.is_some() => {
                    self.start_closing(reason, code, now);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                _ => return self.end(reason),
            }
        }
        if self.ws.is_some() {
            match self.keepalive(now) {
                Keepalive::Wrote => {
                    // The frames go out at the next poll, at once.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Keepalive::Next(Some(at)) => {
                    wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
                }
                Keepalive::Next(None) => {}
            }
        }
        match wake_at {
            Some(at) => self.wait_until(cx, at, now),
            None => Poll::Pending,
        }
    }

    /// `websocket_ping`: pings the sides silent for a period, closes one
    /// silent for a second period; when the next check is due.
    fn keepalive(&mut self, now: Instant) -> Keepalive {
        let Some(ws) = self.ws.as_mut() else {
            return Keepalive::Next(None);
        };
        // Index 0 is the client (the source of `up`), 1 the upstream.
        for (i, pipe) in [&mut self.up, &mut self.down].into_iter().enumerate() {
            if std::mem::take(&mut pipe.active) {
                ws.last_from[i] = now;
                ws.ping_sent[i] = None;
            }
        }
        let Some(period) = self.cfg.ping else {
            return Keepalive::Next(None);
        };
        let mut next: Option<Instant> = None;
        let mut sooner = |at: Instant| next = Some(next.map_or(at, |n| n.min(at)));
        for i in 0..2 {
            if let Some(sent) = ws.ping_sent[i] {
                if now >= sent + period {
                    let side = if i == 0 { Side::Client } else { Side::Upstream };
                    let code = match self.cfg.on_timeout {
                        TimeoutClose::CloseFrame(code) => code,
                        TimeoutClose::Silent => 1001,
                    };
                    self.start_closing(EndReason::DeadPeer(side), code, now);
                    return Keepalive::Wrote;
                }
                sooner(sent + period);
                continue;
            }
            let due = ws.last_from[i] + period;
            if now < due {
                sooner(due);
                continue;
            }
            // A ping to the client goes down, one to the upstream goes up
            // (masked, as a client's frames are); its pong comes the other
            // way.
            let n = ws.pings.wrapping_add(1);
            let (to, from) = if i == 0 {
                (&mut self.down, &mut self.up)
            } else {
                (&mut self.up, &mut self.down)
            };
            if to.inject(ping_frame(n, i == 1)) {
                ws.pings = n;
                ws.ping_sent[i] = Some(now);
                if let Some(f) = from.framing.as_mut() {
                    f.expect_pong = Some(frames::ping_payload(n));
                }
                return Keepalive::Wrote;
            }
            // Mid-frame (or opaque): the next bytes wake the tunnel, and
            // nginx's timers still bound it.
        }
        Keepalive::Next(next)
    }

    /// A closing tunnel: ends when every side sent a close frame got its
    /// answer (or ended), or at the grace deadline.
    fn poll_closing(
        &mut self,
        cx: &mut Context<'_>,
        reason: EndReason,
        grace: Instant,
    ) -> Poll<TunnelEnd> {
        let Some(ws) = self.ws.as_ref() else {
            return self.end(reason);
        };
        let answered = |sent: bool, from: &Pipe, to: &Pipe| {
            !sent
                || from.eof.is_some()
                || (to.pending.is_empty() && from.framing.as_ref().is_some_and(|f| f.close_seen))
        };
        let client_done = answered(ws.close_sent[0], &self.up, &self.down);
        let upstream_done = answered(ws.close_sent[1], &self.down, &self.up);
        let now = Instant::now();
        if (client_done && upstream_done) || now >= grace {
            return self.end(reason);
        }
        self.wait_until(cx, grace, now)
    }

    /// Arms the timer for `at` (or leaves one that fires sooner).
    fn wait_until(&mut self, cx: &mut Context<'_>, at: Instant, now: Instant) -> Poll<TunnelEnd> {
        // The timer is moved lazily: while traffic flows the deadline moves
        // on at every event, and re-arming tokio's timer each time would be
        // a good part of a small message's cost. A timer still due before
        // the deadline is left alone; when it fires, this poll finds the
        // deadline not reached and arms the timer at it.
        let (sleep, rearmed) = match &mut self.sleep {
            Some(sleep) if self.deadline > now && self.deadline <= at => (sleep, false),
            Some(sleep) => {
                sleep.as_mut().reset(at);
                self.deadline = at;
                (sleep, true)
            }
            None => {
                self.deadline = at;
                (self.sleep.insert(Box::pin(sleep_until(at))), true)
            }
        };
        // A timer polled since it was last armed holds this task's waker
        // until it fires: polling it again at every wake would only
        // register the same waker again. A poll without coop budget left
        // registers nothing, so it does not count.
        if !rearmed
            && self
                .timer_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let registers = tokio::task::coop::has_budget_remaining();
        self.timer_waker = registers.then(|| cx.waker().clone());
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timer_waker = None;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What the keepalive check did.
enum Keepalive {
    /// Put frames in the pipes (or began closing): poll again.
    Wrote,
    /// When it is next due.
    Next(Option<Instant>),
}

#[cfg(test)]
mod tests;
