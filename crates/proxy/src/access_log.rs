//! `access_log` and `log_format`, as ngx_http_log_module.c writes them: one
//! line per request in the location's formats (default `combined`), variable
//! values escaped (`escape=default`: `"`, `\` and bytes outside 0x20..0x7e as
//! `\xHH`; `escape=json`; `escape=none`), a missing value written as `-`
//! (nothing with `escape=json`),
//! each line written at once unless `buffer=` asks to collect them
//! (`flush=` bounds how long a line waits; upgate flushes buffered files
//! once a second at most and on exit).
//!
//! Lines are made in two steps so that a tunnel holds no request: the
//! request's own variables are evaluated when the response starts
//! ([`AccessLogs::prepare`]), the values only known at the end (`$status`,
//! `$request_time`, `$bytes_sent`, `$upstream_*`...) when it ends
//! ([`Pending::finish`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use upgate_runtime::variable::{Part, Template, Var};
use upgate_runtime::{LocationId, Request, Runtime};

use crate::settings::{Escape, Settings};

/// An open log file.
#[derive(Debug)]
pub struct LogFile {
    /// The full path, for SIGUSR1's reopen.
    path: std::path::PathBuf,
    out: Mutex<BufWriter<File>>,
    /// `buffer=`: collect lines; else write each at once.
    buffered: bool,
}

impl LogFile {
    fn write_line(&self, line: &[u8]) {
        let mut out = match self.out.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let _ = out.write_all(line);
        if !self.buffered {
            let _ = out.flush();
        }
    }

    /// Writes what is buffered.
    pub fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
    }

    /// Writes what is buffered to the old file, then goes on in a file
    /// opened anew under the same name (`ngx_reopen_files`).
    fn reopen(&self) -> std::io::Result<()> {
        let new = crate::privileges::open_append(&self.path)?;
        let mut out = match self.out.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let _ = out.flush();
        let capacity = out.capacity();
        *out = BufWriter::with_capacity(capacity, new);
        Ok(())
    }
}

#[derive(Debug)]
struct Format {
    escape: Escape,
    template: Template,
}

/// The logs of one configuration generation.
#[derive(Debug, Default)]
pub struct AccessLogs {
    files: Vec<Arc<LogFile>>,
    formats: HashMap<String, Arc<Format>>,
    /// Per location: the lines it writes.
    by_location: Vec<Vec<LogLine>>,
}

/// One `access_log` of a location: file, format, `if=` condition.
type LogLine = (Arc<LogFile>, Arc<Format>, Option<Template>);

/// A line waiting for the end of its request: its text as far as it is
/// known, and the variables that go into it when the request ends. (One
/// buffer, not a piece per part: an upgraded request's line waits as long
/// as its tunnel lives.)
#[derive(Debug)]
pub struct Pending {
    file: Arc<LogFile>,
    text: Vec<u8>,
    /// Where in `text` each end-of-request variable goes, in order.
    later: Vec<(usize, String)>,
    escape: Escape,
}

/// The values known only while serving.
#[derive(Clone, Debug, Default)]
pub struct Values {
    pub status: u16,
    pub body_bytes_sent: u64,
    pub bytes_sent: u64,
    pub request_length: u64,
    pub request_time: std::time::Duration,
    pub connection: u64,
    pub connection_requests: u64,
    /// When the connection was accepted (`$connection_time` is its age
    /// when the variable is read).
    pub connection_born: Option<std::time::Instant>,
    /// When the request's head was read: `$request_time` read before the
    /// request ends (in a header) is the time since.
    pub request_started: Option<std::time::Instant>,
    pub pipe: bool,
    /// `r->upstream_states`: one entry per attempt, for `$upstream_addr`
    /// and friends.
    pub upstream: Vec<UpstreamState>,
    /// The last upstream response's header lines (`$upstream_http_NAME`).
    /// (the head as received, parsed only when a variable reads it)
    pub upstream_head: Vec<u8>,
    /// The header lines of the response head sent to the client
    /// (`$sent_http_NAME`).
    /// (the head as sent, parsed only when a variable reads it)
    pub sent_head: Vec<u8>,
    /// `$upgate_tunnel_close`: why the request's tunnel ended (set when it
    /// did; "-" otherwise).
    pub tunnel_close: Option<&'static str>,
}

/// One attempt at a peer (`ngx_http_upstream_state_t`). A time is `None`
/// while that point was not reached (nginx's `(ngx_msec_t) -1`, printed
/// as "-").
#[derive(Clone, Debug, Default)]
pub struct UpstreamState {
    pub peer: PeerName,
    /// 0 until the attempt ended or a response head arrived.
    pub status: u16,
    pub connect_time: Option<std::time::Duration>,
    pub header_time: Option<std::time::Duration>,
    pub response_time: Option<std::time::Duration>,
    /// Bytes of the response body read from the upstream.
    pub response_length: u64,
    /// Bytes read from the upstream (head and body).
    pub bytes_received: u64,
    /// Bytes written to the upstream.
    pub bytes_sent: u64,
}

/// What `$upstream_addr` shows for an attempt: the peer's address, or the
/// group's name when no peer was usable. Formatted only when a log line
/// or a variable reads it.
#[derive(Clone, Debug)]
pub enum PeerName {
    Addr(upgate_runtime::upstream::PeerAddr),
    Group(String),
}

impl Default for PeerName {
    fn default() -> Self {
        PeerName::Group(String::new())
    }
}

impl std::fmt::Display for PeerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerName::Addr(addr) => addr.fmt(f),
            PeerName::Group(name) => f.write_str(name),
        }
    }
}

impl From<&str> for PeerName {
    fn from(name: &str) -> Self {
        PeerName::Group(name.to_string())
    }
}

impl Values {
    /// Keeps the header lines of the response head at the start of `head`
    /// (the bytes written to the client) for `$sent_http_NAME`.
    pub fn record_sent_head(&mut self, head: &[u8]) {
        let end = head
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(head.len());
        self.sent_head.clear();
        self.sent_head.extend_from_slice(&head[..end]);
    }

    /// The state of the attempt under way.
    pub fn state(&mut self) -> &mut UpstreamState {
        if self.upstream.is_empty() {
            self.upstream.push(UpstreamState::default());
        }
        let last = self.upstream.len() - 1;
        &mut self.upstream[last]
    }
}

impl AccessLogs {
    /// Opens every file the settings name (paths under `prefix`); a file
    /// that cannot be opened is skipped.
    pub fn open(settings: &Settings, rt: &Runtime, prefix: &Path) -> AccessLogs {
        let mut logs = AccessLogs::default();
        let mut by_path: HashMap<String, Arc<LogFile>> = HashMap::new();
        for (name, (escape, text)) in &settings.log_formats {
            if let Ok(template) = upgate_runtime::variable::compile(text, &rt.user_vars) {
                logs.formats.insert(
                    name.clone(),
                    Arc::new(Format {
                        escape: *escape,
                        template,
                    }),
                );
            }
        }
        for loc in &settings.locations {
            let mut list = Vec::new();
            for spec in &loc.access_log {
                if spec.path.starts_with("syslog:") {
                    continue;
                }
                let Some(format) = logs.formats.get(&spec.format).cloned() else {
                    continue;
                };
                let file = match by_path.get(&spec.path) {
                    Some(f) => Arc::clone(f),
                    None => {
                        let full = prefix.join(&spec.path);
                        let Ok(f) = crate::privileges::open_append(&full) else {
                            continue;
                        };
                        let file = Arc::new(LogFile {
                            path: full.clone(),
                            out: Mutex::new(BufWriter::with_capacity(
                                spec.buffer.unwrap_or(4096).max(512),
                                f,
                            )),
                            buffered: spec.buffer.is_some(),
                        });
                        by_path.insert(spec.path.clone(), Arc::clone(&file));
                        logs.files.push(Arc::clone(&file));
                        file
                    }
                };
                // ngx_http_log_set_log: `if=` is a complex value.
                let condition = spec
                    .condition
                    .as_ref()
                    .and_then(|c| upgate_runtime::variable::compile(c, &rt.user_vars).ok());
                list.push((file, format, condition));
            }
            logs.by_location.push(list);
        }
        logs
    }

    /// Evaluates the request's own variables of every line `location` logs.
    /// Whether a request ending in `location` writes any line
    /// (`access_log off` writes none).
    pub fn any(&self, location: LocationId) -> bool {
        self.by_location
            .get(location.index())
            .is_some_and(|list| !list.is_empty())
    }

    pub fn prepare(&self, r: &mut Request<'_>, location: LocationId) -> Vec<Pending> {
        let Some(list) = self.by_location.get(location.index()) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(list.len());
        for (file, format, condition) in list {
            // ngx_http_log_handler: "" or "0" means the line is not written.
            if let Some(c) = condition {
                let value = r.eval(c);
                if value.is_empty() || value == b"0" {
                    continue;
                }
            }
            let mut text = Vec::new();
            let mut later = Vec::new();
            for part in &format.template.parts {
                match part {
                    Part::Text(t) => text.extend_from_slice(t),
                    // The connection's TLS values and the request body are
                    // known now; the others only once the response is done.
                    Part::Var(Var::Runtime(name))
                        if !name.starts_with("ssl_") && name != "request_body" =>
                    {
                        later.push((text.len(), name.clone()))
                    }
                    Part::Var(var) => {
                        let value = r.variable(var);
                        let missing = value.is_empty()
                            && matches!(
                                var,
                                Var::Http(_)
                                    | Var::Cookie(_)
                                    | Var::Arg(_)
                                    | Var::User(_)
                                    | Var::Runtime(_)
                            );
                        // escape=json writes nothing for a missing value
                        // (ngx_http_log_json_variable_getlen), the others "-".
                        if !missing {
                            text.extend_from_slice(&escape(&value, format.escape));
                        } else if format.escape != Escape::Json {
                            text.push(b'-');
                        }
                    }
                    Part::Capture(n) => {
                        let v = r
                            .captures
                            .as_ref()
                            .map(|c| c.group(usize::from(*n)).to_vec())
                            .unwrap_or_default();
                        text.extend_from_slice(&escape(&v, format.escape));
                    }
                }
            }
            text.shrink_to_fit();
            out.push(Pending {
                file: Arc::clone(file),
                text,
                later,
                escape: format.escape,
            });
        }
        out
    }

    /// Writes what buffered files hold.
    pub fn flush(&self) {
        for f in &self.files {
            f.flush();
        }
    }

    /// Reopens every file (SIGUSR1); the error names the first that failed
    /// (it goes on writing to the old one).
    pub fn reopen(&self) -> Result<(), String> {
        let mut failed = None;
        for f in &self.files {
            if let Err(e) = f.reopen() {
                failed.get_or_insert(format!(
                    "open() \"{}\" failed ({})",
                    f.path.display(),
                    crate::proxy::errno(&e)
                ));
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

impl Pending {
    /// Completes the line with the end-of-request values and writes it.
    pub fn finish(self, v: &Values) {
        let mut line = Vec::with_capacity(self.text.len() + 64);
        let mut done = 0;
        for (at, name) in &self.later {
            line.extend_from_slice(&self.text[done..*at]);
            done = *at;
            match log_value(name, v) {
                Some(value) => line.extend_from_slice(&escape(&value, self.escape)),
                None => line.push(b'-'),
            }
        }
        line.extend_from_slice(&self.text[done..]);
        line.push(b'\n');
        self.file.write_line(&line);
    }
}

/// A variable's value when the log line is written. nginx logs after
/// `ngx_http_set_keepalive` cleared `r->keepalive`, so `$sent_http_connection`
/// (`ngx_http_variable_sent_connection`) says "close" unless the response
/// was a 101, and `$sent_http_keep_alive` is not found.
fn log_value(name: &str, v: &Values) -> Option<Vec<u8>> {
    match name {
        "sent_http_connection" => Some(if v.status == 101 {
            b"upgrade".to_vec()
        } else {
            b"close".to_vec()
        }),
        "sent_http_keep_alive" => None,
        _ => runtime_value(name, v),
    }
}

/// A variable only known while serving, `None` when nginx finds none
/// (the log writes "-", add_header nothing).
pub fn runtime_value(name: &str, v: &Values) -> Option<Vec<u8>> {
    let now = std::time::SystemTime::now();
    let text = match name {
        "status" => format!("{:03}", v.status),
        "body_bytes_sent" => v.body_bytes_sent.to_string(),
        "bytes_sent" => v.bytes_sent.to_string(),
        "request_length" => v.request_length.to_string(),
        "request_time" => match v.request_started {
            Some(t) if v.request_time.is_zero() => secs(t.elapsed()),
            _ => secs(v.request_time),
        },
        "connection" => v.connection.to_string(),
        "connection_requests" => v.connection_requests.to_string(),
        "connection_time" => secs(v.connection_born?.elapsed()),
        "pipe" => (if v.pipe { "p" } else { "." }).into(),
        "msec" => {
            let d = now
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("{}.{:03}", d.as_secs(), d.subsec_millis())
        }
        "time_local" => crate::error_log::time_local(now),
        "time_iso8601" => crate::error_log::time_iso8601(now),
        "pid" => std::process::id().to_string(),
        "upstream_addr" => states(v, |s| Some(s.peer.to_string()))?,
        "upstream_status" => states(v, |s| (s.status != 0).then(|| s.status.to_string()))?,
        "upstream_response_time" => states(v, |s| s.response_time.map(secs))?,
        "upstream_connect_time" => states(v, |s| s.connect_time.map(secs))?,
        "upstream_header_time" => states(v, |s| s.header_time.map(secs))?,
        "upstream_response_length" => states(v, |s| Some(s.response_length.to_string()))?,
        "upstream_bytes_received" => states(v, |s| Some(s.bytes_received.to_string()))?,
        "upstream_bytes_sent" => states(v, |s| Some(s.bytes_sent.to_string()))?,
        "upgate_tunnel_close" => v.tunnel_close?.to_string(),
        other => {
            if let Some(name) = other.strip_prefix("sent_http_") {
                return header_named(&v.sent_head, name.as_bytes());
            }
            let name = other.strip_prefix("upstream_http_")?;
            return header_named(&v.upstream_head, name.as_bytes());
        }
    };
    Some(text.into_bytes())
}

/// `ngx_http_upstream_addr_variable` and friends: one value per attempt
/// ("-" for a missing one) joined with ", "; nothing without an upstream.
fn states(v: &Values, each: impl Fn(&UpstreamState) -> Option<String>) -> Option<String> {
    if v.upstream.is_empty() {
        return None;
    }
    let parts: Vec<String> = v
        .upstream
        .iter()
        .map(|s| each(s).unwrap_or_else(|| "-".into()))
        .collect();
    Some(parts.join(", "))
}

/// `$upstream_http_NAME` / `$sent_http_NAME`: the first header line whose
/// lower-cased name, `-` read as `_`, is NAME.
/// The value of the first header line of `head` (a status line, then
/// header lines) whose name, lower-cased with `-` read as `_`, is `name`.
fn header_named(head: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    head.split(|&c| c == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&c| c == b':')?;
        let n = &line[..colon];
        let same = n.len() == name.len()
            && n.iter().zip(name).all(|(&a, &b)| {
                let a = if a == b'-' {
                    b'_'
                } else {
                    a.to_ascii_lowercase()
                };
                a == b
            });
        same.then(|| line[colon + 1..].trim_ascii_start().to_vec())
    })
}

/// Seconds with milliseconds, as nginx prints times (`0.004`).
pub fn secs(d: std::time::Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// `ngx_http_log_escape` / `ngx_http_log_json_variable`.
fn escape(value: &[u8], how: Escape) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        match how {
            Escape::None => out.push(b),
            Escape::Default => {
                if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
                    out.extend_from_slice(format!("\\x{b:02X}").as_bytes());
                } else {
                    out.push(b);
                }
            }
            Escape::Json => match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b if b < 0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                b => out.push(b),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            escape(b"a\"b\\c\x01\xff", Escape::Default),
            b"a\\x22b\\x5Cc\\x01\\xFF"
        );
        assert_eq!(escape(b"a\"\n\x01", Escape::Json), b"a\\\"\\n\\u0001");
        assert_eq!(escape(b"a\"", Escape::None), b"a\"");
        assert_eq!(secs(std::time::Duration::from_millis(1234)), "1.234");
    }

    #[test]
    fn upstream_states_as_nginx_lists_them() {
        use std::time::Duration;
        let mut v = Values::default();
        assert_eq!(runtime_value("upstream_addr", &v), None);
        v.upstream.push(UpstreamState {
            peer: "127.0.0.1:8081".into(),
            status: 502,
            connect_time: Some(Duration::from_millis(1)),
            header_time: None,
            response_time: Some(Duration::from_millis(1100)),
            ..UpstreamState::default()
        });
        v.upstream.push(UpstreamState {
            peer: "127.0.0.1:8082".into(),
            status: 200,
            connect_time: Some(Duration::ZERO),
            header_time: Some(Duration::from_millis(2)),
            response_length: 23,
            ..UpstreamState::default()
        });
        v.upstream_head = b"HTTP/1.1 200 OK\r\nX-Len: 59\r\n".to_vec();
        let get = |n: &str| runtime_value(n, &v).map(|b| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(
            get("upstream_addr").as_deref(),
            Some("127.0.0.1:8081, 127.0.0.1:8082")
        );
        assert_eq!(get("upstream_status").as_deref(), Some("502, 200"));
        assert_eq!(get("upstream_header_time").as_deref(), Some("-, 0.002"));
        assert_eq!(get("upstream_response_time").as_deref(), Some("1.100, -"));
        assert_eq!(get("upstream_response_length").as_deref(), Some("0, 23"));
        assert_eq!(get("upstream_http_x_len").as_deref(), Some("59"));
        assert_eq!(get("upstream_http_x_none"), None);
        assert_eq!(get("connection_time"), None);
        v.record_sent_head(b"HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive\r\nKeep-Alive: timeout=9\r\n\r\nbody");
        let sent = |n: &str| runtime_value(n, &v).map(|b| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(sent("sent_http_connection").as_deref(), Some("keep-alive"));
        assert_eq!(sent("sent_http_keep_alive").as_deref(), Some("timeout=9"));
        assert_eq!(sent("sent_http_location"), None);
        // In the log line, as nginx writes it after keepalive was decided.
        assert_eq!(
            log_value("sent_http_connection", &v).as_deref(),
            Some(&b"close"[..])
        );
        assert_eq!(log_value("sent_http_keep_alive", &v), None);
        v.connection_born = Some(std::time::Instant::now());
        let t = runtime_value("connection_time", &v).unwrap_or_default();
        assert!(t.starts_with(b"0.0") && t.len() == 5);
    }
}
