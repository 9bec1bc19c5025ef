//! upgate-runtime: syntax tree -> compiled, immutable tables the engine
//! consults for every request: listeners, server_name lookup, the location
//! tree, maps and variables, upstream request headers with nginx's
//! inheritance resolved, upstream groups and their balancers (round robin,
//! ip_hash, hash, consistent hash, least_conn), timeouts.
//!
//! Pure: no sockets and no clocks (time is passed in), so every rule can be
//! unit-tested and fuzzed. Input comes from `upgate-conf`; `upgate-proxy`
//! serves with the result; `upgate route` explains a request with it.
//!
//! # A tour
//!
//! - [`Runtime::compile`] (`compile.rs`, `build.rs`, `conf.rs`) walks the
//!   tree once: variables the configuration defines, the `http` level,
//!   each `server` and its location tree with every level's settings merged
//!   the way nginx merges them.
//! - [`Runtime::process`] (`request.rs`) runs nginx's phases for one
//!   [`ClientRequest`]: the request-target (`uri.rs`), the Host
//!   (`server_name.rs`), the address:port entry (`listen.rs`) and server
//!   (`server.rs`), the server-rewrite phase, the location (`location.rs`),
//!   the rewrite phases (`rewrite.rs`, `script.rs`), try_files
//!   (`try_files.rs`) and index (`index.rs`) with root/alias mapping
//!   (`root.rs`) and the file tests behind [`files::Files`], internal
//!   redirects and named locations, error pages (`error_page.rs`), and
//!   decides the [`Outcome`]: a response nginx makes itself, a proxied
//!   request, or a file for the static module.
//! - For a proxied request, [`Request::upstream_request`] (`headers.rs`,
//!   `proxy_pass.rs`) gives the exact head nginx writes upstream;
//!   variables evaluate lazily with a per-request cache (`eval.rs`,
//!   `variable.rs`, `map.rs`).
//! - [`Runtime::explain`] (`explain.rs`, `websocket.rs`, `settings.rs`)
//!   turns all of it into data for `upgate route`.
//!
//! Regexes (`regex.rs`) use the `regex` crate on bytes with PCRE's ASCII
//! semantics; the PCRE-only syntax it refuses (look-around,
//! backreferences) compiles with `fancy-regex` instead, so every
//! configuration nginx loads also loads here. What is not reproduced is
//! listed in testdata/route/known.md.
//!
//! ```
//! use std::net::SocketAddr;
//! use upgate_conf::{LoadOptions, load};
//! use upgate_runtime::{ClientRequest, Header, Outcome, Runtime};
//!
//! let dir = std::env::temp_dir().join(format!("upgate-runtime-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let conf = dir.join("nginx.conf");
//! std::fs::write(&conf, "events {}\nhttp { server { listen 8080;
//!     location /ws/ { proxy_pass http://127.0.0.1:9000; proxy_http_version 1.1;
//!         proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; } } }\n").unwrap();
//! let loaded = load(&LoadOptions::new(&conf));
//! let rt = Runtime::compile(&loaded.config).unwrap();
//!
//! let client: SocketAddr = "10.0.0.1:50000".parse().unwrap();
//! let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
//! let mut req = ClientRequest::new(b"GET", b"/ws/chat", client, local);
//! req.headers = vec![
//!     Header { name: b"Host", value: b"example.com" },
//!     Header { name: b"Upgrade", value: b"websocket" },
//! ];
//! let mut r = rt.process(&req);
//! assert_eq!(r.outcome, Outcome::Proxy);
//! let head = r.upstream_request().unwrap().to_bytes();
//! assert_eq!(
//!     String::from_utf8(head).unwrap(),
//!     "GET /ws/chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nHost: 127.0.0.1:9000\r\n\r\n"
//! );
//! # std::fs::remove_dir_all(&dir).ok();
//! ```

pub mod access;
pub mod access_phase;
pub mod auth_basic;
mod build;
pub mod compile;
pub mod conf;
pub mod error;
pub mod error_page;
pub mod eval;
pub mod explain;
pub mod files;
pub mod headers;
pub mod index;
pub mod limit_conn;
pub mod limit_req;
pub mod listen;
pub mod location;
pub mod map;
pub mod pragmas;
pub mod proxy_pass;
pub mod proxy_protocol;
pub mod realip;
pub mod referer;
pub mod regex;
pub mod request;
pub mod rewrite;
pub mod root;
mod script;
pub mod server;
pub mod server_name;
pub mod settings;
pub mod sockaddr;
pub mod ssl;
pub mod timeouts;
pub mod try_files;
pub mod upstream;
pub mod uri;
pub mod variable;
pub mod websocket;
pub mod zone;

#[cfg(test)]
mod test_support;

pub use compile::{CompileOptions, RegexCache, Runtime};
pub use error::CompileError;
pub use explain::Explanation;
pub use location::LocationId;
pub use request::{ClientRequest, ClientVersion, Header, Outcome, Request, Response};
pub use server::ServerId;
