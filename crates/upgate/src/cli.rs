//! Command-line flags: nginx's own, scanned as nginx's `ngx_get_options`
//! (src/core/nginx.c) scans them, so that `upgate -t -c /etc/nginx/nginx.conf`,
//! `-tq`, `-cFILE`, `-e stderr` and `-s reload` work where nginx's did; then
//! upgate's additions to `-t` (a positional FILE, `--root`, `--with-main`,
//! `--context`, `--nginx-version`) and its subcommands (parsed by clap).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use upgate_conf::directives::Release;
use upgate_conf::fs::Root;

/// nginx's flags and upgate's additions to `-t`.
#[derive(Debug, Default)]
pub struct Cli {
    /// `-t`: test the configuration and exit.
    pub test: bool,
    /// `-T`: test, then dump every file read to stdout.
    pub dump: bool,
    /// `-q`: suppress non-error messages while testing.
    pub quiet: bool,
    /// `-c FILE` (default: /etc/nginx/nginx.conf).
    pub conf: Option<PathBuf>,
    /// `-p PREFIX` (default: the current directory).
    pub prefix: Option<PathBuf>,
    /// `-e FILE`: the error log used before the configuration's own is open
    /// (and for the whole run when the configuration names none); `stderr`
    /// is stderr, a relative name is under the prefix.
    pub error_log: Option<String>,
    /// `-g DIRECTIVES`.
    pub globals: Option<String>,
    /// `-v`.
    pub version: bool,
    /// `-V`.
    pub version_long: bool,
    /// `-?` / `-h`.
    pub help: bool,
    /// `--root DIR` (DIR stands for `/`) or `--root /PATH=DIR` (DIR stands
    /// for /PATH): where absolute paths are read.
    pub root: Option<Root>,
    /// `--with-main MAIN`: check FILE (a snippet) inside MAIN.
    pub with_main: Option<PathBuf>,
    /// `--context BLOCK`: read the file as a snippet of this block.
    pub context: Option<ContextArg>,
    /// `--nginx-version V`: judge directives by this release's table
    /// (`None`: by every release's, as before the flag).
    pub nginx_version: Option<Release>,
    /// `-s stop|quit|reopen|reload`.
    pub signal: Option<String>,
    /// `--metrics ADDR:PORT`: where a serving upgate answers `/metrics`.
    pub metrics: Option<std::net::SocketAddr>,
    /// A configuration file given without -c.
    pub file: Option<PathBuf>,
    pub command: Option<Command>,
}

/// The subcommands, parsed by clap.
#[derive(Debug, Parser)]
#[command(name = "upgate", disable_version_flag = true)]
struct Tools {
    #[command(subcommand)]
    command: Command,
}

const SUBCOMMANDS: &[&str] = &["parse", "fmt", "lint", "route", "top", "help"];

impl Cli {
    /// Reads the command line. `Err` is nginx's message (`invalid option:
    /// "x"`), printed as `upgate: ...` with exit 1; clap prints and exits
    /// itself for the subcommands.
    pub fn parse(args: Vec<OsString>) -> Result<Cli, String> {
        if let Some(first) = args.get(1).and_then(|a| a.to_str())
            && SUBCOMMANDS.contains(&first)
        {
            let tools = Tools::parse_from(args);
            return Ok(Cli {
                command: Some(tools.command),
                ..Cli::default()
            });
        }
        let mut cli = Cli::default();
        let mut args = args.into_iter().skip(1);
        while let Some(arg) = args.next() {
            let Some(text) = arg.to_str() else {
                // Only a file name may be other than UTF-8.
                cli.set_file(PathBuf::from(arg))?;
                continue;
            };
            if let Some(long) = text.strip_prefix("--") {
                cli.long(long, &mut args)?;
                continue;
            }
            let Some(flags) = text.strip_prefix('-') else {
                cli.set_file(PathBuf::from(text))?;
                continue;
            };
            cli.short(flags, &mut args)?;
        }
        Ok(cli)
    }

    /// One argument of nginx's short flags: `-tq`, `-c FILE`, `-cFILE`.
    fn short(
        &mut self,
        flags: &str,
        rest: &mut impl Iterator<Item = OsString>,
    ) -> Result<(), String> {
        for (at, c) in flags.char_indices() {
            match c {
                '?' | 'h' => {
                    self.version = true;
                    self.help = true;
                }
                'v' => self.version = true,
                'V' => {
                    self.version = true;
                    self.version_long = true;
                }
                't' => self.test = true,
                'T' => {
                    self.test = true;
                    self.dump = true;
                }
                'q' => self.quiet = true,
                'p' | 'e' | 'c' | 'g' | 's' => {
                    let attached = &flags[at + c.len_utf8()..];
                    let value = if attached.is_empty() {
                        match rest.next() {
                            Some(v) => v,
                            None => return Err(requires(c)),
                        }
                    } else {
                        OsString::from(attached)
                    };
                    self.value(c, value)?;
                    return Ok(());
                }
                other => return Err(format!("invalid option: \"{other}\"")),
            }
        }
        Ok(())
    }

    fn value(&mut self, flag: char, value: OsString) -> Result<(), String> {
        match flag {
            'p' => self.prefix = Some(PathBuf::from(value)),
            'c' => self.conf = Some(PathBuf::from(value)),
            'e' => self.error_log = Some(value.to_string_lossy().into_owned()),
            'g' => self.globals = Some(value.to_string_lossy().into_owned()),
            _ => {
                let name = value.to_string_lossy().into_owned();
                if !["stop", "quit", "reopen", "reload"].contains(&name.as_str()) {
                    return Err(format!("invalid option: \"-s {name}\""));
                }
                self.signal = Some(name);
            }
        }
        Ok(())
    }

    /// upgate's long flags: `--root DIR`, `--root=DIR`, `--with-main`,
    /// `--context`, `--nginx-version`, `--metrics`, `--help`, `--version`.
    fn long(
        &mut self,
        long: &str,
        rest: &mut impl Iterator<Item = OsString>,
    ) -> Result<(), String> {
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(OsString::from(v))),
            None => (long, None),
        };
        match name {
            "help" => {
                self.version = true;
                self.help = true;
                return Ok(());
            }
            "version" => {
                self.version = true;
                return Ok(());
            }
            "root" | "with-main" | "context" | "nginx-version" | "metrics" => {}
            _ => return Err(format!("invalid option: \"--{name}\"")),
        }
        let value = match inline.or_else(|| rest.next()) {
            Some(v) => v,
            None => return Err(format!("option \"--{name}\" requires a value")),
        };
        match name {
            "root" => self.root = Some(value.to_string_lossy().parse()?),
            "with-main" => self.with_main = Some(PathBuf::from(value)),
            "metrics" => {
                let text = value.to_string_lossy();
                self.metrics = Some(text.parse().map_err(|_| {
                    format!("invalid value \"{text}\" for \"--metrics\": an address and port, e.g. 127.0.0.1:9145")
                })?);
            }
            "nginx-version" => self.nginx_version = Some(table_release(&value.to_string_lossy())?),
            _ => {
                let text = value.to_string_lossy();
                let context = <ContextArg as clap::ValueEnum>::from_str(&text, false).map_err(|_| {
                    format!(
                        "invalid value \"{text}\" for \"--context\": main, http, server, location or stream"
                    )
                })?;
                self.context = Some(context);
            }
        }
        Ok(())
    }

    fn set_file(&mut self, path: PathBuf) -> Result<(), String> {
        if self.file.is_some() {
            return Err(format!("invalid option: \"{}\"", path.display()));
        }
        self.file = Some(path);
        Ok(())
    }

    /// The `-e` log, or `None` for stderr (nginx's `-e stderr`).
    pub fn startup_log(&self) -> Option<&str> {
        self.error_log.as_deref().filter(|e| *e != "stderr")
    }
}

/// `-t --nginx-version`: a release the directive table has, named by its
/// series or by a version within it.
fn table_release(text: &str) -> Result<Release, String> {
    Release::of_version(text).ok_or_else(|| {
        format!(
            "invalid value \"{text}\" for \"--nginx-version\": {} (or a release of those, e.g. 1.26.2)",
            Release::accepted()
        )
    })
}

/// nginx's wording for a flag missing its value.
fn requires(flag: char) -> String {
    match flag {
        'p' => "option \"-p\" requires directory name".into(),
        'g' => "option \"-g\" requires parameter".into(),
        's' => "option \"-s\" requires parameter".into(),
        c => format!("option \"-{c}\" requires file name"),
    }
}

/// The blocks a file can be read in.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ContextArg {
    Main,
    Http,
    Server,
    Location,
    Stream,
}

impl From<ContextArg> for upgate_conf::SnippetContext {
    fn from(c: ContextArg) -> Self {
        use upgate_conf::SnippetContext as S;
        match c {
            ContextArg::Main => S::Main,
            ContextArg::Http => S::Http,
            ContextArg::Server => S::Server,
            ContextArg::Location => S::Location,
            ContextArg::Stream => S::Stream,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a configuration as crossplane's JSON (`crossplane parse`).
    Parse(ParseArgs),
    /// Rewrite configuration files in the canonical layout.
    Fmt(FmtArgs),
    /// Find what breaks WebSockets behind a configuration (and fix it).
    Lint(LintArgs),
    /// Explain which server, location, headers, upstream and timeouts a
    /// request gets, and whether it can become a WebSocket tunnel.
    Route(RouteArgs),
    /// A live table of a running upgate's --metrics endpoint: tunnels per
    /// location, rates, close reasons.
    Top(TopArgs),
}

/// `upgate top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The address given to `upgate --metrics`.
    #[arg(value_name = "ADDR:PORT")]
    pub addr: std::net::SocketAddr,
    /// Print one table and exit.
    #[arg(long)]
    pub once: bool,
    /// Milliseconds between two tables.
    #[arg(long = "interval-ms", value_name = "MS", default_value_t = 1000)]
    pub interval_ms: u64,
}

/// `upgate parse`: the flags of `crossplane parse` that shape its JSON.
#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// The main configuration file; includes are read relative to its
    /// directory.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// One config entry, with every include replaced by what it read.
    #[arg(long)]
    pub combine: bool,
    /// List comments as "#" directives.
    #[arg(long)]
    pub include_comments: bool,
    /// Do not read the files that include directives name.
    #[arg(long)]
    pub single_file: bool,
    /// Indent the JSON by this many spaces (default: compact).
    #[arg(short = 'i', long, value_name = "NUM")]
    pub indent: Option<usize>,
}

/// `upgate fmt`: rewrite in place, or only check.
#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Files to format.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Change nothing; name the files that are not formatted and exit 1.
    #[arg(long)]
    pub check: bool,
}

/// `upgate lint`: the WebSocket traps of a configuration, with fixes.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Configuration file (like -c of -t); a conf.d snippet is read inside
    /// the block it was written for.
    #[arg(short = 'c', value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Files to lint, each on its own (default: /etc/nginx/nginx.conf).
    #[arg(value_name = "FILE", conflicts_with = "conf")]
    pub files: Vec<PathBuf>,
    /// Read the files as snippets of this block instead of detecting it.
    #[arg(long, value_enum, value_name = "BLOCK")]
    pub context: Option<ContextArg>,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "human", value_parser = ["human", "json", "sarif"])]
    pub format: String,
    /// Apply the certain fixes in place (layout and comments kept), then
    /// report what is left.
    #[arg(long)]
    pub fix: bool,
    /// Run only these rules (repeatable).
    #[arg(long, value_name = "RULE")]
    pub enable: Vec<String>,
    /// Do not run these rules (repeatable).
    #[arg(long, value_name = "RULE")]
    pub disable: Vec<String>,
    /// Report (and fail on) findings at or above this severity.
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = ["info", "warning", "error"])]
    pub min_severity: String,
    /// The nginx release the configuration is for: 1.22, 1.24, 1.26 or
    /// 1.28 (or a release of those, e.g. 1.26.2) loads the files with that
    /// release's directive table (which directives exist, where, with how
    /// many arguments); 1.29 and later (1.29.7, 1.30), which have no table
    /// yet, use 1.28's, with the defaults that changed in 1.29.7. Without
    /// the flag: what any of those releases accepts, and 1.28's defaults.
    #[arg(long, value_name = "VERSION")]
    pub nginx_version: Option<String>,
    /// Prefix path, as with -p.
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// Where absolute paths are read: DIR stands for `/`, /PATH=DIR for
    /// /PATH (e.g. /etc/nginx=deploy/nginx for a config written for
    /// /etc/nginx and kept in a repository's deploy/nginx).
    #[arg(long, value_name = "DIR|/PATH=DIR")]
    pub root: Option<Root>,
    /// List the rules and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Print a rule's page (what it finds, why it breaks, the fix) and exit.
    #[arg(long, value_name = "RULE")]
    pub explain: Option<String>,
}

/// `upgate route`: explain one request without serving it.
#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    /// Configuration file (a whole nginx.conf or a snippet).
    #[arg(short = 'c', long = "conf", value_name = "FILE")]
    pub conf: PathBuf,
    /// Prefix path, as with nginx -p (default: the current directory).
    #[arg(short = 'p', long, value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// The address:port the connection arrives on (default: from the URL).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The client's address (default 127.0.0.1).
    #[arg(long, value_name = "IP[:PORT]")]
    pub client: Option<String>,
    /// A request header; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Send the request as HTTP/1.0.
    #[arg(long)]
    pub http10: bool,
    /// Print the explanation as JSON.
    #[arg(long)]
    pub json: bool,
    /// 'METHOD URL' (ws:// and wss:// URLs get the WebSocket handshake
    /// headers), or a URL or path alone for GET.
    #[arg(value_name = "REQUEST")]
    pub request: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        let mut v = vec![OsString::from("upgate")];
        v.extend(args.iter().map(OsString::from));
        Cli::parse(v)
    }

    #[test]
    fn combined_and_attached_flags_as_nginx() {
        let c =
            parse(&["-tq", "-cnginx.conf", "-p", "/tmp/x/", "-e", "error.log"]).unwrap_or_default();
        assert!(c.test && c.quiet && !c.dump);
        assert_eq!(c.conf, Some(PathBuf::from("nginx.conf")));
        assert_eq!(c.prefix, Some(PathBuf::from("/tmp/x/")));
        assert_eq!(c.startup_log(), Some("error.log"));
        let c = parse(&["-qT", "-e", "stderr", "-g", "daemon off;"]).unwrap_or_default();
        assert!(c.test && c.dump && c.quiet);
        assert_eq!(c.startup_log(), None);
        assert_eq!(c.globals.as_deref(), Some("daemon off;"));
        // A value flag ends the argument: `-tc FILE` reads FILE.
        let c = parse(&["-tc", "a.conf"]).unwrap_or_default();
        assert!(c.test);
        assert_eq!(c.conf, Some(PathBuf::from("a.conf")));
        let c = parse(&["-sreload"]).unwrap_or_default();
        assert_eq!(c.signal.as_deref(), Some("reload"));
        let c = parse(&["-V", "-h"]).unwrap_or_default();
        assert!(c.version && c.version_long && c.help);
    }

    #[test]
    fn nginx_errors() {
        assert_eq!(parse(&["-x"]).err(), Some("invalid option: \"x\"".into()));
        assert_eq!(parse(&["-tx"]).err(), Some("invalid option: \"x\"".into()));
        assert_eq!(
            parse(&["-s", "restart"]).err(),
            Some("invalid option: \"-s restart\"".into())
        );
        assert_eq!(
            parse(&["-c"]).err(),
            Some("option \"-c\" requires file name".into())
        );
        assert_eq!(
            parse(&["-p"]).err(),
            Some("option \"-p\" requires directory name".into())
        );
        assert_eq!(
            parse(&["-g"]).err(),
            Some("option \"-g\" requires parameter".into())
        );
    }

    #[test]
    fn upgate_additions() {
        let c =
            parse(&["-t", "--root", "/r", "--context=http", "snippet.conf"]).unwrap_or_default();
        assert_eq!(c.root, Some(Root::whole("/r")));
        assert!(matches!(c.context, Some(ContextArg::Http)));
        assert_eq!(c.file, Some(PathBuf::from("snippet.conf")));
        let c = parse(&["-t", "--with-main", "m.conf", "s.conf"]).unwrap_or_default();
        assert_eq!(c.with_main, Some(PathBuf::from("m.conf")));
        assert!(parse(&["--context", "nowhere"]).is_err());
        let c = parse(&["-t", "--nginx-version", "1.22", "a.conf"]).unwrap_or_default();
        assert_eq!(c.nginx_version, Some(Release::V1_22));
        let c = parse(&["-t", "--nginx-version=1.26.2"]).unwrap_or_default();
        assert_eq!(c.nginx_version, Some(Release::V1_26));
        assert_eq!(
            parse(&["-t", "--nginx-version", "1.25"]).err(),
            Some(
                "invalid value \"1.25\" for \"--nginx-version\": 1.22, 1.24, 1.26 or 1.28 \
                 (or a release of those, e.g. 1.26.2)"
                    .into()
            )
        );
        assert!(parse(&["-t", "--nginx-version"]).is_err());
        assert!(parse(&["a.conf", "b.conf"]).is_err());
        let c = parse(&["fmt", "--check", "a.conf"]).unwrap_or_default();
        assert!(matches!(c.command, Some(Command::Fmt(_))));
    }

    #[test]
    fn metrics_takes_an_address_and_port() {
        let c = parse(&["-c", "n.conf", "--metrics", "127.0.0.1:9145"]).unwrap_or_default();
        assert_eq!(c.metrics, Some(([127, 0, 0, 1], 9145).into()));
        let c = parse(&["--metrics=[::1]:9145"]).unwrap_or_default();
        assert!(c.metrics.is_some_and(|a| a.ip().is_loopback()));
        assert!(
            parse(&["--metrics", "localhost"])
                .err()
                .is_some_and(|e| e.contains("an address and port"))
        );
        assert!(parse(&["--metrics"]).is_err());
    }
}
