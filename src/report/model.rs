//! The report model: every figure of a monthly report, computed from a
//! (merged) ledger. Rendering is separate (`render`).

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::calendar::change::{YearToDate, percent_hundredths, ratio};
use crate::calendar::{Ledger, MonthCounts, MonthIndex, ToDate, YearMonth};
use crate::event::time::format_rfc3339;
use crate::event::{EpochMillis, Severity};
use crate::lifecycle::Stage;

/// Counts keyed by name, serialised as a JSON object in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct Named(pub Vec<(String, u64)>);

impl Serialize for Named {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A figure compared with an earlier one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// First month of the compared period.
    pub from: String,
    /// Last month of the compared period.
    pub to: String,
    /// For a period to date: the instant its last month is counted up to
    /// (RFC 3339, in the report's timezone; the same elapsed span as the
    /// running month's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
    pub total: u64,
    /// `current / this - 1`; `null` when this total is zero.
    pub change_ratio: Option<f64>,
    /// The change in percent, rounded half away from zero to two decimals.
    pub change_percent: Option<f64>,
}

/// The previous month, as compared: whole (`basis` `closed`), or, for the
/// running month, its first days up to the same elapsed time
/// (`month_to_date`, through `through`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PreviousMonth {
    pub month: String,
    /// The compared figure: the whole month, or its same elapsed span.
    pub total: u64,
    pub change_ratio: Option<f64>,
    pub change_percent: Option<f64>,
    /// `closed` or `month_to_date`.
    pub basis: &'static str,
    /// For `month_to_date`: the instant the compared span of the previous
    /// month ends at (RFC 3339, in the report's timezone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
    /// For `month_to_date`: the previous month's whole total, for context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month_total: Option<u64>,
}

/// The running month's span: from its start to the report's instant, in
/// whole minutes (spec §4).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunningSpan {
    /// First instant of the month (RFC 3339).
    pub from: String,
    /// Where the span ends (exclusive): the report's instant, to the
    /// minute (RFC 3339).
    pub through: String,
    /// Whole minutes from `from` to `through`.
    pub minutes: u64,
    /// Day of the month and time of day (`HH:MM`) of `through`, and the
    /// last day of the previous month's span.
    #[serde(skip)]
    pub day: u8,
    #[serde(skip)]
    pub time: String,
    #[serde(skip)]
    pub previous_day: u8,
    /// The last day of the same span in December of last year and in the
    /// same month last year (the year-to-date comparisons).
    #[serde(skip)]
    pub previous_period_day: u8,
    #[serde(skip)]
    pub last_year_day: u8,
}

/// One category this month against the previous month.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategoryChange {
    pub category: String,
    pub total: u64,
    pub previous_month: u64,
    pub change_ratio: Option<f64>,
    pub change_percent: Option<f64>,
}

/// January to the report month, compared both ways.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct YearToDateFigures {
    pub from: String,
    pub to: String,
    /// `closed` (whole months), or `to_date` for the running month: its
    /// last month counted up to the report's instant, and each compared
    /// period's last month over the same elapsed span.
    pub basis: &'static str,
    /// For `to_date`: the instant the year to date is counted up to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
    pub months: u32,
    pub total: u64,
    pub by_category: Named,
    pub previous_period: Comparison,
    pub same_period_last_year: Comparison,
}

/// One month of the trend.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrendPoint {
    pub month: String,
    pub total: u64,
    pub by_category: Named,
}

/// A published figure and what a later version restated it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub from: u64,
    pub to: u64,
}

/// A published month restated by a later version (spec §11): what the
/// report names, in its language, beside the sentence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Restatement {
    /// The month restated, `YYYY-MM`.
    pub month: String,
    /// The version that restates it, and the one it replaces.
    pub version: u32,
    pub revises: u32,
    /// When the restatement was published (RFC 3339).
    pub as_of: String,
    pub total: Change,
    /// The categories that moved.
    pub by_category: std::collections::BTreeMap<String, Change>,
}

/// What a month's report says as a period (spec §7 "Periods": a month's
/// report keeps its keys and adds these).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PeriodKeys {
    pub period: String,
    /// First and last day.
    pub from: String,
    pub to: String,
    pub previous_period: super::PeriodComparison,
    pub same_period_last_year: super::PeriodComparison,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<super::PeriodComparison>,
}

/// One stage of the lifecycle in a report: how many incidents reached it
/// (or a later stage), and for `warned` and `handled` the times from
/// detection as hdrhistogram reads them (within 1%), absent without any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StageFigure {
    pub count: u64,
    /// Incidents whose time to the stage was recorded (the others had a
    /// negative or too long time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_secs: Option<u64>,
}

/// How many of the period's incidents were recorded, warned and handled
/// (the centre's "ghi nhận, cảnh báo và hướng dẫn xử lý"), spec §7
/// "Lifecycle".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Stages {
    pub recorded: StageFigure,
    pub warned: StageFigure,
    pub handled: StageFigure,
}

impl Stages {
    pub fn of(f: &crate::calendar::StageFigures) -> Stages {
        let figure = |s: Stage| {
            let summary = s
                .timed_index()
                .and_then(|t| f.times.get(t))
                .and_then(|t| t.summary());
            StageFigure {
                count: f.counts[s.index()],
                timed: s.timed_index().map(|_| summary.map_or(0, |x| x.count)),
                median_secs: summary.map(|x| x.median_secs),
                p90_secs: summary.map(|x| x.p90_secs),
                max_secs: summary.map(|x| x.max_secs),
            }
        };
        Stages {
            recorded: figure(Stage::Recorded),
            warned: figure(Stage::Warned),
            handled: figure(Stage::Handled),
        }
    }

    /// Whether anything moved past `recorded` (a stream that sends no
    /// statuses says nothing about its lifecycle).
    pub fn any_news(&self) -> bool {
        self.warned.count > 0 || self.handled.count > 0
    }
}

/// Everything a monthly report says.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonthlyReport {
    /// The version of this document's shape ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    pub month: String,
    pub timezone: String,
    /// The instant the figures were read (RFC 3339, in the timezone).
    pub as_of: String,
    pub total: u64,
    pub by_category: Named,
    pub by_severity: Named,
    /// Sectors by count, largest first (zero counts left out).
    pub top_sectors: Named,
    /// Provinces by count, largest first (zero counts left out); absent
    /// for a month counted before provinces were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_provinces: Option<Named>,
    /// The month's incidents by lifecycle stage; absent for a month counted
    /// before stages were kept, and for a slice (stages are kept per
    /// month and category).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<Stages>,
    pub previous_month: PreviousMonth,
    /// Present for the running month only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month_to_date: Option<RunningSpan>,
    pub category_changes: Vec<CategoryChange>,
    pub year_to_date: YearToDateFigures,
    /// The 13 months ending with the report month.
    pub trend: Vec<TrendPoint>,
    /// Earlier months' published figures restated since the month before
    /// this one was published (from the archive; empty without one).
    pub restatements: Vec<Restatement>,
    /// The sector this report is a slice of (`--sector`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The province this report is a slice of (`--province`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// The month as a period (`report --period`, `--month`, `/report`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub period: Option<PeriodKeys>,
    #[serde(skip)]
    pub ym: YearMonth,
    /// Integer percent changes (hundredths) for exact text rendering.
    #[serde(skip)]
    pub exact: ExactChanges,
}

/// The version of the report document's shape: 1 is the first that says
/// so (it carries `as_of`, `basis` of the year to date and its `through`).
/// Keys are only added within a version; a version changes when a key
/// changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 1;

/// Changes in hundredths of a percent (see `percent_hundredths`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExactChanges {
    pub month: Option<i64>,
    pub previous_period: Option<i64>,
    pub same_period_last_year: Option<i64>,
}

fn pct(h: Option<i64>) -> Option<f64> {
    h.map(|h| h as f64 / 100.0)
}

/// The running month's span, when `now` falls in month `m` (in the
/// report's timezone).
struct Running {
    span: ToDate,
    shown: RunningSpan,
    /// The instant the previous month's same span ends at (RFC 3339).
    previous_through: String,
    /// The same in December of last year and in the same month last year.
    previous_period_through: String,
    last_year_through: String,
}

fn running(timezone: &str, m: YearMonth, now: EpochMillis) -> Option<Running> {
    let tz = jiff::tz::TimeZone::get(timezone).ok()?;
    let index = MonthIndex::new(tz.clone());
    let span = ToDate::at(&index, now)?;
    if span.slot.month != m {
        return None;
    }
    // A span end as RFC 3339 in the zone, with the day of the month its
    // last counted instant falls on (the first day for an empty span).
    let end = |slot: crate::calendar::MonthSlot| -> Option<(String, u8, String)> {
        let end = span.end_in(&slot);
        let at = |t: EpochMillis| {
            jiff::Timestamp::from_millisecond(t)
                .ok()
                .map(|ts| ts.to_zoned_datetime(tz.clone()))
        };
        let z = at(end)?;
        let last = at((end - 1).max(slot.start_ms))?;
        Some((
            format_rfc3339(end, z.offset().seconds()),
            u8::try_from(last.day()).ok()?,
            format!("{:02}:{:02}", z.hour(), z.minute()),
        ))
    };
    let (through, day, time) = end(span.slot)?;
    let (previous_through, previous_day, _) = end(index.slot(m.plus(-1))?)?;
    let december = YearMonth::new(m.year() - 1, 12)?;
    let (previous_period_through, previous_period_day, _) = end(index.slot(december)?)?;
    let (last_year_through, last_year_day, _) = end(index.slot(m.plus(-12))?)?;
    let start_offset = jiff::Timestamp::from_millisecond(span.slot.start_ms)
        .ok()?
        .to_zoned_datetime(tz.clone())
        .offset()
        .seconds();
    Some(Running {
        span,
        shown: RunningSpan {
            from: format_rfc3339(span.slot.start_ms, start_offset),
            through,
            minutes: span.minutes as u64,
            day,
            time,
            previous_day,
            previous_period_day,
            last_year_day,
        },
        previous_through,
        previous_period_through,
        last_year_through,
    })
}

impl MonthlyReport {
    /// Builds the report of month `m` from a ledger, at instant `now`: a
    /// month that `now` falls in (in `timezone`) is the running month,
    /// counted up to `now` to the minute ([`ToDate`]) and compared with
    /// the same elapsed span of the month before, its year to date to
    /// date on both sides; any other month is closed and compared whole.
    pub fn build(ledger: &Ledger, timezone: &str, m: YearMonth, now: EpochMillis) -> MonthlyReport {
        let running = running(timezone, m, now);
        let span = running.as_ref().map(|r| &r.span);
        let cats = ledger.categories();
        // The month as counted: to date when it is running.
        let month = ledger.month(m).map(|mc| match span {
            Some(s) => mc.before_minute(s.minutes),
            None => mc.clone(),
        });
        let count_of = |c: usize| month.as_ref().map_or(0, |mc| mc.category(c));
        let total: u64 = (0..cats.len()).map(count_of).sum();
        let prev = m.plus(-1);
        // The previous month's figure per category, as compared.
        let mut previous = vec![0; cats.len()];
        ledger.categories_through(prev, prev, span, &mut previous);
        let prev_total: u64 = previous.iter().sum();
        let category_changes = cats
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (cur, before) = (count_of(i), previous[i]);
                CategoryChange {
                    category: c.clone(),
                    total: cur,
                    previous_month: before,
                    change_ratio: ratio(cur, before),
                    change_percent: pct(percent_hundredths(cur, before)),
                }
            })
            .collect();
        let (year_to_date, mut exact) = year_to_date(ledger, m, running.as_ref());
        exact.month = percent_hundredths(total, prev_total);
        let (by_severity, top_sectors) = severities_and_sectors(ledger, month.as_ref());
        let top_provinces = match &month {
            Some(mc) if mc.total() > 0 && !mc.provinces_kept() => None,
            Some(mc) => Some(ranked(ledger.provinces(), &mc.by_province)),
            None => Some(Named(Vec::new())),
        };
        // Every incident of the month so far: the running month's stages
        // are of all its incidents counted (none is dated far past now).
        let stages = match ledger.month(m) {
            Some(mc) => mc.stage_figures().map(|f| Stages::of(&f)),
            None => Some(Stages::of(&crate::calendar::StageFigures::default())),
        };
        MonthlyReport {
            schema_version: SCHEMA_VERSION,
            month: m.to_string(),
            timezone: timezone.to_owned(),
            as_of: as_of(timezone, now),
            total,
            by_category: per_category(ledger, count_of),
            by_severity,
            top_sectors,
            top_provinces,
            stages,
            previous_month: PreviousMonth {
                month: prev.to_string(),
                total: prev_total,
                change_ratio: ratio(total, prev_total),
                change_percent: pct(exact.month),
                basis: if running.is_some() {
                    "month_to_date"
                } else {
                    "closed"
                },
                month_total: running.as_ref().map(|_| ledger.total(prev)),
                through: running.as_ref().map(|r| r.previous_through.clone()),
            },
            category_changes,
            year_to_date,
            trend: trend(ledger, m, span),
            month_to_date: running.map(|r| r.shown),
            restatements: Vec::new(),
            sector: None,
            province: None,
            period: None,
            ym: m,
            exact,
        }
    }
}

/// `now` as RFC 3339 at the zone's offset then (UTC if the zone is unknown).
fn as_of(timezone: &str, now: EpochMillis) -> String {
    let offset = jiff::tz::TimeZone::get(timezone)
        .ok()
        .and_then(|tz| {
            let at = jiff::Timestamp::from_millisecond(now).ok()?;
            Some(tz.to_offset(at).seconds())
        })
        .unwrap_or(0);
    format_rfc3339(now, offset)
}

/// A figure per category of the ledger, named.
fn per_category(ledger: &Ledger, count: impl Fn(usize) -> u64) -> Named {
    Named(
        ledger
            .categories()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), count(i)))
            .collect(),
    )
}

/// The month's severities, and its sectors with incidents, most first.
fn severities_and_sectors(ledger: &Ledger, month_counts: Option<&MonthCounts>) -> (Named, Named) {
    let by_severity = Named(
        Severity::ALL
            .iter()
            .map(|s| {
                (
                    s.code().to_owned(),
                    month_counts.map_or(0, |mc| mc.severity(*s)),
                )
            })
            .collect(),
    );
    let sectors = month_counts.map_or(Named(Vec::new()), |mc| {
        ranked(ledger.sectors(), &mc.by_sector)
    });
    (by_severity, sectors)
}

/// Names with their counts, largest first, zero counts left out.
pub(super) fn ranked(names: &[String], counts: &[u64]) -> Named {
    let mut v: Vec<(String, u64)> = names
        .iter()
        .cloned()
        .zip(counts.iter().copied())
        .filter(|(_, n)| *n > 0)
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Named(v)
}

/// The year to date of `m` against the previous period and the same
/// period last year, with their exact changes (`month` left for the
/// caller). For the running month, every side is to date: its last month
/// counted over the running month's elapsed span.
fn year_to_date(
    ledger: &Ledger,
    m: YearMonth,
    running: Option<&Running>,
) -> (YearToDateFigures, ExactChanges) {
    let y = YearToDate::of(m);
    let span = running.map(|r| &r.span);
    let ytd_total = ledger.total_through(y.from, y.to, span);
    let prev_period = ledger.total_through(y.previous_from, y.previous_to, span);
    let last_year = ledger.total_through(y.last_year_from, y.last_year_to, span);
    let exact = ExactChanges {
        month: None,
        previous_period: percent_hundredths(ytd_total, prev_period),
        same_period_last_year: percent_hundredths(ytd_total, last_year),
    };
    let comparison =
        |from: YearMonth, to: YearMonth, through: Option<&String>, t: u64, h| Comparison {
            from: from.to_string(),
            to: to.to_string(),
            through: through.cloned(),
            total: t,
            change_ratio: ratio(ytd_total, t),
            change_percent: pct(h),
        };
    let mut by_category = vec![0; ledger.categories().len()];
    ledger.categories_through(y.from, y.to, span, &mut by_category);
    let figures = YearToDateFigures {
        from: y.from.to_string(),
        to: y.to.to_string(),
        basis: if running.is_some() {
            "to_date"
        } else {
            "closed"
        },
        through: running.map(|r| r.shown.through.clone()),
        months: y.months(),
        total: ytd_total,
        by_category: per_category(ledger, |i| by_category[i]),
        previous_period: comparison(
            y.previous_from,
            y.previous_to,
            running.map(|r| &r.previous_period_through),
            prev_period,
            exact.previous_period,
        ),
        same_period_last_year: comparison(
            y.last_year_from,
            y.last_year_to,
            running.map(|r| &r.last_year_through),
            last_year,
            exact.same_period_last_year,
        ),
    };
    (figures, exact)
}

/// The thirteen months ending with `m` (to date when `m` is running).
fn trend(ledger: &Ledger, m: YearMonth, span: Option<&ToDate>) -> Vec<TrendPoint> {
    (0..13)
        .rev()
        .map(|k| {
            let tm = m.plus(-k);
            let mut by = vec![0; ledger.categories().len()];
            ledger.categories_through(tm, tm, span.filter(|_| k == 0), &mut by);
            TrendPoint {
                month: tm.to_string(),
                total: by.iter().sum(),
                by_category: per_category(ledger, |i| by[i]),
            }
        })
        .collect()
}
