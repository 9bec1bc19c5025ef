//! Conditional requests on a static file: `ngx_http_not_modified_filter`
//! (src/http/modules/ngx_http_not_modified_filter_module.c) and the date
//! parser it uses, `ngx_parse_http_time` (src/core/ngx_parse_time.c).
//!
//! Only a 200 is tested. If-Unmodified-Since and If-Match that fail give
//! 412; then If-Modified-Since (per `if_modified_since`: `off`, `exact`
//! (equal dates), `before` (not newer)) and If-None-Match (weak
//! comparison) turn it into a 304 when every one present says "not
//! modified".

use upgate_runtime::conf::IfModifiedSince;

/// The validators of the response.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    pub last_modified: i64,
    pub etag: Option<&'a [u8]>,
    pub ims: IfModifiedSince,
}

/// The conditional request headers (the first of each).
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub if_unmodified_since: Option<&'a [u8]>,
    pub if_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
}

/// What the filter decides for a 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    NotModified,
    PreconditionFailed,
}

/// `ngx_http_not_modified_header_filter`.
pub fn decide(c: &Conditions<'_>, v: &Validators<'_>) -> Decision {
    if let Some(h) = c.if_unmodified_since
        && parse_http_time(h) < v.last_modified
    {
        return Decision::PreconditionFailed;
    }
    if let Some(h) = c.if_match
        && !test_if_match(h, v.etag, false)
    {
        return Decision::PreconditionFailed;
    }
    if c.if_modified_since.is_none() && c.if_none_match.is_none() {
        return Decision::Send;
    }
    if let Some(h) = c.if_modified_since
        && modified(h, v)
    {
        return Decision::Send;
    }
    if let Some(h) = c.if_none_match
        && !test_if_match(h, v.etag, true)
    {
        return Decision::Send;
    }
    Decision::NotModified
}

/// `ngx_http_test_if_modified`.
fn modified(h: &[u8], v: &Validators<'_>) -> bool {
    if v.ims == IfModifiedSince::Off {
        return true;
    }
    let ims = parse_http_time(h);
    if ims == v.last_modified {
        return false;
    }
    v.ims == IfModifiedSince::Exact || ims < v.last_modified
}

/// `ngx_http_test_if_match`: whether the list names the entity tag.
pub fn test_if_match(list: &[u8], etag: Option<&[u8]>, weak: bool) -> bool {
    if list == b"*" {
        return true;
    }
    let Some(mut etag) = etag else {
        return false;
    };
    if weak && etag.len() > 2 && etag.starts_with(b"W/") {
        etag = &etag[2..];
    }
    let mut p = 0;
    let end = list.len();
    while p < end {
        if weak && end - p > 2 && list[p..].starts_with(b"W/") {
            p += 2;
        }
        if etag.len() > end - p {
            return false;
        }
        if list[p..].starts_with(etag) {
            p += etag.len();
            while p < end && matches!(list[p], b' ' | b'\t') {
                p += 1;
            }
            if p == end || list[p] == b',' {
                return true;
            }
        }
        while p < end && list[p] != b',' {
            p += 1;
        }
        while p < end && matches!(list[p], b' ' | b'\t' | b',') {
            p += 1;
        }
    }
    false
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `ngx_parse_http_time`: RFC 822 (`Mon, 28 Sep 1970 06:00:00 GMT`), RFC 850
/// (`Monday, 28-Sep-70 06:00:00 GMT`) and asctime (`Mon Sep 28 06:00:00
/// 1970`); -1 when it is none of them.
pub fn parse_http_time(value: &[u8]) -> i64 {
    parse(value).unwrap_or(-1)
}

fn parse(v: &[u8]) -> Option<i64> {
    let mut p = 0;
    while p < v.len() && v[p] != b',' && v[p] != b' ' {
        p += 1;
    }
    let asctime = v.get(p) == Some(&b' ');
    p += 1;
    while v.get(p) == Some(&b' ') {
        p += 1;
    }
    let num = |p: &mut usize, n: usize| -> Option<i64> {
        let s = v.get(*p..*p + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *p += n;
        Some(s.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
    };
    let month = |p: &mut usize| -> Option<i64> {
        let s = v.get(*p..*p + 3)?;
        let m = MONTHS.iter().position(|m| *m == s)?;
        *p += 3;
        Some(m as i64)
    };
    let (day, mon, year, hour, min, sec);
    if asctime {
        mon = month(&mut p)?;
        if v.get(p) != Some(&b' ') {
            return None;
        }
        p += 1;
        if v.get(p) == Some(&b' ') {
            p += 1;
            day = num(&mut p, 1)?;
        } else {
            day = num(&mut p, 2)?;
        }
        if v.get(p) != Some(&b' ') {
            return None;
        }
        p += 1;
        (hour, min, sec) = hms(v, &mut p, &num)?;
        if v.get(p) != Some(&b' ') {
            return None;
        }
        p += 1;
        year = num(&mut p, 4)?;
    } else {
        day = num(&mut p, 2)?;
        let sep = *v.get(p)?;
        if sep != b' ' && sep != b'-' {
            return None;
        }
        p += 1;
        mon = month(&mut p)?;
        if v.get(p) != Some(&sep) {
            return None;
        }
        p += 1;
        year = if sep == b'-' {
            let y = num(&mut p, 2)?;
            y + if y < 70 { 2000 } else { 1900 }
        } else {
            num(&mut p, 4)?
        };
        if v.get(p) != Some(&b' ') {
            return None;
        }
        p += 1;
        (hour, min, sec) = hms(v, &mut p, &num)?;
        if v.get(p..p + 4) != Some(b" GMT") {
            return None;
        }
    }
    if hour > 23 || min > 59 || sec > 59 || day == 0 || day > 31 {
        return None;
    }
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > mdays[mon as usize] {
        return None;
    }
    Some(days_from_civil(year, mon + 1, day) * 86400 + hour * 3600 + min * 60 + sec)
}

type Num<'a> = dyn Fn(&mut usize, usize) -> Option<i64> + 'a;

fn hms(v: &[u8], p: &mut usize, num: &Num<'_>) -> Option<(i64, i64, i64)> {
    let h = num(p, 2)?;
    if v.get(*p) != Some(&b':') {
        return None;
    }
    *p += 1;
    let m = num(p, 2)?;
    if v.get(*p) != Some(&b':') {
        return None;
    }
    *p += 1;
    let s = num(p, 2)?;
    Some((h, m, s))
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_date_formats() {
        assert_eq!(parse_http_time(b"Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
        assert_eq!(
            parse_http_time(b"Sunday, 06-Nov-94 08:49:37 GMT"),
            784111777
        );
        assert_eq!(parse_http_time(b"Sun Nov  6 08:49:37 1994"), 784111777);
        assert_eq!(parse_http_time(b"yesterday"), -1);
    }

    fn v(etag: &'static [u8]) -> Validators<'static> {
        Validators {
            last_modified: 784111777,
            etag: Some(etag),
            ims: IfModifiedSince::Exact,
        }
    }

    #[test]
    fn not_modified_when_every_condition_says_so() {
        let ims = Conditions {
            if_modified_since: Some(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            ..Conditions::default()
        };
        assert_eq!(decide(&ims, &v(b"\"a\"")), Decision::NotModified);
        let both = Conditions {
            if_none_match: Some(b"\"b\""),
            ..ims
        };
        assert_eq!(decide(&both, &v(b"\"a\"")), Decision::Send);
        let weak = Conditions {
            if_none_match: Some(b"\"x\", W/\"a\""),
            ..Conditions::default()
        };
        assert_eq!(decide(&weak, &v(b"\"a\"")), Decision::NotModified);
        let older = Conditions {
            if_modified_since: Some(b"Sun, 06 Nov 1994 08:49:38 GMT"),
            ..Conditions::default()
        };
        assert_eq!(decide(&older, &v(b"\"a\"")), Decision::Send);
        let before = Validators {
            ims: IfModifiedSince::Before,
            ..v(b"\"a\"")
        };
        assert_eq!(decide(&older, &before), Decision::NotModified);
    }

    #[test]
    fn preconditions() {
        let c = Conditions {
            if_match: Some(b"\"b\""),
            ..Conditions::default()
        };
        assert_eq!(decide(&c, &v(b"\"a\"")), Decision::PreconditionFailed);
        let c = Conditions {
            if_unmodified_since: Some(b"Sun, 06 Nov 1994 08:49:36 GMT"),
            ..Conditions::default()
        };
        assert_eq!(decide(&c, &v(b"\"a\"")), Decision::PreconditionFailed);
    }
}
