//! upgate-runtime: syntax tree -> compiled, immutable tables the engine
//! consults for every request: listeners, server_name lookup, the location
//! tree, maps and variables, upstream request headers with nginx's
//! inheritance resolved, upstream groups and their balancers (round robin,
//! ip_hash, hash, consistent hash, least_conn), timeouts.
//!
//! Pure: no sockets and no clocks (time is passed in), so every rule can be
//! unit-tested and fuzzed. Input comes from `upgate-conf`; `upgate-proxy`
//! serves with the result. This crate is filled by the runtime work; it holds
//! no tables yet.
