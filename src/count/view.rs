//! The derived view: plain numbers summed over the partitions held, with
//! the month-over-month and month-to-date ratios the metrics export. Pure:
//! partition states and a wall time in, numbers out.

use super::engine::{Engine, Outcome};
use crate::calendar::ToDate;
use crate::calendar::change::{MonthToDate, ratio};
use crate::event::{EpochMillis, Severity};
use crate::lifecycle::{NO_TIME, Stage, TimeBuckets};
use crate::state::{Outcomes, PartitionKey, PartitionState, Source};

/// Everything exported, as plain numbers (computed by the monitor). The
/// outcome, incident and sector figures are what this process applied
/// since it started (counters); the windows and months are of the state
/// held (gauges).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorView {
    /// Messages by outcome, rejection and filter reason, and window-late
    /// incidents, that this process applied.
    pub outcomes: Outcomes,
    /// `[category][severity]` incidents this process counted.
    pub incidents: Vec<u64>,
    /// Per sector label, incidents this process counted.
    pub sectors: Vec<u64>,
    /// `[window][category]` distinct incidents in each window now.
    pub windows: Vec<Vec<u64>>,
    pub month: Option<MonthView>,
    pub assigned_partitions: usize,
    /// The partitions held, in key order (a change rebases spike
    /// baselines).
    pub holding: Vec<PartitionKey>,
    /// Incident ids evicted from dedup memory by the per-partition cap.
    pub dedup_evicted: u64,
    /// Incident ids remembered, over the partitions held.
    pub dedup_ids: u64,
    /// The fullest partition's ids against `dedup.max_ids_per_partition`.
    pub dedup_fill: f64,
    /// Outcomes this process applied per source (a Kafka topic: an input).
    pub by_source: Vec<(Source, Outcomes)>,
    /// Blank lines of files and stdin this process skipped.
    pub blank_lines: u64,
    /// Times to `warned` and `handled` this process recorded.
    pub stage_times: [TimeBuckets; 2],
    /// Incidents remembered for their updates, over the partitions held.
    pub lifecycle_incidents: u64,
    /// Incidents forgotten before they were handled, by this process.
    pub lifecycle_forgotten: u64,
    /// Remembered incidents detected between 30 days and
    /// `lifecycle.overdue_hours` ago: not handled, and all of them.
    pub lifecycle_overdue: (u64, u64),
}

/// The running month and the one before it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonthView {
    /// `YYYY-MM` of the running month (in the configured timezone).
    pub current_month: String,
    pub current: Vec<u64>,
    pub previous: Vec<u64>,
    /// The month before the previous one (M-2), per category.
    pub previous_2: Vec<u64>,
    /// Month to date of the running month, and the same elapsed span of the
    /// previous month, per category.
    pub mtd_current: Vec<u64>,
    pub mtd_previous: Vec<u64>,
    /// Per category, then `all`: closed months (M-1 against M-2).
    pub closed_change: Vec<Option<f64>>,
    /// Per category, then `all`: month to date against the same span of M-1.
    pub mtd_change: Vec<Option<f64>>,
    /// The year to date (January to the running month, to date), the
    /// equally long period before it and the same period last year, each
    /// over the same elapsed span, per category (as `report` counts them).
    pub year_to_date: [Vec<u64>; 3],
    /// `[category][stage]`: incidents of the running month that reached
    /// each stage (`recorded`: all of them).
    pub stages: Vec<[u64; Stage::COUNT]>,
    /// `[category][warned, handled]`: the running month's median and 90th
    /// percentile time to the stage (hdrhistogram's reading), if any.
    pub stage_quantiles: Vec<[Option<(u64, u64)>; 2]>,
}

/// What this process applied since it started: what the counters of the
/// metrics count. Never moved by partitions arriving or leaving (their
/// restored history is in the gauges, from the partition states).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    pub outcomes: Outcomes,
    /// `[category][severity]` incidents.
    pub incidents: Vec<u64>,
    /// Incidents per sector label.
    pub sectors: Vec<u64>,
    /// Blank lines of files and stdin skipped (not messages).
    pub blank_lines: u64,
    /// Times to `warned` and `handled` recorded.
    pub stage_times: [TimeBuckets; 2],
}

impl Applied {
    pub fn new(categories: usize, windows: usize, sectors: usize) -> Applied {
        Applied {
            outcomes: Outcomes {
                window_late: vec![0; windows],
                ..Outcomes::default()
            },
            incidents: vec![0; categories * Severity::COUNT],
            sectors: vec![0; sectors],
            blank_lines: 0,
            stage_times: Default::default(),
        }
    }

    #[inline]
    pub fn record(&mut self, outcome: &Outcome) {
        outcome.tally(&mut self.outcomes);
        let moved = match outcome {
            Outcome::Accepted { moved, .. } | Outcome::Update(moved) => moved,
            _ => return,
        };
        for (b, &t) in self.stage_times.iter_mut().zip(&moved.times) {
            if t != NO_TIME {
                b.record(t);
            }
        }
        if let Outcome::Accepted {
            category,
            severity,
            sector,
            ..
        } = *outcome
        {
            let i = usize::from(category) * Severity::COUNT + severity.index();
            if let Some(n) = self.incidents.get_mut(i) {
                *n += 1;
            }
            if let Some(n) = self.sectors.get_mut(sector) {
                *n += 1;
            }
        }
    }
}

/// The view of `partitions` at `wall_ms`, with the counters of what this
/// process `applied`. `dedup_evicted` is the evictions to report (the
/// caller adds partitions it no longer holds).
pub fn compute<'a>(
    engine: &mut Engine,
    partitions: impl Iterator<Item = &'a PartitionState> + Clone,
    applied: &Applied,
    dedup_evicted: u64,
    wall_ms: EpochMillis,
) -> MonitorView {
    let s = engine.settings();
    let (nc, nw) = (s.categories().len(), s.config.windows.windows.len());
    let o = &applied.outcomes;
    let mut v = MonitorView {
        outcomes: o.clone(),
        incidents: applied.incidents.clone(),
        sectors: applied.sectors.clone(),
        windows: vec![vec![0; nc]; nw],
        month: None,
        assigned_partitions: partitions.clone().count(),
        holding: partitions.clone().map(|st| st.key.clone()).collect(),
        dedup_evicted,
        dedup_ids: 0,
        dedup_fill: 0.0,
        by_source: Vec::new(),
        blank_lines: applied.blank_lines,
        stage_times: applied.stage_times.clone(),
        lifecycle_incidents: 0,
        lifecycle_forgotten: 0,
        lifecycle_overdue: (0, 0),
    };
    let cap = s.config.dedup.max_ids_per_partition.max(1) as f64;
    for st in partitions.clone() {
        v.lifecycle_incidents += st.lifecycle.len() as u64;
        let ids = st.dedup.remembered();
        v.dedup_ids += ids as u64;
        v.dedup_fill = v.dedup_fill.max(ids as f64 / cap);
        for (w, out) in v.windows.iter_mut().enumerate() {
            st.windows.counts_into(w, wall_ms, out);
        }
    }
    // The running month is the wall clock's, in the configured timezone,
    // as in `report` (never the watermark's: a backfill of 2022 does not
    // make 2022 the running month).
    if let Some(span) = ToDate::at(engine.months(), wall_ms) {
        v.month = Some(month_view(nc, partitions, &span));
    }
    v
}

/// The running month to date (`span`), the two months before it, and
/// their ratios.
fn month_view<'a>(
    nc: usize,
    partitions: impl Iterator<Item = &'a PartitionState>,
    span: &ToDate,
) -> MonthView {
    let cur = span.slot.month;
    let (prev, prev2) = (cur.plus(-1), cur.plus(-2));
    let mut mv = MonthView {
        current_month: cur.to_string(),
        current: vec![0; nc],
        previous: vec![0; nc],
        previous_2: vec![0; nc],
        mtd_current: vec![0; nc],
        mtd_previous: vec![0; nc],
        year_to_date: [vec![0; nc], vec![0; nc], vec![0; nc]],
        stages: vec![[0; Stage::COUNT]; nc],
        stage_quantiles: vec![[None; 2]; nc],
        ..MonthView::default()
    };
    let mut times: Vec<[crate::lifecycle::StageTimes; 2]> = vec![Default::default(); nc];
    let y = crate::calendar::change::YearToDate::of(cur);
    let add = |into: &mut [u64], from: &[u64]| {
        for (a, b) in into.iter_mut().zip(from) {
            *a += b;
        }
    };
    for st in partitions {
        for c in 0..nc {
            mv.previous[c] += st.ledger.category_total(prev, c);
            mv.previous_2[c] += st.ledger.category_total(prev2, c);
        }
        if let Some(m) = st.ledger.month(cur) {
            for (c, row) in mv.stages.iter_mut().enumerate() {
                for s in Stage::ALL {
                    row[s.index()] += m.stage_count(c, s);
                }
                for (t, s) in Stage::TIMED.into_iter().enumerate() {
                    if let Some(from) = m.stage_times(c, s) {
                        times[c][t].merge(from);
                    }
                }
            }
        }
        let mtd = MonthToDate::compute(&st.ledger, span);
        add(&mut mv.mtd_current, &mtd.current);
        add(&mut mv.mtd_previous, &mtd.previous_same_span);
        let [now, before, last_year] = &mut mv.year_to_date;
        for (out, from, to) in [
            (now, y.from, y.to),
            (before, y.previous_from, y.previous_to),
            (last_year, y.last_year_from, y.last_year_to),
        ] {
            st.ledger.categories_through(from, to, Some(span), out);
        }
    }
    for (q, t) in mv.stage_quantiles.iter_mut().zip(&times) {
        for (out, times) in q.iter_mut().zip(t) {
            *out = times.summary().map(|s| (s.median_secs, s.p90_secs));
        }
    }
    // The running month's figure is its figure to date: an incident dated
    // after the instant (within `events.max_future_secs`) is not in it yet.
    mv.current.clone_from(&mv.mtd_current);
    let changes = |now: &[u64], before: &[u64]| -> Vec<Option<f64>> {
        let sum = |x: &[u64]| x.iter().sum::<u64>();
        (0..nc)
            .map(|c| ratio(now[c], before[c]))
            .chain([ratio(sum(now), sum(before))])
            .collect()
    };
    mv.closed_change = changes(&mv.previous, &mv.previous_2);
    mv.mtd_change = changes(&mv.mtd_current, &mv.mtd_previous);
    mv
}
