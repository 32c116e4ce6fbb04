//! The report of a period (spec §7 "Periods"): a quarter, a half, a year, a
//! fiscal year, an ISO week or a range of days, with the parts of a month's
//! report: total, by category, severity, sector and province, the
//! average per month, the change against the equally long period just
//! before and the same period a year earlier (or `--against` another), a
//! trend at the period's grain, and the sentence in the centre's style. A
//! running period is to date on every side.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::lang::{Lang, Word};
use super::model::Named;
use crate::calendar::change::{percent_hundredths, ratio};
use crate::calendar::{Ledger, MonthIndex, Period, RangeCounts, Span, YearMonth};
use crate::config::{Labels, ReportConfig};
use crate::event::time::format_rfc3339;
use crate::event::{EpochMillis, Severity};
use crate::text::shown;

/// A period compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodComparison {
    pub period: String,
    /// First and last day.
    pub from: String,
    pub to: String,
    /// For a period to date: where the compared span ends (RFC 3339,
    /// exclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
    pub total: u64,
    pub by_category: Named,
    /// `current / this - 1`; `null` when this total is zero.
    pub change_ratio: Option<f64>,
    pub change_percent: Option<f64>,
    #[serde(skip)]
    pub hundredths: Option<i64>,
    #[serde(skip)]
    pub of: Period,
}

/// One step of the trend: a month of a period of months, or a day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodPoint {
    /// `YYYY-MM` or `YYYY-MM-DD`.
    pub at: String,
    pub total: u64,
    pub by_category: Named,
}

/// Everything the report of a period says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodReport {
    pub schema_version: u32,
    pub period: String,
    /// `quarter`, `half`, `year`, `fiscal_year`, `week`, `days` (or `month`).
    pub kind: &'static str,
    /// First and last day, inclusive.
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub as_of: String,
    /// `closed`, or `to_date` for a running period: counted up to
    /// `through`, and every compared period over the same elapsed span.
    pub basis: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
    pub total: u64,
    pub by_category: Named,
    pub by_severity: Named,
    /// By sector, largest first (absent where a month of the period was
    /// counted before sectors were kept by minute and the period covers
    /// only part of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_sector: Option<Named>,
    /// By province, largest first (absent where a month of the period
    /// was counted before provinces were kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_province: Option<Named>,
    /// The period's incidents by lifecycle stage: for periods of whole
    /// months (stages are kept per month), absent for weeks and ranges of
    /// days, slices, and months counted before stages were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<super::model::Stages>,
    /// Months in the period, and the average per month (periods of
    /// several months).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub months: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_per_month: Option<f64>,
    pub previous_period: PeriodComparison,
    pub same_period_last_year: PeriodComparison,
    /// `--against PERIOD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<PeriodComparison>,
    /// Months of a period of months, days of a period of days.
    pub trend: Vec<PeriodPoint>,
    /// The sector this report is a slice of (`--sector`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The province this report is a slice of (`--province`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    #[serde(skip)]
    pub of: Period,
}

/// Why a period cannot be reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("the period {0} has not started yet")]
    NotStarted(String),
    #[error("the period {0} is outside the supported years")]
    OutOfRange(String),
}

/// The bounds of a period counted, to date when it is running.
struct Bounds {
    start: EpochMillis,
    /// The end of what is counted (the period's end, or its span to date).
    end: EpochMillis,
    first: Date,
    last: Date,
}

fn bounds(p: &Period, tz: &TimeZone, fy: u8) -> Option<Bounds> {
    let (start, end) = p.instants(tz, fy)?;
    let (first, last) = p.dates(fy)?;
    Some(Bounds {
        start,
        end,
        first,
        last,
    })
}

/// Where the same elapsed span as `[this_start, through)` of `this` ends
/// in `other`: for periods of months, as many whole months and then the
/// same minutes into the next (the year to date's rule); for days, the
/// same elapsed time. At most `other`'s end.
fn same_span_end(
    this: &Span,
    other: &Span,
    index: &MonthIndex,
    this_start: EpochMillis,
    through: EpochMillis,
    other_start: EpochMillis,
    other_end: EpochMillis,
) -> EpochMillis {
    match (this, other) {
        (Span::Months { first, .. }, Span::Months { first: o_first, .. }) => {
            let Some(slot) = index.slot_at(through.saturating_sub(1).max(this_start)) else {
                return other_end;
            };
            let k = (slot.month.0 - first.0).max(0);
            let minutes = (through - slot.start_ms).max(0);
            index
                .slot(o_first.plus(k))
                .map_or(other_end, |o| {
                    o.start_ms.saturating_add(minutes).min(o.end_ms)
                })
                .min(other_end)
        }
        _ => other_start
            .saturating_add(through - this_start)
            .min(other_end),
    }
}

fn named(ledger: &Ledger, counts: &RangeCounts) -> Named {
    Named(
        ledger
            .categories()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), counts.category(i)))
            .collect(),
    )
}

/// RFC 3339 of an instant at the zone's offset then.
fn instant(tz: &TimeZone, t: EpochMillis) -> String {
    let offset = jiff::Timestamp::from_millisecond(t)
        .map(|at| tz.to_offset(at).seconds())
        .unwrap_or(0);
    format_rfc3339(t, offset)
}

impl PeriodReport {
    /// The report of `period` at instant `now`, in `timezone`, with fiscal
    /// years starting in month `fy`; `against` adds a comparison.
    pub fn build(
        ledger: &Ledger,
        timezone: &str,
        period: Period,
        fy: u8,
        against: Option<Period>,
        now: EpochMillis,
    ) -> Result<PeriodReport, PeriodError> {
        let name = period.to_string();
        let tz = TimeZone::get(timezone).map_err(|_| PeriodError::OutOfRange(name.clone()))?;
        let index = MonthIndex::new(tz.clone());
        let out_of_range = || PeriodError::OutOfRange(name.clone());
        let this = bounds(&period, &tz, fy).ok_or_else(out_of_range)?;
        if now < this.start {
            return Err(PeriodError::NotStarted(name));
        }
        // Running: up to the minute of `now`.
        let through = (now < this.end).then(|| now - now.rem_euclid(60_000));
        let end = through.unwrap_or(this.end);
        let counts = ledger.between(&index, this.start, end);
        let span = period.span(fy);
        let compare = |other: Period| -> Option<PeriodComparison> {
            let o = bounds(&other, &tz, fy)?;
            let o_end = match through {
                Some(t) => same_span_end(
                    &span,
                    &other.span(fy),
                    &index,
                    this.start,
                    t,
                    o.start,
                    o.end,
                ),
                None => o.end,
            };
            let c = ledger.between(&index, o.start, o_end);
            let (cur, was) = (counts.total(), c.total());
            let h = percent_hundredths(cur, was);
            Some(PeriodComparison {
                period: other.to_string(),
                from: o.first.to_string(),
                to: o.last.to_string(),
                through: through.map(|_| instant(&tz, o_end)),
                total: was,
                by_category: named(ledger, &c),
                change_ratio: ratio(cur, was),
                change_percent: h.map(|h| h as f64 / 100.0),
                hundredths: h,
                of: other,
            })
        };
        let previous_period = compare(period.previous()).ok_or_else(out_of_range)?;
        let same_period_last_year = compare(period.last_year()).ok_or_else(out_of_range)?;
        let against = match against {
            Some(a) => Some(compare(a).ok_or_else(out_of_range)?),
            None => None,
        };
        let months = span.months();
        let by_sector =
            (counts.by_sector.as_ref()).map(|v| super::model::ranked(ledger.sectors(), v));
        let by_province =
            (counts.by_province.as_ref()).map(|v| super::model::ranked(ledger.provinces(), v));
        let total = counts.total();
        Ok(PeriodReport {
            schema_version: super::SCHEMA_VERSION,
            period: name,
            kind: period.kind(),
            from: this.first.to_string(),
            to: this.last.to_string(),
            timezone: timezone.to_owned(),
            as_of: instant(&tz, now),
            basis: if through.is_some() {
                "to_date"
            } else {
                "closed"
            },
            through: through.map(|t| instant(&tz, t)),
            total,
            by_category: named(ledger, &counts),
            by_severity: Named(
                Severity::ALL
                    .iter()
                    .map(|s| (s.code().to_owned(), counts.severity(*s)))
                    .collect(),
            ),
            by_sector,
            by_province,
            stages: ledger
                .stages_between(&index, this.start, this.end)
                .map(|f| super::model::Stages::of(&f)),
            months: months.filter(|n| *n > 1),
            average_per_month: months
                .filter(|n| *n > 1)
                .map(|n| (total as f64 / f64::from(n) * 100.0).round() / 100.0),
            previous_period,
            same_period_last_year,
            against,
            trend: trend(ledger, &index, &span, this.start, end),
            sector: None,
            province: None,
            of: period,
        })
    }
}

/// The display name of a code (a sector's, a province's).
type Namer = fn(&Labels, Lang, &str) -> String;

/// The longest trend by days; longer ranges are shown by month.
const TREND_DAYS_MAX: u32 = 92;

/// Months of a period of months (or a long range of days), else days; the
/// running period's steps stop at what is counted.
fn trend(
    ledger: &Ledger,
    index: &MonthIndex,
    span: &Span,
    start: EpochMillis,
    end: EpochMillis,
) -> Vec<PeriodPoint> {
    let tz = index.timezone().clone();
    let mut out = Vec::new();
    match *span {
        Span::Days { first, count } if count <= TREND_DAYS_MAX => {
            let mut d = first;
            for _ in 0..count {
                let (Some(a), Some(b)) = (
                    crate::calendar::period::midnight(d, &tz),
                    d.tomorrow()
                        .ok()
                        .and_then(|n| crate::calendar::period::midnight(n, &tz)),
                ) else {
                    break;
                };
                if a >= end {
                    break;
                }
                let c = ledger.between(index, a, b.min(end));
                out.push(PeriodPoint {
                    at: d.to_string(),
                    total: c.total(),
                    by_category: named(ledger, &c),
                });
                let Ok(next) = d.tomorrow() else { break };
                d = next;
            }
        }
        _ => {
            let (Some(first), Some(last)) = (
                index.slot_at(start).map(|s| s.month),
                index
                    .slot_at(end.saturating_sub(1).max(start))
                    .map(|s| s.month),
            ) else {
                return out;
            };
            let mut m = first;
            while m <= last {
                if let Some(slot) = index.slot(m) {
                    let c = ledger.between(index, slot.start_ms.max(start), slot.end_ms.min(end));
                    out.push(PeriodPoint {
                        at: m.to_string(),
                        total: c.total(),
                        by_category: named(ledger, &c),
                    });
                }
                m = m.plus(1);
            }
        }
    }
    out
}

const ROMAN: [&str; 4] = ["I", "II", "III", "IV"];
const EN_ORDINAL: [&str; 4] = ["first", "second", "third", "fourth"];

/// A day: `16 January 2023` / `16/01/2023`.
fn day(lang: Lang, d: Date) -> String {
    let m = YearMonth::new(i32::from(d.year()), u8::try_from(d.month()).unwrap_or(1));
    match (lang, m) {
        (Lang::En, Some(m)) => format!("{} {}", d.day(), lang.month(m)),
        _ => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
    }
}

/// Days from `a` to `b`: `16 to 22 January 2023` / `từ 16/01 đến
/// 22/01/2023`.
fn days(lang: Lang, a: Date, b: Date) -> String {
    match lang {
        Lang::En if a.year() == b.year() && a.month() == b.month() => {
            format!("{} to {}", a.day(), day(lang, b))
        }
        Lang::En => format!("{} to {}", day(lang, a), day(lang, b)),
        Lang::Vi if a.year() == b.year() => {
            format!("từ {:02}/{:02} đến {}", a.day(), a.month(), day(lang, b))
        }
        Lang::Vi => format!("từ {} đến {}", day(lang, a), day(lang, b)),
    }
}

/// A period in words: `the second quarter of 2022` / `quý II/2022`.
pub fn period_words(lang: Lang, p: &Period, fy: u8) -> String {
    let months_of = |p: &Period| {
        p.dates(fy).and_then(|(a, b)| {
            Some((
                YearMonth::new(i32::from(a.year()), u8::try_from(a.month()).ok()?)?,
                YearMonth::new(i32::from(b.year()), u8::try_from(b.month()).ok()?)?,
            ))
        })
    };
    match (lang, *p) {
        (_, Period::Month(m)) => lang.month(m),
        (Lang::En, Period::Quarter(y, q)) => {
            format!("the {} quarter of {y}", EN_ORDINAL[usize::from(q - 1) % 4])
        }
        (Lang::Vi, Period::Quarter(y, q)) => format!("quý {}/{y}", ROMAN[usize::from(q - 1) % 4]),
        (Lang::En, Period::Half(y, h)) => {
            format!("the {} half of {y}", EN_ORDINAL[usize::from(h - 1) % 2])
        }
        (Lang::Vi, Period::Half(y, 1)) => format!("6 tháng đầu năm {y}"),
        (Lang::Vi, Period::Half(y, _)) => format!("6 tháng cuối năm {y}"),
        (Lang::En, Period::Year(y)) => format!("{y}"),
        (Lang::Vi, Period::Year(y)) => format!("năm {y}"),
        (Lang::En, Period::FiscalYear(y)) => match months_of(p) {
            Some((a, b)) if fy != 1 => {
                format!("fiscal year {y} ({} to {})", lang.month(a), lang.month(b))
            }
            _ => format!("fiscal year {y}"),
        },
        (Lang::Vi, Period::FiscalYear(y)) => match months_of(p) {
            Some((a, b)) if fy != 1 => format!(
                "năm tài chính {y} (từ {} đến {})",
                lang.month(a),
                lang.month(b)
            ),
            _ => format!("năm tài chính {y}"),
        },
        (Lang::En, Period::Week(y, w)) => match p.dates(fy) {
            Some((a, b)) => format!("week {w} of {y} ({})", days(lang, a, b)),
            None => format!("week {w} of {y}"),
        },
        (Lang::Vi, Period::Week(y, w)) => match p.dates(fy) {
            Some((a, b)) => format!("tuần {w}/{y} ({})", days(lang, a, b)),
            None => format!("tuần {w}/{y}"),
        },
        (_, Period::Days(a, b)) => days(lang, a, b),
    }
}

/// The headline of a period in the centre's style.
pub fn period_sentence(r: &PeriodReport, lang: Lang, who: &ReportConfig, fy: u8) -> String {
    let words = period_words(lang, &r.of, fy);
    let to_date = r.basis == "to_date";
    let when = match (lang, r.of) {
        (Lang::En, Period::Days(..)) => format!("From {words}"),
        (Lang::Vi, Period::Days(..)) => {
            let mut c = words.chars();
            c.next()
                .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
        }
        (Lang::En, _) => format!("In {words}"),
        (Lang::Vi, _) => format!("Trong {words}"),
    };
    let when = match (lang, to_date) {
        (Lang::En, true) => format!("{when} (to date)"),
        (Lang::Vi, true) => format!("{when} (lũy kế đến nay)"),
        _ => when,
    };
    let against = |c: &PeriodComparison| {
        let w = period_words(lang, &c.of, fy);
        let w = match (lang, to_date) {
            (Lang::En, true) => format!("the same span of {w}"),
            (Lang::Vi, true) => format!("cùng kỳ {w}"),
            _ => w,
        };
        lang.change(r.total, c.total, &w)
    };
    let scope = |s: &str| {
        super::render::scoped(
            s,
            r.sector.as_deref(),
            r.province.as_deref(),
            lang,
            &who.labels,
        )
    };
    let mut changes = vec![
        against(&r.previous_period),
        against(&r.same_period_last_year),
    ];
    if let Some(a) = &r.against {
        changes.push(against(a));
    }
    let last = changes.pop().unwrap_or_default();
    let (and, list) = match lang {
        Lang::En => (" and ", changes.join(", ")),
        Lang::Vi => (" và ", changes.join(", ")),
    };
    let changes = if list.is_empty() {
        last
    } else {
        format!("{list}{and}{last}")
    };
    let stages = lang.lifecycle(r.stages.as_ref());
    let mut s = match lang {
        Lang::En => format!(
            "{when}, {} recorded {} cyber attacks causing incidents{}, {changes}{stages}.",
            shown(&who.organization_en),
            lang.count(r.total),
            scope(&who.scope_en),
        ),
        Lang::Vi => format!(
            "{when}, {} đã ghi nhận {} cuộc tấn công mạng gây sự cố{}, {changes}{stages}.",
            shown(&who.organization_vi),
            lang.count(r.total),
            scope(&who.scope_vi),
        ),
    };
    if let Some(avg) = r.average_per_month {
        let avg = (avg.round() as i64).max(0) as u64;
        s.push_str(&match lang {
            Lang::En => format!(" That is {} a month on average.", lang.count(avg)),
            Lang::Vi => format!(" Trung bình {} sự cố mỗi tháng.", lang.count(avg)),
        });
    }
    s
}

/// The tables of a period's report.
pub(super) fn period_tables(
    r: &PeriodReport,
    lang: Lang,
    labels: &Labels,
    fy: u8,
) -> Vec<super::render::Table> {
    use super::render::Table;
    let this_words = period_words(lang, &r.of, fy);
    let mut comparisons = vec![&r.previous_period, &r.same_period_last_year];
    if let Some(a) = &r.against {
        comparisons.push(a);
    }
    let mut headers = vec![lang.word(Word::Category).to_owned(), this_words.clone()];
    headers.extend(comparisons.iter().map(|c| period_words(lang, &c.of, fy)));
    let mut rows: Vec<Vec<String>> = r
        .by_category
        .0
        .iter()
        .enumerate()
        .map(|(i, (c, n))| {
            let mut row = vec![super::labels::category(labels, lang, c), lang.count(*n)];
            row.extend(comparisons.iter().map(|cmp| {
                let was = cmp.by_category.0.get(i).map_or(0, |(_, n)| *n);
                format!("{} ({})", lang.count(was), lang.signed_change(*n, was))
            }));
            row
        })
        .collect();
    let mut total = vec![lang.word(Word::Total).to_owned(), lang.count(r.total)];
    total.extend(comparisons.iter().map(|c| {
        format!(
            "{} ({})",
            lang.count(c.total),
            lang.signed_change(r.total, c.total)
        )
    }));
    rows.push(total);
    let mut tables = vec![Table {
        title: lang.word(Word::ByCategory).to_owned(),
        headers,
        rows,
    }];
    tables.push(Table {
        title: lang.word(Word::BySeverity).to_owned(),
        headers: vec![
            lang.word(Word::Severity).to_owned(),
            lang.word(Word::Incidents).to_owned(),
        ],
        rows: r
            .by_severity
            .0
            .iter()
            .map(|(s, n)| vec![super::labels::severity(lang, s), lang.count(*n)])
            .collect(),
    });
    type Breakdown<'r> = (&'r Option<Named>, Word, Word, Namer);
    let breakdowns: [Breakdown<'_>; 2] = [
        (
            &r.by_sector,
            Word::TopSectors,
            Word::Sector,
            super::labels::sector,
        ),
        (
            &r.by_province,
            Word::TopProvinces,
            Word::Province,
            super::labels::province,
        ),
    ];
    for (counts, title, first, name) in breakdowns {
        let Some(counts) = counts else { continue };
        tables.push(Table {
            title: lang.word(title).to_owned(),
            headers: vec![
                lang.word(first).to_owned(),
                lang.word(Word::Incidents).to_owned(),
            ],
            rows: (counts.0.iter())
                .map(|(s, n)| vec![name(labels, lang, s), lang.count(*n)])
                .collect(),
        });
    }
    let mut headers = vec![
        lang.word(Word::Period).to_owned(),
        lang.word(Word::Total).to_owned(),
    ];
    headers.extend(
        r.by_category
            .0
            .iter()
            .map(|(c, _)| super::labels::category(labels, lang, c)),
    );
    tables.push(Table {
        title: lang.word(Word::Trend).to_owned(),
        headers,
        rows: r
            .trend
            .iter()
            .map(|p| {
                let label = p.at.parse::<YearMonth>().map_or_else(
                    |_| p.at.parse::<Date>().map_or(p.at.clone(), |d| day(lang, d)),
                    |m| lang.month_short(m),
                );
                let mut row = vec![label, lang.count(p.total)];
                row.extend(p.by_category.0.iter().map(|(_, n)| lang.count(*n)));
                row
            })
            .collect(),
    });
    tables.extend(
        r.stages
            .as_ref()
            .filter(|s| s.any_news())
            .map(|s| super::render::stage_table(s, lang)),
    );
    tables
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Dimension;
    use proptest::prelude::*;

    const ZONES: [&str; 4] = [
        "UTC",
        "Asia/Ho_Chi_Minh",
        "Europe/Berlin",
        "America/New_York",
    ];

    /// A period of any form in 2021-2023.
    fn period() -> impl Strategy<Value = Period> {
        let y = 2021i32..=2023;
        prop_oneof![
            (y.clone(), 1u8..=12).prop_map(|(y, m)| Period::Month(YearMonth::new(y, m).unwrap())),
            (y.clone(), 1u8..=4).prop_map(|(y, q)| Period::Quarter(y, q)),
            (y.clone(), 1u8..=2).prop_map(|(y, h)| Period::Half(y, h)),
            y.clone().prop_map(Period::Year),
            (2022i32..=2023).prop_map(Period::FiscalYear),
            (y.clone(), 1u8..=52).prop_map(|(y, w)| Period::Week(y, w)),
            (0i64..1000, 0i64..60).prop_map(|(start, len)| {
                let a = Date::new(2021, 1, 1)
                    .unwrap()
                    .checked_add(jiff::Span::new().days(start))
                    .unwrap();
                let b = a.checked_add(jiff::Span::new().days(len)).unwrap();
                Period::Days(a, b)
            }),
        ]
    }

    /// Instants whose local date in `tz` is in `[first, last]`, counted one
    /// by one.
    fn count_in(times: &[EpochMillis], tz: &TimeZone, first: Date, last: Date) -> u64 {
        times
            .iter()
            .filter(|&&t| {
                let d = jiff::Timestamp::from_millisecond(t)
                    .unwrap()
                    .to_zoned_datetime(tz.clone())
                    .date();
                first <= d && d <= last
            })
            .count() as u64
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// The report's total is a brute-force count of the events whose
        /// local date falls in the period, whatever the zone, the form and
        /// the fiscal year's start.
        #[test]
        fn a_period_total_is_a_brute_force_count(
            zone in 0usize..ZONES.len(),
            fy in 1u8..=12,
            p in period(),
            // Seconds from 2020-12-01 to the end of 2023.
            events in proptest::collection::vec(0i64..(3 * 366 + 31) * 86_400, 0..300),
        ) {
            let tz = TimeZone::get(ZONES[zone]).unwrap();
            let base = 1_606_780_800_000i64; // 2020-12-01T00:00:00Z
            let sectors: std::sync::Arc<[String]> =
                vec!["a".to_owned(), "b".to_owned(), "c".to_owned()].into();
            let mut ledger = Ledger::new(vec!["c".to_owned()].into(), sectors.clone(), sectors);
            let mut index = MonthIndex::new(tz.clone());
            let times: Vec<EpochMillis> = events.iter().map(|s| base + s * 1000).collect();
            for &t in &times {
                let slot = index.locate(t).unwrap();
                // A sector per event, from its instant.
                let sector = usize::try_from(t.rem_euclid(3)).unwrap();
                let province = usize::try_from((t / 1000).rem_euclid(3)).unwrap();
                ledger.record(&slot, slot.minute_of(t), 0, Severity::Unknown, sector, province);
            }
            let (first, last) = p.dates(fy).unwrap();
            let brute = count_in(&times, &tz, first, last);
            // Read long after the period: closed.
            let now = 1_893_456_000_000; // 2030-01-01
            let r = PeriodReport::build(&ledger, ZONES[zone], p, fy, None, now).unwrap();
            prop_assert_eq!(r.total, brute, "{} in {}", p, ZONES[zone]);
            // The sectors' and the provinces' slices of the period sum to
            // it, and each slice is its brute-force count; so do the
            // report's breakdowns.
            for (d, of) in [
                (Dimension::Sector, 1i64),
                (Dimension::Province, 1000),
            ] {
                let mut sliced = 0;
                for i in 0..3 {
                    let slice = ledger.slice(d, i).unwrap();
                    let mine: Vec<EpochMillis> = times
                        .iter()
                        .copied()
                        .filter(|t| usize::try_from((t / of).rem_euclid(3)).unwrap() == i)
                        .collect();
                    let n = PeriodReport::build(&slice, ZONES[zone], p, fy, None, now).unwrap().total;
                    prop_assert_eq!(n, count_in(&mine, &tz, first, last));
                    sliced += n;
                }
                prop_assert_eq!(sliced, brute);
            }
            let shown = |n: &Option<Named>| n.as_ref().unwrap().0.iter().map(|(_, n)| n).sum::<u64>();
            prop_assert_eq!(shown(&r.by_sector), brute);
            prop_assert_eq!(shown(&r.by_province), brute);
            prop_assert_eq!(r.trend.iter().map(|x| x.total).sum::<u64>(), brute);
            // The previous period counts the same way.
            let (pf, pl) = p.previous().dates(fy).unwrap();
            let before = count_in(&times, &tz, pf, pl);
            prop_assert_eq!(r.previous_period.total, before);
        }
    }

    #[test]
    fn a_running_quarter_is_compared_to_date() {
        let tz = "UTC";
        let mut ledger = Ledger::new(
            vec!["c".to_owned()].into(),
            vec!["s".to_owned()].into(),
            vec!["p".to_owned()].into(),
        );
        let mut index = MonthIndex::new(TimeZone::UTC);
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        for t in [
            "2022-01-05T00:00:00Z", // Q1, inside the same span
            "2022-02-20T00:00:00Z", // Q1, after it
            "2022-04-03T00:00:00Z", // Q2, counted
            "2022-05-09T00:00:00Z", // Q2, after now
        ] {
            let slot = index.locate(at(t)).unwrap();
            ledger.record(&slot, slot.minute_of(at(t)), 0, Severity::Unknown, 0, 0);
        }
        // 14 April at noon: Q2 to date is 1-14 April 12:00; Q1 over the
        // same span is 1-14 January 12:00.
        let now = at("2022-04-14T12:00:30Z");
        let r = PeriodReport::build(&ledger, tz, "2022-Q2".parse().unwrap(), 1, None, now).unwrap();
        assert_eq!(r.basis, "to_date");
        assert_eq!(r.total, 1);
        assert_eq!(r.previous_period.total, 1);
        assert_eq!(
            r.previous_period.through.as_deref(),
            Some("2022-01-14T12:00:00Z")
        );
        assert_eq!(r.through.as_deref(), Some("2022-04-14T12:00:00Z"));
        assert!(
            PeriodReport::build(&ledger, tz, "2022-Q3".parse().unwrap(), 1, None, now).is_err()
        );
    }
}
