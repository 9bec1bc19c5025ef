//! `upgate -c FILE --metrics ADDR`: live figures in the OpenMetrics text
//! format (Prometheus scrapes it), from the `prometheus-client` crate.
//!
//! - connections as stub_status counts them (active, reading, writing,
//!   waiting; accepted, handled, requests);
//! - requests by server, location and status class, and their duration;
//! - WebSocket tunnels by location: open, opened, closed by reason (the
//!   values of `$upgate_tunnel_close`), their duration and bytes each way;
//!   handshakes that got no 101, by status;
//! - upstream peers: up or failed (max_fails within fail_timeout) or down,
//!   backup or not, active connections;
//! - the configuration's generation and the reloads, by result.
//!
//! Cardinality is bounded by the configuration: labels are server names,
//! location names, upstream names and peer addresses as written, a status
//! class, a close reason; never anything a request carries.
//!
//! The families outlive reloads (a counter goes on counting); each
//! generation's tables hold one handle per location, so that counting a
//! request is an atomic add, without a lookup or a lock.

use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use upgate_runtime::Runtime;
use upgate_runtime::location::{LocationId, LocationKind};

use crate::server::Shared;
use crate::tunnel::{EndReason, Side};

/// The labels of one location.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocationLabels {
    /// The server's first `server_name` (`_` when it has none).
    pub server: String,
    /// `/ws/`, `= /health`, `~* \.php$`, `@fallback`, or `(server)` for
    /// requests no location took.
    pub location: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    server: String,
    location: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    server: String,
    location: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    server: String,
    location: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

type Histograms = Family<LocationLabels, Histogram, fn() -> Histogram>;

/// Request times: 1 ms to about 16 s.
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Tunnel lifetimes: 1 s to about 9 h.
fn tunnel_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

/// Why a tunnel ended, as a label and as `$upgate_tunnel_close`.
pub fn close_reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::ClientClosed | EndReason::Error(Side::Client, _) => "client_closed",
        EndReason::UpstreamClosed | EndReason::Error(Side::Upstream, _) => "upstream_closed",
        EndReason::ReadTimeout => "read_timeout",
        EndReason::SendTimeout | EndReason::ClientSendTimeout => "send_timeout",
        EndReason::DeadPeer(_) => "dead_peer",
        EndReason::Shutdown => "shutdown",
    }
}

/// Every family, shared by all generations (clones share the values).
#[derive(Clone, Debug)]
pub struct Families {
    requests: Family<CodeLabels, Counter>,
    request_duration: Histograms,
    tunnels_open: Family<LocationLabels, Gauge>,
    tunnels_opened: Family<LocationLabels, Counter>,
    tunnels_closed: Family<ReasonLabels, Counter>,
    tunnel_duration: Histograms,
    tunnel_bytes: Family<DirectionLabels, Counter>,
    handshake_failures: Family<CodeLabels, Counter>,
    reloads: Family<ResultLabels, Counter>,
    generation: Gauge,
}

impl Default for Families {
    fn default() -> Self {
        Families {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(request_histogram),
            tunnels_open: Family::default(),
            tunnels_opened: Family::default(),
            tunnels_closed: Family::default(),
            tunnel_duration: Family::new_with_constructor(tunnel_histogram),
            tunnel_bytes: Family::default(),
            handshake_failures: Family::default(),
            reloads: Family::default(),
            generation: Gauge::default(),
        }
    }
}

impl Families {
    /// The handles of a generation's locations.
    pub fn for_runtime(&self, rt: &Runtime, generation: u64) -> Arc<TablesMetrics> {
        self.generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        // Each named location gets its handles; `if` and `limit_except`
        // blocks count as the location they are in.
        let mut locations: Vec<Arc<LocationMetrics>> = Vec::with_capacity(rt.locations.len());
        for (i, l) in rt.locations.iter().enumerate() {
            let owner = match (l.kind, l.parent) {
                (LocationKind::If | LocationKind::LimitExcept, Some(p)) if p.index() < i => {
                    locations.get(p.index()).cloned()
                }
                _ => None,
            };
            let m = owner.unwrap_or_else(|| {
                let server = rt
                    .servers
                    .get(l.server.index())
                    .map(|s| String::from_utf8_lossy(&s.server_name).into_owned())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "_".to_string());
                let location = match l.kind {
                    LocationKind::Server => "(server)".to_string(),
                    kind => format!("{}{}", kind.modifier(), String::from_utf8_lossy(&l.name)),
                };
                Arc::new(LocationMetrics::new(LocationLabels { server, location }))
            });
            locations.push(m);
        }
        Arc::new(TablesMetrics {
            families: self.clone(),
            locations,
        })
    }

    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    /// The registry a scrape encodes: these families and what is read at
    /// scrape time from `shared` (connections, upstream peers).
    pub fn registry(&self, shared: Weak<Shared>) -> Registry {
        let mut r = Registry::with_prefix("upgate");
        r.register(
            "http_requests",
            "Requests by server, location and status class",
            self.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Request time ($request_time) by server and location",
            self.request_duration.clone(),
        );
        r.register(
            "websocket_tunnels_open",
            "WebSocket tunnels open now",
            self.tunnels_open.clone(),
        );
        r.register(
            "websocket_tunnels_opened",
            "WebSocket tunnels opened (101 sent to the client)",
            self.tunnels_opened.clone(),
        );
        r.register(
            "websocket_tunnels_closed",
            "WebSocket tunnels closed, by reason",
            self.tunnels_closed.clone(),
        );
        r.register(
            "websocket_tunnel_duration_seconds",
            "How long WebSocket tunnels lived",
            self.tunnel_duration.clone(),
        );
        r.register(
            "websocket_tunnel_bytes",
            "Bytes carried by WebSocket tunnels, by direction",
            self.tunnel_bytes.clone(),
        );
        r.register(
            "websocket_handshake_failures",
            "Upgrade requests answered without a 101, by status",
            self.handshake_failures.clone(),
        );
        r.register(
            "config_reloads",
            "Reloads (SIGHUP), by result",
            self.reloads.clone(),
        );
        r.register(
            "config_generation",
            "The configuration generation serving (0 at start, one more per reload)",
            self.generation.clone(),
        );
        r.register_collector(Box::new(ScrapeTime { shared }));
        r
    }
}

/// One location's handles; a series is created at its first use.
#[derive(Debug)]
pub struct LocationMetrics {
    labels: LocationLabels,
    /// 1xx to 5xx (and anything else as 5xx's neighbour, `other`).
    by_class: [OnceLock<Counter>; 6],
    duration: OnceLock<Histogram>,
}

impl LocationMetrics {
    fn new(labels: LocationLabels) -> Self {
        LocationMetrics {
            labels,
            by_class: Default::default(),
            duration: OnceLock::new(),
        }
    }
}

/// A generation's handles, indexed like its locations.
#[derive(Debug)]
pub struct TablesMetrics {
    families: Families,
    locations: Vec<Arc<LocationMetrics>>,
}

const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

impl TablesMetrics {
    fn location(&self, id: LocationId) -> Option<&LocationMetrics> {
        self.locations.get(id.index()).map(Arc::as_ref)
    }

    fn labelled<T>(&self, l: &LocationMetrics, f: impl FnOnce(String, String) -> T) -> T {
        f(l.labels.server.clone(), l.labels.location.clone())
    }

    /// A request's end (not a tunnel's).
    pub fn request(&self, id: LocationId, status: u16, time: Duration, upgrade: bool) {
        let Some(l) = self.location(id) else {
            return;
        };
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => 5,
        };
        l.by_class[class]
            .get_or_init(|| {
                self.families
                    .requests
                    .get_or_create_owned(&self.labelled(l, |server, location| CodeLabels {
                        server,
                        location,
                        code: CLASSES[class].to_string(),
                    }))
            })
            .inc();
        l.duration
            .get_or_init(|| {
                self.families
                    .request_duration
                    .get_or_create_owned(&l.labels)
            })
            .observe(time.as_secs_f64());
        if upgrade && status != 101 {
            self.families
                .handshake_failures
                .get_or_create(&self.labelled(l, |server, location| CodeLabels {
                    server,
                    location,
                    code: status.to_string(),
                }))
                .inc();
        }
    }

    /// A tunnel opened: the handle that closes it.
    pub fn tunnel_opened(self: &Arc<Self>, id: LocationId) -> Option<OpenTunnel> {
        let l = self.location(id)?;
        self.families.tunnels_opened.get_or_create(&l.labels).inc();
        let open = self.families.tunnels_open.get_or_create_owned(&l.labels);
        open.inc();
        Some(OpenTunnel {
            metrics: Arc::clone(self),
            id,
            open,
            started: Instant::now(),
        })
    }
}

/// A tunnel counted as open; [`OpenTunnel::closed`] counts its end.
#[derive(Debug)]
pub struct OpenTunnel {
    metrics: Arc<TablesMetrics>,
    id: LocationId,
    open: Gauge,
    started: Instant,
}

impl OpenTunnel {
    pub fn closed(self, reason: EndReason, client_to_upstream: u64, upstream_to_client: u64) {
        self.open.dec();
        let m = &self.metrics;
        let Some(l) = m.location(self.id) else {
            return;
        };
        m.families
            .tunnels_closed
            .get_or_create(&m.labelled(l, |server, location| ReasonLabels {
                server,
                location,
                reason: close_reason(reason).to_string(),
            }))
            .inc();
        m.families
            .tunnel_duration
            .get_or_create(&l.labels)
            .observe(self.started.elapsed().as_secs_f64());
        for (direction, bytes) in [
            ("client_to_upstream", client_to_upstream),
            ("upstream_to_client", upstream_to_client),
        ] {
            m.families
                .tunnel_bytes
                .get_or_create(&m.labelled(l, |server, location| DirectionLabels {
                    server,
                    location,
                    direction: direction.to_string(),
                }))
                .inc_by(bytes);
        }
    }
}

/// What is read when scraped: stub_status's counters and the upstream
/// peers of the generation serving.
#[derive(Debug)]
struct ScrapeTime {
    shared: Weak<Shared>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    upstream: String,
    peer: String,
    backup: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerStateLabels {
    upstream: String,
    peer: String,
    backup: String,
    state: String,
}

impl Collector for ScrapeTime {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        let stats = &shared.stats;
        let [active, reading, writing, waiting] = stats.connections();
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "connections",
            "Client connections now, by state (stub_status: Active, Reading, Writing, Waiting)",
            None,
            gauge.metric_type(),
        )?;
        for (state, n) in [
            ("active", active),
            ("reading", reading),
            ("writing", writing),
            ("waiting", waiting),
        ] {
            let labels = StateLabels {
                state: state.into(),
            };
            ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                .encode(family.encode_family(&labels)?)?;
        }
        let totals = stats.totals();
        for (name, help, value) in [
            (
                "connections_accepted",
                "Client connections accepted",
                totals[0],
            ),
            (
                "connections_handled",
                "Client connections handled",
                totals[1],
            ),
            ("requests", "Client requests (stub_status)", totals[2]),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let tables = shared.tables.load_full();
        let now = std::time::Instant::now();
        let gauge = ConstGauge::new(0i64);
        let mut up = encoder.encode_descriptor(
            "upstream_peer_state",
            "Upstream peers: 1 for the state each is in (up, failed: max_fails within \
             fail_timeout, down), with its active connections in upstream_peer_connections",
            None,
            gauge.metric_type(),
        )?;
        let mut conns = Vec::new();
        // Implicit groups (`proxy_pass http://host:port`) in name order: a
        // HashMap's order would change between scrapes.
        let mut implicit: Vec<_> = tables.implicit.iter().collect();
        implicit.sort_by(|a, b| a.0.cmp(b.0));
        for group in tables
            .groups
            .iter()
            .chain(implicit.into_iter().map(|(_, g)| g))
        {
            let peers = group.peers();
            for (id, peer) in peers.iter() {
                let state = if peer.is_down() {
                    "down"
                } else if peer.is_failed(now) {
                    "failed"
                } else {
                    "up"
                };
                let labels = PeerLabels {
                    upstream: peers.name().to_string(),
                    peer: peer_text(peer.addr()),
                    backup: id.is_backup().to_string(),
                };
                let with_state = PeerStateLabels {
                    upstream: labels.upstream.clone(),
                    peer: labels.peer.clone(),
                    backup: labels.backup.clone(),
                    state: state.into(),
                };
                ConstGauge::new(1i64).encode(up.encode_family(&with_state)?)?;
                conns.push((labels, peer.conns()));
            }
        }
        let mut family = encoder.encode_descriptor(
            "upstream_peer_connections",
            "Active connections to each upstream peer",
            None,
            gauge.metric_type(),
        )?;
        for (labels, n) in conns {
            ConstGauge::new(i64::from(n)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn peer_text(addr: &upgate_runtime::upstream::PeerAddr) -> String {
    match addr {
        upgate_runtime::upstream::PeerAddr::Inet(a) => a.to_string(),
        upgate_runtime::upstream::PeerAddr::Unix(p) => format!("unix:{}", p.display()),
    }
}

/// The page a scrape gets.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_the_documented_ones() {
        use std::io::ErrorKind;
        assert_eq!(close_reason(EndReason::ClientClosed), "client_closed");
        assert_eq!(
            close_reason(EndReason::Error(Side::Upstream, ErrorKind::ConnectionReset)),
            "upstream_closed"
        );
        assert_eq!(close_reason(EndReason::ReadTimeout), "read_timeout");
        assert_eq!(close_reason(EndReason::ClientSendTimeout), "send_timeout");
        assert_eq!(close_reason(EndReason::DeadPeer(Side::Client)), "dead_peer");
        assert_eq!(close_reason(EndReason::Shutdown), "shutdown");
    }

    #[test]
    fn counts_survive_a_new_generation() {
        let families = Families::default();
        let mut loaded = upgate_conf::parse_file(
            std::path::Path::new("/x.conf"),
            b"events {}\nhttp { server { server_name a.test; location /ws/ { } } }\n".to_vec(),
        );
        loaded.main = upgate_conf::FileId(0);
        let rt = match Runtime::compile(&loaded) {
            Ok(rt) => rt,
            Err(e) => panic!("{e}"),
        };
        let ws = rt
            .locations
            .iter()
            .position(|l| l.name == b"/ws/")
            .map(|i| LocationId(i as u32));
        let Some(ws) = ws else { panic!("no /ws/") };
        for generation in 0..2 {
            let m = families.for_runtime(&rt, generation);
            m.request(ws, 200, Duration::from_millis(3), false);
            m.request(ws, 426, Duration::from_millis(3), true);
        }
        let page = render(&families.registry(Weak::new()));
        assert!(
            page.contains(
                "upgate_http_requests_total{server=\"a.test\",location=\"/ws/\",code=\"2xx\"} 2"
            ),
            "{page}"
        );
        assert!(
            page.contains(
                "upgate_websocket_handshake_failures_total{server=\"a.test\",location=\"/ws/\",code=\"426\"} 2"
            ),
            "{page}"
        );
        assert!(page.contains("upgate_config_generation 1"), "{page}");
        assert!(page.ends_with("# EOF\n"), "{page}");
    }
}
