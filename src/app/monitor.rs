//! The monitor's mutable core, shared by every source: the engine, the
//! partition states it owns, and checkpointing. Synchronous; the async loop
//! in `run` drives it.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::event::{EpochMillis, Reject};
use crate::pipeline::{Engine, Outcome};
use crate::state::{
    MonitorMeta, Outcomes, PartitionKey, PartitionState, RestoreError, StateStore, StoreError,
};

/// Why the monitor cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// Logs rejected messages at most once per interval per reason, with the
/// number suppressed in between: never a log line per event.
#[derive(Debug)]
struct RejectLog {
    last: [Option<Instant>; Reject::ALL.len()],
    suppressed: [u64; Reject::ALL.len()],
    every: Duration,
}

impl RejectLog {
    fn new(every: Duration) -> RejectLog {
        RejectLog {
            last: [None; Reject::ALL.len()],
            suppressed: [0; Reject::ALL.len()],
            every,
        }
    }

    fn record(&mut self, reason: Reject, key: &PartitionKey, offset: u64) {
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

/// Engine, partition states and their checkpoints.
#[derive(Debug)]
pub struct Monitor {
    engine: Engine,
    store: StateStore,
    partitions: BTreeMap<PartitionKey, PartitionState>,
    dirty: BTreeSet<PartitionKey>,
    rejects: RejectLog,
}

impl Monitor {
    /// Opens a monitor over a state directory (which the caller has locked)
    /// and records what readers of the directory need to know.
    pub fn open(engine: Engine, store: StateStore) -> Result<Monitor, MonitorError> {
        let cfg = &engine.settings().config;
        store.save_meta(&MonitorMeta {
            timezone: cfg.timezone.clone(),
            report: cfg.report.clone(),
        })?;
        Ok(Monitor {
            engine,
            store,
            partitions: BTreeMap::new(),
            dirty: BTreeSet::new(),
            rejects: RejectLog::new(Duration::from_secs(10)),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The state of a partition, restored from its checkpoint on first use.
    pub fn partition(
        &mut self,
        key: &PartitionKey,
        wall_ms: EpochMillis,
    ) -> Result<&mut PartitionState, MonitorError> {
        let slot = match self.partitions.entry(key.clone()) {
            Entry::Occupied(e) => return Ok(e.into_mut()),
            Entry::Vacant(v) => v,
        };
        let st = match self.store.load(key)? {
            Some(snap) => {
                let st = PartitionState::restore(snap, self.engine.settings(), wall_ms)?;
                tracing::info!(
                    source = %key.source,
                    partition = key.partition,
                    next_offset = st.position.next_offset,
                    records = st.position.records,
                    incidents = st.outcomes.accepted,
                    "restored partition state from checkpoint"
                );
                st
            }
            None => self.engine.new_partition(key.clone()),
        };
        Ok(slot.insert(st))
    }

    /// Applies a run of messages from one partition, then moves its position
    /// to `next_offset` (the offset after the last message).
    pub fn apply_batch<'a>(
        &mut self,
        key: &PartitionKey,
        messages: impl Iterator<Item = &'a [u8]>,
        next_offset: u64,
        wall_ms: EpochMillis,
    ) -> Result<(), MonitorError> {
        self.partition(key, wall_ms)?;
        let Some(st) = self.partitions.get_mut(key) else {
            return Ok(());
        };
        let mut offset_hint = st.position.next_offset;
        for m in messages {
            if let Outcome::Invalid(r) = self.engine.apply(st, m, wall_ms) {
                self.rejects.record(r, key, offset_hint);
            }
            st.position.records += 1;
            offset_hint += m.len() as u64 + 1;
        }
        st.position.next_offset = next_offset;
        self.dirty.insert(key.clone());
        Ok(())
    }

    /// Writes a checkpoint of every partition changed since the last one.
    pub fn checkpoint(&mut self, wall_ms: EpochMillis) -> Result<usize, MonitorError> {
        let tz = self.engine.settings().config.timezone.clone();
        let mut n = 0;
        for key in std::mem::take(&mut self.dirty) {
            if let Some(st) = self.partitions.get(&key) {
                self.store.save(st, &tz, wall_ms)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Outcome counters summed over partitions.
    pub fn outcomes(&self) -> Outcomes {
        let mut total = Outcomes::default();
        for st in self.partitions.values() {
            total.add(&st.outcomes);
        }
        total
    }

    pub fn partitions(&self) -> impl Iterator<Item = &PartitionState> {
        self.partitions.values()
    }
}
