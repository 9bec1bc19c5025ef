//! `root` and `alias`, and the URI to file name mapping of
//! `ngx_http_map_uri_to_path` (src/http/ngx_http_core_module.c).
//!
//! `root` appends the whole URI to its value; `alias` replaces the
//! location's name (the first `alias` bytes of the URI) with its value. In a
//! regex location `alias` is the whole file name, captures included
//! ([`Alias::Whole`]). A level that sets neither inherits both from its
//! parent, alias length included (`ngx_http_core_merge_loc_conf`). A root
//! without variables is made absolute under the prefix when the
//! configuration is read (`ngx_conf_full_name`), one with variables when the
//! request evaluates it (`ngx_get_full_name`).

use upgate_conf::Directive;

use crate::conf::LocConf;
use crate::error::CompileError;
use crate::request::Request;
use crate::variable::{Template, UserVars};

/// How much of the URI the value replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alias {
    /// `root`: nothing, the URI is appended.
    #[default]
    None,
    /// `alias` in a prefix location: the first N bytes (the location name).
    Len(usize),
    /// `alias` in a regex location: the value is the whole file name.
    Whole,
}

/// `root` / `alias` of a level.
#[derive(Debug, Clone)]
pub struct Root {
    pub value: Template,
    pub alias: Alias,
    /// The prefix, for values with variables that evaluate to a relative path.
    pub prefix: Vec<u8>,
}

impl Default for Root {
    fn default() -> Self {
        Root {
            value: Template::literal(b"html"),
            alias: Alias::None,
            prefix: Vec::new(),
        }
    }
}

/// nginx's `ngx_conf_full_name` / `ngx_get_full_name`: a relative name is
/// under the prefix.
pub fn full_name(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if name.first() == Some(&b'/') || prefix.is_empty() {
        return name.to_vec();
    }
    let mut out = prefix.to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// Applies a level's `root` or `alias` (`ngx_http_core_root`). `name` is the
/// location's name (empty for http and server), `regex` whether it is a
/// regex location.
pub fn apply(
    conf: &mut LocConf,
    dirs: &[&Directive],
    name: &[u8],
    regex: bool,
    http: bool,
    prefix: &[u8],
    user: &UserVars,
) -> Result<(), CompileError> {
    let found = dirs.iter().rev().find(|d| d.is("root") || d.is("alias"));
    let Some(d) = found else {
        if http {
            conf.root = std::sync::Arc::new(Root {
                value: Template::literal(&full_name(prefix, b"html")),
                alias: Alias::None,
                prefix: prefix.to_vec(),
            });
        }
        return Ok(());
    };
    let Some(word) = d.args.first() else {
        return Err(CompileError::invalid(d, "invalid number of arguments"));
    };
    let alias = d.is("alias");
    let mut value = word.value.clone();
    let absolute = value.first() == Some(&b'/');
    if !alias && value.last() == Some(&b'/') {
        value.pop();
    }
    if !absolute && value.first() != Some(&b'$') {
        value = full_name(prefix, &value);
    }
    let template = crate::conf::template(
        &upgate_conf::Word {
            value,
            ..word.clone()
        },
        user,
    )?;
    conf.root = std::sync::Arc::new(Root {
        value: template,
        alias: match (alias, regex) {
            (false, _) => Alias::None,
            (true, true) => Alias::Whole,
            (true, false) => Alias::Len(name.len()),
        },
        prefix: prefix.to_vec(),
    });
    Ok(())
}

/// A mapped file name: the path and how many of its bytes are the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedPath {
    pub path: Vec<u8>,
    pub root_len: usize,
}

impl Request<'_> {
    /// `ngx_http_map_uri_to_path`; the error is what nginx logs at `alert`.
    pub fn map_uri_to_path(&mut self) -> Result<MappedPath, String> {
        let rt = self.rt;
        let conf = &rt.location(self.location).conf;
        let root = conf.root.clone();
        if root.alias != Alias::None && !self.valid_location {
            return Err(format!(
                "\"alias\" cannot be used in location \"{}\" where URI was rewritten",
                String::from_utf8_lossy(&rt.location(self.location).name)
            ));
        }
        let (mut path, skip) = match (root.value.as_literal(), root.alias) {
            (Some(v), Alias::None) => (v.to_vec(), 0),
            (Some(v), Alias::Len(n)) => (v.to_vec(), n),
            (_, alias) => {
                let v = self.eval(&root.value);
                let v = full_name(&root.prefix, &v);
                match alias {
                    Alias::Whole if !self.add_uri_to_alias => {
                        let root_len = v.len();
                        return Ok(MappedPath { path: v, root_len });
                    }
                    Alias::Whole => (v, 0),
                    Alias::Len(n) => (v, n),
                    Alias::None => (v, 0),
                }
            }
        };
        let root_len = path.len();
        path.extend_from_slice(self.uri.get(skip.min(self.uri.len())..).unwrap_or_default());
        Ok(MappedPath { path, root_len })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::full_name;
    use crate::test_support::request_for;

    #[test]
    fn relative_names_are_under_the_prefix() {
        assert_eq!(full_name(b"/p/", b"html"), b"/p/html");
        assert_eq!(full_name(b"/p", b"html"), b"/p/html");
        assert_eq!(full_name(b"/p/", b"/srv"), b"/srv");
    }

    fn mapped(conf: &str, uri: &str) -> String {
        request_for(conf, uri, |r| {
            let m = r.map_uri_to_path().unwrap();
            String::from_utf8(m.path).unwrap()
        })
    }

    #[test]
    fn root_appends_the_uri() {
        let conf = "root /srv/www/; location /a/ { } location /b/ { root /b; }";
        assert_eq!(mapped(conf, "/a/x.html"), "/srv/www/a/x.html");
        assert_eq!(mapped(conf, "/b/x"), "/b/b/x");
        assert_eq!(mapped("", "/x"), "/prefix/html/x");
    }

    #[test]
    fn alias_replaces_the_location_name() {
        let conf = "location /img/ { alias /data/pictures/; location /img/n/ { } }";
        assert_eq!(mapped(conf, "/img/a.png"), "/data/pictures/a.png");
        // nested locations inherit the alias and its length
        assert_eq!(mapped(conf, "/img/n/b.png"), "/data/pictures/n/b.png");
    }

    #[test]
    fn alias_with_regex_captures_is_the_whole_name() {
        let conf = r"location ~ ^/u/(\w+)/(.*)$ { alias /home/$1/public/$2; }";
        assert_eq!(mapped(conf, "/u/ann/a/b.txt"), "/home/ann/public/a/b.txt");
    }

    #[test]
    fn root_with_variables_is_evaluated() {
        let conf = "location / { root html/$host; }";
        assert_eq!(mapped(conf, "/x"), "/prefix/html/example.com/x");
    }
}
