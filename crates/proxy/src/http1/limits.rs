//! nginx's header buffers, `client_header_buffer_size` and
//! `large_client_header_buffers`, replayed over a request head to decide
//! exactly when nginx gives up: a port of the accounting in
//! `ngx_http_alloc_large_header_buffer` (src/http/ngx_http_request.c).
//!
//! nginx reads the head into one small buffer. When a line does not fit, the
//! part already read is copied to the start of a fresh large buffer; a line
//! that alone fills a large buffer, or a head needing more large buffers than
//! configured, is refused: 414 while in the request line, 494 ("Request
//! Header Or Cookie Too Large", sent as 400) in the header lines. upgate keeps
//! the head in one growing buffer and replays this accounting on line offsets,
//! so both refuse the same heads.

/// `client_header_buffer_size` and `large_client_header_buffers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderLimits {
    /// `client_header_buffer_size` (default 1k).
    pub client_header_buffer_size: usize,
    /// `large_client_header_buffers` number (default 4).
    pub large_buffers: usize,
    /// `large_client_header_buffers` size (default 8k).
    pub large_buffer_size: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            client_header_buffer_size: 1024,
            large_buffers: 4,
            large_buffer_size: 8192,
        }
    }
}

impl HeaderLimits {
    /// The most bytes a head can ever take: the first buffer plus all large
    /// ones. A reader may stop reading past this.
    pub fn max_head_len(&self) -> usize {
        self.client_header_buffer_size
            .saturating_add(self.large_buffers.saturating_mul(self.large_buffer_size))
    }
}

/// The buffers nginx would hold after the lines seen so far.
#[derive(Clone, Debug)]
pub(crate) struct BufferReplay {
    limits: HeaderLimits,
    /// Stream offset where the current buffer starts.
    start: usize,
    /// Its size.
    cap: usize,
    large_used: usize,
}

/// A line did not fit: nginx declined a large buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

impl BufferReplay {
    pub(crate) fn new(limits: HeaderLimits) -> Self {
        BufferReplay {
            limits,
            start: 0,
            cap: limits.client_header_buffer_size.max(1),
            large_used: 0,
        }
    }

    /// Empty lines before the request line: when they fill the first buffer
    /// nginx rewinds it (`request_line && r->state == 0`).
    pub(crate) fn skip_to(&mut self, line_start: usize) {
        while line_start >= self.start + self.cap && self.large_used == 0 {
            self.start += self.cap;
        }
    }

    /// The line starting at `line_start` needs the bytes up to `need_end`
    /// (exclusive) in one buffer. For a line whose LF has not arrived yet,
    /// `need_end` is one past the bytes received.
    pub(crate) fn fit(&mut self, line_start: usize, need_end: usize) -> Result<(), Overflow> {
        while need_end > self.start + self.cap {
            let end = self.start + self.cap;
            let partial = end.saturating_sub(line_start);
            if partial > 0 && partial >= self.limits.large_buffer_size {
                return Err(Overflow);
            }
            if self.large_used >= self.limits.large_buffers {
                return Err(Overflow);
            }
            self.large_used += 1;
            self.start = line_start;
            self.cap = self.limits.large_buffer_size.max(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> HeaderLimits {
        HeaderLimits {
            client_header_buffer_size: 10,
            large_buffers: 2,
            large_buffer_size: 20,
        }
    }

    #[test]
    fn line_fitting_the_first_buffer_needs_nothing() {
        let mut r = BufferReplay::new(small());
        assert_eq!(r.fit(0, 10), Ok(()));
        assert_eq!(r.large_used, 0);
    }

    #[test]
    fn line_crossing_the_first_buffer_moves_to_a_large_one() {
        let mut r = BufferReplay::new(small());
        assert_eq!(r.fit(0, 11), Ok(()));
        assert_eq!((r.start, r.cap, r.large_used), (0, 20, 1));
    }

    #[test]
    fn line_exactly_one_large_buffer_long_fits() {
        let mut r = BufferReplay::new(small());
        assert_eq!(r.fit(5, 25), Ok(()));
        assert_eq!(r.fit(5, 26), Err(Overflow));
    }

    #[test]
    fn running_out_of_large_buffers_overflows() {
        let mut r = BufferReplay::new(small());
        assert_eq!(r.fit(0, 15), Ok(())); // large #1: 0..20
        assert_eq!(r.fit(15, 30), Ok(())); // large #2: 15..35
        assert_eq!(r.fit(30, 40), Err(Overflow)); // would need #3
    }

    #[test]
    fn line_starting_at_a_buffer_end_takes_a_new_buffer_without_copy() {
        let mut r = BufferReplay::new(small());
        assert_eq!(r.fit(0, 10), Ok(()));
        assert_eq!(r.fit(10, 12), Ok(()));
        assert_eq!((r.start, r.large_used), (10, 1));
    }

    #[test]
    fn default_limits_are_nginx_defaults() {
        let l = HeaderLimits::default();
        assert_eq!(l.max_head_len(), 1024 + 4 * 8192);
    }
}
