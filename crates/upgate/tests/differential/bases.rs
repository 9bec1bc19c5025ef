//! The bases: the corpus files and seed configs the mutations start from,
//! each with the wrapper and the extra files nginx needs to accept it.
//! Moved out of differential.rs as it was.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrap {
    Direct,
    Main,
    Http,
    Server,
    Location,
}

impl Wrap {
    pub(crate) const ALL: [Wrap; 5] = [
        Wrap::Direct,
        Wrap::Main,
        Wrap::Http,
        Wrap::Server,
        Wrap::Location,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Wrap::Direct => "direct",
            Wrap::Main => "main",
            Wrap::Http => "http",
            Wrap::Server => "server",
            Wrap::Location => "location",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Wrap> {
        Wrap::ALL.into_iter().find(|w| w.name() == name)
    }

    /// The wrapper file of HOW-JUDGED.md around `file`.
    pub(crate) fn text(self, file: &Path) -> String {
        let file = file.display();
        match self {
            Wrap::Direct => String::new(),
            Wrap::Main => format!("events {{}}\ninclude {file};\n"),
            Wrap::Http => format!("events {{}}\nhttp {{\n    include {file};\n}}\n"),
            Wrap::Server => format!(
                "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        include {file};\n    }}\n}}\n"
            ),
            Wrap::Location => format!(
                "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        location / {{\n            include {file};\n        }}\n    }}\n}}\n"
            ),
        }
    }
}

/// Something a case directory needs besides the copied tree (the judge's
/// fixups that this harness can reproduce).
#[derive(Debug, Clone)]
pub(crate) enum Extra {
    Copy { from: PathBuf, to: PathBuf },
    Empty(PathBuf),
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
pub(crate) struct Base {
    /// `corpus:<source>/<rel>` or `seed:<file>`.
    pub(crate) name: String,
    /// Directory copied into every case (the config root).
    pub(crate) tree: PathBuf,
    /// The file that is mutated, relative to `tree`.
    pub(crate) target: PathBuf,
    pub(crate) wrap: Wrap,
    pub(crate) extras: Vec<Extra>,
    /// The judge's fixups this harness does not reproduce.
    pub(crate) unreproduced: Vec<String>,
    pub(crate) text: Vec<u8>,
}

pub(crate) fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("UPGATE_SHARED") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub(crate) fn known_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/differential/known.md")
}

/// The corpus bases (files nginx accepts), and the ones this harness cannot
/// reproduce, with why.
pub(crate) fn corpus_bases(shared: &Path) -> Result<(Vec<Base>, Vec<String>), String> {
    let corpus = shared.join("corpus");
    let path = corpus.join("expected.json");
    let json = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries: Vec<Value> =
        serde_json::from_str(&json).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bases = Vec::new();
    let mut skipped = Vec::new();
    for entry in &entries {
        if entry["base"][1].as_bool() != Some(true) {
            continue;
        }
        let source = entry["source"].as_str().unwrap_or_default();
        let rel = entry["rel"].as_str().unwrap_or_default();
        let name = format!("corpus:{source}/{rel}");
        let Some(wrap) = Wrap::parse(entry["base"][0].as_str().unwrap_or_default()) else {
            skipped.push(format!("{name}: unknown wrap {}", entry["base"][0]));
            continue;
        };
        // Where the judge put the config root, and which directory that is here.
        let (tree, judge_root) = match source {
            "nginx-conf" => (corpus.join(source), "/etc/nginx".to_string()),
            "debian-nginx-common" | "nginx-proxy-manager" => {
                (corpus.join(source).join("etc/nginx"), "/etc/nginx".into())
            }
            _ => {
                let file = corpus.join(source).join(rel);
                let top = corpus.join(source);
                let mut dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                let mut found = None;
                for _ in 0..32 {
                    if dir.join("nginx.conf").is_file() {
                        found = Some(dir.clone());
                        break;
                    }
                    if dir == top || !dir.pop() {
                        break;
                    }
                }
                let tree = found
                    .unwrap_or_else(|| file.parent().map(Path::to_path_buf).unwrap_or_default());
                let inside = tree.strip_prefix(&corpus).unwrap_or(&tree).to_path_buf();
                (tree, format!("/corpus/{}", inside.display()))
            }
        };
        let file = corpus.join(source).join(rel);
        let Ok(target) = file.strip_prefix(&tree).map(Path::to_path_buf) else {
            skipped.push(format!("{name}: not under its config root"));
            continue;
        };
        let text = fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let local = |judged: &str| {
            judged
                .strip_prefix(&judge_root)
                .and_then(|rest| rest.strip_prefix('/'))
                .map(PathBuf::from)
        };
        let mut extras = Vec::new();
        // Fixups not reproduced here (users, groups, /etc/hosts): the base is
        // kept, and nginx decides whether this machine has what they add.
        let mut unreproduced = Vec::new();
        for fixup in entry["base"][3].as_array().into_iter().flatten() {
            let fixup = fixup.as_str().unwrap_or_default();
            let made = if let Some(path) = fixup.strip_prefix("empty include ") {
                local(path).map(Extra::Empty)
            } else if let Some(path) = fixup.strip_prefix("mkdir ") {
                // A directory outside the tree exists on this machine or not;
                // nginx decides.
                Some(local(path).map_or(Extra::Dir(PathBuf::new()), Extra::Dir))
            } else if let Some((what, to)) = fixup
                .strip_prefix("copied Debian ")
                .and_then(|rest| rest.split_once(" to "))
            {
                local(to).map(|to| Extra::Copy {
                    from: corpus.join("debian-nginx-common/etc/nginx").join(what),
                    to,
                })
            } else {
                None
            };
            match made {
                Some(extra) => extras.push(extra),
                None => unreproduced.push(fixup.to_string()),
            }
        }
        bases.push(Base {
            name,
            tree,
            target,
            wrap,
            extras,
            unreproduced,
            text,
        });
    }
    Ok((bases, skipped))
}

/// The seed configs; their wrapper is chosen later (the first nginx accepts).
pub(crate) fn seed_bases(shared: &Path) -> Result<Vec<Base>, String> {
    let dir = shared.join("seed-configs");
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    names.sort();
    let mime = shared.join("corpus/debian-nginx-common/etc/nginx/mime.types");
    let mut bases = Vec::new();
    for path in names {
        let text = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = PathBuf::from(path.file_name().unwrap_or_default());
        bases.push(Base {
            name: format!("seed:{}", file.display()),
            tree: dir.clone(),
            target: file,
            wrap: Wrap::Direct,
            extras: vec![
                Extra::Copy {
                    from: mime.clone(),
                    to: "mime.types".into(),
                },
                Extra::Dir("conf.d".into()),
            ],
            unreproduced: Vec::new(),
            text,
        });
    }
    Ok(bases)
}
