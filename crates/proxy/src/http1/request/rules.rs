//! The per-header rules of `ngx_http_process_request_headers`' handlers
//! (src/http/ngx_http_request.c): `ngx_http_validate_host` for Host and
//! absolute-form hosts, `ngx_atoof` for Content-Length, `ngx_strcasestrn` for
//! Connection, and `ngx_http_process_user_agent`'s browser flags, which decide
//! the error pages' padding.

/// The User-Agent facts nginx keeps for the error pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct UserAgent {
    seen: bool,
    msie: bool,
    msie6: bool,
    opera: bool,
    chrome: bool,
    gecko: bool,
    safari: bool,
}

impl UserAgent {
    /// `ngx_http_process_user_agent`: only the first User-Agent line counts.
    pub(super) fn add(&mut self, ua: &[u8]) {
        if self.seen {
            return;
        }
        self.seen = true;
        if let Some(at) = find(ua, b"MSIE ")
            && at + 7 < ua.len()
        {
            self.msie = true;
            if ua[at + 6] == b'.' {
                match ua[at + 5] {
                    b'4' | b'5' => self.msie6 = true,
                    b'6' => self.msie6 = find(&ua[at + 8..], b"SV1").is_none(),
                    _ => {}
                }
            }
        }
        if find(ua, b"Opera").is_some() {
            self.opera = true;
            self.msie = false;
            self.msie6 = false;
        }
        if !self.msie && !self.opera {
            if find(ua, b"Gecko/").is_some() {
                self.gecko = true;
            } else if find(ua, b"Chrome/").is_some() {
                self.chrome = true;
            } else if find(ua, b"Safari/").is_some() && find(ua, b"Mac OS X").is_some() {
                self.safari = true;
            }
        }
    }

    pub(super) fn padding(self) -> bool {
        self.msie || self.chrome
    }

    /// `r->headers_in.msie6`: MSIE 4, 5, or 6 without SV1.
    pub(super) fn msie6(self) -> bool {
        self.msie6
    }

    /// `r->headers_in.safari`: Safari on Mac OS X.
    pub(super) fn safari(self) -> bool {
        self.safari
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `ngx_strcasestrn`: a case-insensitive substring.
pub(super) fn find_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `ngx_atoof`: decimal digits only, at most `i64::MAX`.
pub(crate) fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if n > i64::MAX as u64 {
            return None;
        }
    }
    Some(n)
}

/// `ngx_http_validate_host`: the host without port and trailing dot,
/// lower-cased, or `None` for an invalid host.
pub(crate) fn validate_host(host: &[u8]) -> Option<Box<[u8]>> {
    #[derive(PartialEq)]
    enum St {
        Usual,
        Literal,
        Rest,
    }
    let mut dot_pos = host.len();
    let mut host_len = host.len();
    let mut st = St::Usual;
    for (i, &ch) in host.iter().enumerate() {
        match ch {
            b'.' => {
                if i > 0 && dot_pos == i - 1 {
                    return None;
                }
                dot_pos = i;
            }
            b':' if st == St::Usual => {
                host_len = i;
                st = St::Rest;
            }
            b'[' if i == 0 => st = St::Literal,
            b']' if st == St::Literal => {
                host_len = i + 1;
                st = St::Rest;
            }
            b':' | b'[' | b']' => {}
            b'/' => return None,
            _ if ch <= 0x20 || ch == 0x7f => return None,
            _ => {}
        }
    }
    if host_len > 0 && dot_pos == host_len - 1 {
        host_len -= 1;
    }
    if host_len == 0 {
        return None;
    }
    Some(host[..host_len].to_ascii_lowercase().into_boxed_slice())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod user_agent_tests {
    use super::UserAgent;

    fn ua(text: &[u8]) -> UserAgent {
        let mut u = UserAgent::default();
        u.add(text);
        u
    }

    #[test]
    fn msie6_and_safari_as_nginx_flags_them() {
        assert!(ua(b"MSIE 5.0").msie6());
        assert!(ua(b"Mozilla/4.0 (compatible; MSIE 4.01; Windows 98)").msie6());
        assert!(ua(b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)").msie6());
        assert!(!ua(b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)").msie6());
        assert!(!ua(b"MSIE 7.0").msie6());
        // "MSIE 5." must be followed by at least one byte (msie + 7 < end).
        assert!(!ua(b"MSIE 5.").msie6());
        assert!(!ua(b"Opera MSIE 5.0").msie6());
        assert!(ua(b"Mac OS X Safari/7534.48.3").safari());
        assert!(!ua(b"Safari/7534.48.3").safari());
        assert!(!ua(b"Mac OS X Chrome/1 Safari/7534.48.3").safari());
        assert!(!ua(b"Mac OS X Gecko/1 Safari/7534.48.3").safari());
        let mut two = ua(b"curl/8");
        two.add(b"MSIE 5.0");
        assert!(!two.msie6());
    }
}
