//! Percentile summaries of latency samples, the figures every scenario reports.

use serde_json::{Value, json};

/// Order statistics of one set of samples, in the samples' unit (milliseconds here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Summarises `samples` (sorted in place); `None` when there are none, so an empty run
    /// reports `null` rather than a made-up zero.
    pub fn of(samples: &mut [f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let count = samples.len();
        let mean = samples.iter().sum::<f64>() / count as f64;
        Some(Summary {
            count,
            p50: percentile(samples, 50.0),
            p90: percentile(samples, 90.0),
            p99: percentile(samples, 99.0),
            max: samples[count - 1],
            mean,
        })
    }

    /// The summary as JSON fields named `{prefix}_p50_ms` …, flat so that a JSON line can be
    /// read with `jq` or a spreadsheet without nesting.
    pub fn insert_ms(summary: Option<Summary>, prefix: &str, into: &mut serde_json::Map<String, Value>) {
        let field = |v: Option<f64>| v.map_or(Value::Null, |v| json!(round3(v)));
        into.insert(format!("{prefix}_p50_ms"), field(summary.map(|s| s.p50)));
        into.insert(format!("{prefix}_p90_ms"), field(summary.map(|s| s.p90)));
        into.insert(format!("{prefix}_p99_ms"), field(summary.map(|s| s.p99)));
        into.insert(format!("{prefix}_max_ms"), field(summary.map(|s| s.max)));
        into.insert(format!("{prefix}_mean_ms"), field(summary.map(|s| s.mean)));
    }
}

/// Nearest-rank percentile of sorted, non-empty samples: the smallest sample such that at
/// least `p` percent of samples are at or below it. Always one of the measured values, which
/// keeps p99 of a small run honest (no interpolation between two samples).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Rounds to microsecond precision when figures are in milliseconds; more digits are noise.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_hundred() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = Summary::of(&mut v).expect("non-empty");
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(s.mean, 50.5);
    }

    #[test]
    fn small_sample_p99_is_its_maximum() {
        let mut v = vec![3.0, 1.0, 2.0];
        let s = Summary::of(&mut v).expect("non-empty");
        assert_eq!((s.p50, s.p99, s.max), (2.0, 3.0, 3.0));
    }

    #[test]
    fn empty_samples_have_no_summary() {
        assert_eq!(Summary::of(&mut []), None);
    }
}
