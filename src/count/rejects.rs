//! Rejected messages in the log: at most one line per reason per interval.

use std::time::{Duration, Instant};

use crate::event::Reject;
use crate::state::PartitionKey;

/// Logs rejected messages at most once per interval per reason, with the
/// number suppressed in between: never a log line per event.
#[derive(Debug)]
pub(super) struct RejectLog {
    last: [Option<Instant>; Reject::ALL.len()],
    suppressed: [u64; Reject::ALL.len()],
    every: Duration,
}

impl RejectLog {
    pub(super) fn new(every: Duration) -> RejectLog {
        RejectLog {
            last: [None; Reject::ALL.len()],
            suppressed: [0; Reject::ALL.len()],
            every,
        }
    }

    pub(super) fn record(&mut self, reason: Reject, key: &PartitionKey, offset: u64) {
        let i = reason.index();
        let now = Instant::now();
        if self.last[i].is_some_and(|t| now.duration_since(t) < self.every) {
            self.suppressed[i] += 1;
            return;
        }
        tracing::warn!(
            reason = reason.code(),
            source = %key.source,
            partition = key.partition,
            offset,
            suppressed = self.suppressed[i],
            "rejected message: {}",
            reason.explain()
        );
        self.last[i] = Some(now);
        self.suppressed[i] = 0;
    }
}
