//! Main-context and events directives (src/core/nginx.c, ngx_log.c,
//! src/event/ngx_event.c): `user`, `worker_processes`, `error_log`, ...

use std::path::Path;

use super::{Cx, Semantics, values};
use crate::ast::Directive;
use crate::error::{ConfError, Phase};
use crate::load::at_end;

#[derive(Debug, Default)]
pub(super) struct CoreState {
    user_set: bool,
    /// Span of the `events` directive, once seen.
    events_seen: bool,
    main_span: Option<crate::span::Span>,
}

/// Debian's build: `--user` not given, so nginx's defaults.
const DEFAULT_USER: &str = "nobody";
const DEFAULT_GROUP: &str = "nogroup";

impl Semantics {
    pub(super) fn core_directive(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
    ) -> Result<(), ConfError> {
        self.core.main_span.get_or_insert(d.name.span);
        match d.name.value.as_slice() {
            b"user" => self.user(cx, d),
            b"worker_processes" => {
                let Some(v) = d.args.first() else {
                    return Ok(());
                };
                if v.is("auto") || values::atoi(&v.value).is_some() {
                    Ok(())
                } else {
                    Err(at_end(d, format!("\"{}\" directive invalid value", d.name)))
                }
            }
            b"error_log" => self.error_log(cx, d),
            b"worker_connections" => self.worker_connections(d),
            b"events" => {
                self.core.events_seen = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `ngx_set_user`: the user and group must exist when run as root.
    fn user(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        self.core.user_set = true;
        if !self.check_environment {
            return Ok(());
        }
        if !running_as_root() {
            cx.warnings.push(ConfError::warn(
                "the \"user\" directive makes sense only if the master process runs with super-user privileges, ignored",
                d.head_span(),
                d.end_line,
            ));
            return Ok(());
        }
        let Some(user) = d.args.first() else {
            return Ok(());
        };
        let group = d.args.get(1).unwrap_or(user);
        if !self.database_has(Path::new("/etc/passwd"), &user.text()) {
            return Err(ConfError::emerg(
                format!("getpwnam(\"{user}\") failed"),
                user.span,
                d.end_line,
            ));
        }
        if !self.database_has(Path::new("/etc/group"), &group.text()) {
            return Err(ConfError::emerg(
                format!("getgrnam(\"{group}\") failed"),
                group.span,
                d.end_line,
            ));
        }
        Ok(())
    }

    /// `ngx_error_log` / `ngx_log_set_levels`.
    fn error_log(&mut self, _cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        const DEBUG: &[&str] = &[
            "debug_core",
            "debug_alloc",
            "debug_mutex",
            "debug_event",
            "debug_http",
            "debug_mail",
            "debug_stream",
        ];
        let mut level_seen = false;
        for level in d.args.iter().skip(1) {
            let text = level.text();
            if crate::error::Level::parse(&level.value).is_some() {
                if level_seen {
                    return Err(at_end(d, format!("duplicate log level \"{text}\"")));
                }
                level_seen = true;
            } else if !DEBUG.contains(&text.as_ref()) {
                return Err(at_end(d, format!("invalid log level \"{text}\"")));
            }
        }
        Ok(())
    }

    /// `ngx_core_module_init_conf` and the checks after parsing.
    pub(super) fn init_core(&mut self) -> Result<(), ConfError> {
        if !self.core.user_set && self.check_environment && running_as_root() {
            if !self.database_has(Path::new("/etc/passwd"), DEFAULT_USER) {
                return Err(ConfError::unplaced(
                    format!("getpwnam(\"{DEFAULT_USER}\") failed"),
                    None,
                )
                .in_phase(Phase::Init));
            }
            if !self.database_has(Path::new("/etc/group"), DEFAULT_GROUP) {
                return Err(ConfError::unplaced(
                    format!("getgrnam(\"{DEFAULT_GROUP}\") failed"),
                    None,
                )
                .in_phase(Phase::Init));
            }
        }
        if !self.core.events_seen {
            return Err(ConfError::unplaced(
                "no \"events\" section in configuration",
                self.core.main_span,
            )
            .in_phase(Phase::Init));
        }
        Ok(())
    }

    /// Looks a name up in passwd or group (under the configured root).
    fn database_has(&self, file: &Path, name: &str) -> bool {
        match self.fs.read(file) {
            Ok(text) => String::from_utf8_lossy(&text)
                .lines()
                .any(|line| line.split(':').next() == Some(name)),
            Err(_) => true,
        }
    }
}

/// nginx checks users only when its master runs as root (`geteuid() == 0`).
pub(super) fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}
