//! The differential cases: name, which nginx server, the raw request.
//! One case per line, a table kept out of rustfmt.

use super::Server;

#[rustfmt::skip]
pub fn cases() -> Vec<(&'static str, Server, Vec<u8>)> {
    use Server::*;
    let mut c: Vec<(&'static str, Server, Vec<u8>)> = Vec::new();
    let mut add = |name, server, raw: &[u8]| c.push((name, server, raw.to_vec()));
    let chrome = b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (X11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\r\n";
    // Request line.
    add("simple_get", Default, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("http10_no_host", Default, b"GET / HTTP/1.0\r\n\r\n");
    add("http10_keepalive", Default, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    add("http12", Default, b"GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    add("http1_10", Default, b"GET / HTTP/1.10\r\nHost: a\r\n\r\n");
    add("http09_get", Default, b"GET /\r\n");
    add("http09_post", Default, b"POST /\r\n");
    add("explicit_http09", Default, b"GET / HTTP/0.9\r\n\r\n");
    add("http2_version", Default, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    add("lowercase_protocol", Default, b"GET / http/1.1\r\nHost: a\r\n\r\n");
    add("version_no_minor", Default, b"GET / HTTP/1\r\nHost: a\r\n\r\n");
    add("version_letters", Default, b"GET / HTTP/1.x\r\nHost: a\r\n\r\n");
    add("leading_zero_major", Default, b"GET / HTTP/01.1\r\nHost: a\r\n\r\n");
    add("lowercase_method", Default, b"get / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("digit_method", Default, b"G3T / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("unknown_method", Default, b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("underscore_method", Default, b"M_-X / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("trace", Default, b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("connect_path", Default, b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("connect_authority", Default, b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n");
    add("space_in_uri", Default, b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n");
    add("ctl_in_uri", Default, b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n");
    add("del_in_uri", Default, b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n");
    add("high_bytes_in_uri", Default, b"GET /\xc3\xa9\xff HTTP/1.1\r\nHost: a\r\n\r\n");
    add("many_spaces", Default, b"GET    /    HTTP/1.1   \r\nHost: a\r\n\r\n");
    add("leading_empty_lines", Default, b"\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    add("cr_in_request_line", Default, b"GET / HTTP/1.1\rX\nHost: a\r\n\r\n");
    add("head_bad_uri", Default, b"HEAD /x\x01 HTTP/1.1\r\n\r\n");
    add("head_no_host", Default, b"HEAD / HTTP/1.1\r\n\r\n");
    // Absolute-form.
    add("absolute_with_host", Default, b"GET http://example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n");
    add("absolute_without_host_header", Default, b"GET http://example.com/ HTTP/1.1\r\n\r\n");
    add("absolute_http10", Default, b"GET http://example.com/ HTTP/1.0\r\n\r\n");
    add("absolute_no_path", Default, b"GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n");
    add("absolute_port_query", Default, b"GET https://example.com:8443?a=b HTTP/1.1\r\nHost: a\r\n\r\n");
    add("absolute_ipv6", Default, b"GET http://[::1]:80/ HTTP/1.1\r\nHost: a\r\n\r\n");
    add("absolute_double_dot", Default, b"GET http://a..b/ HTTP/1.1\r\nHost: a\r\n\r\n");
    add("absolute_empty_host", Default, b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n");
    add("absolute_underscore_host", Default, b"GET http://a_b/ HTTP/1.1\r\nHost: a\r\n\r\n");
    add("absolute_one_slash", Default, b"GET http:/a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    // Host.
    add("missing_host", Default, b"GET / HTTP/1.1\r\n\r\n");
    add("missing_host_chrome_padding", Default, chrome);
    add("duplicate_host", Default, b"GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n");
    add("empty_host", Default, b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
    add("host_slash", Default, b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
    add("host_space", Default, b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    add("host_tab", Default, b"GET / HTTP/1.1\r\nHost: \ta\r\n\r\n");
    add("host_double_dot", Default, b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n");
    add("host_trailing_dot", Default, b"GET / HTTP/1.1\r\nHost: example.com.\r\n\r\n");
    add("host_ipv6_port", Default, b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    add("host_only_dot", Default, b"GET / HTTP/1.1\r\nHost: .\r\n\r\n");
    // Content-Length / Transfer-Encoding on `return 200`.
    add("cl_body", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    add("cl_leading_zeros", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0003\r\n\r\nabc");
    add("cl_and_te", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    add("te_and_cl", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
    add("duplicate_cl_same", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
    add("cl_letters", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n");
    add("cl_negative", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
    add("cl_plus", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc");
    add("cl_list", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc");
    add("cl_empty", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n");
    add("cl_overflow", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n");
    add("cl_too_large", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n");
    add("te_gzip", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
    add("te_gzip_chunked", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    add("te_identity", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n");
    add("te_uppercase", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n");
    add("te_padded", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:   chunked   \r\n\r\n0\r\n\r\n");
    add("te_tab", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n");
    add("te_duplicate", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    add("te_http10", Default, b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    add("te_gzip_http10", Default, b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n");
    add("te_obs_fold", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n ,identity\r\n\r\n0\r\n\r\n");
    add("te_space_before_colon", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n");
    add("te_underscore_name", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n");
    add("invalid_cl_beats_unknown_te", Default, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\nTransfer-Encoding: gzip\r\n\r\n");
    add("discard_bad_chunk", Default, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    // Header lines.
    add("underscore_name", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX_Under: u\r\n\r\n");
    add("dot_name", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX.Dot: d\r\n\r\n");
    add("at_name", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX@Y: v\r\n\r\n");
    add("high_byte_name", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX\xffY: v\r\n\r\n");
    add("underscore_host_dropped", Default, b"GET / HTTP/1.1\r\nHo_st: a\r\n\r\n");
    add("header_without_colon", Default, b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n");
    add("control_byte_in_value", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n");
    add("del_in_value", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n");
    add("cr_cr_lf_line_end", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n");
    add("nul_in_value", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n");
    add("bare_cr_in_value", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n");
    add("colon_first", Default, b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n");
    add("space_first_header", Default, b"GET / HTTP/1.1\r\n Host: a\r\n\r\n");
    add("obs_fold", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n");
    add("tab_in_name", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX\tY: v\r\n\r\n");
    add("space_in_name", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX Y: v\r\n\r\n");
    add("bare_lf_everywhere", Default, b"GET / HTTP/1.1\nHost: a\nX: y\n\n");
    add("mixed_line_ends", Default, b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n");
    add("empty_value", Default, b"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n");
    add("duplicate_expect", Default, b"GET / HTTP/1.1\r\nHost: a\r\nExpect: x\r\nExpect: y\r\n\r\n");
    add("duplicate_authorization", Default, b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n");
    add("duplicate_if_none_match", Default, b"GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: a\r\nIf-None-Match: b\r\n\r\n");
    add("duplicate_content_type_ok", Default, b"GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n");
    add("keep_underscore_name", KeepInvalid, b"GET / HTTP/1.1\r\nHost: a\r\nX_Under: u\r\n\r\n");
    add("keep_non_token_name", KeepInvalid, b"GET / HTTP/1.1\r\nHost: a\r\nX@Y: v\r\n\r\n");
    add("keep_space_in_name", KeepInvalid, b"GET / HTTP/1.1\r\nHost: a\r\nX Y: v\r\n\r\n");
    // Proxied: the body is read, the upstream request compared.
    add("p_get", Default, b"GET /p HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Empty:\r\nX-Tab: \tt\t \r\n\r\n");
    add("p_hop_headers", Default, b"GET /p?q=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nTE: trailers\r\nKeep-Alive: 5\r\nX-Keep: k\r\n\r\n");
    add("p_cl_body", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello");
    add("p_cl_zero", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    add("p_chunked", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: t\r\n\r\n");
    add("p_chunked_empty", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    add("p_chunked_bare_lf", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n");
    add("p_chunk_bad_size", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    add("p_chunk_space_size", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n");
    add("p_chunk_0x", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n");
    add("p_chunk_negative", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n");
    add("p_chunk_overflow", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n");
    add("p_chunk_missing_crlf", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n");
    add("p_chunk_too_large", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n41\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n");
    add("p_cl_too_large", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n");
    add("p_expect_continue", Default, b"POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    add("p_http10_body", Default, b"POST /p HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi");
    add("p_absolute_form", Default, b"GET http://example.com/p?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    add("p_invalid_names_dropped", Default, b"GET /p HTTP/1.1\r\nHost: a\r\nX_Under: u\r\nX.Dot: d\r\nOk: 1\r\n\r\n");
    add("p_invalid_names_kept", KeepInvalid, b"GET /p HTTP/1.1\r\nHost: a\r\nX_Under: u\r\nX.Dot: d\r\nOk: 1\r\n\r\n");
    add("p_head", Default, b"HEAD /p HTTP/1.1\r\nHost: a\r\n\r\n");
    // Limits (1k buffer, 4 x 8k large buffers).
    let mut long_line = b"GET /".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', 8192 - 5));
    add("uri_too_long", Default, &long_line);
    let mut fits = b"GET /".to_vec();
    fits.extend(std::iter::repeat_n(b'a', 7000));
    fits.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    add("uri_7k_fits", Default, &fits);
    let mut two_k = b"GET /".to_vec();
    two_k.extend(std::iter::repeat_n(b'b', 1500));
    two_k.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n");
    add("uri_1500_moves_to_large", Default, &two_k);
    let mut cookie = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: ".to_vec();
    cookie.extend(std::iter::repeat_n(b'c', 8200));
    cookie.extend_from_slice(b"\r\n\r\n");
    add("cookie_too_large", Default, &cookie);
    let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..40 {
        many.extend_from_slice(format!("X-H{i:02}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    add("headers_over_32k", Default, &many);
    let mut under = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..20 {
        under.extend_from_slice(format!("X-H{i:02}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    under.extend_from_slice(b"\r\n");
    add("headers_20k_fit", Default, &under);
    // Exactly at the edges of a large buffer (the line's CR LF included).
    for (name, len) in [("header_line_8192", 8192), ("header_line_8193", 8193)] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: ".to_vec();
        raw.extend(std::iter::repeat_n(b'c', len - 10));
        raw.extend_from_slice(b"\r\n\r\n");
        add(name, Default, &raw);
    }
    for (name, len) in [("request_line_8192", 8192), ("request_line_8193", 8193)] {
        let mut raw = b"GET /".to_vec();
        raw.extend(std::iter::repeat_n(b'r', len - 16));
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        add(name, Default, &raw);
    }
    // Each 8000-byte line needs its own large buffer: four fit, five do not.
    for (name, lines) in [("four_8k_lines", 4), ("five_8k_lines", 5)] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..lines {
            raw.extend_from_slice(format!("X-L{i}: {}\r\n", "w".repeat(7992)).as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        add(name, Default, &raw);
    }
    c
}
