//! `cargo xtask directives`: generate `crates/conf/src/directives/table.rs`,
//! the table of every nginx directive, from nginx's own source.
//!
//! Why generate instead of typing the table: nginx declares each directive once,
//! as an `ngx_command_t { name, type, ... }` entry of a module's commands array,
//! and `type` is an OR of macros whose values live in a handful of headers.
//! Reading those arrays directly keeps upgate's notion of "which directive is
//! allowed where, with how many arguments" identical to nginx's, and makes an
//! nginx upgrade a one-command diff.
//!
//! What it does:
//!
//! 1. Reads the source of each nginx release of [`RELEASES`] (Debian 12's
//!    1.22.1, then 1.24.0, 1.26.3 and 1.28.3), each either from a bare git
//!    mirror (`git -C <mirror> show <tag>:<path>`) or from a plain checkout
//!    directory; steps 2-4 are done for each release.
//! 2. Tokenizes every `.c` file under [`SCAN_DIRS`] (a small C lexer: comments,
//!    strings and preprocessor lines are handled, nothing is expanded) and
//!    finds each `static ngx_command_t xxx[] = { ... ngx_null_command };` and
//!    each `ngx_module_t xxx = { NGX_MODULE_V1, ctx, commands, TYPE, ... };`.
//! 3. Evaluates each entry's type expression numerically from the `#define`s
//!    of [`FLAG_HEADERS`] (and of the file itself), so composite macros such as
//!    `NGX_CONF_TAKE1234` are resolved from their definitions, not hard-coded.
//!    The other fields of each entry are kept as written (`set`, `conf`,
//!    `offset`), and the object `post` points at is looked up in the sources:
//!    its C type, the value names of an `ngx_conf_enum_t`/`ngx_conf_bitmask_t`
//!    array, the limits of an `ngx_conf_num_bounds_t`.
//! 4. Orders modules as `ngx_modules[]` would be ordered, by interpreting the
//!    module-list assignments of nginx's `auto/` configure scripts (see
//!    [`order::module_order`]), and attaches each module's status in the reference
//!    build from the [`decisions::BUILD`] decision table.
//! 5. Merges the releases (see [`Table::merge`]): the union of their modules
//!    and directives, each entry marked with the releases it describes; a
//!    directive whose entry differs between releases gets one entry per
//!    distinct form.
//! 6. Writes `table.rs` deterministically, one entry per line.
//!
//! Anything the generator does not understand (an unknown macro, an `#else`
//! inside a commands array, a module with no build decision, a guard it has no
//! decision for) is an error, so an nginx upgrade cannot silently produce a
//! wrong table.
//!
//! The modules, in the order of the steps: [`source`] (reading a mirror or a
//! tree), [`c_lexer`] (tokens and `#define`s), [`commands`] (commands arrays
//! and module definitions), [`posts`] (what `post` points at), [`order`]
//! (`ngx_modules[]` from `auto/`), [`release`] (one release read whole),
//! [`decisions`] (the guard and build decisions, with their reasons),
//! [`merge`] (the releases merged) and [`write`] (table.rs).

mod c_lexer;
mod commands;
mod decisions;
mod merge;
mod order;
mod posts;
mod release;
mod source;
mod write;

use std::fs;
use std::path::{Path, PathBuf};

use merge::Table;
use release::Release;
use source::Source;

/// Where the nginx mirror lives on the project's machines.
const DEFAULT_NGINX_SRC: &str = "/work/.mirror/nginx+nginx/repo";
/// The releases the table describes, oldest first: the tag of each and the
/// series it must belong to. Debian 12's 1.22.1 is the reference build; the
/// others are the last release of each later stable series. Bit `n` of an
/// entry's `releases` is the `n`th of these, and `Release` in
/// crates/conf/src/directives/mod.rs names them in the same order (a test
/// there checks `NGINX_VERSIONS` against it), so adding one means adding it
/// there too.
const RELEASES: &[(&str, &str)] = &[
    ("release-1.22.1", "1.22."),
    ("release-1.24.0", "1.24."),
    ("release-1.26.3", "1.26."),
    ("release-1.28.3", "1.28."),
];
/// The generated file, relative to the workspace root.
const OUTPUT: &str = "crates/conf/src/directives/table.rs";

/// Source directories whose modules go into the table. `src/misc` holds only
/// the google-perftools module (and a C++ test with no directives); it is
/// scanned so that its directive is known, as Absent.
const SCAN_DIRS: &[&str] = &[
    "src/core",
    "src/event",
    "src/http",
    "src/stream",
    "src/mail",
    "src/misc",
];

/// Headers defining the `cmd->type` bits: the generic ones, then the context
/// bits of each module type (stream's live in `ngx_stream.h`).
const FLAG_HEADERS: &[&str] = &[
    "src/core/ngx_conf_file.h",
    "src/event/ngx_event.h",
    "src/http/ngx_http_config.h",
    "src/stream/ngx_stream.h",
    "src/mail/ngx_mail.h",
];

/// The configure scripts that build the module lists, in the order
/// `auto/configure` runs them (auto/os/conf picks one of the OS scripts; we
/// read Linux's, plus win32's so that the IOCP module gets a place too).
const ORDER_SCRIPTS: &[&str] = &[
    "auto/sources",
    "auto/os/linux",
    "auto/os/win32",
    "auto/unix",
    "auto/modules",
];

const HELP: &str = "\
usage: cargo xtask directives [--nginx-src <dir>] [--release <tag|dir>]...
                              [--out <file>] [--check]

Regenerates crates/conf/src/directives/table.rs from the ngx_command_t tables of
the nginx releases 1.22.x, 1.24.x, 1.26.x and 1.28.x.

  --nginx-src <dir>      a bare git mirror of nginx [default: /work/.mirror/nginx+nginx/repo]
  --release <tag|dir>    one release: a tag of the mirror, or a plain source
                         checkout (recognised by src/core/nginx.h). Give it once
                         per series, oldest first, to replace the default list
                         release-1.22.1, release-1.24.0, release-1.26.3, release-1.28.3
  --out <file>           where to write the table [default: <workspace>/crates/conf/src/directives/table.rs]
  --check                do not write; fail if the file differs from what would be generated";

/// Entry point of `cargo xtask directives`.
pub fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = Options::parse(args)? else {
        println!("{HELP}");
        return Ok(());
    };
    if options.releases.len() != RELEASES.len() {
        return Err(format!(
            "{} releases given, {} expected (one per series: {})",
            options.releases.len(),
            RELEASES.len(),
            series_list()
        ));
    }
    let mut releases = Vec::new();
    for (given, (_, series)) in options.releases.iter().zip(RELEASES) {
        let release = Release::read(&Source::open(&options.nginx_src, given)?)?;
        if !release.version.starts_with(series) {
            return Err(format!(
                "{} is nginx {}, not {series}x: the releases of the table are {}, in \
                 that order (Release in crates/conf/src/directives names them)",
                release.label,
                release.version,
                series_list()
            ));
        }
        releases.push(release);
    }
    let table = Table::merge(releases)?;
    let text = table.render();

    let current = match fs::read_to_string(&options.out) {
        Ok(current) => Some(current),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(format!("cannot read {}: {err}", options.out.display())),
    };
    let summary = table.summary();
    if current.as_deref() == Some(text.as_str()) {
        eprintln!("{} is up to date ({summary})", options.out.display());
    } else if options.check {
        return Err(format!(
            "{} is out of date; run `cargo xtask directives`",
            options.out.display()
        ));
    } else {
        fs::write(&options.out, text)
            .map_err(|err| format!("cannot write {}: {err}", options.out.display()))?;
        eprintln!("wrote {} ({summary})", options.out.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Command line

struct Options {
    nginx_src: PathBuf,
    /// Oldest first, one per entry of [`RELEASES`].
    releases: Vec<String>,
    out: PathBuf,
    check: bool,
}

impl Options {
    /// `Ok(None)` means help was asked for.
    fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("the xtask crate has no parent directory")?;
        let mut options = Options {
            nginx_src: PathBuf::from(DEFAULT_NGINX_SRC),
            releases: RELEASES.iter().map(|(tag, _)| (*tag).to_owned()).collect(),
            out: workspace.join(OUTPUT),
            check: false,
        };

        // The first --release replaces the default list; later ones add to it.
        let mut given: Option<Vec<String>> = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag {
                "-h" | "--help" => return Ok(None),
                "--nginx-src" => options.nginx_src = PathBuf::from(value()?),
                "--release" => given.get_or_insert_with(Vec::new).push(value()?),
                "--out" => options.out = PathBuf::from(value()?),
                "--check" if inline.is_none() => options.check = true,
                _ => return Err(format!("unexpected argument {arg:?}\n\n{HELP}")),
            }
        }
        if let Some(given) = given {
            options.releases = given;
        }
        Ok(Some(options))
    }
}

/// "1.22.x, 1.24.x, ...", for messages.
fn series_list() -> String {
    RELEASES
        .iter()
        .map(|(_, series)| format!("{series}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub fn ok<T>(result: Result<T, String>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{err}"),
    }
}
