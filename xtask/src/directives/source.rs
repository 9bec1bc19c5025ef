//! Reading nginx's files from a git mirror or a source tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use super::SCAN_DIRS;

/// Where nginx's files come from.
pub enum Source {
    /// A (bare) git repository and the tag to read.
    Git { repo: PathBuf, tag: String },
    /// A plain source tree.
    Dir(PathBuf),
}

impl Source {
    /// `release` is a source checkout directory, or else a tag of `mirror`.
    pub fn open(mirror: &Path, release: &str) -> Result<Source, String> {
        let dir = Path::new(release);
        if dir.join("src/core/nginx.h").is_file() {
            return Ok(Source::Dir(dir.to_owned()));
        }
        let commit = format!("{release}^{{commit}}");
        git(mirror, &["rev-parse", "--verify", "--quiet", &commit]).map_err(|err| {
            format!(
                "{release} is neither an nginx checkout (no src/core/nginx.h) nor a tag \
                 of the git repository {}: {err}",
                mirror.display(),
            )
        })?;
        Ok(Source::Git {
            repo: mirror.to_owned(),
            tag: release.to_owned(),
        })
    }

    /// The contents of `path` (relative to the source root). nginx's sources
    /// are ASCII; stray non-UTF-8 bytes (none today) would only be in comments.
    pub fn read(&self, path: &str) -> Result<String, String> {
        let bytes = match self {
            Source::Git { repo, tag } => git(repo, &["show", &format!("{tag}:{path}")])?,
            Source::Dir(root) => fs::read(root.join(path))
                .map_err(|err| format!("cannot read {}: {err}", root.join(path).display()))?,
        };
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Every C source file under [`SCAN_DIRS`], sorted.
    pub fn list_sources(&self) -> Result<Vec<String>, String> {
        let mut files = Vec::new();
        match self {
            Source::Git { repo, tag } => {
                let mut args = vec!["ls-tree", "-r", "--name-only", tag.as_str(), "--"];
                args.extend(SCAN_DIRS);
                let listing = git(repo, &args)?;
                for line in String::from_utf8_lossy(&listing).lines() {
                    if is_c_source(line) {
                        files.push(line.to_owned());
                    }
                }
            }
            Source::Dir(root) => {
                for dir in SCAN_DIRS {
                    walk(root, dir, &mut files)?;
                }
            }
        }
        files.sort();
        if files.is_empty() {
            return Err("found no C sources under src/".to_owned());
        }
        Ok(files)
    }

    /// The tag or directory, for messages.
    pub fn name(&self) -> String {
        match self {
            Source::Git { tag, .. } => tag.clone(),
            Source::Dir(root) => root.display().to_string(),
        }
    }

    /// How the header comment names the source.
    pub fn label(&self, version: &str) -> String {
        match self {
            Source::Git { tag, .. } => tag.clone(),
            Source::Dir(_) => format!("{version} (source tree)"),
        }
    }
}

fn is_c_source(path: &str) -> bool {
    path.ends_with(".c") || path.ends_with(".cpp")
}

/// Collects the C sources under `root/rel` into `out`, as `/`-separated paths
/// relative to `root`.
fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), String> {
    let dir = root.join(rel);
    let entries =
        fs::read_dir(&dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| format!("non-UTF-8 file name {name:?} in {}", dir.display()))?;
        let path = format!("{rel}/{name}");
        let kind = entry
            .file_type()
            .map_err(|err| format!("cannot stat {}: {err}", dir.join(&name).display()))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if is_c_source(&name) {
            out.push(path);
        }
    }
    Ok(())
}

/// Runs `git -C repo args...` and returns its standard output.
pub fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Process::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|err| format!("cannot run git: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`git -C {} {}` failed ({}){}{}",
            repo.display(),
            args.join(" "),
            output.status,
            if stderr.trim().is_empty() { "" } else { ": " },
            stderr.trim()
        ));
    }
    Ok(output.stdout)
}
