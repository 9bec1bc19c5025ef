//! `upgate fmt` (`upgate_conf::printer::format`): no input panics; a file
//! that formats reads back as the same tree (names, arguments with their
//! quoting, blocks, comments and whether they trail code: the comparison of
//! crates/upgate/tests/fmt.rs, positions ignored); formatting the result
//! again changes nothing; a file with a syntax error is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upgate_conf::parser::parse;
use upgate_conf::printer::format;
use upgate_conf::{Block, FileId, Node, Word};

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

fn shape(block: &Block) -> Vec<Shape> {
    block
        .nodes
        .iter()
        .map(|node| match node {
            Node::Directive(d) => Shape::Directive {
                name: word(&d.name),
                args: d.args.iter().map(word).collect(),
                inner_comments: d.inner_comments.iter().map(|c| c.text.clone()).collect(),
                block: d.block.as_ref().map(shape),
            },
            Node::Comment(c) => Shape::Comment {
                text: c.text.clone(),
                trailing: c.trailing,
            },
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let before = parse(data, FileId(0));
    let Ok(once) = format(data) else {
        assert!(before.error.is_some(), "format refused a file that parses");
        return;
    };
    assert!(
        before.error.is_none(),
        "format accepted a file with a syntax error"
    );
    let after = parse(&once, FileId(0));
    if let Some(e) = &after.error {
        panic!(
            "the formatted text does not parse: {e:?}\n{}",
            String::from_utf8_lossy(&once)
        );
    }
    assert_eq!(
        shape(&before.block),
        shape(&after.block),
        "the formatted text reads as another tree"
    );
    let twice = format(&once).unwrap();
    assert!(
        twice == once,
        "not idempotent:\n{}\n---\n{}",
        String::from_utf8_lossy(&once),
        String::from_utf8_lossy(&twice)
    );
});
