//! nginx's value grammars (src/core/ngx_parse.c, ngx_string.c): sizes,
//! offsets, times and plain numbers, with the same limits, so that a value
//! nginx refuses is refused here and one it takes is taken.

use nom::IResult;
use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{digit1, one_of};
use nom::combinator::{all_consuming, opt};

const MAX_INT: i64 = i64::MAX;

/// `ngx_atoi`: decimal digits only, no sign, no overflow.
pub fn atoi(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(value)
}

/// `ngx_inet_addr` (src/core/ngx_inet.c): four dot-separated decimal
/// octets, each at most 255 (an empty octet counts as 0, leading zeros are
/// allowed). `None` for INADDR_NONE, which 255.255.255.255 also gives, so
/// that every caller refuses it as nginx's callers do.
pub fn inet_addr(text: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut addr: u32 = 0;
    let mut octet: u32 = 0;
    let mut dots = 0;
    for &c in text {
        match c {
            b'0'..=b'9' => {
                octet = octet * 10 + u32::from(c - b'0');
                if octet > 255 {
                    return None;
                }
            }
            b'.' => {
                addr = (addr << 8) | octet;
                octet = 0;
                dots += 1;
            }
            _ => return None,
        }
    }
    if dots != 3 {
        return None;
    }
    let addr = (addr << 8) | octet;
    (addr != u32::MAX).then(|| std::net::Ipv4Addr::from(addr))
}

fn number_with_unit<'a>(
    units: &'static str,
) -> impl Parser<&'a [u8], Output = (&'a [u8], Option<char>), Error = nom::error::Error<&'a [u8]>> {
    (digit1, opt(one_of(units)))
}

fn scaled(digits: &[u8], unit: Option<char>) -> Option<i64> {
    let scale: i64 = match unit.map(|u| u.to_ascii_lowercase()) {
        Some('k') => 1024,
        Some('m') => 1024 * 1024,
        Some('g') => 1024 * 1024 * 1024,
        _ => 1,
    };
    let value = atoi(digits)?;
    if value > MAX_INT / scale {
        return None;
    }
    Some(value * scale)
}

/// `ngx_parse_size`: a number with an optional k/K or m/M.
pub fn parse_size(s: &[u8]) -> Option<i64> {
    let parsed: IResult<&[u8], (&[u8], Option<char>)> =
        all_consuming(number_with_unit("kKmM")).parse(s);
    let (_, (digits, unit)) = parsed.ok()?;
    scaled(digits, unit)
}

/// `ngx_parse_offset`: a number with an optional k, m or g.
pub fn parse_offset(s: &[u8]) -> Option<i64> {
    let parsed: IResult<&[u8], (&[u8], Option<char>)> =
        all_consuming(number_with_unit("kKmMgG")).parse(s);
    let (_, (digits, unit)) = parsed.ok()?;
    scaled(digits, unit)
}

/// `ngx_parse_time`: `1h 30m`, `500ms`, `10` ...; in seconds when `is_sec`,
/// else in milliseconds. Units must come in decreasing order.
pub fn parse_time(s: &[u8], is_sec: bool) -> Option<i64> {
    // Steps in nginx's order: start, year, month, week, day, hour, min, sec, msec, last.
    let mut step = if is_sec { 0 } else { 2 };
    let mut value: i64 = 0;
    let mut total: i64 = 0;
    let mut valid = false;
    let mut rest = s;
    while !rest.is_empty() {
        let digits: IResult<&[u8], &[u8]> = digit1(rest);
        if let Ok((after, digits)) = digits {
            for &c in digits {
                value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
            }
            valid = true;
            rest = after;
            continue;
        }
        let unit: IResult<&[u8], &[u8]> = alt((
            tag("ms"),
            tag("y"),
            tag("M"),
            tag("w"),
            tag("d"),
            tag("h"),
            tag("m"),
            tag("s"),
            tag(" "),
        ))
        .parse(rest);
        let (after, unit) = unit.ok()?;
        let (new_step, mut scale): (u8, i64) = match unit {
            b"y" => (1, 60 * 60 * 24 * 365),
            b"M" => (2, 60 * 60 * 24 * 30),
            b"w" => (3, 60 * 60 * 24 * 7),
            b"d" => (4, 60 * 60 * 24),
            b"h" => (5, 60 * 60),
            b"m" => (6, 60),
            b"s" => (7, 1),
            b"ms" => {
                if is_sec {
                    return None;
                }
                (8, 1)
            }
            _ => (9, 1),
        };
        // nginx: `y` needs step == start; `ms` and the others need a step
        // below theirs; a space needs a step below seconds.
        let refused = match new_step {
            1 => step > 0,
            9 => step >= 7,
            n => step >= n,
        };
        if refused {
            return None;
        }
        step = new_step;
        let mut max = MAX_INT / scale;
        if new_step != 8 && !is_sec {
            scale *= 1000;
            max /= 1000;
        }
        if value > max {
            return None;
        }
        value *= scale;
        total = total.checked_add(value)?;
        value = 0;
        rest = after;
        while let Some((b' ', tail)) = rest.split_first() {
            rest = tail;
        }
    }
    if !valid {
        return None;
    }
    if !is_sec {
        value = value.checked_mul(1000)?;
    }
    total.checked_add(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_addr_as_nginx_reads_it() {
        use std::net::Ipv4Addr;
        assert_eq!(inet_addr(b"10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_addr(b"010.0.0.01"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_addr(b"1..2.3"), Some(Ipv4Addr::new(1, 0, 2, 3)));
        assert_eq!(inet_addr(b"1.2.3"), None);
        assert_eq!(inet_addr(b"1.2.3.4.5"), None);
        assert_eq!(inet_addr(b"1.2.3.256"), None);
        assert_eq!(inet_addr(b"1.2.3.x"), None);
        // INADDR_NONE: refused like nginx's callers refuse it.
        assert_eq!(inet_addr(b"255.255.255.255"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(b"10"), Some(10));
        assert_eq!(parse_size(b"10k"), Some(10240));
        assert_eq!(parse_size(b"1M"), Some(1 << 20));
        assert_eq!(parse_size(b"1g"), None);
        assert_eq!(parse_offset(b"1g"), Some(1 << 30));
        assert_eq!(parse_size(b"-1"), None);
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"1020000M"), Some(1_020_000 << 20));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(b"60s", false), Some(60_000));
        assert_eq!(parse_time(b"60", false), Some(60_000));
        assert_eq!(parse_time(b"500ms", false), Some(500));
        assert_eq!(parse_time(b"1h 30m", true), Some(5400));
        assert_eq!(parse_time(b"1m1h", true), None);
        assert_eq!(parse_time(b"500ms", true), None);
        assert_eq!(parse_time(b"1y", false), None);
        assert_eq!(parse_time(b"1d", true), Some(86400));
        assert_eq!(parse_time(b"x", true), None);
        assert_eq!(parse_time(b"", true), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(atoi(b"42"), Some(42));
        assert_eq!(atoi(b"4x"), None);
        assert_eq!(atoi(b"99999999999999999999"), None);
    }
}
