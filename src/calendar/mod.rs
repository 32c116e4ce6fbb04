//! Calendar months in the configured timezone: the exact ledger and the
//! period-over-period changes (spec §4).
//!
//! [`MonthIndex`] maps an event time to its month in the configured IANA zone
//! (never the machine's local time) with a cache, so the timezone database is
//! consulted once per month rather than once per event. [`Ledger`] holds exact
//! distinct-incident counts per month (to the minute, so any range of days
//! is exact: [`Ledger::between`]); [`change`] derives the changes;
//! [`period`] names the quarters, halves, years, fiscal years, ISO weeks and
//! ranges of days a centre publishes.

pub mod change;
mod ledger;
mod month;
pub mod period;

pub use change::ToDate;
pub use ledger::{
    Cell, Dimension, Ledger, MINUTES_PER_MONTH_MAX, MonthCounts, RangeCounts, StageFigures,
    merge_stages,
};
pub use month::{MonthIndex, MonthSlot, YearMonth};
pub use period::{BadPeriod, Period, Span};
