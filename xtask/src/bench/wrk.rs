//! The HTTP load: wrk (Debian's package), one thread (the load has one
//! CPU), keepalive connections, `--latency` for its percentiles. Running
//! it is bounded (a run that outlives its duration by [`GRACE`] is killed);
//! parsing its report is pure and tested.

use std::time::Duration;

use tokio::process::Command;

/// How long past its duration a wrk run may take (connecting, the report).
const GRACE: Duration = Duration::from_secs(15);

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wrk {
    /// Responses, the 2xx/3xx ones and the others.
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Socket errors (connect, read, write, timeout) and non-2xx/3xx
    /// responses: a proxy that answers 502 fast must not look fast.
    pub errors: u64,
}

/// `conns` keepalive connections on one thread against `url` for
/// `seconds`, each request with the extra `headers` (`Name: value`).
pub async fn run(
    wrk: &std::path::Path,
    url: &str,
    conns: usize,
    seconds: u64,
    headers: &[&str],
) -> Result<Wrk, String> {
    let mut command = Command::new(wrk);
    command.args(["-t", "1", "-c", &conns.to_string()]).args([
        "-d",
        &format!("{seconds}s"),
        "--timeout",
        "10s",
        "--latency",
    ]);
    for h in headers {
        command.args(["-H", h]);
    }
    command.arg(url).kill_on_drop(true);
    let limit = Duration::from_secs(seconds) + GRACE;
    let out = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| format!("wrk {url}: no report in {} s", limit.as_secs()))?
        .map_err(|e| format!("{}: {e}", wrk.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk {url} failed ({}): {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse(&stdout)
}

/// Reads wrk 4's report: `N requests in 5.00s`, `Requests/sec:`, the
/// `Latency Distribution` block, `Socket errors:` and `Non-2xx or 3xx
/// responses:`.
pub fn parse(report: &str) -> Result<Wrk, String> {
    let mut requests = None;
    let mut per_second = None;
    let mut p50_ms = None;
    let mut p99_ms = None;
    let mut errors = 0;
    for line in report.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            per_second = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50_ms = duration_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99_ms = duration_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 3, write 0, timeout 1"
            errors += v
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some((n, _)) = line.split_once(" requests in ") {
            requests = n.trim().parse::<u64>().ok();
        }
    }
    match (requests, per_second) {
        (Some(requests), Some(per_second)) => Ok(Wrk {
            requests,
            per_second,
            p50_ms,
            p99_ms,
            errors,
        }),
        _ => Err(format!("cannot read wrk's report:\n{report}")),
    }
}

/// wrk's durations: `174.00us`, `1.98ms`, `2.01s`, `1.50m`.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    // Microseconds divide (an exact quotient, where * 0.001 is not).
    match unit {
        "us" => Some(value / 1000.0),
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        "m" => Some(value * 60_000.0),
        "h" => Some(value * 3_600_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of wrk 4.1.0 (Debian), as printed.
    const REPORT: &str = "\
Running 1s test @ http://127.0.0.1:18999/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.86ms    2.36ms  20.33ms   92.68%
    Req/Sec   164.87k    52.27k  215.19k    90.00%
  Latency Distribution
     50%  174.00us
     75%  204.00us
     90%    1.98ms
     99%   13.36ms
  166843 requests in 1.01s, 23.71MB read
Requests/sec: 165380.54
Transfer/sec:     23.50MB
";

    #[test]
    fn reads_rate_count_and_percentiles() {
        let w = parse(REPORT);
        assert_eq!(
            w,
            Ok(Wrk {
                requests: 166843,
                per_second: 165380.54,
                p50_ms: Some(0.174),
                p99_ms: Some(13.36),
                errors: 0,
            })
        );
    }

    #[test]
    fn counts_socket_errors_and_bad_statuses() {
        let report = REPORT.replace(
            "Requests/sec:",
            "  Socket errors: connect 2, read 3, write 0, timeout 1\n  \
             Non-2xx or 3xx responses: 10\nRequests/sec:",
        );
        assert_eq!(parse(&report).map(|w| w.errors), Ok(16));
    }

    #[test]
    fn reads_every_unit() {
        assert_eq!(duration_ms("2.50s"), Some(2500.0));
        assert_eq!(duration_ms("1.50m"), Some(90_000.0));
        assert_eq!(duration_ms("12.00us"), Some(0.012));
        assert_eq!(duration_ms("12.00"), None);
        assert_eq!(duration_ms("1.0xs"), None);
    }

    #[test]
    fn a_report_without_a_rate_is_an_error() {
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }
}
