//! Calendar months in the configured timezone: the exact ledger and the
//! period-over-period changes (spec §4).
//!
//! [`MonthIndex`] maps an event time to its month in the configured IANA zone
//! (never the machine's local time) with a cache, so the timezone database is
//! consulted once per month rather than once per event. [`Ledger`] holds exact
//! distinct-incident counts per month; [`change`] derives the changes.

pub mod change;
mod ledger;
mod month;

pub use change::ToDate;
pub use ledger::{Ledger, MINUTES_PER_MONTH_MAX, MonthCounts};
pub use month::{MonthIndex, MonthSlot, YearMonth};
