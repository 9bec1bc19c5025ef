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
use std::time::{Instant, SystemTime};

use upgate_runtime::{ClientRequest, ClientVersion, Header, Outcome, Request};

use crate::access_log::Values;
use crate::client::Client;
use crate::connection::{Next, TunnelExit};
use crate::error_log::Level;
use crate::http1::{CONTINUE_100, Keepalive, RequestHead, Version, http_date};
use crate::proxy::{After, Exchange};
use crate::request_body::{Body, BodyFail, read_body};
use crate::respond::{self, LocationLine, Special};
use crate::tables::Tables;

/// The runtime's view of a parsed head.
fn client_request<'h>(
    head: &'h RequestHead,
    client: &Client,
    body_length: Option<u64>,
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
        client_addr: client.peer,
        local_addr: client.local,
        ssl: false,
        body_length,
        chunked: head.is_chunked(),
    }
}

/// Serves one request on `client`.
pub async fn request(tables: Arc<Tables>, client: &mut Client, head: &RequestHead) -> Next {
    let started = Instant::now();
    let creq = client_request(head, client, head.content_length());
    let mut r = tables.rt.process(&creq);
    let loc = tables.loc(r.location);
    // ngx_http_update_location_config.
    let keepalive = if !head.keepalive()
        || loc.keepalive_timeout.is_zero()
        || client.requests >= loc.keepalive_requests
        || client.born.elapsed() > loc.keepalive_time
        || (loc.keepalive_disable.msie6 && head.msie6() && head.method() == b"POST")
        || (loc.keepalive_disable.safari && head.safari())
    {
        Keepalive::Close
    } else {
        Keepalive::KeepAlive {
            header_timeout: loc.keepalive_header,
        }
    };
    let ka_timeout = loc.keepalive_timeout;
    let date = http_date(SystemTime::now());
    let mut vals = Values {
        connection: client.id,
        connection_requests: client.requests,
        connection_born: Some(client.born),
        // nginx does not count the empty lines before a request line.
        request_length: (head.len()
            - head
                .as_bytes()
                .iter()
                .take_while(|&&c| c == b'\r' || c == b'\n')
                .count()) as u64,
        ..Values::default()
    };
    let after = match r.outcome.clone() {
        Outcome::NoListener => return Next::Close,
        Outcome::Respond(resp) => {
            answer(
                &tables, client, head, &mut r, &resp, keepalive, &date, &mut vals,
            )
            .await
        }
        Outcome::Static => {
            // ngx_http_static_handler: other methods than GET, HEAD and
            // POST get 405; the file is never there (upgate serves none).
            let status = if matches!(head.method(), b"GET" | b"HEAD" | b"POST") {
                404
            } else {
                405
            };
            let resp = upgate_runtime::Response {
                status,
                location: None,
                body: Vec::new(),
                reason: "upgate serves no files".into(),
            };
            answer(
                &tables, client, head, &mut r, &resp, keepalive, &date, &mut vals,
            )
            .await
        }
        Outcome::Proxy => {
            let max = loc.client_max_body_size;
            let too_large = head.content_length().is_some_and(|n| max != 0 && n > max);
            if too_large {
                let cx = context(&r, client, head);
                tables.error_log.log_request(
                    Level::Error,
                    &cx,
                    &format!(
                        "client intended to send too large body: {} bytes",
                        head.content_length().unwrap_or(0)
                    ),
                );
                reject(&tables, client, head, &r, 413, &date, &mut vals).await
            } else {
                if head.expects_continue() {
                    let send = r.rt.location(r.location).conf.timeouts.send_timeout.value;
                    if client.write_all(CONTINUE_100, send).await.is_err() {
                        return Next::Close;
                    }
                }
                let mut body = Body::default();
                let read = read_body(
                    client,
                    head.body_framing(),
                    max,
                    loc.client_body_timeout,
                    Some(&mut body),
                )
                .await;
                match read {
                    Ok(wire) => {
                        vals.request_length += wire;
                        if head.is_chunked() {
                            let creq = client_request(head, client, Some(body.len()));
                            let mut r2 = tables.rt.process(&creq);
                            let after = proxy(
                                &tables, client, head, &mut r2, body, keepalive, &date, &mut vals,
                            )
                            .await;
                            return finish(&tables, &mut r2, after, vals, started, ka_timeout);
                        }
                        proxy(
                            &tables, client, head, &mut r, body, keepalive, &date, &mut vals,
                        )
                        .await
                    }
                    Err(BodyFail::TooLarge) => {
                        reject(&tables, client, head, &r, 413, &date, &mut vals).await
                    }
                    Err(BodyFail::Invalid) => {
                        reject(&tables, client, head, &r, 400, &date, &mut vals).await
                    }
                    Err(BodyFail::Timeout) => {
                        vals.status = 408;
                        After::Close
                    }
                    Err(BodyFail::Closed) => {
                        vals.status = 400;
                        After::Close
                    }
                }
            }
        }
    };
    finish(&tables, &mut r, after, vals, started, ka_timeout)
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
        ..ClientRequest::new(method, target, client.peer, client.local)
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
    let logs = tables.access_logs.prepare(r, location);
    match after {
        After::Tunnel(job) => Next::Tunnel(Box::new(TunnelExit {
            tables: Arc::clone(tables),
            job,
            logs,
            vals,
            started,
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

fn context(r: &Request<'_>, client: &Client, head: &RequestHead) -> crate::error_log::Context {
    crate::error_log::Context {
        conn: client.id,
        client: upgate_runtime::eval::ip_text(r.remote.ip()),
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
) -> After {
    let conf = &r.rt.location(r.location).conf;
    let send = conf.timeouts.send_timeout.value;
    let loc = tables.loc(r.location);
    let status = resp.status;
    if status == 444 {
        // NGX_HTTP_CLOSE: the connection is closed without a response
        // (ngx_http_terminate_request); the log says 444.
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
    let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
    let location = resp.location.as_ref().map(|l| {
        if l.first() == Some(&b'/') {
            (true, r.absolute_location(l))
        } else {
            (false, l.clone())
        }
    });
    let content_type = loc.content_type(&r.uri);
    vals.status = status;
    let known = &*vals;
    let extra = r.add_headers_with(status, &|name| {
        crate::access_log::runtime_value(name, known)
    });
    let text = if redirect || (status >= 400 && resp.body.is_empty()) {
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
        return After::Linger;
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
