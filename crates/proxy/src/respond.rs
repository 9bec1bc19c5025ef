//! Responses nginx makes itself, byte for byte: `return CODE [TEXT]` and
//! redirects (`ngx_http_send_response`, src/http/ngx_http_core_module.c),
//! error and redirect pages (`ngx_http_special_response_handler`,
//! src/http/ngx_http_special_response.c), behind the head of
//! `ngx_http_header_filter`: status line, Server, Date, Content-Type,
//! Content-Length, Location (when made absolute), Connection, Keep-Alive,
//! then the header list (an absolute Location, `add_header` lines).
//!
//! The 4xx/5xx page texts come from the codec's [`ErrorPage`]; nginx's 3xx
//! pages, which the codec has no text for yet, are here.

use crate::http1::error_page::write_status;
use crate::http1::{ErrorPage, Keepalive, ReplyContext, ServerIdent};

/// Where a `Location` goes in the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationLine<'a> {
    /// Made absolute by the header filter: written after Content-Length.
    Slot(&'a [u8]),
    /// Already absolute: first in the header list.
    List(&'a [u8]),
}

/// One response nginx makes.
#[derive(Clone, Copy, Debug)]
pub struct Special<'a> {
    pub status: u16,
    /// `Some`: a body of that type (`return` with text); `None`: nginx's
    /// page for the status, if it has one.
    pub text: Option<(&'a [u8], &'a [u8])>,
    pub location: Option<LocationLine<'a>>,
    /// `add_header` lines that apply.
    pub extra: &'a [(Vec<u8>, Vec<u8>)],
}

/// nginx's 3xx page texts (`ngx_http_error_30x_page`).
fn redirect_page(status: u16) -> Option<&'static str> {
    Some(match status {
        301 => "301 Moved Permanently",
        302 => "302 Found",
        303 => "303 See Other",
        307 => "307 Temporary Redirect",
        308 => "308 Permanent Redirect",
        _ => return None,
    })
}

impl Special<'_> {
    /// The whole response (head only for HEAD; body only for HTTP/0.9).
    /// Returns the bytes and whether the connection may stay open.
    pub fn render(
        &self,
        ctx: &ReplyContext,
        server: &ServerIdent,
        date: &[u8],
        keepalive: Keepalive,
    ) -> (Vec<u8>, bool) {
        let page = ErrorPage::new(self.status);
        let (content_type, body): (Option<&[u8]>, Vec<u8>) = match self.text {
            Some((ct, text)) => (Some(ct), text.to_vec()),
            None => match redirect_page(self.status) {
                Some(title) => {
                    let mut b = format!(
                        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
                    )
                    .into_bytes();
                    b.extend_from_slice(server.error_tail());
                    (Some(b"text/html"), b)
                }
                None => {
                    let b = page.body(ctx, server);
                    let ct: Option<&[u8]> = if b.is_empty() {
                        None
                    } else {
                        Some(b"text/html")
                    };
                    (ct, b)
                }
            },
        };
        let keepalive = if self.text.is_none() && page.forces_close() {
            Keepalive::Close
        } else {
            keepalive
        };
        let mut out = Vec::with_capacity(256 + body.len());
        if !ctx.http09 {
            out.extend_from_slice(b"HTTP/1.1 ");
            write_status(&mut out, page.status());
            out.extend_from_slice(server.server_line());
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(date);
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = content_type.filter(|_| self.status != 204) {
                header(&mut out, b"Content-Type", ct);
            }
            if self.status != 204 {
                out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            }
            if let Some(LocationLine::Slot(l)) = self.location {
                header(&mut out, b"Location", l);
            }
            keepalive.write(&mut out);
            if let Some(LocationLine::List(l)) = self.location {
                header(&mut out, b"Location", l);
            }
            for (name, value) in self.extra {
                header(&mut out, name, value);
            }
            out.extend_from_slice(b"\r\n");
        }
        if !ctx.head_only && self.status != 204 {
            out.extend_from_slice(&body);
        }
        (out, matches!(keepalive, Keepalive::KeepAlive { .. }))
    }
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The length of the head in a rendered response (all of it when it has
/// no empty line, as for HTTP/0.9 where everything is body... then 0).
pub fn head_len(bytes: &[u8]) -> usize {
    if !bytes.starts_with(b"HTTP/") {
        return 0;
    }
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4)
}

/// An error page with nothing else (502, 504, 404...).
pub fn error(
    status: u16,
    ctx: &ReplyContext,
    server: &ServerIdent,
    date: &[u8],
    keepalive: Keepalive,
) -> (Vec<u8>, bool) {
    Special {
        status,
        text: None,
        location: None,
        extra: &[],
    }
    .render(ctx, server, date, keepalive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> ServerIdent {
        ServerIdent::new("nginx", "1.22.1", &crate::http1::ServerTokens::On)
    }

    #[test]
    fn redirect_with_absolute_location() {
        let (out, ka) = Special {
            status: 301,
            text: None,
            location: Some(LocationLine::Slot(b"http://example.com:8080/slash/")),
            extra: &[],
        }
        .render(
            &ReplyContext::default(),
            &ident(),
            b"Thu, 01 Jan 1970 00:00:00 GMT",
            Keepalive::KeepAlive {
                header_timeout: None,
            },
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 169\r\nLocation: http://example.com:8080/slash/\r\nConnection: keep-alive\r\n\r\n<html>"), "{text}");
        assert!(ka);
    }

    #[test]
    fn return_text() {
        let (out, _) = Special {
            status: 200,
            text: Some((b"text/plain", b"hi\n")),
            location: None,
            extra: &[(b"X-A".to_vec(), b"1".to_vec())],
        }
        .render(&ReplyContext::default(), &ident(), b"D", Keepalive::Close);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: D\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\nX-A: 1\r\n\r\nhi\n"
        );
    }
}
