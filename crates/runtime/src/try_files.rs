//! `try_files` (ngx_http_try_files_module.c in nginx 1.29, the try_files
//! phase of ngx_http_core_module.c before): each name but the last is
//! tested under root/alias; a name ending in `/` must be a directory, the
//! others must not be. The first that exists becomes the URI (no location
//! search: the request stays where it is). When none exists, the last
//! argument decides: `=code`, `@name` (named location) or a URI (internal
//! redirect, with its own args).

use upgate_conf::Directive;

use crate::error::CompileError;
use crate::files::Files;
use crate::request::Request;
use crate::root::Alias;
use crate::variable::{Template, UserVars};

/// One name to test.
#[derive(Debug, Clone)]
pub struct TryName {
    pub name: Template,
    /// Written with a trailing `/` (removed from `name`).
    pub test_dir: bool,
}

/// The last argument.
#[derive(Debug, Clone)]
pub enum Fallback {
    /// `=code`.
    Code(u16),
    /// A URI or `@name`.
    Uri(Template),
}

/// A `try_files` directive.
#[derive(Debug, Clone)]
pub struct TryFiles {
    pub names: Vec<TryName>,
    pub fallback: Fallback,
}

impl TryFiles {
    /// `ngx_http_try_files`.
    pub fn parse(d: &Directive, user: &UserVars) -> Result<TryFiles, CompileError> {
        let Some((last, names)) = d.args.split_last() else {
            return Err(CompileError::invalid(
                d,
                "invalid number of arguments in \"try_files\" directive",
            ));
        };
        let mut out = Vec::new();
        for w in names {
            let mut word = w.clone();
            let test_dir = word.value.last() == Some(&b'/');
            if test_dir {
                word.value.pop();
            }
            out.push(TryName {
                name: crate::conf::template(&word, user)?,
                test_dir,
            });
        }
        let fallback = match last.value.strip_prefix(b"=") {
            Some(code) => Fallback::Code(
                std::str::from_utf8(code)
                    .ok()
                    .and_then(|t| t.parse::<u16>().ok())
                    .filter(|&c| c <= 999)
                    .ok_or_else(|| {
                        CompileError::at(last, format!("invalid code \"{}\"", last.text()))
                    })?,
            ),
            None => Fallback::Uri(crate::conf::template(last, user)?),
        };
        Ok(TryFiles {
            names: out,
            fallback,
        })
    }
}

/// What a handler of the phases did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The next handler runs (for try_files: with the URI it found).
    Declined,
    /// An internal redirect or a named location: the phases run again.
    Redirected,
    /// The request ends with this status.
    Status(u16),
}

impl Request<'_> {
    /// `ngx_http_try_files_handler`.
    pub(crate) fn try_files(&mut self, tf: &TryFiles, files: &dyn Files) -> Step {
        let rt = self.rt;
        let alias = rt.location(self.location).conf.root.alias;
        for t in &tf.names {
            let Some((path, value)) = self.try_path(&t.name, alias) else {
                return Step::Status(500);
            };
            let kind = files.stat(&path);
            let found = match &kind {
                Ok(k) => (*k == crate::files::FileKind::Dir) == t.test_dir,
                Err(_) => false,
            };
            self.trace.push(format!(
                "try_files: \"{}\" {} {}",
                String::from_utf8_lossy(&path),
                if found { "is" } else { "is not" },
                if t.test_dir { "a directory" } else { "a file" },
            ));
            if !found {
                continue;
            }
            match alias {
                Alias::None => self.uri = value,
                Alias::Whole => {
                    if !t.test_dir {
                        self.uri = value;
                        self.add_uri_to_alias = true;
                    }
                }
                Alias::Len(n) => {
                    let mut uri = self.uri.get(..n).unwrap_or(&self.uri).to_vec();
                    uri.extend_from_slice(&value);
                    self.uri = uri;
                }
            }
            return Step::Declined;
        }
        match &tf.fallback {
            Fallback::Code(code) => Step::Status(*code),
            Fallback::Uri(t) => {
                let Some((_, value)) = self.try_path(t, alias) else {
                    return Step::Status(500);
                };
                if value.first() == Some(&b'@') {
                    self.named_location(&value);
                } else {
                    let (uri, args) = crate::error_page::split_args(&value);
                    self.internal_redirect(uri, args);
                }
                Step::Redirected
            }
        }
    }

    /// The file name tested for one argument and the argument's value as
    /// nginx keeps it (for an alias, without the location prefix).
    fn try_path(&mut self, name: &Template, alias: Alias) -> Option<(Vec<u8>, Vec<u8>)> {
        let mapped = match self.map_uri_to_path() {
            Ok(m) => m,
            Err(e) => {
                self.log.push((upgate_conf::Level::Alert, e));
                return None;
            }
        };
        let mut value = self.eval(name);
        if name.as_literal().is_none()
            && let Alias::Len(n) = alias
            && n > 0
            && self.uri.len() >= n
            && value.starts_with(&self.uri[..n])
        {
            value.drain(..n);
        }
        let mut path = mapped.path[..mapped.root_len].to_vec();
        path.extend_from_slice(&value);
        Some((path, value))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::files::MemFiles;
    use crate::test_support::decide;

    const DEBIAN: &str = "root /var/www/html; index index.html index.htm index.nginx-debian.html;
        location / { try_files $uri $uri/ =404; }";

    fn site() -> MemFiles {
        MemFiles::new(
            &[
                "/var/www/html/index.nginx-debian.html",
                "/var/www/html/a.txt",
            ],
            &["/var/www/html/dir"],
        )
    }

    #[test]
    fn debian_default_site() {
        // "/" is a directory: the index module finds its third name
        assert_eq!(
            decide(DEBIAN, "GET", "/", &site()),
            "static /index.nginx-debian.html /var/www/html/index.nginx-debian.html"
        );
        assert_eq!(
            decide(DEBIAN, "GET", "/a.txt", &site()),
            "static /a.txt /var/www/html/a.txt"
        );
        // a directory without its slash: the static module answers 301
        assert_eq!(
            decide(DEBIAN, "GET", "/dir", &site()),
            "static /dir /var/www/html/dir"
        );
        // no index file in the directory: 403
        assert_eq!(decide(DEBIAN, "GET", "/dir/", &site()), "respond 403");
        assert_eq!(decide(DEBIAN, "GET", "/missing", &site()), "respond 404");
    }

    #[test]
    fn fallback_uri_and_named_location() {
        let conf = "root /r; location / { try_files $uri /index.php?q=$uri&$args; }
            location = /index.php { return 200 \"php $args\"; }";
        assert_eq!(
            decide(conf, "GET", "/x?a=1", &MemFiles::default()),
            "respond 200 php q=/x&a=1"
        );
        let conf = "root /r; location / { try_files $uri @back; } location @back { return 200 \"back $uri\"; }";
        assert_eq!(
            decide(conf, "GET", "/y", &MemFiles::default()),
            "respond 200 back /y"
        );
        assert_eq!(
            decide(conf, "GET", "/y", &MemFiles::new(&["/r/y"], &[])),
            "static /y /r/y"
        );
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let conf = "root /r; location / { try_files $uri/ =418; }";
        assert_eq!(
            decide(conf, "GET", "/f", &MemFiles::new(&["/r/f"], &[])),
            "respond 418"
        );
        assert_eq!(
            decide(conf, "GET", "/d", &MemFiles::new(&[], &["/r/d"])),
            // the URI stays "/d": the static module answers 301 to "/d/"
            "static /d /r/d"
        );
    }

    #[test]
    fn if_file_tests_ask_the_files() {
        let conf = "root /r; location / { if (!-f $request_filename) { return 200 \"none $document_root\"; } }";
        assert_eq!(
            decide(conf, "GET", "/x", &MemFiles::default()),
            "respond 200 none /r"
        );
        assert_eq!(
            decide(conf, "GET", "/x", &MemFiles::new(&["/r/x"], &[])),
            "static /x /r/x"
        );
        let conf = "root /r; location / { if (-d $request_filename) { return 200 \"dir\"; } return 200 \"not\"; }";
        assert_eq!(
            decide(conf, "GET", "/d", &MemFiles::new(&[], &["/r/d"])),
            "respond 200 dir"
        );
        assert_eq!(
            decide(conf, "GET", "/d", &MemFiles::new(&["/r/d"], &[])),
            "respond 200 not"
        );
    }

    #[test]
    fn redirect_loop_ends_in_500() {
        let conf = "root /r; location / { try_files $uri /loop; }";
        assert_eq!(
            decide(conf, "GET", "/x", &MemFiles::default()),
            "respond 500"
        );
    }

    #[test]
    fn alias_keeps_the_location_prefix() {
        let conf = "location /i/ { alias /data/; try_files $uri =404; }";
        assert_eq!(
            decide(
                conf,
                "GET",
                "/i/a.png",
                &MemFiles::new(&["/data/a.png"], &[])
            ),
            "static /i/a.png /data/a.png"
        );
    }
}
