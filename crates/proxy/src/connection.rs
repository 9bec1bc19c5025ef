//! One client connection as an explicit state machine (sozu's
//! `HttpStateMachine` shape), following nginx's handlers in
//! src/http/ngx_http_request.c:
//!
//! ```text
//! ReadingHead --head--> Request --After::KeepAlive--> Idle --bytes--> ReadingHead
//!      |                   |---After::Close/Linger--> Closed
//!      |                   '---After::Tunnel--------> (tunnel.rs, then Closed)
//!      '--timeout / EOF: closed silently; bad head: nginx's error page, then Linger
//! ```
//!
//! - `ReadingHead`: `ngx_http_read_request_header` with one client_header_timeout
//!   for the whole head; on timeout nginx closes without answering
//!   (`ngx_http_close_request(r, NGX_HTTP_REQUEST_TIME_OUT)`).
//! - `Request`: the runtime routes it (`request.rs` of upgate-runtime), then
//!   [`crate::dispatch`] answers it or proxies it.
//! - `Idle`: `ngx_http_set_keepalive`: pipelined bytes start the next request
//!   at once; else wait keepalive_timeout, holding no buffer.
//! - A connection waiting for a request's first byte (new or idle) is
//!   "reusable": when worker_connections run short, up to 32 of them close
//!   to make room (`ngx_drain_connections`).
//!
//! A tunnel leaves the machine with the client socket, so that the boxed
//! request future (and every buffer it held) is freed before the tunnel runs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use crate::client::{Client, IoFail};
use crate::dispatch;
use crate::error_log::Level;
use crate::http1::{Keepalive, RequestConfig, RequestHead, http_date_now, parse_request_head};
use crate::io_timeout::Deadline;
use crate::server::Shared;
use crate::stats::Phase;
use crate::tables::Tables;
use crate::upgraded::{TunnelExit, Upgraded};

/// Where a connection stands.
enum State {
    /// Waiting for the next request's first byte (keepalive).
    Idle {
        timeout: Duration,
    },
    /// Reading a request head.
    ReadingHead,
    /// A head to serve, with the generation it is served by.
    Request(Arc<Tables>, Box<RequestHead>),
    /// Close after draining what the client still sends.
    Linger,
    Closed,
    /// Hand over to the tunnel.
    Tunnel(Box<TunnelExit>),
}

/// How the request machine ended.
enum Exit {
    Done,
    Linger(Client),
    Tunnel(Client, Box<TunnelExit>),
}

/// Serves one accepted connection until it closes.
///
/// Not an `async fn`: the future it returns sits in the connection's task
/// for the connection's whole life, idle tunnels included, so it holds only
/// the boxed request machine, then the boxed tunnel or linger (an `async
/// fn` would also keep `client` beside them).
pub fn serve(client: Client, shared: Arc<Shared>) -> impl Future<Output = ()> + Send {
    let requests = Box::pin(requests(client, Arc::clone(&shared)));
    async move {
        if let Some(after) = after(requests.await, &shared) {
            after.await;
        }
    }
}

/// What runs once the request machine has ended, boxed.
fn after(exit: Exit, shared: &Arc<Shared>) -> Option<Upgraded> {
    match exit {
        Exit::Done => None,
        Exit::Linger(client) => Some(Box::pin(client.linger())),
        Exit::Tunnel(client, t) => crate::upgraded::start(client, *t, shared),
    }
}

async fn requests(mut client: Client, shared: Arc<Shared>) -> Exit {
    let shared = &*shared;
    let mut shutdown = shared.shutdown.subscribe();
    client.exiting = Some(shared.shutdown.subscribe());
    let mut state = State::ReadingHead;
    loop {
        state = match state {
            State::Idle { timeout } => {
                if !client.buf.is_empty() {
                    State::ReadingHead
                } else {
                    // nginx frees the buffer of an idle keepalive connection.
                    client.buf = BytesMut::new();
                    client.phase(Phase::Waiting);
                    if *shutdown.borrow() {
                        State::Closed
                    } else {
                        idle(&mut client, shared, &mut shutdown, timeout).await
                    }
                }
            }
            State::ReadingHead => {
                client.phase(if client.buf.is_empty() {
                    Phase::Waiting
                } else {
                    Phase::Reading
                });
                read_head(&mut client, shared).await
            }
            State::Request(tables, head) => {
                client.requests += 1;
                client.sent = 0;
                match dispatch::request(tables, &mut client, &head).await {
                    Next::KeepAlive(timeout) => State::Idle { timeout },
                    Next::Close => State::Closed,
                    Next::Linger => State::Linger,
                    Next::Tunnel(t) => State::Tunnel(t),
                }
            }
            State::Linger => {
                client.reset_if_timedout();
                return Exit::Linger(client);
            }
            State::Closed => {
                client.reset_if_timedout();
                return Exit::Done;
            }
            State::Tunnel(t) => return Exit::Tunnel(client, t),
        };
    }
}

/// An idle keepalive connection waits for its next request; it closes on
/// keepalive_timeout, at a stop, or when worker_connections run short and
/// it is among the idle ones drained (`ngx_drain_connections`).
async fn idle(
    client: &mut Client,
    shared: &Shared,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    timeout: Duration,
) -> State {
    let mut limit = Deadline::new(timeout);
    loop {
        // biased: the client's bytes first, and no random draw per wait
        tokio::select! {
            biased;
            r = client.wait_readable(&mut limit) => return match r {
                Ok(()) => State::ReadingHead,
                Err(_) => State::Closed,
            },
            _ = shutdown.changed() => return State::Closed,
            () = shared.drain_requested() => {
                if shared.take_drain() {
                    return State::Closed;
                }
            }
        }
    }
}

/// Reads one head within client_header_timeout.
async fn read_head(client: &mut Client, shared: &Shared) -> State {
    let tables = shared.tables.load_full();
    let server = tables
        .rt
        .listens
        .find(&client.local)
        .and_then(|a| tables.rt.listens.get(a))
        .map(|a| a.default_server)
        .unwrap_or(upgate_runtime::ServerId(0));
    let srv = tables.srv(server);
    let level = tables.rt.server(server);
    // Until the request finds its location, the default server's level is
    // r->loc_conf (ngx_http_create_request).
    client.reset_timedout = tables.loc(level.level).reset_timedout_connection;
    let cfg = RequestConfig {
        limits: srv.limits,
        ignore_invalid_headers: level.ignore_invalid_headers,
        underscores_in_headers: level.underscores_in_headers,
    };
    let mut limit = Deadline::new(srv.client_header_timeout);
    let max = cfg.limits.max_head_len();
    loop {
        if !client.buf.is_empty() {
            match parse_request_head(&mut client.buf, &cfg) {
                Ok(Some(head)) => {
                    client.phase(Phase::Writing);
                    return State::Request(tables, Box::new(head));
                }
                Ok(None) if client.buf.len() < max => {}
                Ok(None) => return State::Closed,
                Err(e) => {
                    let ctx = e.reply;
                    let cx = crate::error_log::Context {
                        conn: client.id,
                        client: client.peer.addr_text(),
                        server: String::from_utf8_lossy(&level.server_name).into_owned(),
                        ..Default::default()
                    };
                    tables
                        .error_log
                        .log_request(Level::Info, &cx, &e.kind.to_string());
                    let date = http_date_now();
                    let (bytes, _) = crate::respond::error(
                        e.error_page().code(),
                        &ctx,
                        tables.ident(level.level),
                        &date,
                        Keepalive::Close,
                    );
                    let line_end = client.buf.iter().position(|&c| c == b'\r' || c == b'\n');
                    let line = client.buf[..line_end.unwrap_or(0)].to_vec();
                    // nginx counts nothing for a refused request line.
                    use crate::http1::RequestErrorKind as K;
                    let in_line = matches!(
                        e.kind,
                        K::InvalidMethod
                            | K::InvalidRequest
                            | K::InvalidVersion
                            | K::Invalid09Method
                            | K::UriTooLong
                    );
                    let request_length = if in_line {
                        0
                    } else {
                        client
                            .buf
                            .windows(4)
                            .position(|w| w == b"\r\n\r\n")
                            .map_or(client.buf.len(), |i| i + 4) as u64
                    };
                    let _ = client.write_all(&bytes, Duration::from_secs(60)).await;
                    let status = e.error_page().status();
                    dispatch::log_rejected(&tables, client, &line, status, &bytes, request_length);
                    return State::Linger;
                }
            }
        }
        // Waiting for a request's first byte, the connection is reusable:
        // a drain for worker_connections may close it (nginx's
        // `ngx_http_wait_request_handler` marks it so).
        let read = if client.buf.is_empty() {
            tokio::select! {
                biased;
                r = client.read_more(&mut limit, max) => r,
                () = shared.drain_requested() => {
                    if shared.take_drain() {
                        return State::Closed;
                    }
                    continue;
                }
            }
        } else {
            client.read_more(&mut limit, max).await
        };
        match read {
            Ok(_) => client.phase(Phase::Reading),
            Err(IoFail::Timeout) => {
                if client.buf.is_empty() {
                    // No byte of a request yet: nginx's wait handler closes
                    // the connection with no request to free, so no reset.
                    client.timedout = false;
                }
                let cx = crate::error_log::Context {
                    conn: client.id,
                    client: client.peer.addr_text(),
                    server: String::from_utf8_lossy(&level.server_name).into_owned(),
                    ..Default::default()
                };
                tables
                    .error_log
                    .log_request(Level::Info, &cx, "client timed out (110: Connection timed out) while reading client request headers");
                return State::Closed;
            }
            Err(_) => return State::Closed,
        }
    }
}

/// What the connection does after a request (`dispatch` decides).
pub enum Next {
    KeepAlive(Duration),
    Close,
    Linger,
    Tunnel(Box<TunnelExit>),
}
