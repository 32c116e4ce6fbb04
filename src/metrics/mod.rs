//! Prometheus metrics (spec §6): one [`Metrics`] struct owning its registry,
//! passed by `Arc`.
//!
//! Every family is one line of a table in `families.rs` (name, type, labels,
//! help). Per message nothing touches a label: the apply path counts into
//! partition states, and every `metrics.update_interval_ms` a
//! [`MonitorView`] (plain numbers computed from the states) is written into
//! label handles resolved once at start. Per batch, the apply stage sets
//! the newest broker timestamp of each partition in it
//! ([`Metrics::set_last_record`]: one label lookup per partition of the
//! batch). Label values come only from bounded sets (configured categories,
//! windows and sectors; severities; rejection reasons; assigned
//! partitions).

mod families;
mod health;
mod http;
mod latency;
mod stage_time;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::{
    Encoder, Gauge, GaugeVec, IntCounter, IntGauge, IntGaugeVec, Registry, TextEncoder,
};

pub use health::Health;
pub use http::{Closed, Http};
pub use latency::{LatencyCollector, LatencyHistogram, LatencyRecorder};
pub use stage_time::StageTimeCollector;

use crate::count::MonitorView;
use crate::event::{Filter, Reject, Severity};
use crate::state::{Outcomes, Source};

/// Every metric of the monitor.
pub struct Metrics {
    registry: Registry,
    categories: Vec<String>,
    incidents_total: Vec<IntCounter>,
    sector_total: Vec<IntCounter>,
    incidents_window: Vec<IntGauge>,
    month_current: Vec<IntGauge>,
    month_previous: Vec<IntGauge>,
    month_previous_2: Vec<IntGauge>,
    mtd_current: Vec<IntGauge>,
    mtd_previous: Vec<IntGauge>,
    /// Year to date: current, previous_period, same_period_last_year; per
    /// category, then `all`.
    ytd: [Vec<IntGauge>; 3],
    mom_change: GaugeVec,
    current_month: IntGaugeVec,
    events: [IntCounter; 5],
    invalid: Vec<IntCounter>,
    filtered: Vec<IntCounter>,
    /// `[category][stage]`.
    stage_month: Vec<[IntGauge; 3]>,
    stage_month_time: GaugeVec,
    lifecycle_forgotten: IntCounter,
    lifecycle_skipped: Vec<IntCounter>,
    lifecycle_incidents: IntGauge,
    /// `unhandled`, `all`.
    lifecycle_overdue: [IntGauge; 2],
    stage_times: Arc<Mutex<[crate::lifecycle::TimeBuckets; 2]>>,
    window_late: Vec<IntCounter>,
    lag: IntGaugeVec,
    last_checkpoint: Gauge,
    spike: Vec<IntGauge>,
    spike_score: Vec<Gauge>,
    assigned: IntGauge,
    ready: IntGauge,
    dead_letter: [IntCounter; 2],
    dedup_evicted: IntCounter,
    blank_lines: IntCounter,
    dedup_ids: IntGauge,
    dedup_fill: Gauge,
    queue_depth: IntGaugeVec,
    last_record: GaugeVec,
    /// `publish_pending` of `unpublished` and `changed`.
    publish_pending: [IntGauge; 2],
    /// Partitions with a `last_record` series (pruned when they leave).
    last_record_partitions:
        Mutex<std::collections::BTreeMap<String, std::collections::BTreeSet<i32>>>,
    /// Dead-letter deliveries, counted by the producer's callback thread.
    pub dead_letter_sent: AtomicU64,
    pub dead_letter_failed: AtomicU64,
    latency: Arc<Mutex<LatencyHistogram>>,
    pub health: Health,
    last_month: Mutex<String>,
    inputs: Vec<InputCounters>,
    /// The HTTP endpoint's counters.
    pub http: Http,
}

/// The counters of one input (its messages by outcome, its rejections by
/// reason), found by the state source its partitions have.
struct InputCounters {
    source: Source,
    events: [IntCounter; 5],
    invalid: Vec<IntCounter>,
}

/// The outcome label values, in `Metrics::events` order (spec §6; the
/// `late` of version 1 is gone: lateness is per window).
const OUTCOMES: [&str; 5] = ["accepted", "duplicate", "update", "invalid", "filtered"];

/// Sets the outcome counters from outcome totals.
fn set_outcomes(events: &[IntCounter; 5], invalid: &[IntCounter], o: &Outcomes) {
    set_counter(&events[0], o.accepted);
    set_counter(&events[1], o.duplicate);
    set_counter(&events[2], o.update);
    set_counter(&events[3], o.invalid_total());
    set_counter(&events[4], o.filtered_total());
    for (c, n) in invalid.iter().zip(o.invalid) {
        set_counter(c, n);
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Metric registration failed: only possible with a programming error (a
/// duplicate name), reported at start rather than panicking.
#[derive(Debug, thiserror::Error)]
#[error("metrics registration: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The build (always 1, the version in a label) and the process's own
/// metrics (CPU, memory, file descriptors, start time; Linux).
fn register_process(r: &Registry) -> Result<(), MetricsError> {
    let build = families::Build::register(r)?;
    build
        .build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    #[cfg(target_os = "linux")]
    r.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(())
}

/// Sets a counter to an absolute value: the view's counters only grow
/// within a process (a lower value would read as a reset).
fn set_counter(c: &IntCounter, v: u64) {
    let cur = c.get();
    if v >= cur {
        c.inc_by(v - cur);
    } else {
        c.reset();
        c.inc_by(v);
    }
}

impl Metrics {
    /// Registers every metric with label handles for the configured
    /// categories, windows, sectors and inputs (`(name, state source)`).
    pub fn new(
        categories: &[String],
        windows: &[String],
        sectors: &[String],
        inputs: &[(String, Source)],
    ) -> Result<Metrics, MetricsError> {
        let r = Registry::new();
        let f = families::Figures::register(&r)?;
        let p = families::Pipeline::register(&r)?;
        register_process(&r)?;
        let latency = Arc::new(Mutex::new(LatencyHistogram::default()));
        r.register(Box::new(LatencyCollector::new(
            families::LATENCY,
            latency.clone(),
        )?))?;
        let stage_times = Arc::new(Mutex::new(Default::default()));
        r.register(Box::new(StageTimeCollector::new(
            families::TIME_TO_STAGE,
            stage_times.clone(),
        )?))?;
        let http = Http::new(&r)?;
        let inputs = inputs
            .iter()
            .map(|(name, source)| InputCounters {
                source: source.clone(),
                events: OUTCOMES.map(|o| p.input_events.with_label_values(&[name.as_str(), o])),
                invalid: Reject::ALL
                    .iter()
                    .map(|r| {
                        p.input_invalid
                            .with_label_values(&[name.as_str(), r.code()])
                    })
                    .collect(),
            })
            .collect();
        let sector_total = sectors
            .iter()
            .map(|s| f.sector.with_label_values(&[s.as_str()]))
            .collect();
        let mut incidents_total = Vec::new();
        for c in categories {
            for s in Severity::ALL {
                incidents_total.push(f.inc.with_label_values(&[c.as_str(), s.code()]));
            }
        }
        let mut incidents_window = Vec::new();
        let mut spike_h = Vec::new();
        let mut spike_score_h = Vec::new();
        for w in windows {
            for c in categories {
                incidents_window.push(f.win.with_label_values(&[w.as_str(), c.as_str()]));
                spike_h.push(f.spike.with_label_values(&[c.as_str(), w.as_str()]));
                spike_score_h.push(f.spike_score.with_label_values(&[c.as_str(), w.as_str()]));
            }
        }
        Ok(Metrics {
            http,
            categories: categories.to_vec(),
            incidents_total,
            sector_total,
            incidents_window,
            month_current: per_category(&f.month, "current", categories),
            month_previous: per_category(&f.month, "previous", categories),
            month_previous_2: per_category(&f.month, "previous_2", categories),
            mtd_current: per_category(&f.mtd, "current", categories),
            mtd_previous: per_category(&f.mtd, "previous", categories),
            ytd: ["current", "previous_period", "same_period_last_year"].map(|period| {
                let mut g = per_category(&f.ytd, period, categories);
                g.push(f.ytd.with_label_values(&[period, "all"]));
                g
            }),
            mom_change: f.mom_change,
            current_month: f.current_month,
            events: OUTCOMES.map(|o| p.events.with_label_values(&[o])),
            invalid: Reject::ALL
                .iter()
                .map(|r| p.invalid.with_label_values(&[r.code()]))
                .collect(),
            filtered: Filter::ALL
                .iter()
                .map(|x| p.filtered.with_label_values(&[x.code()]))
                .collect(),
            stage_month: categories
                .iter()
                .map(|c| {
                    crate::lifecycle::Stage::ALL
                        .map(|s| f.stage_month.with_label_values(&[s.code(), c.as_str()]))
                })
                .collect(),
            stage_month_time: f.stage_month_time,
            lifecycle_forgotten: p.lifecycle_forgotten,
            lifecycle_skipped: crate::lifecycle::Note::ALL
                .iter()
                .map(|n| p.lifecycle_skipped.with_label_values(&[n.code()]))
                .collect(),
            lifecycle_incidents: p.lifecycle_incidents,
            lifecycle_overdue: ["unhandled", "all"]
                .map(|s| p.lifecycle_overdue.with_label_values(&[s])),
            stage_times,
            window_late: windows
                .iter()
                .map(|w| p.window_late.with_label_values(&[w.as_str()]))
                .collect(),
            lag: p.lag,
            last_checkpoint: p.last_checkpoint,
            spike: spike_h,
            spike_score: spike_score_h,
            assigned: p.assigned,
            ready: p.ready,
            dead_letter: ["sent", "failed"].map(|o| p.dead_letter.with_label_values(&[o])),
            dedup_evicted: p.dedup_evicted,
            blank_lines: p.blank_lines,
            dedup_ids: p.dedup_ids,
            dedup_fill: p.dedup_fill,
            queue_depth: p.queue_depth,
            last_record: p.last_record,
            publish_pending: ["unpublished", "changed"]
                .map(|r| p.publish_pending.with_label_values(&[r])),
            last_record_partitions: Mutex::default(),
            dead_letter_sent: AtomicU64::new(0),
            dead_letter_failed: AtomicU64::new(0),
            latency,
            health: Health::default(),
            last_month: Mutex::new(String::new()),
            inputs,
            registry: r,
        })
    }

    /// Writes a view into the metrics.
    pub fn update(&self, v: &MonitorView) {
        let o = &v.outcomes;
        set_outcomes(&self.events, &self.invalid, o);
        for (source, o) in &v.by_source {
            if let Some(i) = self.inputs.iter().find(|i| i.source == *source) {
                set_outcomes(&i.events, &i.invalid, o);
            }
        }
        for (c, n) in self.filtered.iter().zip(o.filtered) {
            set_counter(c, n);
        }
        for (c, &n) in self.window_late.iter().zip(&o.window_late) {
            set_counter(c, n);
        }
        for (c, &n) in self.incidents_total.iter().zip(&v.incidents) {
            set_counter(c, n);
        }
        for (c, &n) in self.sector_total.iter().zip(&v.sectors) {
            set_counter(c, n);
        }
        let nc = self.categories.len();
        for (w, counts) in v.windows.iter().enumerate() {
            for (c, &n) in counts.iter().enumerate().take(nc) {
                self.incidents_window[w * nc + c].set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        self.assigned.set(v.assigned_partitions as i64);
        set_counter(&self.dedup_evicted, v.dedup_evicted);
        set_counter(&self.lifecycle_forgotten, v.lifecycle_forgotten);
        for (c, &n) in self.lifecycle_skipped.iter().zip(&o.lifecycle) {
            set_counter(c, n);
        }
        self.lifecycle_incidents
            .set(i64::try_from(v.lifecycle_incidents).unwrap_or(i64::MAX));
        let (unhandled, all) = v.lifecycle_overdue;
        for (g, n) in self.lifecycle_overdue.iter().zip([unhandled, all]) {
            g.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        if let Ok(mut t) = self.stage_times.lock() {
            t.clone_from(&v.stage_times);
        }
        set_counter(&self.blank_lines, v.blank_lines);
        self.dedup_ids
            .set(i64::try_from(v.dedup_ids).unwrap_or(i64::MAX));
        self.dedup_fill.set(v.dedup_fill);
        set_counter(
            &self.dead_letter[0],
            self.dead_letter_sent.load(Ordering::Relaxed),
        );
        set_counter(
            &self.dead_letter[1],
            self.dead_letter_failed.load(Ordering::Relaxed),
        );
        let Some(m) = &v.month else {
            return;
        };
        for (g, &n) in self.month_current.iter().zip(&m.current) {
            g.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let pairs = [
            (&self.month_previous, &m.previous),
            (&self.month_previous_2, &m.previous_2),
            (&self.mtd_current, &m.mtd_current),
            (&self.mtd_previous, &m.mtd_previous),
        ];
        for (gauges, values) in pairs {
            for (g, &n) in gauges.iter().zip(values) {
                g.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        for (cat, q) in self.categories.iter().zip(&m.stage_quantiles) {
            for (s, value) in crate::lifecycle::Stage::TIMED.iter().zip(q) {
                for (i, percentile) in ["50", "90"].into_iter().enumerate() {
                    let labels = [s.code(), cat.as_str(), percentile];
                    match value {
                        Some(v) => self
                            .stage_month_time
                            .with_label_values(&labels)
                            .set(if i == 0 { v.0 } else { v.1 } as f64),
                        None => {
                            let _ = self.stage_month_time.remove_label_values(&labels);
                        }
                    }
                }
            }
        }
        for (gauges, row) in self.stage_month.iter().zip(&m.stages) {
            for (g, &n) in gauges.iter().zip(row) {
                g.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        for (gauges, values) in self.ytd.iter().zip(&m.year_to_date) {
            let all = values.iter().sum::<u64>();
            for (g, &n) in gauges.iter().zip(values.iter().chain([&all])) {
                g.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        let labels = self.categories.iter().map(String::as_str).chain(["all"]);
        for ((cat, closed), mtd) in labels.zip(&m.closed_change).zip(&m.mtd_change) {
            for (basis, value) in [("closed", closed), ("month_to_date", mtd)] {
                match value {
                    Some(x) => self.mom_change.with_label_values(&[cat, basis]).set(*x),
                    // Undefined (against zero): the series is absent.
                    None => {
                        let _ = self.mom_change.remove_label_values(&[cat, basis]);
                    }
                }
            }
        }
        if let Ok(mut last) = self.last_month.lock()
            && *last != m.current_month
        {
            let _ = self.current_month.remove_label_values(&[last.as_str()]);
            self.current_month
                .with_label_values(&[m.current_month.as_str()])
                .set(1);
            *last = m.current_month.clone();
        }
    }

    /// Spike verdict of window `w`, category `c`.
    pub fn set_spike(&self, w: usize, c: usize, score: f64, spiking: bool) {
        let i = w * self.categories.len() + c;
        if let (Some(g), Some(s)) = (self.spike.get(i), self.spike_score.get(i)) {
            g.set(i64::from(spiking));
            s.set(score);
        }
    }

    /// Replaces the lag gauges with the given partitions' values, per topic.
    pub fn set_lag(&self, topics: &[(&str, Vec<(i32, i64)>)]) {
        self.lag.reset();
        for (topic, lag) in topics {
            for (p, l) in lag {
                self.lag
                    .with_label_values(&[*topic, p.to_string().as_str()])
                    .set(*l);
            }
        }
    }

    /// Depth of a bounded internal queue (`input` or `apply`).
    pub fn set_queue_depth(&self, queue: &'static str, batches: usize) {
        self.queue_depth
            .with_label_values(&[queue])
            .set(i64::try_from(batches).unwrap_or(i64::MAX));
    }

    /// The broker timestamp of the newest message applied from a partition.
    pub fn set_last_record(&self, topic: &str, partition: i32, unix_ms: i64) {
        self.last_record
            .with_label_values(&[topic, &partition.to_string()])
            .set(unix_ms as f64 / 1000.0);
        if let Ok(mut held) = self.last_record_partitions.lock() {
            match held.get_mut(topic) {
                Some(parts) => {
                    parts.insert(partition);
                }
                None => {
                    held.insert(topic.to_owned(), [partition].into());
                }
            }
        }
    }

    /// Drops the `last_record` series of partitions no longer held, per
    /// topic (a topic not listed is not held at all).
    pub fn keep_last_record(&self, held: &[(&str, Vec<i32>)]) {
        let Ok(mut series) = self.last_record_partitions.lock() else {
            return;
        };
        for (topic, parts) in series.iter_mut() {
            let now = held
                .iter()
                .find(|(t, _)| t == topic)
                .map_or(&[][..], |(_, p)| p.as_slice());
            parts.retain(|part| {
                let keep = now.contains(part);
                if !keep {
                    let _ = self
                        .last_record
                        .remove_label_values(&[topic.as_str(), &part.to_string()]);
                }
                keep
            });
        }
    }

    /// What the next `publish` would write (`crate::publish::pending`).
    pub fn set_publish_pending(&self, unpublished: u64, changed: u64) {
        self.publish_pending[0].set(i64::try_from(unpublished).unwrap_or(i64::MAX));
        self.publish_pending[1].set(i64::try_from(changed).unwrap_or(i64::MAX));
    }

    pub fn set_last_checkpoint(&self, unix_secs: f64) {
        self.last_checkpoint.set(unix_secs);
    }

    pub fn set_ready(&self, ready: bool, reason: &str) {
        self.ready.set(i64::from(ready));
        self.health.set_ready(ready, reason);
    }

    /// Moves the apply thread's latency samples into the exported histogram.
    pub fn absorb_latency(&self, r: &mut LatencyRecorder) {
        if let Ok(mut s) = self.latency.lock() {
            s.absorb(r);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// A family's gauges of one period, per category.
fn per_category(family: &IntGaugeVec, period: &str, categories: &[String]) -> Vec<IntGauge> {
    categories
        .iter()
        .map(|c| family.with_label_values(&[period, c.as_str()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §6: every message has one outcome of `accepted`, `duplicate`,
    /// `update`, `invalid` or `filtered` (no `late`: lateness is per window); blank
    /// lines are counted apart.
    #[test]
    fn the_outcome_label_set_is_the_specs() {
        let m = Metrics::new(&["phishing".into()], &["5m".into()], &["other".into()], &[]).unwrap();
        let text = m.encode();
        let mut outcomes: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("incident_monitor_events_total{"))
            .filter_map(|l| l.split("outcome=\"").nth(1)?.split('"').next())
            .collect();
        outcomes.sort_unstable();
        assert_eq!(
            outcomes,
            ["accepted", "duplicate", "filtered", "invalid", "update"]
        );
        assert!(
            text.contains("incident_monitor_blank_lines_total 0"),
            "{text}"
        );
        assert!(
            text.contains("incident_monitor_invalid_events_total{reason=\"too_old\"} 0"),
            "{text}"
        );
    }
}
