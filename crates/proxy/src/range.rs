//! Byte ranges of a static file: `ngx_http_range_header_filter` and
//! `ngx_http_range_parse` (src/http/modules/ngx_http_range_filter_module.c).
//!
//! `Range: bytes=...` on a 200 with a known length: one satisfiable range
//! gives a 206 with Content-Range, several a `multipart/byteranges` 206
//! (unless they add up to more than the file, then the whole file), none a
//! 416; If-Range must equal the ETag or the Last-Modified date, else the
//! whole file is sent. `max_ranges` caps the number of ranges (0 turns
//! ranges off, Accept-Ranges included).

/// One range, `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// The filter's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// The whole file, with `Accept-Ranges: bytes`.
    Whole,
    /// A 206 with these ranges (one: single part; more: multipart).
    Partial(Vec<Range>),
    /// 416 with `Content-Range: bytes */SIZE`.
    NotSatisfiable,
}

/// `ngx_http_range_parse` for a `Range` value after `bytes=`; `max` is
/// max_ranges (`None`: unlimited).
pub fn parse(spec: &[u8], size: u64, max: Option<u32>) -> Ranges {
    let mut ranges = Vec::new();
    let mut left = max.map_or(u64::from(u32::MAX), u64::from);
    let mut total: u64 = 0;
    let mut p = 0;
    let at = |p: usize| spec.get(p).copied().unwrap_or(0);
    let cutoff = (i64::MAX / 10) as u64;
    let cutlim = (i64::MAX % 10) as u64;
    loop {
        let mut start: u64 = 0;
        let mut end: u64 = 0;
        let mut suffix = false;
        while at(p) == b' ' {
            p += 1;
        }
        let mut open_ended = false;
        if at(p) != b'-' {
            if !at(p).is_ascii_digit() {
                return Ranges::NotSatisfiable;
            }
            while at(p).is_ascii_digit() {
                let d = u64::from(at(p) - b'0');
                if start >= cutoff && (start > cutoff || d > cutlim) {
                    return Ranges::NotSatisfiable;
                }
                start = start * 10 + d;
                p += 1;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b'-' {
                return Ranges::NotSatisfiable;
            }
            p += 1;
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) == b',' || at(p) == 0 {
                end = size;
                open_ended = true;
            }
        } else {
            suffix = true;
            p += 1;
        }
        if !open_ended {
            if !at(p).is_ascii_digit() {
                return Ranges::NotSatisfiable;
            }
            while at(p).is_ascii_digit() {
                let d = u64::from(at(p) - b'0');
                if end >= cutoff && (end > cutoff || d > cutlim) {
                    return Ranges::NotSatisfiable;
                }
                end = end * 10 + d;
                p += 1;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b',' && at(p) != 0 {
                return Ranges::NotSatisfiable;
            }
            if suffix {
                start = size.saturating_sub(end);
                end = size.saturating_sub(1);
            }
            if end >= size {
                end = size;
            } else {
                end += 1;
            }
        }
        if start < end {
            ranges.push(Range { start, end });
            total += end - start;
            if left == 0 {
                return Ranges::Whole;
            }
            left -= 1;
        } else if start == 0 {
            return Ranges::Whole;
        }
        let c = at(p);
        p += 1;
        if c != b',' {
            break;
        }
    }
    match ranges.len() {
        0 => Ranges::NotSatisfiable,
        1 => Ranges::Partial(ranges),
        _ if total > size => Ranges::Whole,
        // without max_ranges, many small ranges may not cost more than the
        // file plus 4k
        n if max.is_none() && total + n as u64 * 256 > size + 4096 => Ranges::Whole,
        _ => Ranges::Partial(ranges),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    #[test]
    fn single_ranges() {
        assert_eq!(parse(b"0-9", 100, None), Ranges::Partial(vec![r(0, 10)]));
        assert_eq!(parse(b"90-", 100, None), Ranges::Partial(vec![r(90, 100)]));
        assert_eq!(parse(b"-5", 100, None), Ranges::Partial(vec![r(95, 100)]));
        assert_eq!(
            parse(b"50-1000", 100, None),
            Ranges::Partial(vec![r(50, 100)])
        );
        assert_eq!(parse(b"-500", 100, None), Ranges::Partial(vec![r(0, 100)]));
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(parse(b"100-", 100, None), Ranges::NotSatisfiable);
        assert_eq!(parse(b"x", 100, None), Ranges::NotSatisfiable);
        assert_eq!(parse(b"5-2", 100, None), Ranges::NotSatisfiable);
        // "0-" of an empty file: start == 0, the whole (empty) file
        assert_eq!(parse(b"0-", 0, None), Ranges::Whole);
    }

    #[test]
    fn several_ranges() {
        assert_eq!(
            parse(b"0-1, 5-6", 100, None),
            Ranges::Partial(vec![r(0, 2), r(5, 7)])
        );
        assert_eq!(parse(b"0-1,5-6", 100, Some(1)), Ranges::Whole);
        assert_eq!(parse(b"0-99,0-99", 100, None), Ranges::Whole);
    }
}
