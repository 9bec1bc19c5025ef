//! nginx's regexes (`ngx_regex_compile` / `ngx_regex_exec` in
//! src/core/ngx_regex.c, `ngx_http_regex_exec` in ngx_http_variables.c) on
//! top of the `regex` crate, with `fancy-regex` as the fallback for the
//! PCRE-only syntax the `regex` crate refuses (look-around,
//! backreferences, atomic groups), so that every configuration nginx loads
//! also compiles here.
//!
//! Matching is on bytes, as PCRE without UTF mode: `.` is one byte and
//! `\d`, `\w`, `\s` and case folding are ASCII. Two PCRE details are not
//! reproduced: `$` also matching before a final newline (a decoded `%0A` at
//! the end of a URI), and, in the fancy-regex fallback, non-UTF-8 subjects,
//! which are matched after lossy conversion (capture offsets then refer to
//! the converted text).

use std::fmt;
use std::sync::Arc;

use regex::bytes::RegexBuilder;

/// A compiled nginx regex: `~` / `~*` locations, `~` server names, map keys,
/// `if` conditions and `rewrite` patterns.
#[derive(Clone)]
pub struct Regex {
    inner: Arc<Inner>,
    names: Arc<[(usize, String)]>,
}

enum Inner {
    Fast(regex::bytes::Regex),
    Fancy(fancy_regex::Regex),
}

/// Why a pattern could not be compiled by either engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    pub pattern: String,
    pub message: String,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot compile regex \"{}\": {}",
            self.pattern, self.message
        )
    }
}

/// The capture groups of the last successful match (nginx's `r->captures`
/// and `r->captures_data`): `$1`..`$9` read from here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    /// The subject the regex ran on.
    pub subject: Vec<u8>,
    /// Group 0 (the whole match) first; `None` for a group that did not
    /// take part in the match.
    pub groups: Vec<Option<(usize, usize)>>,
    /// The named groups of the regex: they become variables.
    pub names: Arc<[(usize, String)]>,
}

impl Captures {
    /// `$n`: the text of group `n`, empty when the group is missing.
    pub fn group(&self, n: usize) -> &[u8] {
        match self.groups.get(n) {
            Some(Some((start, end))) => self.subject.get(*start..*end).unwrap_or_default(),
            _ => &[],
        }
    }
}

impl Regex {
    /// Compiles `pattern`; `caseless` is PCRE's `PCRE_CASELESS` (`~*`).
    pub fn new(pattern: &[u8], caseless: bool) -> Result<Regex, RegexError> {
        let text = String::from_utf8_lossy(pattern);
        let text = quote_literals(&text);
        let fast = RegexBuilder::new(&text)
            .case_insensitive(caseless)
            .unicode(false)
            .build();
        let inner = match fast {
            Ok(re) => Inner::Fast(re),
            Err(first) => {
                // PCRE-only syntax: try the backtracking engine.
                let mut builder = fancy_regex::RegexBuilder::new(&text);
                builder.case_insensitive(caseless);
                match builder.build() {
                    Ok(re) => Inner::Fancy(re),
                    Err(e) => {
                        return Err(RegexError {
                            pattern: text.into_owned(),
                            message: format!("{first}; fancy-regex: {e}"),
                        });
                    }
                }
            }
        };
        let names: Vec<(usize, String)> = match &inner {
            Inner::Fast(re) => re
                .capture_names()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (i, n.to_string())))
                .collect(),
            Inner::Fancy(re) => re
                .capture_names()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (i, n.to_string())))
                .collect(),
        };
        Ok(Regex {
            inner: Arc::new(inner),
            names: names.into(),
        })
    }

    /// The number of capture groups, not counting the whole match (PCRE's
    /// `PCRE2_INFO_CAPTURECOUNT`).
    pub fn captures_len(&self) -> usize {
        match &*self.inner {
            Inner::Fast(re) => re.captures_len().saturating_sub(1),
            Inner::Fancy(re) => re.captures_len().saturating_sub(1),
        }
    }

    /// True when the pattern needed the fallback engine.
    pub fn is_fancy(&self) -> bool {
        matches!(*self.inner, Inner::Fancy(_))
    }

    /// Whether the pattern matches anywhere in `subject`.
    pub fn is_match(&self, subject: &[u8]) -> bool {
        match &*self.inner {
            Inner::Fast(re) => re.is_match(subject),
            Inner::Fancy(re) => re
                .is_match(String::from_utf8_lossy(subject).as_ref())
                .unwrap_or(false),
        }
    }

    /// Runs the regex; on a match returns the groups (nginx sets
    /// `r->captures` on every successful `ngx_http_regex_exec`).
    pub fn captures(&self, subject: &[u8]) -> Option<Captures> {
        match &*self.inner {
            Inner::Fast(re) => {
                let caps = re.captures(subject)?;
                let groups = (0..caps.len())
                    .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                    .collect();
                Some(Captures {
                    subject: subject.to_vec(),
                    groups,
                    names: self.names.clone(),
                })
            }
            Inner::Fancy(re) => {
                let text = String::from_utf8_lossy(subject).into_owned();
                let caps = re.captures(text.as_str()).ok()??;
                let groups = (0..caps.len())
                    .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                    .collect();
                Some(Captures {
                    subject: text.into_bytes(),
                    groups,
                    names: self.names.clone(),
                })
            }
        }
    }

    /// Named groups with their index (they become variables in nginx).
    pub fn names(&self) -> &[(usize, String)] {
        &self.names
    }
}

/// PCRE's `\Q…\E`: everything between is literal (to the end of the
/// pattern when `\E` is missing); a lone `\E` is ignored. Neither engine
/// below knows it, so the quoted text is rewritten with each ASCII
/// punctuation character escaped, which both read as that literal
/// character, inside or outside a character class.
fn quote_literals(pattern: &str) -> std::borrow::Cow<'_, str> {
    if !pattern.contains("\\Q") && !pattern.contains("\\E") {
        return std::borrow::Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut quoting = false;
    while let Some(c) = chars.next() {
        if quoting {
            if c == '\\' && chars.as_str().starts_with('E') {
                chars.next();
                quoting = false;
            } else if c.is_ascii_punctuation() {
                out.push('\\');
                out.push(c);
            } else {
                out.push(c);
            }
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Q') => quoting = true,
            Some('E') => {}
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Inner::Fast(re) => write!(f, "Regex({:?})", re.as_str()),
            Inner::Fancy(re) => write!(f, "FancyRegex({:?})", re.as_str()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_ascii_case() {
        let re = Regex::new(br"^/a.c$", false).unwrap();
        assert!(re.is_match(b"/a\xffc"));
        let re = Regex::new(br"\.PHP$", true).unwrap();
        assert!(re.is_match(b"/x.php"));
        assert!(!re.is_fancy());
    }

    #[test]
    fn pcre_only_syntax_falls_back() {
        let re = Regex::new(br"^/(?!admin)(\w+)$", false).unwrap();
        assert!(re.is_fancy());
        assert!(re.is_match(b"/user"));
        assert!(!re.is_match(b"/admin"));
        let caps = re.captures(b"/user").unwrap();
        assert_eq!(caps.group(1), b"user");
        let re = Regex::new(br"^/(a)\1$", false).unwrap();
        assert!(re.is_match(b"/aa"));
    }

    #[test]
    fn quoted_literals() {
        let re = Regex::new(br"^(?P<name>[a-z]+)\Q.example.com\E$", true).unwrap();
        assert!(re.is_match(b"BLAH.EXAMPLE.COM"));
        assert!(!re.is_match(b"blahxexample.com"));
        assert_eq!(re.captures(b"blah.example.com").unwrap().group(1), b"blah");
        // To the end without \E; a lone \E is nothing; \\Q is a backslash and Q.
        assert!(Regex::new(br"^a\Q*(", false).unwrap().is_match(b"a*("));
        assert!(Regex::new(br"^a\Eb$", false).unwrap().is_match(b"ab"));
        assert!(Regex::new(br"^\\Q$", false).unwrap().is_match(b"\\Q"));
        assert!(Regex::new(br"^[\Q-]\E]+$", false).unwrap().is_match(b"-]"));
    }

    #[test]
    fn unicode_property_classes() {
        // PCRE without UTF: \p{N} matches the ASCII digits.
        let re = Regex::new(br"^www\p{N}+$", true).unwrap();
        assert!(re.is_match(b"WWW01"));
        assert!(!re.is_match(b"wwwx"));
    }

    #[test]
    fn captures_and_names() {
        let re = Regex::new(br"^(?<sub>[a-z]+)\.example\.com$", false).unwrap();
        let caps = re.captures(b"www.example.com").unwrap();
        assert_eq!(caps.group(1), b"www");
        assert_eq!(caps.group(7), b"");
        assert_eq!(re.names(), &[(1, "sub".to_string())]);
        assert!(Regex::new(b"a(b", false).is_err());
    }
}
