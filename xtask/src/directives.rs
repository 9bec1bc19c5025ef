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
//! 1. Reads the source of two nginx releases, [`OLD_TAG`] (Debian 12's 1.22.1)
//!    and [`NEW_TAG`] (1.28.3), each either from a bare git mirror (`git -C
//!    <mirror> show <tag>:<path>`) or from a plain checkout directory; steps
//!    2-4 are done for each release.
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
//!    [`module_order`]), and attaches each module's status in the reference
//!    build from the [`BUILD`] decision table.
//! 5. Merges the two releases (see [`Table::merge`]): the union of their
//!    modules and directives, each entry marked with the releases it describes;
//!    a directive whose entry differs between the releases gets one entry each.
//! 6. Writes `table.rs` deterministically, one entry per line.
//!
//! Anything the generator does not understand (an unknown macro, an `#else`
//! inside a commands array, a module with no build decision, a guard it has no
//! decision for) is an error, so an nginx upgrade cannot silently produce a
//! wrong table.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

/// Where the nginx mirror lives on the project's machines.
const DEFAULT_NGINX_SRC: &str = "/work/.mirror/nginx+nginx/repo";
/// The older release the table describes: Debian 12's nginx. Its entries are
/// marked by `since_1_22`.
const OLD_TAG: &str = "release-1.22.1";
/// The newer release the table describes, upgate's reference; its entries are
/// marked by `in_1_28`.
const NEW_TAG: &str = "release-1.28.3";
/// The release series [`OLD_TAG`] and [`NEW_TAG`] must belong to: the
/// generated field names `since_1_22` and `in_1_28` say so.
const OLD_SERIES: &str = "1.22.";
const NEW_SERIES: &str = "1.28.";
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

/// Preprocessor guards met around commands-array entries (and around entries
/// of the `ngx_conf_enum_t`/`ngx_conf_bitmask_t` arrays their `post` points
/// at), and whether the guarded entries belong in the table. Every guard nginx
/// 1.22.1 and 1.28.3 use there is defined in the reference build, so all are
/// included. A guard missing from this list is an error: decide, then add it.
const GUARDS: &[(&str, bool)] = &[
    // auto/unix finds openat(2) on Linux.
    ("if (NGX_HAVE_OPENAT)", true),
    // HTTP_CACHE=YES unless --without-http-cache.
    ("if (NGX_HTTP_CACHE)", true),
    // The gzip filter is a default module; --with-compat defines it as well.
    ("if (NGX_HTTP_GZIP)", true),
    // --with-http_ssl_module.
    ("if (NGX_HTTP_SSL)", true),
    // The upstream zone module is a default module; --with-compat too.
    ("if (NGX_HTTP_UPSTREAM_ZONE)", true),
    // --with-stream_ssl_module.
    ("if (NGX_STREAM_SSL)", true),
    // The stream upstream zone module is a default module; --with-compat too.
    ("if (NGX_STREAM_UPSTREAM_ZONE)", true),
];

/// A module's presence in the reference build; mirrors `Build` in the
/// directives module of upgate-conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    Static,
    Dynamic(&'static str),
    Absent,
}

use Build::{Absent, Dynamic, Static};

/// The `.so` of `--with-mail=dynamic`. auto/modules turns the whole
/// MAIL_MODULES list into one dynamic module, and auto/module names it after
/// the list's first module ("extract the first name"); auto/make then links
/// `objs/<name>.so`.
const MAIL_SO: Build = Dynamic("ngx_mail_module.so");
/// Likewise for `--with-stream=dynamic` and STREAM_MODULES.
const STREAM_SO: Build = Dynamic("ngx_stream_module.so");

/// Build decisions for every module that declares directives, for the
/// reference build: Debian 12's nginx 1.22.1 package, configured with the
/// default modules plus
///
/// ```text
/// --with-compat --with-debug --with-pcre-jit --with-http_ssl_module
/// --with-http_stub_status_module --with-http_realip_module
/// --with-http_auth_request_module --with-http_v2_module --with-http_dav_module
/// --with-http_slice_module --with-threads --with-http_addition_module
/// --with-http_flv_module --with-http_gunzip_module
/// --with-http_gzip_static_module --with-http_mp4_module
/// --with-http_random_index_module --with-http_secure_link_module
/// --with-http_sub_module --with-mail_ssl_module --with-stream_ssl_module
/// --with-stream_ssl_preread_module --with-stream_realip_module
/// --with-http_geoip_module=dynamic --with-http_image_filter_module=dynamic
/// --with-http_perl_module=dynamic --with-http_xslt_module=dynamic
/// --with-mail=dynamic --with-stream=dynamic --with-stream_geoip_module=dynamic
/// ```
///
/// "default" means YES in auto/options (only `--without-*` turns it off),
/// "--with" means NO there. Modules that appeared in nginx after 1.22.1 are
/// Absent: Debian 12's binary does not have them. `build` is per module;
/// per-directive additions and removals (e.g. `http2` in ngx_http_v2_module,
/// 1.25.1, or `ssl` in ngx_http_ssl_module, gone in 1.25.1) are what the
/// entries' `since_1_22` and `in_1_28` say. Every module with directives in
/// 1.22.1 still has them in 1.28.3, so no module needs a 1.22.1-only decision.
///
/// Modules without directives need no decision and are not in the table; for
/// the record, on Linux auto/os/linux finds epoll and sets EVENT_FOUND=YES, so
/// auto/modules builds neither ngx_select_module nor ngx_poll_module (only
/// `--with-select_module`/`--with-poll_module` would), and ngx_quic_module
/// needs `--with-http_v3_module` (1.25.0+).
const BUILD: &[(&str, Build)] = &[
    // Core modules. core/errlog/conf are unconditional (auto/sources).
    ("ngx_core_module", Static),
    ("ngx_errlog_module", Static),
    ("ngx_conf_module", Static),
    // USE_OPENSSL=YES, set by --with-http_ssl_module.
    ("ngx_openssl_module", Static),
    // Added in nginx 1.27.x; not in 1.22.1.
    ("ngx_openssl_cache_module", Absent),
    // USE_OPENSSL_QUIC comes only with --with-http_v3_module (1.25.0+).
    ("ngx_quic_bpf_module", Absent),
    // USE_PCRE=YES: the default rewrite module asks for it.
    ("ngx_regex_module", Static),
    // Event modules: the generic ones plus the Linux notification method.
    ("ngx_events_module", Static),
    ("ngx_event_core_module", Static),
    ("ngx_epoll_module", Static),
    ("ngx_iocp_module", Absent),      // win32 only
    ("ngx_devpoll_module", Absent),   // Solaris only
    ("ngx_kqueue_module", Absent),    // BSD/macOS only
    ("ngx_eventport_module", Absent), // Solaris only
    // --with-threads.
    ("ngx_thread_pool_module", Static),
    // HTTP (HTTP=YES unless --without-http): HTTP_MODULES in auto/modules order.
    ("ngx_http_module", Static),
    ("ngx_http_core_module", Static),
    ("ngx_http_log_module", Static),
    ("ngx_http_upstream_module", Static),
    ("ngx_http_v2_module", Static),          // --with-http_v2_module
    ("ngx_http_v3_module", Absent),          // --with-http_v3_module not given; 1.25.0+
    ("ngx_http_gzip_static_module", Static), // --with
    ("ngx_http_dav_module", Static),         // --with
    ("ngx_http_autoindex_module", Static),
    ("ngx_http_index_module", Static),
    ("ngx_http_random_index_module", Static), // --with
    ("ngx_http_mirror_module", Static),
    ("ngx_http_try_files_module", Static),
    ("ngx_http_auth_request_module", Static), // --with
    ("ngx_http_auth_basic_module", Static),
    ("ngx_http_access_module", Static),
    ("ngx_http_limit_conn_module", Static),
    ("ngx_http_limit_req_module", Static),
    ("ngx_http_realip_module", Static), // --with
    ("ngx_http_geo_module", Static),
    ("ngx_http_geoip_module", Dynamic("ngx_http_geoip_module.so")),
    ("ngx_http_map_module", Static),
    ("ngx_http_split_clients_module", Static),
    ("ngx_http_referer_module", Static),
    ("ngx_http_rewrite_module", Static),
    ("ngx_http_ssl_module", Static), // --with
    ("ngx_http_proxy_module", Static),
    ("ngx_http_fastcgi_module", Static),
    ("ngx_http_uwsgi_module", Static),
    ("ngx_http_scgi_module", Static),
    ("ngx_http_grpc_module", Static), // default, and HTTP_V2=YES as it requires
    ("ngx_http_perl_module", Dynamic("ngx_http_perl_module.so")),
    ("ngx_http_memcached_module", Static),
    ("ngx_http_empty_gif_module", Static),
    ("ngx_http_browser_module", Static),
    ("ngx_http_secure_link_module", Static), // --with
    ("ngx_http_degradation_module", Absent), // --with-http_degradation_module not given
    ("ngx_http_flv_module", Static),         // --with
    ("ngx_http_mp4_module", Static),         // --with
    ("ngx_http_upstream_hash_module", Static),
    ("ngx_http_upstream_ip_hash_module", Static),
    ("ngx_http_upstream_least_conn_module", Static),
    ("ngx_http_upstream_random_module", Static),
    ("ngx_http_upstream_keepalive_module", Static),
    ("ngx_http_upstream_zone_module", Static),
    ("ngx_http_stub_status_module", Static), // --with
    // HTTP_FILTER_MODULES and HTTP_INIT_FILTER_MODULES.
    ("ngx_http_gzip_filter_module", Static),
    ("ngx_http_ssi_filter_module", Static),
    ("ngx_http_charset_filter_module", Static),
    (
        "ngx_http_xslt_filter_module",
        Dynamic("ngx_http_xslt_filter_module.so"),
    ),
    (
        "ngx_http_image_filter_module",
        Dynamic("ngx_http_image_filter_module.so"),
    ),
    ("ngx_http_sub_filter_module", Static),      // --with
    ("ngx_http_addition_filter_module", Static), // --with
    ("ngx_http_gunzip_filter_module", Static),   // --with
    ("ngx_http_userid_filter_module", Static),
    ("ngx_http_headers_filter_module", Static),
    ("ngx_http_copy_filter_module", Static),
    ("ngx_http_slice_filter_module", Static), // --with
    // --with-mail=dynamic: every mail module, core or optional, is in one .so.
    ("ngx_mail_module", MAIL_SO),
    ("ngx_mail_core_module", MAIL_SO),
    ("ngx_mail_ssl_module", MAIL_SO), // --with-mail_ssl_module
    ("ngx_mail_pop3_module", MAIL_SO),
    ("ngx_mail_imap_module", MAIL_SO),
    ("ngx_mail_smtp_module", MAIL_SO),
    ("ngx_mail_auth_http_module", MAIL_SO),
    ("ngx_mail_proxy_module", MAIL_SO),
    ("ngx_mail_realip_module", MAIL_SO),
    // --with-stream=dynamic: likewise one .so for every linked stream module.
    ("ngx_stream_module", STREAM_SO),
    ("ngx_stream_core_module", STREAM_SO),
    ("ngx_stream_log_module", STREAM_SO),
    ("ngx_stream_proxy_module", STREAM_SO),
    ("ngx_stream_upstream_module", STREAM_SO),
    ("ngx_stream_ssl_module", STREAM_SO), // --with-stream_ssl_module
    ("ngx_stream_realip_module", STREAM_SO), // --with-stream_realip_module
    ("ngx_stream_limit_conn_module", STREAM_SO),
    ("ngx_stream_access_module", STREAM_SO),
    ("ngx_stream_geo_module", STREAM_SO),
    // STREAM_GEOIP=DYNAMIC is linked as its own dynamic module.
    (
        "ngx_stream_geoip_module",
        Dynamic("ngx_stream_geoip_module.so"),
    ),
    ("ngx_stream_map_module", STREAM_SO),
    ("ngx_stream_split_clients_module", STREAM_SO),
    ("ngx_stream_return_module", STREAM_SO),
    ("ngx_stream_pass_module", Absent), // added in nginx 1.25.5; not in 1.22.1
    ("ngx_stream_set_module", STREAM_SO),
    ("ngx_stream_upstream_hash_module", STREAM_SO),
    ("ngx_stream_upstream_least_conn_module", STREAM_SO),
    ("ngx_stream_upstream_random_module", STREAM_SO),
    ("ngx_stream_upstream_zone_module", STREAM_SO),
    ("ngx_stream_ssl_preread_module", STREAM_SO), // --with-stream_ssl_preread_module
    // src/misc: --with-google_perftools_module not given.
    ("ngx_google_perftools_module", Absent),
];

const HELP: &str = "\
usage: cargo xtask directives [--nginx-src <dir>] [--old <tag|dir>] [--new <tag|dir>]
                              [--out <file>] [--check]

Regenerates crates/conf/src/directives/table.rs from the ngx_command_t tables of
two nginx releases, an old 1.22.x and a new 1.28.x.

  --nginx-src <dir>  a bare git mirror of nginx [default: /work/.mirror/nginx+nginx/repo]
  --old <tag|dir>    the 1.22.x release: a tag of the mirror, or a plain source
                     checkout (recognised by src/core/nginx.h) [default: release-1.22.1]
  --new <tag|dir>    the 1.28.x release, likewise [default: release-1.28.3]
  --out <file>       where to write the table [default: <workspace>/crates/conf/src/directives/table.rs]
  --check            do not write; fail if the file differs from what would be generated";

/// Entry point of `cargo xtask directives`.
pub fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = Options::parse(args)? else {
        println!("{HELP}");
        return Ok(());
    };
    let old = Release::read(&Source::open(&options.nginx_src, &options.old)?)?;
    let new = Release::read(&Source::open(&options.nginx_src, &options.new)?)?;
    for (release, series) in [(&old, OLD_SERIES), (&new, NEW_SERIES)] {
        if !release.version.starts_with(series) {
            return Err(format!(
                "{} is nginx {}, not {series}x: the generated fields since_1_22 and \
                 in_1_28 (and the tests of crates/conf/src/directives) name the releases",
                release.label, release.version
            ));
        }
    }
    let table = Table::merge(old, new)?;
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
    old: String,
    new: String,
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
            old: OLD_TAG.to_owned(),
            new: NEW_TAG.to_owned(),
            out: workspace.join(OUTPUT),
            check: false,
        };

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
                "--old" => options.old = value()?,
                "--new" => options.new = value()?,
                "--out" => options.out = PathBuf::from(value()?),
                "--check" if inline.is_none() => options.check = true,
                _ => return Err(format!("unexpected argument {arg:?}\n\n{HELP}")),
            }
        }
        Ok(Some(options))
    }
}

// ---------------------------------------------------------------------------
// Reading nginx's source

/// Where nginx's files come from.
enum Source {
    /// A (bare) git repository and the tag to read.
    Git { repo: PathBuf, tag: String },
    /// A plain source tree.
    Dir(PathBuf),
}

impl Source {
    /// `release` is a source checkout directory, or else a tag of `mirror`.
    fn open(mirror: &Path, release: &str) -> Result<Source, String> {
        let dir = Path::new(release);
        if dir.join("src/core/nginx.h").is_file() {
            return Ok(Source::Dir(dir.to_owned()));
        }
        let commit = format!("{release}^{{commit}}");
        git(mirror, &["rev-parse", "--verify", "--quiet", &commit]).map_err(|err| {
            format!(
                "{release} is neither an nginx checkout (no src/core/nginx.h) nor a tag \
                 of the git repository {}: {err}",
                mirror.display(),
            )
        })?;
        Ok(Source::Git {
            repo: mirror.to_owned(),
            tag: release.to_owned(),
        })
    }

    /// The contents of `path` (relative to the source root). nginx's sources
    /// are ASCII; stray non-UTF-8 bytes (none today) would only be in comments.
    fn read(&self, path: &str) -> Result<String, String> {
        let bytes = match self {
            Source::Git { repo, tag } => git(repo, &["show", &format!("{tag}:{path}")])?,
            Source::Dir(root) => fs::read(root.join(path))
                .map_err(|err| format!("cannot read {}: {err}", root.join(path).display()))?,
        };
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Every C source file under [`SCAN_DIRS`], sorted.
    fn list_sources(&self) -> Result<Vec<String>, String> {
        let mut files = Vec::new();
        match self {
            Source::Git { repo, tag } => {
                let mut args = vec!["ls-tree", "-r", "--name-only", tag.as_str(), "--"];
                args.extend(SCAN_DIRS);
                let listing = git(repo, &args)?;
                for line in String::from_utf8_lossy(&listing).lines() {
                    if is_c_source(line) {
                        files.push(line.to_owned());
                    }
                }
            }
            Source::Dir(root) => {
                for dir in SCAN_DIRS {
                    walk(root, dir, &mut files)?;
                }
            }
        }
        files.sort();
        if files.is_empty() {
            return Err("found no C sources under src/".to_owned());
        }
        Ok(files)
    }

    /// The tag or directory, for messages.
    fn name(&self) -> String {
        match self {
            Source::Git { tag, .. } => tag.clone(),
            Source::Dir(root) => root.display().to_string(),
        }
    }

    /// How the header comment names the source.
    fn label(&self, version: &str) -> String {
        match self {
            Source::Git { tag, .. } => tag.clone(),
            Source::Dir(_) => format!("{version} (source tree)"),
        }
    }
}

fn is_c_source(path: &str) -> bool {
    path.ends_with(".c") || path.ends_with(".cpp")
}

/// Collects the C sources under `root/rel` into `out`, as `/`-separated paths
/// relative to `root`.
fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), String> {
    let dir = root.join(rel);
    let entries =
        fs::read_dir(&dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| format!("non-UTF-8 file name {name:?} in {}", dir.display()))?;
        let path = format!("{rel}/{name}");
        let kind = entry
            .file_type()
            .map_err(|err| format!("cannot stat {}: {err}", dir.join(&name).display()))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if is_c_source(&name) {
            out.push(path);
        }
    }
    Ok(())
}

/// Runs `git -C repo args...` and returns its standard output.
fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Process::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|err| format!("cannot run git: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`git -C {} {}` failed ({}){}{}",
            repo.display(),
            args.join(" "),
            output.status,
            if stderr.trim().is_empty() { "" } else { ": " },
            stderr.trim()
        ));
    }
    Ok(output.stdout)
}

// ---------------------------------------------------------------------------
// A C tokenizer, just enough for nginx's declarations

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(String),
    Str(String),
    CharLit,
    Punct(char),
    /// A preprocessor line, `#` to the end of the logical line, tokenized
    /// (without the `#`).
    Directive(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    line: usize,
    /// Nothing (no space, no comment) between this token and the previous one;
    /// tells `#define F(x)` (a function-like macro) from `#define F (x)`.
    glued: bool,
}

impl Token {
    fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(name) => Some(name),
            _ => None,
        }
    }

    fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    lex(&chars, 1, true)
}

/// Tokenizes `chars`; `directives` is false when lexing the inside of a
/// preprocessor line, where `#` is an operator.
fn lex(chars: &[char], first_line: usize, directives: bool) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = first_line;
    let mut line_start = true;
    let mut glued = false;

    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
            line_start = true;
            glued = false;
        } else if c == '\\' && next == Some('\n') {
            line += 1;
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
            glued = false;
        } else if c == '/' && next == Some('*') {
            let end = block_comment_end(chars, i)
                .ok_or_else(|| format!("line {line}: unterminated comment"))?;
            line += newlines(&chars[i..end]);
            i = end;
            glued = false;
        } else if c == '/' && next == Some('/') {
            i = line_end(chars, i);
            glued = false;
        } else if c == '#' && directives && line_start {
            let (body, end, spliced) = directive_text(chars, i + 1, line)?;
            let inner: Vec<char> = body.chars().collect();
            tokens.push(Token {
                tok: Tok::Directive(lex(&inner, line, false)?),
                line,
                glued: false,
            });
            line += spliced;
            i = end;
            glued = false;
        } else {
            line_start = false;
            let (tok, end) = if c.is_ascii_alphabetic() || c == '_' {
                let end = scan_while(chars, i, |c| c.is_ascii_alphanumeric() || c == '_');
                (Tok::Ident(chars[i..end].iter().collect()), end)
            } else if c.is_ascii_digit() {
                let end = scan_while(chars, i, |c| {
                    c.is_ascii_alphanumeric() || c == '_' || c == '.'
                });
                (Tok::Num(chars[i..end].iter().collect()), end)
            } else if c == '"' || c == '\'' {
                let end = literal_end(chars, i)
                    .ok_or_else(|| format!("line {line}: unterminated {c} literal"))?;
                let tok = if c == '"' {
                    Tok::Str(unescape(&chars[i + 1..end - 1]))
                } else {
                    Tok::CharLit
                };
                (tok, end)
            } else {
                (Tok::Punct(c), i + 1)
            };
            tokens.push(Token { tok, line, glued });
            line += newlines(&chars[i..end]);
            i = end;
            glued = true;
        }
    }
    Ok(tokens)
}

fn scan_while(chars: &[char], start: usize, keep: impl Fn(char) -> bool) -> usize {
    let mut end = start;
    while chars.get(end).is_some_and(|&c| keep(c)) {
        end += 1;
    }
    end
}

fn newlines(chars: &[char]) -> usize {
    chars.iter().filter(|&&c| c == '\n').count()
}

/// Index just past the `*/` closing the comment that opens at `start`.
fn block_comment_end(chars: &[char], start: usize) -> Option<usize> {
    (start + 2..chars.len().saturating_sub(1))
        .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
        .map(|j| j + 2)
}

/// Index of the newline ending the line that contains `start` (or the end).
fn line_end(chars: &[char], start: usize) -> usize {
    scan_while(chars, start, |c| c != '\n')
}

/// Index just past the string or character literal opening at `start`.
fn literal_end(chars: &[char], start: usize) -> Option<usize> {
    let quote = *chars.get(start)?;
    let mut j = start + 1;
    loop {
        match *chars.get(j)? {
            '\\' => j += 2,
            '\n' => return None,
            c if c == quote => return Some(j + 1),
            _ => j += 1,
        }
    }
}

fn unescape(chars: &[char]) -> String {
    let mut out = String::new();
    let mut iter = chars.iter();
    while let Some(&c) = iter.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match iter.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\n') | None => {}
            Some(&other) => out.push(other),
        }
    }
    out
}

/// The text of the preprocessor line whose body starts at `start`, with line
/// splices and comments removed; also the index of its terminating newline and
/// how many newlines it swallowed.
fn directive_text(
    chars: &[char],
    start: usize,
    line: usize,
) -> Result<(String, usize, usize), String> {
    let mut body = String::new();
    let mut spliced = 0;
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => break,
            '\\' if next == Some('\n') => {
                spliced += 1;
                i += 2;
            }
            '/' if next == Some('*') => {
                let end = block_comment_end(chars, i)
                    .ok_or_else(|| format!("line {line}: unterminated comment"))?;
                spliced += newlines(&chars[i..end]);
                body.push(' ');
                i = end;
            }
            '/' if next == Some('/') => i = line_end(chars, i),
            '"' | '\'' => {
                let end = literal_end(chars, i)
                    .ok_or_else(|| format!("line {line}: unterminated {c} literal"))?;
                body.extend(&chars[i..end]);
                i = end;
            }
            _ => {
                body.push(c);
                i += 1;
            }
        }
    }
    Ok((body, i, spliced))
}

/// Source-like text of a token run, for messages and guard names.
fn render_tokens(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (n, token) in tokens.iter().enumerate() {
        if n > 0 && !token.glued {
            out.push(' ');
        }
        match &token.tok {
            Tok::Ident(s) | Tok::Num(s) => out.push_str(s),
            Tok::Str(s) => out.push_str(&format!("{s:?}")),
            Tok::CharLit => out.push_str("'?'"),
            Tok::Punct(c) => out.push(*c),
            Tok::Directive(inner) => {
                out.push('#');
                out.push_str(&render_tokens(inner));
            }
        }
    }
    out
}

/// Splits a brace's contents at its top-level commas; a trailing comma adds
/// no empty part.
fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token.tok {
            Tok::Punct('(' | '{' | '[') => depth += 1,
            Tok::Punct(')' | '}' | ']') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        parts.push(&tokens[start..]);
    }
    parts
}

/// Index of the `}` matching the `{` at `open`.
fn matching_brace(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        if token.is_punct('{') {
            depth += 1;
        } else if token.is_punct('}') {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Macros: object-like #defines evaluated as ORs of integer constants

/// Object-like `#define`s by name; a name may be defined more than once (under
/// different `#if`s), which is fine as long as every definition agrees.
#[derive(Default)]
struct Macros {
    defs: HashMap<String, Vec<Vec<Token>>>,
}

impl Macros {
    fn add_definitions(&mut self, tokens: &[Token]) {
        for token in tokens {
            let Tok::Directive(directive) = &token.tok else {
                continue;
            };
            let [keyword, name, body @ ..] = directive.as_slice() else {
                continue;
            };
            let (Some("define"), Some(name)) = (keyword.ident(), name.ident()) else {
                continue;
            };
            if body.first().is_some_and(|t| t.glued && t.is_punct('(')) {
                continue; // function-like: never a flag
            }
            self.defs
                .entry(name.to_owned())
                .or_default()
                .push(body.to_vec());
        }
    }
}

/// The macros visible in one file: its own, then the flag headers'.
struct MacroScope<'a> {
    layers: [&'a Macros; 2],
}

impl MacroScope<'_> {
    /// Evaluates `A|B|(C|0x10)`: identifiers, integer literals, `|` and
    /// parentheses, nothing else.
    fn eval(&self, tokens: &[Token], depth: usize) -> Result<u64, String> {
        let shape_error = || format!("`{}` is not an OR of constants", render_tokens(tokens));
        let mut value = 0;
        let mut want_operand = true;
        let mut parens = 0usize;
        for token in tokens {
            match &token.tok {
                Tok::Punct('(') if want_operand => parens += 1,
                Tok::Punct(')') if !want_operand => {
                    parens = parens.checked_sub(1).ok_or_else(shape_error)?;
                }
                Tok::Punct('|') if !want_operand => want_operand = true,
                Tok::Ident(name) if want_operand => {
                    value |= self.eval_name(name, depth)?;
                    want_operand = false;
                }
                Tok::Num(text) if want_operand => {
                    value |=
                        parse_c_int(text).ok_or_else(|| format!("bad integer literal `{text}`"))?;
                    want_operand = false;
                }
                _ => return Err(shape_error()),
            }
        }
        if want_operand || parens != 0 {
            return Err(shape_error());
        }
        Ok(value)
    }

    fn eval_name(&self, name: &str, depth: usize) -> Result<u64, String> {
        if depth > 16 {
            return Err(format!("macro {name} nests too deeply (recursive?)"));
        }
        let bodies = self
            .layers
            .iter()
            .find_map(|macros| macros.defs.get(name))
            .ok_or_else(|| format!("unknown macro {name}"))?;
        let mut value = None;
        for body in bodies {
            let v = self
                .eval(body, depth + 1)
                .map_err(|err| format!("in the definition of {name}: {err}"))?;
            match value {
                Some(previous) if previous != v => {
                    return Err(format!(
                        "{name} has conflicting definitions ({previous:#x}, {v:#x})"
                    ));
                }
                _ => value = Some(v),
            }
        }
        value.ok_or_else(|| format!("{name} has an empty definition"))
    }
}

/// A C integer literal: decimal, hex or octal, with optional u/l suffixes.
fn parse_c_int(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse().ok()
    }
}

// ---------------------------------------------------------------------------
// Commands arrays and module definitions

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModuleType {
    Core,
    Conf,
    Event,
    Http,
    Stream,
    Mail,
}

impl ModuleType {
    fn from_c(name: &str) -> Option<ModuleType> {
        Some(match name {
            "NGX_CORE_MODULE" => ModuleType::Core,
            "NGX_CONF_MODULE" => ModuleType::Conf,
            "NGX_EVENT_MODULE" => ModuleType::Event,
            "NGX_HTTP_MODULE" => ModuleType::Http,
            "NGX_STREAM_MODULE" => ModuleType::Stream,
            "NGX_MAIL_MODULE" => ModuleType::Mail,
            _ => return None,
        })
    }

    fn rust_name(self) -> &'static str {
        match self {
            ModuleType::Core => "Core",
            ModuleType::Conf => "Conf",
            ModuleType::Event => "Event",
            ModuleType::Http => "Http",
            ModuleType::Stream => "Stream",
            ModuleType::Mail => "Mail",
        }
    }
}

/// One `ngx_command_t` entry.
#[derive(Debug, Clone)]
struct Command {
    name: String,
    /// `cmd->type`, evaluated.
    flags: u32,
    /// The type expression as written, `NGX_` prefixes dropped.
    expr: String,
    /// `cmd->set`: the handler function's name.
    handler: String,
    /// `cmd->conf` as written: `NGX_HTTP_LOC_CONF_OFFSET`, `0`, ...
    conf: String,
    /// `cmd->offset`: `type.member` for `offsetof(type, member)`, "" for `0`.
    field: String,
    /// What `cmd->post` is; None for NULL.
    post_ref: Option<PostRef>,
    /// What `post_ref` is, filled in by [`Release::read`].
    post: Post,
}

impl Command {
    /// Whether the two describe the same directive, as far as the table says.
    fn same_as(&self, other: &Command) -> bool {
        (
            self.flags,
            &self.handler,
            &self.conf,
            &self.field,
            &self.post,
        ) == (
            other.flags,
            &other.handler,
            &other.conf,
            &other.field,
            &other.post,
        )
    }
}

/// A command's `post` as written, when not NULL.
#[derive(Debug, Clone)]
enum PostRef {
    /// `name`, `&name` or `&name[0]`: the object it points at.
    Object(String),
    /// `(void *) N`: a constant telling the handler something.
    Marker,
}

/// The object a command's `post` points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Post {
    /// Its C type ("void *" for a `(void *) N` marker); "" for NULL.
    kind: String,
    /// For `ngx_conf_set_enum_slot`/`ngx_conf_set_bitmask_slot`: the names of
    /// the `ngx_conf_enum_t`/`ngx_conf_bitmask_t` array, in order.
    values: Vec<String>,
    /// For an `ngx_conf_num_bounds_t`: low and high (-1: no limit).
    bounds: Option<(i64, i64)>,
}

/// One `ngx_module_t` whose commands array is not NULL.
#[derive(Debug)]
struct Module {
    name: String,
    module_type: ModuleType,
    file: String,
    commands: Vec<Command>,
}

/// Finds the modules defined in `file` and their commands. `guards_seen`
/// collects the `#if` lines met inside commands arrays.
fn extract_modules(
    file: &str,
    tokens: &[Token],
    macros: &MacroScope,
    guards_seen: &mut BTreeSet<String>,
) -> Result<Vec<Module>, String> {
    let mut arrays: HashMap<String, Vec<Command>> = HashMap::new();
    let mut definitions = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let rest = &tokens[i..];
        if let Some(name) = commands_array_head(rest) {
            let (commands, next) = parse_commands(file, name, tokens, i + 6, macros, guards_seen)?;
            if arrays.insert(name.to_owned(), commands).is_some() {
                return Err(format!("{file}: commands array {name} is defined twice"));
            }
            i = next;
        } else if let Some(name) = module_head(rest) {
            let (commands, module_type, next) = parse_module(file, name, tokens, i + 3)?;
            definitions.push((name.to_owned(), commands, module_type));
            i = next;
        } else {
            i += 1;
        }
    }

    let mut modules = Vec::new();
    for (name, commands, module_type) in definitions {
        let Some(array) = commands else {
            continue;
        };
        let commands = arrays.remove(&array).ok_or_else(|| {
            format!("{file}: module {name} uses {array}, which is not defined here")
        })?;
        modules.push(Module {
            name,
            module_type,
            file: file.to_owned(),
            commands,
        });
    }
    if let Some(unused) = arrays.keys().min() {
        return Err(format!(
            "{file}: commands array {unused} is not used by any ngx_module_t here"
        ));
    }
    Ok(modules)
}

/// `ngx_command_t NAME [ ] = {` at the start of `tokens`.
fn commands_array_head(tokens: &[Token]) -> Option<&str> {
    match tokens {
        [ty, name, lb, rb, eq, brace, ..]
            if ty.ident() == Some("ngx_command_t")
                && lb.is_punct('[')
                && rb.is_punct(']')
                && eq.is_punct('=')
                && brace.is_punct('{') =>
        {
            name.ident()
        }
        _ => None,
    }
}

/// `ngx_module_t NAME = {` at the start of `tokens`.
fn module_head(tokens: &[Token]) -> Option<&str> {
    match tokens {
        [ty, name, eq, brace, ..]
            if ty.ident() == Some("ngx_module_t") && eq.is_punct('=') && brace.is_punct('{') =>
        {
            name.ident()
        }
        _ => None,
    }
}

/// Parses the body of commands array `array`, starting just after its `{`;
/// returns the entries and the index after the closing `};`.
fn parse_commands(
    file: &str,
    array: &str,
    tokens: &[Token],
    start: usize,
    macros: &MacroScope,
    guards_seen: &mut BTreeSet<String>,
) -> Result<(Vec<Command>, usize), String> {
    // One flag per open #if: are its entries included?
    let mut open_guards: Vec<bool> = Vec::new();
    let mut commands = Vec::new();
    let mut i = start;
    loop {
        let token = tokens
            .get(i)
            .ok_or_else(|| format!("{file}: {array} does not end with ngx_null_command"))?;
        let at = format!("{file}:{}: {array}", token.line);
        match &token.tok {
            Tok::Directive(directive) => {
                let text = render_tokens(directive);
                match directive.first().and_then(Token::ident) {
                    Some("if" | "ifdef" | "ifndef") => {
                        open_guards.push(guard_decision(&text, &at)?);
                        guards_seen.insert(text);
                    }
                    Some("endif") => {
                        open_guards
                            .pop()
                            .ok_or_else(|| format!("{at}: #endif without #if"))?;
                    }
                    _ => {
                        return Err(format!(
                            "{at}: `#{text}` inside a commands array; only \
                             #if/#ifdef/#ifndef ... #endif around whole entries is handled"
                        ));
                    }
                }
                i += 1;
            }
            Tok::Punct('{') => {
                let close =
                    matching_brace(tokens, i).ok_or_else(|| format!("{at}: unbalanced braces"))?;
                if open_guards.iter().all(|&include| include) {
                    let command = parse_command(&tokens[i + 1..close], macros)
                        .map_err(|err| format!("{at}: {err}"))?;
                    commands.push(command);
                }
                i = close + 1;
                if tokens.get(i).is_some_and(|t| t.is_punct(',')) {
                    i += 1;
                }
            }
            Tok::Ident(name) if name == "ngx_null_command" => {
                if !open_guards.is_empty() {
                    return Err(format!("{at}: ngx_null_command inside an #if"));
                }
                return match (tokens.get(i + 1), tokens.get(i + 2)) {
                    (Some(close), Some(semi)) if close.is_punct('}') && semi.is_punct(';') => {
                        Ok((commands, i + 3))
                    }
                    _ => Err(format!("{at}: expected `}};` after ngx_null_command")),
                };
            }
            _ => {
                return Err(format!(
                    "{at}: unexpected `{}` between entries",
                    render_tokens(std::slice::from_ref(token))
                ));
            }
        }
    }
}

/// Whether entries under `#text` (an `#if` line) are included, from [`GUARDS`].
fn guard_decision(text: &str, at: &str) -> Result<bool, String> {
    GUARDS
        .iter()
        .find(|(guard, _)| *guard == text)
        .map(|&(_, include)| include)
        .ok_or_else(|| {
            format!(
                "{at}: no decision for entries under `#{text}`; \
                 add it to GUARDS in xtask/src/directives.rs"
            )
        })
}

/// Parses `ngx_string("name"), TYPE, set, conf, offset, post`.
fn parse_command(fields: &[Token], macros: &MacroScope) -> Result<Command, String> {
    if fields.iter().any(|t| matches!(t.tok, Tok::Directive(_))) {
        return Err("preprocessor line inside an entry".to_owned());
    }
    let parts = split_top_level(fields);
    let [name, ty, set, conf, offset, post] = parts.as_slice() else {
        return Err(format!(
            "expected 6 fields in `{{ {} }}`",
            render_tokens(fields)
        ));
    };
    let name = match name {
        [func, open, lit, close]
            if func.ident() == Some("ngx_string") && open.is_punct('(') && close.is_punct(')') =>
        {
            match &lit.tok {
                Tok::Str(name) => name.clone(),
                _ => return Err(format!("bad name `{}`", render_tokens(name))),
            }
        }
        _ => return Err(format!("bad name `{}`", render_tokens(name))),
    };
    let value = macros
        .eval(ty, 0)
        .map_err(|err| format!("type of {name:?}: {err}"))?;
    let flags = u32::try_from(value)
        .map_err(|_| format!("type of {name:?} ({value:#x}) does not fit in 32 bits"))?;
    let expr = ty
        .iter()
        .map(|t| match &t.tok {
            Tok::Ident(s) => s.strip_prefix("NGX_").unwrap_or(s).to_owned(),
            _ => render_tokens(std::slice::from_ref(t)),
        })
        .collect();
    let handler = match set {
        [token] => token.ident().map(str::to_owned),
        _ => None,
    }
    .ok_or_else(|| format!("set of {name:?}: `{}` is not a name", render_tokens(set)))?;
    let conf = match conf {
        [token] if matches!(token.tok, Tok::Ident(_) | Tok::Num(_)) => render_tokens(conf),
        _ => {
            return Err(format!(
                "conf of {name:?}: `{}` is not a macro or a number",
                render_tokens(conf)
            ));
        }
    };
    let field = parse_offset(offset).ok_or_else(|| {
        format!(
            "offset of {name:?}: `{}` is neither 0 nor offsetof(type, member)",
            render_tokens(offset)
        )
    })?;
    // `name`, `&name`, or `&name[0]` (an array's first element, e.g. the
    // default MIME types that ngx_http_types_slot takes as post).
    let object = match post {
        [object] => object.ident(),
        [amp, object] if amp.is_punct('&') => object.ident(),
        [amp, object, open, zero, close]
            if amp.is_punct('&')
                && open.is_punct('[')
                && zero.tok == Tok::Num("0".to_owned())
                && close.is_punct(']') =>
        {
            object.ident()
        }
        _ => None,
    };
    let post_ref = match (object, post) {
        (Some("NULL"), _) => None,
        (Some(object), _) => Some(PostRef::Object(object.to_owned())),
        // `(void *) 1`: a marker, not an object (xslt_string_param has it,
        // telling it from xslt_param, which shares its handler).
        (
            None,
            [
                open,
                void,
                star,
                close,
                Token {
                    tok: Tok::Num(_), ..
                },
            ],
        ) if open.is_punct('(')
            && void.ident() == Some("void")
            && star.is_punct('*')
            && close.is_punct(')') =>
        {
            Some(PostRef::Marker)
        }
        (None, _) => {
            return Err(format!(
                "post of {name:?}: `{}` is neither NULL nor &name, name or &name[0]",
                render_tokens(post)
            ));
        }
    };
    Ok(Command {
        name,
        flags,
        expr,
        handler,
        conf,
        field,
        post_ref,
        post: Post::default(),
    })
}

/// `0` as "", `offsetof(type, a.b)` as "type.a.b", spaces dropped so that
/// two commands writing the same member give equal strings.
fn parse_offset(tokens: &[Token]) -> Option<String> {
    let compact = |tokens: &[Token]| -> Option<String> {
        let simple = tokens
            .iter()
            .all(|t| matches!(t.tok, Tok::Ident(_) | Tok::Num(_) | Tok::Punct(_)));
        (simple && !tokens.is_empty()).then(|| render_tokens(tokens).replace(' ', ""))
    };
    match tokens {
        [zero] if zero.tok == Tok::Num("0".to_owned()) => Some(String::new()),
        [func, open, inner @ .., close]
            if func.ident() == Some("offsetof") && open.is_punct('(') && close.is_punct(')') =>
        {
            match split_top_level(inner).as_slice() {
                [ty, member] => Some(format!("{}.{}", compact(ty)?, compact(member)?)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Parses an `ngx_module_t` initializer whose `{` is at `brace`; returns the
/// commands array (None for NULL), the module type and the index after `}`.
fn parse_module(
    file: &str,
    module: &str,
    tokens: &[Token],
    brace: usize,
) -> Result<(Option<String>, ModuleType, usize), String> {
    let line = tokens.get(brace).map_or(0, |t| t.line);
    let at = format!("{file}:{line}: {module}");
    let close = matching_brace(tokens, brace).ok_or_else(|| format!("{at}: unbalanced braces"))?;
    let fields = split_top_level(&tokens[brace + 1..close]);
    let single_ident = |n: usize| match fields.get(n) {
        Some([token]) => token.ident(),
        _ => None,
    };
    if single_ident(0) != Some("NGX_MODULE_V1") {
        return Err(format!(
            "{at}: initializer does not start with NGX_MODULE_V1"
        ));
    }
    let commands = match single_ident(2) {
        Some("NULL") => None,
        Some(array) => Some(array.to_owned()),
        None => return Err(format!("{at}: third field is not a commands array name")),
    };
    let module_type = single_ident(3)
        .and_then(ModuleType::from_c)
        .ok_or_else(|| format!("{at}: fourth field is not a known NGX_*_MODULE type"))?;
    Ok((commands, module_type, close + 1))
}

// ---------------------------------------------------------------------------
// Post objects: what a command's `post` points at

/// A definition `TYPE NAME = ...;` or `TYPE NAME[] = { ... };`.
#[derive(Debug, Clone)]
struct Definition {
    file: String,
    line: usize,
    ty: String,
    /// The initializer: the tokens inside its braces, or those before the `;`.
    init: Vec<Token>,
}

/// Adds the definitions of `file` to `out`, by name. Only the shape is
/// checked (`type name =` or `type name[N] =`, the type's name ending in `_t`
/// or `_pt`), so a few locals may be collected too; only the names a `post`
/// refers to are ever looked up.
fn extract_definitions(file: &str, tokens: &[Token], out: &mut HashMap<String, Vec<Definition>>) {
    for (i, token) in tokens.iter().enumerate() {
        let Some(ty) = token.ident() else {
            continue;
        };
        if !(ty.ends_with("_t") || ty.ends_with("_pt")) {
            continue;
        }
        let Some(name) = tokens.get(i + 1).and_then(Token::ident) else {
            continue;
        };
        let mut j = i + 2;
        if tokens.get(j).is_some_and(|t| t.is_punct('[')) {
            j += 1;
            if tokens
                .get(j)
                .is_some_and(|t| matches!(t.tok, Tok::Num(_) | Tok::Ident(_)))
            {
                j += 1;
            }
            if !tokens.get(j).is_some_and(|t| t.is_punct(']')) {
                continue;
            }
            j += 1;
        }
        if !tokens.get(j).is_some_and(|t| t.is_punct('=')) {
            continue;
        }
        let init = if tokens.get(j + 1).is_some_and(|t| t.is_punct('{')) {
            let Some(close) = matching_brace(tokens, j + 1) else {
                continue;
            };
            &tokens[j + 2..close]
        } else {
            let rest = &tokens[j + 1..];
            &rest[..rest
                .iter()
                .position(|t| t.is_punct(';'))
                .unwrap_or(rest.len())]
        };
        out.entry(name.to_owned()).or_default().push(Definition {
            file: file.to_owned(),
            line: token.line,
            ty: ty.to_owned(),
            init: init.to_vec(),
        });
    }
}

/// Fills in `command.post` from the definition its `post_ref` names: the one
/// in `file` (the module's own), else the only one among the release's files.
fn resolve_post(
    command: &mut Command,
    file: &str,
    definitions: &HashMap<String, Vec<Definition>>,
    guards_seen: &mut BTreeSet<String>,
) -> Result<(), String> {
    let named_kind = match command.handler.as_str() {
        "ngx_conf_set_enum_slot" => Some("ngx_conf_enum_t"),
        "ngx_conf_set_bitmask_slot" => Some("ngx_conf_bitmask_t"),
        _ => None,
    };
    let object = match (&command.post_ref, named_kind) {
        (Some(PostRef::Object(object)), _) => object,
        (_, Some(kind)) => {
            return Err(format!(
                "{file}: {:?} uses {} with no {kind} as post",
                command.name, command.handler
            ));
        }
        (Some(PostRef::Marker), None) => {
            command.post = Post {
                kind: "void *".to_owned(),
                ..Post::default()
            };
            return Ok(());
        }
        (None, None) => {
            command.post = Post::default();
            return Ok(());
        }
    };
    let candidates = definitions.get(object).map_or(&[][..], Vec::as_slice);
    let local: Vec<&Definition> = candidates.iter().filter(|d| d.file == file).collect();
    let found = if local.is_empty() {
        candidates.iter().collect()
    } else {
        local
    };
    let definition = match found.as_slice() {
        [] => {
            return Err(format!(
                "{file}: post of {:?}: found no definition of {object}",
                command.name
            ));
        }
        [first, rest @ ..]
            if rest.iter().all(|other| {
                other.ty == first.ty && render_tokens(&other.init) == render_tokens(&first.init)
            }) =>
        {
            *first
        }
        _ => {
            return Err(format!(
                "{file}: post of {:?}: {object} has {} differing definitions",
                command.name,
                found.len()
            ));
        }
    };
    let at = format!("{}:{}: {object}", definition.file, definition.line);
    let mut post = Post {
        kind: definition.ty.clone(),
        ..Post::default()
    };
    match named_kind {
        Some(kind) if kind == definition.ty => {
            post.values = named_values(&definition.init, &at, guards_seen)?;
        }
        Some(kind) => {
            return Err(format!(
                "{at}: {} of {:?} needs an {kind}, not an {}",
                command.handler, command.name, definition.ty
            ));
        }
        None if definition.ty == "ngx_conf_num_bounds_t" => {
            post.bounds = Some(num_bounds(&definition.init).ok_or_else(|| {
                format!(
                    "{at}: `{}` is not `ngx_conf_check_num_bounds, low, high`",
                    render_tokens(&definition.init)
                )
            })?);
        }
        None => {}
    }
    command.post = post;
    Ok(())
}

/// The names of an `ngx_conf_enum_t`/`ngx_conf_bitmask_t` array initializer,
/// `{ ngx_string("name"), value }, ... { ngx_null_string, 0 }`, in order.
fn named_values(
    init: &[Token],
    at: &str,
    guards_seen: &mut BTreeSet<String>,
) -> Result<Vec<String>, String> {
    let mut open_guards: Vec<bool> = Vec::new();
    let mut values = Vec::new();
    let mut terminated = false;
    let mut i = 0;
    while let Some(token) = init.get(i) {
        match &token.tok {
            Tok::Directive(directive) => {
                let text = render_tokens(directive);
                match directive.first().and_then(Token::ident) {
                    Some("if" | "ifdef" | "ifndef") => {
                        open_guards.push(guard_decision(&text, at)?);
                        guards_seen.insert(text);
                    }
                    Some("endif") => {
                        open_guards
                            .pop()
                            .ok_or_else(|| format!("{at}: #endif without #if"))?;
                    }
                    _ => return Err(format!("{at}: `#{text}` inside the array")),
                }
                i += 1;
            }
            Tok::Punct('{') if !terminated => {
                let close =
                    matching_brace(init, i).ok_or_else(|| format!("{at}: unbalanced braces"))?;
                let entry = &init[i + 1..close];
                match split_top_level(entry).first().copied() {
                    Some([null]) if null.ident() == Some("ngx_null_string") => {
                        if !open_guards.is_empty() {
                            return Err(format!("{at}: ngx_null_string inside an #if"));
                        }
                        terminated = true;
                    }
                    Some(
                        [
                            func,
                            open,
                            Token {
                                tok: Tok::Str(value),
                                ..
                            },
                            close_paren,
                        ],
                    ) if func.ident() == Some("ngx_string")
                        && open.is_punct('(')
                        && close_paren.is_punct(')') =>
                    {
                        if open_guards.iter().all(|&include| include) {
                            values.push(value.clone());
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{at}: unexpected entry `{{ {} }}`",
                            render_tokens(entry)
                        ));
                    }
                }
                i = close + 1;
                if init.get(i).is_some_and(|t| t.is_punct(',')) {
                    i += 1;
                }
            }
            _ => {
                return Err(format!(
                    "{at}: unexpected `{}`",
                    render_tokens(std::slice::from_ref(token))
                ));
            }
        }
    }
    if !terminated {
        return Err(format!("{at}: does not end with {{ ngx_null_string, 0 }}"));
    }
    Ok(values)
}

/// `ngx_conf_check_num_bounds, low, high`: an `ngx_conf_num_bounds_t`.
fn num_bounds(init: &[Token]) -> Option<(i64, i64)> {
    let number = |tokens: &[Token]| -> Option<i64> {
        match tokens {
            [
                Token {
                    tok: Tok::Num(n), ..
                },
            ] => i64::try_from(parse_c_int(n)?).ok(),
            [
                minus,
                Token {
                    tok: Tok::Num(n), ..
                },
            ] if minus.is_punct('-') => i64::try_from(parse_c_int(n)?).ok().map(|v| -v),
            _ => None,
        }
    };
    match split_top_level(init).as_slice() {
        [[check], low, high] if check.ident() == Some("ngx_conf_check_num_bounds") => {
            Some((number(low)?, number(high)?))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Module order

/// The order of `ngx_modules[]`, derived from nginx's configure scripts.
///
/// auto/sources seeds CORE_MODULES and EVENT_MODULES, the OS scripts append
/// their event modules, and auto/modules sets `ngx_module_type` and
/// `ngx_module_name` before each `. auto/module`, which appends the names to
/// `${ngx_module_type}_MODULES`; at the end it concatenates CORE, EVENT, the
/// thread pool, HTTP, HTTP_FILTER, HTTP_AUX_FILTER, HTTP_INIT_FILTER, MAIL,
/// STREAM and MISC into `modules`, the order of `ngx_modules[]`.
///
/// We replay exactly those assignments and ignore every `if`, i.e. we compute
/// the order of a build in which every module is enabled and statically
/// linked. For the modules a real build has, the relative order is the same.
/// Approximations: (1) dynamic modules are really appended to ngx_modules[]
/// when `load_module` loads them (filters are placed by their `_ORDER` list),
/// so in Debian's build mail and stream come after everything static; this
/// only matters for a directive name declared by two modules of the same
/// module type, which are always in the same .so here. (2) The OS event
/// modules of different platforms are interleaved (Linux's epoll first).
fn module_order(source: &Source) -> Result<Vec<String>, String> {
    let mut vars: HashMap<String, Vec<String>> = HashMap::new();
    for script in ORDER_SCRIPTS {
        let text = source.read(script)?;
        for statement in shell_statements(&text) {
            interpret(&statement, &mut vars).map_err(|err| format!("{script}: {err}"))?;
        }
    }
    let all = vars
        .get("modules")
        .ok_or("auto/modules never assigned `modules`")?;
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    for module in all {
        if seen.insert(module.as_str()) {
            order.push(module.clone());
        }
    }
    Ok(order)
}

/// Splits a shell script into simple statements: comments dropped, line
/// continuations joined, newlines inside quotes turned into spaces, and `;`
/// or a newline outside quotes ending a statement.
fn shell_statements(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut in_double = false;
    let mut in_single = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !in_single => match chars.next() {
                Some('\n') => {}
                Some(escaped) => {
                    current.push('\\');
                    current.push(escaped);
                }
                None => current.push('\\'),
            },
            '"' if !in_single => {
                in_double = !in_double;
                current.push(c);
            }
            '\'' if !in_double => {
                in_single = !in_single;
                current.push(c);
            }
            '#' if !in_double
                && !in_single
                && (current.is_empty() || current.ends_with(char::is_whitespace)) =>
            {
                while chars.next_if(|&c| c != '\n').is_some() {}
            }
            '\n' | ';' if !in_double && !in_single => {
                statements.push(std::mem::take(&mut current));
            }
            '\n' => current.push(' '),
            _ => current.push(c),
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Replays one statement: `. auto/module` or a `NAME=value` assignment.
fn interpret(statement: &str, vars: &mut HashMap<String, Vec<String>>) -> Result<(), String> {
    let mut words = statement;
    while let Some(("then" | "else" | "do", rest)) = words.split_once(char::is_whitespace) {
        words = rest.trim_start();
    }
    if words == ". auto/module" {
        let module_type = vars
            .get("ngx_module_type")
            .and_then(|v| v.first())
            .cloned()
            .ok_or("`. auto/module` before any ngx_module_type")?;
        let names = vars.get("ngx_module_name").cloned().unwrap_or_default();
        vars.entry(format!("{module_type}_MODULES"))
            .or_default()
            .extend(names);
    } else if let Some((name, value)) = shell_assignment(words) {
        let expanded = expand(value, vars);
        vars.insert(name.to_owned(), expanded);
    }
    Ok(())
}

/// `NAME=value` or `NAME="value"` at the start of a statement.
fn shell_assignment(statement: &str) -> Option<(&str, &str)> {
    let (name, rest) = statement.split_once('=')?;
    let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid {
        return None;
    }
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    Some((name, value))
}

/// Splits `value` into words, replacing `$VAR`/`${VAR}` by VAR's words.
fn expand(value: &str, vars: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut words = Vec::new();
    for word in value.split_whitespace() {
        let reference = word
            .strip_prefix("${")
            .and_then(|w| w.strip_suffix('}'))
            .or_else(|| word.strip_prefix('$'));
        match reference {
            Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                words.extend(vars.get(name).into_iter().flatten().cloned());
            }
            _ => words.push(word.to_owned()),
        }
    }
    words
}

// ---------------------------------------------------------------------------
// The table

struct Release {
    /// How the header comment names the source: its tag.
    label: String,
    version: String,
    guards: BTreeSet<String>,
    /// In ngx_modules[] order; each has at least one directive.
    modules: Vec<Module>,
}

impl Release {
    fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    fn read(source: &Source) -> Result<Release, String> {
        Release::read_inner(source).map_err(|err| format!("{}: {err}", source.name()))
    }

    fn read_inner(source: &Source) -> Result<Release, String> {
        let version = nginx_version(&source.read("src/core/nginx.h")?)?;

        let mut header_macros = Macros::default();
        for header in FLAG_HEADERS {
            let tokens =
                tokenize(&source.read(header)?).map_err(|err| format!("{header}: {err}"))?;
            header_macros.add_definitions(&tokens);
        }

        let mut guards = BTreeSet::new();
        let mut modules = Vec::new();
        let mut definitions = HashMap::new();
        for path in source.list_sources()? {
            let tokens = tokenize(&source.read(&path)?).map_err(|err| format!("{path}: {err}"))?;
            let mut local = Macros::default();
            local.add_definitions(&tokens);
            let scope = MacroScope {
                layers: [&local, &header_macros],
            };
            modules.extend(extract_modules(&path, &tokens, &scope, &mut guards)?);
            extract_definitions(&path, &tokens, &mut definitions);
        }
        modules.retain(|m| !m.commands.is_empty());
        for module in &mut modules {
            let mut names = HashSet::new();
            for command in &mut module.commands {
                if !names.insert(command.name.clone()) {
                    return Err(format!(
                        "{}: {} declares {:?} twice",
                        module.file, module.name, command.name
                    ));
                }
                resolve_post(command, &module.file, &definitions, &mut guards)?;
            }
        }

        let order = module_order(source)?;
        let position: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(n, name)| (name.as_str(), n))
            .collect();
        let mut placed = Vec::new();
        let mut names = HashSet::new();
        for module in modules {
            if !names.insert(module.name.clone()) {
                return Err(format!("module {} is defined twice", module.name));
            }
            let at = *position.get(module.name.as_str()).ok_or_else(|| {
                format!(
                    "{}: module {} is not in any module list of {}; teach module_order",
                    module.file,
                    module.name,
                    ORDER_SCRIPTS.join(", ")
                )
            })?;
            placed.push((at, module));
        }
        placed.sort_by_key(|(at, _)| *at);

        Ok(Release {
            label: source.label(&version),
            version,
            guards,
            modules: placed.into_iter().map(|(_, m)| m).collect(),
        })
    }
}

/// `new`'s names in order, with the names only in `old` inserted after their
/// predecessor in `old` (at the start if they have none).
fn merge_order<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<&'a str> {
    let mut merged = new.to_vec();
    let mut previous: Option<&str> = None;
    for &name in old {
        if !merged.contains(&name) {
            let at = previous
                .and_then(|p| merged.iter().position(|&m| m == p))
                .map_or(0, |p| p + 1);
            merged.insert(at, name);
        }
        previous = Some(name);
    }
    merged
}

/// One row of DIRECTIVES.
struct Entry {
    command: Command,
    /// The old release has this entry (`since_1_22`).
    old: bool,
    /// The new release has this entry (`in_1_28`).
    new: bool,
}

/// One row of MODULES and its directives.
struct TableModule {
    name: String,
    module_type: ModuleType,
    file: String,
    build: Build,
    entries: Vec<Entry>,
}

/// How the two releases' directives compare.
#[derive(Default)]
struct Counts {
    /// (module, name) pairs only in the old release.
    old_only: usize,
    /// Only in the new release.
    new_only: usize,
    /// In both, with different flags: two entries each.
    split_flags: usize,
    /// In both, same flags, other fields different: two entries each.
    split_other: usize,
}

/// The two releases merged: what table.rs holds.
struct Table {
    old_label: String,
    old_version: String,
    new_label: String,
    new_version: String,
    guards: BTreeSet<String>,
    modules: Vec<TableModule>,
    counts: Counts,
}

impl Table {
    /// The union of the two releases. Modules, and each module's commands, are
    /// in the new release's order, with those only in the old release
    /// inserted after their predecessor there. A command present in both with
    /// the same flags, handler, conf, field and post is one entry marked for
    /// both; one that differs in any of them gets an entry per release, the
    /// old release's first. A command is matched by module and name, so one
    /// that moved to another module would get an entry in each.
    fn merge(old: Release, new: Release) -> Result<Table, String> {
        let module_names = |release: &Release| -> Vec<String> {
            release.modules.iter().map(|m| m.name.clone()).collect()
        };
        let (old_names, new_names) = (module_names(&old), module_names(&new));
        let order = merge_order(
            &old_names.iter().map(String::as_str).collect::<Vec<_>>(),
            &new_names.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let mut counts = Counts::default();
        let mut modules = Vec::new();
        for name in order {
            let (old_module, new_module) = (old.module(name), new.module(name));
            let Some(base) = new_module.or(old_module) else {
                return Err(format!("module {name} vanished while merging"));
            };
            if let (Some(o), Some(n)) = (old_module, new_module)
                && o.module_type != n.module_type
            {
                return Err(format!(
                    "{name} is an {:?} module in {} but an {:?} module in {}",
                    o.module_type, old.label, n.module_type, new.label
                ));
            }
            let build = BUILD
                .iter()
                .find(|(module, _)| *module == name)
                .map(|&(_, build)| build)
                .ok_or_else(|| {
                    format!(
                        "{}: no build decision for {name}; add it to BUILD in \
                         xtask/src/directives.rs",
                        base.file
                    )
                })?;

            let commands = |module: Option<&Module>| -> Vec<Command> {
                module.map_or_else(Vec::new, |m| m.commands.clone())
            };
            let (old_commands, new_commands) = (commands(old_module), commands(new_module));
            let command_names = |commands: &[Command]| -> Vec<String> {
                commands.iter().map(|c| c.name.clone()).collect()
            };
            let (old_command_names, new_command_names) =
                (command_names(&old_commands), command_names(&new_commands));
            let mut entries = Vec::new();
            for command in merge_order(
                &old_command_names
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                &new_command_names
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ) {
                let in_old = old_commands.iter().find(|c| c.name == command);
                let in_new = new_commands.iter().find(|c| c.name == command);
                let entry = |command: &Command, old: bool, new: bool| Entry {
                    command: command.clone(),
                    old,
                    new,
                };
                match (in_old, in_new) {
                    (Some(o), Some(n)) if o.same_as(n) => entries.push(entry(n, true, true)),
                    (Some(o), Some(n)) => {
                        if o.flags == n.flags {
                            counts.split_other += 1;
                        } else {
                            counts.split_flags += 1;
                        }
                        entries.push(entry(o, true, false));
                        entries.push(entry(n, false, true));
                    }
                    (Some(o), None) => {
                        counts.old_only += 1;
                        entries.push(entry(o, true, false));
                    }
                    (None, Some(n)) => {
                        counts.new_only += 1;
                        entries.push(entry(n, false, true));
                    }
                    (None, None) => {
                        return Err(format!("{name}: {command:?} vanished while merging"));
                    }
                }
            }
            modules.push(TableModule {
                name: name.to_owned(),
                module_type: base.module_type,
                file: base.file.clone(),
                build,
                entries,
            });
        }

        for (name, _) in BUILD {
            if !modules.iter().any(|m| m.name == *name) {
                eprintln!(
                    "warning: BUILD has a decision for {name}, which declares no directives \
                     in either release"
                );
            }
        }
        let guards: BTreeSet<String> = old.guards.union(&new.guards).cloned().collect();
        for (guard, _) in GUARDS {
            if !guards.contains(*guard) {
                eprintln!(
                    "warning: GUARDS has a decision for `#{guard}`, which neither release uses"
                );
            }
        }
        if modules.len() > usize::from(u16::MAX) {
            return Err("more modules than a u16 index can address".to_owned());
        }

        Ok(Table {
            old_label: old.label,
            old_version: old.version,
            new_label: new.label,
            new_version: new.version,
            guards,
            modules,
            counts,
        })
    }

    fn summary(&self) -> String {
        let entries: usize = self.modules.iter().map(|m| m.entries.len()).sum();
        let c = &self.counts;
        format!(
            "{} modules, {entries} entries: {} only in {}, {} only in {}, {} in both with \
             different flags and {} with other differences (two entries each)",
            self.modules.len(),
            c.old_only,
            self.old_version,
            c.new_only,
            self.new_version,
            c.split_flags,
            c.split_other,
        )
    }

    fn render(&self) -> String {
        let mut lines = vec![
            format!(
                "// generated by `cargo xtask directives` from nginx {} and {}; do not edit",
                self.old_label, self.new_label
            ),
            "//".to_owned(),
        ];
        let guards: Vec<String> = self.guards.iter().map(|g| format!("#{g}")).collect();
        let about = format!(
            "MODULES: every module with an ngx_command_t table in either release, in the \
             ngx_modules[] order auto/modules gives a static build; `build` is the module's \
             status in Debian 12's nginx 1.22.1 package (see BUILD in \
             xtask/src/directives.rs). DIRECTIVES: each module's commands in {new}'s source \
             order, {old}-only ones after their predecessor there; `flags` is cmd->type \
             and the trailing comment the expression it was evaluated from; `handler`, \
             `conf` and `field` are cmd->set, cmd->conf and cmd->offset (offsetof(type, \
             member) as type.member); `post_kind` is the C type of what cmd->post points \
             at, `post` the value names of an enum/bitmask slot's array and `bounds` the \
             limits of an ngx_conf_num_bounds_t. `since_1_22`/`in_1_28`: the entry is \
             {old}'s/{new}'s; a directive whose entry differs between the two has one \
             entry per release. Entries under {} are included.",
            if guards.is_empty() {
                "any #if".to_owned()
            } else {
                guards.join(", ")
            },
            old = self.old_version,
            new = self.new_version,
        );
        lines.extend(wrap_comment(&about, 80));
        lines.extend([
            String::new(),
            "use super::{Build, DirectiveSpec, ModuleSpec, ModuleType};".to_owned(),
            String::new(),
            format!("pub const NGINX_VERSION: &str = {:?};", self.new_version),
            format!(
                "pub const NGINX_VERSIONS: &[&str] = &[{:?}, {:?}];",
                self.old_version, self.new_version
            ),
            String::new(),
            "#[rustfmt::skip]".to_owned(),
            "pub static MODULES: &[ModuleSpec] = &[".to_owned(),
        ]);
        for (index, module) in self.modules.iter().enumerate() {
            let build = match module.build {
                Static => "Build::Static".to_owned(),
                Dynamic(file) => format!("Build::Dynamic({file:?})"),
                Absent => "Build::Absent".to_owned(),
            };
            lines.push(format!(
                "    ModuleSpec {{ name: {:?}, module_type: ModuleType::{}, build: {build} }}, // {index}",
                module.name,
                module.module_type.rust_name(),
            ));
        }
        lines.extend([
            "];".to_owned(),
            String::new(),
            "#[rustfmt::skip]".to_owned(),
            "pub static DIRECTIVES: &[DirectiveSpec] = &[".to_owned(),
        ]);
        for (index, module) in self.modules.iter().enumerate() {
            if index > 0 {
                lines.push(String::new());
            }
            lines.push(format!("    // {index}: {} ({})", module.name, module.file));
            for Entry { command, old, new } in &module.entries {
                let post: Vec<String> = command
                    .post
                    .values
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect();
                let bounds = match command.post.bounds {
                    Some((low, high)) => format!("Some(({low}, {high}))"),
                    None => "None".to_owned(),
                };
                lines.push(format!(
                    "    DirectiveSpec {{ name: {:?}, module: {index}, flags: 0x{:04X}_{:04X}, \
                     handler: {:?}, conf: {:?}, field: {:?}, post_kind: {:?}, post: &[{}], \
                     bounds: {bounds}, since_1_22: {old}, in_1_28: {new} }}, // {}",
                    command.name,
                    command.flags >> 16,
                    command.flags & 0xFFFF,
                    command.handler,
                    command.conf,
                    command.field,
                    command.post.kind,
                    post.join(", "),
                    command.expr,
                ));
            }
        }
        lines.push("];".to_owned());
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

/// `#define NGINX_VERSION "x.y.z"` from src/core/nginx.h.
fn nginx_version(nginx_h: &str) -> Result<String, String> {
    let tokens = tokenize(nginx_h).map_err(|err| format!("src/core/nginx.h: {err}"))?;
    tokens
        .iter()
        .find_map(|token| match &token.tok {
            Tok::Directive(d) => match d.as_slice() {
                [
                    define,
                    name,
                    Token {
                        tok: Tok::Str(version),
                        ..
                    },
                ] if define.ident() == Some("define") && name.ident() == Some("NGINX_VERSION") => {
                    Some(version.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .ok_or_else(|| "src/core/nginx.h does not define NGINX_VERSION".to_owned())
}

/// `text` as `// ` comment lines of at most `width` characters.
fn wrap_comment(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = "//".to_owned();
    for word in text.split_whitespace() {
        if line.len() > 2 && line.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut line, "//".to_owned()));
        }
        line.push(' ');
        line.push_str(word);
    }
    if line.len() > 2 {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(result: Result<T, String>) -> T {
        match result {
            Ok(value) => value,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn lexer_handles_comments_directives_and_splices() {
        let tokens = ok(tokenize(
            "#define A  0x2 /* two\n lines */\n#define B (A \\\n |4)\nint x = '\"'; /* } */ \"//\"\n",
        ));
        assert_eq!(tokens.len(), 8, "{tokens:?}");
        assert!(matches!(&tokens[0].tok, Tok::Directive(d) if d.len() == 3));
        assert_eq!(tokens[1].line, 3);
        assert_eq!(tokens[2].tok, Tok::Ident("int".to_owned()));
        assert_eq!(tokens[2].line, 5);
        assert_eq!(tokens[5].tok, Tok::CharLit);
        assert_eq!(tokens[6].tok, Tok::Punct(';'));
        assert_eq!(tokens[7].tok, Tok::Str("//".to_owned()));
    }

    #[test]
    fn macros_resolve_composites_and_reject_other_shapes() {
        let mut macros = Macros::default();
        macros.add_definitions(&ok(tokenize(
            "#define T1 0x02\n#define T2 0x04\n#define T3 0x08\n\
             #define T12 (T1|T2)\n#define T123 (T12 \\\n |T3)\n#define F(x) (x|1)\n\
             #define BAD (T1 + T2)\n#define TWICE 1\n#define TWICE 2\n",
        )));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &macros],
        };
        assert_eq!(ok(scope.eval_name("T123", 0)), 0x0e);
        assert!(scope.eval_name("F", 0).is_err());
        assert!(scope.eval_name("BAD", 0).is_err());
        assert!(scope.eval_name("TWICE", 0).is_err());
    }

    #[test]
    fn commands_and_modules_are_extracted() {
        let source = r#"
static ngx_command_t  ngx_foo_commands[] = {

    { ngx_string("foo"),
      T1
      |T2,
      ngx_foo, 0, 0, NULL },

#if (NGX_HTTP_SSL)
    { ngx_string("foo_ssl"), T2, ngx_foo, 0, offsetof(a, b), NULL },
#endif

      ngx_null_command
};

ngx_module_t  ngx_foo_module;

ngx_module_t  ngx_foo_module = {
    NGX_MODULE_V1,
    &ngx_foo_module_ctx,                   /* module context */
    ngx_foo_commands,                      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};
"#;
        let tokens = ok(tokenize(source));
        let mut macros = Macros::default();
        macros.add_definitions(&ok(tokenize("#define T1 1\n#define T2 2\n")));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &macros],
        };
        let mut guards = BTreeSet::new();
        let modules = ok(extract_modules("foo.c", &tokens, &scope, &mut guards));
        assert_eq!(modules.len(), 1);
        let module = &modules[0];
        assert_eq!(module.name, "ngx_foo_module");
        assert_eq!(module.module_type, ModuleType::Http);
        let names: Vec<&str> = module.commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["foo", "foo_ssl"]);
        assert_eq!(module.commands[0].flags, 3);
        assert_eq!(module.commands[0].expr, "T1|T2");
        assert!(guards.contains("if (NGX_HTTP_SSL)"));
        let (foo, foo_ssl) = (&module.commands[0], &module.commands[1]);
        assert_eq!((foo.handler.as_str(), foo.conf.as_str()), ("ngx_foo", "0"));
        assert_eq!(foo.field, "");
        assert!(foo.post_ref.is_none());
        assert_eq!(foo_ssl.field, "a.b");
    }

    /// The commands of one file, posts resolved.
    fn resolved(source: &str) -> Result<Vec<Command>, String> {
        let tokens = ok(tokenize(source));
        let mut macros = Macros::default();
        macros.add_definitions(&ok(tokenize("#define T1 1\n")));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &macros],
        };
        let mut guards = BTreeSet::new();
        let mut modules = extract_modules("f.c", &tokens, &scope, &mut guards)?;
        let mut definitions = HashMap::new();
        extract_definitions("f.c", &tokens, &mut definitions);
        let mut commands = modules.remove(0).commands;
        for command in &mut commands {
            resolve_post(command, "f.c", &definitions, &mut guards)?;
        }
        Ok(commands)
    }

    const MODULE: &str = "ngx_module_t m = { NGX_MODULE_V1, &ctx, c, NGX_HTTP_MODULE };\n";

    #[test]
    fn fields_and_posts_are_resolved() {
        let source = format!(
            "{}{MODULE}",
            r#"
static ngx_conf_enum_t  ngx_v[] = {
    { ngx_string("1.0"), 10 },
#if (NGX_HTTP_SSL)
    { ngx_string("1.1"), 11 },
#endif
    { ngx_null_string, 0 }
};
static ngx_conf_num_bounds_t  b = { ngx_conf_check_num_bounds, -5, -1 };
static ngx_conf_deprecated_t  d = { ngx_conf_deprecated, "old", "new" };
static ngx_command_t c[] = {
    { ngx_string("v"), T1, ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_x_conf_t,   upstream . v), &ngx_v },
    { ngx_string("n"), T1, ngx_conf_set_num_slot, 0,
      offsetof(ngx_x_conf_t, n), &b },
    { ngx_string("o"), T1, ngx_conf_set_num_slot, 0,
      offsetof(ngx_x_conf_t, n), &d },
    { ngx_string("s"), T1, ngx_x, 0, 0, (void *) 1 },
    { ngx_string("t"), T1, ngx_x, 0, 0, &ngx_v[0] },
    ngx_null_command
};
"#
        );
        let commands = ok(resolved(&source));
        let [v, n, o, s, t] = commands.as_slice() else {
            panic!("{commands:?}");
        };
        assert_eq!(v.conf, "NGX_HTTP_LOC_CONF_OFFSET");
        assert_eq!(v.field, "ngx_x_conf_t.upstream.v");
        assert_eq!(v.post.kind, "ngx_conf_enum_t");
        assert_eq!(v.post.values, ["1.0", "1.1"]);
        assert_eq!(n.post.bounds, Some((-5, -1)));
        assert_eq!(n.field, o.field);
        assert_eq!(o.post.kind, "ngx_conf_deprecated_t");
        assert!(o.post.values.is_empty() && o.post.bounds.is_none());
        assert_eq!(s.post.kind, "void *");
        // Only enum/bitmask slots list values.
        assert_eq!(t.post.kind, "ngx_conf_enum_t");
        assert!(t.post.values.is_empty());
    }

    #[test]
    fn bad_posts_are_errors() {
        let source = |post: &str| {
            format!(
                "static ngx_conf_post_t p = {{ ngx_p }};\n\
                 static ngx_command_t c[] = {{\n\
                 {{ ngx_string(\"v\"), T1, ngx_conf_set_enum_slot, 0, 0, {post} }},\n\
                 ngx_null_command\n}};\n{MODULE}"
            )
        };
        let err = |post: &str| match resolved(&source(post)) {
            Ok(commands) => panic!("{commands:?}"),
            Err(err) => err,
        };
        assert!(err("&p").contains("needs an ngx_conf_enum_t"));
        assert!(err("&nowhere").contains("no definition of nowhere"));
        assert!(err("NULL").contains("with no ngx_conf_enum_t"));
        assert!(err("p + 1").contains("neither NULL"));
    }

    #[test]
    fn offsets() {
        let offset = |text: &str| parse_offset(&ok(tokenize(text)));
        assert_eq!(offset("0").as_deref(), Some(""));
        assert_eq!(offset("offsetof(t_t,\n   a.b)").as_deref(), Some("t_t.a.b"));
        assert_eq!(offset("offsetof(t_t, a[1])").as_deref(), Some("t_t.a[1]"));
        assert_eq!(offset("offsetof(t_t)"), None);
        assert_eq!(offset("4"), None);
    }

    fn release(version: &str, commands: &[(&str, u32, &str)]) -> Release {
        let commands = commands
            .iter()
            .map(|&(name, flags, handler)| Command {
                name: name.to_owned(),
                flags,
                expr: String::new(),
                handler: handler.to_owned(),
                conf: "0".to_owned(),
                field: String::new(),
                post_ref: None,
                post: Post::default(),
            })
            .collect();
        Release {
            label: format!("release-{version}"),
            version: version.to_owned(),
            guards: BTreeSet::new(),
            modules: vec![Module {
                name: "ngx_core_module".to_owned(),
                module_type: ModuleType::Core,
                file: "src/core/nginx.c".to_owned(),
                commands,
            }],
        }
    }

    #[test]
    fn releases_merge_into_a_union() {
        let old = release(
            "1.22.1",
            &[
                ("a", 1, "h"),
                ("gone", 1, "h"),
                ("b", 1, "h"),
                ("c", 1, "h"),
            ],
        );
        let new = release(
            "1.28.3",
            &[
                ("a", 1, "h"),
                ("b", 2, "h"),
                ("c", 1, "other"),
                ("d", 1, "h"),
            ],
        );
        let table = ok(Table::merge(old, new));
        let entries: Vec<(&str, u32, &str, bool, bool)> = table.modules[0]
            .entries
            .iter()
            .map(|e| {
                let c = &e.command;
                (c.name.as_str(), c.flags, c.handler.as_str(), e.old, e.new)
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("a", 1, "h", true, true),
                ("gone", 1, "h", true, false),
                ("b", 1, "h", true, false),
                ("b", 2, "h", false, true),
                ("c", 1, "h", true, false),
                ("c", 1, "other", false, true),
                ("d", 1, "h", false, true),
            ]
        );
        let c = &table.counts;
        assert_eq!(
            (c.old_only, c.new_only, c.split_flags, c.split_other),
            (1, 1, 1, 1)
        );
        let text = table.render();
        assert!(text.contains(r#"pub const NGINX_VERSIONS: &[&str] = &["1.22.1", "1.28.3"];"#));
        assert!(text.contains(
            r#"DirectiveSpec { name: "gone", module: 0, flags: 0x0000_0001, handler: "h", conf: "0", field: "", post_kind: "", post: &[], bounds: None, since_1_22: true, in_1_28: false },"#
        ));
    }

    #[test]
    fn merge_order_keeps_old_names_after_their_predecessor() {
        assert_eq!(
            merge_order(&["x", "a", "y", "b", "z"], &["a", "n", "b"]),
            ["x", "a", "y", "n", "b", "z"]
        );
    }

    #[test]
    fn unknown_guards_are_errors() {
        let tokens = ok(tokenize(
            "static ngx_command_t c[] = {\n#if (NGX_SOMETHING_NEW)\n{ ngx_string(\"x\"), 1, a, 0, 0, NULL },\n#endif\nngx_null_command\n};\n",
        ));
        let none = Macros::default();
        let scope = MacroScope {
            layers: [&none, &none],
        };
        let err = extract_modules("x.c", &tokens, &scope, &mut BTreeSet::new());
        assert!(err.is_err_and(|e| e.contains("NGX_SOMETHING_NEW")));
    }

    #[test]
    fn shell_replay_builds_module_lists() {
        let script = "\
CORE_MODULES=\"ngx_core_module ngx_errlog_module\"  # comment
if [ $HTTP = YES ]; then
    ngx_module_type=HTTP
    ngx_module_name=\"ngx_http_module \\
                     ngx_http_core_module\"
    . auto/module
fi
ngx_module_type=CORE
ngx_module_name=ngx_regex_module
. auto/module
modules=\"$CORE_MODULES $HTTP_MODULES\"
";
        let mut vars = HashMap::new();
        for statement in shell_statements(script) {
            ok(interpret(&statement, &mut vars));
        }
        let modules = vars.get("modules").cloned().unwrap_or_default();
        assert_eq!(
            modules,
            [
                "ngx_core_module",
                "ngx_errlog_module",
                "ngx_regex_module",
                "ngx_http_module",
                "ngx_http_core_module"
            ]
        );
    }

    #[test]
    fn c_integers() {
        assert_eq!(parse_c_int("0xFF000000"), Some(0xFF00_0000));
        assert_eq!(parse_c_int("8"), Some(8));
        assert_eq!(parse_c_int("010"), Some(8));
        assert_eq!(parse_c_int("1UL"), Some(1));
        assert_eq!(parse_c_int("0x"), None);
    }
}
