//! A connection after its 101: the tunnel (`tunnel.rs`) and what nginx does
//! when it ends (`ngx_http_upstream_process_upgraded`, then the request's
//! finalization): the peer freed, the timeout logged at `info`, the access
//! log lines written with the bytes the tunnel carried.
//!
//! Memory: a server may hold tens of thousands of idle tunnels, so what one
//! holds is chosen here. The request machine and every buffer it used are
//! gone before the tunnel starts; [`start`] takes apart what the request
//! left and keeps one copy of each piece that the end needs, in one boxed
//! future; the values for the access log are kept only when a log line
//! waits for them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;

use crate::access_log::{Pending, Values};
use crate::client::Client;
use crate::error_log::Level;
use crate::proxy::TunnelJob;
use crate::server::Shared;
use crate::tables::Tables;
use crate::tunnel::{EndReason, Side, TunnelEnd, tunnel};

/// Everything a tunnel needs once the request machine is gone.
pub struct TunnelExit {
    pub tables: Arc<Tables>,
    pub job: Box<TunnelJob>,
    pub logs: Vec<Pending>,
    pub vals: Values,
    pub started: Instant,
    /// The limit_conn slots the upgraded request holds while the tunnel
    /// lives.
    pub limit_conn: Vec<Arc<upgate_runtime::limit_conn::Slot>>,
    /// The location that proxied it (for the metrics).
    pub location: upgate_runtime::location::LocationId,
}

/// A tunnel ready to run, boxed: the connection's task holds only this
/// pointer while the tunnel lives.
pub type Upgraded = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The tunnel of `client` and the upstream in `exit`; `None` when no
/// connection slot is left for its upstream side (nginx counts both
/// connections against worker_connections; it has logged).
///
/// The future runs the tunnel to its end, or until worker_shutdown_timeout
/// has passed since a reload replaced its generation, then frees the peer
/// and writes the log lines.
pub fn start(client: Client, exit: TunnelExit, shared: &Arc<Shared>) -> Option<Upgraded> {
    let slot = shared.tunnel_slot()?;
    let TunnelExit {
        tables,
        job,
        logs,
        vals,
        started,
        limit_conn,
        location,
    } = exit;
    let TunnelJob {
        upstream,
        upstream_leftover,
        cfg,
        group,
        sel,
    } = *job;
    // Counted while it lives, so that a stop knows to wait for its close.
    let close_frames = (cfg.on_timeout != crate::tunnel::TimeoutClose::Silent)
        .then(|| CloseFrameTunnel::new(shared));
    let client_leftover = Bytes::copy_from_slice(&client.buf);
    // The request's read buffer goes here: an idle tunnel holds no buffer.
    let Client {
        stream,
        id,
        peer,
        stat,
        reset_timedout,
        ..
    } = client;
    let mut tunnel = tunnel(stream, upstream, client_leftover, upstream_leftover, &cfg);
    let log = (!logs.is_empty()).then(|| Box::new(LogLater::new(logs, vals, started)));
    let generation = tables.generation;
    // Boxed: most servers run without --metrics, and an idle tunnel's
    // future should not grow for them.
    let counted = tables
        .metrics
        .as_ref()
        .and_then(|m| m.tunnel_opened(location))
        .map(Box::new);
    let mut close_before = shared.close_before.subscribe();
    let mut probe = shared.close_before.subscribe();
    Some(Box::pin(async move {
        // Held until the tunnel ends: a connection slot, the limit_conn
        // slots, and the connection's place in stub_status ("writing").
        let _held = (&slot, &limit_conn, &stat, &close_frames);
        // Polled through `&mut`: the tunnel's state is this future's, once.
        let end = loop {
            probe.borrow_and_update();
            if *close_before.borrow_and_update() > generation {
                if tunnel.close_for_shutdown() {
                    // Close frames to both sides: the tunnel ends when they
                    // answer, within CLOSE_GRACE.
                    break (&mut tunnel).await;
                }
                // The byte counts are lost with the tunnel.
                break TunnelEnd {
                    reason: EndReason::Shutdown,
                    client_to_upstream: 0,
                    upstream_to_client: 0,
                };
            }
            // The reload notice is waited for with the tunnel, but polled
            // only once to register and then when `probe` sees a change (an
            // atomic load): polling it at every wake of a busy tunnel cost
            // about a tenth of a small message's relay.
            let mut changed = std::pin::pin!(close_before.changed());
            let mut registered = false;
            let step = std::future::poll_fn(|cx| {
                if let Poll::Ready(end) = Pin::new(&mut tunnel).poll(cx) {
                    return Poll::Ready(Step::Ended(end));
                }
                if !registered || probe.has_changed().unwrap_or(true) {
                    registered = true;
                    if let Poll::Ready(changed) = changed.as_mut().poll(cx) {
                        return Poll::Ready(match changed {
                            Ok(()) => Step::Reloaded,
                            Err(_) => Step::NoMoreReloads,
                        });
                    }
                }
                Poll::Pending
            })
            .await;
            match step {
                Step::Ended(end) => break end,
                Step::Reloaded => {}
                // The server is gone: the tunnel alone decides.
                Step::NoMoreReloads => break (&mut tunnel).await,
            }
        };
        // A client that stopped reading timed out (c->timedout in
        // ngx_http_upstream_process_upgraded); an upstream timeout is not
        // the client's.
        if reset_timedout && end.reason == EndReason::ClientSendTimeout {
            tunnel.client().transport().reset_on_close();
        }
        drop(tunnel);
        let mut sel = sel;
        group.peers().free(
            &mut sel,
            upgate_runtime::upstream::Outcome::Ok,
            Instant::now(),
        );
        if let Some(counted) = counted {
            counted.closed(end.reason, end.client_to_upstream, end.upstream_to_client);
        }
        if let Some(msg) = timeout_message(end.reason) {
            let cx = crate::error_log::Context {
                conn: id,
                client: peer.addr_text(),
                ..Default::default()
            };
            tables.error_log.log_request(Level::Info, &cx, msg);
        }
        if let Some(log) = log {
            log.finish(&end);
        }
    }))
}

/// A tunnel that meets a shutdown's deadline with close frames, counted in
/// `Shared::close_frame_tunnels` until dropped.
struct CloseFrameTunnel(Arc<Shared>);

impl CloseFrameTunnel {
    fn new(shared: &Arc<Shared>) -> Self {
        shared
            .close_frame_tunnels
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        CloseFrameTunnel(Arc::clone(shared))
    }
}

impl Drop for CloseFrameTunnel {
    fn drop(&mut self) {
        self.0
            .close_frame_tunnels
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What woke a tunnel's task.
enum Step {
    Ended(TunnelEnd),
    /// A reload: is this tunnel's generation to close now?
    Reloaded,
    NoMoreReloads,
}

/// nginx's error log line for a tunnel that timed out.
fn timeout_message(reason: EndReason) -> Option<&'static str> {
    match reason {
        EndReason::ReadTimeout | EndReason::SendTimeout => Some(
            "upstream timed out (110: Connection timed out) while proxying upgraded connection",
        ),
        EndReason::ClientSendTimeout => {
            Some("client timed out (110: Connection timed out) while proxying upgraded connection")
        }
        EndReason::DeadPeer(Side::Client) => Some(
            "client answered no ping (websocket_ping) while proxying upgraded connection, closed",
        ),
        EndReason::DeadPeer(Side::Upstream) => Some(
            "upstream answered no ping (websocket_ping) while proxying upgraded connection, closed",
        ),
        _ => None,
    }
}

/// The access log lines of an upgraded request, written when its tunnel
/// ends.
struct LogLater {
    logs: Vec<Pending>,
    vals: Values,
    started: Instant,
}

impl LogLater {
    fn new(logs: Vec<Pending>, mut vals: Values, started: Instant) -> Self {
        // Kept for hours in an idle tunnel: no spare capacity.
        vals.upstream.shrink_to_fit();
        vals.upstream_head.shrink_to_fit();
        vals.sent_head.shrink_to_fit();
        LogLater {
            logs,
            vals,
            started,
        }
    }

    fn finish(self, end: &TunnelEnd) {
        let LogLater {
            logs,
            mut vals,
            started,
        } = self;
        vals.request_time = started.elapsed();
        vals.bytes_sent += end.upstream_to_client;
        vals.body_bytes_sent += end.upstream_to_client;
        // nginx counts the tunnel's bytes on the upstream connection too
        // (`ngx_http_upstream_process_upgraded` adds what it reads from the
        // upstream to `u->state->bytes_received`; `bytes_sent` is the
        // connection's `sent` at the end).
        if let Some(state) = vals.upstream.last_mut() {
            state.bytes_sent += end.client_to_upstream;
            state.bytes_received += end.upstream_to_client;
        }
        vals.tunnel_close = Some(crate::metrics::close_reason(end.reason));
        for l in logs {
            l.finish(&vals);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_log_nginx_texts() {
        assert!(timeout_message(EndReason::ReadTimeout).is_some_and(|m| m.starts_with("upstream")));
        assert!(timeout_message(EndReason::SendTimeout).is_some_and(|m| m.starts_with("upstream")));
        assert!(
            timeout_message(EndReason::ClientSendTimeout).is_some_and(|m| m.starts_with("client"))
        );
        assert_eq!(timeout_message(EndReason::ClientClosed), None);
        assert_eq!(timeout_message(EndReason::UpstreamClosed), None);
    }
}
