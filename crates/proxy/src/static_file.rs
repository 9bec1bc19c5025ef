//! The static module (`ngx_http_static_handler`,
//! src/http/modules/ngx_http_static_module.c) and what nginx's filters do
//! to its response: the file under root/alias is opened (404 for a missing
//! name, logged unless `log_not_found off`; 403 for EACCES), a directory
//! gets a 301 to the URI with a slash, anything but a regular file is a
//! 404, POST to a file a 405. A file is sent with Content-Type from
//! `types`/`default_type`, Content-Length, Last-Modified, ETag
//! (`"%xT-%xO"`, `etag`), then the not-modified filter (`not_modified.rs`:
//! 304, 412) and the range filter (`range.rs`: 206, 416, Accept-Ranges)
//! apply. The body is streamed from the file in pieces.
//!
//! The file tests of try_files and index go through [`DiskFiles`].

use std::ffi::OsStr;
use std::io::SeekFrom;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use upgate_runtime::Request;
use upgate_runtime::files::{FileError, FileKind, Files};

use crate::access_log::Values;
use crate::client::Client;
use crate::error_log::Level;
use crate::http1::error_page::write_status;
use crate::http1::{Keepalive, RequestHead, Version, http_date};
use crate::not_modified::{self, Conditions, Decision, Validators};
use crate::proxy::After;
use crate::range::{self, Ranges};
use crate::tables::Tables;

/// The file system, for try_files and index (`stat`, as nginx's
/// `ngx_open_cached_file` with `test_only`).
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskFiles;

impl Files for DiskFiles {
    fn stat(&self, path: &[u8]) -> Result<FileKind, FileError> {
        match std::fs::metadata(OsStr::from_bytes(path)) {
            Ok(m) if m.is_dir() => Ok(FileKind::Dir),
            Ok(m) if m.is_file() => Ok(FileKind::File),
            Ok(_) => Ok(FileKind::Other),
            Err(e) => Err(file_error(&e)),
        }
    }

    fn executable(&self, path: &[u8]) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(OsStr::from_bytes(path))
            .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }

    /// nginx reads the file on every request; this keeps the contents
    /// of the last read and reads again when `stat` says the file is not
    /// the same (inode, size, mtime or ctime), so a change is seen at once.
    /// A file changed in the last two seconds is read every time: the
    /// kernel's timestamps are coarser than two writes can be apart.
    fn read(&self, path: &[u8]) -> Result<std::sync::Arc<[u8]>, FileError> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(OsStr::from_bytes(path)).map_err(|e| file_error(&e))?;
        let id = (
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        );
        if let Ok(cache) = READ_CACHE.lock()
            && let Some((seen, contents)) = cache.get(path)
            && *seen == id
        {
            return Ok(std::sync::Arc::clone(contents));
        }
        let contents: std::sync::Arc<[u8]> = std::fs::read(OsStr::from_bytes(path))
            .map_err(|e| file_error(&e))?
            .into();
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(2));
        if settled && let Ok(mut cache) = READ_CACHE.lock() {
            if cache.len() >= 64 {
                cache.clear();
            }
            cache.insert(path.to_vec(), (id, std::sync::Arc::clone(&contents)));
        }
        Ok(contents)
    }
}

/// The status and log level of a failed `open()`
/// (`ngx_http_static_handler`: ENOENT, ENOTDIR and ENAMETOOLONG are 404,
/// EACCES, EMLINK and ELOOP 403, anything else 500 at crit).
pub(crate) fn open_failure(e: &std::io::Error) -> (u16, Level) {
    match e.raw_os_error() {
        Some(2 | 20 | 36) => (404, Level::Error),
        Some(13 | 31 | 40) => (403, Level::Error),
        _ => (500, Level::Crit),
    }
}

/// What `stat` says of a file read by [`DiskFiles::read`].
type FileIdentity = (u64, u64, u64, i64, i64, i64, i64);

/// What a read found, by path.
type ReadCache = std::collections::HashMap<Vec<u8>, (FileIdentity, std::sync::Arc<[u8]>)>;

/// The files [`DiskFiles::read`] read last.
static READ_CACHE: std::sync::LazyLock<std::sync::Mutex<ReadCache>> =
    std::sync::LazyLock::new(Default::default);

fn file_error(e: &std::io::Error) -> FileError {
    match e.raw_os_error() {
        Some(2) => FileError::NotFound,
        Some(20) | Some(36) => FileError::NotDir,
        Some(13) => FileError::Denied,
        _ => FileError::Other(format!(" ({})", crate::proxy::errno(e))),
    }
}

/// A response the static module did not send itself: nginx finalizes the
/// request with this status (error pages apply).
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub reason: &'static str,
    /// The 301's Location (relative: the header filter makes it absolute).
    pub location: Option<Vec<u8>>,
    /// Headers the page keeps (the 416's Content-Range).
    pub extra: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Failure {
    fn status(status: u16, reason: &'static str) -> Failure {
        Failure {
            status,
            reason,
            location: None,
            extra: Vec::new(),
        }
    }
}

/// The boundaries of multipart responses (`ngx_next_temp_number`).
static BOUNDARY: AtomicU64 = AtomicU64::new(0);

/// How much of a file is read per write to the client.
const PIECE: usize = 64 * 1024;

/// Serves the file of `r` (its outcome is `Outcome::Static`).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    tables: &Tables,
    client: &mut Client,
    head: &RequestHead,
    r: &mut Request<'_>,
    keepalive: Keepalive,
    date: &[u8],
    vals: &mut Values,
    body_read: bool,
) -> Result<After, Failure> {
    let cx = crate::dispatch::context(r, client, head);
    let mapped = match r.map_uri_to_path() {
        Ok(m) => m,
        Err(e) => {
            tables.error_log.log_request(Level::Alert, &cx, &e);
            return Err(Failure::status(500, "alias in a rewritten location"));
        }
    };
    let path = mapped.path;
    let shown = String::from_utf8_lossy(&path).into_owned();
    let conf = &r.rt.location(r.location).conf;
    let file = match std::fs::File::open(OsStr::from_bytes(&path)) {
        Ok(f) => f,
        Err(e) => {
            let (status, level) = open_failure(&e);
            if status != 404 || conf.log_not_found {
                let msg = format!("open() \"{shown}\" failed ({})", crate::proxy::errno(&e));
                tables.error_log.log_request(level, &cx, &msg);
            }
            return Err(Failure::status(status, "open() failed"));
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            let msg = format!("fstat() \"{shown}\" failed ({})", crate::proxy::errno(&e));
            tables.error_log.log_request(Level::Crit, &cx, &msg);
            return Err(Failure::status(500, "fstat() failed"));
        }
    };
    if meta.is_dir() {
        // nginx copies the URI as is only when it needs no escaping (and
        // no alias or args): the same bytes as escaping it.
        let mut location = upgate_runtime::uri::escape_uri(&r.uri);
        location.push(b'/');
        if !r.args.is_empty() {
            location.push(b'?');
            location.extend_from_slice(&r.args);
        }
        return Err(Failure {
            status: 301,
            reason: "a directory",
            location: Some(location),
            extra: Vec::new(),
        });
    }
    if !meta.is_file() {
        let msg = format!("\"{shown}\" is not a regular file");
        tables.error_log.log_request(Level::Crit, &cx, &msg);
        return Err(Failure::status(404, "not a regular file"));
    }
    if r.method == b"POST" {
        return Err(Failure::status(405, "POST to a file"));
    }
    let size = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    let etag = conf
        .etag
        .then(|| format!("\"{mtime:x}-{size:x}\"").into_bytes());
    let mut status = r.err_status.unwrap_or(200);
    let content_type = tables.loc(r.location).content_type(&r.uri);
    let mut parts: Option<Vec<range::Range>> = None;
    let mut accept_ranges = false;
    if status == 200 {
        let conditions = Conditions {
            if_unmodified_since: head.header(b"if-unmodified-since"),
            if_match: head.header(b"if-match"),
            if_modified_since: head.header(b"if-modified-since"),
            if_none_match: head.header(b"if-none-match"),
        };
        let validators = Validators {
            last_modified: mtime,
            etag: etag.as_deref(),
            ims: conf.if_modified_since,
        };
        match not_modified::decide(&conditions, &validators) {
            Decision::PreconditionFailed => {
                return Err(Failure::status(412, "precondition failed"));
            }
            Decision::NotModified => status = 304,
            Decision::Send => {}
        }
    }
    if status == 200 && head.version() >= Version::HTTP_10 && conf.max_ranges != Some(0) {
        match ranges_of(head, size, mtime, etag.as_deref(), conf.max_ranges) {
            Ranges::Whole => accept_ranges = true,
            Ranges::Partial(list) => {
                status = 206;
                parts = Some(list);
            }
            Ranges::NotSatisfiable => {
                // The headers filter has run for the 200 already; the
                // page keeps its lines and Content-Range.
                let known = &*vals;
                let mut extra =
                    r.add_headers_with(200, &|name| crate::access_log::runtime_value(name, known));
                extra.push((
                    b"Content-Range".to_vec(),
                    format!("bytes */{size}").into_bytes(),
                ));
                return Err(Failure {
                    status: 416,
                    reason: "range not satisfiable",
                    location: None,
                    extra,
                });
            }
        }
    }
    // The response head, as ngx_http_header_filter writes it.
    let boundary = match &parts {
        Some(list) if list.len() > 1 => Some(BOUNDARY.fetch_add(1, Ordering::Relaxed)),
        _ => None,
    };
    let mut part_heads: Vec<Vec<u8>> = Vec::new();
    let mut length = size;
    let mut content_range = None;
    let mut shown_type = content_type.clone();
    match (&parts, boundary) {
        (Some(list), Some(b)) => {
            let mut total = 0u64;
            for p in list {
                let mut h = format!("\r\n--{b:020}\r\n").into_bytes();
                if !content_type.is_empty() {
                    h.extend_from_slice(b"Content-Type: ");
                    h.extend_from_slice(&content_type);
                    h.extend_from_slice(b"\r\n");
                }
                h.extend_from_slice(
                    format!(
                        "Content-Range: bytes {}-{}/{size}\r\n\r\n",
                        p.start,
                        p.end - 1
                    )
                    .as_bytes(),
                );
                total += h.len() as u64 + (p.end - p.start);
                part_heads.push(h);
            }
            let tail = format!("\r\n--{b:020}--\r\n");
            total += tail.len() as u64;
            part_heads.push(tail.into_bytes());
            length = total;
            shown_type = format!("multipart/byteranges; boundary={b:020}").into_bytes();
        }
        (Some(list), None) => {
            if let Some(p) = list.first() {
                content_range = Some(format!("bytes {}-{}/{size}", p.start, p.end - 1));
                length = p.end - p.start;
            }
        }
        _ => {}
    }
    let ctx = head.reply_context();
    let mut out = Vec::with_capacity(512);
    let ident = tables.ident(r.location);
    let known = &*vals;
    let extra = r.add_headers_with(status, &|name| {
        crate::access_log::runtime_value(name, known)
    });
    if !ctx.http09 {
        out.extend_from_slice(b"HTTP/1.1 ");
        write_status(&mut out, status);
        out.extend_from_slice(ident.server_line());
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
        if status != 304 {
            if !shown_type.is_empty() {
                line(&mut out, b"Content-Type", &shown_type);
            }
            line(&mut out, b"Content-Length", length.to_string().as_bytes());
        }
        if matches!(status, 200 | 206 | 304) {
            let lm = http_date(UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64));
            line(&mut out, b"Last-Modified", &lm);
        }
        // A Location an error page's original response set stays.
        if let Some(l) = r.headers_location.clone() {
            line(&mut out, b"Location", &r.absolute_location(&l));
        }
        keepalive.write(&mut out);
        // the access phase pushed these before the static module its ETag
        for (n, v) in r.www_authenticate_lines() {
            line(&mut out, &n, &v);
        }
        if let Some(e) = &etag {
            line(&mut out, b"ETag", e);
        }
        for (n, v) in &extra {
            line(&mut out, n, v);
        }
        if accept_ranges {
            line(&mut out, b"Accept-Ranges", b"bytes");
        }
        if let Some(cr) = &content_range {
            line(&mut out, b"Content-Range", cr.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    vals.status = status;
    let send = conf.timeouts.send_timeout.value;
    if client.write_all(&out, send).await.is_err() {
        return Ok(After::Close);
    }
    let head_len = client.sent;
    let header_only = ctx.head_only || status == 304;
    if !header_only {
        let mut f = tokio::fs::File::from_std(file);
        let sent = match (&parts, boundary) {
            (Some(list), Some(_)) => {
                let mut ok = true;
                for (p, h) in list.iter().zip(&part_heads) {
                    ok = ok
                        && client.write_all(h, send).await.is_ok()
                        && copy(&mut f, client, p.start, p.end - p.start, send).await;
                    if !ok {
                        break;
                    }
                }
                match (ok, part_heads.last()) {
                    (true, Some(t)) => client.write_all(t, send).await.is_ok(),
                    _ => ok,
                }
            }
            (Some(list), None) => match list.first() {
                Some(p) => copy(&mut f, client, p.start, p.end - p.start, send).await,
                None => true,
            },
            _ => copy(&mut f, client, 0, size, send).await,
        };
        if !sent {
            vals.bytes_sent = client.sent;
            vals.body_bytes_sent = client.sent.saturating_sub(head_len);
            return Ok(After::Close);
        }
    }
    vals.bytes_sent = client.sent;
    vals.body_bytes_sent = client.sent.saturating_sub(head_len);
    if !matches!(keepalive, Keepalive::KeepAlive { .. }) {
        return Ok(After::Close);
    }
    if body_read {
        return Ok(After::KeepAlive);
    }
    // ngx_http_discard_request_body: drop what the client sent.
    let discard = crate::request_body::read_body(
        client,
        head.body_framing(),
        0,
        Duration::from_secs(5),
        None,
    )
    .await;
    Ok(match discard {
        Ok(_) => After::KeepAlive,
        Err(_) => After::Close,
    })
}

/// The range filter's decision for this request.
fn ranges_of(
    head: &RequestHead,
    size: u64,
    mtime: i64,
    etag: Option<&[u8]>,
    max: Option<u32>,
) -> Ranges {
    let Some(value) = head.header(b"range") else {
        return Ranges::Whole;
    };
    if value.len() < 7 || !value[..6].eq_ignore_ascii_case(b"bytes=") {
        return Ranges::Whole;
    }
    if let Some(ir) = head.header(b"if-range") {
        if ir.len() >= 2 && ir.last() == Some(&b'"') {
            if etag != Some(ir) {
                return Ranges::Whole;
            }
        } else if not_modified::parse_http_time(ir) != mtime {
            return Ranges::Whole;
        }
    }
    range::parse(&value[6..], size, max)
}

/// Sends `len` bytes of `f` from `start`; false when the client is gone or
/// the file cannot be read.
async fn copy(
    f: &mut tokio::fs::File,
    client: &mut Client,
    start: u64,
    len: u64,
    send: Duration,
) -> bool {
    if f.seek(SeekFrom::Start(start)).await.is_err() {
        return false;
    }
    let mut left = len;
    let mut buf = vec![0u8; PIECE.min(len as usize).max(1)];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = match f.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if client.write_all(&buf[..n], send).await.is_err() {
            return false;
        }
        left -= n as u64;
    }
    true
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::time::SystemTime;

    use super::*;

    fn age(path: &std::path::Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    /// The user file is read again whenever it changed, as nginx reading
    /// it on every request would see.
    #[test]
    fn read_sees_every_change() {
        let dir = std::env::temp_dir().join(format!("upgate-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("htpasswd");
        let p = path.as_os_str().as_bytes();
        std::fs::write(&path, "a:1\n").unwrap();
        age(&path, 60);
        assert_eq!(&*DiskFiles.read(p).unwrap(), b"a:1\n");
        assert_eq!(&*DiskFiles.read(p).unwrap(), b"a:1\n");
        // rewritten in place, another size
        std::fs::write(&path, "a:22\n").unwrap();
        age(&path, 60);
        assert_eq!(&*DiskFiles.read(p).unwrap(), b"a:22\n");
        // replaced by a rename, same size and times
        let next = dir.join("next");
        std::fs::write(&next, "b:22\n").unwrap();
        age(&next, 60);
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(&*DiskFiles.read(p).unwrap(), b"b:22\n");
        // changed just now: read every time
        std::fs::write(&path, "c:33\n").unwrap();
        assert_eq!(&*DiskFiles.read(p).unwrap(), b"c:33\n");
        std::fs::write(&path, "d:44\n").unwrap();
        assert_eq!(&*DiskFiles.read(p).unwrap(), b"d:44\n");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(DiskFiles.read(p), Err(FileError::NotFound));
        std::fs::remove_dir_all(&dir).ok();
    }
}
