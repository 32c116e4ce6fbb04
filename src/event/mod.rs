//! The incident event (spec §2): the native model and its parser.
//!
//! Owns everything about turning message bytes into an [`Event`]: the model,
//! the strict RFC 3339 time parser, the fixed set of rejection reasons and the
//! lenient-where-allowed JSON reader. Everything downstream sees only
//! [`Event`]: the reader was replaced twice (serde_json, then sonic-rs, then
//! the schema-specific pass of `parse.rs`) without touching them.
//!
//! The model holds what the monitor reads: `id`, `time`, `type`, `severity`,
//! `status`, `updated`, `target.sector` and `target.province`, `signature`,
//! `mitre` and `tags`. The other fields of spec §2 (`target.ip`/`domain`/
//! `organization`, `source`, `sensor`) are validated as JSON and skipped
//! like unknown fields: nothing reads them, and building them cost 13% of
//! the parse time (measured with `benches/pipeline.rs`). Whatever is
//! skipped, a wrong type in it never drops the incident.

mod filter;
mod parse;
mod reject;
pub mod time;

use std::borrow::Cow;

pub use filter::Filter;
#[cfg(feature = "reference-model")]
pub use parse::parse_with_serde_json;
pub use parse::{Fields, MAX_ID_BYTES, parse, parse_fields};
pub use reject::Reject;
pub use time::EpochMillis;

/// Severity levels. Strings map case-insensitively; integers 1-10 map to
/// bands (1-3 low, 4-6 medium, 7-8 high, 9-10 critical); anything else or
/// absent is `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
    Unknown,
}

impl Severity {
    /// Every level, in index order.
    pub const ALL: [Severity; 5] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
        Severity::Unknown,
    ];
    /// Number of levels.
    pub const COUNT: usize = 5;

    /// Label value and report name.
    pub const fn code(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
            Severity::Unknown => "unknown",
        }
    }

    /// Position in [`Severity::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Reads a level name, any case.
    pub fn from_name(s: &str) -> Severity {
        if s.eq_ignore_ascii_case("low") {
            Severity::Low
        } else if s.eq_ignore_ascii_case("medium") {
            Severity::Medium
        } else if s.eq_ignore_ascii_case("high") {
            Severity::High
        } else if s.eq_ignore_ascii_case("critical") {
            Severity::Critical
        } else {
            Severity::Unknown
        }
    }

    /// Reads a 1-10 score.
    pub fn from_score(n: i64) -> Severity {
        match n {
            1..=3 => Severity::Low,
            4..=6 => Severity::Medium,
            7..=8 => Severity::High,
            9..=10 => Severity::Critical,
            _ => Severity::Unknown,
        }
    }
}

/// `target` of an incident, as far as the monitor uses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target<'a> {
    pub sector: Option<Cow<'a, str>>,
    /// `target.province` as the reporter wrote it (matched to the
    /// configured provinces by [`crate::classify::Provinces`]).
    pub province: Option<Cow<'a, str>>,
}

/// One incident report, borrowed from the message bytes where the JSON has
/// no escapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// Incident id: messages with the same id are the same incident.
    pub id: Cow<'a, str>,
    /// Event time (detection time), epoch milliseconds UTC.
    pub time_ms: EpochMillis,
    /// Attack type as reported (`type`).
    pub kind: Cow<'a, str>,
    pub severity: Severity,
    pub target: Target<'a>,
    pub signature: Option<Cow<'a, str>>,
    pub mitre: Option<Cow<'a, str>>,
    pub tags: Vec<Cow<'a, str>>,
    /// `status`: the incident's stage as the reporter words it.
    pub status: Option<Cow<'a, str>>,
    /// `updated`: when this message's status was reached (epoch ms);
    /// `None` when absent or not a valid RFC 3339 time (then: when the
    /// message arrives).
    pub updated_ms: Option<EpochMillis>,
}

impl Event<'_> {
    /// The same event, owning its text (one read from a copy of the
    /// message, such as a repaired one).
    pub fn into_owned(self) -> Event<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Event {
            id: own(self.id),
            time_ms: self.time_ms,
            kind: own(self.kind),
            severity: self.severity,
            target: Target {
                sector: self.target.sector.map(own),
                province: self.target.province.map(own),
            },
            signature: self.signature.map(own),
            mitre: self.mitre.map(own),
            tags: self.tags.into_iter().map(own).collect(),
            status: self.status.map(own),
            updated_ms: self.updated_ms,
        }
    }
}
