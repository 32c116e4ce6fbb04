//! The report model: every figure of a monthly report, computed from a
//! (merged) ledger. Rendering is separate (`render`).

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::calendar::change::{self, YearToDate, percent_hundredths, ratio};
use crate::calendar::{Ledger, MonthIndex, YearMonth};
use crate::event::time::format_rfc3339;
use crate::event::{EpochMillis, Severity};

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

/// The running month's span: from its start to the report's instant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunningSpan {
    /// First instant of the month (RFC 3339).
    pub from: String,
    /// The instant the report was made (RFC 3339).
    pub through: String,
    /// Day of the month of `through`, and of the previous month's span end.
    #[serde(skip)]
    pub day: u8,
    #[serde(skip)]
    pub previous_day: u8,
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

/// Everything a monthly report says.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonthlyReport {
    pub month: String,
    pub timezone: String,
    pub total: u64,
    pub by_category: Named,
    pub by_severity: Named,
    /// Sectors by count, largest first (zero counts left out).
    pub top_sectors: Named,
    pub previous_month: PreviousMonth,
    /// Present for the running month only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month_to_date: Option<RunningSpan>,
    pub category_changes: Vec<CategoryChange>,
    pub year_to_date: YearToDateFigures,
    /// The 13 months ending with the report month.
    pub trend: Vec<TrendPoint>,
    #[serde(skip)]
    pub ym: YearMonth,
    /// Integer percent changes (hundredths) for exact text rendering.
    #[serde(skip)]
    pub exact: ExactChanges,
}

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

/// The running month's comparison, when `now` falls in month `m`.
struct Running {
    span: RunningSpan,
    /// The previous month's same span, per category.
    previous: Vec<u64>,
    /// The instant that span ends at (RFC 3339).
    previous_through: String,
}

fn running(ledger: &Ledger, timezone: &str, m: YearMonth, now: EpochMillis) -> Option<Running> {
    let tz = jiff::tz::TimeZone::get(timezone).ok()?;
    let index = MonthIndex::new(tz.clone());
    let cur = index.slot(m)?;
    if !(cur.start_ms <= now && now < cur.end_ms) {
        return None;
    }
    let prev = index.slot(m.plus(-1))?;
    let hours = i64::try_from(change::MonthToDate::hours(&cur, now)).ok()?;
    let through_ms = prev
        .start_ms
        .saturating_add(hours.saturating_mul(3_600_000))
        .min(prev.end_ms);
    // Day of the month and UTC offset at an instant, in the zone.
    let local = |t: EpochMillis| {
        let z = jiff::Timestamp::from_millisecond(t)
            .ok()?
            .to_zoned_datetime(tz.clone());
        Some((u8::try_from(z.day()).ok()?, z.offset().seconds()))
    };
    let (day, now_offset) = local(now)?;
    let (_, start_offset) = local(cur.start_ms)?;
    let (previous_day, through_offset) = local((through_ms - 1).max(prev.start_ms))?;
    Some(Running {
        span: RunningSpan {
            from: format_rfc3339(cur.start_ms, start_offset),
            through: format_rfc3339(now, now_offset),
            day,
            previous_day,
        },
        previous: change::MonthToDate::compute(ledger, &cur, now).previous_same_span,
        previous_through: format_rfc3339(through_ms, through_offset),
    })
}

impl MonthlyReport {
    /// Builds the report of month `m` from a ledger, at instant `now`: a
    /// month that `now` falls in (in `timezone`) is the running month, and
    /// is compared month to date with the same elapsed span of the month
    /// before; any other month is closed and compared whole.
    pub fn build(ledger: &Ledger, timezone: &str, m: YearMonth, now: EpochMillis) -> MonthlyReport {
        let running = running(ledger, timezone, m, now);
        let cats = ledger.categories();
        let total = ledger.total(m);
        let prev = m.plus(-1);
        // The previous month's figure per category, as compared.
        let prev_of = |c: usize| match &running {
            Some(r) => r.previous[c],
            None => ledger.category_total(prev, c),
        };
        let prev_total: u64 = (0..cats.len()).map(prev_of).sum();
        let category_changes = cats
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (cur, before) = (ledger.category_total(m, i), prev_of(i));
                CategoryChange {
                    category: c.clone(),
                    total: cur,
                    previous_month: before,
                    change_ratio: ratio(cur, before),
                    change_percent: pct(percent_hundredths(cur, before)),
                }
            })
            .collect();
        let (year_to_date, mut exact) = year_to_date(ledger, m);
        exact.month = percent_hundredths(total, prev_total);
        let (by_severity, top_sectors) = severities_and_sectors(ledger, m);
        MonthlyReport {
            month: m.to_string(),
            timezone: timezone.to_owned(),
            total,
            by_category: per_category(ledger, |i| ledger.category_total(m, i)),
            by_severity,
            top_sectors,
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
            month_to_date: running.map(|r| r.span),
            category_changes,
            year_to_date,
            trend: trend(ledger, m),
            ym: m,
            exact,
        }
    }
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
fn severities_and_sectors(ledger: &Ledger, m: YearMonth) -> (Named, Named) {
    let month_counts = ledger.month(m);
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
    let mut sectors: Vec<(String, u64)> = ledger
        .sectors()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), month_counts.map_or(0, |mc| mc.by_sector[i])))
        .filter(|(_, n)| *n > 0)
        .collect();
    sectors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (by_severity, Named(sectors))
}

/// The year to date of `m` against the previous period and the same
/// period last year, with their exact changes (`month` left for the
/// caller).
fn year_to_date(ledger: &Ledger, m: YearMonth) -> (YearToDateFigures, ExactChanges) {
    let y = YearToDate::of(m);
    let ytd_total = ledger.total_between(y.from, y.to);
    let prev_period = ledger.total_between(y.previous_from, y.previous_to);
    let last_year = ledger.total_between(y.last_year_from, y.last_year_to);
    let exact = ExactChanges {
        month: None,
        previous_period: percent_hundredths(ytd_total, prev_period),
        same_period_last_year: percent_hundredths(ytd_total, last_year),
    };
    let comparison = |from: YearMonth, to: YearMonth, t: u64, h: Option<i64>| Comparison {
        from: from.to_string(),
        to: to.to_string(),
        total: t,
        change_ratio: ratio(ytd_total, t),
        change_percent: pct(h),
    };
    let figures = YearToDateFigures {
        from: y.from.to_string(),
        to: y.to.to_string(),
        months: y.months(),
        total: ytd_total,
        by_category: per_category(ledger, |i| ledger.category_between(y.from, y.to, i)),
        previous_period: comparison(
            y.previous_from,
            y.previous_to,
            prev_period,
            exact.previous_period,
        ),
        same_period_last_year: comparison(
            y.last_year_from,
            y.last_year_to,
            last_year,
            exact.same_period_last_year,
        ),
    };
    (figures, exact)
}

/// The thirteen months ending with `m`.
fn trend(ledger: &Ledger, m: YearMonth) -> Vec<TrendPoint> {
    (0..13)
        .rev()
        .map(|k| {
            let tm = m.plus(-k);
            TrendPoint {
                month: tm.to_string(),
                total: ledger.total(tm),
                by_category: per_category(ledger, |i| ledger.category_total(tm, i)),
            }
        })
        .collect()
}
