//! The formatter behind `upgate fmt`: one file's syntax tree back to text in
//! one canonical layout, without changing what nginx reads.
//!
//! Layout: four spaces per block level; one directive a line (`name args;`,
//! `name args {` ... `}`, an empty block as `{}`); arguments separated by one
//! space, except where the author broke the line, which stays a break (the
//! continuation indented one more level). Every word is copied byte for byte
//! from the source, quotes and escapes included, and Lua block bodies are
//! copied verbatim, so values (and bytes that are not UTF-8) cannot change.
//! Comments stay where they were: a comment on its own line stays on its own
//! line at the indent of the block it is in; a comment that followed code on
//! its line follows the same code, after one space. Blank lines between
//! directives are kept, at most one in a row; none at the start or end of a
//! block. The result is stable: formatting it again changes nothing.

use crate::ast::{Block, Comment, Directive, Node, Word};
use crate::parser::{self, SyntaxError};
use crate::span::FileId;

const INDENT: &[u8] = b"    ";

/// Formats a whole file; fails (and formats nothing) on a syntax error.
pub fn format(text: &[u8]) -> Result<Vec<u8>, SyntaxError> {
    let parsed = parser::parse(text, FileId(0));
    if let Some(error) = parsed.error {
        return Err(error);
    }
    Ok(print(text, &parsed.block))
}

/// Prints a file's tree; `text` is the source its spans point into.
pub fn print(text: &[u8], block: &Block) -> Vec<u8> {
    let mut printer = Printer {
        text,
        out: Vec::with_capacity(text.len()),
    };
    printer.block(block, 0);
    if !printer.out.is_empty() {
        printer.out.push(b'\n');
    }
    printer.out
}

/// One piece of a directive's head, in source order.
enum Item<'a> {
    Word(&'a Word),
    Comment(&'a Comment),
}

impl Item<'_> {
    fn start(&self) -> usize {
        match self {
            Item::Word(w) => w.span.start as usize,
            Item::Comment(c) => c.span.start as usize,
        }
    }

    fn end(&self) -> usize {
        match self {
            Item::Word(w) => w.span.end as usize,
            Item::Comment(c) => c.span.end as usize,
        }
    }
}

struct Printer<'a> {
    text: &'a [u8],
    out: Vec<u8>,
}

impl Printer<'_> {
    fn block(&mut self, block: &Block, depth: usize) {
        let mut prev_end: Option<usize> = None;
        for node in &block.nodes {
            let (start, end) = match node {
                Node::Directive(d) => (d.name.span.start as usize, self.directive_end(d)),
                Node::Comment(c) => (c.span.start as usize, c.span.end as usize),
            };
            match node {
                Node::Comment(c) if c.trailing && !self.out.is_empty() => {
                    self.out.push(b' ');
                    self.comment(c);
                }
                _ => {
                    if let Some(prev) = prev_end
                        && self
                            .gap(prev, start)
                            .iter()
                            .filter(|&&b| b == b'\n')
                            .count()
                            >= 2
                    {
                        self.out.push(b'\n');
                    }
                    self.line(depth);
                    match node {
                        Node::Directive(d) => self.directive(d, depth),
                        Node::Comment(c) => self.comment(c),
                    }
                }
            }
            prev_end = Some(end);
        }
    }

    fn directive(&mut self, d: &Directive, depth: usize) {
        let lua_body = match &d.block {
            Some(_) if parser::is_lua_block(&d.name) => d.args.last(),
            _ => None,
        };
        let head_args = match lua_body {
            Some(_) => &d.args[..d.args.len() - 1],
            None => &d.args[..],
        };
        let mut items: Vec<Item<'_>> = std::iter::once(&d.name)
            .chain(head_args)
            .map(Item::Word)
            .chain(d.inner_comments.iter().map(Item::Comment))
            .collect();
        items.sort_by_key(Item::start);

        let mut after_comment = false;
        let mut prev_end = None;
        for item in &items {
            if let Some(prev) = prev_end {
                let gap = self.gap(prev, item.start());
                if after_comment || gap.contains(&b'\n') {
                    self.line(depth + 1);
                } else if !gap.is_empty() {
                    self.out.push(b' ');
                }
            }
            match item {
                Item::Word(w) => self.raw(w),
                Item::Comment(c) => self.comment(c),
            }
            after_comment = matches!(item, Item::Comment(_));
            prev_end = Some(item.end());
        }

        let Some(block) = &d.block else {
            if after_comment {
                self.line(depth + 1);
            }
            self.out.push(b';');
            return;
        };
        if after_comment {
            self.line(depth + 1);
        } else {
            self.out.push(b' ');
        }
        self.out.push(b'{');
        if let Some(body) = lua_body {
            self.raw(body);
        } else if !block.nodes.is_empty() {
            self.block(block, depth + 1);
            self.line(depth);
        }
        self.out.push(b'}');
    }

    /// Starts a new line at `depth` (no newline before the first line).
    fn line(&mut self, depth: usize) {
        if !self.out.is_empty() {
            self.out.push(b'\n');
        }
        for _ in 0..depth {
            self.out.extend_from_slice(INDENT);
        }
    }

    fn raw(&mut self, word: &Word) {
        self.out.extend_from_slice(&self.text[word.span.range()]);
    }

    fn comment(&mut self, c: &Comment) {
        self.out.push(b'#');
        self.out.extend_from_slice(&c.text);
    }

    fn gap(&self, from: usize, to: usize) -> &[u8] {
        self.text.get(from..to).unwrap_or_default()
    }

    /// Offset just past the directive: its block's `}`, or its `;` (the
    /// first byte after its last word or comment that is not blank).
    fn directive_end(&self, d: &Directive) -> usize {
        if let Some(close) = d.block.as_ref().and_then(|b| b.close) {
            return close.end as usize;
        }
        let last = std::iter::once(&d.name)
            .chain(&d.args)
            .map(|w| w.span.end)
            .chain(d.inner_comments.iter().map(|c| c.span.end))
            .max()
            .unwrap_or(d.name.span.end) as usize;
        let blank = self
            .text
            .get(last..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .count();
        (last + blank + 1).min(self.text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(src: &str) -> String {
        match format(src.as_bytes()) {
            Ok(out) => String::from_utf8_lossy(&out).into_owned(),
            Err(e) => panic!("syntax error: {e:?}"),
        }
    }

    fn check(src: &str, expected: &str) {
        let once = fmt(src);
        assert_eq!(once, expected);
        assert_eq!(fmt(&once), once, "not idempotent");
    }

    // See: #14 (fuzz/seeds/fmt/crash-comment-ending-in-crs): each format
    // turned the last CR of such a comment into a CRLF line ending, so the
    // comment lost a byte each time.
    #[test]
    fn a_comment_ending_in_crs_formats_once() {
        check("# a\r\r\r\nb;\r\n# c\r\r", "# a\nb;\n# c\n");
        check("a; # t\r\r\n", "a; # t\n");
    }

    #[test]
    fn indents_blocks_and_splits_directives() {
        check(
            "events{}http{server{listen 80;location /{return 200 ok;}}}",
            "events {}\nhttp {\n    server {\n        listen 80;\n        location / {\n            return 200 ok;\n        }\n    }\n}\n",
        );
    }

    #[test]
    fn words_are_copied_byte_for_byte() {
        check(
            "a  \"b c\"\t'd\\'e'  f\\ g   $x;\n",
            "a \"b c\" 'd\\'e' f\\ g $x;\n",
        );
        check("if ($a = \"b\") {}\n", "if ($a = \"b\") {}\n");
    }

    #[test]
    fn comments_stay_where_they_were() {
        check(
            "# top\nhttp { # opens\n  a;   # after a\n      # own line\n  b;\n}  # closed\n",
            "# top\nhttp { # opens\n    a; # after a\n    # own line\n    b;\n} # closed\n",
        );
    }

    #[test]
    fn blank_lines_collapse_to_one() {
        check(
            "\n\na;\n\n\n\nb;\nc {\n\n  d;\n\n}\n\n",
            "a;\n\nb;\nc {\n    d;\n}\n",
        );
    }

    #[test]
    fn line_breaks_between_arguments_stay() {
        check(
            "log_format main '$a'\n          '$b'   '$c';\n",
            "log_format main '$a'\n    '$b' '$c';\n",
        );
    }

    #[test]
    fn comments_between_arguments() {
        check(
            "log_format #c2\n  a #c3\n  #c5\n  ;\n",
            "log_format #c2\n    a #c3\n    #c5\n    ;\n",
        );
    }

    #[test]
    fn lua_bodies_are_verbatim() {
        check(
            "http {\n  content_by_lua_block {\n   ngx.say(\"}\")\n  }\n}\n",
            "http {\n    content_by_lua_block {\n   ngx.say(\"}\")\n  }\n}\n",
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_survive() {
        let src = b"return 200 \"M\xf6lln\";\r\n# \xff\r\n";
        let out = format(src).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(out, b"return 200 \"M\xf6lln\";\n# \xff\n");
    }

    #[test]
    fn syntax_errors_are_refused() {
        assert!(format(b"a {\n").is_err());
    }

    /// What printing must keep: every node, word (value and quoting) and
    /// comment (text and whether it trails code), in order.
    fn shape(block: &Block) -> Vec<String> {
        let mut out = Vec::new();
        for node in &block.nodes {
            match node {
                Node::Comment(c) => out.push(format!("#{:?} {}", c.text, c.trailing)),
                Node::Directive(d) => {
                    let words = std::iter::once(&d.name).chain(&d.args);
                    out.push(format!(
                        "{:?} {:?}",
                        words.map(|w| (&w.value, w.quote)).collect::<Vec<_>>(),
                        d.inner_comments.iter().map(|c| &c.text).collect::<Vec<_>>()
                    ));
                    if let Some(inner) = &d.block {
                        out.push("{".into());
                        out.extend(shape(inner));
                        out.push("}".into());
                    }
                }
            }
        }
        out
    }

    const WORDS: &[&str] = &[
        "a",
        "b",
        "\"q w\"",
        "'s'",
        "''",
        "\\\"x",
        "$x",
        "${y}z",
        "(",
        "($a",
        "\"z\")",
        "\u{e9}",
        "a#b",
        "\"l1\nl2\"",
    ];
    const SEPS: &[&str] = &[
        " ", "\t", "\n", "\n\n", " # c\n", "\r\n", "\n\n\n  ", " #\n",
    ];
    const LEAVES: &[&str] = &["# own\n", "content_by_lua_block { x = {} }", "\n"];

    /// Text made of statements, blocks and comments, nested up to 3 deep.
    fn config_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        use proptest::sample::select;
        let directive = (
            select(WORDS),
            proptest::collection::vec((select(SEPS), select(WORDS)), 0..4),
            select(&["", " ", "\n"][..]),
        )
            .prop_map(|(name, args, end)| {
                let args: String = args.iter().map(|(s, w)| format!("{s}{w}")).collect();
                format!("{name}{args}{end};")
            });
        let leaf = prop_oneof![directive, select(LEAVES).prop_map(String::from)];
        let statement = leaf.prop_recursive(3, 24, 4, |inner| {
            (
                select(WORDS),
                select(SEPS),
                proptest::collection::vec((select(SEPS), inner), 0..4),
                select(SEPS),
            )
                .prop_map(|(name, s1, body, s2)| {
                    let body: String = body.iter().map(|(s, b)| format!("{s}{b}")).collect();
                    format!("{name}{s1}{{{body}{s2}}}")
                })
        });
        proptest::collection::vec((select(SEPS), statement), 0..6)
            .prop_map(|v| v.iter().map(|(s, b)| format!("{s}{b}")).collect())
    }

    /// Random pieces: mostly syntax errors, but they reach odd corners of
    /// the lexer.
    const PIECES: &[&str] = &[
        "a",
        "b",
        "\"q w\"",
        "'s'",
        ";",
        "{",
        "}",
        " ",
        "\t",
        "\n",
        "\n\n",
        "\r\n",
        "# c\n",
        "#\n",
        "\\\"",
        "$x",
        "${y}",
        "(",
        ")",
        "\"z\")",
        "content_by_lua_block {",
        "\u{e9}",
    ];

    fn keeps_tree_and_is_stable(src: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let before = parser::parse(src.as_bytes(), FileId(0));
        if before.error.is_some() {
            return Ok(());
        }
        let once = print(src.as_bytes(), &before.block);
        let after = parser::parse(&once, FileId(0));
        proptest::prop_assert!(
            after.error.is_none(),
            "{:?}",
            String::from_utf8_lossy(&once)
        );
        proptest::prop_assert_eq!(shape(&before.block), shape(&after.block));
        proptest::prop_assert_eq!(print(&once, &after.block), once);
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1000))]

        #[test]
        fn printing_keeps_the_tree_and_is_stable(src in config_text()) {
            let parsed = parser::parse(src.as_bytes(), FileId(0));
            proptest::prop_assert!(parsed.error.is_none(), "generator made a bad file: {src:?}");
            keeps_tree_and_is_stable(&src)?;
        }

        #[test]
        fn printing_random_pieces(picks in proptest::collection::vec(0..PIECES.len(), 0..40)) {
            let src: String = picks.iter().map(|&i| PIECES[i]).collect();
            keeps_tree_and_is_stable(&src)?;
        }
    }
}
