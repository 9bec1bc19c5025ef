//! The results of a run: each pass's samples, gathered into rows (medians
//! with their spread, upgate / nginx, the goal and whether it is met), the
//! Markdown table printed on stdout, and the JSON kept in target/bench/
//! (which `--svg-from` reads back). Pure but for [`save`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::figures::{Figure, Goal};
use super::stats::Spread;

/// Who served a sample: a proxy, or the backend itself (the machine's
/// limit, no proxy in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Upgate,
    Nginx,
    Direct,
}

/// One pass's figure for one side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub value: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Sample {
    pub fn plain(value: f64) -> Sample {
        Sample {
            value,
            p50_ms: None,
            p99_ms: None,
        }
    }
}

/// Every pass's samples, by figure id and side.
#[derive(Debug, Default)]
pub struct Samples(HashMap<(&'static str, Side), Vec<Sample>>);

impl Samples {
    pub fn add(&mut self, id: &'static str, side: Side, sample: Sample) {
        self.0.entry((id, side)).or_default().push(sample);
    }

    fn get(&self, id: &str, side: Side) -> &[Sample] {
        self.0
            .iter()
            .find(|((i, s), _)| *i == id && *s == side)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

/// One side of a row: the median of its passes, their range, and the
/// medians of the passes' p50 and p99 latencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub passes: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Measured {
    fn of(samples: &[Sample]) -> Option<Measured> {
        let spread = Spread::of(&samples.iter().map(|s| s.value).collect::<Vec<_>>())?;
        let latency = |f: fn(&Sample) -> Option<f64>| {
            let v: Vec<f64> = samples.iter().filter_map(f).collect();
            Spread::of(&v).map(|s| s.median)
        };
        Some(Measured {
            median: spread.median,
            min: spread.min,
            max: spread.max,
            passes: samples.len(),
            p50_ms: latency(|s| s.p50_ms),
            p99_ms: latency(|s| s.p99_ms),
        })
    }
}

/// A row of the table and of the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub upgate: Option<Measured>,
    pub nginx: Option<Measured>,
    pub direct: Option<Measured>,
    /// upgate's median / nginx's median.
    pub ratio: Option<f64>,
    pub goal: Option<Goal>,
    pub met: Option<bool>,
}

/// What a run was and what it measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// UTC, `20261203T055400Z`: also the JSON file's name.
    pub timestamp: String,
    pub command: String,
    pub commit: Option<String>,
    pub passes: usize,
    pub seconds: u64,
    pub conns: usize,
    pub tunnels: usize,
    pub pinned: bool,
    pub nginx: String,
    /// /proc/loadavg at the start: how busy the shared machine was.
    pub load_average: Option<String>,
    pub rows: Vec<Row>,
}

/// The rows of `figures` that have samples, in the figures' order.
pub fn rows(figures: &[Figure], samples: &Samples) -> Vec<Row> {
    figures
        .iter()
        .filter_map(|f| {
            let upgate = Measured::of(samples.get(f.id, Side::Upgate));
            let nginx = Measured::of(samples.get(f.id, Side::Nginx));
            let direct = Measured::of(samples.get(f.id, Side::Direct));
            if upgate.is_none() && nginx.is_none() {
                return None;
            }
            let ratio = match (&upgate, &nginx) {
                (Some(u), Some(n)) if n.median > 0.0 => Some(u.median / n.median),
                _ => None,
            };
            Some(Row {
                id: f.id.to_string(),
                name: f.name.to_string(),
                unit: f.unit.to_string(),
                upgate,
                nginx,
                direct,
                ratio,
                goal: f.goal,
                met: f.goal.zip(ratio).map(|(g, r)| g.met(r)),
            })
        })
        .collect()
}

/// The Markdown table: each side's median with its range, the ratio, the
/// goal, and the latencies (p50 / p99, ms) where the figure has them.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| figure | upgate | nginx | direct | upgate / nginx | goal | met | \
         p50 / p99 ms: upgate · nginx · direct |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let side = |m: &Option<Measured>| match m {
            // The unit once: "0.220 s (0.210–0.230)".
            Some(m) if m.passes > 1 => format!(
                "{} ({}–{})",
                value(m.median, &r.unit),
                bare(m.min, &r.unit),
                bare(m.max, &r.unit)
            ),
            Some(m) => value(m.median, &r.unit),
            None => "—".into(),
        };
        let latency = |m: &Option<Measured>| match m {
            Some(Measured {
                p50_ms: Some(p50),
                p99_ms: Some(p99),
                ..
            }) => format!("{} / {}", ms(*p50), ms(*p99)),
            _ => "—".into(),
        };
        let latencies = [&r.upgate, &r.nginx, &r.direct].map(latency);
        out.push_str(&format!(
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.unit,
            side(&r.upgate),
            side(&r.nginx),
            side(&r.direct),
            r.ratio.map_or("—".into(), ratio),
            r.goal.map_or("—".into(), |g| g.to_string()),
            match r.met {
                Some(true) => "met",
                Some(false) => "not met",
                None => "—",
            },
            if latencies.iter().all(|l| l == "—") {
                "—".into()
            } else {
                latencies.join(" · ")
            },
        ));
    }
    out
}

/// A ratio with three significant digits (0.116, 1.13, 12.1).
pub fn ratio(r: f64) -> String {
    if r < 1.0 {
        format!("{r:.3}")
    } else if r < 10.0 {
        format!("{r:.2}")
    } else {
        format!("{r:.1}")
    }
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// A figure in its unit: rates in thousands, bytes whole with separators.
fn value(v: f64, unit: &str) -> String {
    match unit {
        "s" if v < 1.0 => format!("{v:.3} s"),
        "s" => format!("{v:.2} s"),
        "MB" => format!("{v:.0} MB"),
        "bytes" => thousands(v.round() as u64),
        _ if v >= 1000.0 => format!("{:.1}k", v / 1000.0),
        _ => format!("{v:.0}"),
    }
}

fn bare(v: f64, unit: &str) -> String {
    let text = value(v, unit);
    match text.strip_suffix(&format!(" {unit}")) {
        Some(number) => number.to_string(),
        None => text,
    }
}

pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes `dir/<timestamp>.json` and `dir/<latest>`; returns the first.
pub fn save(report: &Report, dir: &Path, latest: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json =
        serde_json::to_string_pretty(report).map_err(|e| format!("JSON of the report: {e}"))?;
    let path = dir.join(format!("{}.json", report.timestamp));
    for p in [&path, &dir.join(latest)] {
        std::fs::write(p, &json).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(path)
}

pub fn load(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Now as `YYYYMMDDTHHMMSSZ` (UTC), from date(1): the calendar arithmetic
/// lives in the proxy's Date header code, which xtask does not link.
pub fn timestamp() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y%m%dT%H%M%SZ"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| format!("pid{}", std::process::id()))
}

/// A report around `rows`, for the tests of this module and the chart's.
#[cfg(test)]
pub fn report_of(rows: Vec<Row>) -> Report {
    Report {
        timestamp: "20261203T055400Z".into(),
        command: "bench --quick".into(),
        commit: None,
        passes: 3,
        seconds: 1,
        conns: 50,
        tunnels: 1000,
        pinned: true,
        nginx: "nginx/1.22.1".into(),
        load_average: None,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::figures::{FIGURES, HTTP, IDLE_TUNNEL};

    fn samples() -> Samples {
        let mut s = Samples::default();
        for (u, n, d) in [(30e3, 50e3, 90e3), (32e3, 52e3, 91e3), (34e3, 48e3, 95e3)] {
            let lat = |v: f64| Sample {
                value: v,
                p50_ms: Some(1.0),
                p99_ms: Some(3.0),
            };
            s.add(HTTP, Side::Upgate, lat(u));
            s.add(HTTP, Side::Nginx, lat(n));
            s.add(HTTP, Side::Direct, lat(d));
        }
        s.add(IDLE_TUNNEL, Side::Upgate, Sample::plain(4118.0));
        s.add(IDLE_TUNNEL, Side::Nginx, Sample::plain(18153.0));
        s
    }

    #[test]
    fn rows_hold_medians_spreads_and_goals() {
        let rows = rows(&FIGURES, &samples());
        assert_eq!(rows.len(), 2, "only figures with samples");
        let http = &rows[0];
        assert_eq!(http.id, HTTP);
        assert_eq!(
            http.upgate.as_ref().map(|m| (m.median, m.min, m.max)),
            Some((32e3, 30e3, 34e3))
        );
        assert_eq!(http.ratio, Some(32e3 / 50e3));
        assert_eq!(http.met, Some(false));
        assert_eq!(http.direct.as_ref().map(|m| m.median), Some(91e3));
        let idle = &rows[1];
        assert_eq!(idle.met, Some(false), "0.23 > 0.2");
        assert!(idle.direct.is_none());
    }

    #[test]
    fn the_table_has_a_line_per_row() {
        let t = table(&rows(&FIGURES, &samples()));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].contains("32.0k (30.0k–34.0k)"), "{}", lines[2]);
        assert!(lines[2].contains("0.640 | ≥ 1.0 | not met"), "{}", lines[2]);
        assert!(lines[2].contains("1.00 / 3.00 · 1.00 / 3.00 · 1.00 / 3.00"));
        assert!(
            lines[3].contains("4,118 | 18,153 | — | 0.227 | ≤ 0.2 | not met | — |"),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn the_json_reads_back() {
        let report = report_of(rows(&FIGURES, &samples()));
        let json = serde_json::to_string(&report).unwrap_or_default();
        assert!(json.contains("\"op\":\">=\""), "{json}");
        let back: Vec<Row> = serde_json::from_str::<Report>(&json).map_or(vec![], |r| r.rows);
        assert_eq!(back.len(), report.rows.len());
        for (b, r) in back.iter().zip(&report.rows) {
            assert_eq!((&b.id, &b.goal, b.met), (&r.id, &r.goal, r.met));
            // serde_json reads floats back to within an ulp, not exactly.
            let (x, y) = (b.ratio.unwrap_or(0.0), r.ratio.unwrap_or(1.0));
            assert!((x - y).abs() < 1e-12, "{x} {y}");
        }
    }

    #[test]
    fn timestamps_are_utc_and_sort_as_text() {
        let t = timestamp();
        assert_eq!(t.len(), 16, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[8] == b'T');
    }

    #[test]
    fn numbers_read_as_the_issue_writes_them() {
        assert_eq!(value(18153.4, "bytes"), "18,153");
        assert_eq!(value(51234.0, "req/s"), "51.2k");
        assert_eq!(value(0.321, "s"), "0.321 s");
        assert_eq!(value(552.2, "MB"), "552 MB");
        assert_eq!(bare(552.2, "MB"), "552");
        assert_eq!(bare(51234.0, "req/s"), "51.2k");
        assert_eq!(ratio(0.1163), "0.116");
        assert_eq!(ratio(1.134), "1.13");
    }
}
