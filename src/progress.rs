//! Progress of long runs (`run --input`, `run --until-end`, `generate
//! --brokers`, the demo's replay): a live line on a terminal, a `progress`
//! log event every interval otherwise, nothing with `--quiet`.
//!
//! The loops call [`Progress::update`] from a timer with a [`Snapshot`] of
//! counters they already keep (nothing is counted per event for it): the
//! cost is one snapshot per tick, a few times a second at most.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress line on screen, if any: log lines are written around it
/// (see [`LogWriter`]), so a warning never lands in the middle of it.
static ON_SCREEN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes log lines to stderr, lifting the progress line off the terminal
/// while they are written (it is redrawn under them). Give
/// `tracing_subscriber::fmt().with_writer(progress::LogWriter::default)`.
#[derive(Debug, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ON_SCREEN.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProgressMode {
    /// A line on stderr, redrawn in place.
    Terminal,
    /// A `progress` log event every interval.
    Log(Duration),
    Off,
}

impl ProgressMode {
    /// `--quiet` or an interval of 0 turn progress off; otherwise a live
    /// line when stderr is a terminal, log events when it is not.
    pub fn choose(quiet: bool, interval_secs: f64) -> ProgressMode {
        use std::io::IsTerminal;
        if quiet || interval_secs.is_nan() || interval_secs <= 0.0 {
            return ProgressMode::Off;
        }
        if std::io::stderr().is_terminal() {
            ProgressMode::Terminal
        } else {
            // Bounded by the flag's validation; a huge value just never logs.
            ProgressMode::Log(Duration::try_from_secs_f64(interval_secs).unwrap_or(Duration::MAX))
        }
    }

    /// How often the caller should take a snapshot: each one is a redraw
    /// or a log event.
    pub fn tick(&self) -> Duration {
        match self {
            ProgressMode::Terminal => Duration::from_millis(200),
            ProgressMode::Log(every) => *every,
            ProgressMode::Off => Duration::from_secs(3600),
        }
    }
}

/// What is measured against the total, when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Messages,
}

/// The counters of a run at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Events (messages, lines) handled so far by this run.
    pub events: u64,
    /// Progress against `total`, in `unit` (bytes read, or messages).
    pub done: u64,
    pub total: Option<u64>,
    /// Messages still to read (Kafka: the lag of the assigned partitions).
    pub lag: Option<u64>,
    pub accepted: Option<u64>,
    /// Later messages that moved a counted incident (spec §4 "Updates").
    pub update: Option<u64>,
    pub duplicate: Option<u64>,
    pub invalid: Option<u64>,
    /// Produced messages acknowledged by the broker (`generate --brokers`).
    pub acked: Option<u64>,
}

/// One long run's progress display.
pub struct Progress {
    mode: ProgressMode,
    what: &'static str,
    unit: Unit,
    started: Instant,
    bar: Option<ProgressBar>,
    /// The previous snapshot and when it was taken (for the recent rate).
    last: Option<(Instant, u64)>,
    /// When the next snapshot is due (for loops without a timer).
    next: Instant,
    logged: bool,
}

impl Progress {
    pub fn new(mode: ProgressMode, what: &'static str, unit: Unit) -> Progress {
        let bar = (mode == ProgressMode::Terminal).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
            bar.set_style(
                ProgressStyle::with_template("{prefix} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(what);
            bar.set_message("starting");
            if let Ok(mut on) = ON_SCREEN.lock() {
                *on = Some(bar.clone());
            }
            bar
        });
        let now = Instant::now();
        Progress {
            mode,
            what,
            unit,
            started: now,
            bar,
            last: None,
            next: now + mode.tick(),
            logged: false,
        }
    }

    /// How often to call [`Progress::update`].
    pub fn tick(&self) -> Duration {
        self.mode.tick()
    }

    pub fn is_off(&self) -> bool {
        self.mode == ProgressMode::Off
    }

    /// Whether a snapshot is due now, for loops that have no timer of their
    /// own (they ask every so many messages, not every message).
    pub fn due(&mut self) -> bool {
        if self.is_off() {
            return false;
        }
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        self.next = now + self.tick();
        true
    }

    /// Shows a snapshot (the caller takes one every [`Progress::tick`]):
    /// redraws the line, or logs an event.
    pub fn update(&mut self, s: &Snapshot) {
        let now = Instant::now();
        let rate = match self.last {
            Some((t, events)) if now > t => {
                events_per_sec(s.events.saturating_sub(events), now - t)
            }
            _ => events_per_sec(s.events, now - self.started),
        };
        self.last = Some((now, s.events));
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Terminal => {
                if let Some(bar) = &self.bar {
                    bar.set_message(self.line(s, rate));
                }
            }
            ProgressMode::Log(_) => {
                self.logged = true;
                self.log(s, rate);
            }
        }
    }

    /// Ends the display: the live line is removed; a run that logged
    /// progress logs its final figures once more (so the last event agrees
    /// with the run's totals).
    pub fn finish(&mut self, s: &Snapshot) {
        match self.mode {
            ProgressMode::Terminal => {
                if let Some(bar) = self.bar.take() {
                    if let Ok(mut on) = ON_SCREEN.lock() {
                        *on = None;
                    }
                    bar.finish_and_clear();
                }
            }
            ProgressMode::Log(_) if self.logged => {
                let rate = events_per_sec(s.events, self.started.elapsed());
                self.log(s, rate);
            }
            _ => {}
        }
    }

    fn percent(&self, s: &Snapshot) -> Option<f64> {
        let total = s.total?;
        Some(if total == 0 {
            100.0
        } else {
            (s.done.min(total) as f64 * 100.0 / total as f64 * 10.0).round() / 10.0
        })
    }

    /// Seconds left at the recent rate, where the remaining work is known.
    fn eta_secs(&self, s: &Snapshot, rate: f64) -> Option<u64> {
        let remaining = match (s.lag, s.total) {
            (Some(lag), _) => lag as f64,
            (None, Some(total)) if s.done > 0 => {
                // Bytes left, converted to events at the bytes per event so far.
                let left = total.saturating_sub(s.done) as f64;
                match self.unit {
                    Unit::Messages => left,
                    Unit::Bytes => left * s.events as f64 / s.done as f64,
                }
            }
            _ => return None,
        };
        (rate > 0.0).then(|| (remaining / rate).ceil() as u64)
    }

    fn line(&self, s: &Snapshot, rate: f64) -> String {
        let mut parts = Vec::new();
        match (s.total, self.unit) {
            (Some(t), Unit::Bytes) => parts.push(format!(
                "{} of {} ({:.1}%)",
                bytes(s.done),
                bytes(t),
                self.percent(s).unwrap_or(0.0)
            )),
            (Some(t), Unit::Messages) => parts.push(format!(
                "{} of {} messages ({:.1}%)",
                s.done,
                t,
                self.percent(s).unwrap_or(0.0)
            )),
            (None, _) => parts.push(format!("{} events", s.events)),
        }
        parts.push(format!("{} events/s", rate.round()));
        if let (Some(a), Some(d), Some(i)) = (s.accepted, s.duplicate, s.invalid) {
            match s.update {
                Some(u) if u > 0 => {
                    parts.push(format!(
                        "accepted {a}, update {u}, duplicate {d}, invalid {i}"
                    ));
                }
                _ => parts.push(format!("accepted {a}, duplicate {d}, invalid {i}")),
            }
        }
        if let Some(acked) = s.acked {
            parts.push(format!("acknowledged {acked}"));
        }
        if let Some(lag) = s.lag {
            parts.push(format!("lag {lag}"));
        }
        if let Some(eta) = self.eta_secs(s, rate) {
            parts.push(format!("ETA {}", clock(eta)));
        }
        parts.join(" · ")
    }

    fn log(&self, s: &Snapshot, rate: f64) {
        tracing::info!(
            run = self.what,
            events = s.events,
            events_per_sec = rate.round() as u64,
            lag = s.lag,
            eta_secs = self.eta_secs(s, rate),
            percent = self.percent(s),
            accepted = s.accepted,
            update = s.update,
            duplicate = s.duplicate,
            invalid = s.invalid,
            acknowledged = s.acked,
            "progress"
        );
    }
}

fn events_per_sec(events: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        events as f64 / secs
    } else {
        0.0
    }
}

/// `1.5 GB`, `320 MB`, `12 KB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `1:05:09`, `4:07`.
fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_what_an_operator_needs() {
        let p = Progress::new(ProgressMode::Off, "run", Unit::Bytes);
        let s = Snapshot {
            events: 1_000_000,
            done: 450_000_000,
            total: Some(900_000_000),
            accepted: Some(900_000),
            duplicate: Some(90_000),
            invalid: Some(10_000),
            ..Snapshot::default()
        };
        let line = p.line(&s, 500_000.0);
        assert_eq!(
            line,
            "450.0 MB of 900.0 MB (50.0%) · 500000 events/s · accepted 900000, duplicate 90000, invalid 10000 · ETA 0:02"
        );
        let kafka = Progress::new(ProgressMode::Off, "drain", Unit::Messages);
        let s = Snapshot {
            events: 100,
            done: 100,
            total: Some(3_700_100),
            lag: Some(3_700_000),
            ..Snapshot::default()
        };
        assert_eq!(kafka.eta_secs(&s, 1000.0), Some(3700));
        assert!(
            kafka
                .line(&s, 1000.0)
                .ends_with("lag 3700000 · ETA 1:01:40")
        );
        assert_eq!(kafka.percent(&s), Some(0.0));
    }

    #[test]
    fn quiet_or_zero_turns_it_off() {
        assert_eq!(ProgressMode::choose(true, 10.0), ProgressMode::Off);
        assert_eq!(ProgressMode::choose(false, 0.0), ProgressMode::Off);
        assert_eq!(ProgressMode::choose(false, f64::NAN), ProgressMode::Off);
    }
}
