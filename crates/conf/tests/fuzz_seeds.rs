//! The inputs kept in fuzz/seeds/ (hand-picked configurations and every
//! crash the fuzz targets found, see docs/security.md "Fuzzing") checked
//! here with the targets' invariants, so a fixed crash stays fixed without
//! nightly or libFuzzer: each loads as `-t` reads it (tree or error, no
//! panic), and each that formats reads back as the same tree and formats
//! to itself.

use std::path::{Path, PathBuf};

use upgate_conf::parser::parse;
use upgate_conf::printer::format;
use upgate_conf::{Block, FileId, LoadOptions, Node, load};

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The tree without positions (as crates/upgate/tests/fmt.rs compares it).
fn shape(block: &Block) -> Vec<String> {
    block
        .nodes
        .iter()
        .map(|node| match node {
            Node::Directive(d) => format!(
                "{:?} {:?} {:?} {:?}",
                (&d.name.value, d.name.quote),
                d.args
                    .iter()
                    .map(|w| (&w.value, w.quote))
                    .collect::<Vec<_>>(),
                d.inner_comments.iter().map(|c| &c.text).collect::<Vec<_>>(),
                d.block.as_ref().map(shape)
            ),
            Node::Comment(c) => format!("# {:?} {}", c.text, c.trailing),
        })
        .collect()
}

// See: #14 (crash-multibyte-proxy-pass-host: `proxy_pass http://127\xff...`
// panicked in the loader's parse_url)
#[test]
fn conf_compile_seeds_load() {
    let dir = std::env::temp_dir().join(format!("upgate-fuzz-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for seed in seeds("conf_compile").iter().chain(&seeds("conf_parse")) {
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, read(seed)).unwrap_or_else(|e| panic!("{e}"));
        let mut options = LoadOptions::new(&conf);
        options.check_environment = false;
        let _ = load(&options);
    }
    std::fs::remove_dir_all(&dir).ok();
}

// See: #14 (crash-comment-ending-in-crs: each format took a CR off a
// comment that ended in several)
#[test]
fn fmt_seeds_keep_the_tree_and_format_once() {
    for seed in seeds("fmt") {
        let text = read(&seed);
        let Ok(once) = format(&text) else { continue };
        let (before, after) = (parse(&text, FileId(0)), parse(&once, FileId(0)));
        assert!(
            after.error.is_none(),
            "{}: the formatted text does not parse",
            seed.display()
        );
        assert_eq!(
            shape(&before.block),
            shape(&after.block),
            "{}",
            seed.display()
        );
        assert_eq!(
            format(&once).ok(),
            Some(once.clone()),
            "{}: not idempotent",
            seed.display()
        );
    }
}
