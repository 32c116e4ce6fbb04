//! Why a well-formed message of a tool's format is not an incident: the
//! format's own filter (spec §2, "Other formats"). Filtered messages are
//! counted by reason, never rejected: they are not errors, and they go to
//! no dead-letter topic.

/// Why a message was filtered. Codes are metric label values
/// (`incident_monitor_filtered_events_total`), so the set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Filter {
    /// Not an alert: a Suricata EVE record whose `event_type` is not
    /// `alert` (flow, dns, stats...), an ECS document whose `event.kind` is
    /// not `alert` or `signal`.
    NotAlert,
    /// A Wazuh alert whose `rule.level` is below `events.wazuh_min_level`.
    BelowLevel,
    /// An OCSF event whose class is not a finding class.
    NotFinding,
    /// An OCSF finding whose `status_code` is not `FAIL` (a check that
    /// passed, or one left to manual review).
    NotFailed,
}

impl Filter {
    /// Every reason, in a fixed order (metric labels, per-reason counters).
    pub const ALL: [Filter; 4] = [
        Filter::NotAlert,
        Filter::BelowLevel,
        Filter::NotFinding,
        Filter::NotFailed,
    ];

    /// The stable code used as a metric label and in checkpoints.
    pub const fn code(self) -> &'static str {
        match self {
            Filter::NotAlert => "not_alert",
            Filter::BelowLevel => "below_level",
            Filter::NotFinding => "not_finding",
            Filter::NotFailed => "not_failed",
        }
    }

    /// Position in [`Filter::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason with this code, if any (reading checkpoints).
    pub fn from_code(code: &str) -> Option<Filter> {
        Filter::ALL.into_iter().find(|f| f.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_read_back() {
        for (i, f) in Filter::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
            assert_eq!(Filter::from_code(f.code()), Some(*f));
        }
        assert_eq!(Filter::from_code("nope"), None);
    }
}
