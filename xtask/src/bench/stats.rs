//! The arithmetic of the figures: the median and spread of a row's passes,
//! and a latency histogram for our own load tools (wrk reports its own
//! percentiles). Pure, so that the numbers the table quotes are tested.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The median of a row's passes with their range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values; NaNs (a figure a pass could not make) are
    /// left out rather than poisoning the median.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        // An even count (a pass lost) takes the mean of the middle two, so
        // that two passes do not silently quote the faster one.
        let median = if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

/// Buckets 2 % wide on a log scale from 1 µs: p50 and p99 within 2 % of
/// the true value in a fixed 8 KiB whatever the message rate, where keeping
/// every sample would grow with the run.
const STEP: f64 = 1.02;
const BUCKETS: usize = 1024;

/// Round-trip times of one load, in microseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, took: Duration) {
        let us = took.as_secs_f64() * 1e6;
        let index = if us <= 1.0 {
            0
        } else {
            ((us.ln() / STEP.ln()) as usize).min(BUCKETS - 1)
        };
        self.counts[index] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The `q`-quantile (0.5 for p50) in milliseconds: the geometric middle
    /// of its bucket. `None` when nothing was recorded.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let us = STEP.powf(i as f64 + 0.5);
                return Some(us / 1000.0);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_counts_take_the_middle_value() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!(
            s,
            Some(Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
    }

    #[test]
    fn even_counts_take_the_mean_of_the_middle_two() {
        let s = Spread::of(&[4.0, 1.0, 2.0, 10.0]);
        assert_eq!(s.map(|s| s.median), Some(3.0));
        assert_eq!(s.map(|s| (s.min, s.max)), Some((1.0, 10.0)));
    }

    #[test]
    fn missing_values_are_left_out() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
        assert_eq!(Spread::of(&[f64::NAN, 5.0]).map(|s| s.median), Some(5.0));
    }

    #[test]
    fn quantiles_are_within_the_bucket_width() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let near = |got: Option<f64>, want: f64| {
            let got = got.unwrap_or(f64::NAN);
            assert!((got / want - 1.0).abs() < 0.03, "{got} vs {want}");
        };
        near(h.quantile_ms(0.5), 50.0);
        near(h.quantile_ms(0.99), 99.0);
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_micros(100));
        b.record(Duration::from_millis(10));
        b.record(Duration::from_millis(10));
        a.merge(&b);
        let p50 = a.quantile_ms(0.5).unwrap_or(0.0);
        assert!((p50 - 10.0).abs() < 0.2, "{p50}");
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }
}
