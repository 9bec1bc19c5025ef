//! upgate-lint: syntax tree -> findings about what breaks WebSockets behind
//! an nginx configuration (a missing `$connection_upgrade` map, Upgrade and
//! Connection headers lost to proxy_set_header inheritance, HTTP/1.0 to the
//! upstream, idle tunnels cut by proxy_read_timeout, ...).
//!
//! It reads the tree built by `upgate-conf` and will ask `upgate-runtime` how
//! a directive resolves after inheritance. One module per rule, with a stable
//! id, a severity, the span of the offending directive and, where the fix is
//! certain, an edit the printer can apply. This crate is filled by the lint
//! work (see the project's issues); it holds no rules yet.
