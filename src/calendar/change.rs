//! Period-over-period changes (spec §4). A change against zero is undefined:
//! `None`, never infinite or NaN.

use super::ledger::Ledger;
use super::month::{MonthIndex, MonthSlot, YearMonth};
use crate::event::EpochMillis;

/// `current / previous - 1`, or `None` when `previous` is zero.
pub fn ratio(current: u64, previous: u64) -> Option<f64> {
    (previous != 0).then(|| current as f64 / previous as f64 - 1.0)
}

/// The change in hundredths of a percent, rounded half away from zero, computed
/// in integers so the published two decimals are exact (39.08% is `3908`).
pub fn percent_hundredths(current: u64, previous: u64) -> Option<i64> {
    if previous == 0 {
        return None;
    }
    let num = (i128::from(current) - i128::from(previous)) * 10_000;
    let den = i128::from(previous);
    let q = (num.abs() * 2 + den) / (2 * den);
    let q = i64::try_from(q).unwrap_or(i64::MAX);
    Some(if num < 0 { -q } else { q })
}

/// `part` as a share of `whole` in hundredths of a percent, rounded half
/// away from zero (1 of 4,000 is 0.025%: `3`, printed 0.03%); `None` when
/// `whole` is zero.
pub fn share_hundredths(part: u64, whole: u64) -> Option<i64> {
    if whole == 0 {
        return None;
    }
    let num = i128::from(part) * 10_000;
    let den = i128::from(whole);
    i64::try_from((num * 2 + den) / (2 * den)).ok()
}

/// The periods that year-to-date figures compare (for June: January..June,
/// the six months before it, and January..June of the previous year).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearToDate {
    pub from: YearMonth,
    pub to: YearMonth,
    pub previous_from: YearMonth,
    pub previous_to: YearMonth,
    pub last_year_from: YearMonth,
    pub last_year_to: YearMonth,
}

impl YearToDate {
    pub fn of(m: YearMonth) -> YearToDate {
        let from = m.january();
        let len = m.0 - from.0 + 1;
        YearToDate {
            from,
            to: m,
            previous_from: from.plus(-len),
            previous_to: from.plus(-1),
            last_year_from: from.plus(-12),
            last_year_to: m.plus(-12),
        }
    }

    /// Number of months in the period.
    pub fn months(&self) -> u32 {
        // `to` is never before `from` (both in the same year).
        (self.to.0 - self.from.0 + 1) as u32
    }
}

/// "To date": the running month at an instant, and how much of it has
/// elapsed, in whole minutes (spec §4). The one definition behind the
/// gauges, `/report` and `report`: the running month is the month the
/// instant (the wall clock) is in, in the configured timezone; its span
/// runs from the month's first instant for `minutes` whole minutes, and
/// any earlier month is compared over the same number of minutes from its
/// own first instant (the whole month when it is shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToDate {
    /// The running month.
    pub slot: MonthSlot,
    /// Whole minutes from the month's start to `at_ms`.
    pub minutes: usize,
}

impl ToDate {
    /// The running month at `at_ms`; `None` outside the supported years.
    pub fn at(index: &MonthIndex, at_ms: EpochMillis) -> Option<ToDate> {
        let slot = index.slot_at(at_ms)?;
        let elapsed = (at_ms - slot.start_ms).max(0);
        Some(ToDate {
            slot,
            minutes: usize::try_from(elapsed / 60_000).unwrap_or(usize::MAX),
        })
    }

    /// Where the same span ends in another month (exclusive), at most at
    /// that month's end.
    pub fn end_in(&self, other: &MonthSlot) -> EpochMillis {
        let len = i64::try_from(self.minutes)
            .unwrap_or(i64::MAX)
            .saturating_mul(60_000);
        other.start_ms.saturating_add(len).min(other.end_ms)
    }
}

/// Month to date: the running month up to the span's end against the same
/// elapsed span of the previous month, per category.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthToDate {
    pub month: YearMonth,
    pub current: Vec<u64>,
    pub previous_same_span: Vec<u64>,
}

impl MonthToDate {
    pub fn compute(ledger: &Ledger, span: &ToDate) -> MonthToDate {
        let n = ledger.categories().len();
        let (m, prev) = (span.slot.month, span.slot.month.plus(-1));
        let mut current = vec![0; n];
        ledger.categories_through(m, m, Some(span), &mut current);
        let mut previous_same_span = vec![0; n];
        ledger.categories_through(prev, prev, Some(span), &mut previous_same_span);
        MonthToDate {
            month: m,
            current,
            previous_same_span,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_changes_round_exactly() {
        assert_eq!(percent_hundredths(1178, 847), Some(3908));
        assert_eq!(percent_hundredths(6641, 4914), Some(3514));
        assert_eq!(percent_hundredths(6641, 4815), Some(3792));
        assert_eq!(percent_hundredths(1383, 1254), Some(1029));
        assert_eq!(percent_hundredths(983, 1178), Some(-1655));
        let r = ratio(1178, 847).unwrap();
        assert!((r - 0.3908).abs() < 1e-4);
    }

    #[test]
    fn half_rounds_away_from_zero_both_ways() {
        // 1/8 = 12.5%: exactly half way at three decimals is not reachable in
        // hundredths, so use 0.125% steps: 10001/8000 - 1 = 0.0125% → 1.25 bp.
        assert_eq!(percent_hundredths(16_001, 16_000), Some(1)); // 0.00625% → 0.01
        assert_eq!(percent_hundredths(15_999, 16_000), Some(-1));
        assert_eq!(percent_hundredths(40_001, 40_000), Some(0)); // 0.0025% → 0.00
        assert_eq!(percent_hundredths(20_001, 20_000), Some(1)); // 0.005% → 0.01
        assert_eq!(percent_hundredths(19_999, 20_000), Some(-1)); // -0.005% → -0.01
    }

    #[test]
    fn shares_round_half_away_from_zero() {
        assert_eq!(share_hundredths(1, 4000), Some(3));
        assert_eq!(share_hundredths(1, 8000), Some(1));
        assert_eq!(share_hundredths(1, 20_001), Some(0));
        assert_eq!(share_hundredths(1, 3), Some(3333));
        assert_eq!(share_hundredths(2, 3), Some(6667));
        assert_eq!(share_hundredths(5, 5), Some(10_000));
        assert_eq!(share_hundredths(0, 0), None);
    }

    #[test]
    fn against_zero_is_undefined() {
        assert_eq!(ratio(5, 0), None);
        assert_eq!(ratio(0, 0), None);
        assert_eq!(percent_hundredths(5, 0), None);
        assert_eq!(ratio(0, 5), Some(-1.0));
    }

    #[test]
    fn year_to_date_periods() {
        let y = YearToDate::of("2022-06".parse().unwrap());
        assert_eq!(y.months(), 6);
        assert_eq!(y.previous_from.to_string(), "2021-07");
        assert_eq!(y.previous_to.to_string(), "2021-12");
        assert_eq!(y.last_year_from.to_string(), "2021-01");
        assert_eq!(y.last_year_to.to_string(), "2021-06");
        let j = YearToDate::of("2022-01".parse().unwrap());
        assert_eq!(
            (j.previous_from.to_string(), j.previous_to.to_string()),
            ("2021-12".into(), "2021-12".into())
        );
    }
}
