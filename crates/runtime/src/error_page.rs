//! `error_page` (`ngx_http_core_error_page`) and what nginx does when a
//! request ends with a special status (`ngx_http_special_response_handler`,
//! `ngx_http_send_error_page`, src/http/ngx_http_special_response.c).
//!
//! For a listed status: a URI is an internal redirect (the method becomes
//! GET unless it is HEAD), `@name` a jump to the named location, anything
//! else a redirect (302, or the `=code` when it is 301, 302, 303, 307 or
//! 308). `=code` replaces the status of the final response, `=` keeps the
//! status of the redirect's target, and no `=` sends the original status.
//! Without `recursive_error_pages`, the first special response of a level
//! with error pages turns them off for the rest of the request.

use upgate_conf::Directive;

use crate::error::CompileError;
use crate::request::{Outcome, Request, Response};
use crate::variable::{Template, UserVars};

/// One status of an `error_page` line.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: u16,
    /// `None`: no `=`; `Some(0)`: `=` alone; `Some(code)`: `=code`.
    pub overwrite: Option<u16>,
    pub value: Template,
    /// The args of a URI without variables (split when read).
    pub args: Option<Vec<u8>>,
}

/// Parses one `error_page` directive into `list`.
pub fn parse(
    d: &Directive,
    user: &UserVars,
    list: &mut Vec<ErrorPage>,
) -> Result<(), CompileError> {
    let n = d.args.len();
    if n < 2 {
        return Err(CompileError::invalid(
            d,
            "invalid number of arguments in \"error_page\" directive",
        ));
    }
    let (overwrite, codes) = match d.args[n - 2].value.strip_prefix(b"=") {
        Some(_) if n == 2 => {
            return Err(CompileError::at(&d.args[0], "invalid value"));
        }
        Some(b"") => (Some(0), &d.args[..n - 2]),
        Some(rest) => {
            let code = std::str::from_utf8(rest)
                .ok()
                .and_then(|t| t.parse::<u16>().ok())
                .ok_or_else(|| CompileError::at(&d.args[n - 2], "invalid value"))?;
            (Some(code), &d.args[..n - 2])
        }
        None => (None, &d.args[..n - 1]),
    };
    let uri = &d.args[n - 1];
    let mut value = crate::conf::template(uri, user)?;
    let mut args = None;
    if let Some(lit) = value.as_literal()
        && lit.first() == Some(&b'/')
        && let Some(q) = lit.iter().position(|&c| c == b'?')
    {
        args = Some(lit[q + 1..].to_vec());
        value = Template::literal(&lit[..q]);
    }
    for code in codes {
        let status = std::str::from_utf8(&code.value)
            .ok()
            .and_then(|t| t.parse::<u16>().ok())
            .filter(|&s| s != 499)
            .ok_or_else(|| CompileError::at(code, "invalid value"))?;
        if !(300..=599).contains(&status) {
            return Err(CompileError::at(code, "value must be between 300 and 599"));
        }
        let overwrite = match (overwrite, status) {
            (None, 494..=497) => Some(400),
            (o, _) => o,
        };
        list.push(ErrorPage {
            status,
            overwrite,
            value: value.clone(),
            args: args.clone(),
        });
    }
    Ok(())
}

/// What `ngx_http_special_response_handler` did with a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Special {
    /// nginx's own page for the status is sent.
    Page,
    /// An internal redirect or named location: the phases run again.
    Redirected,
    /// A redirect to a URL (`r.outcome` holds it).
    Url,
}

impl Request<'_> {
    /// `ngx_http_special_response_handler` for `status`: applies the level's
    /// error pages.
    pub(crate) fn special_response(&mut self, status: u16) -> Special {
        self.err_status = Some(status);
        let rt = self.rt;
        let conf = &rt.location(self.location).conf;
        if self.error_page || conf.error_pages.is_empty() || self.uri_changes == 0 {
            return Special::Page;
        }
        if !conf.recursive_error_pages {
            self.error_page = true;
        }
        let Some(page) = conf.error_pages.iter().find(|p| p.status == status) else {
            return Special::Page;
        };
        if let Some(o) = page.overwrite {
            self.err_status = (o != 0).then_some(o);
        }
        let uri = self.eval(&page.value);
        self.trace.push(format!(
            "error_page {status} {}: applies",
            String::from_utf8_lossy(&uri)
        ));
        if uri.first() == Some(&b'/') {
            let (uri, args) = match &page.args {
                Some(a) => (uri, a.clone()),
                None if page.value.as_literal().is_some() => (uri, Vec::new()),
                None => split_args(&uri),
            };
            if self.method != b"HEAD" {
                self.method = b"GET".to_vec();
            }
            self.internal_redirect(uri, args);
            return Special::Redirected;
        }
        if uri.first() == Some(&b'@') {
            self.named_location(&uri);
            return Special::Redirected;
        }
        let code = page
            .overwrite
            .filter(|c| matches!(c, 301 | 302 | 303 | 307 | 308))
            .unwrap_or(302);
        self.err_status = Some(code);
        self.outcome = Outcome::Respond(Response {
            status: code,
            location: Some(uri),
            body: Vec::new(),
            reason: format!("error_page {status}"),
        });
        Special::Url
    }
}

/// `ngx_http_split_args`: the part after the first `?`.
pub fn split_args(uri: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match uri.iter().position(|&c| c == b'?') {
        Some(q) => (uri[..q].to_vec(), uri[q + 1..].to_vec()),
        None => (uri.to_vec(), Vec::new()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::files::MemFiles;
    use crate::test_support::{decide, with_request};

    fn d(conf: &str, uri: &str) -> String {
        decide(conf, "GET", uri, &MemFiles::default())
    }

    #[test]
    fn a_uri_is_an_internal_redirect_with_the_original_status() {
        let conf = "location /x { error_page 405 /t; return 405; }
            location = /t { return 200 \"t $request_method\"; }";
        assert_eq!(d(conf, "/x"), "respond 405 t GET");
        let conf = "location /x { error_page 405 = /t; return 405; }
            location = /t { return 201 \"t\"; }";
        assert_eq!(d(conf, "/x"), "respond 201 t");
        let conf = "location /x { error_page 405 =299 /t; return 405; }
            location = /t { return 201 \"t\"; }";
        assert_eq!(d(conf, "/x"), "respond 299 t");
    }

    #[test]
    fn urls_and_named_locations() {
        let conf = "location /x { error_page 404 http://h/nf; return 404; }";
        assert_eq!(d(conf, "/x"), "redirect 302 http://h/nf");
        let conf = "location /x { error_page 404 =301 http://h/nf; return 404; }";
        assert_eq!(d(conf, "/x"), "redirect 301 http://h/nf");
        let conf = "location /x { error_page 404 =200 @n; return 404; } location @n { return 200 \"n $uri\"; }";
        assert_eq!(d(conf, "/x"), "respond 200 n /x");
    }

    #[test]
    fn a_level_with_its_own_list_replaces_the_inherited_one() {
        let conf = "error_page 404 /nf; location = /nf { return 200 \"nf\"; }
            location /a { return 404; }
            location /b { error_page 500 /nf; return 404; }";
        assert_eq!(d(conf, "/a"), "respond 404 nf");
        assert_eq!(d(conf, "/b"), "respond 404");
    }

    #[test]
    fn error_pages_apply_once_unless_recursive() {
        let conf = "location /x { error_page 404 /y; return 404; }
            location /y { error_page 404 /z; return 404; }
            location /z { return 200 \"z\"; }";
        assert_eq!(d(conf, "/x"), "respond 404");
        let conf = format!("recursive_error_pages on; {conf}");
        assert_eq!(d(&conf, "/x"), "respond 404 z");
        let conf = "recursive_error_pages on; location / { error_page 404 /loop; return 404; }";
        assert_eq!(d(conf, "/x"), "respond 500");
        let log = with_request(conf, "GET", "/x", &MemFiles::default(), |r| r.log.clone());
        assert!(
            log.iter()
                .any(|(_, l)| l.contains("rewrite or internal redirection cycle")),
            "{log:?}"
        );
    }

    #[test]
    fn return_444_closes_without_error_pages() {
        let conf = "error_page 444 /p; location /x { return 444; }";
        assert_eq!(d(conf, "/x"), "respond 444");
    }
}
