//! The wall clock: the one place the process reads it. Domain code takes
//! the time as a parameter (`wall_ms`), so tests and replays choose it.

use crate::event::EpochMillis;

/// Wall clock in epoch milliseconds.
pub fn wall_now_ms() -> EpochMillis {
    jiff::Timestamp::now().as_millisecond()
}
