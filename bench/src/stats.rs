//! Latency summaries.

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of round trips, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub min_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Latency {
    /// Summarizes `samples` (nearest-rank percentiles).
    pub fn of(samples: &[Duration]) -> Latency {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            if us.is_empty() {
                return 0.0;
            }
            // Nearest rank: the smallest value with at least p% of the samples at or below it.
            let n = us.len() as f64;
            let idx = ((p / 100.0) * n).ceil().max(1.0) as usize - 1;
            us[idx.min(us.len() - 1)]
        };
        let mean = if us.is_empty() {
            0.0
        } else {
            us.iter().sum::<f64>() / us.len() as f64
        };
        Latency {
            samples: us.len(),
            min_us: us.first().copied().unwrap_or(0.0),
            p50_us: rank(50.0),
            p95_us: rank(95.0),
            p99_us: rank(99.0),
            max_us: us.last().copied().unwrap_or(0.0),
            mean_us: mean,
        }
    }
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}
