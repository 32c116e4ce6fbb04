//! Every metric family of the monitor (spec §6), each one line of a table:
//! its field, type, name, labels and help. The tables generate the structs
//! holding the families and their registration; [`super::Metrics`]
//! resolves label handles from them once, at start. A new metric is a line
//! here and a handle there.

use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use super::MetricsError;

/// The processing-latency histogram's name (collected by
/// [`super::LatencyCollector`] from the shared buckets).
pub(super) const LATENCY: &str = "incident_monitor_processing_latency_seconds";

/// The detection-to-stage histogram's name (collected by
/// [`super::StageTimeCollector`]).
pub(super) const TIME_TO_STAGE: &str = "incident_monitor_time_to_stage_seconds";

/// A metric type a table can hold, built from its options and labels.
pub(super) trait Family: Collector + Clone + Sized + 'static {
    fn make(opts: Opts, labels: &[&str]) -> prometheus::Result<Self>;
}

macro_rules! labelled {
    ($($t:ty),*) => {
        $(impl Family for $t {
            fn make(opts: Opts, labels: &[&str]) -> prometheus::Result<Self> {
                <$t>::new(opts, labels)
            }
        })*
    };
}
labelled!(IntCounterVec, IntGaugeVec, GaugeVec);

macro_rules! single {
    ($($t:ty),*) => {
        $(impl Family for $t {
            fn make(opts: Opts, _labels: &[&str]) -> prometheus::Result<Self> {
                <$t>::with_opts(opts)
            }
        })*
    };
}
single!(IntCounter, IntGauge, Gauge);

/// Registers a metric (family) and returns it.
pub(super) fn registered<V: Collector + Clone + 'static>(
    r: &Registry,
    v: V,
) -> Result<V, MetricsError> {
    r.register(Box::new(v.clone()))?;
    Ok(v)
}

/// A struct of metric families from a table, and its registration.
macro_rules! families {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $field:ident: $kind:ty = $metric:literal, [$($label:literal),*], $help:literal; )*
        }
    ) => {
        $(#[$doc])*
        pub(super) struct $name {
            $( pub(super) $field: $kind, )*
        }

        impl $name {
            pub(super) fn register(r: &Registry) -> Result<$name, MetricsError> {
                Ok($name {
                    $( $field: registered(
                        r,
                        <$kind as Family>::make(Opts::new($metric, $help), &[$($label),*])?,
                    )?, )*
                })
            }
        }
    };
}

families! {
    /// The figures: incidents, windows, months, changes, spikes, sectors.
    Figures {
        inc: IntCounterVec = "incident_monitor_incidents_total", ["category", "severity"],
            "Incidents this process counted since it started; never moved by partitions being assigned or revoked (the month gauges hold the exact figures of the state).";
        win: IntGaugeVec = "incident_monitor_incidents_window", ["window", "category"],
            "Distinct incidents in the event-time sliding window.";
        month: IntGaugeVec = "incident_monitor_incidents_month", ["period", "category"],
            "Distinct incidents in the running month (current), the one before (previous) and the one before that (previous_2), in the configured timezone.";
        mtd: IntGaugeVec = "incident_monitor_incidents_month_to_date", ["period", "category"],
            "Distinct incidents of the running month so far (current) and of the same elapsed span of the previous month (previous); sums across instances give the month-to-date change.";
        ytd: IntGaugeVec = "incident_monitor_incidents_year_to_date", ["period", "category"],
            "Distinct incidents of the year to date (current: January to the running month, to date), the equally long period before it (previous_period) and the same period last year (same_period_last_year), each over the same elapsed span; category all is their sum.";
        mom_change: GaugeVec = "incident_monitor_month_over_month_change_ratio", ["category", "basis"],
            "Month-over-month change as a ratio (0.3908 = +39.08%); absent when the earlier figure is zero.";
        current_month: IntGaugeVec = "incident_monitor_current_month_info", ["month"],
            "The running month (label), always 1.";
        spike: IntGaugeVec = "incident_monitor_spike", ["category", "window"],
            "1 while the window count of a category is a spike against its baseline.";
        spike_score: GaugeVec = "incident_monitor_spike_score", ["category", "window"],
            "Spike score: sigmas above the rolling baseline.";
        stage_month: IntGaugeVec = "incident_monitor_incidents_stage_month", ["stage", "category"],
            "Distinct incidents of the running month that reached a lifecycle stage (recorded: all of them; warned; handled), a stage's count including those that went on to a later one.";
        stage_month_time: GaugeVec = "incident_monitor_time_to_stage_month_seconds", ["stage", "category", "percentile"],
            "The running month's median (percentile 50) and 90th percentile (90) time from detection to a stage (warned, handled), per category, as the monthly report reads them (hdrhistogram, within 1%); absent without times. Per instance: its partitions' incidents.";
        sector: IntCounterVec = "incident_monitor_incidents_sector_total", ["sector"],
            "Distinct incidents by target sector (configured sectors, other, unknown).";
    }
}

families! {
    /// The pipeline: outcomes, rejections, lag, health, dedup, queues, inputs.
    Pipeline {
        events: IntCounterVec = "incident_monitor_events_total", ["outcome"],
            "Messages by outcome.";
        invalid: IntCounterVec = "incident_monitor_invalid_events_total", ["reason"],
            "Rejected messages by reason.";
        filtered: IntCounterVec = "incident_monitor_filtered_events_total", ["reason"],
            "Well-formed messages that are not incidents by their format's filter (a Suricata flow record, a Wazuh alert below the minimum level...), by reason.";
        window_late: IntCounterVec = "incident_monitor_window_late_events_total", ["window"],
            "Incidents older than a window's range when they arrived (still counted in months).";
        lag: IntGaugeVec = "incident_monitor_consumer_lag_messages", ["topic", "partition"],
            "Messages behind the partition's high watermark (librdkafka statistics).";
        dead_letter: IntCounterVec = "incident_monitor_dead_letter_messages_total", ["result"],
            "Rejected messages sent to the dead-letter topic, by result.";
        queue_depth: IntGaugeVec = "incident_monitor_queue_depth", ["queue"],
            "Batches waiting in a bounded internal queue (input: file reader to apply stage; apply: consume loop to apply stage).";
        last_record: GaugeVec = "incident_monitor_last_record_timestamp_seconds", ["topic", "partition"],
            "Broker timestamp (Unix seconds) of the newest message applied from each partition this instance holds: with lag above zero, time() minus it is how far behind the monitor is.";
        input_events: IntCounterVec = "incident_monitor_input_events_total", ["input", "outcome"],
            "Messages by input (the configured name) and outcome: which source is quiet, spiking or sending what is not an incident.";
        input_invalid: IntCounterVec = "incident_monitor_input_invalid_events_total", ["input", "reason"],
            "Rejected messages by input and reason.";
        last_checkpoint: Gauge = "incident_monitor_last_checkpoint_timestamp_seconds", [],
            "Unix time of the last successful checkpoint.";
        assigned: IntGauge = "incident_monitor_assigned_partitions", [],
            "Partitions this instance owns.";
        ready: IntGauge = "incident_monitor_ready", [],
            "1 when assigned and consuming.";
        dedup_evicted: IntCounter = "incident_monitor_dedup_evicted_total", [],
            "Incident ids forgotten because dedup.max_ids_per_partition was reached; one delivered again counts again.";
        blank_lines: IntCounter = "incident_monitor_blank_lines_total", [],
            "Blank lines of files and stdin skipped (counted, not messages).";
        dedup_ids: IntGauge = "incident_monitor_dedup_ids", [],
            "Incident ids remembered for dedup, over the partitions held.";
        dedup_fill: Gauge = "incident_monitor_dedup_fill_ratio", [],
            "The fullest partition's remembered ids against dedup.max_ids_per_partition (at 1, the oldest are evicted).";
        lifecycle_forgotten: IntCounter = "incident_monitor_lifecycle_forgotten_total", [],
            "Incidents forgotten by the lifecycle before they were handled (lifecycle.remember_days or lifecycle.max_per_partition reached): their later messages can no longer move them.";
        lifecycle_skipped: IntCounterVec = "incident_monitor_lifecycle_skipped_total", ["reason"],
            "Lifecycle news not applied, by reason: negative_time and too_long (the stage counts, its time is not recorded), forgotten (a message naming a stage, of an incident no longer remembered: a duplicate).";
        lifecycle_incidents: IntGauge = "incident_monitor_lifecycle_incidents", [],
            "Incidents remembered for their updates, over the partitions held.";
        lifecycle_overdue: IntGaugeVec = "incident_monitor_lifecycle_overdue", ["state"],
            "Remembered incidents detected between 30 days and lifecycle.overdue_hours ago: not handled yet (state unhandled), and all of them (state all); counted once a minute.";
        publish_pending: IntGaugeVec = "incident_monitor_publish_pending", ["reason"],
            "Closed months past [publish] after_close_secs that the archive lacks (unpublished) or whose figures changed since their latest version (changed): what the next publish would write. 0 while the archive does not exist.";
    }
}

families! {
    /// The HTTP endpoint's own counters.
    Endpoint {
        requests: IntCounterVec = "incident_monitor_http_requests_total", ["path", "code"],
            "Requests the HTTP endpoint answered, by route (metrics, healthz, readyz, report, index, other) and status code.";
        closed: IntCounterVec = "incident_monitor_http_connections_closed_total", ["reason"],
            "Connections the HTTP endpoint closed before answering: gave_way (idle, its place given to a newcomer), no_place, tls_failed, tls_timeout.";
    }
}

families! {
    /// The running build.
    Build {
        build_info: IntGaugeVec = "incident_monitor_build_info", ["version"],
            "The running build: always 1, its version in a label.";
    }
}
