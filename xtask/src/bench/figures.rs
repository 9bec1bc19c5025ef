//! The figures of issue 13's table and the rows added since (2 workers,
//! TLS, access control, the parser's other inputs): what each measures, in
//! which unit, the goal for upgate / nginx, and which subset of the harness
//! makes it. One table, so that the run, the report and the chart agree on
//! names and order.

use serde::{Deserialize, Serialize};

/// Which part of the harness makes a figure; `bench tls|access|parse`
/// run only theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Plain HTTP through the 1-worker servers.
    Http,
    /// WebSocket echo and handshakes through the 1-worker servers.
    Ws,
    /// Idle plain WebSocket tunnels.
    Tunnels,
    /// `-t` on the 5,000-server file.
    Check,
    /// `-t` on the split files and `parse` against crossplane (bench parse
    /// only: crossplane alone takes longer than a quick run).
    CheckExtra,
    /// HTTP with `worker_processes 2`, unpinned.
    Workers,
    /// TLS handshakes, wss echo and idle wss tunnels.
    Tls,
    /// The guarded location (allow/deny, limit_req, auth_basic).
    Access,
    /// WebSocket echo through the location with `# upgate:` pragmas.
    Pragmas,
}

/// What upgate / nginx should be: at least or at most `value`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub op: Op,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<=")]
    AtMost,
}

impl Goal {
    pub fn met(&self, ratio: f64) -> bool {
        match self.op {
            Op::AtLeast => ratio >= self.value,
            Op::AtMost => ratio <= self.value,
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            Op::AtLeast => "≥",
            Op::AtMost => "≤",
        };
        // 1.0 and 0.25 as the issue writes them (Display of f64 gives "1").
        let mut v = format!("{:.2}", self.value);
        if v.ends_with('0') {
            v.pop();
        }
        write!(f, "{op} {v}")
    }
}

/// One row of the report.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub id: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub goal: Option<Goal>,
    pub group: Group,
}

const fn at_least(value: f64) -> Option<Goal> {
    Some(Goal {
        op: Op::AtLeast,
        value,
    })
}

const fn at_most(value: f64) -> Option<Goal> {
    Some(Goal {
        op: Op::AtMost,
        value,
    })
}

const fn figure(
    id: &'static str,
    name: &'static str,
    unit: &'static str,
    goal: Option<Goal>,
    group: Group,
) -> Figure {
    Figure {
        id,
        name,
        unit,
        goal,
        group,
    }
}

pub const HTTP: &str = "http";
pub const HTTP_CPU: &str = "http_cpu";
pub const WS_64: &str = "ws64";
pub const WS_64_CPU: &str = "ws64_cpu";
pub const WS_16K: &str = "ws16k";
pub const HANDSHAKES: &str = "handshakes";
pub const HANDSHAKES_CPU: &str = "handshakes_cpu";
pub const IDLE_TUNNEL: &str = "idle_tunnel";
pub const CHECK_TIME: &str = "check_time";
pub const CHECK_MEMORY: &str = "check_memory";
pub const CHECK_SPLIT_TIME: &str = "check_split_time";
pub const CHECK_SPLIT_MEMORY: &str = "check_split_memory";
pub const PARSE_CROSSPLANE: &str = "parse_crossplane";
pub const HTTP_2W: &str = "http_2w";
pub const TLS_ECDSA: &str = "tls_ecdsa";
pub const TLS_RSA: &str = "tls_rsa";
pub const WSS_64: &str = "wss64";
pub const WSS_16K: &str = "wss16k";
pub const WSS_IDLE: &str = "wss_idle";
pub const HTTP_GUARDED: &str = "http_guarded";
pub const HANDSHAKES_GUARDED: &str = "handshakes_guarded";
pub const WS_64_PRAGMAS: &str = "ws64_pragmas";
pub const WS_16K_PRAGMAS: &str = "ws16k_pragmas";

/// The rows in the table's order. Goals: issue 13's for its own rows;
/// 1.0 where it names none (TLS and access, as their benches had, and
/// the 2-worker row, which shows scaling); the parser's other inputs
/// share the `-t` goals; crossplane is a reference, not a target. Kept
/// one row a line: a table reads better than rustfmt's seven lines each.
#[rustfmt::skip]
pub const FIGURES: [Figure; 23] = [
    figure(HTTP, "HTTP GET keepalive, 50 conns", "req/s", at_least(1.0), Group::Http),
    figure(HTTP_CPU, "HTTP GET, per proxy CPU-second", "req/CPU-s", at_least(1.2), Group::Http),
    figure(WS_64, "WS echo 64 B, 50 conns", "msg/s", at_least(1.1), Group::Ws),
    figure(WS_64_CPU, "WS echo 64 B, per proxy CPU-second", "msg/CPU-s", at_least(1.2), Group::Ws),
    figure(WS_16K, "WS echo 16 KiB, 50 conns", "msg/s", at_least(2.0), Group::Ws),
    figure(HANDSHAKES, "WS handshakes, 50 clients", "handshakes/s", at_least(1.2), Group::Ws),
    figure(HANDSHAKES_CPU, "WS handshakes, per proxy CPU-second", "handshakes/CPU-s", at_least(1.2), Group::Ws),
    figure(IDLE_TUNNEL, "bytes per idle WS tunnel", "bytes", at_most(0.2), Group::Tunnels),
    figure(CHECK_TIME, "-t on the 5,000-server config, time", "s", at_most(0.1), Group::Check),
    figure(CHECK_MEMORY, "-t on the 5,000-server config, peak RSS", "MB", at_most(0.25), Group::Check),
    figure(CHECK_SPLIT_TIME, "-t on 5,000 included files, time", "s", at_most(0.1), Group::CheckExtra),
    figure(CHECK_SPLIT_MEMORY, "-t on 5,000 included files, peak RSS", "MB", at_most(0.25), Group::CheckExtra),
    figure(PARSE_CROSSPLANE, "parse to JSON (nginx column: crossplane)", "s", None, Group::CheckExtra),
    figure(HTTP_2W, "HTTP GET, worker_processes 2, unpinned", "req/s", at_least(1.0), Group::Workers),
    figure(TLS_ECDSA, "TLS 1.3 full handshakes, ECDSA P-256", "handshakes/s", at_least(1.0), Group::Tls),
    figure(TLS_RSA, "TLS 1.3 full handshakes, RSA 2048", "handshakes/s", at_least(1.0), Group::Tls),
    figure(WSS_64, "wss echo 64 B", "msg/s", at_least(1.0), Group::Tls),
    figure(WSS_16K, "wss echo 16 KiB", "msg/s", at_least(1.0), Group::Tls),
    figure(WSS_IDLE, "bytes per idle wss tunnel", "bytes", at_most(0.5), Group::Tls),
    figure(HTTP_GUARDED, "HTTP GET, allow/deny + limit_req + auth_basic", "req/s", at_least(1.0), Group::Access),
    figure(HANDSHAKES_GUARDED, "WS handshakes, allow/deny + limit_req + auth_basic", "handshakes/s", at_least(1.0), Group::Access),
    figure(WS_64_PRAGMAS, "WS echo 64 B, upgate pragmas on (frame-aware)", "msg/s", at_least(1.1), Group::Pragmas),
    figure(WS_16K_PRAGMAS, "WS echo 16 KiB, upgate pragmas on (frame-aware)", "msg/s", at_least(1.1), Group::Pragmas),
];

/// The groups each command runs.
pub fn groups(subset: Option<&str>) -> Result<&'static [Group], String> {
    use Group::*;
    match subset {
        None => Ok(&[Http, Ws, Tunnels, Check, Workers, Tls, Access, Pragmas]),
        Some("parse") => Ok(&[Check, CheckExtra]),
        Some("tls") => Ok(&[Tls]),
        // The plain rows beside the guarded ones: what the guard costs.
        Some("access") => Ok(&[Http, Ws, Access]),
        // The plain WebSocket rows beside the frame-aware ones.
        Some("pragmas") => Ok(&[Ws, Pragmas]),
        // One group alone, for working on one figure.
        Some("http") => Ok(&[Http]),
        Some("ws") => Ok(&[Ws]),
        Some("tunnels") => Ok(&[Tunnels]),
        Some(other) => Err(format!(
            "unknown benchmark {other:?} (known: parse, tls, access, pragmas, http, ws, tunnels; none for all)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = FIGURES.iter().map(|f| f.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), FIGURES.len());
    }

    #[test]
    fn every_group_is_run_by_some_command() {
        let run: Vec<Group> = [None, Some("parse"), Some("tls"), Some("access")]
            .into_iter()
            .flat_map(|s| groups(s).unwrap_or(&[]).to_vec())
            .collect();
        assert!(FIGURES.iter().all(|f| run.contains(&f.group)));
        assert!(groups(Some("nope")).is_err());
    }

    #[test]
    fn goals_compare_both_ways() {
        assert_eq!(at_least(1.2).map(|g| g.met(1.2)), Some(true));
        assert_eq!(at_least(1.2).map(|g| g.met(1.1)), Some(false));
        assert_eq!(at_most(0.2).map(|g| g.met(0.23)), Some(false));
        assert_eq!(at_most(0.2).map(|g| g.to_string()), Some("≤ 0.2".into()));
    }
}
