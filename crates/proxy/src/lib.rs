//! upgate-proxy: the engine. It serves the tables compiled by
//! `upgate-runtime` (bytes -> conf -> runtime -> **proxy**): tokio listeners,
//! TLS, HTTP/1.1 on the client and upstream sides, the upstream connection
//! pool, the WebSocket tunnel with nginx's timers, access and error logs,
//! reload and graceful shutdown.
//!
//! Two layers:
//!
//! - The protocol layer, independent of routing: [`http1`] (the HTTP/1.x
//!   codec, byte-exact with nginx: client request heads with nginx's
//!   rejections and limits, body framing, the upstream request writer,
//!   upstream response heads with the 1.23+ rules, the client response head
//!   in nginx's order, nginx's error pages) and [`tunnel`] (the byte pipe
//!   after a 101, with nginx's timers and no buffer held while idle).
//! - Serving: [`serve`] binds the listen addresses and runs until a signal;
//!   [`connection`] is the client connection's state machine; [`dispatch`]
//!   asks the runtime what a request gets; [`proxy`] and [`upstream`] talk to
//!   the peers the balancers pick (connect, keepalive pool, next upstream);
//!   [`static_file`] is nginx's static module, with the [`not_modified`]
//!   and [`range`] filters, and answers the runtime's file tests (try_files,
//!   index, `if (-f ...)`); [`relay`] streams responses; [`reload`] swaps the tables behind one
//!   atomic pointer without cutting live tunnels; [`access_log`] and
//!   [`error_log`] write nginx's formats. [`settings`] and [`tables`] adapt
//!   the runtime's tables to what the engine reads per request.
//!
//! TLS listeners are not served yet (see testdata/conformance/known.md).

pub mod access_log;
mod auth_request;
pub mod client;
pub mod connection;
pub mod dispatch;
pub mod error_log;
pub mod exporter;
pub mod http1;
mod io_timeout;
pub mod listener;
pub mod master;
pub mod metrics;
pub mod not_modified;
pub mod privileges;
pub mod process;
pub mod proxy;
pub mod proxy_protocol;
pub mod range;
pub mod relay;
pub mod reload;
pub mod request_body;
pub mod respond;
pub mod response_head;
pub mod serve;
pub mod server;
pub mod settings;
pub mod static_file;
pub mod stats;
pub mod tables;
pub mod tls;
pub mod tunnel;
pub mod upgraded;
pub mod upstream;
