//! Why a message was rejected: a small, fixed set of reasons.
//!
//! Reasons are metric label values (`incident_monitor_invalid_events_total`),
//! so the set is closed and each has a stable snake_case code.

use std::fmt;

/// Why an incoming message is not an incident. Cheap to create and copy: it is
/// produced on the hot path for every bad message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// Longer than the configured `max_event_bytes`.
    TooLarge,
    /// Empty message (a Kafka tombstone or an empty value).
    Empty,
    /// Not valid UTF-8.
    NotUtf8,
    /// Not a JSON document (syntax error, trailing garbage).
    NotJson,
    /// Valid JSON, but not an object.
    NotObject,
    /// One of `id`, `time`, `type` is absent (or `null`).
    MissingField,
    /// `id` is not a non-empty string of at most 256 bytes.
    BadId,
    /// `time` is not an RFC 3339 timestamp with an offset.
    BadTime,
    /// `type` is not a non-empty string.
    BadType,
    /// `time` is more than `events.max_future_secs` after the wall clock
    /// when the message arrived (a sensor with a wrong clock).
    FutureTime,
    /// `time` is before `events.earliest_time` (default 1990-01-01 in the
    /// configured timezone): a sensor with a reset clock, an epoch default.
    TooOld,
}

impl Reject {
    /// Every reason, in a fixed order (used to pre-create metric labels and to
    /// index per-reason counters).
    pub const ALL: [Reject; 11] = [
        Reject::TooLarge,
        Reject::Empty,
        Reject::NotUtf8,
        Reject::NotJson,
        Reject::NotObject,
        Reject::MissingField,
        Reject::BadId,
        Reject::BadTime,
        Reject::BadType,
        Reject::FutureTime,
        Reject::TooOld,
    ];

    /// The stable code used as a metric label and in logs and headers.
    pub const fn code(self) -> &'static str {
        match self {
            Reject::TooLarge => "too_large",
            Reject::Empty => "empty",
            Reject::NotUtf8 => "not_utf8",
            Reject::NotJson => "not_json",
            Reject::NotObject => "not_object",
            Reject::MissingField => "missing_field",
            Reject::BadId => "bad_id",
            Reject::BadTime => "bad_time",
            Reject::BadType => "bad_type",
            Reject::FutureTime => "future_time",
            Reject::TooOld => "too_old",
        }
    }

    /// Position in [`Reject::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason with this code, if any (used when reading checkpoints).
    pub fn from_code(code: &str) -> Option<Reject> {
        Reject::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A short human explanation for log lines.
    pub const fn explain(self) -> &'static str {
        match self {
            Reject::TooLarge => "message exceeds max_event_bytes",
            Reject::Empty => "message is empty",
            Reject::NotUtf8 => "message is not valid UTF-8",
            Reject::NotJson => "message is not valid JSON",
            Reject::NotObject => "message is JSON but not an object",
            Reject::MissingField => "a required field (id, time, type) is missing",
            Reject::BadId => "id must be a non-empty string of at most 256 bytes",
            Reject::BadTime => {
                "time must be RFC 3339 with an offset, e.g. 2022-06-14T09:21:07+07:00"
            }
            Reject::BadType => "type must be a non-empty string",
            Reject::FutureTime => {
                "time is further in the future than events.max_future_secs allows (check the sensor's clock)"
            }
            Reject::TooOld => {
                "time is before events.earliest_time (check the sensor's clock, or lower the setting for an archive)"
            }
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for Reject {}
