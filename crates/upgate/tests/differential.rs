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
//! rejects unmutated in this harness are skipped and listed. Every case nginx
//! rejects is also linted (`differential/lint_view.rs`): `upgate lint` must
//! report an error on it.
//!
//! Layout: `differential/bases.rs` (the bases), `differential/mutations.rs`
//! (sites, kinds, the mutated texts), `differential/checks.rs` (the post-parse
//! checks' mutations); this file runs the cases and judges them.
//!
//! Debugging: `UPGATE_DIFF_KEEP=DIR` builds the cases under DIR and keeps the
//! ones that disagree (with `case.txt`: the mutation, both commands and both
//! outputs); `UPGATE_DIFF_ONLY=TEXT` runs only the cases whose id or mutation
//! kind contains TEXT (the 99 % and 1,000-case checks are then skipped).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "differential/bases.rs"]
mod bases;
#[path = "differential/checks.rs"]
mod checks;
#[path = "differential/lint_view.rs"]
mod lint_view;
#[path = "differential/mutations.rs"]
mod mutations;

use bases::{Base, Extra, Wrap, corpus_bases, known_file, seed_bases, shared_dir};
use mutations::{Edit, Kind, Mutant, Site, apply, insert, mutants, terminator};

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
