//! Year-month keys and the timezone-aware month lookup.

use std::fmt;
use std::str::FromStr;

use jiff::tz::TimeZone;

use crate::event::EpochMillis;

/// A calendar month, ordered, as `year * 12 + (month - 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth(pub i32);

impl YearMonth {
    /// The month `month` (1-12) of `year`.
    pub fn new(year: i32, month: u8) -> Option<YearMonth> {
        (1..=12)
            .contains(&month)
            .then(|| YearMonth(year * 12 + i32::from(month) - 1))
    }
    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }
    /// 1-12.
    pub fn month(self) -> u8 {
        // rem_euclid(12) is in 0..12, so the cast is exact.
        (self.0.rem_euclid(12) + 1) as u8
    }
    /// The month `n` months later (earlier for negative `n`).
    pub fn plus(self, n: i32) -> YearMonth {
        YearMonth(self.0 + n)
    }
    /// January of the same year.
    pub fn january(self) -> YearMonth {
        YearMonth(self.year() * 12)
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

/// `YYYY-MM` could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0:?} is not a month: use YYYY-MM, e.g. 2022-06")]
pub struct BadMonth(pub String);

impl FromStr for YearMonth {
    type Err = BadMonth;
    fn from_str(s: &str) -> Result<Self, BadMonth> {
        let bad = || BadMonth(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        YearMonth::new(year, month).ok_or_else(bad)
    }
}

/// A month and its bounds as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthSlot {
    pub month: YearMonth,
    /// First instant of the month in the zone (inclusive).
    pub start_ms: EpochMillis,
    /// First instant of the next month (exclusive).
    pub end_ms: EpochMillis,
}

impl MonthSlot {
    /// Whole minutes since the start of the month.
    #[inline]
    pub fn minute_of(&self, t: EpochMillis) -> usize {
        // Callers pass t within [start, end): non-negative and below
        // 44,700 minutes.
        ((t - self.start_ms).max(0) / 60_000) as usize
    }
}

/// Maps instants to months in one timezone, caching recent months.
#[derive(Debug, Clone)]
pub struct MonthIndex {
    tz: TimeZone,
    cache: [Option<MonthSlot>; 4],
    next_victim: usize,
}

impl MonthIndex {
    pub fn new(tz: TimeZone) -> MonthIndex {
        MonthIndex {
            tz,
            cache: [None; 4],
            next_victim: 0,
        }
    }

    /// The month containing `t`. `None` only outside the supported years
    /// (-9998..=9998).
    #[inline]
    pub fn locate(&mut self, t: EpochMillis) -> Option<MonthSlot> {
        for slot in self.cache.iter().flatten() {
            if slot.start_ms <= t && t < slot.end_ms {
                return Some(*slot);
            }
        }
        let slot = self.compute(t)?;
        self.cache[self.next_victim] = Some(slot);
        self.next_victim = (self.next_victim + 1) % self.cache.len();
        Some(slot)
    }

    /// The timezone of the months.
    pub fn timezone(&self) -> &TimeZone {
        &self.tz
    }

    /// The month containing `t`, without the cache (for callers that
    /// hold the index shared).
    pub fn slot_at(&self, t: EpochMillis) -> Option<MonthSlot> {
        self.compute(t)
    }

    fn compute(&self, t: EpochMillis) -> Option<MonthSlot> {
        let zoned = jiff::Timestamp::from_millisecond(t)
            .ok()?
            .to_zoned_datetime(self.tz.clone());
        let month = YearMonth::new(i32::from(zoned.year()), u8::try_from(zoned.month()).ok()?)?;
        self.slot(month)
    }

    /// The bounds of a month.
    pub fn slot(&self, month: YearMonth) -> Option<MonthSlot> {
        Some(MonthSlot {
            month,
            start_ms: self.start_of(month)?,
            end_ms: self.start_of(month.plus(1))?,
        })
    }

    fn start_of(&self, m: YearMonth) -> Option<EpochMillis> {
        let date = jiff::civil::Date::new(
            i16::try_from(m.year()).ok()?,
            i8::try_from(m.month()).ok()?,
            1,
        )
        .ok()?;
        // Midnight, or the first instant of the day where a transition skips it.
        let zoned = date.to_zoned_datetime(self.tz.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::time::parse_rfc3339;

    fn hcm() -> MonthIndex {
        MonthIndex::new(TimeZone::get("Asia/Ho_Chi_Minh").unwrap())
    }

    fn month_of(idx: &mut MonthIndex, s: &str) -> String {
        idx.locate(parse_rfc3339(s).unwrap())
            .unwrap()
            .month
            .to_string()
    }

    #[test]
    fn utc_instant_late_on_31_may_is_june_in_utc_but_may_in_hanoi() {
        let mut utc = MonthIndex::new(TimeZone::UTC);
        let mut hcm = hcm();
        // 23:30 on 31 May in Hanoi, written in UTC.
        assert_eq!(month_of(&mut hcm, "2022-05-31T16:30:00Z"), "2022-05");
        assert_eq!(month_of(&mut utc, "2022-05-31T16:30:00Z"), "2022-05");
        // 00:30 on 1 June in Hanoi is still 31 May in UTC.
        assert_eq!(month_of(&mut hcm, "2022-05-31T17:30:00Z"), "2022-06");
        assert_eq!(month_of(&mut utc, "2022-05-31T17:30:00Z"), "2022-05");
        // And the other way: 23:30 on 30 June UTC is 1 July in Hanoi.
        assert_eq!(month_of(&mut hcm, "2022-06-30T23:30:00Z"), "2022-07");
        assert_eq!(month_of(&mut utc, "2022-06-30T23:30:00Z"), "2022-06");
        // Same instant written with the local offset.
        assert_eq!(month_of(&mut hcm, "2022-06-01T00:30:00+07:00"), "2022-06");
    }

    #[test]
    fn bounds_are_exact_and_cache_agrees() {
        let mut idx = hcm();
        let june = idx.slot("2022-06".parse().unwrap()).unwrap();
        assert_eq!(
            june.start_ms,
            parse_rfc3339("2022-05-31T17:00:00Z").unwrap()
        );
        assert_eq!(june.end_ms, parse_rfc3339("2022-06-30T17:00:00Z").unwrap());
        for t in [june.start_ms, june.end_ms - 1] {
            assert_eq!(idx.locate(t).unwrap(), june);
        }
        assert_eq!(
            idx.locate(june.end_ms).unwrap().month.to_string(),
            "2022-07"
        );
        assert_eq!(
            idx.locate(june.start_ms - 1).unwrap().month.to_string(),
            "2022-05"
        );
        assert_eq!(june.minute_of(june.end_ms - 1), 30 * 24 * 60 - 1);
    }

    #[test]
    fn daylight_saving_months_have_their_real_length() {
        let idx = MonthIndex::new(TimeZone::get("Europe/Berlin").unwrap());
        let march = idx.slot("2022-03".parse().unwrap()).unwrap();
        assert_eq!((march.end_ms - march.start_ms) / 3_600_000, 31 * 24 - 1);
        let october = idx.slot("2022-10".parse().unwrap()).unwrap();
        assert_eq!((october.end_ms - october.start_ms) / 3_600_000, 31 * 24 + 1);
    }

    #[test]
    fn year_month_parse_and_arithmetic() {
        let m: YearMonth = "2022-01".parse().unwrap();
        assert_eq!(m.plus(-1).to_string(), "2021-12");
        assert_eq!("2022-06".parse::<YearMonth>().unwrap().january(), m);
        for bad in ["2022-13", "2022-00", "22-06", "2022/06", "2022-6", "x"] {
            assert!(bad.parse::<YearMonth>().is_err(), "{bad}");
        }
    }
}
