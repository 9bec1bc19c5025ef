//! Serve only what is enforced. A configuration is a security policy: a
//! directive that decides who gets in, what they may send or where a request
//! goes must be honoured exactly as nginx honours it, or `upgate -c` refuses
//! to start (`[emerg] "auth_basic" is not enforced by upgate yet in
//! FILE:LINE`). `upgate -t` passes such a file (it is valid nginx) but says
//! the same as `[warn]`, so a user learns before the switch what would stop
//! it.
//!
//! Every directive of nginx's http, core and event modules has one
//! [`ServeClass`] (`classes.rs`); [`Enforcement::check`] walks a loaded
//! configuration and sorts each use into what `-c` must refuse, what it
//! serves with a warning (the response differs from nginx's), and what it
//! ignores because it changes nothing a client gets.
//!
//! A few uses are judged by their arguments, not their name alone:
//! `listen ... quic`, `ssl_certificate` and
//! `proxy_ssl_certificate` (and their keys) with variables.

mod classes;

use std::sync::LazyLock;

use rustc_hash::FxHashMap;

use crate::context::BlockKind;
use crate::error::{ConfError, Level};
use crate::load::Config;
use crate::{Block, Directive};

/// What upgate does with a directive when it serves traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeClass {
    /// upgate does what nginx does.
    Enforced,
    /// Tuning with no effect on what a client gets (sendfile, aio, ...):
    /// logged once at `info`.
    Harmless,
    /// nginx would transform the response and nothing is exposed by
    /// skipping it (gzip, charset, expires, ...): served, with one `[warn]`
    /// saying what the client gets instead.
    Differs(&'static str),
    /// Decides who gets in, what they may send or where a request goes, and
    /// upgate does not enforce it yet: `upgate -c` refuses to start.
    Refused,
}

impl ServeClass {
    /// The class's name in docs/compatibility.md.
    pub fn label(self) -> &'static str {
        match self {
            ServeClass::Enforced => "enforced",
            ServeClass::Harmless => "harmless when ignored",
            ServeClass::Differs(_) => "ignored, the response differs",
            ServeClass::Refused => "refused until enforced",
        }
    }
}

/// The class of a directive of nginx's http, core or event modules, and
/// the first arguments with which it changes nothing. `None` for names
/// outside those modules (stream, mail, third-party).
pub fn class_of(name: &[u8]) -> Option<(ServeClass, &'static [&'static str])> {
    // A hash lookup: `-t` asks once per directive of the configuration.
    static INDEX: LazyLock<FxHashMap<&'static [u8], usize>> = LazyLock::new(|| {
        classes::CLASSES
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (n.as_bytes(), i))
            .collect()
    });
    let &i = INDEX.get(name)?;
    let (_, class, inert) = classes::CLASSES[i];
    Some((class, inert))
}

/// Every classified name, sorted (for the compatibility page and tests).
pub fn classified() -> impl Iterator<Item = (&'static str, ServeClass)> {
    classes::CLASSES.iter().map(|&(n, c, _)| (n, c))
}

/// The uses of a configuration sorted by what serving does with them.
#[derive(Debug, Default)]
pub struct Enforcement {
    /// `[emerg]` lines: `upgate -c` must not start (`-t` prints them as
    /// `[warn]`).
    pub refused: Vec<ConfError>,
    /// `[warn]` lines: served, but the client gets something else than from
    /// nginx.
    pub differs: Vec<ConfError>,
    /// `[info]` lines, one per use: ignored, no effect on what a client
    /// gets.
    pub harmless: Vec<ConfError>,
}

impl Enforcement {
    /// Sorts every directive of `config` (includes followed, in file order).
    pub fn check(config: &Config) -> Enforcement {
        let mut out = Enforcement::default();
        if let Some(main) = config.main() {
            out.block(config, &main.block, BlockKind::Main);
        }
        out
    }

    /// The harmless uses, the first of each name only (what serving logs).
    pub fn harmless_once(&self) -> impl Iterator<Item = &ConfError> {
        let mut seen: Vec<&str> = Vec::new();
        self.harmless.iter().filter(move |e| {
            let name = e.message.split('"').nth(1).unwrap_or("");
            let first = !seen.contains(&name);
            if first {
                seen.push(name);
            }
            first
        })
    }

    /// Whether `upgate -c` may serve the configuration.
    pub fn may_serve(&self) -> bool {
        self.refused.is_empty()
    }

    fn block(&mut self, config: &Config, block: &Block, kind: BlockKind) {
        for d in block.directives() {
            self.directive(d);
            for &id in &d.includes {
                self.block(config, &config.file(id).block, kind);
            }
            let Some(inner) = &d.block else { continue };
            let opened = BlockKind::opened_by(kind, &d.name.value);
            match opened {
                // Lines a handler reads (map, types, geo, ...) are not
                // directives; stream and mail are refused as a whole.
                BlockKind::Handler(_) | BlockKind::Stream | BlockKind::Mail => {}
                _ => self.block(config, inner, opened),
            }
        }
    }

    fn directive(&mut self, d: &Directive) {
        let name = d.name.value.as_slice();
        let Some((class, inert)) = class_of(name) else {
            // Not an http/core/event directive: `-t` already rejected it
            // unless a `load_module` made it known (stream, mail).
            return;
        };
        if let Some(what) = refused_use(d) {
            self.refused.push(refusal(d, &what));
            return;
        }
        let first = d.args.first().map(|w| w.value.as_slice());
        let is_inert =
            first.is_some_and(|a| inert.iter().any(|v| v.as_bytes().eq_ignore_ascii_case(a)));
        let class = if is_inert {
            ServeClass::Harmless
        } else {
            class
        };
        match class {
            ServeClass::Enforced => {
                if let Some(what) = differing_use(d) {
                    self.differs.push(ConfError::warn(
                        format!("\"{}\" is ignored by upgate: {what}", d.name()),
                        d.name.span,
                        d.line(),
                    ));
                }
            }
            ServeClass::Refused => self.refused.push(refusal(d, &d.name())),
            ServeClass::Differs(what) => self.differs.push(ConfError::warn(
                format!("\"{}\" is ignored by upgate: {what}", d.name()),
                d.name.span,
                d.line(),
            )),
            ServeClass::Harmless => self.harmless.push(
                ConfError::warn(
                    format!(
                        "\"{}\" is ignored by upgate: it changes nothing a client gets",
                        d.name()
                    ),
                    d.name.span,
                    d.line(),
                )
                .at_level(Level::Info),
            ),
        }
    }
}

fn refusal(d: &Directive, what: &str) -> ConfError {
    ConfError::emerg(
        format!("\"{what}\" is not enforced by upgate yet"),
        d.name.span,
        d.line(),
    )
    .with_help(
        "upgate serves only what it enforces: a directive that decides who gets in, what \
         they may send or where a request goes is never ignored (docs/compatibility.md)",
    )
}

/// A use that is refused for its arguments although the directive is
/// otherwise enforced.
fn refused_use(d: &Directive) -> Option<String> {
    let arg = |w: &crate::Word| w.value.to_ascii_lowercase();
    if d.is("listen") {
        for w in d.args.iter().skip(1) {
            let a = arg(w);
            if a.as_slice() == b"quic" {
                return Some(format!("listen ... {}", w.text()));
            }
        }
    } else if (d.is("ssl_certificate") || d.is("ssl_certificate_key"))
        && d.args.first().is_some_and(|w| w.value.contains(&b'$'))
    {
        // Certificates chosen per handshake by variables (nginx 1.15.9+).
        return Some(format!("{} with variables", d.name()));
    } else if (d.is("proxy_ssl_certificate") || d.is("proxy_ssl_certificate_key"))
        && d.args.first().is_some_and(|w| w.value.contains(&b'$'))
    {
        // Read once per configuration; per-request files are not done.
        return Some(format!("{} with variables", d.name()));
    }
    None
}

/// A use of an enforced directive whose arguments ask for something upgate
/// does not do, where skipping it exposes nothing.
fn differing_use(d: &Directive) -> Option<&'static str> {
    if d.is("listen")
        && d.args
            .iter()
            .skip(1)
            .any(|w| w.value.eq_ignore_ascii_case(b"http2"))
    {
        return Some("HTTP/2 is not offered on this listener: clients speak HTTP/1.1");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::{Build, DIRECTIVES, ModuleType};

    #[test]
    fn rows_are_sorted_and_unique() {
        for pair in classes::CLASSES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} / {}", pair[0].0, pair[1].0);
        }
    }

    /// No directive of nginx's http, core and event modules lacks a class,
    /// and no row names a directive nginx does not have.
    #[test]
    fn every_directive_has_a_class() {
        let mut wanted = Vec::new();
        for spec in DIRECTIVES {
            let m = spec.module();
            if matches!(m.module_type, ModuleType::Stream | ModuleType::Mail)
                || m.build == Build::Absent
            {
                continue;
            }
            assert!(
                class_of(spec.name.as_bytes()).is_some(),
                "{} ({}) has no serve-time class in enforcement/classes.rs",
                spec.name,
                m.name
            );
            wanted.push(spec.name);
        }
        for (name, _) in classified() {
            assert!(
                wanted.contains(&name),
                "{name} is classified but not in the table"
            );
        }
    }

    fn check(text: &str) -> Enforcement {
        Enforcement::check(&crate::parse_file(
            std::path::Path::new("/etc/nginx/nginx.conf"),
            text.as_bytes().to_vec(),
        ))
    }

    fn lines(errors: &[ConfError]) -> Vec<String> {
        errors
            .iter()
            .map(|e| format!("{}:{}", e.message, e.line().unwrap_or(0)))
            .collect()
    }

    #[test]
    fn access_rules_are_refused_with_their_line() {
        // allow/deny, auth_basic, auth_request and the limits are
        // enforced; secure_link is not yet.
        let e = check(
            "events {}\nhttp {\n limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\n server {\n  location / {\n   allow 10.0.0.0/8;\n   deny all;\n   auth_basic \"x\";\n   limit_req zone=z;\n   auth_request /auth;\n   secure_link $arg_s;\n  }\n }\n}\n",
        );
        assert_eq!(
            lines(&e.refused),
            ["\"secure_link\" is not enforced by upgate yet:11"]
        );
        assert!(!e.may_serve());
    }

    #[test]
    fn off_values_change_nothing() {
        let e = check("events {}\nhttp { gzip off; auth_basic off; server { listen 80; } }\n");
        assert!(e.may_serve(), "{:?}", e.refused);
        assert!(e.differs.is_empty());
    }

    #[test]
    fn arguments_decide_for_listen_and_proxy_pass() {
        let e = check(
            "events {}\nhttp { server {\nlisten 443 proxy_protocol;\nlisten 8443 quic;\nlocation / {\nproxy_pass https://b;\nproxy_ssl_verify on;\nproxy_ssl_certificate $ssl_server_name.crt;\nproxy_ssl_password_file p;\n}\nlocation /f {\nif (!-f $request_filename) { return 404; }\nreturn 444;\n}\n} }\n",
        );
        assert_eq!(
            lines(&e.refused),
            [
                "\"listen ... quic\" is not enforced by upgate yet:4",
                "\"proxy_ssl_certificate with variables\" is not enforced by upgate yet:8",
                "\"proxy_ssl_password_file\" is not enforced by upgate yet:9",
            ]
        );
    }

    #[test]
    fn response_transforms_warn_and_tuning_is_listed_once() {
        let e = check(
            "events {}\nhttp {\nsendfile on;\ngzip on;\ncharset utf-8;\nssl_protocols TLSv1.2;\nserver { listen 80; sendfile off; }\n}\n",
        );
        assert!(e.may_serve());
        assert_eq!(
            lines(&e.differs),
            [
                "\"gzip\" is ignored by upgate: responses are sent uncompressed:4",
                "\"charset\" is ignored by upgate: the Content-Type gets no charset parameter and bodies are not recoded:5",
            ]
        );
        // ssl_protocols is enforced now that TLS is served.
        assert_eq!(e.harmless.len(), 2);
        let harmless: Vec<String> = e
            .harmless_once()
            .map(|e| lines(std::slice::from_ref(e)).remove(0))
            .collect();
        assert_eq!(harmless.len(), 1, "{harmless:?}");
        assert!(harmless[0].starts_with("\"sendfile\""));
    }

    #[test]
    fn map_and_types_lines_are_not_directives() {
        let e = check(
            "events {}\nhttp { types { text/html html; } map $a $b { deny 1; } server { listen 80; } }\n",
        );
        assert!(e.may_serve(), "{:?}", e.refused);
    }

    #[test]
    fn stream_is_refused_once() {
        let e = check("events {}\nstream { server { listen 53; proxy_pass b:53; } }\n");
        assert_eq!(
            lines(&e.refused),
            ["\"stream\" is not enforced by upgate yet:2"]
        );
    }
}
