//! Command-line flags: nginx's own, so that `upgate -t -c /etc/nginx/nginx.conf`
//! works where `nginx -t -c ...` did, and the subcommands upgate adds.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A reverse proxy for HTTP/1.1 and WebSocket that reads nginx configuration.
#[derive(Debug, Parser)]
#[command(
    name = "upgate",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Test the configuration and exit, like `nginx -t`.
    #[arg(short = 't')]
    pub test: bool,
    /// Test the configuration, then dump it (every file read) to stdout.
    #[arg(short = 'T')]
    pub dump: bool,
    /// Suppress non-error messages while testing.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Configuration file (default: /etc/nginx/nginx.conf).
    #[arg(short = 'c', value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Prefix path (default: the current directory).
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// The error log used before the configuration's own is open (nginx
    /// -e): a file under the prefix, or `stderr`.
    #[arg(short = 'e', value_name = "FILE")]
    pub error_log: Option<PathBuf>,
    /// Global directives, as with nginx -g.
    #[arg(short = 'g', value_name = "DIRECTIVES")]
    pub globals: Option<String>,
    /// Show the version and exit.
    #[arg(short = 'v')]
    pub version: bool,
    /// Show the version and the nginx compatibility, then exit.
    #[arg(short = 'V')]
    pub version_long: bool,
    /// Read absolute paths under this directory, as if it were `/` (check a
    /// configuration tree copied from another machine).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Check FILE (a snippet) inside this main configuration: where the main
    /// configuration includes it, or where its conf.d glob would.
    #[arg(long, value_name = "MAIN")]
    pub with_main: Option<PathBuf>,
    /// Read the file as a snippet of this block instead of detecting it.
    #[arg(long, value_enum, value_name = "BLOCK")]
    pub context: Option<ContextArg>,
    /// Send a signal to the running upgate (found through the `pid` file of
    /// the configuration), like `nginx -s`.
    #[arg(short = 's', value_name = "SIGNAL", value_parser = ["stop", "quit", "reopen", "reload"])]
    pub signal: Option<String>,
    /// Configuration file, as an alternative to -c.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// The nginx release the configuration is for (defaults changed in
    /// 1.29.7), e.g. 1.22 or 1.30 (default: 1.28).
    #[arg(long, value_name = "VERSION")]
    pub nginx_version: Option<String>,
    /// Prefix path, as with -p.
    #[arg(short = 'p', value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// Read absolute paths under this directory, as if it were `/`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// List the rules and exit.
    #[arg(long)]
    pub list_rules: bool,
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
