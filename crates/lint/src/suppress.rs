//! Inline suppression: a comment `# upgate-lint: disable=RULE[,RULE...]`
//! (or `disable=all`) on the line before a finding's line, in the file where
//! the finding is, silences it.

use upgate_conf::SourceMap;

use crate::finding::Finding;

const MARK: &[u8] = b"upgate-lint:";

pub fn suppressed(sources: &SourceMap, finding: &Finding) -> bool {
    let file = finding.span.file;
    if file.index() >= sources.len() || finding.span.line < 2 {
        return false;
    }
    let text = &sources.get(file).text;
    let at = (finding.span.start as usize).min(text.len());
    // The line before the finding's: from the newline before that one to
    // the newline that ends it.
    let Some(end) = text[..at].iter().rposition(|b| *b == b'\n') else {
        return false;
    };
    let start = text[..end]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    disables(&text[start..end], finding.rule)
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
