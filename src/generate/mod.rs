//! Synthetic incident streams (`incident-monitor generate`).
//!
//! * `ncsc-2022`: replays January 2021 to December 2022 so that the monitor
//!   reproduces every published figure of spec §9 exactly in
//!   Asia/Ho_Chi_Minh, with the noise real feeds have: re-deliveries, type
//!   synonyms in any case, both offset styles, incidents minutes before a
//!   local month boundary written in UTC, optional fields of the wrong type, a
//!   few invalid lines, out-of-order and days-late arrival.
//! * `live`: a realistic mix of every category with event times up to now,
//!   with occasional spikes; the benchmark and demo stream.

mod event;
mod formats;
mod live;
mod ncsc;
mod rng;

use std::io::{self, Write};
use std::str::FromStr;
use std::time::{Duration, Instant};

pub use event::{EventSpec, write_event};
pub use formats::FormatWriter;
pub use live::LiveStream;
pub use ncsc::{NCSC_TIMEZONE, PUBLISHED, ncsc_2022};
pub use rng::Rng;

/// The built-in scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Ncsc2022,
    Live,
}

impl Scenario {
    pub const NAMES: &'static str = "ncsc-2022, live";
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ncsc-2022" => Ok(Scenario::Ncsc2022),
            "live" => Ok(Scenario::Live),
            _ => Err(format!(
                "unknown scenario {s:?}: choose one of {}",
                Scenario::NAMES
            )),
        }
    }
}

/// The incident id of a generated line, used as the Kafka message key so
/// re-deliveries of one incident meet on one partition (as producers are
/// asked to do). Generated ids never contain escapes.
pub fn incident_id(line: &str) -> Option<&str> {
    let rest = line.split_once("\"id\":\"")?.1;
    rest.split_once('"').map(|(id, _)| id)
}

/// The smallest and largest `--rate` (events per second).
pub const RATE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=10_000_000.0;

/// How long to wait before the `n`th line of a stream paced at `rate` per
/// second that started at `start`; `None` when it is due (never a panic,
/// whatever `n` and `rate`).
pub fn wait_before(start: Instant, n: u64, rate: f64) -> Option<Duration> {
    let due_after = Duration::try_from_secs_f64(n as f64 / rate).unwrap_or(Duration::MAX);
    start
        .checked_add(due_after)?
        .checked_duration_since(Instant::now())
        .filter(|w| !w.is_zero())
}

/// Writes lines to `out`, at most `rate` per second when given. A closed pipe
/// ends the stream quietly (the reader has what it wanted).
pub fn write_lines<I>(lines: I, out: &mut impl Write, rate: Option<f64>) -> io::Result<u64>
where
    I: IntoIterator<Item = String>,
{
    let start = Instant::now();
    let mut n = 0u64;
    for line in lines {
        if let Some(rate) = rate
            && let Some(wait) = wait_before(start, n, rate)
        {
            out.flush()?;
            std::thread::sleep(wait);
        }
        match out
            .write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
        {
            Ok(()) => n += 1,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(n),
            Err(e) => return Err(e),
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(n),
    }
}
