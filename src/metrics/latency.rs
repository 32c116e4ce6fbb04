//! Processing latency (Kafka message timestamp → applied), recorded in
//! hdrhistograms and exported as a Prometheus histogram (spec §6: buckets,
//! aggregatable across instances).
//!
//! The hot path records into a local hdrhistogram owned by the apply
//! thread (no lock), merged into the shared fixed buckets whenever the
//! thread has caught up and at least every 200 ms under load. The shared
//! buckets are exported by a [`prometheus::core::Collector`] that builds
//! the family, so the text (and any other encoding) is the crate's.
//!
//! Buckets go to a day: after an outage or during a backfill, latencies of
//! hours are real and a p99 must say so. Above a day a value is counted in
//! `+Inf` only; the sum is exact whatever the value.

use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;
use prometheus::core::{Collector, Desc};
use prometheus::proto;

/// Highest latency kept in the buckets (1 day, in ms); larger values are
/// counted above the last bucket.
const MAX_MS: u64 = 86_400_000;

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (1 ms .. 1 day at 3 significant digits): cannot fail.
    Histogram::new_with_bounds(1, MAX_MS, 3).expect("valid histogram bounds")
}

/// A local recorder for the apply thread.
#[derive(Debug)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
    /// The exact sum of the values recorded (the histogram keeps them to
    /// three significant digits).
    sum_ms: u64,
    /// Values above [`MAX_MS`].
    over: u64,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            hist: new_histogram(),
            sum_ms: 0,
            over: 0,
        }
    }
}

impl LatencyRecorder {
    /// Records one latency; below 1 ms (clocks a little apart) counts as
    /// 1 ms.
    #[inline]
    pub fn record_ms(&mut self, ms: i64) {
        let v = u64::try_from(ms).unwrap_or(0).max(1);
        if v > MAX_MS {
            self.over += 1;
        } else {
            // In range: 1 ..= MAX_MS.
            let _ = self.hist.record(v);
        }
        self.sum_ms = self.sum_ms.saturating_add(v);
    }
}

/// Upper bounds of the exported buckets, in milliseconds: 5 ms to a day.
const BUCKETS_MS: [u64; 21] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000,
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
        self.count += std::mem::take(&mut r.over);
        self.sum_ms = self.sum_ms.saturating_add(std::mem::take(&mut r.sum_ms));
        r.hist.reset();
    }

    /// The histogram as the crate's model of a Prometheus histogram.
    fn to_proto(&self) -> proto::Histogram {
        histogram_proto(
            BUCKETS_MS.iter().map(|le| *le as f64 / 1000.0),
            &self.buckets,
            self.count,
            self.sum_ms as f64 / 1000.0,
        )
    }
}

/// A Prometheus histogram from per-bucket counts (not cumulative) with
/// their upper bounds, the count (`+Inf` included) and the sum.
pub(super) fn histogram_proto(
    bounds: impl Iterator<Item = f64>,
    counts: &[u64],
    count: u64,
    sum: f64,
) -> proto::Histogram {
    let mut cumulative = 0;
    let buckets = bounds
        .zip(counts)
        .map(|(le, n)| {
            cumulative += n;
            let mut b = proto::Bucket::default();
            b.set_upper_bound(le);
            b.set_cumulative_count(cumulative);
            b
        })
        .collect();
    let mut h = proto::Histogram::default();
    h.set_bucket(buckets);
    h.set_sample_count(count);
    h.set_sample_sum(sum);
    h
}

/// One histogram family of `desc` with its metrics.
pub(super) fn histogram_family(desc: &Desc, metrics: Vec<proto::Metric>) -> proto::MetricFamily {
    let mut f = proto::MetricFamily::default();
    f.set_name(desc.fq_name.clone());
    f.set_help(desc.help.clone());
    f.set_field_type(proto::MetricType::HISTOGRAM);
    f.set_metric(metrics);
    f
}

/// Exports a shared [`LatencyHistogram`] as one histogram family.
pub struct LatencyCollector {
    hist: Arc<Mutex<LatencyHistogram>>,
    desc: Desc,
}

impl LatencyCollector {
    /// A collector of `hist` named `name`.
    pub fn new(name: &str, hist: Arc<Mutex<LatencyHistogram>>) -> prometheus::Result<Self> {
        let desc = Desc::new(
            name.to_owned(),
            "Time from the Kafka message timestamp to the message being applied, since the process started.".to_owned(),
            Vec::new(),
            Default::default(),
        )?;
        Ok(LatencyCollector { hist, desc })
    }
}

impl Collector for LatencyCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let Ok(h) = self.hist.lock() else {
            return Vec::new();
        };
        let mut m = proto::Metric::default();
        m.set_histogram(h.to_proto());
        vec![histogram_family(&self.desc, vec![m])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_to_a_day_and_an_exact_sum() {
        let mut r = LatencyRecorder::default();
        for ms in 1..=1000 {
            r.record_ms(ms);
        }
        r.record_ms(-5);
        r.record_ms(10_000);
        r.record_ms(7_200_000); // two hours
        r.record_ms(3 * 86_400_000); // three days
        let hist = Arc::new(Mutex::new(LatencyHistogram::default()));
        hist.lock().unwrap().absorb(&mut r);
        // Absorbing resets the recorder: a second absorb adds nothing.
        hist.lock().unwrap().absorb(&mut r);
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(LatencyCollector::new("x_seconds", hist).unwrap()))
            .unwrap();
        let mut buf = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut buf,
        )
        .unwrap();
        let out = String::from_utf8(buf).unwrap();
        assert!(out.contains("# TYPE x_seconds histogram"), "{out}");
        // 1 ms (the clamped -5) and 1..=5 ms.
        assert!(out.contains("x_seconds_bucket{le=\"0.005\"} 6\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"1\"} 1001\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"10\"} 1002\n"), "{out}");
        // Two hours is past the hour and within two.
        assert!(
            out.contains("x_seconds_bucket{le=\"3600\"} 1002\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{le=\"7200\"} 1003\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{le=\"86400\"} 1003\n"),
            "{out}"
        );
        // Three days: above every bucket.
        assert!(
            out.contains("x_seconds_bucket{le=\"+Inf\"} 1004\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count 1004\n"), "{out}");
        let counts: Vec<u64> = out
            .lines()
            .filter(|l| l.starts_with("x_seconds_bucket"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]),
            "cumulative: {counts:?}"
        );
        // The sum is exact, the three days included.
        let sum_ms = (1..=1000u64).sum::<u64>() + 1 + 10_000 + 7_200_000 + 3 * 86_400_000;
        assert!(
            out.contains(&format!("x_seconds_sum {}\n", sum_ms as f64 / 1000.0)),
            "{out}"
        );
    }
}
