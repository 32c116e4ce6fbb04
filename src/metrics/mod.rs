//! Prometheus metrics (spec §6): one [`Metrics`] struct owning its registry,
//! passed by `Arc`.
//!
//! The consume loop never touches a label on the hot path: it counts into its
//! partition states, and every `metrics.update_interval_ms` a [`MonitorView`]
//! (plain numbers computed from the states) is written into label handles
//! resolved once at start. Label values come only from bounded sets
//! (configured categories, windows and sectors; severities; rejection reasons;
//! assigned partitions).

mod latency;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus::{
    Encoder, Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub use latency::{LatencyHistogram, LatencyRecorder};

use crate::count::MonitorView;
use crate::event::{Filter, Reject, Severity};
use crate::state::{Outcomes, Source};

/// Metric names.
pub mod names {
    pub const INCIDENTS_TOTAL: &str = "incident_monitor_incidents_total";
    pub const INCIDENTS_WINDOW: &str = "incident_monitor_incidents_window";
    pub const INCIDENTS_MONTH: &str = "incident_monitor_incidents_month";
    pub const MOM_CHANGE: &str = "incident_monitor_month_over_month_change_ratio";
    pub const EVENTS_TOTAL: &str = "incident_monitor_events_total";
    pub const INVALID_TOTAL: &str = "incident_monitor_invalid_events_total";
    pub const FILTERED_TOTAL: &str = "incident_monitor_filtered_events_total";
    pub const INPUT_EVENTS_TOTAL: &str = "incident_monitor_input_events_total";
    pub const INPUT_INVALID_TOTAL: &str = "incident_monitor_input_invalid_events_total";
    pub const WINDOW_LATE_TOTAL: &str = "incident_monitor_window_late_events_total";
    pub const CONSUMER_LAG: &str = "incident_monitor_consumer_lag_messages";
    pub const LATENCY: &str = "incident_monitor_processing_latency_seconds";
    pub const LAST_CHECKPOINT: &str = "incident_monitor_last_checkpoint_timestamp_seconds";
    pub const SPIKE: &str = "incident_monitor_spike";
    pub const SPIKE_SCORE: &str = "incident_monitor_spike_score";
    pub const ASSIGNED: &str = "incident_monitor_assigned_partitions";
    pub const READY: &str = "incident_monitor_ready";
    pub const DEAD_LETTER: &str = "incident_monitor_dead_letter_messages_total";
    pub const QUEUE_DEPTH: &str = "incident_monitor_queue_depth";
    pub const CURRENT_MONTH: &str = "incident_monitor_current_month_info";
    pub const MONTH_TO_DATE: &str = "incident_monitor_incidents_month_to_date";
    pub const SECTOR_TOTAL: &str = "incident_monitor_incidents_sector_total";
    pub const DEDUP_EVICTED: &str = "incident_monitor_dedup_evicted_total";
    pub const BLANK_LINES: &str = "incident_monitor_blank_lines_total";
    pub const LAST_RECORD: &str = "incident_monitor_last_record_timestamp_seconds";
    pub const DEDUP_IDS: &str = "incident_monitor_dedup_ids";
    pub const DEDUP_FILL: &str = "incident_monitor_dedup_fill_ratio";
    pub const BUILD_INFO: &str = "incident_monitor_build_info";
    pub const HTTP_REQUESTS: &str = "incident_monitor_http_requests_total";
    pub const HTTP_CLOSED: &str = "incident_monitor_http_connections_closed_total";
}

/// Why the endpoint closed a connection it had accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Idle, it gave its place to a newcomer (every place was taken).
    GaveWay,
    /// Every place had a request in flight for the whole header timeout.
    NoPlace,
    /// The TLS handshake failed (an untrusted client certificate, plain
    /// HTTP on the TLS port, ...).
    TlsFailed,
    /// The TLS handshake did not finish within the header timeout.
    TlsTimeout,
}

impl Closed {
    const ALL: [Closed; 4] = [
        Closed::GaveWay,
        Closed::NoPlace,
        Closed::TlsFailed,
        Closed::TlsTimeout,
    ];

    fn label(self) -> &'static str {
        match self {
            Closed::GaveWay => "gave_way",
            Closed::NoPlace => "no_place",
            Closed::TlsFailed => "tls_failed",
            Closed::TlsTimeout => "tls_timeout",
        }
    }
}

/// The endpoint's own counters: answers by route and status (401s are
/// failed logins, 503s busy reports), and connections it closed by why.
pub struct Http {
    requests: IntCounterVec,
    closed: IntCounterVec,
}

impl Http {
    fn new(r: &Registry) -> Result<Http, MetricsError> {
        let requests = family(
            IntCounterVec::new,
            r,
            names::HTTP_REQUESTS,
            "Requests the HTTP endpoint answered, by route (metrics, healthz, readyz, report, index, other) and status code.",
            &["path", "code"],
        )?;
        let closed = family(
            IntCounterVec::new,
            r,
            names::HTTP_CLOSED,
            "Connections the HTTP endpoint closed before answering: gave_way (idle, its place given to a newcomer), no_place, tls_failed, tls_timeout.",
            &["reason"],
        )?;
        for c in Closed::ALL {
            closed.with_label_values(&[c.label()]);
        }
        Ok(Http { requests, closed })
    }

    /// The `path` label of a request's path: one of a fixed few.
    pub fn route(path: &str) -> &'static str {
        match path {
            "/metrics" => "metrics",
            "/healthz" => "healthz",
            "/readyz" => "readyz",
            "/report" => "report",
            "/" => "index",
            _ => "other",
        }
    }

    /// An answer to a request on `route` ([`Http::route`]).
    pub fn answered(&self, route: &'static str, code: u16) {
        let mut buf = itoa::Buffer::new();
        self.requests
            .with_label_values(&[route, buf.format(code)])
            .inc();
    }

    /// A connection closed before an answer.
    pub fn closed(&self, why: Closed) {
        self.closed.with_label_values(&[why.label()]).inc();
    }
}

/// Liveness and readiness, shared with the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    reason: Mutex<String>,
}

impl Health {
    pub fn set_ready(&self, ready: bool, reason: &str) {
        self.ready.store(ready, Ordering::Relaxed);
        if let Ok(mut r) = self.reason.lock()
            && *r != reason
        {
            *r = reason.to_owned();
        }
    }

    pub fn ready(&self) -> (bool, String) {
        let reason = self.reason.lock().map(|r| r.clone()).unwrap_or_default();
        (self.ready.load(Ordering::Relaxed), reason)
    }
}

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
    mom_change: GaugeVec,
    current_month: IntGaugeVec,
    events: [IntCounter; 4],
    invalid: Vec<IntCounter>,
    filtered: Vec<IntCounter>,
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
    /// Partitions with a `last_record` series (pruned when they leave).
    last_record_partitions:
        Mutex<std::collections::BTreeMap<String, std::collections::BTreeSet<i32>>>,
    /// Dead-letter deliveries, counted by the producer's callback thread.
    pub dead_letter_sent: AtomicU64,
    pub dead_letter_failed: AtomicU64,
    latency: Mutex<LatencyHistogram>,
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
    events: [IntCounter; 4],
    invalid: Vec<IntCounter>,
}

/// The outcome label values, in `Metrics::events` order (spec §6; the
/// `late` of version 1 is gone: lateness is per window).
const OUTCOMES: [&str; 4] = ["accepted", "duplicate", "invalid", "filtered"];

/// Sets the outcome counters from outcome totals.
fn set_outcomes(events: &[IntCounter; 4], invalid: &[IntCounter], o: &Outcomes) {
    set_counter(&events[0], o.accepted);
    set_counter(&events[1], o.duplicate);
    set_counter(&events[2], o.invalid_total());
    set_counter(&events[3], o.filtered_total());
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

/// Registers a metric (family) and returns it.
fn registered<V: prometheus::core::Collector + Clone + 'static>(
    r: &Registry,
    v: V,
) -> Result<V, MetricsError> {
    r.register(Box::new(v.clone()))?;
    Ok(v)
}

/// The build (always 1, the version in a label) and the process's own
/// metrics (CPU, memory, file descriptors, start time; Linux).
fn register_process(r: &Registry) -> Result<(), MetricsError> {
    let info = family(
        IntGaugeVec::new,
        r,
        names::BUILD_INFO,
        "The running build: always 1, its version in a label.",
        &["version"],
    )?;
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    #[cfg(target_os = "linux")]
    r.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(())
}

/// A labelled metric family (`make`: its type's `new`), registered.
fn family<V: prometheus::core::Collector + Clone + 'static>(
    make: fn(Opts, &[&str]) -> prometheus::Result<V>,
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<V, MetricsError> {
    registered(r, make(Opts::new(name, help), labels)?)
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
        let Figures {
            inc,
            win,
            month,
            mtd,
            mom_change,
            current_month,
            spike,
            spike_score,
            sector,
        } = Figures::register(&r)?;
        let Pipeline {
            events,
            invalid,
            filtered,
            window_late,
            lag,
            last_checkpoint,
            assigned,
            ready,
            dedup_evicted,
            blank_lines,
            dedup_ids,
            dedup_fill,
            dead_letter,
            queue_depth,
            last_record,
            input_events,
            input_invalid,
        } = Pipeline::register(&r)?;
        register_process(&r)?;
        let http = Http::new(&r)?;
        let inputs = inputs
            .iter()
            .map(|(name, source)| InputCounters {
                source: source.clone(),
                events: OUTCOMES.map(|o| input_events.with_label_values(&[name.as_str(), o])),
                invalid: Reject::ALL
                    .iter()
                    .map(|r| input_invalid.with_label_values(&[name.as_str(), r.code()]))
                    .collect(),
            })
            .collect();
        let sector_total = sectors
            .iter()
            .map(|s| sector.with_label_values(&[s.as_str()]))
            .collect();
        let mut incidents_total = Vec::new();
        for c in categories {
            for s in Severity::ALL {
                incidents_total.push(inc.with_label_values(&[c.as_str(), s.code()]));
            }
        }
        let mut incidents_window = Vec::new();
        let mut spike_h = Vec::new();
        let mut spike_score_h = Vec::new();
        for w in windows {
            for c in categories {
                incidents_window.push(win.with_label_values(&[w.as_str(), c.as_str()]));
                spike_h.push(spike.with_label_values(&[c.as_str(), w.as_str()]));
                spike_score_h.push(spike_score.with_label_values(&[c.as_str(), w.as_str()]));
            }
        }
        Ok(Metrics {
            http,
            categories: categories.to_vec(),
            incidents_total,
            sector_total,
            incidents_window,
            month_current: per_category(&month, "current", categories),
            month_previous: per_category(&month, "previous", categories),
            month_previous_2: per_category(&month, "previous_2", categories),
            mtd_current: per_category(&mtd, "current", categories),
            mtd_previous: per_category(&mtd, "previous", categories),
            mom_change,
            current_month,
            events: OUTCOMES.map(|o| events.with_label_values(&[o])),
            invalid: Reject::ALL
                .iter()
                .map(|r| invalid.with_label_values(&[r.code()]))
                .collect(),
            filtered: Filter::ALL
                .iter()
                .map(|f| filtered.with_label_values(&[f.code()]))
                .collect(),
            window_late: windows
                .iter()
                .map(|w| window_late.with_label_values(&[w.as_str()]))
                .collect(),
            lag,
            last_checkpoint,
            spike: spike_h,
            spike_score: spike_score_h,
            assigned,
            ready,
            dead_letter: ["sent", "failed"].map(|o| dead_letter.with_label_values(&[o])),
            dedup_evicted,
            blank_lines,
            dedup_ids,
            dedup_fill,
            queue_depth,
            last_record,
            last_record_partitions: Mutex::default(),
            dead_letter_sent: AtomicU64::new(0),
            dead_letter_failed: AtomicU64::new(0),
            latency: Mutex::new(LatencyHistogram::default()),
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
        let mut out = String::from_utf8(buf).unwrap_or_default();
        if let Ok(s) = self.latency.lock() {
            s.encode(names::LATENCY, &mut out);
        }
        out
    }
}

/// A family's gauges of one period, per category.
fn per_category(family: &IntGaugeVec, period: &str, categories: &[String]) -> Vec<IntGauge> {
    categories
        .iter()
        .map(|c| family.with_label_values(&[period, c.as_str()]))
        .collect()
}

/// The metric families of the figures (incidents, months, spikes).
struct Figures {
    inc: IntCounterVec,
    win: IntGaugeVec,
    month: IntGaugeVec,
    mtd: IntGaugeVec,
    mom_change: GaugeVec,
    current_month: IntGaugeVec,
    spike: IntGaugeVec,
    spike_score: GaugeVec,
    sector: IntCounterVec,
}

impl Figures {
    fn register(r: &Registry) -> Result<Figures, MetricsError> {
        use names::*;
        let inc = family(
            IntCounterVec::new,
            r,
            INCIDENTS_TOTAL,
            "Incidents this process counted since it started; never moved by partitions being assigned or revoked (the month gauges hold the exact figures of the state).",
            &["category", "severity"],
        )?;
        let win = family(
            IntGaugeVec::new,
            r,
            INCIDENTS_WINDOW,
            "Distinct incidents in the event-time sliding window.",
            &["window", "category"],
        )?;
        let month = family(
            IntGaugeVec::new,
            r,
            INCIDENTS_MONTH,
            "Distinct incidents in the running month (current), the one before (previous) and the one before that (previous_2), in the configured timezone.",
            &["period", "category"],
        )?;
        let mtd = family(
            IntGaugeVec::new,
            r,
            MONTH_TO_DATE,
            "Distinct incidents of the running month so far (current) and of the same elapsed span of the previous month (previous); sums across instances give the month-to-date change.",
            &["period", "category"],
        )?;
        let mom_change = family(
            GaugeVec::new,
            r,
            MOM_CHANGE,
            "Month-over-month change as a ratio (0.3908 = +39.08%); absent when the earlier figure is zero.",
            &["category", "basis"],
        )?;
        let current_month = family(
            IntGaugeVec::new,
            r,
            CURRENT_MONTH,
            "The running month (label), always 1.",
            &["month"],
        )?;
        let spike = family(
            IntGaugeVec::new,
            r,
            SPIKE,
            "1 while the window count of a category is a spike against its baseline.",
            &["category", "window"],
        )?;
        let spike_score = family(
            GaugeVec::new,
            r,
            SPIKE_SCORE,
            "Spike score: sigmas above the rolling baseline.",
            &["category", "window"],
        )?;
        let sector = family(
            IntCounterVec::new,
            r,
            SECTOR_TOTAL,
            "Distinct incidents by target sector (configured sectors, other, unknown).",
            &["sector"],
        )?;
        Ok(Figures {
            inc,
            win,
            month,
            mtd,
            mom_change,
            current_month,
            spike,
            spike_score,
            sector,
        })
    }
}

/// The metric families of the pipeline (outcomes, lag, health, queues).
struct Pipeline {
    events: IntCounterVec,
    invalid: IntCounterVec,
    filtered: IntCounterVec,
    window_late: IntCounterVec,
    lag: IntGaugeVec,
    last_checkpoint: Gauge,
    assigned: IntGauge,
    ready: IntGauge,
    dedup_evicted: IntCounter,
    blank_lines: IntCounter,
    dedup_ids: IntGauge,
    dedup_fill: Gauge,
    dead_letter: IntCounterVec,
    queue_depth: IntGaugeVec,
    last_record: GaugeVec,
    input_events: IntCounterVec,
    input_invalid: IntCounterVec,
}

impl Pipeline {
    fn register(r: &Registry) -> Result<Pipeline, MetricsError> {
        use names::*;
        let events = family(
            IntCounterVec::new,
            r,
            EVENTS_TOTAL,
            "Messages by outcome.",
            &["outcome"],
        )?;
        let invalid = family(
            IntCounterVec::new,
            r,
            INVALID_TOTAL,
            "Rejected messages by reason.",
            &["reason"],
        )?;
        let filtered = family(
            IntCounterVec::new,
            r,
            FILTERED_TOTAL,
            "Well-formed messages that are not incidents by their format's filter (a Suricata flow record, a Wazuh alert below the minimum level...), by reason.",
            &["reason"],
        )?;
        let window_late = family(
            IntCounterVec::new,
            r,
            WINDOW_LATE_TOTAL,
            "Incidents older than a window's range when they arrived (still counted in months).",
            &["window"],
        )?;
        let lag = family(
            IntGaugeVec::new,
            r,
            CONSUMER_LAG,
            "Messages behind the partition's high watermark (librdkafka statistics).",
            &["topic", "partition"],
        )?;
        let last_checkpoint = registered(
            r,
            Gauge::new(
                LAST_CHECKPOINT,
                "Unix time of the last successful checkpoint.",
            )?,
        )?;
        let assigned = registered(
            r,
            IntGauge::new(ASSIGNED, "Partitions this instance owns.")?,
        )?;
        let ready = registered(r, IntGauge::new(READY, "1 when assigned and consuming.")?)?;
        let evicted_help = "Incident ids forgotten because dedup.max_ids_per_partition was reached; \
             one delivered again counts again.";
        let dedup_evicted = registered(r, IntCounter::new(DEDUP_EVICTED, evicted_help)?)?;
        let blank_lines = registered(
            r,
            IntCounter::new(
                BLANK_LINES,
                "Blank lines of files and stdin skipped (counted, not messages).",
            )?,
        )?;
        let dedup_ids = registered(
            r,
            IntGauge::new(
                DEDUP_IDS,
                "Incident ids remembered for dedup, over the partitions held.",
            )?,
        )?;
        let dedup_fill = registered(
            r,
            Gauge::new(
                DEDUP_FILL,
                "The fullest partition's remembered ids against dedup.max_ids_per_partition (at 1, the oldest are evicted).",
            )?,
        )?;
        let dead_letter = family(
            IntCounterVec::new,
            r,
            DEAD_LETTER,
            "Rejected messages sent to the dead-letter topic, by result.",
            &["result"],
        )?;
        let queue_depth = family(
            IntGaugeVec::new,
            r,
            QUEUE_DEPTH,
            "Batches waiting in a bounded internal queue (input: file reader to apply stage; apply: consume loop to apply stage).",
            &["queue"],
        )?;
        let last_record = family(
            GaugeVec::new,
            r,
            LAST_RECORD,
            "Broker timestamp (Unix seconds) of the newest message applied from each partition this instance holds: with lag above zero, time() minus it is how far behind the monitor is.",
            &["topic", "partition"],
        )?;
        let input_events = family(
            IntCounterVec::new,
            r,
            INPUT_EVENTS_TOTAL,
            "Messages by input (the configured name) and outcome: which source is quiet, spiking or sending what is not an incident.",
            &["input", "outcome"],
        )?;
        let input_invalid = family(
            IntCounterVec::new,
            r,
            INPUT_INVALID_TOTAL,
            "Rejected messages by input and reason.",
            &["input", "reason"],
        )?;
        Ok(Pipeline {
            input_events,
            input_invalid,
            events,
            invalid,
            filtered,
            window_late,
            lag,
            last_checkpoint,
            assigned,
            ready,
            dedup_evicted,
            blank_lines,
            dedup_ids,
            dedup_fill,
            dead_letter,
            queue_depth,
            last_record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §6: every message has one outcome of `accepted`, `duplicate`,
    /// `invalid` or `filtered` (no `late`: lateness is per window); blank
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
        assert_eq!(outcomes, ["accepted", "duplicate", "filtered", "invalid"]);
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
