//! `error_log FILE [LEVEL]`, in nginx's line format (`ngx_log_error_core`,
//! src/core/ngx_log.c, with the context `ngx_http_log_error` appends):
//!
//! ```text
//! 2026/11/23 17:00:00 [error] 4242#4242: *7 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:9001/", host: "127.0.0.1:8080"
//! ```
//!
//! Times are UTC (nginx writes local time; upgate reads no time zone data).
//! Every main-level `error_log` is used, each with its own level (nginx
//! chains them: `ngx_log_insert`); without one, the `-e` file (or stderr)
//! at `error`, as `ngx_log_open_default`. `stderr` is stderr; a file is
//! opened for appending under the prefix, and reopened on SIGUSR1.
//! Lines are written whole, one `write` each, as nginx does.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use upgate_conf::Config;

/// nginx's levels, shared with the configuration checks.
pub use upgate_conf::Level;

enum Target {
    Stderr,
    /// stderr while starting without `-e FILE`: nginx's console form,
    /// `upgate: [emerg] MESSAGE`.
    Console,
    File {
        path: PathBuf,
        file: Mutex<File>,
    },
}

/// One `error_log` line of the configuration.
struct Sink {
    level: Level,
    target: Target,
}

/// The open error logs of a generation.
pub struct ErrorLog {
    sinks: Vec<Sink>,
}

impl std::fmt::Debug for ErrorLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let levels: Vec<&str> = self.sinks.iter().map(|s| s.level.as_str()).collect();
        write!(f, "ErrorLog({})", levels.join(","))
    }
}

/// The request context nginx appends to a line (`ngx_http_log_error_handler`).
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The connection number (`*N`).
    pub conn: u64,
    pub client: String,
    pub server: String,
    pub request: String,
    pub upstream: Option<String>,
    pub host: Option<String>,
}

/// Opens `path` for appending, creating it, as `ngx_open_file` with
/// `NGX_FILE_APPEND, NGX_FILE_CREATE_OR_OPEN`.
/// A worker without root has its master open it (privileges.rs).
pub fn open_append(path: &Path) -> std::io::Result<File> {
    crate::privileges::open_append(path)
}

impl ErrorLog {
    /// stderr at `error`.
    pub fn stderr() -> ErrorLog {
        ErrorLog::single(Level::Error, None).unwrap_or(ErrorLog { sinks: Vec::new() })
    }

    /// The log nginx opens before reading the configuration
    /// (`ngx_log_init`): the `-e` file (`None`: stderr) at `notice`.
    pub fn startup(file: Option<&Path>) -> ErrorLog {
        let single = match file {
            None => Ok(ErrorLog {
                sinks: vec![Sink {
                    level: Level::Notice,
                    target: Target::Console,
                }],
            }),
            Some(_) => ErrorLog::single(Level::Notice, file),
        };
        match single {
            Ok(log) => log,
            Err(e) => {
                let name = file.map(|p| p.display().to_string()).unwrap_or_default();
                eprint!(
                    "{}",
                    line(
                        Level::Alert,
                        None,
                        &format!("could not open error log file: open() \"{name}\" failed ({e})")
                    )
                );
                ErrorLog::single(Level::Notice, None).unwrap_or(ErrorLog { sinks: Vec::new() })
            }
        }
    }

    fn single(level: Level, file: Option<&Path>) -> std::io::Result<ErrorLog> {
        let target = match file {
            None => Target::Stderr,
            Some(path) => Target::File {
                path: path.to_path_buf(),
                file: Mutex::new(open_append(path)?),
            },
        };
        Ok(ErrorLog {
            sinks: vec![Sink { level, target }],
        })
    }

    /// The first main-level `error_log` of `config`; paths under `prefix`;
    /// stderr at `error` without one.
    pub fn from_config(config: &Config, prefix: &Path) -> ErrorLog {
        ErrorLog::open(config, prefix, None).unwrap_or_else(|_| ErrorLog::stderr())
    }

    /// Every main-level `error_log` of `config`, paths under `prefix`;
    /// without one, `default` (the `-e` file; `None`: stderr) at `error`.
    /// The error is nginx's `[emerg]` text for a file that cannot be opened.
    pub fn open(
        config: &Config,
        prefix: &Path,
        default: Option<&Path>,
    ) -> Result<ErrorLog, String> {
        let mut sinks = Vec::new();
        let main = config.main();
        for d in main
            .iter()
            .flat_map(|m| m.block.directives())
            .filter(|d| d.is("error_log"))
        {
            let path = d
                .args
                .first()
                .map(|a| a.text().into_owned())
                .unwrap_or_default();
            let level = d
                .args
                .get(1)
                .and_then(|a| Level::parse(&a.value))
                .unwrap_or(Level::Error);
            let target = match path.as_str() {
                "stderr" => Target::Stderr,
                // syslog: and memory: are not written yet.
                p if p.starts_with("syslog:") || p.starts_with("memory:") => continue,
                p => {
                    let full = upgate_conf::fs::full_name(prefix, Path::new(p));
                    let file = open_append(&full).map_err(|e| {
                        format!(
                            "open() \"{}\" failed ({})",
                            full.display(),
                            crate::proxy::errno(&e)
                        )
                    })?;
                    Target::File {
                        path: full,
                        file: Mutex::new(file),
                    }
                }
            };
            sinks.push(Sink { level, target });
        }
        if sinks.is_empty() && main.is_none_or(|m| !m.block.directives().any(|d| d.is("error_log")))
        {
            return ErrorLog::single(Level::Error, default).map_err(|e| {
                let name = default.map(|p| p.display().to_string()).unwrap_or_default();
                format!("open() \"{name}\" failed ({})", crate::proxy::errno(&e))
            });
        }
        Ok(ErrorLog { sinks })
    }

    /// Whether lines at `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        self.sinks.iter().any(|s| level <= s.level)
    }

    /// Whether one of the logs is stderr.
    pub fn has_stderr(&self) -> bool {
        self.sinks
            .iter()
            .any(|s| matches!(s.target, Target::Stderr))
    }

    /// The first log's file, if it is one (nginx sends stderr there:
    /// `ngx_log_redirect_stderr`).
    pub fn first_file(&self) -> Option<&Path> {
        match &self.sinks.first()?.target {
            Target::File { path, .. } => Some(path),
            Target::Stderr | Target::Console => None,
        }
    }

    /// Writes a line without request context.
    pub fn log(&self, level: Level, message: &str) {
        if self.enabled(level) {
            if self
                .sinks
                .iter()
                .any(|s| matches!(s.target, Target::Console))
            {
                let _ = std::io::stderr()
                    .lock()
                    .write_all(format!("upgate: [{}] {message}\n", level.as_str()).as_bytes());
            }
            self.write(level, &line(level, None, message));
        }
    }

    /// Writes a line with the request's context.
    pub fn log_request(&self, level: Level, cx: &Context, message: &str) {
        if self.enabled(level) {
            self.write(level, &line(level, Some(cx), message));
        }
    }

    /// Reopens every file (SIGUSR1, `ngx_reopen_files`): a file renamed by
    /// logrotate is left to it and a new one is created under the old name.
    /// The error is the `[alert]` text of the first file that failed (it
    /// goes on writing to the old one).
    pub fn reopen(&self) -> Result<(), String> {
        let mut failed = None;
        for sink in &self.sinks {
            let Target::File { path, file } = &sink.target else {
                continue;
            };
            match open_append(path) {
                Ok(new) => {
                    let mut f = match file.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    *f = new;
                }
                Err(e) => {
                    failed.get_or_insert(format!(
                        "open() \"{}\" failed ({})",
                        path.display(),
                        crate::proxy::errno(&e)
                    ));
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    fn write(&self, level: Level, text: &str) {
        tracing::debug!(target: "upgate::error_log", "{}", text.trim_end());
        for sink in self.sinks.iter().filter(|s| level <= s.level) {
            match &sink.target {
                Target::Console => {}
                Target::Stderr => {
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                }
                Target::File { file, .. } => {
                    let mut f = match file.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    let _ = f.write_all(text.as_bytes());
                }
            }
        }
    }
}

/// One formatted line, newline included.
pub fn line(level: Level, cx: Option<&Context>, message: &str) -> String {
    let pid = std::process::id();
    let mut out = format!(
        "{} [{}] {pid}#{pid}: ",
        log_time(SystemTime::now()),
        level.as_str()
    );
    if let Some(cx) = cx {
        out.push_str(&format!("*{} {message}, client: {}", cx.conn, cx.client));
        out.push_str(&format!(", server: {}", cx.server));
        if !cx.request.is_empty() {
            out.push_str(&format!(", request: \"{}\"", cx.request));
        }
        if let Some(u) = &cx.upstream {
            out.push_str(&format!(", upstream: \"{u}\""));
        }
        if let Some(h) = &cx.host {
            out.push_str(&format!(", host: \"{h}\""));
        }
    } else {
        out.push_str(message);
    }
    out.push('\n');
    out
}

/// `2026/11/23 17:00:00` (`ngx_cached_err_log_time`).
pub fn log_time(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `23/Nov/2026:17:00:00 +0000` (`$time_local`).
pub fn time_local(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(t);
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    format!("{d:02}/{month}/{y:04}:{h:02}:{mi:02}:{s:02} +0000")
}

/// `2026-11-23T17:00:00+00:00` (`$time_iso8601`).
pub fn time_iso8601(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
}

/// (year, month, day, hour, minute, second) in UTC.
fn civil(t: SystemTime) -> (u64, u64, u64, u64, u64, u64) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_453_200); // 2026-11-23 17:00:00
        assert_eq!(log_time(t), "2026/11/23 17:00:00");
        assert_eq!(time_local(t), "23/Nov/2026:17:00:00 +0000");
        assert_eq!(time_iso8601(t), "2026-11-23T17:00:00+00:00");
        let cx = Context {
            conn: 7,
            client: "127.0.0.1".into(),
            server: "localhost".into(),
            request: "GET / HTTP/1.1".into(),
            upstream: Some("http://127.0.0.1:9001/".into()),
            host: Some("127.0.0.1:8080".into()),
        };
        let l = line(Level::Error, Some(&cx), "connect() failed");
        assert!(l.ends_with(": *7 connect() failed, client: 127.0.0.1, server: localhost, request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:9001/\", host: \"127.0.0.1:8080\"\n"), "{l}");
    }
}
