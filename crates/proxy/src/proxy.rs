//! One proxied request, as `ngx_http_upstream_init_request` and what follows
//! it in src/http/ngx_http_upstream.c: choose a peer (`peer.get`), connect
//! (proxy_connect_timeout), send the head the runtime built and the buffered
//! body (proxy_send_timeout between writes), read the response head
//! (proxy_read_timeout), and on failure move on as `ngx_http_upstream_next`
//! does (proxy_next_upstream conditions, tries, proxy_next_upstream_timeout;
//! POST, LOCK and PATCH not retried once sent; 504 when the last failure was
//! a timeout, else 502). Then either the tunnel (`ngx_http_upstream_upgrade`,
//! a 101 to a request with Upgrade) or the response relayed by `relay.rs`.
//! One try at one peer is `upstream/attempt.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use upgate_runtime::Request;
use upgate_runtime::timeouts::{NEXT_UPSTREAM, NextUpstream, Timeouts};
use upgate_runtime::upstream::{Outcome, SelectInput, Selection};

use crate::access_log::{PeerName, UpstreamState, Values};
use crate::client::Client;
use crate::error_log::{Context, Level};
use crate::http1::{Keepalive, RequestHead, ResponseConfig, ResponseHead, is_tunnel};
use crate::relay;
use crate::request_body::Body;
use crate::response_head::{self, HeadInput};
use crate::tables::Tables;
use crate::tunnel::{TimeoutClose, TunnelConfig};
use crate::upstream::attempt::{Fail, attempt};
use crate::upstream::pool::Conn;
use crate::upstream::{Group, group_for};

/// What the connection does after a request.
#[derive(Debug)]
pub enum After {
    KeepAlive,
    Close,
    /// Close after reading what the client still sends (an error while a
    /// body may be on its way).
    Linger,
    Tunnel(Box<TunnelJob>),
    /// nginx finalizes the request with this status and nothing was sent
    /// yet: an upstream error (502, 504, ...) or, with
    /// proxy_intercept_errors, an upstream status that has an error_page.
    Finalize(u16),
}

/// A tunnel ready to run: the upstream side and what it needs at the end.
#[derive(Debug)]
pub struct TunnelJob {
    pub upstream: crate::upstream::UpstreamStream,
    pub upstream_leftover: Bytes,
    pub cfg: TunnelConfig,
    pub group: Arc<Group>,
    pub sel: Selection,
}

/// The request being proxied.
pub struct Exchange<'a> {
    pub tables: &'a Tables,
    pub head: &'a RequestHead,
    /// The buffered body, sent after the head.
    pub body: Body,
    pub keepalive: Keepalive,
    pub date: &'a [u8],
    pub vals: &'a mut Values,
}

impl Exchange<'_> {
    /// The error log context of this request.
    pub fn context(&self, r: &Request<'_>, client: &Client, upstream: Option<String>) -> Context {
        Context {
            conn: client.id,
            // c->addr_text: the realip module's address once it set one.
            client: r.remote.addr_text(),
            server: String::from_utf8_lossy(&r.rt.server(r.server).server_name).into_owned(),
            request: String::from_utf8_lossy(self.head.request_line()).into_owned(),
            upstream,
            host: self
                .head
                .host_header()
                .map(|h| String::from_utf8_lossy(h).into_owned()),
        }
    }

    /// Ends the proxied request with `status`: nginx finalizes it
    /// (`ngx_http_upstream_finalize_request`), so error pages apply; the
    /// caller writes the response.
    pub async fn fail(&mut self, _client: &mut Client, _r: &Request<'_>, status: u16) -> After {
        self.vals.status = status;
        After::Finalize(status)
    }

    /// Proxies the request of `r` (whose location has proxy_pass).
    pub async fn run(&mut self, client: &mut Client, r: &mut Request<'_>) -> After {
        match self.fetch(client, r).await {
            Ok(parts) => self.respond(client, r, parts).await,
            Err(after) => after,
        }
    }

    /// An auth_request subrequest `sr` proxied: the upstream's status and
    /// headers; its body is not read (`sr->header_only`), and the
    /// connection is closed. `Err`: the status the subrequest ends with
    /// (502, 504), or `None` when the client went away.
    pub async fn head_only(
        &mut self,
        client: &mut Client,
        sr: &mut Request<'_>,
    ) -> Result<ResponseHead, Option<u16>> {
        match self.fetch(client, sr).await {
            Ok(mut parts) => {
                parts
                    .group
                    .peers()
                    .free(&mut parts.sel, Outcome::Ok, Instant::now());
                self.vals.state().response_time = Some(parts.t0.elapsed());
                Ok(parts.head)
            }
            Err(After::Finalize(status)) => Err(Some(status)),
            Err(_) => Err(None),
        }
    }

    /// Chooses peers and tries them until one answers with a head nginx
    /// relays (or the request fails: the `Err` is how it ends).
    async fn fetch(
        &mut self,
        client: &mut Client,
        r: &mut Request<'_>,
    ) -> Result<ResponseParts, After> {
        let tables = self.tables;
        let Some(up) = r.upstream_request() else {
            return Err(self.fail(client, r, 500).await);
        };
        let conf = &r.rt.location(r.location).conf;
        // `$request_body`: a body read into memory (nginx's
        // client_body_buffer_size; a bigger one goes to a file, and the
        // variable is empty).
        if let Some(bytes) = self.body.in_memory()
            && !bytes.is_empty()
            && self.body.len() <= tables.loc(r.location).client_body_buffer_size
        {
            r.runtime_values
                .push(("request_body".into(), bytes.to_vec()));
        }
        if !conf.proxy_pass_request_body.value {
            // ngx_http_proxy_create_request links no body; the header
            // still carries the client's Content-Length.
            self.body = Body::default();
        }
        let timeouts = conf.timeouts.clone();
        let next = conf.proxy_next_upstream.value;
        let tries_limit = conf.proxy_next_upstream_tries.value;
        let rcfg = ResponseConfig {
            proxy_buffer_size: conf.proxy_buffer_size.value.max(1) as usize,
        };
        let up_head_request = up.method == b"HEAD";
        let non_idempotent = matches!(up.method.as_slice(), b"POST" | b"LOCK" | b"PATCH");
        let uri_text = String::from_utf8_lossy(&up.uri);
        let bytes = up.to_bytes();
        let resolver = tables.loc(r.location).resolver;
        let group = match group_for(tables, r, resolver).await {
            Ok(g) => g,
            Err(msg) => {
                let cx = self.context(r, client, None);
                tables.error_log.log_request(Level::Error, &cx, &msg);
                return Err(self.fail(client, r, 502).await);
            }
        };
        // ngx_http_upstream_ssl_name: evaluated once per request, before
        // the first try. Only a location whose proxy_pass is https or made
        // of variables has a TLS configuration (so plain ones skip this).
        let tls = match tables.upstream_tls(r.location) {
            Some(t) => match r.proxy_url() {
                Some(url) if url.https => Some((t.clone(), t.name(r, &url.host))),
                _ => None,
            },
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let hash_key = group.hash_key.as_ref().map(|t| r.eval(t));
        let mut sel = group.peers().begin(&SelectInput {
            client: r.remote.balancer_ip(),
            hash_key: hash_key.as_deref(),
        });
        sel.limit_tries(tries_limit);
        // One clock reading per step: here for the first try (after the
        // body was read: proxy_next_upstream_timeout counts from here, as
        // from nginx's u->peer.start_time), then the end of the try before.
        let started = Instant::now();
        let mut now = started;
        let mut last = Fail::Error;
        loop {
            let peer = group.peers().select(&mut sel, now);
            let Some(peer) = peer else {
                let cx = self.context(r, client, None);
                tables.error_log.log_request(
                    Level::Error,
                    &cx,
                    "no live upstreams while connecting to upstream",
                );
                // The balancer names the group when no peer is usable.
                self.vals.upstream.push(UpstreamState {
                    peer: PeerName::Group(group.config.name.clone()),
                    status: 502,
                    response_time: Some(Duration::ZERO),
                    ..UpstreamState::default()
                });
                let _ = last;
                return Err(self.fail(client, r, 502).await);
            };
            let addr = group.peers().peer(peer).addr().clone();
            // for the error log only: made when a line is written
            let url = || format!("{scheme}://{addr}{uri_text}");
            self.vals.upstream.push(UpstreamState {
                peer: PeerName::Addr(addr.clone()),
                ..UpstreamState::default()
            });
            let t0 = now;
            let mut sent = false;
            let try_peer = attempt(
                &addr,
                &group,
                &bytes,
                &mut self.body,
                &timeouts,
                &rcfg,
                &mut sent,
                self.vals,
                tls.as_ref().map(|(t, name)| (t.as_ref(), name.as_slice())),
                t0,
            );
            // ngx_http_upstream_check_broken_connection: a client that
            // closes while the upstream has not answered ends the request
            // (499), proxy_ignore_client_abort being off.
            let res = tokio::select! {
                biased;
                res = try_peer => res,
                () = client_closed(client.stream.transport()) => {
                    self.vals.state().response_time = Some(t0.elapsed());
                    self.vals.status = 499;
                    let cx = self.context(r, client, Some(url()));
                    tables.error_log.log_request(
                        Level::Info,
                        &cx,
                        "client prematurely closed connection while waiting for upstream response",
                    );
                    group.peers().free(&mut sel, Outcome::Ok, Instant::now());
                    return Err(After::Close);
                }
            };
            now = Instant::now();
            let elapsed = now.saturating_duration_since(t0);
            let (conn, head, buf) = match res {
                Ok(ok) => ok,
                Err((Fail::Internal, msg, _)) => {
                    // ngx_http_upstream_connect finalizes with 500; the
                    // peer is released as not failed.
                    let cx = self.context(r, client, Some(url()));
                    tables.error_log.log_request(Level::Alert, &cx, &msg);
                    group.peers().free(&mut sel, Outcome::Ok, now);
                    return Err(self.fail(client, r, 500).await);
                }
                Err((kind, msg, cached)) => {
                    let state = self.vals.state();
                    state.status = if kind == Fail::Timeout { 504 } else { 502 };
                    state.response_time = Some(elapsed);
                    let cx = self.context(r, client, Some(url()));
                    let level = crate::tls::upstream::log_level(&msg);
                    tables.error_log.log_request(level, &cx, &msg);
                    group.peers().free(&mut sel, Outcome::Failed, now);
                    if cached && kind == Fail::Error {
                        sel.add_try();
                    }
                    last = kind;
                    let cond = match kind {
                        Fail::Error => "error",
                        Fail::Timeout => "timeout",
                        Fail::InvalidHeader => "invalid_header",
                        Fail::Internal => "", // answered above
                    };
                    let allowed =
                        has(&next, cond) && (!sent || !non_idempotent || next.non_idempotent);
                    let time_left = timeouts.proxy_next_upstream_timeout.value.is_zero()
                        || now.saturating_duration_since(started)
                            < timeouts.proxy_next_upstream_timeout.value;
                    if sel.tries() == 0 || !allowed || !time_left {
                        let status = if last == Fail::Timeout { 504 } else { 502 };
                        return Err(self.fail(client, r, status).await);
                    }
                    continue;
                }
            };
            let status = head.status();
            let state = self.vals.state();
            state.status = status;
            state.header_time = Some(elapsed);
            state.bytes_received = head.as_bytes().len() as u64;
            let time_left = timeouts.proxy_next_upstream_timeout.value.is_zero()
                || now.saturating_duration_since(started)
                    < timeouts.proxy_next_upstream_timeout.value;
            if sel.tries() > 1
                && has_status(&next, status)
                && (!non_idempotent || next.non_idempotent)
                && time_left
            {
                self.vals.state().response_time = Some(elapsed);
                let outcome = if matches!(status, 403 | 404) {
                    Outcome::Next
                } else {
                    Outcome::Failed
                };
                group.peers().free(&mut sel, outcome, now);
                continue;
            }
            return Ok(ResponseParts {
                conn,
                head,
                buf,
                group,
                sel,
                timeouts,
                up_head_request,
                t0,
            });
        }
    }

    /// Relays a response that arrived (or starts the tunnel).
    async fn respond(
        &mut self,
        client: &mut Client,
        r: &mut Request<'_>,
        p: ResponseParts,
    ) -> After {
        let ResponseParts {
            mut conn,
            head,
            mut buf,
            group,
            mut sel,
            timeouts,
            up_head_request,
            t0,
        } = p;
        let tables = self.tables;
        let loc = tables.loc(r.location);
        self.vals.status = head.status();
        self.vals.upstream_head = head.as_bytes().to_vec();
        let input = HeadInput {
            server: tables.ident(r.location),
            date: self.date,
            keepalive: self.keepalive,
            client_version: self.head.version(),
            head_request: self.head.method() == b"HEAD",
            chunked_transfer_encoding: loc.chunked_transfer_encoding,
            hide: tables.hide_headers(r.location),
            vals: self.vals,
        };
        let send_timeout = timeouts.send_timeout.value;
        if head.status() == 101 && !is_tunnel(self.head.has_upgrade(), 101) {
            // NGINX-BEHAVIOUR 6: an ordinary response of unknown length,
            // buffered until the upstream closes; the client then gets the head.
            let mut sink = vec![0u8; 4096];
            while let Ok(Ok(n)) = tokio::time::timeout(
                timeouts.proxy_read_timeout.value,
                conn.stream.read(&mut sink),
            )
            .await
            {
                if n == 0 {
                    break;
                }
            }
            let mut out = Vec::new();
            response_head::write(r, &head, &input, &mut out);
            self.vals.record_sent_head(&out);
            let _ = client.write_all(&out, send_timeout).await;
            group.peers().free(&mut sel, Outcome::Ok, Instant::now());
            self.vals.state().response_time = Some(t0.elapsed());
            return After::Close;
        }
        let status = head.status();
        let conf = &r.rt.location(r.location).conf;
        if status >= 300
            && conf.proxy_intercept_errors
            && conf.error_pages.iter().any(|p| p.status == status)
        {
            // ngx_http_upstream_intercept_errors: the response is dropped
            // and nginx finalizes the request with its status.
            group.peers().free(&mut sel, Outcome::Ok, Instant::now());
            self.vals.state().response_time = Some(t0.elapsed());
            return After::Finalize(status);
        }
        let mut out = Vec::with_capacity(512);
        let framing = response_head::write(r, &head, &input, &mut out);
        if let Some(s) = r.err_status
            && status != 101
        {
            // An error page's status replaces the upstream's (r->err_status).
            set_status(&mut out, s);
            self.vals.status = s;
        }
        if head.status() == 101 {
            self.vals.record_sent_head(&out);
            if client.write_all(&out, send_timeout).await.is_err() {
                group.peers().free(&mut sel, Outcome::Ok, Instant::now());
                return After::Close;
            }
            self.vals.bytes_sent = client.sent;
            self.vals.body_bytes_sent = client.sent.saturating_sub(out.len() as u64);
            let pragmas = &r.rt.location(r.location).conf.pragmas;
            let cfg = TunnelConfig {
                proxy_read_timeout: timeouts.proxy_read_timeout.value,
                proxy_send_timeout: timeouts.proxy_send_timeout.value,
                send_timeout,
                on_timeout: match pragmas.websocket_close_on_timeout.value {
                    Some(code) => TimeoutClose::CloseFrame(code),
                    None => TimeoutClose::Silent,
                },
                ping: pragmas.websocket_ping.value,
            };
            return After::Tunnel(Box::new(TunnelJob {
                upstream: conn.stream,
                upstream_leftover: Bytes::copy_from_slice(&buf),
                cfg,
                group,
                sel,
            }));
        }
        self.vals.record_sent_head(&out);
        let head_len = out.len() as u64;
        // The head goes out with the body's first piece (nginx's one
        // writev of the header and the body buffers).
        let mut body_count = 0;
        let res = relay::body(
            client,
            &mut conn.stream,
            &mut buf,
            (head.framing(up_head_request), framing),
            (timeouts.proxy_read_timeout.value, send_timeout),
            &mut body_count,
            &mut out,
        )
        .await;
        let done = Instant::now();
        let state = self.vals.state();
        state.response_time = Some(done.saturating_duration_since(t0));
        state.response_length = body_count;
        state.bytes_received += body_count;
        group.peers().free(&mut sel, Outcome::Ok, done);
        let after = match res {
            Ok(()) => {
                // Cache the connection before the client can see the end of
                // the response and send its next request.
                if let Some(pool) = &group.pool
                    && head.keepalive_possible(up_head_request)
                    && buf.is_empty()
                {
                    conn.requests += 1;
                    pool.put(conn, done);
                }
                if client.write_all(&out, send_timeout).await.is_err() {
                    After::Close
                } else if framing.keepalive {
                    After::KeepAlive
                } else {
                    After::Close
                }
            }
            Err(msg) => {
                if let Some(msg) = msg {
                    let cx = self.context(r, client, None);
                    let level = crate::tls::upstream::log_level(&msg);
                    tables.error_log.log_request(level, &cx, &msg);
                }
                After::Close
            }
        };
        self.vals.bytes_sent = client.sent;
        self.vals.body_bytes_sent = self.vals.bytes_sent.saturating_sub(head_len);
        after
    }
}

struct ResponseParts {
    conn: Conn,
    head: ResponseHead,
    buf: BytesMut,
    group: Arc<Group>,
    sel: Selection,
    timeouts: Timeouts,
    up_head_request: bool,
    t0: Instant,
}

/// Resolves once the client has closed its side (a peek reads EOF or an
/// error); pends forever once it sent more bytes (a pipelined request).
pub(crate) async fn client_closed(stream: &crate::client::Transport) {
    let mut probe = [0u8; 1];
    match stream.peek(&mut probe).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending::<()>().await,
    }
}

/// Replaces the status line at the start of `out`.
fn set_status(out: &mut Vec<u8>, status: u16) {
    let Some(end) = out.windows(2).position(|w| w == b"\r\n") else {
        return;
    };
    let mut line = b"HTTP/1.1 ".to_vec();
    crate::http1::error_page::write_status(&mut line, status);
    out.splice(..end + 2, line);
}

/// Whether proxy_next_upstream names `http_<status>` (no string is made:
/// this runs for every response).
fn has_status(next: &NextUpstream, status: u16) -> bool {
    let mut name = [0u8; 8];
    name[..5].copy_from_slice(b"http_");
    if !(100..1000).contains(&status) {
        return false;
    }
    name[5] = b'0' + (status / 100) as u8;
    name[6] = b'0' + (status / 10 % 10) as u8;
    name[7] = b'0' + (status % 10) as u8;
    std::str::from_utf8(&name).is_ok_and(|cond| has(next, cond))
}

/// Whether proxy_next_upstream names `cond`.
fn has(next: &NextUpstream, cond: &str) -> bool {
    NEXT_UPSTREAM
        .iter()
        .position(|c| *c == cond)
        .is_some_and(|i| next.mask & (1 << i) != 0)
}

/// `111: Connection refused` as nginx prints an errno.
pub fn errno(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    match e.raw_os_error() {
        Some(n) => format!("{n}: {text}"),
        None => text,
    }
}
