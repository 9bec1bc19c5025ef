//! `upgate fmt` on every file of ../shared/corpus, each copied to a temp
//! directory first: the formatted file must read as the same tree as the
//! original (names, arguments with their quoting, blocks, comments and
//! where they sit; only line numbers may change), formatting it again must
//! change nothing (`fmt --check` passes), and a file with a syntax error
//! must be refused and left untouched.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{TempDir, corpus, run_bounded};
use upgate_conf::parser::parse;
use upgate_conf::{Block, Comment, FileId, Node, Word};

const LIMIT: Duration = Duration::from_secs(30);

/// The tree without positions: what `fmt` must not change.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Directive {
        name: (Vec<u8>, String),
        args: Vec<(Vec<u8>, String)>,
        inner_comments: Vec<Vec<u8>>,
        block: Option<Vec<Shape>>,
    },
    Comment {
        text: Vec<u8>,
        trailing: bool,
    },
}

fn word(w: &Word) -> (Vec<u8>, String) {
    (w.value.clone(), format!("{:?}", w.quote))
}

fn comment_text(c: &Comment) -> Vec<u8> {
    c.text.clone()
}

fn shape(block: &Block) -> Vec<Shape> {
    block
        .nodes
        .iter()
        .map(|node| match node {
            Node::Directive(d) => Shape::Directive {
                name: word(&d.name),
                args: d.args.iter().map(word).collect(),
                inner_comments: d.inner_comments.iter().map(comment_text).collect(),
                block: d.block.as_ref().map(shape),
            },
            Node::Comment(c) => Shape::Comment {
                text: comment_text(c),
                trailing: c.trailing,
            },
        })
        .collect()
}

fn fmt(args: &[&str], file: &Path) -> Result<common::Run, String> {
    run_bounded(
        Command::new(env!("CARGO_BIN_EXE_upgate"))
            .arg("fmt")
            .args(args)
            .arg(file),
        LIMIT,
    )
}

/// Checks one file; Err describes what went wrong.
fn check(original: &[u8], file: &Path) -> Result<(), String> {
    let before = parse(original, FileId(0));
    let run = fmt(&[], file)?;
    let written = fs::read(file).map_err(|e| e.to_string())?;
    if before.error.is_some() {
        if run.success || written != original {
            return Err("a file with a syntax error was rewritten or accepted".into());
        }
        let again = fmt(&["--check"], file)?;
        return match again.success {
            false => Ok(()),
            true => Err("fmt --check accepted a file with a syntax error".into()),
        };
    }
    if !run.success {
        return Err(format!(
            "fmt failed: {}",
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let after = parse(&written, FileId(0));
    if let Some(e) = after.error {
        return Err(format!("the formatted file does not parse: {e:?}"));
    }
    if shape(&before.block) != shape(&after.block) {
        return Err("the formatted file reads as a different tree".into());
    }
    let again = fmt(&["--check"], file)?;
    if !again.success || !again.stdout.is_empty() {
        return Err(format!(
            "not idempotent: fmt --check says {}",
            String::from_utf8_lossy(&again.stdout)
        ));
    }
    if fs::read(file).map_err(|e| e.to_string())? != written {
        return Err("fmt --check changed the file".into());
    }
    Ok(())
}

#[test]
fn fmt_keeps_the_tree_and_is_idempotent() -> Result<(), String> {
    let (corpus_dir, entries) = corpus();
    let tmp = TempDir::new("fmt").map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    let mut formatted = 0;
    for (i, entry) in entries.iter().enumerate() {
        let original = fs::read(corpus_dir.join(&entry.source).join(&entry.rel))
            .map_err(|e| format!("{}: {e}", entry.name()))?;
        let file = tmp.path().join(format!("{i}.conf"));
        fs::write(&file, &original).map_err(|e| e.to_string())?;
        match check(&original, &file) {
            Ok(()) => formatted += 1,
            Err(why) => failures.push(format!("{}: {why}", entry.name())),
        }
    }
    println!("fmt: {formatted}/{} corpus files", entries.len());
    for failure in &failures {
        println!("{failure}");
    }
    assert!(
        failures.is_empty(),
        "{} fmt failures (listed above)",
        failures.len()
    );
    Ok(())
}

#[test]
fn check_names_unformatted_files_and_changes_nothing() -> Result<(), String> {
    let tmp = TempDir::new("fmt-check").map_err(|e| e.to_string())?;
    let messy = tmp.path().join("messy.conf");
    let tidy = tmp.path().join("tidy.conf");
    fs::write(&messy, "http{a  b;}\n").map_err(|e| e.to_string())?;
    fs::write(&tidy, "http {\n    a b;\n}\n").map_err(|e| e.to_string())?;
    let run = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_upgate"))
            .args(["fmt", "--check"])
            .arg(&messy)
            .arg(&tidy),
        LIMIT,
    )?;
    assert!(!run.success);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        messy.display().to_string()
    );
    assert_eq!(
        fs::read(&messy).map_err(|e| e.to_string())?,
        b"http{a  b;}\n"
    );
    Ok(())
}

#[test]
fn a_syntax_error_is_reported_nginx_style() -> Result<(), String> {
    let tmp = TempDir::new("fmt-error").map_err(|e| e.to_string())?;
    let file = tmp.path().join("bad.conf");
    fs::write(&file, "http {\n    a;\n").map_err(|e| e.to_string())?;
    let run = fmt(&[], &file)?;
    assert!(!run.success);
    assert_eq!(
        String::from_utf8_lossy(&run.stderr).trim(),
        format!(
            "upgate: [emerg] unexpected end of file, expecting \"}}\" in {}:3",
            file.display()
        )
    );
    Ok(())
}
