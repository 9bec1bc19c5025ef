//! The file tests of try_files and index (`ngx_open_cached_file` with
//! `test_only`), behind a trait so that the runtime stays pure: the engine
//! asks the file system, `upgate route` and the unit tests answer from
//! memory.

use std::collections::HashMap;

/// What a name is, when `stat` succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    /// A socket, device or fifo.
    Other,
}

/// Why `stat` failed, as nginx tells the errors apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// ENOENT.
    NotFound,
    /// ENOTDIR or ENAMETOOLONG.
    NotDir,
    /// EACCES.
    Denied,
    /// Anything else, with the text nginx appends (`(5: Input/output error)`).
    Other(String),
}

impl FileError {
    /// nginx's ` (N: text)` suffix of an error log line.
    pub fn suffix(&self) -> &str {
        match self {
            FileError::NotFound => " (2: No such file or directory)",
            FileError::NotDir => " (20: Not a directory)",
            FileError::Denied => " (13: Permission denied)",
            FileError::Other(s) => s,
        }
    }
}

/// Answers the file tests of one request.
pub trait Files {
    fn stat(&self, path: &[u8]) -> Result<FileKind, FileError>;

    /// `if (-x ...)`: the name exists and has an execute bit.
    fn executable(&self, _path: &[u8]) -> bool {
        false
    }

    /// The whole contents of a file (auth_basic's user file).
    fn read(&self, _path: &[u8]) -> Result<std::sync::Arc<[u8]>, FileError> {
        Err(FileError::NotFound)
    }
}

/// Nothing exists (for explanations without a file system).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFiles;

impl Files for NoFiles {
    fn stat(&self, _path: &[u8]) -> Result<FileKind, FileError> {
        Err(FileError::NotFound)
    }
}

/// A file system in memory: names and what they are. Directories of the
/// files listed exist implicitly.
#[derive(Debug, Default, Clone)]
pub struct MemFiles {
    pub entries: HashMap<Vec<u8>, FileKind>,
    /// What [`Files::read`] gives for a file.
    pub contents: HashMap<Vec<u8>, Vec<u8>>,
}

impl MemFiles {
    pub fn new(files: &[&str], dirs: &[&str]) -> MemFiles {
        let mut entries = HashMap::new();
        for f in files {
            entries.insert(f.as_bytes().to_vec(), FileKind::File);
            let mut p = f.as_bytes();
            while let Some(i) = p.iter().rposition(|&c| c == b'/') {
                p = &p[..i];
                if !p.is_empty() {
                    entries.insert(p.to_vec(), FileKind::Dir);
                }
            }
        }
        for d in dirs {
            entries.insert(d.trim_end_matches('/').as_bytes().to_vec(), FileKind::Dir);
        }
        MemFiles {
            entries,
            contents: HashMap::new(),
        }
    }
}

impl Files for MemFiles {
    fn stat(&self, path: &[u8]) -> Result<FileKind, FileError> {
        let trimmed = match path.strip_suffix(b"/") {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        match self.entries.get(trimmed) {
            // "file/" fails with ENOTDIR
            Some(FileKind::File) if trimmed.len() != path.len() => Err(FileError::NotDir),
            Some(k) => Ok(*k),
            None => Err(FileError::NotFound),
        }
    }

    fn read(&self, path: &[u8]) -> Result<std::sync::Arc<[u8]>, FileError> {
        self.contents
            .get(path)
            .map(|c| std::sync::Arc::from(c.as_slice()))
            .ok_or(FileError::NotFound)
    }
}
