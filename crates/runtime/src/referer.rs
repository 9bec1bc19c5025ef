//! The referer module (src/http/modules/ngx_http_referer_module.c):
//! `valid_referers` and `$invalid_referer` ("1" when the Referer is not
//! one of them, "" when it is). Host names and wildcards go in nginx's
//! combined hash, each with an optional URI prefix; `server_names` adds the
//! server's names (its regex names are tried on the host); `~regex` entries
//! are tried, caselessly, on what follows the scheme. `none` accepts a
//! request without Referer, `blocked` one whose Referer has no http(s)
//! scheme (a firewall's `Referer: XXXXX`).
//!
//! Merging follows the module's merge: a level without `valid_referers`
//! takes its parent's whole setting; one with it builds its own hash and
//! takes the parent's regexes only when it has none. (The directive is not
//! allowed at the http level.)

use std::sync::Arc;

use upgate_conf::Directive;

use crate::compile::RegexCache;
use crate::error::CompileError;
use crate::regex::Regex;
use crate::request::Request;
use crate::server::ServerName;
use crate::server_name::{Added, HostTable};

/// `ngx_http_referer_conf_t` after merging.
#[derive(Debug, Clone, Default)]
pub struct RefererConf {
    /// Host names and wildcards, each with its URI prefix.
    hash: Option<Arc<HostTable<Option<Vec<u8>>>>>,
    regex: Option<Arc<Vec<Regex>>>,
    server_name_regex: Option<Arc<Vec<Regex>>>,
    none: bool,
    blocked: bool,
}

impl RefererConf {
    /// Merges the `valid_referers` lines of a level (`server_names`: the
    /// server's names).
    pub fn merge(
        parent: &RefererConf,
        dirs: &[&Directive],
        server_names: &[ServerName],
        regexes: &mut RegexCache,
    ) -> Result<RefererConf, CompileError> {
        let lines: Vec<&&Directive> = dirs.iter().filter(|d| d.is("valid_referers")).collect();
        if lines.is_empty() {
            return Ok(parent.clone());
        }
        let mut table = HostTable::new(true);
        let mut hosts = 0;
        let mut own_regex = Vec::new();
        let mut none = false;
        let mut blocked = false;
        let mut with_server_names = false;
        for d in &lines {
            for a in &d.args {
                let v = a.value.as_slice();
                match v {
                    b"" => return Err(CompileError::at(a, "invalid referer \"\"")),
                    b"none" => none = true,
                    b"blocked" => blocked = true,
                    b"server_names" => with_server_names = true,
                    _ if v[0] == b'~' => {
                        if v.len() == 1 {
                            return Err(CompileError::at(
                                a,
                                format!("empty regex in \"{}\"", a.text()),
                            ));
                        }
                        own_regex.push(
                            regexes
                                .get(&v[1..], true)
                                .map_err(|e| CompileError::regex(a, e))?,
                        );
                    }
                    _ => {
                        let (host, uri) = match v.iter().position(|&c| c == b'/') {
                            Some(i) => (&v[..i], Some(v[i..].to_vec())),
                            None => (v, None),
                        };
                        match table.add(host, uri) {
                            Added::Ok => hosts += 1,
                            Added::Conflict => {
                                return Err(CompileError::at(
                                    a,
                                    format!(
                                        "conflicting parameter \"{}\"",
                                        String::from_utf8_lossy(host)
                                    ),
                                ));
                            }
                            Added::Invalid => {
                                return Err(CompileError::at(
                                    a,
                                    format!(
                                        "invalid hostname or wildcard \"{}\"",
                                        String::from_utf8_lossy(host)
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }
        let regex = if own_regex.is_empty() {
            parent.regex.clone()
        } else {
            Some(Arc::new(own_regex))
        };
        let mut name_regex = Vec::new();
        if with_server_names {
            for n in server_names {
                match &n.regex {
                    Some(re) => name_regex.push(re.clone()),
                    None if n.name.is_empty() => {}
                    None => {
                        if table.add(&n.name, None) == Added::Ok {
                            hosts += 1;
                        }
                    }
                }
            }
        }
        if (none || blocked) && hosts == 0 {
            return Err(CompileError::invalid(
                lines[0],
                "the \"none\" or \"blocked\" referers are specified in the \"valid_referers\" directive without any valid referer",
            ));
        }
        Ok(RefererConf {
            hash: (hosts > 0).then(|| Arc::new(table)),
            regex,
            server_name_regex: if name_regex.is_empty() {
                parent.server_name_regex.clone()
            } else {
                Some(Arc::new(name_regex))
            },
            none,
            blocked,
        })
    }

    /// `ngx_http_referer_variable`: whether `referer` is valid.
    pub fn valid(&self, referer: Option<&[u8]>) -> bool {
        if self.hash.is_none() && self.regex.is_none() && self.server_name_regex.is_none() {
            return true;
        }
        let Some(value) = referer else {
            return self.none;
        };
        let rest = if value.len() >= "http://i.ru".len() {
            if value[..7].eq_ignore_ascii_case(b"http://") {
                Some(&value[7..])
            } else if value[..8].eq_ignore_ascii_case(b"https://") {
                Some(&value[8..])
            } else {
                None
            }
        } else {
            None
        };
        let Some(rest) = rest else {
            return self.blocked;
        };
        let host_end = rest
            .iter()
            .position(|&c| c == b'/' || c == b':')
            .unwrap_or(rest.len());
        if host_end > 256 {
            return false;
        }
        let host = rest[..host_end].to_ascii_lowercase();
        if let Some((uri, _)) = self.hash.as_ref().and_then(|h| h.find_hashed(&host)) {
            let Some(uri) = uri else {
                return true;
            };
            // the path after any port
            let path = rest[host_end..]
                .iter()
                .position(|&c| c == b'/')
                .map_or(&[][..], |i| &rest[host_end + i..]);
            return path.starts_with(uri);
        }
        if let Some(list) = &self.server_name_regex
            && list.iter().any(|re| re.is_match(&host))
        {
            return true;
        }
        self.regex
            .as_ref()
            .is_some_and(|list| list.iter().any(|re| re.is_match(rest)))
    }
}

impl Request<'_> {
    /// `$invalid_referer`.
    pub(crate) fn invalid_referer(&self) -> Vec<u8> {
        let conf = &self.rt.location(self.location).conf.referer;
        if conf.valid(self.client.header_values(b"referer").next()) {
            Vec::new()
        } else {
            b"1".to_vec()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn conf(args: &str, names: &[&str]) -> Result<RefererConf, CompileError> {
        let text = format!("events {{}}\nhttp {{ server {{ valid_referers {args}; }} }}\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, text).unwrap();
        let loaded = upgate_conf::load(&upgate_conf::LoadOptions::new(&path));
        let mut dirs = Vec::new();
        loaded.config.walk(|d, _| {
            if d.is("valid_referers") {
                dirs.push(d.clone());
            }
        });
        let refs: Vec<&Directive> = dirs.iter().collect();
        let names: Vec<ServerName> = names
            .iter()
            .map(|n| ServerName {
                name: n.as_bytes().to_vec(),
                regex: None,
                span: Default::default(),
            })
            .collect();
        RefererConf::merge(
            &RefererConf::default(),
            &refs,
            &names,
            &mut RegexCache::default(),
        )
    }

    fn valid(c: &RefererConf, referer: &str) -> bool {
        c.valid(Some(referer.as_bytes()))
    }

    #[test]
    fn hosts_wildcards_and_uris() {
        let c = conf(
            "none blocked example.com *.example.org .example.net www.example.* a.com/pics/",
            &[],
        )
        .unwrap();
        assert!(c.valid(None));
        assert!(valid(&c, "XXXXXXXXXXXXXXX"));
        assert!(valid(&c, "http://example.com/x"));
        assert!(valid(&c, "HTTPS://EXAMPLE.COM:8443/x"));
        assert!(!valid(&c, "http://ftp.example.com/"));
        assert!(valid(&c, "http://a.b.example.org/"));
        assert!(!valid(&c, "http://example.org/"));
        assert!(valid(&c, "http://example.net/"));
        assert!(valid(&c, "http://x.example.net/"));
        assert!(valid(&c, "http://www.example.de/"));
        assert!(valid(&c, "http://a.com/pics/1.png"));
        assert!(valid(&c, "http://a.com:80/pics/1.png"));
        assert!(!valid(&c, "http://a.com/other"));
        assert!(!valid(&c, "http://evil.com/?example.com"));
        // "http://x" is shorter than http://i.ru: blocked
        assert!(valid(&c, "http://x"));
    }

    #[test]
    fn regexes_and_server_names() {
        let c = conf("~\\.google\\. server_names", &["site.test", "*.cdn.test"]).unwrap();
        assert!(valid(&c, "https://www.GOOGLE.com/search"));
        assert!(valid(&c, "http://site.test/"));
        assert!(valid(&c, "http://img.cdn.test/"));
        assert!(!valid(&c, "http://other.test/"));
        assert!(!c.valid(None));
    }

    #[test]
    fn none_alone_is_an_error_and_no_rules_mean_valid() {
        let e = conf("none blocked", &[]).unwrap_err();
        assert!(e.to_string().contains("without any valid referer"), "{e}");
        assert!(RefererConf::default().valid(Some(b"http://anything.example/")));
    }
}
