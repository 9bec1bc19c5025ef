//! The http `server` blocks as the TLS rules see them: which of them speak
//! TLS, the names they answer, and the certificates in force.
//!
//! In nginx `ssl` is a property of the listening socket, not of one
//! `listen` line: the flags of every `listen` for one address:port are
//! ORed (`ngx_http_add_addresses`), so a server with a plain `listen 443`
//! speaks TLS when another server has `listen 443 ssl`. A `listen ... quic`
//! is TLS too (HTTP/3), and so is the old `ssl on;` (removed in 1.25.1).
//! `ssl_certificate` is a list merged like `proxy_set_header`: a server's
//! own lines replace the http-level ones (`ngx_http_ssl_merge_srv_conf`).
//!
//! Names are matched as `ngx_hash_find_combined` and the regex pass of
//! `ngx_http_find_virtual_server` do, without the regexes: a `~` name
//! gives no answer ([`Server::answers`] is `None`), so that no rule claims
//! what it cannot know.

use rustc_hash::FxHashMap;
use upgate_conf::{Config, Directive, Word};

/// One `server { ... }` of the http context.
#[derive(Debug)]
pub struct Server<'a> {
    pub directive: &'a Directive,
    pub listens: Vec<&'a Directive>,
    /// Every `server_name` argument, as written.
    pub names: Vec<&'a Word>,
    /// The same, lowercase (what matching compares).
    lower_names: Vec<String>,
    pub server_names: Vec<&'a Directive>,
    /// The `listen` that makes this server speak TLS (its own, or one of
    /// another server on the same socket), or the `ssl on` line.
    pub tls: Option<&'a Directive>,
    /// The `ssl_certificate` lines in force.
    pub certificates: Vec<&'a Directive>,
    /// Its own `ssl on|off` line.
    ssl: Option<&'a Directive>,
}

impl Server<'_> {
    /// Whether a request for `host` (lowercase) would pick this server by
    /// name: `Some(true)` by an exact or wildcard name, `None` when only a
    /// regex could say.
    pub fn answers(&self, host: &str) -> Option<bool> {
        let mut unknown = false;
        for name in &self.lower_names {
            if name.starts_with('~') {
                unknown = true;
            } else if name_matches(name, host) {
                return Some(true);
            }
        }
        if unknown { None } else { Some(false) }
    }
}

/// Every http server, in configuration order.
#[derive(Debug, Default)]
pub struct Servers<'a> {
    pub all: Vec<Server<'a>>,
    by_directive: FxHashMap<*const Directive, usize>,
    /// Servers by exact (lowercase) name.
    exact: FxHashMap<String, Vec<usize>>,
    /// Servers with a wildcard or regex name.
    inexact: Vec<usize>,
}

impl<'a> Servers<'a> {
    pub fn build(config: &'a Config) -> Self {
        let mut servers = Servers::default();
        let mut http_certificates: Vec<&'a Directive> = Vec::new();
        let mut http_ssl_on: Option<&'a Directive> = None;
        config.walk(|d, parents| {
            let in_http = parents.first().is_some_and(|p| p.is("http"));
            if !in_http {
                return;
            }
            if parents.len() == 1 {
                match d.name.value.as_slice() {
                    b"ssl_certificate" => http_certificates.push(d),
                    b"ssl" => http_ssl_on = d.arg(0).filter(|a| a.is("on")).map(|_| d),
                    b"server" if d.block.is_some() => {
                        servers
                            .by_directive
                            .insert(std::ptr::from_ref(d), servers.all.len());
                        servers.all.push(Server {
                            directive: d,
                            listens: Vec::new(),
                            names: Vec::new(),
                            lower_names: Vec::new(),
                            server_names: Vec::new(),
                            tls: None,
                            certificates: Vec::new(),
                            ssl: None,
                        });
                    }
                    _ => {}
                }
                return;
            }
            if parents.len() != 2 || !parents[1].is("server") {
                return;
            }
            let Some(&i) = servers.by_directive.get(&std::ptr::from_ref(parents[1])) else {
                return;
            };
            let server = &mut servers.all[i];
            match d.name.value.as_slice() {
                b"listen" => server.listens.push(d),
                b"server_name" => {
                    server.server_names.push(d);
                    server.names.extend(d.args.iter());
                }
                b"ssl_certificate" => server.certificates.push(d),
                b"ssl" => server.ssl = Some(d),
                _ => {}
            }
        });
        servers.resolve(&http_certificates, http_ssl_on);
        servers
    }

    fn resolve(&mut self, http_certificates: &[&'a Directive], http_ssl_on: Option<&'a Directive>) {
        let mut tls_sockets: FxHashMap<String, &'a Directive> = FxHashMap::default();
        for s in &self.all {
            for l in &s.listens {
                let tls = l.args.iter().skip(1).any(|a| a.is("ssl") || a.is("quic"));
                if let (true, Some(key)) = (tls, socket_key(l)) {
                    tls_sockets.entry(key).or_insert(l);
                }
            }
        }
        for s in &mut self.all {
            let own_on = s.ssl.filter(|d| d.arg(0).is_some_and(|a| a.is("on")));
            let inherited = if s.ssl.is_none() { http_ssl_on } else { None };
            let by_listen = s.listens.iter().find_map(|l| {
                if l.args.iter().skip(1).any(|a| a.is("ssl") || a.is("quic")) {
                    return Some(*l);
                }
                socket_key(l).and_then(|k| tls_sockets.get(&k).copied())
            });
            s.tls = own_on.or(by_listen).or(inherited);
            s.lower_names = s
                .names
                .iter()
                .map(|w| w.text().to_ascii_lowercase())
                .collect();
            if s.certificates.is_empty() {
                s.certificates = http_certificates.to_vec();
            }
        }
        for (i, srv) in self.all.iter().enumerate() {
            let mut inexact = false;
            for name in &srv.lower_names {
                if name.starts_with('~') || name.starts_with('.') || name.contains('*') {
                    inexact = true;
                } else {
                    self.exact.entry(name.clone()).or_default().push(i);
                }
            }
            if inexact {
                self.inexact.push(i);
            }
        }
    }

    /// The servers whose names may answer `host` (lowercase): those with
    /// it as an exact name, and every server with a wildcard or regex name
    /// (for [`Server::answers`] to decide).
    pub fn candidates(&self, host: &str) -> impl Iterator<Item = usize> + '_ {
        let exact = self.exact.get(host).map(Vec::as_slice).unwrap_or_default();
        let mut all: Vec<usize> = exact.iter().chain(&self.inexact).copied().collect();
        all.sort_unstable();
        all.dedup();
        all.into_iter()
    }

    /// The server a `server` directive opened.
    pub fn of(&self, d: &Directive) -> Option<&Server<'a>> {
        self.by_directive
            .get(&std::ptr::from_ref(d))
            .map(|&i| &self.all[i])
    }
}

/// `listen`'s address:port as a socket identity: `443`, `*:443` and
/// `0.0.0.0:443` are one socket, `[::]:443` another; no port means 80.
fn socket_key(l: &Directive) -> Option<String> {
    let addr = l.arg(0)?.text().to_ascii_lowercase();
    if addr.starts_with("unix:") {
        return Some(addr);
    }
    let (host, port) = if addr.bytes().all(|b| b.is_ascii_digit()) {
        ("*", addr.as_str())
    } else if let Some(rest) = addr.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':').unwrap_or("80")),
            None => return None,
        }
    } else {
        match addr.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (addr.as_str(), "80"),
        }
    };
    let host = if host == "0.0.0.0" { "*" } else { host };
    Some(format!("{host}:{port}"))
}

/// nginx's server_name matching for one non-regex name (both lowercase):
/// exact, `*.example.com` (any depth below), `.example.com` (that and
/// below), `www.example.*`.
pub fn name_matches(name: &str, host: &str) -> bool {
    if let Some(base) = name.strip_prefix("*.") {
        host.len() > base.len() + 1
            && host.ends_with(base)
            && host[..host.len() - base.len()].ends_with('.')
    } else if let Some(base) = name.strip_prefix('.') {
        host == base || (host.ends_with(base) && host[..host.len() - base.len()].ends_with('.'))
    } else if let Some(head) = name.strip_suffix(".*") {
        host.len() > head.len() + 1 && host.starts_with(head) && host[head.len()..].starts_with('.')
    } else {
        !name.is_empty() && name == host
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn build(text: &str) -> Config {
        upgate_conf::parse_file(std::path::Path::new("t"), text.as_bytes().to_vec())
    }

    #[test]
    fn names() {
        assert!(name_matches("example.com", "example.com"));
        assert!(!name_matches("example.com", "www.example.com"));
        assert!(name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "badexample.com"));
        assert!(name_matches(".example.com", "example.com"));
        assert!(name_matches(".example.com", "www.example.com"));
        assert!(name_matches("www.example.*", "www.example.org"));
        assert!(!name_matches("www.example.*", "www.example"));
        assert!(!name_matches("", "x"));
    }

    #[test]
    fn tls_is_a_property_of_the_socket() {
        let config = build(
            "http { ssl_certificate a.pem;\n\
             server { listen 443 ssl; server_name a.test; }\n\
             server { listen *:443; server_name b.test; ssl_certificate b.pem; }\n\
             server { listen 80; server_name c.test; }\n\
             server { listen [::]:8443 quic; server_name ~^d; }\n\
             server { server_name e.test; ssl on; } }",
        );
        let servers = Servers::build(&config);
        let tls: Vec<bool> = servers.all.iter().map(|s| s.tls.is_some()).collect();
        assert_eq!(tls, [true, true, false, true, true]);
        assert_eq!(servers.all[0].certificates[0].args[0].text(), "a.pem");
        assert_eq!(servers.all[1].certificates[0].args[0].text(), "b.pem");
        assert_eq!(servers.all[0].answers("a.test"), Some(true));
        assert_eq!(servers.all[2].answers("a.test"), Some(false));
        assert_eq!(servers.all[3].answers("d.test"), None);
    }
}
