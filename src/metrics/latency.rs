//! Processing latency (Kafka message timestamp → applied), recorded in
//! hdrhistograms and exported as a Prometheus summary.
//!
//! The hot path records into a local histogram owned by the apply thread (no
//! lock), merged into the shared one whenever the thread has caught up and
//! at least every 200 ms under load. Quantiles cover
//! the current and the previous minute, so they follow the present; `_sum`
//! and `_count` are cumulative, as a summary's must be.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency tracked (1 hour, in ms); larger values are clamped.
const MAX_MS: u64 = 3_600_000;
const ROTATE: Duration = Duration::from_secs(60);

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (1 ms .. 1 h at 3 significant digits): cannot fail.
    Histogram::new_with_bounds(1, MAX_MS, 3).expect("valid histogram bounds")
}

/// A local recorder for the apply thread.
#[derive(Debug)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            hist: new_histogram(),
        }
    }
}

impl LatencyRecorder {
    #[inline]
    pub fn record_ms(&mut self, ms: i64) {
        let v = ms.clamp(1, MAX_MS as i64) as u64;
        // In range by the clamp above.
        let _ = self.hist.record(v);
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }
}

/// The shared view exported at `/metrics`.
#[derive(Debug)]
pub struct LatencySummary {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    rotated_at: Instant,
    sum_ms: u64,
    count: u64,
}

impl Default for LatencySummary {
    fn default() -> Self {
        LatencySummary {
            current: new_histogram(),
            previous: new_histogram(),
            rotated_at: Instant::now(),
            sum_ms: 0,
            count: 0,
        }
    }
}

impl LatencySummary {
    /// Moves a recorder's values in and resets it.
    pub fn absorb(&mut self, r: &mut LatencyRecorder) {
        if self.rotated_at.elapsed() >= ROTATE {
            self.previous = std::mem::replace(&mut self.current, new_histogram());
            self.rotated_at = Instant::now();
        }
        for v in r.hist.iter_recorded() {
            self.sum_ms += v.value_iterated_to() * v.count_at_value();
        }
        self.count += r.hist.len();
        // Same bounds on both sides: cannot fail.
        let _ = self.current.add(&r.hist);
        r.hist.reset();
    }

    /// Appends the summary in the Prometheus text format.
    pub fn encode(&self, name: &str, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {name} Time from the Kafka message timestamp to the incident being applied (quantiles over the last 1-2 minutes)."
        );
        let _ = writeln!(out, "# TYPE {name} summary");
        let mut merged = self.previous.clone();
        let _ = merged.add(&self.current);
        if !merged.is_empty() {
            for q in [0.5, 0.9, 0.99, 0.999] {
                let v = merged.value_at_quantile(q) as f64 / 1000.0;
                let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {v}");
            }
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum_ms as f64 / 1000.0);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_sum_and_count() {
        let mut r = LatencyRecorder::default();
        for ms in 1..=1000 {
            r.record_ms(ms);
        }
        r.record_ms(-5);
        let mut s = LatencySummary::default();
        s.absorb(&mut r);
        assert!(r.is_empty());
        let mut out = String::new();
        s.encode("x_seconds", &mut out);
        assert!(out.contains("x_seconds{quantile=\"0.5\"} 0.5"), "{out}");
        assert!(out.contains("x_seconds_count 1001"), "{out}");
        assert!(out.contains("# TYPE x_seconds summary"));
    }
}
