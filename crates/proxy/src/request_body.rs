//! The client's request body, read whole before the upstream is contacted
//! (nginx's default `proxy_request_buffering on`:
//! `ngx_http_read_client_request_body` in src/http/ngx_http_request_body.c),
//! or read and dropped when nginx answers itself
//! (`ngx_http_discard_request_body`). Framing and limits are the codec's
//! [`BodyDecoder`]; each read waits at most client_body_timeout. Like
//! nginx's client_body_temp_path, a body larger than [`MEMORY_LIMIT`] goes
//! to an unlinked temporary file ([`Body`]), so that a large
//! client_max_body_size costs disk, not memory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use crate::client::{Client, IoFail};
use crate::http1::{BodyDecoder, BodyError, BodyFraming};

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyFail {
    /// 413: "client intended to send too large body".
    TooLarge,
    /// 400: "client sent invalid chunked body".
    Invalid,
    /// client_body_timeout: nginx closes without a response (408 logged).
    Timeout,
    /// "client prematurely closed connection" (499 logged).
    Closed,
}

impl From<BodyError> for BodyFail {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => BodyFail::TooLarge,
            _ => BodyFail::Invalid,
        }
    }
}

impl From<IoFail> for BodyFail {
    fn from(e: IoFail) -> Self {
        match e {
            IoFail::Timeout => BodyFail::Timeout,
            _ => BodyFail::Closed,
        }
    }
}

/// Bodies up to this size stay in memory.
pub const MEMORY_LIMIT: usize = 1024 * 1024;

/// A buffered request body.
#[derive(Debug, Default)]
pub struct Body {
    memory: Vec<u8>,
    file: Option<std::fs::File>,
    len: u64,
}

impl Body {
    /// Its length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The body when it is held in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(self.memory.as_slice())
    }

    /// Appends data, moving to a temporary file past [`MEMORY_LIMIT`].
    pub fn extend(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.len += data.len() as u64;
        if let Some(f) = &mut self.file {
            return f.write_all(data);
        }
        if self.memory.len() + data.len() <= MEMORY_LIMIT {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        let mut f = temp_file()?;
        f.write_all(&self.memory)?;
        f.write_all(data)?;
        self.memory = Vec::new();
        self.file = Some(f);
        Ok(())
    }

    /// The body in pieces of at most `MEMORY_LIMIT` bytes, for `each` to
    /// send; the file is read from its start each time (a retry sends it
    /// again).
    pub fn pieces(&mut self) -> std::io::Result<BodyPieces<'_>> {
        if let Some(f) = &mut self.file {
            f.seek(SeekFrom::Start(0))?;
        }
        Ok(BodyPieces {
            body: self,
            done: false,
            buf: Vec::new(),
        })
    }
}

/// An iterator-like reader over a [`Body`].
pub struct BodyPieces<'a> {
    body: &'a mut Body,
    done: bool,
    buf: Vec<u8>,
}

impl BodyPieces<'_> {
    /// The next piece; empty at the end.
    pub fn next_piece(&mut self) -> std::io::Result<&[u8]> {
        if self.done {
            return Ok(&[]);
        }
        match &mut self.body.file {
            None => {
                self.done = true;
                Ok(&self.body.memory)
            }
            Some(f) => {
                self.buf.resize(64 * 1024, 0);
                let n = f.read(&mut self.buf)?;
                if n == 0 {
                    self.done = true;
                }
                Ok(&self.buf[..n])
            }
        }
    }
}

/// An unlinked file under the system's temporary directory.
fn temp_file() -> std::io::Result<std::fs::File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "upgate-body-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

/// Reads the whole body from `client` (the part already in `client.buf`
/// first), each read bounded by `timeout`; what follows the body stays in
/// `client.buf`. `sink` gets the data; `None` drops it. Returns the bytes
/// the body took on the wire (chunked framing included: `$request_length`).
pub async fn read_body(
    client: &mut Client,
    framing: BodyFraming,
    max: u64,
    timeout: Duration,
    mut sink: Option<&mut Body>,
) -> Result<u64, BodyFail> {
    if framing == BodyFraming::None {
        return Ok(0);
    }
    let mut wire = 0u64;
    let mut dec = BodyDecoder::new(framing, max)?;
    loop {
        loop {
            let d = dec.decode(&client.buf)?;
            if let Some(s) = sink.as_deref_mut() {
                s.extend(d.data).map_err(|_| BodyFail::Closed)?;
            }
            let (consumed, done) = (d.consumed, d.done);
            let _ = client.buf.split_to(consumed);
            wire += consumed as u64;
            if done {
                return Ok(wire);
            }
            if consumed == 0 || client.buf.is_empty() {
                break;
            }
        }
        client
            .read_more(&mut crate::io_timeout::Deadline::new(timeout), 64 * 1024)
            .await?;
    }
}
