//! Snippets: a file that is not a whole nginx.conf (a `conf.d/*.conf` with
//! `server` and `upstream` blocks, a `proxy_params` of location directives)
//! is read inside the block it was written for, the way nginx reads it when
//! nginx.conf includes it there.
//!
//! The block is found from the file's top-level directives and the directive
//! table: the outermost of main, http, server, location and stream where
//! every one of them is allowed. The file is then included from a small
//! wrapper, laid out like the one `../shared/corpus/HOW-JUDGED.md` describes,
//! so that errors inside the snippet keep the snippet's own file and line.

use std::path::{Path, PathBuf};

use crate::ast::Block;
use crate::context::BlockKind;
use crate::directives::{self, Build, ModuleType};
use crate::fs::{Fs, has_glob};
use crate::load::Config;
use crate::parser;
use crate::span::FileId;

/// The block a file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnippetContext {
    Main,
    Http,
    Server,
    Location,
    Stream,
}

impl SnippetContext {
    pub const ALL: [SnippetContext; 5] = [
        SnippetContext::Main,
        SnippetContext::Http,
        SnippetContext::Server,
        SnippetContext::Location,
        SnippetContext::Stream,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SnippetContext::Main => "main",
            SnippetContext::Http => "http",
            SnippetContext::Server => "server",
            SnippetContext::Location => "location",
            SnippetContext::Stream => "stream",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn block_kind(self) -> BlockKind {
        match self {
            SnippetContext::Main => BlockKind::Main,
            SnippetContext::Http => BlockKind::Http,
            SnippetContext::Server => BlockKind::Server,
            SnippetContext::Location => BlockKind::Location,
            SnippetContext::Stream => BlockKind::Stream,
        }
    }

    /// The wrapper that includes `file` in this block (HOW-JUDGED.md's).
    pub fn wrapper(self, file: &Path) -> String {
        // Quoted, so that a path with a space, a `;` or a quote is one
        // argument (nginx's lexer undoes `\\` and `\"` inside quotes).
        let file = format!(
            "\"{}\"",
            file.display()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        );
        match self {
            SnippetContext::Main => format!("events {{}}\ninclude {file};\n"),
            SnippetContext::Http => format!("events {{}}\nhttp {{\n    include {file};\n}}\n"),
            SnippetContext::Server => format!(
                "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        include {file};\n    }}\n}}\n"
            ),
            SnippetContext::Location => format!(
                "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        location / {{\n            include {file};\n        }}\n    }}\n}}\n"
            ),
            SnippetContext::Stream => format!("events {{}}\nstream {{\n    include {file};\n}}\n"),
        }
    }
}

/// What detection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// A whole configuration: read it as the main file.
    MainFile,
    /// Read inside this block.
    Snippet(SnippetContext),
    /// No block takes every directive; the best guess and the others that
    /// fit as many.
    Ambiguous {
        best: SnippetContext,
        also: Vec<SnippetContext>,
    },
}

/// Decides how to read a file from its text.
pub fn detect(text: &[u8]) -> Detected {
    detect_block(&parser::parse(text, FileId(0)).block)
}

/// Decides how to read a file from its top-level directives.
pub fn detect_block(block: &Block) -> Detected {
    let names: Vec<&[u8]> = block
        .directives()
        .map(|d| d.name.value.as_slice())
        .filter(|n| *n != b"include")
        .collect();
    if names.is_empty() {
        // No directive (or only includes): nothing makes it a whole
        // nginx.conf, which needs events {}; conf.d files like this one live
        // in http {}.
        return Detected::Snippet(SnippetContext::Http);
    }
    // A whole nginx.conf has events {} and must be read as one even if it
    // has mistakes.
    if names.iter().any(|n| *n == b"events") {
        return Detected::MainFile;
    }
    let fits = |ctx: SnippetContext| names.iter().filter(|n| allowed_in(n, ctx)).count();
    if fits(SnippetContext::Main) == names.len() {
        return Detected::MainFile;
    }
    for ctx in &SnippetContext::ALL[1..] {
        if fits(*ctx) == names.len() {
            return Detected::Snippet(*ctx);
        }
    }
    let most = SnippetContext::ALL
        .iter()
        .map(|c| fits(*c))
        .max()
        .unwrap_or(0);
    if most == 0 {
        return Detected::MainFile;
    }
    let mut best: Vec<SnippetContext> = SnippetContext::ALL
        .into_iter()
        .filter(|c| fits(*c) == most)
        .collect();
    let first = best.remove(0);
    if first == SnippetContext::Main && best.is_empty() {
        return Detected::MainFile;
    }
    Detected::Ambiguous {
        best: first,
        also: best,
    }
}

/// Whether a directive may stand directly in the block (any module, built or not).
fn allowed_in(name: &[u8], ctx: SnippetContext) -> bool {
    let (module_type, cmd_type) = ctx.block_kind().nginx_context();
    directives::lookup(name).iter().any(|spec| {
        let t = spec.module().module_type;
        spec.module().build != Build::Absent
            && (t == module_type || t == ModuleType::Conf)
            && spec.flags & cmd_type != 0
    })
}

/// nginx resolves a snippet's relative includes from the directory of the
/// nginx.conf that includes it: the nearest one above the file, else the
/// file's own directory.
pub fn conf_root(fs: &Fs, file: &Path) -> PathBuf {
    let start = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut dir = start.clone();
    loop {
        if fs.exists(&dir.join("nginx.conf")) {
            return dir;
        }
        if !dir.pop() {
            return start;
        }
    }
}

/// `--with-main`: where the main configuration would read a new snippet.
/// Returns the path nginx would see it at: the directory of the first
/// `include` glob (in a block that fits the snippet, when one does) whose
/// pattern takes the snippet's file name.
pub fn injection_point(
    config: &Config,
    snippet_name: &std::ffi::OsStr,
    wanted: Option<SnippetContext>,
) -> Option<PathBuf> {
    let mut candidates: Vec<(PathBuf, Option<SnippetContext>)> = Vec::new();
    config.walk(|d, parents| {
        let Some(arg) = d.args.first() else { return };
        if !d.is("include") || !has_glob(&arg.value) {
            return;
        }
        let pattern = PathBuf::from(arg.text().as_ref());
        let pattern = match config.sources.path(d.file()).parent() {
            Some(dir) if !pattern.is_absolute() => {
                // nginx resolves includes from the main file's directory.
                let main_dir = config.sources.path(config.main).parent().unwrap_or(dir);
                main_dir.join(pattern)
            }
            _ => pattern,
        };
        let Some(dir) = pattern.parent() else { return };
        let candidate = dir.join(snippet_name);
        let fits = glob::Pattern::new(&pattern.to_string_lossy())
            .is_ok_and(|p| p.matches_path(&candidate));
        if fits {
            let block = match parents.last().map(|p| p.name.value.as_slice()) {
                None => Some(SnippetContext::Main),
                Some(b"http") => Some(SnippetContext::Http),
                Some(b"server") => Some(SnippetContext::Server),
                Some(b"location") => Some(SnippetContext::Location),
                Some(b"stream") => Some(SnippetContext::Stream),
                Some(_) => None,
            };
            candidates.push((candidate, block));
        }
    });
    candidates
        .iter()
        .find(|(_, block)| wanted.is_some() && *block == wanted)
        .or(candidates.first())
        .map(|(path, _)| path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_contexts() {
        assert_eq!(detect(b"events {}\nhttp {}\n"), Detected::MainFile);
        assert_eq!(detect(b"user nobody;\n"), Detected::MainFile);
        assert_eq!(
            detect(b"upstream a { server 127.0.0.1; }\nserver { listen 80; }\n"),
            Detected::Snippet(SnippetContext::Http)
        );
        assert_eq!(
            detect(b"location / { return 200; }\n"),
            Detected::Snippet(SnippetContext::Server)
        );
        assert_eq!(
            detect(b"proxy_set_header Host $host;\nproxy_pass http://a;\n"),
            Detected::Snippet(SnippetContext::Location)
        );
    }

    #[test]
    fn ambiguous_names_the_best_guess() {
        match detect(b"listen 80;\nevents_x 1;\n") {
            Detected::Ambiguous { best, .. } => assert_eq!(best, SnippetContext::Server),
            other => panic!("expected ambiguous, got {other:?}"),
        }
    }
}
