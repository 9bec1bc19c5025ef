//! Differential test against the real nginx (`/usr/sbin/nginx`, Debian's 1.22).
//! The bases are the corpus files nginx accepts (`../shared/corpus/expected.json`,
//! `base[1] == true`, put in the wrapper the judge used) and the seed configs
//! (`../shared/seed-configs`, with the first wrapper nginx accepts). Each base's
//! text is parsed with `upgate_conf::parse_file`; the spans of its words, `;`,
//! `{` and `}` give the mutation points, and a seeded PRNG (splitmix64, so every
//! run builds the same cases) picks one syntax or value mutation per case: drop
//! a `;`, `{` or `}`, misspell a directive name, move a one-line directive into
//! another block, duplicate it, add or drop an argument, break or add a quote,
//! corrupt a size, time, number, flag or listen parameter. A second, separately
//! seeded generator (`differential/checks.rs`) adds up to three cases per base
//! for each of nginx's post-parse checks: conflicting `listen`s, shared memory
//! zones, implicit upstreams of the `*_pass` directives, and `geo` blocks.
//! Every case gets its
//! own directory (the base's config directory copied, the mutated file written
//! over its original, the wrapper next to it, a `logs/` for the prefix) and is
//! checked by `nginx -t -p DIR -e stderr -c CONF` and `upgate -t -p DIR -c CONF`.
//! They agree when both succeed, or both fail with the same first `[emerg]`
//! message, `in FILE:LINE` included. Agreement must reach 99 %, and every
//! disagreement must match a row of `testdata/differential/known.md` (mutation
//! kind, the change, both messages as `*` patterns, and the reason). Bases that nginx
//! rejects unmutated in this harness are skipped and listed.
//!
//! Debugging: `UPGATE_DIFF_KEEP=DIR` builds the cases under DIR and keeps the
//! ones that disagree (with `case.txt`: the mutation, both commands and both
//! outputs); `UPGATE_DIFF_ONLY=TEXT` runs only the cases whose id or mutation
//! kind contains TEXT (the 99 % and 1,000-case checks are then skipped).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use upgate_conf::{Block, Directive, Node, Quote, Word};

#[path = "differential/checks.rs"]
mod checks;
#[path = "differential/lint_view.rs"]
mod lint_view;

const NGINX: &str = "/usr/sbin/nginx";
const SEED: u64 = 0x0dd5_eed5_2024_0001;
/// At least this many cases must run.
const MIN_CASES: usize = 1000;
/// Cases per base: three per directive, within these bounds.
const CASES_PER_BASE: (usize, usize) = (16, 100);
/// Longest a single `-t` run may take before it is killed.
const RUN_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- PRNG

/// splitmix64: tiny, seeded, the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len()))
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// FNV-1a, to give each base its own stream that does not depend on the
/// other bases.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------- bases

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrap {
    Direct,
    Main,
    Http,
    Server,
    Location,
}

impl Wrap {
    const ALL: [Wrap; 5] = [
        Wrap::Direct,
        Wrap::Main,
        Wrap::Http,
        Wrap::Server,
        Wrap::Location,
    ];

    fn name(self) -> &'static str {
        match self {
            Wrap::Direct => "direct",
            Wrap::Main => "main",
            Wrap::Http => "http",
            Wrap::Server => "server",
            Wrap::Location => "location",
        }
    }

    fn parse(name: &str) -> Option<Wrap> {
        Wrap::ALL.into_iter().find(|w| w.name() == name)
    }

    /// The wrapper file of HOW-JUDGED.md around `file`.
    fn text(self, file: &Path) -> String {
        let file = file.display();
        match self {
            Wrap::Direct => String::new(),
            Wrap::Main => format!("events {{}}\ninclude {file};\n"),
            Wrap::Http => format!("events {{}}\nhttp {{\n    include {file};\n}}\n"),
            Wrap::Server => format!(
                "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        include {file};\n    }}\n}}\n"
            ),
            Wrap::Location => format!(
                "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n        location / {{\n            include {file};\n        }}\n    }}\n}}\n"
            ),
        }
    }
}

/// Something a case directory needs besides the copied tree (the judge's
/// fixups that this harness can reproduce).
#[derive(Debug, Clone)]
enum Extra {
    Copy { from: PathBuf, to: PathBuf },
    Empty(PathBuf),
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
struct Base {
    /// `corpus:<source>/<rel>` or `seed:<file>`.
    name: String,
    /// Directory copied into every case (the config root).
    tree: PathBuf,
    /// The file that is mutated, relative to `tree`.
    target: PathBuf,
    wrap: Wrap,
    extras: Vec<Extra>,
    /// The judge's fixups this harness does not reproduce.
    unreproduced: Vec<String>,
    text: Vec<u8>,
}

fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("UPGATE_SHARED") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn known_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/differential/known.md")
}

/// The corpus bases (files nginx accepts), and the ones this harness cannot
/// reproduce, with why.
fn corpus_bases(shared: &Path) -> Result<(Vec<Base>, Vec<String>), String> {
    let corpus = shared.join("corpus");
    let path = corpus.join("expected.json");
    let json = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries: Vec<Value> =
        serde_json::from_str(&json).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bases = Vec::new();
    let mut skipped = Vec::new();
    for entry in &entries {
        if entry["base"][1].as_bool() != Some(true) {
            continue;
        }
        let source = entry["source"].as_str().unwrap_or_default();
        let rel = entry["rel"].as_str().unwrap_or_default();
        let name = format!("corpus:{source}/{rel}");
        let Some(wrap) = Wrap::parse(entry["base"][0].as_str().unwrap_or_default()) else {
            skipped.push(format!("{name}: unknown wrap {}", entry["base"][0]));
            continue;
        };
        // Where the judge put the config root, and which directory that is here.
        let (tree, judge_root) = match source {
            "nginx-conf" => (corpus.join(source), "/etc/nginx".to_string()),
            "debian-nginx-common" | "nginx-proxy-manager" => {
                (corpus.join(source).join("etc/nginx"), "/etc/nginx".into())
            }
            _ => {
                let file = corpus.join(source).join(rel);
                let top = corpus.join(source);
                let mut dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                let mut found = None;
                for _ in 0..32 {
                    if dir.join("nginx.conf").is_file() {
                        found = Some(dir.clone());
                        break;
                    }
                    if dir == top || !dir.pop() {
                        break;
                    }
                }
                let tree = found
                    .unwrap_or_else(|| file.parent().map(Path::to_path_buf).unwrap_or_default());
                let inside = tree.strip_prefix(&corpus).unwrap_or(&tree).to_path_buf();
                (tree, format!("/corpus/{}", inside.display()))
            }
        };
        let file = corpus.join(source).join(rel);
        let Ok(target) = file.strip_prefix(&tree).map(Path::to_path_buf) else {
            skipped.push(format!("{name}: not under its config root"));
            continue;
        };
        let text = fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let local = |judged: &str| {
            judged
                .strip_prefix(&judge_root)
                .and_then(|rest| rest.strip_prefix('/'))
                .map(PathBuf::from)
        };
        let mut extras = Vec::new();
        // Fixups not reproduced here (users, groups, /etc/hosts): the base is
        // kept, and nginx decides whether this machine has what they add.
        let mut unreproduced = Vec::new();
        for fixup in entry["base"][3].as_array().into_iter().flatten() {
            let fixup = fixup.as_str().unwrap_or_default();
            let made = if let Some(path) = fixup.strip_prefix("empty include ") {
                local(path).map(Extra::Empty)
            } else if let Some(path) = fixup.strip_prefix("mkdir ") {
                // A directory outside the tree exists on this machine or not;
                // nginx decides.
                Some(local(path).map_or(Extra::Dir(PathBuf::new()), Extra::Dir))
            } else if let Some((what, to)) = fixup
                .strip_prefix("copied Debian ")
                .and_then(|rest| rest.split_once(" to "))
            {
                local(to).map(|to| Extra::Copy {
                    from: corpus.join("debian-nginx-common/etc/nginx").join(what),
                    to,
                })
            } else {
                None
            };
            match made {
                Some(extra) => extras.push(extra),
                None => unreproduced.push(fixup.to_string()),
            }
        }
        bases.push(Base {
            name,
            tree,
            target,
            wrap,
            extras,
            unreproduced,
            text,
        });
    }
    Ok((bases, skipped))
}

/// The seed configs; their wrapper is chosen later (the first nginx accepts).
fn seed_bases(shared: &Path) -> Result<Vec<Base>, String> {
    let dir = shared.join("seed-configs");
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    names.sort();
    let mime = shared.join("corpus/debian-nginx-common/etc/nginx/mime.types");
    let mut bases = Vec::new();
    for path in names {
        let text = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = PathBuf::from(path.file_name().unwrap_or_default());
        bases.push(Base {
            name: format!("seed:{}", file.display()),
            tree: dir.clone(),
            target: file,
            wrap: Wrap::Direct,
            extras: vec![
                Extra::Copy {
                    from: mime.clone(),
                    to: "mime.types".into(),
                },
                Extra::Dir("conf.d".into()),
            ],
            unreproduced: Vec::new(),
            text,
        });
    }
    Ok(bases)
}

// ---------------------------------------------------------------- running

fn copy_tree(from: &Path, to: &Path, depth: usize) -> std::io::Result<()> {
    if depth > 16 {
        return Ok(());
    }
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target, depth + 1)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Lays out a case in `dir` (the prefix): `dir/t` is the config root, with
/// `text` written over the base's file. Returns the file to give `-c`.
fn materialize(base: &Base, dir: &Path, text: &[u8]) -> Result<PathBuf, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| io(&dir.display().to_string(), e))?;
    }
    let tree = dir.join("t");
    fs::create_dir_all(dir.join("logs")).map_err(|e| io("logs", e))?;
    copy_tree(&base.tree, &tree, 0).map_err(|e| io(&base.tree.display().to_string(), e))?;
    for extra in &base.extras {
        match extra {
            Extra::Copy { from, to } => {
                let to = tree.join(to);
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(|e| io("extra", e))?;
                }
                fs::copy(from, &to).map_err(|e| io(&from.display().to_string(), e))?;
            }
            Extra::Empty(path) => {
                let to = tree.join(path);
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(|e| io("extra", e))?;
                }
                fs::write(&to, "").map_err(|e| io(&to.display().to_string(), e))?;
            }
            Extra::Dir(path) if !path.as_os_str().is_empty() => {
                fs::create_dir_all(tree.join(path)).map_err(|e| io("extra", e))?;
            }
            Extra::Dir(_) => {}
        }
    }
    let file = tree.join(&base.target);
    fs::write(&file, text).map_err(|e| io(&file.display().to_string(), e))?;
    if base.wrap == Wrap::Direct {
        return Ok(file);
    }
    let wrapper = tree.join(format!("__wrap_{}__.conf", base.wrap.name()));
    fs::write(&wrapper, base.wrap.text(&file)).map_err(|e| io("wrapper", e))?;
    Ok(wrapper)
}

/// What one `-t` run said.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    ok: bool,
    /// The first `[emerg]` message (without the program / timestamp prefix).
    emerg: String,
    stderr: String,
}

impl Verdict {
    fn summary(&self) -> String {
        if self.ok {
            "ok".into()
        } else if self.emerg.is_empty() {
            format!("failed: {}", self.stderr.lines().next().unwrap_or_default())
        } else {
            self.emerg.clone()
        }
    }

    fn agrees(&self, other: &Verdict) -> bool {
        self.ok == other.ok && (self.ok || self.emerg == other.emerg)
    }
}

/// The first `[emerg]` message: `nginx: [emerg] MSG`,
/// `2024/01/01 00:00:00 [emerg] 123#123: MSG` or `upgate: [emerg] MSG`.
fn first_emerg(stderr: &str) -> String {
    for line in stderr.lines() {
        let Some(at) = line.find("[emerg] ") else {
            continue;
        };
        let rest = &line[at + "[emerg] ".len()..];
        if let Some((pid, msg)) = rest.split_once(": ")
            && !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit() || b == b'#')
        {
            return msg.to_string();
        }
        return rest.to_string();
    }
    String::new()
}

/// Runs `program args` with stderr to `log`, killing it after `RUN_LIMIT`.
fn run_bounded(program: &str, args: &[String], log: &Path) -> Result<Verdict, String> {
    let file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for {program}: {e}"));
            }
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{program} took longer than {RUN_LIMIT:?}; killed"));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    };
    let stderr = fs::read(log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("{}: {e}", log.display()))?;
    Ok(Verdict {
        ok: status.success(),
        emerg: first_emerg(&stderr),
        stderr,
    })
}

struct Pair {
    /// The file given to `-c`.
    conf: PathBuf,
    nginx: Verdict,
    upgate: Verdict,
    /// When nginx rejects the case: the error findings of `upgate lint`.
    lint: Option<Result<Vec<String>, String>>,
}

fn commands(dir: &Path, conf: &Path) -> (Vec<String>, Vec<String>) {
    let dir = dir.display().to_string();
    let conf = conf.display().to_string();
    let nginx = ["-t", "-p", &dir, "-e", "stderr", "-c", &conf];
    let upgate = ["-t", "-p", &dir, "-c", &conf];
    (
        nginx.iter().map(|s| s.to_string()).collect(),
        upgate.iter().map(|s| s.to_string()).collect(),
    )
}

/// Runs both checkers on `text` laid out in `dir`.
fn run_pair(base: &Base, dir: &Path, text: &[u8]) -> Result<Pair, String> {
    let conf = materialize(base, dir, text)?;
    let (nginx_args, upgate_args) = commands(dir, &conf);
    let nginx = run_bounded(NGINX, &nginx_args, &dir.join("nginx.stderr"))?;
    let upgate = run_bounded(
        env!("CARGO_BIN_EXE_upgate"),
        &upgate_args,
        &dir.join("upgate.stderr"),
    )?;
    let lint = (!nginx.ok).then(|| lint_view::lint_errors(dir, &conf));
    Ok(Pair {
        conf,
        nginx,
        upgate,
        lint,
    })
}

// ---------------------------------------------------------------- mutations

/// A directive of the base file, with where it stands.
struct Site<'a> {
    d: &'a Directive,
    /// Names of the enclosing blocks, outermost first.
    parents: Vec<String>,
    /// Inside a block whose entries are data, not directives (types, map, ...).
    data: bool,
}

const DATA_BLOCKS: &[&str] = &["types", "map", "geo", "split_clients", "charset_map"];

fn collect_sites<'a>(block: &'a Block, parents: &mut Vec<String>, out: &mut Vec<Site<'a>>) {
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

fn last_word(d: &Directive) -> &Word {
    d.args.last().unwrap_or(&d.name)
}

/// Offset of the `;` or `{` that ends `d`: after its last word, past blanks
/// and comments.
fn terminator(text: &[u8], d: &Directive) -> Option<usize> {
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
fn one_liner<'t>(text: &'t [u8], d: &Directive) -> Option<&'t [u8]> {
    if d.block.is_some() {
        return None;
    }
    let end = terminator(text, d)?;
    let raw = text.get(d.name.span.start as usize..=end)?;
    (text.get(end) == Some(&b';') && !raw.contains(&b'\n')).then_some(raw)
}

fn show(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).replace('\n', " ");
    if text.chars().count() > 50 {
        format!("{}...", text.chars().take(47).collect::<String>())
    } else {
        text
    }
}

fn place(site: &Site<'_>) -> String {
    if site.parents.is_empty() {
        "top level".into()
    } else {
        site.parents.join(">")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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
    const ALL: [Kind; 20] = [
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

    fn name(self) -> &'static str {
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

fn is_size(v: &[u8]) -> bool {
    matches!(v.split_last(), Some((u, digits)) if b"kKmMgG".contains(u)
        && !digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
}

/// Length of the unit of a time like `60s` or `500ms`, if it is one.
fn time_unit(v: &[u8]) -> Option<usize> {
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = v.get(digits..)?;
    (digits > 0 && matches!(unit, b"ms" | b"s" | b"m" | b"h" | b"d" | b"w" | b"M" | b"y"))
        .then_some(unit.len())
}

fn is_number(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(u8::is_ascii_digit)
}

fn is_flag(v: &[u8]) -> bool {
    v.eq_ignore_ascii_case(b"on") || v.eq_ignore_ascii_case(b"off")
}

fn is_plain_name(w: &Word) -> bool {
    w.quote == Quote::None
        && w.value.len() >= 2
        && w.value
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// An edit of the base text: replace `start..end` by `with`.
struct Edit {
    start: usize,
    end: usize,
    with: Vec<u8>,
}

fn apply(text: &[u8], mut edits: Vec<Edit>) -> Option<Vec<u8>> {
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

fn insert(at: usize, with: &[u8]) -> Edit {
    Edit {
        start: at,
        end: at,
        with: with.to_vec(),
    }
}

fn delete(start: usize, end: usize) -> Edit {
    Edit {
        start,
        end,
        with: Vec::new(),
    }
}

/// One mutated text of a base.
struct Mutant {
    kind: Kind,
    what: String,
    text: Vec<u8>,
}

/// Candidate sites for `kind` (indices into `sites`).
fn candidates(kind: Kind, text: &[u8], sites: &[Site<'_>]) -> Vec<usize> {
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

const ADD_ARGS: &[&str] = &["on", "80", "x", "10s", "$foo", "off"];
const BAD_FLAGS: &[&str] = &["yes", "no", "true", "enable", "On", "OFF", "1"];
const LISTEN_ADDRS: &[&str] = &[
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
const LISTEN_PARAMS: &[&str] = &[
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

fn misspell(name: &[u8], rng: &mut Rng) -> (Vec<u8>, &'static str) {
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
fn pick_arg<'a>(d: &'a Directive, rng: &mut Rng, f: &dyn Fn(&[u8]) -> bool) -> Option<&'a Word> {
    let args: Vec<&Word> = d
        .args
        .iter()
        .filter(|a| a.quote == Quote::None && f(&a.value))
        .collect();
    rng.pick(&args).copied()
}

/// Applies `kind` at `site`; `None` when this draw produced nothing usable.
fn mutate(
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
fn mutants(base: &Base) -> Vec<Mutant> {
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

// ---------------------------------------------------------------- known list

/// A row of known.md: `| mutation | change | nginx | upgate | reason |`, the
/// first four as `*` patterns in backticks.
#[derive(Debug)]
struct Known {
    kind: String,
    change: String,
    nginx: String,
    upgate: String,
    reason: String,
    line: usize,
}

fn parse_known(text: &str) -> Vec<Known> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Rows start at the margin (indented lines are examples).
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [kind, change, nginx, upgate, reason] = cells.as_slice() else {
            continue;
        };
        let pat = |c: &str| c.trim_matches('`').to_string();
        out.push(Known {
            kind: pat(kind),
            change: pat(change),
            nginx: pat(nginx),
            upgate: pat(upgate),
            reason: reason.to_string(),
            line: n + 1,
        });
    }
    out
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

// ---------------------------------------------------------------- the test

struct Case {
    id: String,
    base: usize,
    mutant: Mutant,
}

struct Disagreement {
    id: String,
    kind: Kind,
    base: String,
    what: String,
    nginx: String,
    upgate: String,
    known: Option<usize>,
}

fn work_root() -> (PathBuf, bool) {
    match std::env::var_os("UPGATE_DIFF_KEEP") {
        Some(dir) if !dir.is_empty() => (PathBuf::from(dir), true),
        _ => (
            std::env::temp_dir().join(format!("upgate-diff-{}", std::process::id())),
            false,
        ),
    }
}

fn dir_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Keeps a disagreeing case's directory with a `case.txt` that explains it.
fn write_case_note(dir: &Path, case: &Case, pair: &Pair) {
    let mut note = String::new();
    let _ = writeln!(note, "case {}: {}", case.id, case.mutant.what);
    let _ = writeln!(note, "mutation kind: {}", case.mutant.kind.name());
    let (nginx, upgate) = commands(dir, &pair.conf);
    let _ = writeln!(note, "\nrerun:\n  {NGINX} {}", nginx.join(" "));
    let _ = writeln!(
        note,
        "  {} {}",
        env!("CARGO_BIN_EXE_upgate"),
        upgate.join(" ")
    );
    for (who, v) in [("nginx", &pair.nginx), ("upgate", &pair.upgate)] {
        let _ = writeln!(note, "\n--- {who} (ok = {}):\n{}", v.ok, v.stderr);
    }
    let _ = fs::write(dir.join("case.txt"), note);
}

#[test]
fn mutations_agree_with_nginx() {
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} not found: this test compares upgate with the real nginx; \
         install nginx (apt-get install nginx)"
    );
    let started = Instant::now();
    let shared = shared_dir();
    let (mut bases, mut skipped) = match corpus_bases(&shared) {
        Ok(found) => found,
        Err(e) => panic!("cannot read the corpus: {e} (set UPGATE_SHARED)"),
    };
    match seed_bases(&shared) {
        Ok(seeds) => bases.extend(seeds),
        Err(e) => panic!("cannot read the seed configs: {e} (set UPGATE_SHARED)"),
    }
    let known_path = known_file();
    let known = parse_known(&fs::read_to_string(&known_path).unwrap_or_default());
    let only = std::env::var("UPGATE_DIFF_ONLY")
        .ok()
        .filter(|s| !s.is_empty());

    let (work, keep) = work_root();
    if let Err(e) = fs::create_dir_all(&work) {
        panic!("cannot create {}: {e}", work.display());
    }

    // Unmutated bases: nginx must accept them (seeds: with the first wrapper
    // it accepts); note where upgate already disagrees.
    let mut usable = Vec::new();
    let mut base_notes = Vec::new();
    for mut base in bases {
        let dir = work.join(format!("base-{}", dir_name(&base.name)));
        let wraps: Vec<Wrap> = if base.name.starts_with("seed:") {
            Wrap::ALL.to_vec()
        } else {
            vec![base.wrap]
        };
        let mut accepted = None;
        let mut first_error = None;
        for wrap in wraps {
            base.wrap = wrap;
            let text = base.text.clone();
            match run_pair(&base, &dir, &text) {
                Ok(pair) if pair.nginx.ok => {
                    accepted = Some(pair);
                    break;
                }
                Ok(pair) => {
                    if first_error.is_none() && !pair.nginx.emerg.contains("is not allowed here") {
                        first_error = Some(pair.nginx.summary());
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        match accepted {
            Some(pair) => {
                if !pair.upgate.ok {
                    base_notes.push(format!(
                        "{} [{}]: nginx accepts it unmutated, upgate says: {}",
                        base.name,
                        base.wrap.name(),
                        pair.upgate.summary()
                    ));
                }
                usable.push(base);
            }
            None => {
                let needs = if base.unreproduced.is_empty() {
                    String::new()
                } else {
                    format!(" (the judge's fixups: {})", base.unreproduced.join(", "))
                };
                skipped.push(format!(
                    "{}: nginx rejects it unmutated here: {}{needs}",
                    base.name,
                    first_error
                        .unwrap_or_default()
                        .replace(&dir.display().to_string(), "$DIR")
                ));
            }
        }
    }
    let bases = usable;

    let mut cases = Vec::new();
    for (b, base) in bases.iter().enumerate() {
        let short = base.name.split_once(':').map_or(&*base.name, |(_, r)| r);
        for (n, mutant) in mutants(base).into_iter().enumerate() {
            let id = format!("{short}#{n:02}");
            if only
                .as_deref()
                .is_some_and(|o| !id.contains(o) && !mutant.kind.name().contains(o))
            {
                continue;
            }
            cases.push(Case {
                id,
                base: b,
                mutant,
            });
        }
    }

    // Run the cases on a few threads; each takes the next index.
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    let mut results: Vec<Option<Result<Pair, String>>> = (0..cases.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    for _ in 0..cases.len() {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(case) = cases.get(i) else { break };
                        let dir = work.join(dir_name(&case.id));
                        let pair = run_pair(&bases[case.base], &dir, &case.mutant.text);
                        let disagree = pair.as_ref().map_or(true, |p| !p.nginx.agrees(&p.upgate));
                        if keep && disagree {
                            if let Ok(p) = &pair {
                                write_case_note(&dir, case, p);
                            }
                        } else {
                            let _ = fs::remove_dir_all(&dir);
                        }
                        done.push((i, pair));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            match worker.join() {
                Ok(done) => {
                    for (i, pair) in done {
                        results[i] = Some(pair);
                    }
                }
                Err(_) => panic!("a worker thread panicked"),
            }
        }
    });
    if !keep {
        let _ = fs::remove_dir_all(&work);
    }

    let mut agree = 0;
    // Per mutation kind: cases, agreeing with both ok, agreeing with both failed.
    let mut per_kind = [(0usize, 0usize, 0usize); Kind::ALL.len()];
    let mut errors = Vec::new();
    let mut disagreements = Vec::new();
    // Cases nginx rejects that lint reported without an error.
    let mut lint_silent = Vec::new();
    let mut lint_checked = 0;
    for (case, result) in cases.iter().zip(results) {
        let pair = match result {
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                errors.push(format!("{}: {e}", case.id));
                continue;
            }
            None => {
                errors.push(format!("{}: not run", case.id));
                continue;
            }
        };
        let slot = Kind::ALL
            .iter()
            .position(|&k| k == case.mutant.kind)
            .unwrap_or_default();
        per_kind[slot].0 += 1;
        match &pair.lint {
            Some(Ok(lint)) if lint.is_empty() => {
                lint_silent.push(format!("{}: nginx: {}", case.id, pair.nginx.summary()))
            }
            Some(Ok(_)) => lint_checked += 1,
            Some(Err(e)) => errors.push(format!("{}: lint: {e}", case.id)),
            None => {}
        }
        if pair.nginx.agrees(&pair.upgate) {
            agree += 1;
            if pair.nginx.ok {
                per_kind[slot].1 += 1;
            } else {
                per_kind[slot].2 += 1;
            }
            continue;
        }
        let dir = work.join(dir_name(&case.id)).display().to_string();
        let base = &bases[case.base].name;
        let nginx = pair.nginx.summary().replace(&dir, "$DIR");
        let upgate = pair.upgate.summary().replace(&dir, "$DIR");
        let kind = case.mutant.kind;
        let known = known.iter().position(|k| {
            glob(&k.kind, kind.name())
                && glob(&k.change, &case.mutant.what)
                && glob(&k.nginx, &nginx)
                && glob(&k.upgate, &upgate)
        });
        disagreements.push(Disagreement {
            id: case.id.clone(),
            kind,
            base: base.clone(),
            what: case.mutant.what.clone(),
            nginx,
            upgate,
            known,
        });
    }

    let total = cases.len();
    let percent = if total == 0 {
        0.0
    } else {
        100.0 * agree as f64 / total as f64
    };
    let mut report = String::new();
    let _ = writeln!(
        report,
        "differential: {agree}/{total} agree ({percent:.2}%), {} bases, {} skipped, {:.1}s",
        bases.len(),
        skipped.len(),
        started.elapsed().as_secs_f64()
    );
    for (kind, (cases, ok, failed)) in Kind::ALL.iter().zip(per_kind) {
        let _ = writeln!(
            report,
            "  {:<16} {:>4}/{:<4} agree ({ok} both ok, {failed} both failed alike)",
            kind.name(),
            ok + failed,
            cases
        );
    }
    for s in &skipped {
        let _ = writeln!(report, "  skipped base {s}");
    }
    for n in &base_notes {
        let _ = writeln!(report, "  base disagreement: {n}");
    }
    for e in &errors {
        let _ = writeln!(report, "  harness error: {e}");
    }
    let _ = writeln!(
        report,
        "  lint: {lint_checked} cases nginx rejects have an error finding, {} have none",
        lint_silent.len()
    );
    for s in &lint_silent {
        let _ = writeln!(report, "  lint without an error: {s}");
    }
    let mut unlisted = String::new();
    for d in &disagreements {
        let entry = format!(
            "  {} [{}]: {}\n      base:   {}\n      nginx:  {}\n      upgate: {}\n",
            d.id,
            d.kind.name(),
            d.what,
            d.base,
            d.nginx,
            d.upgate
        );
        match d.known {
            Some(k) => {
                let _ = writeln!(report, "{entry}      known:  known.md:{}", known[k].line);
            }
            None => {
                let _ = writeln!(report, "{entry}      NOT IN known.md");
                unlisted.push_str(&entry);
            }
        }
    }
    let _ = writeln!(report, "  by known.md row:");
    for (i, k) in known.iter().enumerate() {
        let count = disagreements.iter().filter(|d| d.known == Some(i)).count();
        if count > 0 {
            let _ = writeln!(
                report,
                "    known.md:{:<4} {count:>3} x {}: {}",
                k.line, k.kind, k.reason
            );
        } else if only.is_none() {
            let _ = writeln!(
                report,
                "    known.md:{:<4} matched nothing, delete it? ({}): {}",
                k.line, k.kind, k.reason
            );
        }
    }
    println!("{report}");

    let summary = report.lines().next().unwrap_or_default();
    assert!(
        errors.is_empty(),
        "{summary}\nthe harness failed on some cases:\n  {}",
        errors.join("\n  ")
    );
    assert!(
        lint_silent.is_empty(),
        "{summary}\nupgate lint gave no error on files nginx -t rejects:\n  {}",
        lint_silent.join("\n  ")
    );
    assert!(
        unlisted.is_empty(),
        "{summary}\ndisagreements not listed in {}:\n{unlisted}",
        known_path.display()
    );
    if only.is_none() {
        assert!(
            total >= MIN_CASES,
            "{summary}\nonly {total} cases ran; at least {MIN_CASES} are required"
        );
        assert!(
            agree * 100 >= total * 99,
            "{summary}\nagreement {percent:.2}% is below 99% (the disagreements are listed above)"
        );
    }
}

/// Directives whose table differs between nginx 1.22.1 and 1.28.3, each in a
/// `server {}` of a whole nginx.conf (or, with `upstream`, of an upstream
/// block): `nginx -t` (Debian's 1.22) and `upgate -t --nginx-version 1.22`
/// must give the same verdict and first `[emerg]` line (the third field: does
/// nginx 1.22 accept it), though upgate's default table (every release's)
/// accepts them all.
const VERSION_CASES: &[(&str, &str, bool)] = &[
    // Added in 1.25.1: unknown to 1.22.
    ("http2", "server { listen 8080; http2 on; }", false),
    // Added after 1.26.3: unknown to 1.22.
    (
        "keepalive_min_timeout",
        "server { listen 8080; keepalive_min_timeout 1s; }",
        false,
    ),
    // 1.28's upstream module has `resolver`; 1.22's only the core's, which
    // upstream {} does not allow.
    (
        "resolver",
        "upstream u { server 127.0.0.1:1; resolver 127.0.0.1; }",
        false,
    ),
    // Removed in 1.25.1: 1.22 still accepts it (with a deprecation warning).
    ("ssl", "server { listen 8080; ssl off; }", true),
    // Obsolete (another handler) in 1.28; 1.22's pushes.
    (
        "http2_push",
        "server { listen 8080; location / { http2_push /x; } }",
        true,
    ),
    // A size slot in 1.22; variables are allowed after 1.26.3.
    (
        "proxy_limit_rate",
        "server { listen 8080; proxy_limit_rate $arg_r; }",
        false,
    ),
];

#[test]
fn nginx_version_1_22_agrees_with_nginx() {
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} not found: this test compares upgate with the real nginx; \
         install nginx (apt-get install nginx)"
    );
    let root = std::env::temp_dir().join(format!("upgate-diff-version-{}", std::process::id()));
    let mut failures = Vec::new();
    for &(name, http, accepted) in VERSION_CASES {
        let dir = root.join(name);
        let conf = dir.join("nginx.conf");
        let text = format!("events {{}}\nhttp {{\n    {http}\n}}\n");
        let written = fs::create_dir_all(dir.join("logs")).and_then(|()| fs::write(&conf, text));
        if let Err(e) = written {
            panic!("cannot write {}: {e}", conf.display());
        }
        let (nginx_args, default_args) = commands(&dir, &conf);
        let mut upgate_args = default_args.clone();
        upgate_args.splice(1..1, ["--nginx-version".to_string(), "1.22".to_string()]);
        match run_bounded(
            env!("CARGO_BIN_EXE_upgate"),
            &default_args,
            &dir.join("default.stderr"),
        ) {
            Ok(v) if v.ok => {}
            other => failures.push(format!("{name}: upgate -t without the flag: {other:?}")),
        }
        let nginx = run_bounded(NGINX, &nginx_args, &dir.join("nginx.stderr"));
        let upgate = run_bounded(
            env!("CARGO_BIN_EXE_upgate"),
            &upgate_args,
            &dir.join("upgate.stderr"),
        );
        match (nginx, upgate) {
            (Ok(nginx), Ok(upgate)) if nginx.agrees(&upgate) && nginx.ok == accepted => {}
            (Ok(nginx), Ok(upgate)) => failures.push(format!(
                "{name}: nginx: {}\n    upgate --nginx-version 1.22: {}\n{}",
                nginx.summary(),
                upgate.summary(),
                upgate.stderr
            )),
            (nginx, upgate) => failures.push(format!("{name}: {nginx:?} / {upgate:?}")),
        }
    }
    let _ = fs::remove_dir_all(&root);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
