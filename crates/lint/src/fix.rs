//! Fixes as text edits on the raw bytes of a file: insertions and
//! replacements at byte offsets, applied per file from the end so that the
//! offsets of earlier edits stay valid, and so that everything around them
//! (layout, comments, quoting) is kept as written.
//!
//! The helpers place new lines the way the file already looks: a directive
//! alone on its line gets new lines with its indentation; a directive that
//! shares its line (`location / { proxy_pass http://b; }`) gets the new text
//! on that same line.

use std::collections::BTreeSet;

use rustc_hash::FxHashSet;
use upgate_conf::{Directive, FileId, SourceMap, Span, Word};

/// Replace `start..end` of `file` with `text` (an insertion when empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Edit {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
    pub text: Vec<u8>,
}

/// The edits that fix one finding, applied together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub description: String,
    pub edits: Vec<Edit>,
    /// The block the fix changes: one fix per block per round, so that two
    /// fixes never both copy the same inherited lines down.
    pub anchor: Span,
}

impl Fix {
    pub fn new(description: impl Into<String>, anchor: Span, edits: Vec<Edit>) -> Self {
        Fix {
            description: description.into(),
            edits,
            anchor,
        }
    }
}

/// Applies what can be applied together: a fix is skipped when it touches a
/// block another fix already changes or when its edits overlap theirs (the
/// next lint round finds it again). Returns the new text of each changed
/// file.
pub fn apply(sources: &SourceMap, fixes: &[&Fix]) -> Vec<(FileId, Vec<u8>)> {
    let mut anchors = FxHashSet::default();
    let mut taken: Vec<&Edit> = Vec::new();
    // The taken edits by (file, start, end): disjoint, so a new edit
    // overlaps one only if it overlaps the last that starts before it ends.
    let mut by_place: BTreeSet<(FileId, usize, usize)> = BTreeSet::new();
    let mut seen = FxHashSet::default();
    for fix in fixes {
        if fix.edits.is_empty() || anchors.contains(&fix.anchor) {
            continue;
        }
        let fresh: Vec<&Edit> = fix.edits.iter().filter(|e| !seen.contains(*e)).collect();
        let overlaps = |e: &Edit| {
            by_place
                .range((e.file, 0, 0)..(e.file, e.end, 0))
                .next_back()
                .is_some_and(|&(_, start, end)| start < e.end && e.start < end)
        };
        if fresh.iter().any(|e| overlaps(e)) {
            continue;
        }
        anchors.insert(fix.anchor);
        for e in fresh {
            seen.insert(e.clone());
            by_place.insert((e.file, e.start, e.end));
            taken.push(e);
        }
    }
    // By file, then offset; insertions at one offset keep their given order.
    taken.sort_by_key(|e| (e.file, e.start));
    let mut out: Vec<(FileId, Vec<u8>)> = Vec::new();
    for edits in taken.chunk_by(|a, b| a.file == b.file) {
        let Some(file) = edits.first().map(|e| e.file) else {
            continue;
        };
        let text = &sources.get(file).text;
        let mut new =
            Vec::with_capacity(text.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
        let mut at = 0;
        for e in edits {
            let start = e.start.min(text.len());
            if start > at {
                new.extend_from_slice(&text[at..start]);
            }
            new.extend_from_slice(&e.text);
            at = at.max(e.end.min(text.len()));
        }
        new.extend_from_slice(&text[at.min(text.len())..]);
        out.push((file, new));
    }
    out
}

/// Text helpers over one source map.
pub struct Text<'a> {
    pub sources: &'a SourceMap,
}

impl<'a> Text<'a> {
    pub fn new(sources: &'a SourceMap) -> Self {
        Text { sources }
    }

    fn bytes(&self, file: FileId) -> &'a [u8] {
        &self.sources.get(file).text
    }

    /// The indentation before `offset` when nothing else precedes it on its line.
    fn indent_at(&self, file: FileId, offset: usize) -> Option<Vec<u8>> {
        let text = self.bytes(file);
        let start = line_start(text, offset);
        let before = &text[start..offset.min(text.len())];
        before
            .iter()
            .all(|b| *b == b' ' || *b == b'\t')
            .then(|| before.to_vec())
    }

    /// Offset just past the `;` or `{` that ends a directive's head.
    pub fn head_end(&self, d: &Directive) -> usize {
        let text = self.bytes(d.file());
        let mut i = d.head_span().end as usize;
        while i < text.len() {
            match text[i] {
                b';' | b'{' => return i + 1,
                b'#' => {
                    while i < text.len() && text[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        text.len()
    }

    /// New lines placed just before `d`.
    pub fn insert_before(&self, d: &Directive, lines: &[String]) -> Edit {
        let file = d.file();
        let at = d.name.span.start as usize;
        match self.indent_at(file, at) {
            Some(indent) => {
                let start = line_start(self.bytes(file), at);
                let mut text = Vec::new();
                for line in lines {
                    text.extend_from_slice(&indent);
                    text.extend_from_slice(line.as_bytes());
                    text.push(b'\n');
                }
                Edit {
                    file,
                    start,
                    end: start,
                    text,
                }
            }
            None => {
                let mut text = lines.join(" ").into_bytes();
                text.push(b' ');
                Edit {
                    file,
                    start: at,
                    end: at,
                    text,
                }
            }
        }
    }

    /// New lines placed just after a simple directive `d` (after its line
    /// when only a comment follows it there).
    pub fn insert_after(&self, d: &Directive, lines: &[String]) -> Edit {
        let file = d.file();
        let text = self.bytes(file);
        let end = self.head_end(d);
        let eol = text[end..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |p| end + p);
        let rest = &text[end..eol];
        let rest_is_comment = rest
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_none_or(|b| *b == b'#');
        match self.indent_at(file, d.name.span.start as usize) {
            Some(indent) if rest_is_comment => {
                let mut out = Vec::new();
                if eol == text.len() {
                    out.push(b'\n');
                }
                for line in lines {
                    out.extend_from_slice(&indent);
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
                let at = (eol + 1).min(text.len());
                Edit {
                    file,
                    start: at,
                    end: at,
                    text: out,
                }
            }
            _ => {
                let mut out = vec![b' '];
                out.extend_from_slice(lines.join(" ").as_bytes());
                Edit {
                    file,
                    start: end,
                    end,
                    text: out,
                }
            }
        }
    }

    /// New lines at the start of a block directive's block: before its first
    /// directive written there, else right after the `{`.
    pub fn insert_block_start(&self, block: &Directive, lines: &[String]) -> Edit {
        let file = block.file();
        if let Some(first) = block.children().find(|c| c.file() == file) {
            return self.insert_before(first, lines);
        }
        let at = self.head_end(block);
        let indent = self
            .indent_at(file, block.name.span.start as usize)
            .unwrap_or_default();
        let unit: &[u8] = if indent.contains(&b'\t') {
            b"\t"
        } else {
            b"    "
        };
        let mut text = Vec::new();
        for line in lines {
            text.push(b'\n');
            text.extend_from_slice(&indent);
            text.extend_from_slice(unit);
            text.extend_from_slice(line.as_bytes());
        }
        Edit {
            file,
            start: at,
            end: at,
            text,
        }
    }

    /// Removes a simple directive, with its line when it stands alone there.
    pub fn delete(&self, d: &Directive) -> Edit {
        let file = d.file();
        let text = self.bytes(file);
        let start = d.name.span.start as usize;
        let end = self.head_end(d);
        let ls = line_start(text, start);
        let eol = text[end..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |p| end + p);
        let alone = text[ls..start].iter().all(|b| *b == b' ' || *b == b'\t')
            && text[end..eol].iter().all(|b| b.is_ascii_whitespace());
        if alone {
            return Edit {
                file,
                start: ls,
                end: (eol + 1).min(text.len()),
                text: Vec::new(),
            };
        }
        let mut stop = end;
        while stop < eol && text[stop] == b' ' {
            stop += 1;
        }
        Edit {
            file,
            start,
            end: stop,
            text: Vec::new(),
        }
    }

    /// Replaces one argument as written (quotes included).
    pub fn replace_word(&self, w: &Word, text: &str) -> Edit {
        Edit {
            file: w.span.file,
            start: w.span.start as usize,
            end: w.span.end as usize,
            text: text.as_bytes().to_vec(),
        }
    }

    /// The directive as written, from its name to its `;`.
    pub fn source_of(&self, d: &Directive) -> String {
        let text = self.bytes(d.file());
        let start = d.name.span.start as usize;
        String::from_utf8_lossy(&text[start..self.head_end(d).min(text.len())]).into_owned()
    }
}

fn line_start(text: &[u8], offset: usize) -> usize {
    let offset = offset.min(text.len());
    text[..offset]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> upgate_conf::Config {
        upgate_conf::parse_file(Path::new("t.conf"), text.as_bytes().to_vec())
    }

    fn first<'a>(c: &'a upgate_conf::Config, name: &str) -> Option<&'a Directive> {
        let mut found = None;
        c.walk(|d, _| {
            if found.is_none() && d.is(name) {
                found = Some(d);
            }
        });
        found
    }

    fn run(c: &upgate_conf::Config, edit: Edit) -> String {
        let fix = Fix::new("t", Span::default(), vec![edit]);
        let out = apply(&c.sources, &[&fix]);
        String::from_utf8_lossy(&out[0].1).into_owned()
    }

    #[test]
    fn inserts_with_the_neighbours_indentation() {
        let c = parse("location / {\n    proxy_pass http://b; # to b\n}\n");
        let Some(d) = first(&c, "proxy_pass") else {
            panic!("no proxy_pass")
        };
        let t = Text::new(&c.sources);
        let out = run(&c, t.insert_after(d, &["proxy_http_version 1.1;".into()]));
        assert_eq!(
            out,
            "location / {\n    proxy_pass http://b; # to b\n    proxy_http_version 1.1;\n}\n"
        );
        let out = run(&c, t.insert_before(d, &["a 1;".into(), "b 2;".into()]));
        assert_eq!(
            out,
            "location / {\n    a 1;\n    b 2;\n    proxy_pass http://b; # to b\n}\n"
        );
    }

    #[test]
    fn inserts_on_a_shared_line() {
        let c = parse("location / { proxy_pass http://b; }\n");
        let Some(d) = first(&c, "proxy_pass") else {
            panic!("no proxy_pass")
        };
        let t = Text::new(&c.sources);
        let out = run(&c, t.insert_after(d, &["x 1;".into()]));
        assert_eq!(out, "location / { proxy_pass http://b; x 1; }\n");
        let out = run(&c, t.delete(d));
        assert_eq!(out, "location / { }\n");
    }

    #[test]
    fn inserts_into_an_empty_block() {
        let c = parse("http {\n}\n");
        let Some(d) = first(&c, "http") else {
            panic!("no http")
        };
        let t = Text::new(&c.sources);
        let out = run(
            &c,
            t.insert_block_start(d, &["map a $b {".into(), "}".into()]),
        );
        assert_eq!(out, "http {\n    map a $b {\n    }\n}\n");
    }

    #[test]
    fn deletes_a_whole_line() {
        let c = parse("a 1;\n  proxy_hide_header Upgrade;\nb 2;\n");
        let Some(d) = first(&c, "proxy_hide_header") else {
            panic!("none")
        };
        let out = run(&c, Text::new(&c.sources).delete(d));
        assert_eq!(out, "a 1;\nb 2;\n");
    }
}
