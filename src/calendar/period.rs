//! The periods a centre publishes besides months (spec §7 "Periods"): a
//! quarter, a half, a year, a fiscal year, an ISO week, a range of days;
//! what each is as instants in the configured timezone, the equally long
//! period just before it, and the same period a year earlier.

use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use super::YearMonth;
use crate::event::EpochMillis;

/// The forms `--period` accepts, for errors.
pub const PERIOD_FORMS: &str = "YYYY-MM (2022-06), YYYY-Qn (2022-Q2), YYYY-Hn (2022-H1), YYYY (2022), \
FYyyyy (FY2023: the fiscal year ending in 2023), YYYY-Www (2023-W03: an ISO week) or \
YYYY-MM-DD..YYYY-MM-DD (2023-01-16..2023-01-22: days, inclusive)";

/// The longest range of days (ten years): longer spans are years.
const MAX_DAYS: i64 = 3660;

/// A period of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Month(YearMonth),
    /// Quarter 1-4 of a year.
    Quarter(i32, u8),
    /// Half 1-2 of a year.
    Half(i32, u8),
    Year(i32),
    /// The fiscal year ending in this calendar year (`FY2023`); its first
    /// month is the configured `fiscal_year_start_month`.
    FiscalYear(i32),
    /// ISO week (Monday first) of an ISO week-numbering year.
    Week(i32, u8),
    /// Days, both inclusive.
    Days(Date, Date),
}

/// A period as a run of whole months or of whole days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Months { first: YearMonth, count: u32 },
    Days { first: Date, count: u32 },
}

/// A period that cannot be parsed; the message names the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a period: use {PERIOD_FORMS}")]
pub struct BadPeriod(pub String);

impl std::str::FromStr for Period {
    type Err = BadPeriod;

    fn from_str(s: &str) -> Result<Period, BadPeriod> {
        let bad = || BadPeriod(s.to_owned());
        let year = |y: &str| -> Result<i32, BadPeriod> {
            if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            y.parse::<i32>().map_err(|_| bad()).and_then(|v| {
                if (1000..=9998).contains(&v) {
                    Ok(v)
                } else {
                    Err(bad())
                }
            })
        };
        let small = |n: &str, lo: u8, hi: u8| -> Result<u8, BadPeriod> {
            if n.is_empty() || n.len() > 2 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            n.parse::<u8>()
                .ok()
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(bad)
        };
        if let Some((a, b)) = s.split_once("..") {
            let date = |d: &str| -> Result<Date, BadPeriod> {
                if d.len() != 10 {
                    return Err(bad());
                }
                d.parse::<Date>().map_err(|_| bad())
            };
            let (from, to) = (date(a)?, date(b)?);
            let days = i64::from((to - from).get_days());
            if !(0..MAX_DAYS).contains(&days) {
                return Err(bad());
            }
            return Ok(Period::Days(from, to));
        }
        if let Some(y) = s.strip_prefix("FY") {
            return Ok(Period::FiscalYear(year(y)?));
        }
        match s.split_once('-') {
            None => Ok(Period::Year(year(s)?)),
            Some((y, rest)) => {
                let y = year(y)?;
                if let Some(q) = rest.strip_prefix('Q') {
                    Ok(Period::Quarter(y, small(q, 1, 4)?))
                } else if let Some(h) = rest.strip_prefix('H') {
                    Ok(Period::Half(y, small(h, 1, 2)?))
                } else if let Some(w) = rest.strip_prefix('W') {
                    if w.len() != 2 {
                        return Err(bad());
                    }
                    let week = small(w, 1, 53)?;
                    // Week 53 exists only in long ISO years.
                    iso_monday(y, week).ok_or_else(bad)?;
                    Ok(Period::Week(y, week))
                } else if rest.len() == 2 {
                    let m = small(rest, 1, 12)?;
                    Ok(Period::Month(YearMonth::new(y, m).ok_or_else(bad)?))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month(m) => write!(f, "{m}"),
            Period::Quarter(y, q) => write!(f, "{y:04}-Q{q}"),
            Period::Half(y, h) => write!(f, "{y:04}-H{h}"),
            Period::Year(y) => write!(f, "{y:04}"),
            Period::FiscalYear(y) => write!(f, "FY{y:04}"),
            Period::Week(y, w) => write!(f, "{y:04}-W{w:02}"),
            Period::Days(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

/// The Monday of ISO week `week` of ISO year `year`; `None` for a week 53
/// the year does not have.
fn iso_monday(year: i32, week: u8) -> Option<Date> {
    let y = i16::try_from(year).ok()?;
    let d = jiff::civil::ISOWeekDate::new(y, i8::try_from(week).ok()?, Weekday::Monday).ok()?;
    Some(d.date())
}

/// The ISO week of a date: (ISO year, week).
fn iso_week_of(d: Date) -> (i32, u8) {
    let w = d.iso_week_date();
    (i32::from(w.year()), u8::try_from(w.week()).unwrap_or(1))
}

impl Period {
    /// The kind, as JSON names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Period::Month(_) => "month",
            Period::Quarter(..) => "quarter",
            Period::Half(..) => "half",
            Period::Year(_) => "year",
            Period::FiscalYear(_) => "fiscal_year",
            Period::Week(..) => "week",
            Period::Days(..) => "days",
        }
    }

    /// The period as whole months or whole days; `fy_start` is the first
    /// month of a fiscal year (1-12).
    pub fn span(&self, fy_start: u8) -> Span {
        let months = |first: Option<YearMonth>, count: u32| Span::Months {
            first: first.unwrap_or(YearMonth(0)),
            count,
        };
        match *self {
            Period::Month(m) => months(Some(m), 1),
            Period::Quarter(y, q) => months(YearMonth::new(y, (q - 1) * 3 + 1), 3),
            Period::Half(y, h) => months(YearMonth::new(y, (h - 1) * 6 + 1), 6),
            Period::Year(y) => months(YearMonth::new(y, 1), 12),
            Period::FiscalYear(y) => {
                let start = fy_start.clamp(1, 12);
                // Named by the calendar year it ends in: FY2023 from April
                // is April 2022 to March 2023; from January, 2023 itself.
                let first_year = if start == 1 { y } else { y - 1 };
                months(YearMonth::new(first_year, start), 12)
            }
            Period::Week(y, w) => Span::Days {
                first: iso_monday(y, w).unwrap_or(Date::MIN),
                count: 7,
            },
            Period::Days(a, b) => Span::Days {
                first: a,
                count: u32::try_from((b - a).get_days() + 1).unwrap_or(1),
            },
        }
    }

    /// The equally long period just before this one.
    pub fn previous(&self) -> Period {
        match *self {
            Period::Month(m) => Period::Month(m.plus(-1)),
            Period::Quarter(y, 1) => Period::Quarter(y - 1, 4),
            Period::Quarter(y, q) => Period::Quarter(y, q - 1),
            Period::Half(y, 1) => Period::Half(y - 1, 2),
            Period::Half(y, h) => Period::Half(y, h - 1),
            Period::Year(y) => Period::Year(y - 1),
            Period::FiscalYear(y) => Period::FiscalYear(y - 1),
            Period::Week(y, w) => {
                let monday = iso_monday(y, w).unwrap_or(Date::MIN);
                let before = monday
                    .checked_sub(jiff::Span::new().days(7))
                    .unwrap_or(monday);
                let (y, w) = iso_week_of(before);
                Period::Week(y, w)
            }
            Period::Days(a, b) => {
                let n = jiff::Span::new().days((b - a).get_days() + 1);
                Period::Days(a.checked_sub(n).unwrap_or(a), b.checked_sub(n).unwrap_or(b))
            }
        }
    }

    /// The same period a year earlier: the same months, the same ISO week
    /// number (week 52 for a week 53 the year before lacks), the same
    /// dates (28 February for a 29th).
    pub fn last_year(&self) -> Period {
        let year_back = |d: Date| d.checked_sub(jiff::Span::new().years(1)).unwrap_or(d);
        match *self {
            Period::Month(m) => Period::Month(m.plus(-12)),
            Period::Quarter(y, q) => Period::Quarter(y - 1, q),
            Period::Half(y, h) => Period::Half(y - 1, h),
            Period::Year(y) => Period::Year(y - 1),
            Period::FiscalYear(y) => Period::FiscalYear(y - 1),
            Period::Week(y, w) => {
                if iso_monday(y - 1, w).is_some() {
                    Period::Week(y - 1, w)
                } else {
                    Period::Week(y - 1, 52)
                }
            }
            Period::Days(a, b) => Period::Days(year_back(a), year_back(b)),
        }
    }

    /// The period's bounds as instants in `tz`: its first instant and the
    /// first instant after it.
    pub fn instants(&self, tz: &TimeZone, fy_start: u8) -> Option<(EpochMillis, EpochMillis)> {
        self.span(fy_start).instants(tz)
    }

    /// The first and last day (inclusive).
    pub fn dates(&self, fy_start: u8) -> Option<(Date, Date)> {
        let span = self.span(fy_start);
        let first = span.first_day()?;
        let after = span.day_after()?;
        Some((first, after.yesterday().ok()?))
    }
}

impl Span {
    /// The first day.
    pub fn first_day(&self) -> Option<Date> {
        match *self {
            Span::Months { first, .. } => month_day(first),
            Span::Days { first, .. } => Some(first),
        }
    }

    /// The day after the last.
    pub fn day_after(&self) -> Option<Date> {
        match *self {
            Span::Months { first, count } => month_day(first.plus(i32::try_from(count).ok()?)),
            Span::Days { first, count } => first
                .checked_add(jiff::Span::new().days(i64::from(count)))
                .ok(),
        }
    }

    /// Whole months (for an average per month), `None` for days.
    pub fn months(&self) -> Option<u32> {
        match *self {
            Span::Months { count, .. } => Some(count),
            Span::Days { .. } => None,
        }
    }

    /// The first instant (midnight of its first day in `tz`) and the
    /// first instant after it.
    pub fn instants(&self, tz: &TimeZone) -> Option<(EpochMillis, EpochMillis)> {
        Some((
            midnight(self.first_day()?, tz)?,
            midnight(self.day_after()?, tz)?,
        ))
    }
}

/// The first day of a month.
fn month_day(m: YearMonth) -> Option<Date> {
    Date::new(
        i16::try_from(m.year()).ok()?,
        i8::try_from(m.month()).ok()?,
        1,
    )
    .ok()
}

/// The first instant of a day in `tz` (after a gap, the instant the day
/// starts at).
pub fn midnight(d: Date, tz: &TimeZone) -> Option<EpochMillis> {
    let z = d.to_zoned_datetime(tz.clone()).ok()?;
    Some(z.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        for s in [
            "2022-06",
            "2022-Q2",
            "2022-H1",
            "2022",
            "FY2023",
            "2023-W03",
            "2020-W53",
            "2023-01-16..2023-01-22",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        for bad in [
            "2022-13",
            "2022-Q5",
            "2022-H3",
            "22",
            "FY23",
            "2023-W54",
            "2023-W53",
            "2023-W3",
            "2023-01-22..2023-01-16",
            "2023-1-16..2023-1-22",
            "",
            "2022-06-01",
            "2022-Q",
        ] {
            let e = bad.parse::<Period>().unwrap_err().to_string();
            assert!(e.contains("2022-Q2") && e.contains("FY2023"), "{bad}: {e}");
        }
    }

    #[test]
    fn spans_previous_and_last_year() {
        let fy = |s: &str, start: u8| p(s).dates(start).unwrap();
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(fy("FY2023", 4), (d("2022-04-01"), d("2023-03-31")));
        assert_eq!(fy("FY2023", 10), (d("2022-10-01"), d("2023-09-30")));
        assert_eq!(fy("FY2023", 1), (d("2023-01-01"), d("2023-12-31")));
        assert_eq!(fy("2022-Q4", 1), (d("2022-10-01"), d("2022-12-31")));
        assert_eq!(fy("2023-W01", 1), (d("2023-01-02"), d("2023-01-08")));
        assert_eq!(fy("2021-W01", 1), (d("2021-01-04"), d("2021-01-10")));
        assert_eq!(p("2022-Q1").previous(), p("2021-Q4"));
        assert_eq!(p("2022-H1").previous(), p("2021-H2"));
        assert_eq!(p("2023-W01").previous(), p("2022-W52"));
        assert_eq!(p("2021-W01").previous(), p("2020-W53"));
        assert_eq!(p("2020-W53").last_year(), p("2019-W52"));
        assert_eq!(p("2023-W03").last_year(), p("2022-W03"));
        assert_eq!(
            p("2023-01-16..2023-01-22").previous(),
            p("2023-01-09..2023-01-15")
        );
        assert_eq!(
            p("2024-02-29..2024-03-01").last_year(),
            p("2023-02-28..2023-03-01")
        );
        assert_eq!(p("FY2023").previous(), p("FY2022"));
    }

    #[test]
    fn a_week_across_a_dst_change_is_its_own_length_in_instants() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        // 26 March 2023: clocks go forward, the week has 167 hours.
        let (a, b) = p("2023-W12").instants(&tz, 1).unwrap();
        assert_eq!((b - a) / 3_600_000, 167);
        let hcm = TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
        let (a, b) = p("2023-W12").instants(&hcm, 1).unwrap();
        assert_eq!((b - a) / 3_600_000, 168);
    }
}
