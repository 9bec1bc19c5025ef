//! `error_log FILE [LEVEL]`, in nginx's line format (`ngx_log_error_core`,
//! src/core/ngx_log.c, with the context `ngx_http_log_error` appends):
//!
//! ```text
//! 2026/11/23 17:00:00 [error] 4242#4242: *7 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:9001/", host: "127.0.0.1:8080"
//! ```
//!
//! Times are UTC (nginx writes local time; upgate reads no time zone data).
//! The main-level `error_log` is used; without one, stderr at `error`.
//! Lines are written whole, one `write` each, as nginx does.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use upgate_conf::Config;

/// nginx's levels, shared with the configuration checks.
pub use upgate_conf::Level;

enum Sink {
    Stderr,
    File(Mutex<std::fs::File>),
    Off,
}

/// An open error log.
pub struct ErrorLog {
    level: Level,
    sink: Sink,
}

impl std::fmt::Debug for ErrorLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ErrorLog({})", self.level.as_str())
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

impl ErrorLog {
    /// stderr at `error`.
    pub fn stderr() -> ErrorLog {
        ErrorLog {
            level: Level::Error,
            sink: Sink::Stderr,
        }
    }

    /// The first main-level `error_log` of `config`; paths under `prefix`.
    pub fn from_config(config: &Config, prefix: &Path) -> ErrorLog {
        let Some(main) = config.main() else {
            return ErrorLog::stderr();
        };
        let Some(d) = main.block.directives().find(|d| d.is("error_log")) else {
            return ErrorLog::stderr();
        };
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
        let sink = match path.as_str() {
            "stderr" => Sink::Stderr,
            "/dev/null" => Sink::Off,
            p if p.starts_with("syslog:") || p.starts_with("memory:") => Sink::Stderr,
            p => {
                let full = prefix.join(p);
                match OpenOptions::new().create(true).append(true).open(&full) {
                    Ok(f) => Sink::File(Mutex::new(f)),
                    Err(_) => Sink::Stderr,
                }
            }
        };
        ErrorLog { level, sink }
    }

    /// Whether lines at `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level && !matches!(self.sink, Sink::Off)
    }

    /// Writes a line without request context.
    pub fn log(&self, level: Level, message: &str) {
        if self.enabled(level) {
            self.write(&line(level, None, message));
        }
    }

    /// Writes a line with the request's context.
    pub fn log_request(&self, level: Level, cx: &Context, message: &str) {
        if self.enabled(level) {
            self.write(&line(level, Some(cx), message));
        }
    }

    fn write(&self, text: &str) {
        tracing::debug!(target: "upgate::error_log", "{}", text.trim_end());
        match &self.sink {
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            Sink::File(f) => {
                let mut f = match f.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                let _ = f.write_all(text.as_bytes());
            }
            Sink::Off => {}
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
