//! Cases from nginx-tests http_uri.t and NGINX-BEHAVIOUR 9.

use super::*;

fn uri(target: &str) -> Result<(String, String), UriError> {
    RequestTarget::parse(target.as_bytes(), true).map(|t| {
        (
            String::from_utf8_lossy(&t.uri).into_owned(),
            String::from_utf8_lossy(&t.args).into_owned(),
        )
    })
}

fn ok(target: &str, expect: &str) {
    assert_eq!(uri(target).map(|u| u.0), Ok(expect.to_string()), "{target}");
}

#[test]
fn dots_and_slashes() {
    ok("/foo/bar/.?args", "/foo/bar/");
    ok("/foo/bar/.#frag", "/foo/bar/");
    ok("/foo/bar/..?args", "/foo/");
    ok("/foo/bar/..#frag", "/foo/");
    ok("/foo/bar/.", "/foo/bar/");
    ok("/foo/bar/..", "/foo/");
    ok("/a//b///c", "/a/b/c");
    ok("/a/./b/../c", "/a/c");
    ok("/api/a%2Fb/../c", "/api/a/c");
    ok("/api/%41", "/api/A");
    ok("/x%3Fy", "/x?y");
    ok("/x%23y", "/x#y");
    ok("/x%25y", "/x%y");
    assert_eq!(uri("/%2e%2e/x"), Err(UriError::AboveRoot));
    ok("/a/%2e%2e/x", "/x");
}

#[test]
fn dot_dot_above_root() {
    assert_eq!(uri("/.."), Err(UriError::AboveRoot));
    assert_eq!(uri("/a/../.."), Err(UriError::AboveRoot));
    assert_eq!(uri("/%2e%2e"), Err(UriError::AboveRoot));
    ok("/a/..", "/");
}

#[test]
fn bad_escapes_and_controls() {
    assert_eq!(uri("/foo/bar%"), Err(UriError::BadEscape));
    assert_eq!(uri("/foo/bar%1"), Err(UriError::BadEscape));
    assert_eq!(uri("/foo/%zz"), Err(UriError::BadEscape));
    assert_eq!(uri("/foo/%00"), Err(UriError::BadEscape));
    assert_eq!(uri("/\x02"), Err(UriError::ControlByte));
    ok("/%02", "/\x02");
    assert_eq!(uri("*"), Err(UriError::InvalidTarget));
}

#[test]
fn absolute_form() {
    let t = RequestTarget::parse(b"http://localhost", true).unwrap();
    assert_eq!(t.uri, b"/");
    assert_eq!(t.host.as_deref(), Some(&b"localhost"[..]));
    let t = RequestTarget::parse(b"http://localhost:8080?args#frag", true).unwrap();
    assert_eq!(
        (t.uri.as_slice(), t.args.as_slice()),
        (&b"/"[..], &b"args"[..])
    );
    assert!(!t.valid_unparsed_uri);
    let t = RequestTarget::parse(b"http://[::1]:80/x?y", true).unwrap();
    assert_eq!(t.host.as_deref(), Some(&b"[::1]"[..]));
    assert_eq!(t.unparsed_uri, b"/x?y");
    assert!(RequestTarget::parse(b"http://a_b/", true).is_err());
}

#[test]
fn args_keep_raw_bytes() {
    assert_eq!(uri("/a?x=%20&y"), Ok(("/a".into(), "x=%20&y".into())));
    assert_eq!(uri("/a/.?q"), Ok(("/a/".into(), "q".into())));
}

#[test]
fn merge_slashes_off() {
    let t = RequestTarget::parse(b"/a//b", false).unwrap();
    assert_eq!(t.uri, b"/a//b");
}

#[test]
fn escape() {
    assert_eq!(escape_uri(b"/a b?c#d%e"), b"/a%20b%3Fc%23d%25e");
    assert_eq!(escape_uri(b"/~a-b_c.d"), b"/~a-b_c.d");
    assert!(!needs_escape(b"/plain/"));
}
