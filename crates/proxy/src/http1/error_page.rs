//! nginx's built-in error responses, byte for byte: the bodies of
//! `ngx_http_error_pages[]` with the `<hr><center>nginx</center>` tail and the
//! MSIE/Chrome padding of `ngx_http_send_special_response`
//! (src/http/ngx_http_special_response.c), behind the head that
//! `ngx_http_header_filter` writes (status line from `ngx_http_status_lines[]`,
//! Server, Date, Content-Type, Content-Length, Connection).
//!
//! nginx's internal codes 494-497 are answered with status 400 and their own
//! page ("400 Request Header Or Cookie Too Large").

use super::response_writer::Keepalive;
use super::server_tokens::ServerIdent;

/// What the request changes in an error response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyContext {
    /// The method was HEAD: the head only (Content-Length still counts the body).
    pub head_only: bool,
    /// The request was HTTP/0.9: the body only, no status line, no headers.
    pub http09: bool,
    /// The User-Agent looked like MSIE or Chrome (`r->headers_in.msie ||
    /// r->headers_in.chrome`): 4xx/5xx pages get nginx's padding comments.
    pub msie_padding: bool,
}

/// One of nginx's error responses, by nginx's code (494 included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorPage {
    code: u16,
}

const PADDING: &[u8] = b"<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n\
<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n\
<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n\
<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n\
<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n\
<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";

impl ErrorPage {
    /// nginx's `NGX_HTTP_*` code: 400, 404, 494, 502 ...
    pub fn new(code: u16) -> Self {
        ErrorPage { code }
    }

    /// The code nginx uses internally (494 for a too large header).
    pub fn code(self) -> u16 {
        self.code
    }

    /// The status on the wire: 494-497 become 400.
    pub fn status(self) -> u16 {
        match self.code {
            494..=497 => 400,
            c => c,
        }
    }

    /// nginx turns keepalive off for these whatever the request asked.
    pub fn forces_close(self) -> bool {
        matches!(self.code, 400 | 413 | 414 | 497 | 495 | 496 | 500 | 501)
    }

    /// The page text before the tail, if nginx has one for this code.
    pub fn page(self) -> Option<String> {
        let (title, extra) = match self.code {
            494 => ("Request Header Or Cookie Too Large", true),
            495 => ("The SSL certificate error", true),
            496 => ("No required SSL certificate was sent", true),
            497 => ("The plain HTTP request was sent to HTTPS port", true),
            c => (page_title(c)?, false),
        };
        Some(if extra {
            format!(
                "<html>\r\n<head><title>400 {title}</title></head>\r\n<body>\r\n\
                 <center><h1>400 Bad Request</h1></center>\r\n<center>{title}</center>\r\n"
            )
        } else {
            let t = format!("{} {title}", self.code);
            format!(
                "<html>\r\n<head><title>{t}</title></head>\r\n<body>\r\n<center><h1>{t}</h1></center>\r\n"
            )
        })
    }

    /// The body bytes: page, tail, padding when `ctx` asks for it.
    pub fn body(self, ctx: &ReplyContext, server: &ServerIdent) -> Vec<u8> {
        let Some(page) = self.page() else {
            return Vec::new();
        };
        let mut body = page.into_bytes();
        body.extend_from_slice(server.error_tail());
        if ctx.msie_padding && !ctx.http09 && self.status() >= 400 {
            body.extend_from_slice(PADDING);
        }
        body
    }

    /// Appends the whole response to `out`. `date` is [`super::http_date`]'s
    /// output; `keepalive` what the request allows (errors that force a close
    /// override it).
    pub fn write(
        self,
        out: &mut Vec<u8>,
        ctx: &ReplyContext,
        server: &ServerIdent,
        date: &[u8],
        keepalive: Keepalive,
    ) {
        let body = self.body(ctx, server);
        if !ctx.http09 {
            out.extend_from_slice(b"HTTP/1.1 ");
            write_status(out, self.status());
            out.extend_from_slice(server.server_line());
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(date);
            out.extend_from_slice(b"\r\n");
            if !body.is_empty() {
                out.extend_from_slice(b"Content-Type: text/html\r\n");
            }
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            let keepalive = if self.forces_close() {
                Keepalive::Close
            } else {
                keepalive
            };
            keepalive.write(out);
            out.extend_from_slice(b"\r\n");
        }
        if !ctx.head_only {
            out.extend_from_slice(&body);
        }
    }
}

/// Writes `"<code> <reason>\r\n"` as `ngx_http_header_filter` does for a status
/// it generates: the text of `ngx_http_status_lines[]`, or the bare code and
/// a space for codes nginx has no text for.
pub fn write_status(out: &mut Vec<u8>, status: u16) {
    match status_line(status) {
        Some(line) => out.extend_from_slice(line.as_bytes()),
        None => out.extend_from_slice(format!("{status:03} ").as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
}

/// nginx's `ngx_http_status_lines[]`.
pub fn status_line(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "200 OK",
        201 => "201 Created",
        202 => "202 Accepted",
        204 => "204 No Content",
        206 => "206 Partial Content",
        301 => "301 Moved Permanently",
        302 => "302 Moved Temporarily",
        303 => "303 See Other",
        304 => "304 Not Modified",
        307 => "307 Temporary Redirect",
        308 => "308 Permanent Redirect",
        400 => "400 Bad Request",
        401 => "401 Unauthorized",
        402 => "402 Payment Required",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        405 => "405 Not Allowed",
        406 => "406 Not Acceptable",
        408 => "408 Request Time-out",
        409 => "409 Conflict",
        410 => "410 Gone",
        411 => "411 Length Required",
        412 => "412 Precondition Failed",
        413 => "413 Request Entity Too Large",
        414 => "414 Request-URI Too Large",
        415 => "415 Unsupported Media Type",
        416 => "416 Requested Range Not Satisfiable",
        421 => "421 Misdirected Request",
        429 => "429 Too Many Requests",
        500 => "500 Internal Server Error",
        501 => "501 Not Implemented",
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        504 => "504 Gateway Time-out",
        505 => "505 HTTP Version Not Supported",
        507 => "507 Insufficient Storage",
        _ => return None,
    })
}

/// The titles of nginx's 4xx/5xx pages (401's differs from its status line).
fn page_title(code: u16) -> Option<&'static str> {
    match code {
        401 => Some("Authorization Required"),
        400..=406 | 408..=416 | 421 | 429 | 500..=505 | 507 => {
            status_line(code)?.split_once(' ').map(|(_, title)| title)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::ServerTokens;

    fn nginx() -> ServerIdent {
        ServerIdent::new("nginx", "1.22.1", &ServerTokens::On)
    }

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn render(code: u16, ctx: ReplyContext) -> String {
        let mut out = Vec::new();
        ErrorPage::new(code).write(&mut out, &ctx, &nginx(), DATE, Keepalive::Close);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn bad_request_byte_for_byte() {
        assert_eq!(
            render(400, ReplyContext::default()),
            "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/html\r\nContent-Length: 157\r\nConnection: close\r\n\r\n\
             <html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n\
             <center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n\
             </body>\r\n</html>\r\n"
        );
    }

    #[test]
    fn too_large_header_is_a_400_with_its_own_page() {
        let page = render(494, ReplyContext::default());
        assert!(page.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(page.contains(
            "<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n\
             <center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n"
        ));
    }

    #[test]
    fn titles_of_the_listed_statuses() {
        for (code, title) in [
            (404, "404 Not Found"),
            (405, "405 Not Allowed"),
            (408, "408 Request Time-out"),
            (413, "413 Request Entity Too Large"),
            (414, "414 Request-URI Too Large"),
            (500, "500 Internal Server Error"),
            (501, "501 Not Implemented"),
            (502, "502 Bad Gateway"),
            (503, "503 Service Temporarily Unavailable"),
            (504, "504 Gateway Time-out"),
            (505, "505 HTTP Version Not Supported"),
        ] {
            let page = render(code, ReplyContext::default());
            assert!(page.starts_with(&format!("HTTP/1.1 {title}\r\n")), "{page}");
            assert!(page.contains(&format!("<title>{title}</title>")), "{page}");
        }
        assert!(
            ErrorPage::new(401)
                .page()
                .is_some_and(|p| p.contains("401 Authorization Required"))
        );
        assert_eq!(ErrorPage::new(418).page(), None);
        assert_eq!(ErrorPage::new(407).page(), None);
    }

    #[test]
    fn padding_head_only_and_http09() {
        let padded = render(
            400,
            ReplyContext {
                msie_padding: true,
                ..Default::default()
            },
        );
        assert!(padded.contains("Content-Length: 559\r\n"));
        assert!(padded.ends_with("friendly error page -->\r\n"));
        let head = render(
            404,
            ReplyContext {
                head_only: true,
                ..Default::default()
            },
        );
        assert!(head.ends_with("Connection: close\r\n\r\n"));
        assert!(head.contains("Content-Length: 153\r\n"));
        let old = render(
            400,
            ReplyContext {
                http09: true,
                msie_padding: true,
                ..Default::default()
            },
        );
        assert!(old.starts_with("<html>") && old.ends_with("</html>\r\n"));
    }

    #[test]
    fn unknown_codes_have_no_body_and_a_bare_status_line() {
        let page = render(418, ReplyContext::default());
        assert!(page.starts_with("HTTP/1.1 418 \r\n"));
        assert!(page.contains("Content-Length: 0\r\n") && !page.contains("Content-Type"));
    }

    #[test]
    fn keepalive_survives_only_where_nginx_keeps_it() {
        let mut out = Vec::new();
        let ka = Keepalive::KeepAlive {
            header_timeout: Some(75),
        };
        ErrorPage::new(404).write(&mut out, &ReplyContext::default(), &nginx(), DATE, ka);
        assert!(
            String::from_utf8_lossy(&out)
                .contains("Connection: keep-alive\r\nKeep-Alive: timeout=75\r\n")
        );
        out.clear();
        ErrorPage::new(413).write(&mut out, &ReplyContext::default(), &nginx(), DATE, ka);
        assert!(String::from_utf8_lossy(&out).contains("Connection: close\r\n"));
    }
}
