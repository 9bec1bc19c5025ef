//! One request, from its head to what the connection does next: the
//! runtime runs nginx's phases (`ngx_http_process_request` up to the content
//! handler), then nginx either answers itself (`return`, redirects, the
//! auto-redirect 301, error pages: `respond.rs`) or proxies
//! (`ngx_http_proxy_handler`): client_max_body_size (413 before reading),
//! `Expect: 100-continue`, the body read whole with client_body_timeout
//! (`request_body.rs`), then `proxy.rs`. The client connection's keepalive
//! follows `ngx_http_update_location_config` (keepalive_timeout 0,
//! keepalive_requests, keepalive_time) and the access log line is written
//! when the request ends (`ngx_http_log_request`).

use std::sync::Arc;
use std::time::Instant;

use upgate_runtime::{ClientRequest, ClientVersion, Header, Outcome, Request};

use crate::access_log::Values;
use crate::client::Client;
use crate::connection::Next;
use crate::error_log::Level;
use crate::http1::{CONTINUE_100, Keepalive, RequestHead, Version, http_date_now};
use crate::proxy::{After, Exchange};
use crate::request_body::{Body, BodyFail, read_body};
use crate::respond::{self, LocationLine, Special};
use crate::static_file::{self, DiskFiles};
use crate::tables::Tables;
use crate::upgraded::TunnelExit;
use upgate_runtime::error_page::Special as ErrorPageSpecial;

/// The runtime's view of a parsed head.
fn client_request<'h>(
    head: &'h RequestHead,
    client: &Client,
    tls: Option<&'h upgate_runtime::ssl::ClientTls>,
    tls_values: &'h [(String, Vec<u8>)],
    proxy_protocol: Option<&'h upgate_runtime::proxy_protocol::ProxyProtocol>,
    body_length: Option<u64>,
    started: Instant,
) -> ClientRequest<'h> {
    ClientRequest {
        method: head.method(),
        target: head.target(),
        version: if head.version() >= Version::HTTP_11 {
            ClientVersion::Http11
        } else {
            ClientVersion::Http10
        },
        headers: head
            .headers()
            .map(|h| Header {
                name: h.name,
                value: h.value,
            })
            .collect(),
        client_addr: client.peer.clone(),
        local_addr: client.local.clone(),
        ssl: client.tls.is_some(),
        tls,
        plain_on_tls: client.plain_on_tls,
        body_length,
        chunked: head.is_chunked(),
        proxy_protocol,
        conn_values: tls_values,
        connection: client.id,
        connection_requests: client.requests,
        connection_time: started.saturating_duration_since(client.born),
        msec: msec_at(started),
        connections: client
            .stat
            .as_ref()
            .map_or([0; 4], |s| s.stats().connections()),
    }
}

/// `ngx_current_msec`: the monotonic clock in milliseconds (the machine's
/// uptime, as nginx reads it; limit_req's buckets drain by it), at `t`,
/// without reading the clock again: `Instant` is CLOCK_MONOTONIC
/// too, so one reading of both at the first call links them.
pub(crate) fn msec_at(t: Instant) -> u64 {
    static BASE: std::sync::OnceLock<(Instant, u64)> = std::sync::OnceLock::new();
    let (at, msec) = *BASE.get_or_init(|| {
        let msec = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
            .unwrap_or(0);
        (Instant::now(), msec)
    });
    msec + t.saturating_duration_since(at).as_millis() as u64
}

/// limit_req's delay (`ngx_http_limit_req_delay`), watching the client as
/// `ngx_http_test_reading` does: false when it closed meanwhile.
pub(crate) async fn delay(client: &Client, d: std::time::Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = crate::proxy::client_closed(client.stream.transport()) => false,
    }
}

/// The client connection's keepalive for a response from `location`
/// (`ngx_http_update_location_config`).
fn keepalive_for(
    tables: &Tables,
    client: &Client,
    head: &RequestHead,
    r: &Request<'_>,
    started: Instant,
) -> Keepalive {
    let loc = tables.loc(r.location);
    // ngx_http_process_user_agent's flags, from the first User-Agent line.
    let (msie6, safari) = (head.msie6(), head.safari());
    // ngx_http_header_filter: no keepalive once the worker is exiting
    if !head.keepalive()
        || client.exiting()
        || loc.keepalive_timeout.is_zero()
        || client.requests >= loc.keepalive_requests
        || started.saturating_duration_since(client.born) > loc.keepalive_time
        || (msie6 && r.method == b"POST" && loc.keepalive_disable.0)
        || (safari && loc.keepalive_disable.1)
    {
        Keepalive::Close
    } else {
        Keepalive::KeepAlive {
            header_timeout: loc.keepalive_header,
        }
    }
}

/// Writes the error log lines the phases left in `r`.
pub(crate) fn flush_log(tables: &Tables, r: &mut Request<'_>, client: &Client, head: &RequestHead) {
    if r.log.is_empty() {
        return;
    }
    let cx = context(r, client, head);
    for (level, text) in std::mem::take(&mut r.log) {
        tables.error_log.log_request(level, &cx, &text);
    }
}

/// Serves one request on `client`.
pub async fn request(tables: Arc<Tables>, client: &mut Client, head: &RequestHead) -> Next {
    let started = Instant::now();
    // Owned: the request borrows it while the connection is written to.
    let tls = client.tls.as_ref().map(|t| t.client.clone());
    let proxy_protocol = client.proxy_protocol.clone();
    let tls_values = client
        .tls
        .as_ref()
        .map(|t| std::sync::Arc::clone(&t.values));
    let creq = client_request(
        head,
        client,
        tls.as_ref(),
        tls_values.as_deref().unwrap_or_default(),
        proxy_protocol.as_deref(),
        head.content_length(),
        started,
    );
    let mut r = tables.rt.process_with(&creq, &DiskFiles);
    let date = http_date_now();
    let mut vals = Values {
        connection: client.id,
        connection_requests: client.requests,
        connection_born: Some(client.born),
        request_started: Some(started),
        // nginx does not count the empty lines before a request line.
        request_length: (head.len()
            - head
                .as_bytes()
                .iter()
                .take_while(|&&c| c == b'\r' || c == b'\n')
                .count()) as u64,
        ..Values::default()
    };
    // The body is read once, by the first proxy_pass that needs it.
    let mut body_read = false;
    let after = loop {
        // The level serving the request when it closes decides
        // (ngx_http_free_request reads r's location).
        client.reset_timedout = tables.loc(r.location).reset_timedout_connection;
        flush_log(&tables, &mut r, client, head);
        let keepalive = keepalive_for(&tables, client, head, &r, started);
        match r.outcome.clone() {
            Outcome::NoListener => return Next::Close,
            Outcome::Delay(d) => {
                if !delay(client, d).await {
                    closed_early(&tables, &r, client, head, &mut vals);
                    break After::Close;
                }
                r.resume(&DiskFiles);
            }
            Outcome::AuthRequest(sr) => {
                match crate::auth_request::run(&tables, client, head, &r, &sr.uri, &date).await {
                    Some(result) => r.auth_request_done(result, &DiskFiles),
                    None => {
                        closed_early(&tables, &r, client, head, &mut vals);
                        break After::Close;
                    }
                }
            }
            outcome @ (Outcome::Respond(_) | Outcome::StubStatus) => {
                // stub_status answers its page as `return 200` would, in
                // text/plain
                let (resp, content_type) = match outcome {
                    Outcome::Respond(resp) => (resp, None),
                    _ => (stub_status_page(client), Some(&b"text/plain"[..])),
                };
                break answer(
                    &tables,
                    client,
                    head,
                    &mut r,
                    &resp,
                    keepalive,
                    &date,
                    &mut vals,
                    &[],
                    body_read,
                    content_type,
                )
                .await;
            }
            Outcome::Static => {
                let served = static_file::serve(
                    &tables, client, head, &mut r, keepalive, &date, &mut vals, body_read,
                )
                .await;
                match served {
                    Ok(after) => break after,
                    Err(f) => {
                        if f.location.is_some() {
                            r.headers_location = f.location.clone();
                        }
                        if r.finalize(f.status, f.reason, &DiskFiles) == ErrorPageSpecial::Page {
                            flush_log(&tables, &mut r, client, head);
                            let keepalive = keepalive_for(&tables, client, head, &r, started);
                            let resp = upgate_runtime::Response {
                                status: r.err_status.unwrap_or(f.status),
                                location: f.location.clone(),
                                body: Vec::new(),
                                reason: f.reason.into(),
                            };
                            break answer(
                                &tables, client, head, &mut r, &resp, keepalive, &date, &mut vals,
                                &f.extra, body_read, None,
                            )
                            .await;
                        }
                    }
                }
            }
            Outcome::Proxy => {
                let mut body = Body::default();
                if !body_read {
                    body_read = true;
                    match read_request_body(&tables, client, head, &r, &date, &mut vals, &mut body)
                        .await
                    {
                        Ok(()) => {}
                        Err(after) => break after,
                    }
                    if head.is_chunked() {
                        r.body_length = Some(body.len());
                    }
                }
                let after = proxy(
                    &tables, client, head, &mut r, body, keepalive, &date, &mut vals,
                )
                .await;
                match after {
                    After::Finalize(status) => {
                        // $upstream_* in the error page's location
                        for name in [
                            "upstream_addr",
                            "upstream_status",
                            "upstream_connect_time",
                            "upstream_header_time",
                            "upstream_response_time",
                            "upstream_response_length",
                            "upstream_bytes_received",
                            "upstream_bytes_sent",
                        ] {
                            if let Some(value) = crate::access_log::runtime_value(name, &vals) {
                                r.runtime_values.push((name.to_string(), value));
                            }
                        }
                        if r.finalize(status, "upstream", &DiskFiles) == ErrorPageSpecial::Page {
                            flush_log(&tables, &mut r, client, head);
                            let keepalive = keepalive_for(&tables, client, head, &r, started);
                            let resp = upgate_runtime::Response {
                                status: r.err_status.unwrap_or(status),
                                location: None,
                                body: Vec::new(),
                                reason: "upstream".into(),
                            };
                            break answer(
                                &tables,
                                client,
                                head,
                                &mut r,
                                &resp,
                                keepalive,
                                &date,
                                &mut vals,
                                &[],
                                true,
                                None,
                            )
                            .await;
                        }
                    }
                    other => break other,
                }
            }
        }
    };
    if !matches!(after, After::Tunnel(_)) {
        // ngx_http_free_request frees the limit_conn slots in the event
        // that sent the end of the response, before the next one is read
        r.limit_conn_slots.clear();
    }
    let ka_timeout = tables.loc(r.location).keepalive_timeout;
    finish(&tables, &mut r, after, vals, started, ka_timeout)
}

/// The stub_status page for the server `client` came in on.
fn stub_status_page(client: &Client) -> upgate_runtime::Response {
    upgate_runtime::Response {
        status: 200,
        location: None,
        body: client
            .stat
            .as_ref()
            .map(|s| s.stats().page())
            .unwrap_or_default(),
        reason: "return 200".into(),
    }
}

/// The client closed while the request waited (a limit_req delay, an
/// auth_request subrequest): 499, as `ngx_http_test_reading` ends it.
fn closed_early(
    tables: &Tables,
    r: &Request<'_>,
    client: &Client,
    head: &RequestHead,
    vals: &mut Values,
) {
    vals.status = 499;
    let cx = context(r, client, head);
    tables
        .error_log
        .log_request(Level::Info, &cx, "client prematurely closed connection");
}

/// client_max_body_size, `Expect: 100-continue` and the body read whole
/// (`ngx_http_read_client_request_body`); `Err` is how the request ended.
#[allow(clippy::too_many_arguments)]
async fn read_request_body(
    tables: &Tables,
    client: &mut Client,
    head: &RequestHead,
    r: &Request<'_>,
    date: &[u8],
    vals: &mut Values,
    body: &mut Body,
) -> Result<(), After> {
    let loc = tables.loc(r.location);
    let max = loc.client_max_body_size;
    let too_large = head.content_length().is_some_and(|n| max != 0 && n > max);
    if too_large {
        let cx = context(r, client, head);
        tables.error_log.log_request(
            Level::Error,
            &cx,
            &format!(
                "client intended to send too large body: {} bytes",
                head.content_length().unwrap_or(0)
            ),
        );
        return Err(reject(tables, client, head, r, 413, date, vals).await);
    }
    if head.expects_continue() {
        let send = r.rt.location(r.location).conf.timeouts.send_timeout.value;
        if client.write_all(CONTINUE_100, send).await.is_err() {
            return Err(After::Close);
        }
    }
    let read = read_body(
        client,
        head.body_framing(),
        max,
        loc.client_body_timeout,
        Some(body),
    )
    .await;
    match read {
        Ok(wire) => {
            vals.request_length += wire;
            Ok(())
        }
        Err(BodyFail::TooLarge) => Err(reject(tables, client, head, r, 413, date, vals).await),
        Err(BodyFail::Invalid) => Err(reject(tables, client, head, r, 400, date, vals).await),
        Err(BodyFail::Timeout) => {
            vals.status = 408;
            Err(After::Close)
        }
        Err(BodyFail::Closed) => {
            vals.status = 400;
            Err(After::Close)
        }
    }
}

/// Writes the access log lines of a request refused while its head was read
/// (nginx logs those with the status of its error page and what it parsed of
/// the request line).
pub fn log_rejected(
    tables: &Tables,
    client: &Client,
    line: &[u8],
    status: u16,
    response: &[u8],
    request_length: u64,
) {
    let mut parts = line.splitn(3, |&c| c == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let http11 = parts.next().is_some_and(|v| v == b"HTTP/1.1");
    let creq = ClientRequest {
        version: if http11 {
            ClientVersion::Http11
        } else {
            ClientVersion::Http10
        },
        ..ClientRequest::new(method, target, client.peer.clone(), client.local.clone())
    };
    let mut r = tables.rt.process(&creq);
    let location = r.location;
    let vals = Values {
        status,
        bytes_sent: response.len() as u64,
        body_bytes_sent: (response.len() - crate::respond::head_len(response)) as u64,
        request_length,
        connection: client.id,
        connection_requests: client.requests.max(1),
        ..Values::default()
    };
    for l in tables.access_logs.prepare(&mut r, location) {
        l.finish(&vals);
    }
}

/// Writes the log lines (or hands them to the tunnel) and picks the next state.
fn finish(
    tables: &Arc<Tables>,
    r: &mut Request<'_>,
    after: After,
    mut vals: Values,
    started: Instant,
    ka_timeout: std::time::Duration,
) -> Next {
    let location = r.location;
    // What is known at the end of the request is there for the variables
    // evaluated now (a map over $status in `access_log ... if=`); the
    // line's own end-of-request values are filled in by `Pending::finish`.
    vals.request_time = started.elapsed();
    // only an access log reads them
    if tables.access_logs.any(location) {
        for name in [
            "status",
            "body_bytes_sent",
            "bytes_sent",
            "request_length",
            "request_time",
            "upstream_addr",
            "upstream_status",
            "upstream_response_time",
            "upstream_response_length",
        ] {
            if let Some(value) = crate::access_log::runtime_value(name, &vals) {
                r.runtime_values.push((name.to_string(), value));
            }
        }
    }
    if let Some(m) = &tables.metrics {
        let upgrade = r.client.header_values(b"upgrade").next().is_some();
        m.request(location, vals.status, vals.request_time, upgrade);
    }
    let logs = tables.access_logs.prepare(r, location);
    match after {
        After::Tunnel(job) => Next::Tunnel(Box::new(TunnelExit {
            tables: Arc::clone(tables),
            job,
            logs,
            vals,
            started,
            limit_conn: std::mem::take(&mut r.limit_conn_slots),
            location,
        })),
        other => {
            vals.request_time = started.elapsed();
            for l in logs {
                l.finish(&vals);
            }
            match other {
                After::KeepAlive => Next::KeepAlive(ka_timeout),
                After::Linger => Next::Linger,
                _ => Next::Close,
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    tables: &Tables,
    client: &mut Client,
    head: &RequestHead,
    r: &mut Request<'_>,
    body: Body,
    keepalive: Keepalive,
    date: &[u8],
    vals: &mut Values,
) -> After {
    let mut ex = Exchange {
        tables,
        head,
        body,
        keepalive,
        date,
        vals,
    };
    ex.run(client, r).await
}

pub(crate) fn context(
    r: &Request<'_>,
    client: &Client,
    head: &RequestHead,
) -> crate::error_log::Context {
    crate::error_log::Context {
        conn: client.id,
        client: r.remote.addr_text(),
        server: String::from_utf8_lossy(&r.rt.server(r.server).server_name).into_owned(),
        request: String::from_utf8_lossy(head.request_line()).into_owned(),
        upstream: None,
        host: head
            .host_header()
            .map(|h| String::from_utf8_lossy(h).into_owned()),
    }
}

/// An error page that ends the connection with a lingering close (413, 400).
async fn reject(
    tables: &Tables,
    client: &mut Client,
    head: &RequestHead,
    r: &Request<'_>,
    status: u16,
    date: &[u8],
    vals: &mut Values,
) -> After {
    let (bytes, _) = respond::error(
        status,
        &head.reply_context(),
        tables.ident(r.location),
        date,
        Keepalive::Close,
    );
    vals.status = status;
    let send = r.rt.location(r.location).conf.timeouts.send_timeout.value;
    vals.record_sent_head(&bytes);
    if client.write_all(&bytes, send).await.is_err() {
        return After::Close;
    }
    vals.bytes_sent = client.sent;
    vals.body_bytes_sent = client
        .sent
        .saturating_sub(crate::respond::head_len(&bytes) as u64);
    After::Linger
}

/// nginx answers itself: `return`, redirects, error pages. The body, if
/// any, is read and dropped after the response (`ngx_http_discard_request_body`).
#[allow(clippy::too_many_arguments)]
async fn answer(
    tables: &Tables,
    client: &mut Client,
    head: &RequestHead,
    r: &mut Request<'_>,
    resp: &upgate_runtime::Response,
    keepalive: Keepalive,
    date: &[u8],
    vals: &mut Values,
    extra_headers: &[(Vec<u8>, Vec<u8>)],
    body_read: bool,
    content_type: Option<&[u8]>,
) -> After {
    let conf = &r.rt.location(r.location).conf;
    let send = conf.timeouts.send_timeout.value;
    let loc = tables.loc(r.location);
    let status = resp.status;
    if status == 444 && resp.is_special() {
        // NGX_HTTP_CLOSE: the connection is closed without a response,
        // as a timed-out one (ngx_http_finalize_request sets c->timedout).
        client.timedout = true;
        vals.status = 444;
        return After::Close;
    }
    // Only `return` answers through ngx_http_send_response, whose body
    // discard sends "100 Continue"; nginx's special responses (error pages,
    // the auto-redirect, rewrite redirects) set expect_tested first.
    let send_response =
        resp.reason.starts_with("return ") && (status < 400 || !resp.body.is_empty());
    if send_response
        && head.expects_continue()
        && client.write_all(CONTINUE_100, send).await.is_err()
    {
        return After::Close;
    }
    let location = resp
        .location
        .as_ref()
        .or(r.headers_location.as_ref())
        .map(|l| {
            if l.first() == Some(&b'/') {
                (true, r.absolute_location(l))
            } else {
                (false, l.clone())
            }
        });
    let content_type = content_type.map_or_else(|| loc.content_type(&r.uri), <[u8]>::to_vec);
    vals.status = status;
    let known = &*vals;
    let mut extra = extra_headers.to_vec();
    extra.extend(r.www_authenticate_lines());
    extra.extend(r.add_headers_with(status, &|name| {
        crate::access_log::runtime_value(name, known)
    }));
    // A special response gets nginx's page; `return` with a text (or a
    // 2xx) is sent as it is, whatever status an error page gave it.
    let text = if resp.is_special() {
        None
    } else {
        Some((content_type.as_slice(), resp.body.as_slice()))
    };
    let special = Special {
        status,
        text,
        location: location.as_ref().map(|(slot, l)| {
            if *slot {
                LocationLine::Slot(l)
            } else {
                LocationLine::List(l)
            }
        }),
        extra: &extra,
    };
    let (bytes, keep) = special.render(
        &head.reply_context(),
        tables.ident(r.location),
        date,
        keepalive,
    );
    vals.status = status;
    vals.record_sent_head(&bytes);
    if client.write_all(&bytes, send).await.is_err() {
        return After::Close;
    }
    vals.bytes_sent = client.sent;
    let head_len = crate::respond::head_len(&bytes);
    vals.body_bytes_sent = vals.bytes_sent.saturating_sub(head_len as u64);
    if !keep {
        // ngx_http_finalize_connection lingers only when the client may
        // still be sending (a body not read, pipelined bytes); otherwise
        // the connection closes at once
        let pending = !client.buf.is_empty()
            || (!body_read && (head.is_chunked() || head.content_length().is_some_and(|n| n > 0)));
        return if pending { After::Linger } else { After::Close };
    }
    if body_read {
        return After::KeepAlive;
    }
    // Drop the body so that the next request can be read.
    let discard = read_body(
        client,
        head.body_framing(),
        0,
        std::time::Duration::from_secs(5),
        None,
    )
    .await;
    match discard {
        // nginx logs before the discarded body is counted.
        Ok(_) => After::KeepAlive,
        Err(_) => After::Close,
    }
}
