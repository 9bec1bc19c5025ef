//! Inline suppression: a comment `# upgate-lint: disable=RULE[,RULE...]`
//! (or `disable=all`) on the line before a finding's line, in the file where
//! the finding is, silences it.

use crate::finding::Finding;
use crate::output::Lines;

const MARK: &[u8] = b"upgate-lint:";

pub fn suppressed(lines: &Lines<'_>, finding: &Finding) -> bool {
    let sources = lines.sources();
    let file = finding.span.file;
    if file.index() >= sources.len() || finding.span.line < 2 {
        return false;
    }
    let text = &sources.get(file).text;
    let starts = lines.line_starts_of(file);
    let n = finding.span.line as usize - 1;
    let (Some(&start), Some(&end)) = (starts.get(n - 1), starts.get(n)) else {
        return false;
    };
    disables(&text[start..end.min(text.len())], finding.rule)
}

fn disables(line: &[u8], rule: &str) -> bool {
    let Some(hash) = line.iter().position(|b| *b == b'#') else {
        return false;
    };
    let comment = &line[hash + 1..];
    let Some(at) = comment.windows(MARK.len()).position(|w| w == MARK) else {
        return false;
    };
    let rest = String::from_utf8_lossy(&comment[at + MARK.len()..]);
    let Some(list) = rest.trim().strip_prefix("disable=") else {
        return false;
    };
    list.split(|c: char| c == ',' || c.is_whitespace())
        .take_while(|s| !s.is_empty())
        .any(|id| id == rule || id == "all")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_comment() {
        assert!(disables(b"    # upgate-lint: disable=a,b", "b"));
        assert!(disables(b"# upgate-lint: disable=all", "x"));
        assert!(!disables(b"# upgate-lint: disable=a", "b"));
        assert!(!disables(b"proxy_pass x;", "b"));
    }
}
