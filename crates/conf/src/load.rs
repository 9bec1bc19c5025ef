//! Loading a configuration the way `nginx -t` does: read the main file,
//! follow `include`s where they stand, check every directive against the
//! table (`ngx_conf_handler`) and run the value checks of the directives'
//! handlers, in nginx's order, stopping at the first `[emerg]`. Or, for
//! the linter ([`LoadOptions::keep_going`]), recording each error and reading
//! on: a linter that stops at the first missing include hides everything after it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::ast::{Block, Comment, Directive, Node};
use crate::context::BlockKind;
use crate::directives::{self, Build, DirectiveSpec, ModuleType, Release, flags};
use crate::error::{ConfError, Level, Position, errno_text};
use crate::fs::{Fs, full_name, has_glob};
use crate::handlers::Semantics;
use crate::parser::{self, SyntaxError};
use crate::pragma;
use crate::snippet::{self, Detected, SnippetContext};
use crate::span::{FileId, SourceFile, SourceMap, Span};

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The main file (`-c`), relative to `prefix` unless absolute.
    pub conf_file: PathBuf,
    /// nginx's prefix (`-p`).
    pub prefix: PathBuf,
    /// Global directives given with `-g`.
    pub globals: Option<String>,
    pub fs: Fs,
    /// Check what nginx checks against the machine (host names in upstreams,
    /// files that must exist). Off for tools that only read the syntax.
    pub check_environment: bool,
    /// Resolve the host names nginx resolves at -t (`listen`, `server` in
    /// `upstream`, the implicit upstreams of `*_pass`) even without
    /// `check_environment` (which implies it): the linter's choice, since a
    /// name that does not resolve is most often a typo (`listen 80x`).
    pub check_hosts: bool,
    /// How to read the main file: as a whole nginx.conf, as a snippet of a
    /// given block, or decided from its directives.
    pub context: ContextChoice,
    /// Record each error and read on where nginx stops: a missing include
    /// is skipped, a directive nginx rejects is passed over (with its
    /// block), the checks at a block's end and the configuration's end still
    /// run. The first error is the one `nginx -t` prints; the others are in
    /// [`Loaded::later_errors`]. For the linter, never for serving.
    pub keep_going: bool,
    /// Judge directives by this release's table only (`--nginx-version`):
    /// what it declares, in which contexts, with how many arguments. `None`
    /// accepts what any release of the table accepts, the newest form of a
    /// directive tried first.
    pub release: Option<Release>,
}

/// `--context`: how the file given to `-c` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextChoice {
    /// From its directives (see [`crate::snippet::detect`]).
    Detect,
    Fixed(SnippetContext),
}

impl LoadOptions {
    pub fn new(conf_file: impl Into<PathBuf>) -> Self {
        LoadOptions {
            conf_file: conf_file.into(),
            prefix: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            globals: None,
            fs: Fs::default(),
            check_environment: true,
            check_hosts: false,
            context: ContextChoice::Detect,
            keep_going: false,
            release: None,
        }
    }
}

/// The entries `ngx_conf_handler` tries for a directive, in order. With a
/// release, that release's entries only, in module order, as its nginx tries
/// them. Without one, every release's, newest form first: where releases
/// differ, current stable's entry decides, and an older one still accepts
/// what its release accepted (`ssl on`, gone in 1.25.1, stays known).
fn candidates(
    entries: &'static [&'static DirectiveSpec],
    release: Option<Release>,
) -> impl Iterator<Item = &'static DirectiveSpec> {
    // Without a release, the entries are grouped by the newest release they
    // belong to, newest group first; with one, its group is its entries.
    // (No allocation: this runs for every directive of the configuration.)
    Release::ALL
        .into_iter()
        .rev()
        .filter(move |&group| release.is_none_or(|wanted| wanted == group))
        .flat_map(move |group| {
            entries.iter().copied().filter(move |spec| match release {
                Some(_) => spec.in_release(group),
                None => spec.newest_release() == Some(group),
            })
        })
}

/// One file of the configuration and its tree.
#[derive(Debug, Clone, Default)]
pub struct ConfFile {
    pub block: Block,
    /// The syntax error that stopped reading this file, if any.
    pub error: Option<SyntaxError>,
    /// The block kind the file was first read in.
    pub context: Option<BlockKind>,
}

/// Every file read, with its tree; `files[i]` belongs to `FileId(i)`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub sources: SourceMap,
    pub files: Vec<ConfFile>,
    /// The file nginx was given (for a snippet: the wrapper around it).
    pub main: FileId,
    /// The `-g` directives, read before the main file as nginx reads them.
    pub globals: Option<FileId>,
}

impl Config {
    /// The main-level directives in nginx's reading order: `-g`'s first,
    /// then the main file's, with main-level includes followed. What decides
    /// the process (daemon, pid, user, error_log, ...) is read from here.
    pub fn main_level(&self) -> Vec<&Directive> {
        fn go<'a>(
            config: &'a Config,
            block: &'a Block,
            out: &mut Vec<&'a Directive>,
            depth: usize,
        ) {
            if depth > MAX_INCLUDE_DEPTH {
                return;
            }
            for d in block.directives() {
                out.push(d);
                for &id in &d.includes {
                    go(config, &config.file(id).block, out, depth + 1);
                }
            }
        }
        let mut out = Vec::new();
        if let Some(g) = self.globals {
            go(self, &self.file(g).block, &mut out, 0);
        }
        if let Some(main) = self.main() {
            go(self, &main.block, &mut out, 0);
        }
        out
    }

    pub fn main(&self) -> Option<&ConfFile> {
        self.files.get(self.main.index())
    }

    pub fn file(&self, id: FileId) -> &ConfFile {
        &self.files[id.index()]
    }

    /// Walks every directive in nginx's reading order, entering includes.
    pub fn walk<'a>(&'a self, mut visit: impl FnMut(&'a Directive, &[&'a Directive])) {
        fn go<'a>(
            config: &'a Config,
            block: &'a Block,
            parents: &mut Vec<&'a Directive>,
            visit: &mut impl FnMut(&'a Directive, &[&'a Directive]),
            depth: usize,
        ) {
            if depth > MAX_INCLUDE_DEPTH {
                return;
            }
            for d in block.directives() {
                visit(d, parents);
                for &id in &d.includes {
                    go(config, &config.file(id).block, parents, visit, depth + 1);
                }
                if let Some(inner) = &d.block {
                    parents.push(d);
                    go(config, inner, parents, visit, depth);
                    parents.pop();
                }
            }
        }
        if let Some(main) = self.main() {
            go(self, &main.block, &mut Vec::new(), &mut visit, 0);
        }
    }
}

/// The result of a load: the tree (complete up to the first error), the
/// warnings printed before it, and that error.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfError>,
    pub error: Option<ConfError>,
    /// Set when the main file was read as a snippet: the block, and the
    /// other blocks that would fit as well when the choice was a guess.
    pub read_as: Option<(SnippetContext, Vec<SnippetContext>)>,
    /// With [`LoadOptions::keep_going`]: the errors after the first, in the
    /// order they were met.
    pub later_errors: Vec<ConfError>,
    /// With [`LoadOptions::keep_going`]: the files an `include` names that
    /// could not be read (a glob matching nothing is not one, as in nginx).
    pub unread: Vec<UnreadInclude>,
    /// With [`LoadOptions::keep_going`]: the glob includes that matched no
    /// file (no error, as in nginx; the linter looks for them elsewhere).
    pub empty_globs: Vec<UnreadInclude>,
}

/// A file an `include` names that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadInclude {
    /// The include's argument.
    pub span: Span,
    /// The file, as nginx names it (before `--root`).
    pub path: PathBuf,
}

impl Loaded {
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// nginx has no include-cycle check; it recurses until open() fails with
/// EMFILE. We stop a cycle at once and report that same error.
const MAX_INCLUDE_DEPTH: usize = 200;

/// Loads and checks a configuration like `nginx -t`.
pub fn load(options: &LoadOptions) -> Loaded {
    let mut loader = Loader {
        options,
        config: Config::default(),
        warnings: Vec::new(),
        loaded_modules: HashSet::new(),
        include_stack: Vec::new(),
        semantics: Semantics::new(options),
        read_as: None,
        errors: Vec::new(),
        unread: Vec::new(),
        empty_globs: Vec::new(),
        pragma_levels: vec![pragma::Level::default()],
    };
    let result = loader.run();
    let carried = loader.semantics.take_carried_warnings();
    loader.warnings.extend(carried);
    let mut errors = loader.errors.into_iter();
    let first = errors.next();
    let mut later_errors: Vec<ConfError> = errors.collect();
    let error = match (first, result) {
        (None, result) => result.err(),
        (Some(first), result) => {
            later_errors.extend(result.err());
            Some(first)
        }
    };
    Loaded {
        config: loader.config,
        warnings: loader.warnings,
        error,
        read_as: loader.read_as,
        later_errors,
        unread: loader.unread,
        empty_globs: loader.empty_globs,
    }
}

/// Parses one file on its own, without includes or checks (for `fmt` and
/// syntax-only tools).
pub fn parse_file(path: &Path, text: Vec<u8>) -> Config {
    let mut config = Config::default();
    let id = config.sources.add(SourceFile::new(path, text));
    let parsed = parser::parse(&config.sources.get(id).text.clone(), id);
    config.files.push(ConfFile {
        block: parsed.block,
        error: parsed.error,
        context: None,
    });
    config
}

struct Loader<'o> {
    options: &'o LoadOptions,
    config: Config,
    warnings: Vec<ConfError>,
    /// Dynamic modules loaded with `load_module` (by file name).
    loaded_modules: HashSet<String>,
    include_stack: Vec<PathBuf>,
    semantics: Semantics,
    read_as: Option<(SnippetContext, Vec<SnippetContext>)>,
    /// The errors recorded with `keep_going`, in order.
    errors: Vec<ConfError>,
    unread: Vec<UnreadInclude>,
    empty_globs: Vec<UnreadInclude>,
    /// The pragmas seen in each open block, innermost last (an include
    /// reads into the block it stands in).
    pragma_levels: Vec<pragma::Level>,
}

impl Loader<'_> {
    /// Where nginx stops: with `keep_going`, the error is recorded and the
    /// caller reads on.
    fn recover(&mut self, result: Result<(), ConfError>) -> Result<(), ConfError> {
        match result {
            Err(e) if self.options.keep_going => {
                self.errors.push(e);
                Ok(())
            }
            result => result,
        }
    }

    fn run(&mut self) -> Result<(), ConfError> {
        let conf_path = full_name(&self.options.prefix, &self.options.conf_file);
        let conf_prefix = conf_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        self.semantics.set_conf_prefix(conf_prefix);
        if let Some(globals) = &self.options.globals {
            self.check_globals(globals)?;
        }
        let main = match self.read_file(&conf_path, None) {
            Ok(main) => main,
            Err(e) if self.options.keep_going => {
                // An empty file in its place, so that the error has a file
                // to point at.
                let id = self
                    .config
                    .sources
                    .add(SourceFile::new(&conf_path, Vec::new()));
                self.config.files.push(ConfFile::default());
                self.config.main = id;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.config.main = main;
        let read_as = match self.options.context {
            ContextChoice::Fixed(SnippetContext::Main) => None,
            ContextChoice::Fixed(ctx) => Some((ctx, Vec::new())),
            ContextChoice::Detect => {
                match snippet::detect_block(&self.config.files[main.index()].block) {
                    Detected::MainFile => None,
                    Detected::Snippet(ctx) => Some((ctx, Vec::new())),
                    Detected::Ambiguous { best, also } => Some((best, also)),
                }
            }
        };
        match read_as {
            None => {
                let walked = self.walk_file(main, BlockKind::Main);
                self.recover(walked)?;
            }
            Some((ctx, _)) => {
                self.read_as = read_as.clone();
                let root = snippet::conf_root(&self.options.fs, &conf_path);
                self.semantics.set_conf_prefix(root.clone());
                let wrapper = root.join(format!("<{} snippet wrapper>", ctx.name()));
                let id = self.config.sources.add(SourceFile::new(
                    wrapper,
                    ctx.wrapper(&conf_path).into_bytes(),
                ));
                let parsed = parser::parse(&self.config.sources.get(id).text.clone(), id);
                self.config.files.push(ConfFile {
                    block: parsed.block,
                    error: parsed.error,
                    context: Some(BlockKind::Main),
                });
                // The snippet is read again through the wrapper's include.
                self.config.files[main.index()] = ConfFile::default();
                self.config.main = id;
                let walked = self.walk_file(id, BlockKind::Main);
                self.recover(walked)?;
            }
        }
        match self.semantics.finish_main(&self.config) {
            Ok(warnings) => self.warnings.extend(warnings),
            Err(e) => self.recover(Err(e))?,
        }
        Ok(())
    }

    /// `-g`: parsed like a file, reported as `in command line`.
    fn check_globals(&mut self, globals: &str) -> Result<(), ConfError> {
        let id = self.config.sources.add(SourceFile::new(
            "<command line>",
            globals.as_bytes().to_vec(),
        ));
        let parsed = parser::parse(globals.as_bytes(), id);
        let to_command_line = |mut e: ConfError| {
            if e.message == "unexpected end of file, expecting \";\" or \"}\"" {
                e.message = "unexpected end of parameter, expecting \";\"".into();
            }
            e.position = Position::CommandLine;
            e
        };
        if parsed.block.directives().any(|d| d.block.is_some()) {
            return Err(to_command_line(ConfError::emerg(
                "block directives are not supported in -g option",
                Span::default(),
                0,
            )));
        }
        self.config.files.push(ConfFile {
            block: parsed.block,
            error: parsed.error,
            context: Some(BlockKind::Main),
        });
        self.config.globals = Some(id);
        self.walk_file(id, BlockKind::Main).map_err(to_command_line)
    }

    /// Reads and parses a file; `from` is the include directive's span.
    fn read_file(&mut self, path: &Path, from: Option<(Span, u32)>) -> Result<FileId, ConfError> {
        let open_failed = |err: &std::io::Error| {
            let message = format!("open() \"{}\" failed {}", path.display(), errno_text(err));
            match from {
                Some((span, line)) => ConfError::emerg(message, span, line),
                None => ConfError::unplaced(message, None),
            }
        };
        if self.include_stack.len() >= MAX_INCLUDE_DEPTH
            || (from.is_some() && self.include_stack.iter().any(|p| p == path))
        {
            let emfile = std::io::Error::from_raw_os_error(24);
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .chain(std::iter::once(&path.to_path_buf()))
                .map(|p| p.display().to_string())
                .collect();
            return Err(open_failed(&emfile).with_help(format!(
                "include cycle: {} (nginx recurses until it runs out of file descriptors)",
                chain.join(" -> ")
            )));
        }
        let text = match self.options.fs.read(path) {
            Ok(text) => text,
            Err(err) if err.raw_os_error() == Some(21) => {
                let message = format!("pread() \"{}\" failed {}", path.display(), errno_text(&err));
                return Err(match from {
                    Some((span, line)) => ConfError::emerg(message, span, line),
                    None => ConfError::unplaced(message, None),
                });
            }
            Err(err) => return Err(open_failed(&err)),
        };
        // A file placed by --with-main is shown under its real name.
        let shown = match self
            .options
            .fs
            .overlay
            .iter()
            .find(|(seen, _)| seen == path)
        {
            Some((_, real)) => real.as_path(),
            None => path,
        };
        let id = self.config.sources.add(SourceFile::new(shown, text));
        let source = self.config.sources.get(id).text.clone();
        let parsed = parser::parse(&source, id);
        self.config.files.push(ConfFile {
            block: parsed.block,
            error: parsed.error,
            context: None,
        });
        Ok(id)
    }

    fn walk_file(&mut self, id: FileId, context: BlockKind) -> Result<(), ConfError> {
        let path = self.config.sources.path(id).to_path_buf();
        self.include_stack.push(path);
        let file = &mut self.config.files[id.index()];
        file.context.get_or_insert(context);
        let mut block = std::mem::take(&mut file.block);
        let error = file.error.clone();
        let result = self
            .walk_nodes(&mut block, context)
            .and_then(|()| match error {
                Some(e) => Err(syntax_error(e)),
                None => Ok(()),
            });
        self.config.files[id.index()].block = block;
        self.include_stack.pop();
        result
    }

    fn walk_nodes(&mut self, block: &mut Block, context: BlockKind) -> Result<(), ConfError> {
        for node in &mut block.nodes {
            match node {
                Node::Directive(directive) => {
                    for comment in &directive.inner_comments {
                        self.pragma(comment, context)?;
                    }
                    let result = self.directive(directive, context);
                    self.recover(result)?;
                }
                Node::Comment(comment) => self.pragma(comment, context)?,
            }
        }
        Ok(())
    }

    /// upgate's `# upgate:` pragmas: nginx skips comments, upgate checks
    /// them as directives of the block (see [`pragma`]).
    fn pragma(&mut self, comment: &Comment, context: BlockKind) -> Result<(), ConfError> {
        let Some(level) = self.pragma_levels.last_mut() else {
            return Ok(());
        };
        for e in level.check(comment, context) {
            self.recover(Err(e.by_upgate()))?;
        }
        Ok(())
    }

    /// `ngx_conf_handler` for one directive, then its handler.
    fn directive(&mut self, d: &mut Directive, context: BlockKind) -> Result<(), ConfError> {
        if let BlockKind::Handler(kind) = context {
            if d.is("include") && self.semantics.handler_block_allows_include(kind) {
                return self.include(d, context);
            }
            let warnings = self.semantics.handler_line(kind, d, &self.config.sources)?;
            self.warnings.extend(warnings);
            return Ok(());
        }
        let (module_type, cmd_type) = context.nginx_context();
        let mut found = false;
        let entries = directives::lookup(&d.name.value);
        for spec in candidates(entries, self.options.release) {
            if !self.module_enabled(spec) {
                continue;
            }
            found = true;
            let spec_type = spec.module().module_type;
            if spec_type != ModuleType::Conf && spec_type != module_type {
                continue;
            }
            if spec.flags & cmd_type == 0 {
                continue;
            }
            let has_block = d.block.is_some();
            if !spec.is_block() && has_block {
                return Err(at_end(
                    d,
                    format!("directive \"{}\" is not terminated by \";\"", d.name),
                ));
            }
            if spec.is_block() && !has_block {
                return Err(at_end(
                    d,
                    format!("directive \"{}\" has no opening \"{{\"", d.name),
                ));
            }
            if !spec.accepts_arg_count(d.args.len()) {
                return Err(at_end(
                    d,
                    format!("invalid number of arguments in \"{}\" directive", d.name),
                ));
            }
            return self.run_handler(spec, d, context);
        }
        let message = if found {
            format!("\"{}\" directive is not allowed here", d.name)
        } else {
            format!("unknown directive \"{}\"", d.name)
        };
        Err(ConfError::emerg(message, d.name.span, d.end_line))
    }

    fn module_enabled(&self, spec: &DirectiveSpec) -> bool {
        match spec.module().build {
            Build::Static => true,
            Build::Dynamic(file) => self.loaded_modules.contains(file),
            Build::Absent => false,
        }
    }

    fn run_handler(
        &mut self,
        spec: &'static DirectiveSpec,
        d: &mut Directive,
        context: BlockKind,
    ) -> Result<(), ConfError> {
        if d.is("include") && spec.module().module_type == ModuleType::Conf {
            return self.include(d, context);
        }
        if d.is("load_module") && spec.flags & flags::MAIN_CONF != 0 {
            self.load_module(d)?;
        }
        let warnings = self
            .semantics
            .directive(spec, d, context, &self.config.sources)?;
        self.warnings.extend(warnings);
        if let Some(block) = d.block.as_mut() {
            let inner = BlockKind::opened_by(context, &d.name.value);
            if !parser::is_lua_block(&d.name) {
                self.pragma_levels.push(pragma::Level::default());
                let walked = self.walk_nodes(block, inner);
                self.pragma_levels.pop();
                walked?;
            }
            if block.close.is_some() {
                match self.semantics.leave_block(inner, d, &self.config) {
                    Ok(warnings) => self.warnings.extend(warnings),
                    Err(e) => self.recover(Err(e))?,
                }
            }
        }
        Ok(())
    }

    /// `load_module`: makes a dynamic module's directives known.
    fn load_module(&mut self, d: &Directive) -> Result<(), ConfError> {
        let Some(arg) = d.args.first() else {
            return Ok(());
        };
        let text = arg.text();
        let file = text.rsplit('/').next().unwrap_or(&text).to_string();
        let known = directives::MODULES
            .iter()
            .any(|m| matches!(m.build, Build::Dynamic(f) if f == file));
        if !known && self.options.check_environment {
            let path = full_name(&self.options.prefix, Path::new(text.as_ref()));
            return Err(at_end(
                d,
                format!(
                    "dlopen() \"{}\" failed ({}: cannot open shared object file: No such file or directory)",
                    path.display(),
                    path.display()
                ),
            ));
        }
        self.loaded_modules.insert(file);
        Ok(())
    }

    /// `ngx_conf_include`: the files are read and walked where the include
    /// stands, in the same block.
    fn include(&mut self, d: &mut Directive, context: BlockKind) -> Result<(), ConfError> {
        let Some(arg) = d.args.first() else {
            return Err(at_end(
                d,
                "invalid number of arguments in \"include\" directive".into(),
            ));
        };
        if d.args.len() != 1 {
            return Err(at_end(
                d,
                "invalid number of arguments in \"include\" directive".into(),
            ));
        }
        let name = PathBuf::from(arg.text().as_ref());
        let path = full_name(self.semantics.conf_prefix(), &name);
        let arg_span = arg.span;
        let from = Some((arg_span, d.end_line));
        let paths = if has_glob(path.as_os_str().as_encoded_bytes()) {
            match self.options.fs.glob(&path) {
                Ok(paths) => {
                    if paths.is_empty() && self.options.keep_going {
                        self.empty_globs.push(UnreadInclude {
                            span: arg_span,
                            path: path.clone(),
                        });
                    }
                    paths
                }
                Err(_) => {
                    return Err(at_end(
                        d,
                        format!(
                            "glob() \"{}\" failed (22: Invalid argument)",
                            path.display()
                        ),
                    ));
                }
            }
        } else {
            vec![path]
        };
        for path in paths {
            let id = match self.read_file(&path, from) {
                Ok(id) => id,
                Err(e) => {
                    if self.options.keep_going {
                        self.unread.push(UnreadInclude {
                            span: arg_span,
                            path: path.clone(),
                        });
                    }
                    self.recover(Err(e))?;
                    continue;
                }
            };
            d.includes.push(id);
            let walked = self.walk_file(id, context);
            self.recover(walked)?;
        }
        Ok(())
    }
}

/// An error reported at the directive's terminator line, underlining its
/// name and arguments.
pub(crate) fn at_end(d: &Directive, message: String) -> ConfError {
    ConfError::emerg(message, d.head_span(), d.end_line)
}

fn syntax_error(e: SyntaxError) -> ConfError {
    ConfError {
        level: Level::Emerg,
        ..ConfError::emerg(e.message, e.span, e.span.line)
    }
}

#[cfg(test)]
mod tests {
    //! `LoadOptions::release`: each release's table decides, as that nginx's
    //! `ngx_conf_handler` would (facts checked in nginx's source at the tags).

    use super::*;

    /// Loads a whole nginx.conf whose `http {}` holds `http`, as `release`
    /// would; the error as nginx words it (after `[emerg] `), or "ok".
    fn load_http(name: &str, http: &str, release: Option<Release>) -> String {
        let dir = std::env::temp_dir().join(format!(
            "upgate-release-{}-{name}-{}",
            std::process::id(),
            release.map_or("all", Release::series)
        ));
        let file = dir.join("nginx.conf");
        let text = format!("events {{}}\nhttp {{\n{http}\n}}\n");
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, text)) {
            panic!("cannot write {}: {e}", file.display());
        }
        let mut options = LoadOptions::new(&file);
        options.check_environment = false;
        options.release = release;
        let loaded = load(&options);
        let _ = std::fs::remove_dir_all(&dir);
        match &loaded.error {
            Some(error) => error.nginx_text(&loaded.config.sources).to_string(),
            None => "ok".to_owned(),
        }
    }

    /// [`load_http`] with `server` inside one `server {}`.
    fn verdict(name: &str, server: &str, release: Option<Release>) -> String {
        load_http(name, &format!(" server {{\n{server}\n }}"), release)
    }

    fn each_release(name: &str, server: &str) -> Vec<String> {
        Release::ALL
            .into_iter()
            .map(|r| verdict(name, server, Some(r)))
            .collect()
    }

    #[test]
    fn http2_directive_is_unknown_before_1_26() {
        // ngx_http_v2_module got `http2` in 1.25.1.
        let server = "  listen 8080;\n  http2 on;";
        let v = each_release("http2", server);
        for old in &v[..2] {
            assert!(
                old.starts_with("unknown directive \"http2\" in ") && old.ends_with("nginx.conf:5"),
                "{old}"
            );
        }
        assert_eq!(v[2..], ["ok", "ok"]);
        assert_eq!(verdict("http2", server, None), "ok");
        // The listen parameter stays valid in every release.
        let listen =
            "  listen 8443 ssl http2;\n  ssl_certificate /c.pem;\n  ssl_certificate_key /k.pem;";
        assert_eq!(each_release("listen-http2", listen), ["ok"; 4]);
    }

    #[test]
    fn ssl_directive_is_unknown_from_1_26() {
        // ngx_http_ssl_module dropped `ssl` (deprecated since 1.15.0) in 1.25.1.
        let server =
            "  listen 8443;\n  ssl on;\n  ssl_certificate /c.pem;\n  ssl_certificate_key /k.pem;";
        let v = each_release("ssl", server);
        assert_eq!(v[..2], ["ok", "ok"]);
        for new in &v[2..] {
            assert!(
                new.starts_with("unknown directive \"ssl\" in ") && new.ends_with("nginx.conf:5"),
                "{new}"
            );
        }
        // Without a release, the union: 1.22's entry still knows it.
        assert_eq!(verdict("ssl", server, None), "ok");
    }

    #[test]
    fn contexts_are_the_releases_own() {
        // `resolver` exists in http/server/location everywhere; 1.28 added
        // it to upstream {} too, so 1.26 finds the name but not the context.
        let http = " upstream u {\n  server 127.0.0.1:1;\n  resolver 127.0.0.1;\n }";
        let old = load_http("ups", http, Some(Release::V1_26));
        let new = load_http("ups", http, Some(Release::V1_28));
        let union = load_http("ups", http, None);
        assert!(
            old.starts_with("\"resolver\" directive is not allowed here in ")
                && old.ends_with("nginx.conf:5"),
            "{old}"
        );
        assert_eq!((new.as_str(), union.as_str()), ("ok", "ok"));
    }
}
