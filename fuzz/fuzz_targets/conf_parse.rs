//! The configuration lexer and parser (`upgate_conf::parser::parse`): no
//! input panics, and every span the parser hands out (the syntax error's,
//! each word's, each comment's, each block's closing brace) lies inside the
//! input, start before end. Those spans are what carets and `-t`'s line
//! numbers are cut from, so one past the end would panic a later stage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upgate_conf::parser::parse;
use upgate_conf::{Block, FileId, Node, Span};

fn inside(span: Span, len: usize) {
    assert!(span.start <= span.end, "{span:?} runs backwards");
    assert!(span.end as usize <= len, "{span:?} past the end ({len})");
}

fn check(block: &Block, len: usize) {
    if let Some(close) = block.close {
        inside(close, len);
    }
    for node in &block.nodes {
        match node {
            Node::Comment(c) => inside(c.span, len),
            Node::Directive(d) => {
                inside(d.name.span, len);
                for w in &d.args {
                    inside(w.span, len);
                }
                for c in &d.inner_comments {
                    inside(c.span, len);
                }
                if let Some(b) = &d.block {
                    check(b, len);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data, FileId(0));
    check(&parsed.block, data.len());
    if let Some(e) = &parsed.error {
        inside(e.span, data.len());
        assert!(!e.message.is_empty());
    }
});
