//! Differential test of the HTTP/1 codec against a real nginx (Debian's
//! /usr/sbin/nginx): malformed and edge-case client requests go to nginx, and
//! nginx's answer is compared with what upgate's parser, body decoder and
//! error pages produce for the same bytes.
//!
//! nginx serves two ports: the default server (`ignore_invalid_headers on`)
//! and one with `ignore_invalid_headers off`; each has `location / { return
//! 200 ok; }` and `location /p { proxy_pass <recording backend>; }`, and
//! `client_max_body_size 64`.
//! - When nginx refuses a request, its whole response must equal upgate's
//!   error page (status line, headers, body; Date taken from nginx's answer).
//! - When nginx accepts it, upgate must accept it too; for `/p`, the bytes the
//!   backend received must equal upgate's upstream request writer output
//!   (nginx's defaults: HTTP/1.0, `Host: 127.0.0.1:<port>`, `Connection:
//!   close`, regenerated Content-Length, client headers in order).
//!
//! Cases listed in `KNOWN` are deliberate differences and must still differ;
//! every other case must agree. The test fails (never skips) without nginx.

#[path = "codec_vs_nginx/cases.rs"]
mod cases;
mod support;

use bytes::BytesMut;
use support::{Backend, Nginx, exchange, find, free_port, nginx_binary, nginx_version};
use upgate_proxy::http1::{
    BodyDecoder, CONTINUE_100, ErrorPage, Keepalive, ProxyHttpVersion, ReplyContext, RequestConfig,
    ServerIdent, ServerTokens, SetHeader, SetValue, UpstreamBody, UpstreamRequest,
    parse_request_head,
};

const MAX_BODY: u64 = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    /// ignore_invalid_headers on (nginx's default).
    Default,
    /// ignore_invalid_headers off.
    KeepInvalid,
}

/// Deliberate differences: lines nginx accepts that upgate refuses, because
/// httparse does not tokenise them and upgate forwards nothing it did not.
const KNOWN: &[(&str, &str)] = &[
    (
        "header_without_colon",
        "nginx takes `NoColon` as a header with an empty value; upgate: 400",
    ),
    (
        "control_byte_in_value",
        "nginx accepts \\x01 in a value; upgate: 400",
    ),
    (
        "del_in_value",
        "nginx accepts \\x7f in a value; upgate: 400",
    ),
    ("cr_cr_lf_line_end", "nginx accepts CR CR LF; upgate: 400"),
    (
        "keep_non_token_name",
        "with ignore_invalid_headers off nginx forwards `X@Y`; upgate: 400",
    ),
];

/// What upgate does with a request.
enum Expected {
    Page(ErrorPage, ReplyContext),
    Accepted {
        continue_100: bool,
        http09: bool,
        head: bool,
        upstream: Option<Vec<u8>>,
    },
    Incomplete,
}

fn model(raw: &[u8], server: Server, backend: u16) -> Expected {
    let cfg = RequestConfig {
        ignore_invalid_headers: server == Server::Default,
        ..RequestConfig::default()
    };
    let mut buf = BytesMut::from(raw);
    let head = match parse_request_head(&mut buf, &cfg) {
        Err(e) => return Expected::Page(e.error_page(), e.reply),
        Ok(None) => return Expected::Incomplete,
        Ok(Some(h)) => h,
    };
    let reply = head.reply_context();
    let proxied = head.uri().path.starts_with(b"/p");
    // ngx_http_core_find_config_phase: a Content-Length above the limit.
    let limit = if proxied { MAX_BODY } else { 0 };
    if BodyDecoder::new(head.body_framing(), MAX_BODY).is_err() {
        return Expected::Page(ErrorPage::new(413), reply);
    }
    let mut decoder = match BodyDecoder::new(head.body_framing(), limit) {
        Ok(d) => d,
        Err(e) => return Expected::Page(ErrorPage::new(e.status()), reply),
    };
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        match decoder.decode(&buf[at..]) {
            Err(e) => return Expected::Page(ErrorPage::new(e.status()), reply),
            Ok(d) => {
                body.extend_from_slice(d.data);
                at += d.consumed;
                if d.done || d.consumed == 0 {
                    break;
                }
            }
        }
    }
    let upstream = proxied.then(|| {
        let host = format!("127.0.0.1:{backend}");
        let set = [
            SetHeader::new(b"Host", host.as_bytes()),
            SetHeader::new(b"Connection", b"close"),
            SetHeader {
                name: b"Content-Length",
                value: SetValue::BodyLength,
            },
            SetHeader {
                name: b"Transfer-Encoding",
                value: SetValue::Chunked,
            },
            SetHeader::new(b"TE", b""),
            SetHeader::new(b"Keep-Alive", b""),
            SetHeader::new(b"Expect", b""),
            SetHeader::new(b"Upgrade", b""),
        ];
        let framing = match head.body_framing() {
            upgate_proxy::http1::BodyFraming::None => UpstreamBody::None,
            _ => UpstreamBody::Length(body.len() as u64),
        };
        let req = UpstreamRequest {
            method: head.method(),
            uri: head.uri().unparsed,
            version: ProxyHttpVersion::Http10,
            set_headers: &set,
            body: framing,
        };
        let mut out = Vec::new();
        req.write_head(head.headers(), &mut out);
        out.extend_from_slice(&body);
        out
    });
    Expected::Accepted {
        continue_100: head.expects_continue(),
        http09: reply.http09,
        head: reply.head_only,
        upstream,
    }
}

/// Compares one case; `Err` describes the difference.
fn compare(
    raw: &[u8],
    server: Server,
    nginx_port: u16,
    backend: &Backend,
    ident: &ServerIdent,
) -> (String, Result<(), String>) {
    let expected = model(raw, server, backend.port);
    let head_request = raw.starts_with(b"HEAD ");
    let got = exchange(nginx_port, raw, head_request);
    (status_of(&got), judge(expected, &got, backend, ident))
}

/// nginx's final status ("0.9" for a response without a status line).
fn status_of(got: &[u8]) -> String {
    let rest = got.strip_prefix(CONTINUE_100).unwrap_or(got);
    match rest.strip_prefix(b"HTTP/1.1 ") {
        Some(r) => String::from_utf8_lossy(&r[..r.len().min(3)]).into_owned(),
        None if rest.is_empty() => "none".into(),
        None => "0.9".into(),
    }
}

fn judge(
    expected: Expected,
    got: &[u8],
    backend: &Backend,
    ident: &ServerIdent,
) -> Result<(), String> {
    // A forwarded request is recorded just after the backend answered it;
    // one nginx answered itself (`location /`) left nothing to wait for: a
    // stray request to the backend would have come before the answer.
    let upstream_got = match expected {
        Expected::Accepted {
            upstream: Some(_), ..
        } => backend.take_within(std::time::Duration::from_secs(2)),
        _ => backend.take(),
    };
    let shown = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(400)]).into_owned();
    let date = find(got, b"\r\nDate: ")
        .map(|i| got[i + 8..(i + 37).min(got.len())].to_vec())
        .unwrap_or_default();
    match expected {
        Expected::Incomplete => Err(format!(
            "upgate wants more bytes; nginx answered {:?}",
            shown(got)
        )),
        Expected::Page(page, reply) => {
            if !upstream_got.is_empty() {
                return Err(format!(
                    "nginx refused but its backend saw {:?}",
                    upstream_got.iter().map(|t| shown(t)).collect::<Vec<_>>()
                ));
            }
            let mut ours = Vec::new();
            page.write(&mut ours, &reply, ident, &date, Keepalive::Close);
            if ours == got {
                Ok(())
            } else {
                Err(format!(
                    "upgate {}:\n{}\nnginx:\n{}",
                    page.status(),
                    shown(&ours),
                    shown(got)
                ))
            }
        }
        Expected::Accepted {
            continue_100,
            http09,
            head,
            upstream,
        } => {
            let mut rest = got;
            if continue_100 {
                rest = rest
                    .strip_prefix(CONTINUE_100)
                    .ok_or_else(|| format!("no 100 Continue: {:?}", shown(got)))?;
            }
            let ok = if http09 {
                rest == b"ok"
            } else {
                rest.starts_with(b"HTTP/1.1 200 OK\r\n")
            };
            if !ok {
                return Err(format!(
                    "upgate accepts (head: {head}); nginx:\n{}",
                    shown(got)
                ));
            }
            match (upstream, upstream_got.as_slice()) {
                (None, []) => Ok(()),
                (Some(ours), [theirs]) if &ours == theirs => Ok(()),
                (ours, theirs) => Err(format!(
                    "upstream request differs:\nupgate: {:?}\nnginx:  {:?}",
                    ours.map(|o| shown(&o)),
                    theirs.iter().map(|t| shown(t)).collect::<Vec<_>>()
                )),
            }
        }
    }
}

#[test]
fn codec_agrees_with_nginx() {
    let bin = nginx_binary();
    let version = nginx_version(&bin);
    let backend = Backend::start();
    let (port, keep_port) = (free_port(), free_port());
    let server = |p: u16, extra: &str| {
        format!(
            "server {{\n listen 127.0.0.1:{p};\n client_max_body_size {MAX_BODY};\n {extra}\n\
             location / {{ return 200 ok; }}\n location /p {{ proxy_pass http://127.0.0.1:{}; }}\n}}\n",
            backend.port
        )
    };
    let http = format!(
        "{}{}",
        server(port, ""),
        server(keep_port, "ignore_invalid_headers off;")
    );
    let nginx = Nginx::start(&http, &[port, keep_port]);
    let ident = ServerIdent::new("nginx", &version, &ServerTokens::On);

    let cases = cases::cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut agree = 0;
    let mut unexpected = Vec::new();
    let mut known_seen = Vec::new();
    let mut statuses = Vec::new();
    for (name, server, raw) in &cases {
        let p = if *server == Server::Default {
            port
        } else {
            keep_port
        };
        let (status, result) = compare(raw, *server, p, &backend, &ident);
        statuses.push(format!("{name}={status}"));
        let known = KNOWN.iter().find(|(k, _)| k == name);
        match (result, known) {
            (Ok(()), None) => agree += 1,
            (Ok(()), Some(_)) => unexpected.push(format!("{name}: listed in KNOWN but agrees now")),
            (Err(_), Some((k, why))) => known_seen.push(format!("{k}: {why}")),
            (Err(diff), None) => unexpected.push(format!("{name}: {diff}")),
        }
    }
    println!("nginx {version}: {agree}/{} cases agree", cases.len());
    println!("nginx statuses: {}", statuses.join(" "));
    for k in &known_seen {
        println!("deliberate difference: {k}");
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected difference(s):\n\n{}\n\nnginx log:\n{}",
        unexpected.len(),
        unexpected.join("\n\n"),
        nginx
            .stderr()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(agree + known_seen.len(), cases.len());
}
