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
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            proxy_read_timeout: Duration::from_secs(60),
            proxy_send_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            on_timeout: TimeoutClose::Silent,
        }
    }
}

/// How a timed-out tunnel is closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutClose {
    /// Close both connections, as nginx does. (A WebSocket 1001 close frame
    /// mode will be a variant here.)
    #[default]
    Silent,
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
    let deadline = Instant::now() + cfg.proxy_read_timeout;
    Tunnel {
        client,
        upstream,
        up: Pipe::new(client_leftover),
        down: Pipe::new(upstream_leftover),
        last_event: Instant::now(),
        deadline,
        sleep: None,
        timer_waker: None,
        cfg: cfg.clone(),
    }
}

/// One direction: what was read and not yet written, and whether its source
/// ended.
struct Pipe {
    pending: Bytes,
    unflushed: bool,
    eof: Option<Option<io::ErrorKind>>,
    bytes: u64,
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
        }
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
                }
                Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                    *progress = true;
                    self.eof = Some(None);
                }
                Poll::Ready(Ok(())) => {
                    *progress = true;
                    let read = rb.filled();
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
}

impl<C, U> Tunnel<C, U> {
    /// The client's connection, for what its close must do (a reset).
    pub fn client(&self) -> &C {
        &self.client
    }
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
        let down = match self.down.poll(
            cx,
            &mut self.upstream,
            &mut self.client,
            Side::Client,
            &mut progress,
        ) {
            Ok(flow) => flow,
            Err(reason) => return self.end(reason),
        };
        let up = match self.up.poll(
            cx,
            &mut self.client,
            &mut self.upstream,
            Side::Upstream,
            &mut progress,
        ) {
            Ok(flow) => flow,
            Err(reason) => return self.end(reason),
        };
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
        let Some(mut first) = timers.next() else {
            return Poll::Pending;
        };
        for t in timers {
            if t.0 < first.0 {
                first = t;
            }
        }
        if now >= first.0 {
            return self.end(first.1);
        }
        // The timer is moved lazily: while traffic flows the deadline moves
        // on at every event, and re-arming tokio's timer each time would be
        // a good part of a small message's cost. A timer still due before
        // the deadline is left alone; when it fires, this poll finds the
        // deadline not reached and arms the timer at it.
        let (sleep, rearmed) = match &mut self.sleep {
            Some(sleep) if self.deadline > now && self.deadline <= first.0 => (sleep, false),
            Some(sleep) => {
                sleep.as_mut().reset(first.0);
                self.deadline = first.0;
                (sleep, true)
            }
            None => {
                self.deadline = first.0;
                (self.sleep.insert(Box::pin(sleep_until(first.0))), true)
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

#[cfg(test)]
mod tests;
