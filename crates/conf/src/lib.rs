//! upgate-conf: nginx configuration text -> syntax tree, checked like `nginx -t`.
//!
//! The first stage of upgate (bytes -> **conf** -> runtime -> proxy). It reads
//! nginx configuration files exactly as nginx reads them (`ngx_conf_file.c`):
//! the same tokens, the same `include` order, the same checks of directive
//! names, contexts and argument counts against a table generated from nginx's
//! own source, and the value checks of the directives upgate serves. Errors
//! carry nginx's message and line, plus a span for a caret.
//!
//! It does no I/O beyond reading configuration files, and leaves meaning to
//! `upgate-runtime` and judgement to `upgate-lint`.
//!
//! ```
//! use upgate_conf::{load, LoadOptions};
//! let dir = std::env::temp_dir().join(format!("upgate-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("nginx.conf"), "events {}\nhttp { server { listen 8080; } }\n").unwrap();
//! let loaded = load(&LoadOptions::new(dir.join("nginx.conf")));
//! assert!(loaded.is_ok());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

pub mod ast;
pub mod context;
pub mod crossplane;
pub mod directives;
pub mod enforcement;
pub mod error;
pub mod fs;
mod handlers;
pub mod lexer;
pub mod load;
pub mod parser;
pub mod pragma;
pub mod printer;
pub mod snippet;
pub mod span;
pub mod syntax;

pub use ast::{Block, Comment, Directive, Node, Quote, Word};
pub use context::BlockKind;
pub use error::{ConfError, Level, Phase, Position};
/// nginx's value grammars (sizes, offsets, times, numbers), for the later
/// stages that read the same values.
pub use handlers::values;
/// nginx's built-in and prefix variables (http and stream).
pub use handlers::variables;
pub use load::{
    ConfFile, Config, ContextChoice, LoadOptions, Loaded, UnreadInclude, load, parse_file,
};
pub use snippet::SnippetContext;
pub use span::{FileId, SourceFile, SourceMap, Span};
