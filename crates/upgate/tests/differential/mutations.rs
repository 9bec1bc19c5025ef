//! The mutations: where a base's directives stand (sites), the kinds of
//! change made to them, and the mutated texts of a base. Moved out of
//! differential.rs as it was.

use std::collections::HashSet;

use upgate_conf::{Block, Directive, Node, Quote, Word};

use super::{Base, CASES_PER_BASE, Rng, SEED, checks, fnv};

/// A directive of the base file, with where it stands.
pub(crate) struct Site<'a> {
    pub(crate) d: &'a Directive,
    /// Names of the enclosing blocks, outermost first.
    pub(crate) parents: Vec<String>,
    /// Inside a block whose entries are data, not directives (types, map, ...).
    pub(crate) data: bool,
}

pub(crate) const DATA_BLOCKS: &[&str] = &["types", "map", "geo", "split_clients", "charset_map"];

pub(crate) fn collect_sites<'a>(
    block: &'a Block,
    parents: &mut Vec<String>,
    out: &mut Vec<Site<'a>>,
) {
    for node in &block.nodes {
        let Node::Directive(d) = node else { continue };
        let data = parents
            .last()
            .is_some_and(|p| DATA_BLOCKS.contains(&p.as_str()));
        out.push(Site {
            d,
            parents: parents.clone(),
            data,
        });
        if let Some(inner) = &d.block
            && parents.len() < 32
        {
            parents.push(d.name().into_owned());
            collect_sites(inner, parents, out);
            parents.pop();
        }
    }
}

pub(crate) fn last_word(d: &Directive) -> &Word {
    d.args.last().unwrap_or(&d.name)
}

/// Offset of the `;` or `{` that ends `d`: after its last word, past blanks
/// and comments.
pub(crate) fn terminator(text: &[u8], d: &Directive) -> Option<usize> {
    let mut at = last_word(d).span.end as usize;
    while let Some(&c) = text.get(at) {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => at += 1,
            b'#' => {
                while text.get(at).is_some_and(|&c| c != b'\n') {
                    at += 1;
                }
            }
            b';' | b'{' => return Some(at),
            _ => return None,
        }
    }
    None
}

/// The raw text of a simple directive written on one line, `;` included.
pub(crate) fn one_liner<'t>(text: &'t [u8], d: &Directive) -> Option<&'t [u8]> {
    if d.block.is_some() {
        return None;
    }
    let end = terminator(text, d)?;
    let raw = text.get(d.name.span.start as usize..=end)?;
    (text.get(end) == Some(&b';') && !raw.contains(&b'\n')).then_some(raw)
}

pub(crate) fn show(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).replace('\n', " ");
    if text.chars().count() > 50 {
        format!("{}...", text.chars().take(47).collect::<String>())
    } else {
        text
    }
}

pub(crate) fn place(site: &Site<'_>) -> String {
    if site.parents.is_empty() {
        "top level".into()
    } else {
        site.parents.join(">")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    DropSemicolon,
    DropOpenBrace,
    DropCloseBrace,
    Misspell,
    Move,
    Duplicate,
    AddArg,
    DropArg,
    BreakQuote,
    StrayQuote,
    BadSize,
    BadTime,
    BadNumber,
    BadFlag,
    BadListen,
    ListenConflict,
    ShmZone,
    ImplicitUpstream,
    GeoBlock,
    HashBucket,
}

impl Kind {
    /// Every kind, for the report.
    pub(crate) const ALL: [Kind; 20] = [
        Kind::DropSemicolon,
        Kind::DropOpenBrace,
        Kind::DropCloseBrace,
        Kind::Misspell,
        Kind::Move,
        Kind::Duplicate,
        Kind::AddArg,
        Kind::DropArg,
        Kind::BreakQuote,
        Kind::StrayQuote,
        Kind::BadSize,
        Kind::BadTime,
        Kind::BadNumber,
        Kind::BadFlag,
        Kind::BadListen,
        Kind::ListenConflict,
        Kind::ShmZone,
        Kind::ImplicitUpstream,
        Kind::GeoBlock,
        Kind::HashBucket,
    ];

    /// The kinds drawn per directive site (the checks' kinds have their own
    /// generator, `differential/checks.rs`).
    const CLASSIC: [Kind; 15] = [
        Kind::DropSemicolon,
        Kind::DropOpenBrace,
        Kind::DropCloseBrace,
        Kind::Misspell,
        Kind::Move,
        Kind::Duplicate,
        Kind::AddArg,
        Kind::DropArg,
        Kind::BreakQuote,
        Kind::StrayQuote,
        Kind::BadSize,
        Kind::BadTime,
        Kind::BadNumber,
        Kind::BadFlag,
        Kind::BadListen,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::DropSemicolon => "drop-semicolon",
            Kind::DropOpenBrace => "drop-open-brace",
            Kind::DropCloseBrace => "drop-close-brace",
            Kind::Misspell => "misspell",
            Kind::Move => "move",
            Kind::Duplicate => "duplicate",
            Kind::AddArg => "add-arg",
            Kind::DropArg => "drop-arg",
            Kind::BreakQuote => "break-quote",
            Kind::StrayQuote => "stray-quote",
            Kind::BadSize => "bad-size",
            Kind::BadTime => "bad-time",
            Kind::BadNumber => "bad-number",
            Kind::BadFlag => "bad-flag",
            Kind::BadListen => "bad-listen",
            Kind::ListenConflict => "listen-conflict",
            Kind::ShmZone => "shm-zone",
            Kind::ImplicitUpstream => "implicit-upstream",
            Kind::GeoBlock => "geo-block",
            Kind::HashBucket => "hash-bucket",
        }
    }
}

pub(crate) fn is_size(v: &[u8]) -> bool {
    matches!(v.split_last(), Some((u, digits)) if b"kKmMgG".contains(u)
        && !digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
}

/// Length of the unit of a time like `60s` or `500ms`, if it is one.
pub(crate) fn time_unit(v: &[u8]) -> Option<usize> {
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = v.get(digits..)?;
    (digits > 0 && matches!(unit, b"ms" | b"s" | b"m" | b"h" | b"d" | b"w" | b"M" | b"y"))
        .then_some(unit.len())
}

pub(crate) fn is_number(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(u8::is_ascii_digit)
}

pub(crate) fn is_flag(v: &[u8]) -> bool {
    v.eq_ignore_ascii_case(b"on") || v.eq_ignore_ascii_case(b"off")
}

pub(crate) fn is_plain_name(w: &Word) -> bool {
    w.quote == Quote::None
        && w.value.len() >= 2
        && w.value
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// An edit of the base text: replace `start..end` by `with`.
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) with: Vec<u8>,
}

pub(crate) fn apply(text: &[u8], mut edits: Vec<Edit>) -> Option<Vec<u8>> {
    edits.sort_by_key(|e| std::cmp::Reverse(e.start));
    let mut out = text.to_vec();
    let mut limit = text.len();
    for e in edits {
        if e.start > e.end || e.end > limit {
            return None;
        }
        out.splice(e.start..e.end, e.with);
        limit = e.start;
    }
    Some(out)
}

pub(crate) fn insert(at: usize, with: &[u8]) -> Edit {
    Edit {
        start: at,
        end: at,
        with: with.to_vec(),
    }
}

pub(crate) fn delete(start: usize, end: usize) -> Edit {
    Edit {
        start,
        end,
        with: Vec::new(),
    }
}

/// One mutated text of a base.
pub(crate) struct Mutant {
    pub(crate) kind: Kind,
    pub(crate) what: String,
    pub(crate) text: Vec<u8>,
}

/// Candidate sites for `kind` (indices into `sites`).
pub(crate) fn candidates(kind: Kind, text: &[u8], sites: &[Site<'_>]) -> Vec<usize> {
    let fits = |s: &Site<'_>| -> bool {
        let d = s.d;
        let any_arg = |f: &dyn Fn(&[u8]) -> bool| {
            d.args.iter().any(|a| a.quote == Quote::None && f(&a.value))
        };
        match kind {
            Kind::DropSemicolon => {
                d.block.is_none() && terminator(text, d).is_some_and(|t| text[t] == b';')
            }
            Kind::DropOpenBrace => {
                d.block.is_some() && terminator(text, d).is_some_and(|t| text[t] == b'{')
            }
            Kind::DropCloseBrace => d.block.as_ref().is_some_and(|b| b.close.is_some()),
            Kind::Misspell => is_plain_name(&d.name),
            Kind::Move | Kind::Duplicate => !s.data && one_liner(text, d).is_some(),
            Kind::AddArg => !s.data,
            Kind::DropArg => !d.args.is_empty(),
            Kind::BreakQuote => {
                d.name.quote != Quote::None || d.args.iter().any(|a| a.quote != Quote::None)
            }
            Kind::StrayQuote => true,
            Kind::BadSize => any_arg(&is_size),
            Kind::BadTime => any_arg(&|v| time_unit(v).is_some()),
            Kind::BadNumber => any_arg(&is_number),
            Kind::BadFlag => any_arg(&is_flag),
            Kind::BadListen => d.is("listen") && !d.args.is_empty(),
            Kind::ListenConflict
            | Kind::ShmZone
            | Kind::ImplicitUpstream
            | Kind::GeoBlock
            | Kind::HashBucket => false,
        }
    };
    (0..sites.len()).filter(|&i| fits(&sites[i])).collect()
}

pub(crate) const ADD_ARGS: &[&str] = &["on", "80", "x", "10s", "$foo", "off"];
pub(crate) const BAD_FLAGS: &[&str] = &["yes", "no", "true", "enable", "On", "OFF", "1"];
pub(crate) const LISTEN_ADDRS: &[&str] = &[
    "99999",
    "80x",
    "0",
    "127.0.0.1:",
    "[::1]:8080",
    "*:8080",
    "localhost:8080",
    "127.0.0.1:65536",
    "unix:",
];
pub(crate) const LISTEN_PARAMS: &[&str] = &[
    "bogus",
    "default_server",
    "default",
    "backlog=abc",
    "backlog=10",
    "ssl",
    "http2",
    "proxy_protocol",
    "reuseport",
    "so_keepalive=on",
    "so_keepalive=x",
    "rcvbuf=8k",
    "rcvbuf=8q",
    "deferred",
    "bind",
    "ipv6only=on",
    "fastopen=abc",
];

pub(crate) fn misspell(name: &[u8], rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let mut out = name.to_vec();
    let letter = b'a' + rng.below(26) as u8;
    let len = out.len();
    match rng.below(4) {
        0 if len >= 2 => {
            let i = rng.below(len - 1);
            out.swap(i, i + 1);
            (out, "swap two letters")
        }
        1 => {
            out.insert(rng.below(len + 1), letter);
            (out, "insert a letter")
        }
        2 => {
            out.remove(rng.below(len));
            (out, "delete a letter")
        }
        _ => {
            let i = rng.below(len);
            out[i] = letter;
            (out, "change a letter")
        }
    }
}

/// Picks an unquoted argument whose value passes `f`.
pub(crate) fn pick_arg<'a>(
    d: &'a Directive,
    rng: &mut Rng,
    f: &dyn Fn(&[u8]) -> bool,
) -> Option<&'a Word> {
    let args: Vec<&Word> = d
        .args
        .iter()
        .filter(|a| a.quote == Quote::None && f(&a.value))
        .collect();
    rng.pick(&args).copied()
}

/// Applies `kind` at `site`; `None` when this draw produced nothing usable.
pub(crate) fn mutate(
    kind: Kind,
    text: &[u8],
    sites: &[Site<'_>],
    site: &Site<'_>,
    rng: &mut Rng,
) -> Option<Mutant> {
    let d = site.d;
    let line = d.line();
    let name = d.name();
    let at = format!("\"{name}\" at line {line} ({})", place(site));
    let (what, edits) = match kind {
        Kind::DropSemicolon => {
            let t = terminator(text, d)?;
            (format!("drop \";\" of {at}"), vec![delete(t, t + 1)])
        }
        Kind::DropOpenBrace => {
            let t = terminator(text, d)?;
            (format!("drop \"{{\" of {at}"), vec![delete(t, t + 1)])
        }
        Kind::DropCloseBrace => {
            let close = d.block.as_ref()?.close?;
            (
                format!("drop \"}}\" (line {}) of {at}", close.line),
                vec![delete(close.start as usize, close.end as usize)],
            )
        }
        Kind::Misspell => {
            let (new, how) = misspell(&d.name.value, rng);
            if new == d.name.value {
                return None;
            }
            (
                format!(
                    "misspell {at} as \"{}\" ({how})",
                    String::from_utf8_lossy(&new)
                ),
                vec![Edit {
                    start: d.name.span.start as usize,
                    end: d.name.span.end as usize,
                    with: new,
                }],
            )
        }
        Kind::Move => {
            let raw = one_liner(text, d)?;
            let start = d.name.span.start as usize;
            let end = start + raw.len();
            // Another block, or the top level.
            let mut targets: Vec<Option<&Site<'_>>> = sites
                .iter()
                .filter(|s| {
                    // Any block but the one the directive is in.
                    s.d.block
                        .as_ref()
                        .is_some_and(|b| !b.directives().any(|c| std::ptr::eq(c, d)))
                })
                .map(Some)
                .collect();
            if !site.parents.is_empty() {
                targets.push(None);
            }
            let target = *rng.pick(&targets)?;
            let (to, edit) = match target {
                Some(t) => {
                    let open = terminator(text, t.d).filter(|&o| text[o] == b'{')?;
                    let close = t.d.block.as_ref()?.close;
                    let into = format!("\"{}\" at line {} ({})", t.d.name(), t.d.line(), place(t));
                    match close {
                        Some(c) if rng.chance(50) => {
                            let mut with = b"    ".to_vec();
                            with.extend_from_slice(raw);
                            with.push(b'\n');
                            (
                                format!("the end of {into}"),
                                insert(c.start as usize, &with),
                            )
                        }
                        _ => {
                            let mut with = b"\n    ".to_vec();
                            with.extend_from_slice(raw);
                            (format!("the start of {into}"), insert(open + 1, &with))
                        }
                    }
                }
                None => {
                    if rng.chance(50) {
                        let mut with = raw.to_vec();
                        with.push(b'\n');
                        ("the top of the file".into(), insert(0, &with))
                    } else {
                        let mut with = b"\n".to_vec();
                        with.extend_from_slice(raw);
                        with.push(b'\n');
                        ("the end of the file".into(), insert(text.len(), &with))
                    }
                }
            };
            (
                format!(
                    "move [{}] from line {line} ({}) to {to}",
                    show(raw),
                    place(site)
                ),
                vec![delete(start, end), edit],
            )
        }
        Kind::Duplicate => {
            let raw = one_liner(text, d)?;
            let end = d.name.span.start as usize + raw.len();
            let mut with = b"\n".to_vec();
            with.extend_from_slice(raw);
            (
                format!("duplicate [{}] at line {line} ({})", show(raw), place(site)),
                vec![insert(end, &with)],
            )
        }
        Kind::AddArg => {
            let arg = rng.pick(ADD_ARGS)?;
            (
                format!("add argument \"{arg}\" to {at}"),
                vec![insert(
                    last_word(d).span.end as usize,
                    format!(" {arg}").as_bytes(),
                )],
            )
        }
        Kind::DropArg => {
            let i = rng.below(d.args.len());
            let arg = d.args.get(i)?;
            let from = if i == 0 { &d.name } else { d.args.get(i - 1)? };
            (
                format!("drop argument {} \"{arg}\" of {at}", i + 1),
                vec![delete(from.span.end as usize, arg.span.end as usize)],
            )
        }
        Kind::BreakQuote => {
            let quoted: Vec<&Word> = std::iter::once(&d.name)
                .chain(&d.args)
                .filter(|w| w.quote != Quote::None)
                .collect();
            let w = *rng.pick(&quoted)?;
            if rng.chance(50) {
                (
                    format!("remove the closing quote of \"{w}\" in {at}"),
                    vec![delete(w.span.end as usize - 1, w.span.end as usize)],
                )
            } else {
                (
                    format!("remove the opening quote of \"{w}\" in {at}"),
                    vec![delete(w.span.start as usize, w.span.start as usize + 1)],
                )
            }
        }
        Kind::StrayQuote => {
            let words: Vec<&Word> = std::iter::once(&d.name).chain(&d.args).collect();
            let w = *rng.pick(&words)?;
            if rng.chance(50) {
                (
                    format!("add a stray '\"' after \"{w}\" in {at}"),
                    vec![insert(w.span.end as usize, b"\"")],
                )
            } else {
                (
                    format!("add a stray '\"' before \"{w}\" in {at}"),
                    vec![insert(w.span.start as usize, b"\"")],
                )
            }
        }
        Kind::BadSize => {
            let w = pick_arg(d, rng, &is_size)?;
            let end = w.span.end as usize;
            (
                format!("size \"{w}\" -> unit 'q' in {at}"),
                vec![Edit {
                    start: end - 1,
                    end,
                    with: b"q".to_vec(),
                }],
            )
        }
        Kind::BadTime => {
            let w = pick_arg(d, rng, &|v| time_unit(v).is_some())?;
            let unit = time_unit(&w.value)?;
            let end = w.span.end as usize;
            (
                format!("time \"{w}\" -> unit 'x' in {at}"),
                vec![Edit {
                    start: end - unit,
                    end,
                    with: b"x".to_vec(),
                }],
            )
        }
        Kind::BadNumber => {
            let w = pick_arg(d, rng, &is_number)?;
            let new: &[u8] = match rng.below(3) {
                0 => b"-1",
                1 => b"abc",
                _ => b"99999999999999999999",
            };
            (
                format!(
                    "number \"{w}\" -> \"{}\" in {at}",
                    String::from_utf8_lossy(new)
                ),
                vec![Edit {
                    start: w.span.start as usize,
                    end: w.span.end as usize,
                    with: new.to_vec(),
                }],
            )
        }
        Kind::BadFlag => {
            let w = pick_arg(d, rng, &is_flag)?;
            let new = rng.pick(BAD_FLAGS)?;
            (
                format!("flag \"{w}\" -> \"{new}\" in {at}"),
                vec![Edit {
                    start: w.span.start as usize,
                    end: w.span.end as usize,
                    with: new.as_bytes().to_vec(),
                }],
            )
        }
        Kind::ListenConflict
        | Kind::ShmZone
        | Kind::ImplicitUpstream
        | Kind::GeoBlock
        | Kind::HashBucket => {
            return None;
        }
        Kind::BadListen => {
            let first = d.args.first()?;
            if rng.chance(40) {
                let new = rng.pick(LISTEN_ADDRS)?;
                (
                    format!("listen address \"{first}\" -> \"{new}\" at line {line}"),
                    vec![Edit {
                        start: first.span.start as usize,
                        end: first.span.end as usize,
                        with: new.as_bytes().to_vec(),
                    }],
                )
            } else {
                let param = rng.pick(LISTEN_PARAMS)?;
                (
                    format!("add listen parameter \"{param}\" at line {line}"),
                    vec![insert(
                        last_word(d).span.end as usize,
                        format!(" {param}").as_bytes(),
                    )],
                )
            }
        }
    };
    Some(Mutant {
        kind,
        what,
        text: apply(text, edits)?,
    })
}

/// The mutants of one base: distinct texts, different from the base.
pub(crate) fn mutants(base: &Base) -> Vec<Mutant> {
    let config = upgate_conf::parse_file(&base.tree.join(&base.target), base.text.clone());
    let Some(file) = config.files.first() else {
        return Vec::new();
    };
    let mut sites = Vec::new();
    collect_sites(&file.block, &mut Vec::new(), &mut sites);
    let real = sites.iter().filter(|s| !s.data).count();
    let want = (3 * real).clamp(CASES_PER_BASE.0, CASES_PER_BASE.1);
    let kinds: Vec<(Kind, Vec<usize>)> = Kind::CLASSIC
        .iter()
        .map(|&k| (k, candidates(k, &base.text, &sites)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let mut rng = Rng::new(SEED ^ fnv(&base.name));
    let mut seen = HashSet::new();
    seen.insert(base.text.clone());
    let mut out = Vec::new();
    for _ in 0..want * 50 {
        if out.len() >= want {
            break;
        }
        let Some((kind, cands)) = rng.pick(&kinds) else {
            break;
        };
        // Prefer real directives over the entries of data blocks.
        let real_cands: Vec<usize> = cands.iter().copied().filter(|&i| !sites[i].data).collect();
        let pool = if !real_cands.is_empty() && rng.chance(85) {
            &real_cands
        } else {
            cands
        };
        let Some(&i) = rng.pick(pool) else { continue };
        let Some(m) = mutate(*kind, &base.text, &sites, &sites[i], &mut rng) else {
            continue;
        };
        if seen.insert(m.text.clone()) {
            out.push(m);
        }
    }
    out.extend(
        checks::mutants(base, &sites)
            .into_iter()
            .filter(|m| !seen.contains(&m.text)),
    );
    out
}
