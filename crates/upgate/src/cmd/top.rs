//! `upgate top ADDR:PORT`: a live table of what a running upgate's
//! `--metrics` endpoint says, refreshed every second: connections, then one
//! line per location with its open tunnels, the rates of tunnels opened and
//! closed and of requests, the status classes and the close reasons.
//! `--once` prints one table and exits (for scripts); otherwise it redraws
//! until interrupted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::TopArgs;

/// How long one scrape may take.
const SCRAPE_LIMIT: Duration = Duration::from_secs(5);

pub fn run(args: &TopArgs) -> ExitCode {
    let interval = Duration::from_millis(args.interval_ms.max(100));
    let mut last: Option<(Instant, Sample)> = None;
    loop {
        let now = Instant::now();
        let sample = match scrape(args.addr).map(|text| Sample::parse(&text)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("upgate top: {}: {e}", args.addr);
                return ExitCode::FAILURE;
            }
        };
        let since = last.as_ref().map(|(t, s)| (now.duration_since(*t), s));
        let table = render(args.addr, &sample, since);
        let mut out = std::io::stdout().lock();
        if !args.once {
            // Home and clear, as top does.
            let _ = out.write_all(b"\x1b[H\x1b[2J");
        }
        let _ = out.write_all(table.as_bytes());
        let _ = out.flush();
        drop(out);
        if args.once {
            return ExitCode::SUCCESS;
        }
        last = Some((now, sample));
        std::thread::sleep(interval.saturating_sub(now.elapsed()));
    }
}

/// One `GET /metrics`, bounded in time.
fn scrape(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, SCRAPE_LIMIT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(SCRAPE_LIMIT))
        .and_then(|()| s.set_write_timeout(Some(SCRAPE_LIMIT)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: upgate\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err("no HTTP response".into());
    };
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    Ok(body.to_string())
}

/// A series' labels, in the order written.
type Labels = Vec<(String, String)>;

/// One sample's series: `name -> [(labels, value)]`.
#[derive(Debug, Default)]
struct Sample {
    series: BTreeMap<String, Vec<(Labels, f64)>>,
}

impl Sample {
    /// The OpenMetrics text format's sample lines (comments skipped).
    fn parse(text: &str) -> Sample {
        let mut sample = Sample::default();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some((name, labels, value)) = parse_line(line) {
                sample.series.entry(name).or_default().push((labels, value));
            }
        }
        sample
    }

    /// The value of `name` whose labels include every pair in `want`, summed.
    fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.series
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(labels, _)| {
                want.iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| v)
            // A sum of nothing is -0.0: start from 0.0.
            .fold(0.0, |a, b| a + b)
    }

    /// Every (server, location) some series names.
    fn locations(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for name in [
            "upgate_http_requests_total",
            "upgate_websocket_tunnels_open",
            "upgate_websocket_tunnels_opened_total",
        ] {
            for (labels, _) in self.series.get(name).into_iter().flatten() {
                let get = |k: &str| {
                    labels
                        .iter()
                        .find(|(lk, _)| lk == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let key = (get("server"), get("location"));
                if !out.contains(&key) {
                    out.push(key);
                }
            }
        }
        out.sort();
        out
    }

    /// The close reasons of a location with their counts.
    fn reasons(&self, server: &str, location: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for (labels, v) in self
            .series
            .get("upgate_websocket_tunnels_closed_total")
            .into_iter()
            .flatten()
        {
            let has = |k: &str, want: &str| labels.iter().any(|(lk, lv)| lk == k && lv == want);
            if has("server", server) && has("location", location) {
                let reason = labels
                    .iter()
                    .find(|(k, _)| k == "reason")
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default();
                out.push((reason, *v));
            }
        }
        out
    }
}

/// `name{a="x",b="y"} 12` or `name 12` (an exemplar or timestamp after the
/// value is ignored).
fn parse_line(line: &str) -> Option<(String, Labels, f64)> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = Vec::new();
    let rest = if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = inner.trim_start_matches(',');
            if let Some(after) = inner.strip_prefix('}') {
                break after;
            }
            let (key, after) = inner.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.push((key.to_string(), value));
            inner = &after[end + 1..];
        }
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name.to_string(), labels, value))
}

/// A count as an integer, anything else with two decimals.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

fn render(addr: SocketAddr, s: &Sample, since: Option<(Duration, &Sample)>) -> String {
    let rate = |name: &str, want: &[(&str, &str)]| -> String {
        match since {
            Some((dt, before)) if !dt.is_zero() => {
                let d = (s.sum(name, want) - before.sum(name, want)).max(0.0);
                format!("{:.1}", d / dt.as_secs_f64())
            }
            _ => "-".to_string(),
        }
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "upgate top  {addr}  generation {}  reloads ok {} failed {}",
        num(s.sum("upgate_config_generation", &[])),
        num(s.sum("upgate_config_reloads_total", &[("result", "ok")])),
        num(s.sum("upgate_config_reloads_total", &[("result", "failed")])),
    );
    let conn = |state: &str| num(s.sum("upgate_connections", &[("state", state)]));
    let _ = writeln!(
        o,
        "connections  active {}  reading {}  writing {}  waiting {}  requests {} ({}/s)",
        conn("active"),
        conn("reading"),
        conn("writing"),
        conn("waiting"),
        num(s.sum("upgate_requests_total", &[])),
        rate("upgate_requests_total", &[]),
    );
    o.push('\n');
    let _ = writeln!(
        o,
        "{:<20} {:<24} {:>8} {:>9} {:>9} {:>8} {:>7} {:>7} {:>7}  close reasons",
        "server", "location", "tunnels", "opened/s", "closed/s", "req/s", "2xx", "4xx", "5xx"
    );
    for (server, location) in s.locations() {
        let at = [("server", server.as_str()), ("location", location.as_str())];
        let class =
            |c: &str| num(s.sum("upgate_http_requests_total", &[at[0], at[1], ("code", c)]));
        let reasons: Vec<String> = s
            .reasons(&server, &location)
            .into_iter()
            .map(|(r, n)| format!("{r} {}", num(n)))
            .collect();
        let _ = writeln!(
            o,
            "{:<20} {:<24} {:>8} {:>9} {:>9} {:>8} {:>7} {:>7} {:>7}  {}",
            server,
            location,
            num(s.sum("upgate_websocket_tunnels_open", &at)),
            rate("upgate_websocket_tunnels_opened_total", &at),
            rate("upgate_websocket_tunnels_closed_total", &at),
            rate("upgate_http_requests_total", &at),
            class("2xx"),
            class("4xx"),
            class("5xx"),
            reasons.join(", ")
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exposition_lines() {
        let text = "# HELP x y\nupgate_connections{state=\"active\"} 3\n\
                    upgate_requests_total 12\n\
                    upgate_websocket_tunnels_open{server=\"a\",location=\"/w \\\"q\\\"\"} 2\n# EOF\n";
        let s = Sample::parse(text);
        assert_eq!(s.sum("upgate_connections", &[("state", "active")]), 3.0);
        assert_eq!(s.sum("upgate_requests_total", &[]), 12.0);
        assert_eq!(
            s.locations(),
            vec![("a".to_string(), "/w \"q\"".to_string())]
        );
        assert_eq!(parse_line("bad"), None);
        let table = render(
            "127.0.0.1:1".parse().unwrap_or(([127, 0, 0, 1], 1).into()),
            &s,
            None,
        );
        assert!(table.contains("/w \"q\""), "{table}");
    }
}
