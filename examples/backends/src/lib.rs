//! Backends for upgate's examples and tests, behaving like the WebSocket
//! servers behind the configs our users run (Node's `ws`, Socket.IO,
//! Python's `websockets`): strict about the opening handshake of RFC 6455,
//! so that a proxy that drops `Upgrade` or `Connection` fails the way it
//! fails in production.
//!
//! - [`websocket`]: the handshake rules and a WebSocket echo / chat room.
//! - [`recorder`]: a plain HTTP backend that keeps the exact bytes of every
//!   request it receives, for byte-exact comparisons with nginx.
//!
//! Everything listens on a socket the caller binds (tests bind
//! `127.0.0.1:0`), runs until the task is dropped, and never panics on what
//! a client sends.

pub mod head;
pub mod recorder;
pub mod websocket;
