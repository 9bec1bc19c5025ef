//! Loading for syntax-only tools (`upgate parse`, crossplane's JSON): the
//! main file and, optionally, the files its `include`s name, each parsed
//! once, with no directive checks.
//!
//! This is how crossplane reads a configuration, and it differs from
//! [`crate::load`] on purpose: relative include paths are joined to the
//! directory of the main file *as given* (so names stay relative, as
//! crossplane prints them); each file is read once however often it is
//! included (an `include` lists the index of the first read); files are
//! read breadth-first, in the order their `include`s are met; a glob's
//! matches come in nginx's order (`ngx_conf_include` sorts like glob(3)).
//! A file that cannot be read is a [`ReadError`], not a stop.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::ast::{Block, Node};
use crate::fs::{Fs, has_glob};
use crate::load::{ConfFile, Config};
use crate::parser;
use crate::span::{FileId, SourceFile};

/// A configuration read for its syntax only.
#[derive(Debug, Clone, Default)]
pub struct SyntaxTree {
    /// Every file read, in crossplane's order; `include` directives list
    /// the files they read in `includes`.
    pub config: Config,
    /// Files that could not be read, in the order they were met.
    pub read_errors: Vec<ReadError>,
}

/// A file that could not be read. It is reported on `file`: the including
/// file (at the `include`'s `line`) for a plain name, or the unreadable file
/// itself (without a line) for a glob match that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub file: FileId,
    pub line: Option<u32>,
    /// The path as it was tried.
    pub path: PathBuf,
    /// `errno`, when the system gave one.
    pub errno: Option<i32>,
    /// The system's text for it (`No such file or directory`).
    pub reason: String,
}

impl ReadError {
    fn new(file: FileId, line: Option<u32>, path: &Path, err: &io::Error) -> Self {
        let text = err.to_string();
        let reason = match text.rfind(" (os error") {
            Some(cut) => text[..cut].to_string(),
            None => text,
        };
        ReadError {
            file,
            line,
            path: path.to_path_buf(),
            errno: err.raw_os_error(),
            reason,
        }
    }
}

/// Where [`Includes`] puts the files it reads: the tree of
/// [`load_syntax`], or the bare texts of crossplane's streaming writer.
pub(crate) trait FileSink {
    /// Adds a file read (empty when it could not be read); returns its id,
    /// the next index.
    fn add(&mut self, path: &Path, text: Vec<u8>) -> FileId;
    /// Records a file that could not be read.
    fn read_error(&mut self, error: ReadError);
}

impl FileSink for SyntaxTree {
    fn add(&mut self, path: &Path, text: Vec<u8>) -> FileId {
        add_file(&mut self.config, path, text)
    }

    fn read_error(&mut self, error: ReadError) {
        self.read_errors.push(error);
    }
}

/// crossplane's reading of `include`s: relative to the main file's
/// directory, each file once.
pub(crate) struct Includes {
    fs: Fs,
    dir: PathBuf,
    seen: HashMap<PathBuf, FileId>,
}

impl Includes {
    /// Reads the main file into `sink` (file 0). Returns `None` when it could
    /// not be read: it is then an empty file with a [`ReadError`], and there
    /// are no includes to follow.
    pub(crate) fn open(path: &Path, sink: &mut impl FileSink) -> Option<Includes> {
        let fs = Fs::default();
        let main = match fs.read(path) {
            Ok(text) => sink.add(path, text),
            Err(err) => {
                let main = sink.add(path, Vec::new());
                sink.read_error(ReadError::new(main, None, path, &err));
                return None;
            }
        };
        let mut seen = HashMap::new();
        seen.insert(path.to_path_buf(), main);
        Some(Includes {
            fs,
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            seen,
        })
    }

    /// The files one `include ARG` of `file` at `line` names (crossplane's
    /// `parse`: a glob's matches unread yet; a plain name read now, or an
    /// error on the includer), reading into `sink` those not seen before.
    pub(crate) fn include(
        &mut self,
        arg: &str,
        file: FileId,
        line: u32,
        sink: &mut impl FileSink,
    ) -> Vec<FileId> {
        let pattern = self.dir.join(Path::new(arg));
        let globbed = has_glob(pattern.as_os_str().as_encoded_bytes());
        let names = if globbed {
            self.fs.glob(&pattern).unwrap_or_default()
        } else {
            vec![pattern]
        };
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            if let Some(&id) = self.seen.get(&name) {
                ids.push(id);
                continue;
            }
            let id = match self.fs.read(&name) {
                Ok(text) => sink.add(&name, text),
                Err(err) if globbed => {
                    let id = sink.add(&name, Vec::new());
                    sink.read_error(ReadError::new(id, None, &name, &err));
                    id
                }
                Err(err) => {
                    sink.read_error(ReadError::new(file, Some(line), &name, &err));
                    continue;
                }
            };
            self.seen.insert(name, id);
            ids.push(id);
        }
        ids
    }
}

/// Reads `path` and, when `follow_includes`, every file its `include`s
/// name. Never fails: a main file that cannot be read is an empty file with
/// a [`ReadError`], as crossplane reports it.
pub fn load_syntax(path: &Path, follow_includes: bool) -> SyntaxTree {
    let mut tree = SyntaxTree::default();
    let Some(mut includes) = Includes::open(path, &mut tree) else {
        return tree;
    };
    if !follow_includes {
        return tree;
    }
    let mut next = 0;
    while next < tree.config.files.len() {
        let id = FileId(next as u32);
        next += 1;
        let mut block = std::mem::take(&mut tree.config.files[id.index()].block);
        resolve_includes(&mut block, id, &mut includes, &mut tree);
        tree.config.files[id.index()].block = block;
    }
    tree
}

/// Fills `includes` on every `include` of `block` (nested blocks too), in
/// file order, reading the files not seen before.
fn resolve_includes(
    block: &mut Block,
    file: FileId,
    includes: &mut Includes,
    tree: &mut SyntaxTree,
) {
    for node in &mut block.nodes {
        let Node::Directive(d) = node else { continue };
        if d.is("include")
            && let Some(arg) = d.args.first()
        {
            let line = d.line();
            d.includes = includes.include(&arg.text(), file, line, tree);
        }
        if let Some(inner) = d.block.as_mut() {
            resolve_includes(inner, file, includes, tree);
        }
    }
}

fn add_file(config: &mut Config, path: &Path, text: Vec<u8>) -> FileId {
    let id = config.sources.add(SourceFile::new(path, text));
    let parsed = parser::parse(&config.sources.get(id).text.clone(), id);
    config.files.push(ConfFile {
        block: parsed.block,
        error: parsed.error,
        context: None,
    });
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp directory, removed even when an assertion fails.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> io::Result<TempDir> {
            let dir =
                std::env::temp_dir().join(format!("upgate-syntax-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            Ok(TempDir(dir))
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn paths(tree: &SyntaxTree) -> Vec<String> {
        tree.config
            .sources
            .files()
            .iter()
            .map(|f| f.path.display().to_string())
            .collect()
    }

    #[test]
    fn breadth_first_and_read_once() -> io::Result<()> {
        let dir = TempDir::new("bfs")?;
        std::fs::write(
            dir.join("main.conf"),
            "include a.conf;\nhttp { include b.conf; include a.conf; }\n",
        )?;
        std::fs::write(dir.join("a.conf"), "include c.conf;\n")?;
        std::fs::write(dir.join("b.conf"), "x;\n")?;
        std::fs::write(dir.join("c.conf"), "y;\n")?;
        let tree = load_syntax(&dir.join("main.conf"), true);
        let names: Vec<String> = paths(&tree)
            .iter()
            .map(|p| p.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names, vec!["main.conf", "a.conf", "b.conf", "c.conf"]);
        // walk() enters a.conf at both of its includes.
        let mut includes = Vec::new();
        tree.config.walk(|d, _| {
            if d.is("include") {
                includes.push(d.includes.clone());
            }
        });
        let (a, b, c) = (vec![FileId(1)], vec![FileId(2)], vec![FileId(3)]);
        assert_eq!(includes, vec![a.clone(), c.clone(), b, a, c]);
        Ok(())
    }

    #[test]
    fn missing_file_is_an_error_on_the_includer() -> io::Result<()> {
        let dir = TempDir::new("missing")?;
        std::fs::write(
            dir.join("main.conf"),
            "a;\ninclude nope.conf;\ninclude *.none;\n",
        )?;
        let tree = load_syntax(&dir.join("main.conf"), true);
        assert_eq!(tree.config.files.len(), 1);
        assert_eq!(tree.read_errors.len(), 1);
        let err = &tree.read_errors[0];
        assert_eq!(
            (err.file, err.line, err.errno),
            (FileId(0), Some(2), Some(2))
        );
        assert_eq!(err.reason, "No such file or directory");
        Ok(())
    }

    #[test]
    fn unreadable_main_file() {
        let tree = load_syntax(Path::new("/nonexistent/upgate/nginx.conf"), true);
        assert_eq!(tree.config.files.len(), 1);
        let err = &tree.read_errors[0];
        assert_eq!((err.file, err.line, err.errno), (FileId(0), None, Some(2)));
    }

    #[test]
    fn single_file_reads_no_includes() -> io::Result<()> {
        let dir = TempDir::new("single")?;
        std::fs::write(dir.join("main.conf"), "include other.conf;\n")?;
        let tree = load_syntax(&dir.join("main.conf"), false);
        assert_eq!((tree.config.files.len(), tree.read_errors.len()), (1, 0));
        Ok(())
    }
}
