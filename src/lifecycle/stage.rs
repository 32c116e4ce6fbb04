//! Stages, the words that name them, and the times to reach them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use hdrhistogram::Histogram;

use crate::classify::{AsciiWords, trimmed};

/// A lifecycle stage. Ordered: a stage's count includes the incidents that
/// went on to a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Stage {
    /// Counted (every incident is).
    #[default]
    Recorded = 0,
    /// Warned ("cảnh báo").
    Warned = 1,
    /// Handled ("hướng dẫn xử lý").
    Handled = 2,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Recorded, Stage::Warned, Stage::Handled];
    /// The stages reached after detection, which have times.
    pub const TIMED: [Stage; 2] = [Stage::Warned, Stage::Handled];
    pub const COUNT: usize = 3;

    /// Label value and JSON key.
    pub const fn code(self) -> &'static str {
        match self {
            Stage::Recorded => "recorded",
            Stage::Warned => "warned",
            Stage::Handled => "handled",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    /// Position among [`Stage::TIMED`] (`None` for `recorded`).
    pub const fn timed_index(self) -> Option<usize> {
        match self {
            Stage::Recorded => None,
            Stage::Warned => Some(0),
            Stage::Handled => Some(1),
        }
    }

    /// The stage of an index ([`Stage::index`]); past the last, `handled`.
    pub fn from_index(i: usize) -> Stage {
        match i {
            0 => Stage::Recorded,
            1 => Stage::Warned,
            _ => Stage::Handled,
        }
    }
}

/// The configured status words of `warned` and `handled` (`[lifecycle]`),
/// matched to a message's `status` without regard to case or surrounding
/// space; any other status (and none) is `recorded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageWords {
    warned: Vec<String>,
    handled: Vec<String>,
    /// The handled words, then the warned ones, for an ASCII status (no
    /// folded word that is not ASCII can equal one).
    ascii: AsciiWords,
}

impl StageWords {
    pub fn new(warned: &[String], handled: &[String]) -> StageWords {
        let fold =
            |v: &[String]| -> Vec<String> { v.iter().map(|w| w.trim().to_lowercase()).collect() };
        let (warned, handled) = (fold(warned), fold(handled));
        let ascii = AsciiWords::new(handled.iter().chain(&warned).map(String::as_str));
        StageWords {
            warned,
            handled,
            ascii,
        }
    }

    /// The stage a `status` names.
    #[inline]
    pub fn stage(&self, status: Option<&str>) -> Stage {
        let Some(s) = status.map(trimmed).filter(|s| !s.is_empty()) else {
            return Stage::Recorded;
        };
        if !s.is_ascii() {
            return self.stage_slow(s);
        }
        match self.ascii.find(s) {
            Some(i) if i < self.handled.len() => Stage::Handled,
            Some(_) => Stage::Warned,
            None => Stage::Recorded,
        }
    }

    /// [`StageWords::stage`] for any text (trimmed, folded).
    fn stage_slow(&self, status: &str) -> Stage {
        let s = status.trim();
        if s.is_empty() {
            return Stage::Recorded;
        }
        let is = |words: &[String]| -> bool {
            if s.is_ascii() {
                words.iter().any(|w| w.eq_ignore_ascii_case(s))
            } else {
                let lower = s.to_lowercase();
                words.contains(&lower)
            }
        };
        if is(&self.handled) {
            Stage::Handled
        } else if is(&self.warned) {
            Stage::Warned
        } else {
            Stage::Recorded
        }
    }

    /// A word listed for both stages, if any (a configuration error).
    pub fn conflict(&self) -> Option<&str> {
        self.warned
            .iter()
            .find(|w| self.handled.contains(w))
            .map(String::as_str)
    }
}

/// Why a message's lifecycle news could not (all) be applied: counted by
/// reason, never a reason to drop the message or its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Note {
    /// `updated` before the detection time: the stage counts, its time
    /// is not recorded.
    NegativeTime,
    /// A detection-to-stage time past `lifecycle.max_time_days` (a
    /// backfill without `updated`, a wrong clock): the stage counts, its
    /// time is not recorded.
    TooLong,
    /// A message naming a stage, of an incident already counted that the
    /// lifecycle no longer remembers (past its bounds): a duplicate, not a
    /// new incident, and nothing moves.
    Forgotten,
}

impl Note {
    pub const ALL: [Note; 3] = [Note::NegativeTime, Note::TooLong, Note::Forgotten];

    /// Label value (`reason`).
    pub const fn code(self) -> &'static str {
        match self {
            Note::NegativeTime => "negative_time",
            Note::TooLong => "too_long",
            Note::Forgotten => "forgotten",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn from_code(code: &str) -> Option<Note> {
        Note::ALL.into_iter().find(|n| n.code() == code)
    }
}

/// What one message did to an incident's lifecycle: the times it
/// recorded (exact seconds to `warned` and `handled`, [`super::NO_TIME`]
/// where none), and why something could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub times: [u32; 2],
    pub note: Option<Note>,
}

impl Default for Moved {
    fn default() -> Self {
        Moved {
            times: [super::NO_TIME; 2],
            note: None,
        }
    }
}

/// Upper bounds of the exported `time_to_stage_seconds` buckets: a minute
/// to thirty days.
pub const BUCKETS_SECS: [u64; 15] = [
    60, 300, 900, 1_800, 3_600, 7_200, 14_400, 21_600, 43_200, 86_400, 172_800, 259_200, 604_800,
    1_209_600, 2_592_000,
];

/// Detection-to-stage times this process recorded, in fixed buckets (not
/// cumulative; past the last bucket: `+Inf` only) with their exact sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeBuckets {
    pub buckets: [u64; BUCKETS_SECS.len()],
    pub over: u64,
    pub sum_secs: u64,
    pub count: u64,
}

impl TimeBuckets {
    #[inline]
    pub fn record(&mut self, secs: u32) {
        let v = u64::from(secs);
        match BUCKETS_SECS.iter().position(|&le| v <= le) {
            Some(b) => self.buckets[b] += 1,
            None => self.over += 1,
        }
        self.sum_secs = self.sum_secs.saturating_add(v);
        self.count += 1;
    }
}

/// The longest detection-to-stage time recorded (ten years); a longer one
/// is counted as `too_long`, not recorded.
pub const MAX_TIME_SECS: u64 = 10 * 366 * 86_400;

/// hdrhistogram's bounds for the times: 1 s to [`MAX_TIME_SECS`], two
/// significant digits (within 1%).
fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: cannot fail.
    Histogram::new_with_bounds(1, MAX_TIME_SECS, 2).expect("valid histogram bounds")
}

/// The value hdrhistogram keeps for `secs` (the lowest of its equivalent
/// values): what a month stores, so that a month's times take one entry
/// per distinct hdrhistogram bucket however many incidents it has, and a
/// time can be taken back out when its incident changes category.
pub fn quantize(secs: u64) -> u32 {
    static TEMPLATE: OnceLock<Histogram<u64>> = OnceLock::new();
    let h = TEMPLATE.get_or_init(new_histogram);
    // At most MAX_TIME_SECS, below u32::MAX.
    u32::try_from(h.lowest_equivalent(secs.min(MAX_TIME_SECS))).unwrap_or(u32::MAX)
}

/// Times to one stage, of one month and category: hdrhistogram's values
/// ([`quantize`]) with their counts, sparse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageTimes(BTreeMap<u32, u64>);

/// What a report reads of [`StageTimes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSummary {
    /// Times recorded (a stage reached with a time that could not be
    /// recorded counts in the stage but not here).
    pub count: u64,
    pub median_secs: u64,
    pub p90_secs: u64,
    pub max_secs: u64,
}

impl StageTimes {
    /// Adds `n` times of `q` (a [`quantize`]d value).
    pub fn add(&mut self, q: u32, n: u64) {
        let c = self.0.entry(q).or_insert(0);
        *c = c.saturating_add(n);
    }

    /// Takes one time of `q` out (its incident moved to another category);
    /// `false` if there was none.
    pub fn take(&mut self, q: u32) -> bool {
        match self.0.get_mut(&q) {
            Some(c) if *c > 1 => {
                *c -= 1;
                true
            }
            Some(_) => {
                self.0.remove(&q);
                true
            }
            None => false,
        }
    }

    pub fn merge(&mut self, other: &StageTimes) {
        for (&q, &n) in &other.0 {
            self.add(q, n);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// (value, count) pairs, in value order (what a checkpoint writes).
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.0.iter().map(|(&q, &n)| (q, n))
    }

    /// Median, 90th percentile and maximum, as hdrhistogram reads them
    /// (within 1%); `None` without times.
    pub fn summary(&self) -> Option<TimeSummary> {
        if self.0.is_empty() {
            return None;
        }
        let mut h = new_histogram();
        for (&q, &n) in &self.0 {
            // Every stored value is within the bounds (quantize clamps).
            let _ = h.record_n(u64::from(q), n);
        }
        Some(TimeSummary {
            count: h.len(),
            median_secs: h.value_at_quantile(0.5),
            p90_secs: h.value_at_quantile(0.9),
            max_secs: h.max(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path for ASCII statuses answers as the general one,
        /// whatever the case and the spaces around.
        #[test]
        fn the_ascii_path_answers_as_the_general_one(
            word in proptest::sample::select(vec!["warned", "Notified", "confirmed", "resolved", "closed", "detected", "x", "Đã xử lý", "đã XỬ LÝ"]),
            upper in proptest::collection::vec(proptest::bool::ANY, 12),
            pad in proptest::sample::select(vec!["", " ", "\t", "\u{a0}", "\u{3000}"]),
        ) {
            let w = StageWords::new(
                &["warned".into(), "notified".into(), "Confirmed".into()],
                &["resolved".into(), "CLOSED".into(), "đã xử lý".into()],
            );
            let cased: String = word
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
                .collect();
            for s in [cased.clone(), format!("{pad}{cased}"), format!("{cased}{pad}")] {
                proptest::prop_assert_eq!(w.stage(Some(&s)), w.stage_slow(&s), "{:?}", s);
            }
        }
    }

    #[test]
    fn words_map_to_stages_in_any_case() {
        let w = StageWords::new(
            &["warned".into(), "Confirmed".into(), "Đã cảnh báo".into()],
            &["resolved".into(), "closed".into()],
        );
        assert_eq!(w.stage(None), Stage::Recorded);
        assert_eq!(w.stage(Some("detected")), Stage::Recorded);
        assert_eq!(w.stage(Some(" CONFIRMED ")), Stage::Warned);
        assert_eq!(w.stage(Some("đã Cảnh Báo")), Stage::Warned);
        assert_eq!(w.stage(Some("Resolved")), Stage::Handled);
        assert_eq!(w.stage(Some("resolvedd")), Stage::Recorded);
        assert_eq!(w.stage(Some("\u{a0}resolved")), Stage::Handled);
        assert_eq!(w.stage(Some(" ")), Stage::Recorded);
        assert_eq!(w.stage(Some("")), Stage::Recorded);
        let long = "x".repeat(40);
        assert_eq!(
            StageWords::new(std::slice::from_ref(&long), &[]).stage(Some(&long.to_uppercase())),
            Stage::Warned
        );
        assert_eq!(w.conflict(), None);
        assert_eq!(
            StageWords::new(&["done".into()], &["DONE".into()]).conflict(),
            Some("done")
        );
    }

    #[test]
    fn times_are_hdrhistogram_values_and_can_be_taken_back() {
        let mut t = StageTimes::default();
        for s in [60u64, 120, 3600, 21_600, 86_400] {
            t.add(quantize(s), 1);
        }
        let s = t.summary().unwrap();
        assert_eq!(s.count, 5);
        // Within 1% of the exact median (3600) and maximum.
        assert!((s.median_secs as f64 - 3600.0).abs() <= 36.0, "{s:?}");
        assert!((s.max_secs as f64 - 86_400.0).abs() <= 864.0, "{s:?}");
        assert!(t.take(quantize(3600)));
        assert!(!t.take(quantize(3600)));
        assert_eq!(t.count(), 4);
        // Small times are exact.
        assert_eq!(quantize(59), 59);
        assert!(quantize(u64::MAX) as u64 <= MAX_TIME_SECS);
    }
}
