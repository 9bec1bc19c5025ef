//! Unit tests of crossplane.rs. The expected documents are what
//! `crossplane parse` 0.5.8 printed for the same input (file names aside).

use std::path::{Path, PathBuf};

use super::text::py_repr;
use super::*;
use crate::load::parse_file;
use crate::syntax::load_syntax;

fn one_file(text: &str) -> SyntaxTree {
    SyntaxTree {
        config: parse_file(Path::new("a.conf"), text.as_bytes().to_vec()),
        read_errors: Vec::new(),
    }
}

fn json(tree: &SyntaxTree, options: Options) -> String {
    to_json(&payload(tree, &options), None).unwrap_or_else(|e| panic!("{e}"))
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, files: &[(&str, &str)]) -> std::io::Result<Dir> {
        let dir = std::env::temp_dir().join(format!("upgate-cp-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        for (file, text) in files {
            std::fs::write(dir.join(file), text)?;
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
fn comments_if_arguments_and_ascii_escapes() {
    let tree = one_file(
        "http { # c1\n    log_format main #c2\n        \"$a\" # c3\n        ;\n    server { location / { if ($a = \"b\") { return 200 \"caf\u{e9} \u{1f600}\"; } } }\n}\n",
    );
    let options = Options {
        comments: true,
        ..Options::default()
    };
    assert_eq!(
        json(&tree, options),
        r##"{"status":"ok","errors":[],"config":[{"file":"a.conf","status":"ok","errors":[],"parsed":[{"directive":"http","line":1,"args":[],"block":[{"directive":"#","line":1,"args":[],"comment":" c1"},{"directive":"log_format","line":2,"args":["main","$a"]},{"directive":"#","line":2,"args":[],"comment":"c2"},{"directive":"#","line":2,"args":[],"comment":" c3"},{"directive":"server","line":5,"args":[],"block":[{"directive":"location","line":5,"args":["/"],"block":[{"directive":"if","line":5,"args":["$a","=","b"],"block":[{"directive":"return","line":5,"args":["200","caf\u00e9 \ud83d\ude00"]}]}]}]}]}]}]}"##
    );
}

#[test]
fn indent_is_json_dumps_layout() {
    let tree = one_file("a;\n");
    let text =
        to_json(&payload(&tree, &Options::default()), Some(2)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        text,
        "{\n  \"status\": \"ok\",\n  \"errors\": [],\n  \"config\": [\n    {\n      \"file\": \"a.conf\",\n      \"status\": \"ok\",\n      \"errors\": [],\n      \"parsed\": [\n        {\n          \"directive\": \"a\",\n          \"line\": 1,\n          \"args\": []\n        }\n      ]\n    }\n  ]\n}"
    );
}

#[test]
fn lua_body_is_one_argument_without_a_block() {
    let tree = one_file("http {\n    content_by_lua_block { ngx.say(\"}\") }\n}\n");
    assert_eq!(
        json(&tree, Options::default()),
        r##"{"status":"ok","errors":[],"config":[{"file":"a.conf","status":"ok","errors":[],"parsed":[{"directive":"http","line":1,"args":[],"block":[{"directive":"content_by_lua_block","line":2,"args":[" ngx.say(\"}\") "]}]}]}]}"##
    );
}

#[test]
fn syntax_error_keeps_no_directives() {
    let tree = one_file("a;\n}\n");
    assert_eq!(
        json(&tree, Options::default()),
        r##"{"status":"failed","errors":[{"file":"a.conf","error":"unexpected \"}\" in a.conf:2","line":2}],"config":[{"file":"a.conf","status":"failed","errors":[{"error":"unexpected \"}\" in a.conf:2","line":2}],"parsed":[]}]}"##
    );
}

#[test]
fn includes_and_a_missing_file() -> std::io::Result<()> {
    let dir = Dir::new(
        "includes",
        &[
            (
                "m.conf",
                "events {}\nhttp {\n    # start\n    include b.conf;\n}\ninclude missing.conf;\n",
            ),
            ("b.conf", "b; # tb\n"),
        ],
    )?;
    let d = dir.0.display().to_string();
    let tree = load_syntax(&dir.0.join("m.conf"), true);
    assert_eq!(
        json(&tree, Options::default()),
        r##"{"status":"failed","errors":[{"file":"D/m.conf","error":"[Errno 2] No such file or directory: 'D/missing.conf'","line":6}],"config":[{"file":"D/m.conf","status":"failed","errors":[{"error":"[Errno 2] No such file or directory: 'D/missing.conf'","line":6}],"parsed":[{"directive":"events","line":1,"args":[],"block":[]},{"directive":"http","line":2,"args":[],"block":[{"directive":"include","line":4,"args":["b.conf"],"includes":[1]}]},{"directive":"include","line":6,"args":["missing.conf"],"includes":[]}]},{"file":"D/b.conf","status":"ok","errors":[],"parsed":[{"directive":"b","line":1,"args":[]}]}]}"##
            .replace("D/", &format!("{d}/"))
    );
    let combined = Options {
        combine: true,
        comments: true,
        ..Options::default()
    };
    assert_eq!(
        json(&tree, combined),
        r##"{"status":"failed","errors":[{"file":"D/m.conf","error":"[Errno 2] No such file or directory: 'D/missing.conf'","line":6}],"config":[{"file":"D/m.conf","status":"failed","errors":[{"error":"[Errno 2] No such file or directory: 'D/missing.conf'","line":6}],"parsed":[{"file":"D/m.conf","directive":"events","line":1,"args":[],"block":[]},{"file":"D/m.conf","directive":"http","line":2,"args":[],"block":[{"file":"D/m.conf","directive":"#","line":3,"args":[],"comment":" start"},{"file":"D/b.conf","directive":"b","line":1,"args":[]},{"file":"D/b.conf","directive":"#","line":1,"args":[],"comment":" tb"}]}]}]}"##
            .replace("D/", &format!("{d}/"))
    );
    Ok(())
}

#[test]
fn single_file_has_no_includes_key() {
    let tree = one_file("include b.conf;\n");
    let options = Options {
        single_file: true,
        ..Options::default()
    };
    assert_eq!(
        json(&tree, options),
        r##"{"status":"ok","errors":[],"config":[{"file":"a.conf","status":"ok","errors":[],"parsed":[{"directive":"include","line":1,"args":["b.conf"]}]}]}"##
    );
}

#[test]
fn combine_survives_an_include_cycle() -> std::io::Result<()> {
    let dir = Dir::new(
        "cycle",
        &[
            ("a.conf", "x;\ninclude b.conf;\n"),
            ("b.conf", "include a.conf;\n"),
        ],
    )?;
    let tree = load_syntax(&dir.0.join("a.conf"), true);
    let options = Options {
        combine: true,
        ..Options::default()
    };
    let doc = payload(&tree, &options);
    assert_eq!(doc.config.len(), 1);
    assert_eq!(doc.config[0].parsed.len(), MAX_COMBINE_DEPTH / 2 + 1);
    Ok(())
}

#[test]
fn if_arguments_like_crossplane() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["($a", "=", "b)"], &["$a", "=", "b"]),
        (&["(", "$a", ")"], &["$a"]),
        (&["($a)"], &["$a"]),
        (&["()"], &[]),
        (&["$a"], &["$a"]),
    ];
    for (input, expected) in cases {
        let mut args: Vec<String> = input.iter().map(|s| s.to_string()).collect();
        prepare_if_args(&mut args);
        assert_eq!(&args, expected, "{input:?}");
    }
}

#[test]
fn python_repr_of_paths() {
    assert_eq!(py_repr("a/b.conf"), "'a/b.conf'");
    assert_eq!(py_repr("it's"), "\"it's\"");
    assert_eq!(py_repr("a\\b"), "'a\\\\b'");
}
