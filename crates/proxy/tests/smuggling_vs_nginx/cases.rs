//! The cases of the smuggling suite: each is what one client sends on one
//! connection (an attack, then usually an innocent pipelined `GET /next`)
//! and, for the backend cases, what the backend answers instead of a
//! well-formed response. `/smuggled` in a case is the request an attacker
//! hopes to slip past the proxy's parser; `SMUGGLED` in a backend's answer
//! is the response it hopes to deliver to the wrong client.
//!
//! Locations of the suite's configuration: `/` proxies over a keepalive
//! upstream with HTTP/1.1, `/ws` adds the WebSocket headers with the
//! `$connection_upgrade` map, `/old` proxies with nginx's defaults
//! (HTTP/1.0, Connection: close), `= /drop` returns 444, `/ret` returns 200.

use std::time::Duration;

use super::backend::Reply;

pub struct Case {
    pub name: &'static str,
    pub group: &'static str,
    pub client: Vec<u8>,
    pub reply: Option<Reply>,
    /// Whether each request on the connection is HEAD (its response has no
    /// body); requests past the list are not.
    pub heads: Vec<bool>,
    /// How long the client waits for more once nothing arrives.
    pub quiet: Duration,
}

const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

fn case(name: &'static str, group: &'static str, parts: &[&[u8]]) -> Case {
    Case {
        name,
        group,
        client: parts.concat(),
        reply: None,
        heads: Vec::new(),
        quiet: Duration::from_millis(300),
    }
}

impl Case {
    fn reply(mut self, raw: &[u8], close: bool) -> Case {
        self.reply = Some(Reply {
            raw: raw.to_vec(),
            close,
        });
        self
    }

    fn heads(mut self, heads: &[bool]) -> Case {
        self.heads = heads.to_vec();
        self
    }

    /// The server waits on a timeout (1 s in the suite's configuration).
    fn slow(mut self) -> Case {
        self.quiet = Duration::from_millis(1600);
        self
    }
}

/// A POST to `/` with `headers` (each ending in CRLF) and `body`.
fn post(headers: &str, body: &[u8]) -> Vec<u8> {
    [
        format!("POST / HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes(),
        body,
    ]
    .concat()
}

const CHUNKED: &str = "Transfer-Encoding: chunked\r\n";

pub fn cases() -> Vec<Case> {
    let s = SMUGGLED;
    let n = NEXT;
    let mut all = vec![
        // Content-Length and Transfer-Encoding (RFC 9112 §6.1–6.3).
        case(
            "cl_and_te",
            "framing",
            &[
                &post("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
                s,
            ],
        ),
        case(
            "te_and_cl",
            "framing",
            &[
                &post("Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", b"0\r\n\r\n"),
                s,
            ],
        ),
        case(
            "cl_duplicate_same",
            "framing",
            &[&post("Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), n],
        ),
        case(
            "cl_duplicate_conflicting",
            "framing",
            &[&post("Content-Length: 0\r\nContent-Length: 37\r\n", b""), s],
        ),
        case("cl_plus_sign", "framing", &[&post("Content-Length: +5\r\n", b"hello"), n]),
        case("cl_hex", "framing", &[&post("Content-Length: 0x5\r\n", b"hello"), n]),
        case("cl_list", "framing", &[&post("Content-Length: 5, 5\r\n", b"hello"), n]),
        case("cl_negative", "framing", &[&post("Content-Length: -1\r\n", b""), s]),
        case("cl_inner_space", "framing", &[&post("Content-Length: 1 0\r\n", b"0123456789"), n]),
        case(
            "cl_overflow",
            "framing",
            &[&post("Content-Length: 99999999999999999999\r\n", b"hello"), n],
        ),
        case("cl_leading_zeros", "framing", &[&post("Content-Length: 005\r\n", b"hello"), n]),
        case("cl_trailing_space", "framing", &[&post("Content-Length: 5 \r\n", b"hello"), n]),
        case("cl_above_limit", "framing", &[&post("Content-Length: 2000\r\n", b"hello"), n]),
        case("te_chunked_not_last", "framing", &[&post("Transfer-Encoding: chunked, identity\r\n", b"0\r\n\r\n"), s]),
        case("te_chunked_twice", "framing", &[&post("Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), s]),
        case(
            "te_two_lines",
            "framing",
            &[&post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), s],
        ),
        case("te_identity", "framing", &[&post("Transfer-Encoding: identity\r\n", b""), s]),
        case("te_gzip_chunked", "framing", &[&post("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), s]),
        case("te_upper_case", "framing", &[&post("Transfer-Encoding: CHUNKED\r\n", b"5\r\nhello\r\n0\r\n\r\n"), n]),
        case("te_tab_before_value", "framing", &[&post("Transfer-Encoding:\tchunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"), n]),
        case(
            "te_space_before_colon",
            "framing",
            &[&post("Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), s],
        ),
        case(
            "te_vertical_tab",
            "framing",
            &[&post("Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n"), s],
        ),
        case(
            "te_in_http10",
            "framing",
            &[b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", s],
        ),
        case(
            "te_obs_fold",
            "framing",
            &[&post("Transfer-Encoding: identity\r\n chunked\r\n", b"0\r\n\r\n"), s],
        ),
        case(
            "te_with_cl_zero_and_smuggled_body",
            "framing",
            &[&post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"), n],
        ),
        // The chunked decoder.
        case("chunk_size_overflow", "chunked", &[&post(CHUNKED, b"FFFFFFFFFFFFFFFFFFFF1\r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_size_negative", "chunked", &[&post(CHUNKED, b"-5\r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_size_hex_prefix", "chunked", &[&post(CHUNKED, b"0x5\r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_size_space", "chunked", &[&post(CHUNKED, b"5 \r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_size_empty", "chunked", &[&post(CHUNKED, b"\r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_extension", "chunked", &[&post(CHUNKED, b"5;name=value\r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_extension_quoted", "chunked", &[&post(CHUNKED, b"5;a=\"x\r\n0\r\n\r\nGET /smuggled\"\r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_trailer", "chunked", &[&post(CHUNKED, b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"), n]),
        case(
            "chunk_trailer_with_te",
            "chunked",
            &[&post(CHUNKED, b"0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), s],
        ),
        case("chunk_data_overrun", "chunked", &[&post(CHUNKED, b"3\r\nhello\r\n0\r\n\r\n"), n]),
        case("chunk_bare_lf", "chunked", &[&post(CHUNKED, b"5\nhello\n0\n\n"), n]),
        case("chunk_bare_cr", "chunked", &[&post(CHUNKED, b"5\rhello\r0\r\r"), n]),
        case(
            "chunk_body_above_limit",
            "chunked",
            &[&post(CHUNKED, &[b"7d0\r\n".as_slice(), &[b'x'; 2000], b"\r\n0\r\n\r\n"].concat()), n],
        ),
        case("chunked_then_pipelined", "chunked", &[&post(CHUNKED, b"5\r\nhello\r\n0\r\n\r\n"), s]),
        // Header and request-line syntax.
        case("obs_fold", "syntax", &[b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", n]),
        case("bare_lf_lines", "syntax", &[b"GET / HTTP/1.1\nHost: a\n\n", n]),
        case("bare_cr_in_value", "syntax", &[b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\rGET /smuggled HTTP/1.1\r\n\r\n", n]),
        case("bare_cr_in_request_line", "syntax", &[b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("space_before_colon", "syntax", &[b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", n]),
        case("space_before_colon_cl", "syntax", &[&post("Content-Length : 37\r\n", b""), s]),
        case("nul_in_name", "syntax", &[b"GET / HTTP/1.1\r\nHost: a\r\nX-\0A: 1\r\n\r\n", n]),
        case("nul_in_value", "syntax", &[b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n", n]),
        case("nul_in_target", "syntax", &[b"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("control_in_target", "syntax", &[b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("space_in_target", "syntax", &[b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("tab_in_request_line", "syntax", &[b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("lower_case_method", "syntax", &[b"get / HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("unknown_method", "syntax", &[b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("empty_header_name", "syntax", &[b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", n]),
        case("leading_empty_lines", "syntax", &[b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        // Versions and targets.
        case("http09", "target", &[b"GET /\r\n"]),
        case("http2_version", "target", &[b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", n]),
        case("http_version_1_9", "target", &[b"GET / HTTP/1.9\r\nHost: a\r\n\r\n", n]),
        case("lower_case_version", "target", &[b"GET / http/1.1\r\nHost: a\r\n\r\n", n]),
        case("absolute_form", "target", &[b"GET http://other.example/x HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("authority_form", "target", &[b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", n]),
        case("asterisk_form", "target", &[b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("missing_host", "target", &[b"GET / HTTP/1.1\r\n\r\n", n]),
        case("duplicate_host", "target", &[b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", n]),
        case("host_with_slash", "target", &[b"GET / HTTP/1.1\r\nHost: a/../b\r\n\r\n", n]),
        case("dotdot_above_root", "target", &[b"GET /a/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("dotdot_encoded", "target", &[b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("dotdot_inside", "target", &[b"GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        case("dotdot_into_other_location", "target", &[b"GET /x/../drop HTTP/1.1\r\nHost: a\r\n\r\n", n]),
        // Limits.
        case(
            "request_line_too_long",
            "limits",
            &[b"GET /", &[b'a'; 9000], b" HTTP/1.1\r\nHost: a\r\n\r\n", n],
        ),
        case(
            "header_too_long",
            "limits",
            &[b"GET / HTTP/1.1\r\nHost: a\r\nX-A: ", &[b'a'; 9000], b"\r\n\r\n", n],
        ),
        case(
            "headers_too_large_in_total",
            "limits",
            &[
                b"GET / HTTP/1.1\r\nHost: a\r\n",
                &"X-Filler: 0123456789012345678901234567890123456789\r\n".repeat(800).into_bytes(),
                b"\r\n",
                n,
            ],
        ),
        // Pipelining and connection state.
        case("short_body_then_pipelined", "pipelining", &[&post("Content-Length: 100\r\n", b"hello"), s]).slow(),
        case("get_with_body", "pipelining", &[b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", n]),
        case("cl_zero_then_request", "pipelining", &[&post("Content-Length: 0\r\n", b""), s]),
        case("connection_close_then_pipelined", "pipelining", &[b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", s]),
        case("http10_then_pipelined", "pipelining", &[b"GET / HTTP/1.0\r\n\r\n", s]),
        case("head_then_pipelined", "pipelining", &[b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", n]).heads(&[true]),
        case("return_444_then_pipelined", "pipelining", &[b"GET /drop HTTP/1.1\r\nHost: a\r\n\r\n", s]),
        case("expect_100_continue", "pipelining", &[&post("Content-Length: 5\r\nExpect: 100-continue\r\n", b"hello"), n]),
        case("unfinished_head", "pipelining", &[b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n"]).slow(),
        // Upgrade on the client side.
        case(
            "bytes_after_upgrade_before_101",
            "upgrade",
            &[b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", s],
        ),
        case(
            "upgrade_without_connection_header",
            "upgrade",
            &[b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", n],
        ),
        case(
            "upgrade_on_plain_location",
            "upgrade",
            &[b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", n],
        ),
        case(
            "upgrade_in_http10",
            "upgrade",
            &[b"GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", s],
        ),
        case(
            "upgrade_refused_by_backend",
            "upgrade",
            &[b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", s],
        )
        .reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno", false),
        case(
            "upgrade_post_with_body",
            "upgrade",
            &[b"POST /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 5\r\n\r\nhello", s],
        ),
        // What a misbehaving backend sends.
        case("backend_101_without_upgrade_request", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", s])
            .reply(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nSMUGGLED", false),
        case("backend_101_on_old_location", "backend", &[b"GET /old HTTP/1.1\r\nHost: a\r\n\r\n", s])
            .reply(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", false),
        case(
            "backend_101_without_upgrade_header",
            "backend",
            &[b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", s],
        )
        .reply(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false),
        case(
            "backend_101_with_body",
            "backend",
            &[b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"],
        )
        .reply(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 8\r\n\r\nSMUGGLED", false),
        case("backend_two_responses", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED", false),
        case("backend_body_longer_than_length", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSMUGGLED", false),
        case("backend_body_to_head", "backend", &[b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .heads(&[true])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED", false),
        case("backend_204_with_body", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\nSMUGGLED", false),
        case("backend_304_with_body", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\nSMUGGLED", false),
        case("backend_cl_and_te", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED", false),
        case("backend_duplicate_cl", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 10\r\n\r\nokSMUGGLED", false),
        case("backend_garbage_status_line", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED", true),
        case("backend_bad_chunk_size", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nSMUGGLED\r\n0\r\n\r\n", false),
        case("backend_space_before_colon", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Length : 8\r\n\r\nSMUGGLED", true),
        case("backend_header_too_large", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n]).reply(
            &[b"HTTP/1.1 200 OK\r\nX-Big: ".as_slice(), &[b'a'; 9000], b"\r\nContent-Length: 2\r\n\r\nok"].concat(),
            false,
        ),
        case("backend_unknown_te", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok", false),
        case("backend_bare_lf", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false),
        case("backend_no_reason_phrase", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", false),
        case("backend_1xx_then_200", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        case("backend_close_mid_headers", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Le", true),
        case("backend_close_mid_body", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true),
        case("backend_http10_keepalive_less", "backend", &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", n])
            .reply(b"HTTP/1.0 200 OK\r\n\r\nbody until close", true),
    ];
    for c in &mut all {
        if c.heads.is_empty() {
            c.heads = vec![false; 4];
        } else {
            c.heads.resize(4, false);
        }
    }
    all
}
