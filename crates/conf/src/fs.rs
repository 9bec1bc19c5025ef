//! File access for the loader: nginx's path resolution, glob order, and an
//! optional root directory that stands in for `/` or for one directory (to
//! check a configuration tree copied from another machine or kept in a
//! repository, as nginx would see it where it is deployed).

use std::io;
use std::path::{Component, Path, PathBuf};

/// How configuration files are read when not with `std::fs::read`: a
/// serving worker that runs without root has its privileged master open
/// them (upgate-proxy's privileges.rs), as nginx's master reads the
/// configuration for its workers.
static READER: std::sync::OnceLock<Reader> = std::sync::OnceLock::new();

/// A replacement for `std::fs::read`.
pub type Reader = fn(&Path) -> io::Result<Vec<u8>>;

/// Installs the reader for the rest of the process (the first call wins).
pub fn set_reader(read: Reader) {
    let _ = READER.set(read);
}

/// How the loader reaches files.
#[derive(Debug, Clone, Default)]
pub struct Fs {
    /// When set, absolute paths are looked up through it; messages still
    /// show them as nginx would (without the root).
    pub root: Option<Root>,
    /// Files placed where nginx would find them without being there yet:
    /// (path nginx sees, real file). `--with-main` puts a new snippet into
    /// the `conf.d/*.conf` its main config includes.
    pub overlay: Vec<(PathBuf, PathBuf)>,
}

impl Fs {
    /// A file system rooted at `root` (or `/` when `None`).
    pub fn rooted(root: Option<Root>) -> Self {
        Fs {
            root,
            overlay: Vec::new(),
        }
    }

    /// The real place of a path as nginx names it.
    pub fn real(&self, path: &Path) -> PathBuf {
        if let Some((_, real)) = self.overlay.iter().find(|(seen, _)| seen == path) {
            return real.clone();
        }
        self.root
            .as_ref()
            .and_then(|root| root.real(path))
            .unwrap_or_else(|| path.to_path_buf())
    }

    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let real = self.real(path);
        match READER.get() {
            Some(read) => {
                if real.is_dir() {
                    // nginx opens a directory fine and fails on the read.
                    return Err(io::Error::from_raw_os_error(21));
                }
                read(&real)
            }
            // The same here without a look-up of its own: a directory opens
            // and its read fails with EISDIR, as nginx's does (one stat
            // less per file, and a conf.d can hold thousands).
            None => std::fs::read(real),
        }
    }

    pub fn exists(&self, path: &Path) -> bool {
        self.real(path).exists()
    }

    pub fn is_dir(&self, path: &Path) -> bool {
        self.real(path).is_dir()
    }

    /// glob(3) with nginx's flags (0): matches sorted by their full path in
    /// byte order, a leading dot matched only literally, no match no error.
    pub fn glob(&self, pattern: &Path) -> Result<Vec<PathBuf>, glob::PatternError> {
        let real_pattern = self.real(pattern);
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let mut matches: Vec<PathBuf> = glob::glob_with(&real_pattern.to_string_lossy(), options)?
            .filter_map(Result::ok)
            .map(|real| self.unreal(&real))
            .collect();
        let pattern_text = glob::Pattern::new(&pattern.to_string_lossy())?;
        for (seen, _) in &self.overlay {
            if pattern_text.matches_path_with(seen, options) && !matches.contains(seen) {
                matches.push(seen.clone());
            }
        }
        matches.sort_by(|a, b| {
            a.as_os_str()
                .as_encoded_bytes()
                .cmp(b.as_os_str().as_encoded_bytes())
        });
        Ok(matches)
    }

    /// Inverse of [`Fs::real`].
    fn unreal(&self, real: &Path) -> PathBuf {
        self.root
            .as_ref()
            .and_then(|root| root.unreal(real))
            .unwrap_or_else(|| real.to_path_buf())
    }
}

/// `--root`: where absolute paths are really read. `DIR` stands for `/`
/// (a whole tree copied from a server: `DIR/etc/nginx/...`); `PATH=DIR`
/// for one directory (`/etc/nginx=deploy/nginx`: a configuration written
/// for /etc/nginx, kept in a repository's `deploy/nginx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The absolute path nginx would read (`/` for a whole tree).
    pub from: PathBuf,
    /// Where it is here.
    pub to: PathBuf,
}

impl Root {
    /// `DIR` standing for `/`.
    pub fn whole(to: impl Into<PathBuf>) -> Self {
        Root {
            from: PathBuf::from("/"),
            to: to.into(),
        }
    }

    /// The real place of an absolute path under [`Root::from`].
    pub fn real(&self, path: &Path) -> Option<PathBuf> {
        if !path.is_absolute() {
            return None;
        }
        let rest = path.strip_prefix(&self.from).ok()?;
        let mut real = self.to.clone();
        real.extend(
            rest.components()
                .filter(|c| !matches!(c, Component::RootDir)),
        );
        Some(real)
    }

    /// Inverse of [`Root::real`].
    pub fn unreal(&self, real: &Path) -> Option<PathBuf> {
        let rest = real.strip_prefix(&self.to).ok()?;
        Some(self.from.join(rest))
    }
}

impl std::str::FromStr for Root {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        // The directory is made absolute: the files a glob finds under a
        // relative one would be named by their place here
        // (`etc/nginx/x.conf`), not by the configuration's name for them.
        let absolute = |dir: &str| std::path::absolute(dir).unwrap_or_else(|_| PathBuf::from(dir));
        match text.split_once('=') {
            None if text.is_empty() => Err("--root needs a directory".into()),
            None => Ok(Root::whole(absolute(text))),
            Some((from, to)) if Path::new(from).is_absolute() && !to.is_empty() => Ok(Root {
                from: PathBuf::from(from),
                to: absolute(to),
            }),
            Some(_) => Err(format!(
                "invalid --root \"{text}\": expected DIR (standing for /) or /PATH=DIR"
            )),
        }
    }
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == Path::new("/") {
            write!(f, "{}", self.to.display())
        } else {
            write!(f, "{}={}", self.from.display(), self.to.display())
        }
    }
}

/// `ngx_conf_full_name`: an absolute path stays; a relative one is joined to
/// `prefix` (nginx does not clean `.` or `..`).
pub fn full_name(prefix: &Path, name: &Path) -> PathBuf {
    if name.is_absolute() {
        name.to_path_buf()
    } else {
        prefix.join(name)
    }
}

/// True when a path contains glob metacharacters (`strpbrk(file, "*?[")`).
pub fn has_glob(path: &[u8]) -> bool {
    path.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_maps_one_directory() -> Result<(), String> {
        let fs = Fs::rooted(Some("/etc/nginx=deploy/nginx".parse()?));
        let here = std::path::absolute("deploy/nginx").map_err(|e| e.to_string())?;
        assert_eq!(
            fs.real(Path::new("/etc/nginx/snippets/ws.conf")),
            here.join("snippets/ws.conf")
        );
        assert_eq!(
            fs.real(Path::new("/etc/nginxx/a")),
            PathBuf::from("/etc/nginxx/a")
        );
        assert_eq!(
            fs.real(Path::new("/etc/ssl/a")),
            PathBuf::from("/etc/ssl/a")
        );
        assert_eq!(
            fs.unreal(&here.join("conf.d/a.conf")),
            PathBuf::from("/etc/nginx/conf.d/a.conf")
        );
        assert!("etc=x".parse::<Root>().is_err());
        assert!("/etc=".parse::<Root>().is_err());
        assert_eq!("/r".parse::<Root>()?.to_string(), "/r");
        Ok(())
    }

    #[test]
    fn root_maps_absolute_paths() {
        let fs = Fs::rooted(Some(Root::whole("/tmp/r")));
        assert_eq!(
            fs.real(Path::new("/etc/nginx/x")),
            PathBuf::from("/tmp/r/etc/nginx/x")
        );
        assert_eq!(
            fs.unreal(Path::new("/tmp/r/etc/a")),
            PathBuf::from("/etc/a")
        );
    }

    #[test]
    fn glob_sorts_by_full_path() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("upgate-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a"))?;
        std::fs::create_dir_all(dir.join("a.b"))?;
        std::fs::write(dir.join("a/x.conf"), "")?;
        std::fs::write(dir.join("a.b/y.conf"), "")?;
        std::fs::write(dir.join("a/.hidden.conf"), "")?;
        let fs = Fs::default();
        let found = fs.glob(&dir.join("*/*.conf"))?;
        let names: Vec<_> = found
            .iter()
            .filter_map(|p| p.strip_prefix(&dir).ok())
            .collect();
        assert_eq!(names, vec![Path::new("a.b/y.conf"), Path::new("a/x.conf")]);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn a_directory_fails_on_the_read_as_in_nginx() {
        let read = Fs::default().read(&std::env::temp_dir());
        assert_eq!(read.err().and_then(|e| e.raw_os_error()), Some(21));
    }

    #[test]
    fn overlay_joins_the_glob() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("upgate-overlay-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d"))?;
        std::fs::write(dir.join("conf.d/b.conf"), "")?;
        let mut fs = Fs::default();
        fs.overlay.push((
            dir.join("conf.d/a.conf"),
            PathBuf::from("/elsewhere/a.conf"),
        ));
        let found = fs.glob(&dir.join("conf.d/*.conf"))?;
        assert_eq!(
            found,
            vec![dir.join("conf.d/a.conf"), dir.join("conf.d/b.conf")]
        );
        assert_eq!(
            fs.real(&dir.join("conf.d/a.conf")),
            PathBuf::from("/elsewhere/a.conf")
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
