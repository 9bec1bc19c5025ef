//! The streaming writer ([`scan`] + [`write_json`]) against the payload
//! ([`to_json`] of [`payload`] over [`load_syntax`]'s tree): the same bytes
//! in every mode but `--combine` (which has no streaming path), on tricky
//! files, on every file of the shared corpus and on a generated large
//! configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::syntax::load_syntax;

/// Every flag combination the streaming writer serves.
fn modes() -> Vec<(Options, Option<usize>)> {
    let mut modes = Vec::new();
    for comments in [false, true] {
        for single_file in [false, true] {
            for indent in [None, Some(4)] {
                let options = Options {
                    combine: false,
                    comments,
                    single_file,
                };
                modes.push((options, indent));
            }
        }
    }
    modes
}

/// Checks that both writers give the same bytes for `path` in every mode.
fn same_bytes(path: &Path) -> Result<(), String> {
    for (options, indent) in modes() {
        let follow = !options.single_file;
        let tree = load_syntax(path, follow);
        let want = to_json(&payload(&tree, &options), indent).map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        write_json(&scan(path, follow), &options, indent, &mut got).map_err(|e| e.to_string())?;
        if got != want.as_bytes() {
            let at = got
                .iter()
                .zip(want.as_bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            let from = at.saturating_sub(80);
            return Err(format!(
                "{} ({options:?}, indent {indent:?}) differs at byte {at}:\n  payload: {}\n  stream:  {}",
                path.display(),
                String::from_utf8_lossy(&want.as_bytes()[from..(at + 80).min(want.len())]),
                String::from_utf8_lossy(&got[from..(at + 80).min(got.len())]),
            ));
        }
    }
    Ok(())
}

/// A temp directory of files, removed even when an assertion fails.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, files: &[(&str, &[u8])]) -> std::io::Result<Dir> {
        let dir = std::env::temp_dir().join(format!("upgate-cps-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (file, text) in files {
            let path = dir.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        Ok(Dir(dir))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn tricky_files_stream_like_the_payload() -> Result<(), String> {
    let main: &[u8] = b"# head\r\nuser nobody; # trailing\nevents { # in\n}\n\
        http {\n    include conf.d/*.conf;\n    include;\n    include missing.conf;\n\
        \x20   server\n    # between\n    { # after brace\n        listen 80;\n\
        \x20       location / { if ($a = \"b\") { return 200 \"caf\xc3\xa9 \xf0\x9f\x98\x80\\n\\q\"; } }\n\
        \x20       content_by_lua_block { ngx.say(\"}\") -- }\n }\n\
        \x20       set $x ${y}z 'it\\'s' bad\xff;\n\
        \x20       include sub/x.conf { inner; }\n\
        \x20       # before close\n    }\n}\n# last";
    let dir = Dir::new(
        "tricky",
        &[
            ("main.conf", main),
            ("conf.d/a.conf", b"a 1; include ../sub/x.conf;\n"),
            ("conf.d/b.conf", b"b {\n"),
            ("conf.d/c.conf", b"include ../main.conf;\nc \"x\"y;\n"),
            ("sub/x.conf", b"x;\n"),
            ("empty.conf", b""),
        ],
    )
    .map_err(|e| e.to_string())?;
    same_bytes(&dir.0.join("main.conf"))?;
    same_bytes(&dir.0.join("conf.d/c.conf"))?;
    same_bytes(&dir.0.join("empty.conf"))?;
    same_bytes(&dir.0.join("nope.conf"))?;
    same_bytes(&dir.0.join("conf.d"))
}

#[test]
fn errors_are_known_before_the_first_file() -> Result<(), String> {
    let dir = Dir::new(
        "errors",
        &[("m.conf", b"include s.conf;\n"), ("s.conf", b"a;\n}\n")],
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let options = Options::default();
    write_json(&scan(&dir.0.join("m.conf"), true), &options, None, &mut out)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("{\"status\":\"failed\",\"errors\":[{\"file\":"),
        "{text}"
    );
    assert!(text.contains("\"parsed\":[]}]}"), "{text}");
    Ok(())
}

fn shared_dir() -> PathBuf {
    match std::env::var_os("UPGATE_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            files_under(&entry.path(), out)?;
        } else {
            out.push(entry.path());
        }
    }
    Ok(())
}

#[test]
fn every_corpus_file_streams_like_the_payload() -> Result<(), String> {
    let corpus = shared_dir().join("corpus");
    let mut files = Vec::new();
    files_under(&corpus, &mut files).map_err(|e| {
        format!(
            "cannot list {}: {e} (set UPGATE_SHARED to the shared directory)",
            corpus.display()
        )
    })?;
    files.sort();
    assert!(files.len() > 50, "{} files in the corpus", files.len());
    let failures: Vec<String> = files.iter().filter_map(|f| same_bytes(f).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn a_generated_large_config_streams_like_the_payload() -> Result<(), String> {
    let tool = shared_dir().join("tools/gen_big_conf.py");
    let dir = Dir::new("big", &[]).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&dir.0).map_err(|e| e.to_string())?;
    let conf = dir.0.join("big.conf");
    let status = Command::new("python3")
        .arg(&tool)
        .args(["--servers", "200", "--locations", "6", "-o"])
        .arg(&conf)
        .status()
        .map_err(|e| format!("cannot run python3 {}: {e}", tool.display()))?;
    assert!(status.success(), "{} failed: {status}", tool.display());
    same_bytes(&conf)
}
