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

/// Reads `path` and, when `follow_includes`, every file its `include`s
/// name. Never fails: a main file that cannot be read is an empty file with
/// a [`ReadError`], as crossplane reports it.
pub fn load_syntax(path: &Path, follow_includes: bool) -> SyntaxTree {
    let fs = Fs::default();
    let mut tree = SyntaxTree::default();
    let main = match fs.read(path) {
        Ok(text) => add_file(&mut tree.config, path, text),
        Err(err) => {
            let main = add_file(&mut tree.config, path, Vec::new());
            tree.read_errors
                .push(ReadError::new(main, None, path, &err));
            return tree;
        }
    };
    if !follow_includes {
        return tree;
    }
    let mut seen: HashMap<PathBuf, FileId> = HashMap::new();
    seen.insert(path.to_path_buf(), main);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut next = 0;
    while next < tree.config.files.len() {
        let id = FileId(next as u32);
        next += 1;
        let mut block = std::mem::take(&mut tree.config.files[id.index()].block);
        resolve_includes(&mut block, id, &dir, &fs, &mut tree, &mut seen);
        tree.config.files[id.index()].block = block;
    }
    tree
}

/// Fills `includes` on every `include` of `block` (nested blocks too), in
/// file order, reading the files not seen before.
fn resolve_includes(
    block: &mut Block,
    file: FileId,
    dir: &Path,
    fs: &Fs,
    tree: &mut SyntaxTree,
    seen: &mut HashMap<PathBuf, FileId>,
) {
    for node in &mut block.nodes {
        let Node::Directive(d) = node else { continue };
        if d.is("include")
            && let Some(arg) = d.args.first()
        {
            let pattern = dir.join(Path::new(arg.text().as_ref()));
            let line = d.line();
            d.includes = include(&pattern, file, line, fs, tree, seen);
        }
        if let Some(inner) = d.block.as_mut() {
            resolve_includes(inner, file, dir, fs, tree, seen);
        }
    }
}

/// The files one `include` names (crossplane's `parse`: a glob's matches
/// unread yet; a plain name read now, or an error on the includer).
fn include(
    pattern: &Path,
    file: FileId,
    line: u32,
    fs: &Fs,
    tree: &mut SyntaxTree,
    seen: &mut HashMap<PathBuf, FileId>,
) -> Vec<FileId> {
    let globbed = has_glob(pattern.as_os_str().as_encoded_bytes());
    let names = if globbed {
        fs.glob(pattern).unwrap_or_default()
    } else {
        vec![pattern.to_path_buf()]
    };
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        if let Some(&id) = seen.get(&name) {
            ids.push(id);
            continue;
        }
        let id = match fs.read(&name) {
            Ok(text) => add_file(&mut tree.config, &name, text),
            Err(err) if globbed => {
                let id = add_file(&mut tree.config, &name, Vec::new());
                tree.read_errors.push(ReadError::new(id, None, &name, &err));
                id
            }
            Err(err) => {
                tree.read_errors
                    .push(ReadError::new(file, Some(line), &name, &err));
                continue;
            }
        };
        seen.insert(name, id);
        ids.push(id);
    }
    ids
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
