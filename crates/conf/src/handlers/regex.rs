//! Regex checks at -t: nginx compiles every regex of the configuration with
//! PCRE2 and fails on a syntax error with PCRE2's message
//! (`ngx_regex_compile` in src/core/ngx_regex.c). regex-syntax parses the
//! pattern here; its error kinds map to PCRE2's texts for the mistakes
//! people make. Constructs PCRE has and regex-syntax lacks (look-around,
//! backreferences) are accepted, as nginx accepts them.

use regex_syntax::ast::ErrorKind;
use regex_syntax::ast::parse::ParserBuilder;
use rustc_hash::FxHashMap;

/// [`compile_error`] for each pattern once. Configurations repeat their
/// regexes from server to server (`location ~ \.php$` in every one), and
/// parsing a pattern costs far more than looking it up: with 5,000 servers
/// the parses were a seventh of `-t`'s time. The answer depends on the
/// pattern alone, so a repeat gets the first answer.
#[derive(Debug, Default)]
pub(crate) struct RegexChecks {
    seen: FxHashMap<Box<[u8]>, Option<String>>,
}

impl RegexChecks {
    pub(crate) fn compile_error(&mut self, pattern: &[u8]) -> Option<String> {
        if let Some(known) = self.seen.get(pattern) {
            return known.clone();
        }
        let error = compile_error(pattern);
        self.seen.insert(pattern.into(), error.clone());
        error
    }
}

/// nginx's message for a pattern PCRE2 would refuse, if it would.
pub fn compile_error(pattern: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(pattern).ok()?;
    let error = ParserBuilder::new().build().parse(text).err()?;
    let message = match error.kind() {
        ErrorKind::GroupUnclosed => "missing closing parenthesis",
        ErrorKind::GroupUnopened => "unmatched closing parenthesis",
        ErrorKind::ClassUnclosed => "missing terminating ] for character class",
        ErrorKind::RepetitionMissing => "quantifier does not follow a repeatable item",
        ErrorKind::RepetitionCountInvalid => "numbers out of order in {} quantifier",
        ErrorKind::ClassRangeInvalid => "range out of order in character class",
        ErrorKind::EscapeUnexpectedEof => "\\ at end of pattern",
        ErrorKind::GroupNameDuplicate { .. } => {
            "two named subpatterns have the same name (PCRE2_DUPNAMES not set)"
        }
        // Look-around, backreferences, \Q..\E and other PCRE syntax that
        // regex-syntax does not know: PCRE2 takes them.
        _ => return None,
    };
    // PCRE2 reports the offset where it gave up; at the end of the pattern
    // nginx leaves the "at" part out.
    let offset = match error.kind() {
        ErrorKind::GroupUnclosed | ErrorKind::ClassUnclosed | ErrorKind::EscapeUnexpectedEof => {
            text.len()
        }
        _ => error.span().end.offset,
    };
    let pattern = String::from_utf8_lossy(pattern);
    if offset >= text.len() {
        Some(format!(
            "pcre2_compile() failed: {message} in \"{pattern}\""
        ))
    } else {
        Some(format!(
            "pcre2_compile() failed: {message} in \"{pattern}\" at \"{}\"",
            &text[offset..]
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_pattern_gets_the_first_answer() {
        let mut checks = RegexChecks::default();
        for _ in 0..2 {
            assert_eq!(checks.compile_error(b"a(b"), compile_error(b"a(b"));
            assert_eq!(checks.compile_error(b"^/x$"), None);
        }
        assert_eq!(checks.seen.len(), 2);
    }

    #[test]
    fn pcre_messages() {
        assert_eq!(
            compile_error(b"a(b").as_deref(),
            Some("pcre2_compile() failed: missing closing parenthesis in \"a(b\"")
        );
        assert_eq!(compile_error(b"^/(?<name>[a-z]+)$"), None);
        assert_eq!(compile_error(b"(?=look)ahead"), None);
        assert_eq!(compile_error(b"(a)\\1"), None);
    }
}
