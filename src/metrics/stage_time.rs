//! Detection-to-stage times this process recorded (spec §6
//! `incident_monitor_time_to_stage_seconds{stage}`), exported as one
//! Prometheus histogram per timed stage by a collector that builds the
//! family from the view's fixed buckets (set every update interval).

use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto;

use crate::lifecycle::{BUCKETS_SECS, Stage, TimeBuckets};

/// Exports the shared `[warned, handled]` buckets.
pub struct StageTimeCollector {
    times: Arc<Mutex<[TimeBuckets; 2]>>,
    desc: Desc,
}

impl StageTimeCollector {
    pub fn new(name: &str, times: Arc<Mutex<[TimeBuckets; 2]>>) -> prometheus::Result<Self> {
        let desc = Desc::new(
            name.to_owned(),
            "Time from an incident's detection to its reaching a lifecycle stage (updated minus time), recorded by this process since it started."
                .to_owned(),
            vec!["stage".to_owned()],
            Default::default(),
        )?;
        Ok(StageTimeCollector { times, desc })
    }
}

fn histogram(t: &TimeBuckets) -> proto::Histogram {
    super::latency::histogram_proto(
        BUCKETS_SECS.iter().map(|le| *le as f64),
        &t.buckets,
        t.count,
        t.sum_secs as f64,
    )
}

impl Collector for StageTimeCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let Ok(times) = self.times.lock() else {
            return Vec::new();
        };
        let metrics = Stage::TIMED
            .iter()
            .zip(times.iter())
            .map(|(s, t)| {
                let mut label = proto::LabelPair::default();
                label.set_name("stage".to_owned());
                label.set_value(s.code().to_owned());
                let mut m = proto::Metric::default();
                m.set_label(vec![label]);
                m.set_histogram(histogram(t));
                m
            })
            .collect();
        vec![super::latency::histogram_family(&self.desc, metrics)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_histogram_per_timed_stage_with_an_exact_sum() {
        let mut t: [TimeBuckets; 2] = Default::default();
        t[0].record(30);
        t[0].record(7_200);
        t[1].record(90 * 86_400);
        let shared = Arc::new(Mutex::new(t));
        let r = prometheus::Registry::new();
        r.register(Box::new(
            StageTimeCollector::new("x_seconds", shared).unwrap(),
        ))
        .unwrap();
        let mut buf = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut buf)
            .unwrap();
        let out = String::from_utf8(buf).unwrap();
        assert!(
            out.contains("x_seconds_bucket{stage=\"warned\",le=\"60\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{stage=\"warned\",le=\"7200\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_sum{stage=\"warned\"} 7230\n"),
            "{out}"
        );
        // Ninety days is past the last bucket: +Inf only.
        assert!(
            out.contains("x_seconds_bucket{stage=\"handled\",le=\"2592000\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_count{stage=\"handled\"} 1\n"),
            "{out}"
        );
    }
}
