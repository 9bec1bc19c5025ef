//! upgate-proxy: the engine. Tokio listeners, TLS, HTTP/1.1 on the client
//! and upstream sides (an own codec over httparse, byte-exact with nginx),
//! the upstream connection pool, the WebSocket tunnel with nginx's timers,
//! access and error logs, reload and graceful shutdown.
//!
//! It serves the tables compiled by `upgate-runtime` and holds them behind
//! one atomic pointer that reload swaps. This crate is filled by the engine
//! work; it serves nothing yet.
