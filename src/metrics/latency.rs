//! Processing latency (Kafka message timestamp → applied), recorded in
//! hdrhistograms and exported as a Prometheus histogram (spec §6: buckets,
//! aggregatable across instances).
//!
//! The hot path records into a local hdrhistogram owned by the apply
//! thread (no lock), merged into the shared fixed buckets whenever the
//! thread has caught up and at least every 200 ms under load.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Highest latency tracked (1 hour, in ms); larger values are clamped.
const MAX_MS: u64 = 3_600_000;

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (1 ms .. 1 h at 3 significant digits): cannot fail.
    Histogram::new_with_bounds(1, MAX_MS, 3).expect("valid histogram bounds")
}

/// A local recorder for the apply thread.
#[derive(Debug)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
    /// The exact sum of the values recorded (the histogram keeps them to
    /// three significant digits).
    sum_ms: u64,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            hist: new_histogram(),
            sum_ms: 0,
        }
    }
}

impl LatencyRecorder {
    #[inline]
    pub fn record_ms(&mut self, ms: i64) {
        let v = ms.clamp(1, MAX_MS as i64) as u64;
        // In range by the clamp above.
        let _ = self.hist.record(v);
        self.sum_ms += v;
    }
}

/// Upper bounds of the exported buckets, in milliseconds: 5 ms to one hour.
const BUCKETS_MS: [u64; 17] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
    1_800_000, 3_600_000,
];

/// The shared histogram exported at `/metrics`: cumulative counts per
/// fixed bucket since the process started (aggregatable across instances
/// and over time with `rate` and `histogram_quantile`).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket of [`BUCKETS_MS`] (not cumulative: summed when encoded).
    buckets: [u64; BUCKETS_MS.len()],
    sum_ms: u64,
    count: u64,
}

impl LatencyHistogram {
    /// Moves a recorder's values in and resets it. A value goes to the
    /// first bucket whose bound is at least the lowest value hdrhistogram
    /// keeps equivalent to it (exact to 1 ms up to 2 s, within 0.1% above).
    pub fn absorb(&mut self, r: &mut LatencyRecorder) {
        for v in r.hist.iter_recorded() {
            let (ms, n) = (v.value_iterated_to(), v.count_at_value());
            let low = r.hist.lowest_equivalent(ms);
            let b = BUCKETS_MS
                .iter()
                .position(|&le| low <= le)
                .unwrap_or(BUCKETS_MS.len() - 1);
            self.buckets[b] += n;
            self.count += n;
        }
        self.sum_ms += std::mem::take(&mut r.sum_ms);
        r.hist.reset();
    }

    /// Appends the histogram in the Prometheus text format.
    pub fn encode(&self, name: &str, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {name} Time from the Kafka message timestamp to the message being applied, since the process started."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (le, n) in BUCKETS_MS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *le as f64 / 1000.0
            );
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum_ms as f64 / 1000.0);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_sum_and_count() {
        let mut r = LatencyRecorder::default();
        for ms in 1..=1000 {
            r.record_ms(ms);
        }
        r.record_ms(-5);
        r.record_ms(10_000);
        r.record_ms(7_200_000);
        let mut h = LatencyHistogram::default();
        h.absorb(&mut r);
        // Absorbing resets the recorder: a second absorb adds nothing.
        h.absorb(&mut r);
        let mut out = String::new();
        h.encode("x_seconds", &mut out);
        assert!(out.contains("# TYPE x_seconds histogram"), "{out}");
        // 1 ms (the clamped -5) and 1..=5 ms.
        assert!(out.contains("x_seconds_bucket{le=\"0.005\"} 6\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"1\"} 1001\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"10\"} 1002\n"), "{out}");
        // Clamped to one hour: the last bucket.
        assert!(
            out.contains("x_seconds_bucket{le=\"3600\"} 1003\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{le=\"+Inf\"} 1003\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count 1003\n"), "{out}");
        let counts: Vec<u64> = out
            .lines()
            .filter(|l| l.starts_with("x_seconds_bucket"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]),
            "cumulative: {counts:?}"
        );
        let sum_ms = (1..=1000u64).sum::<u64>() + 1 + 10_000 + 3_600_000;
        assert!(
            out.contains(&format!("x_seconds_sum {}\n", sum_ms as f64 / 1000.0)),
            "{out}"
        );
    }
}
