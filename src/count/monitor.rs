//! The aggregate: the engine, the partition states it owns, the rule that
//! makes replays exact (a message below a partition's checkpointed
//! position was counted already), and checkpoints. Synchronous and shared
//! by every source; the loops in `app` drive it.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::batch::Batch;
use super::engine::{Engine, Outcome, Prepared};
use super::rejects::RejectLog;
use super::view::{Applied, MonitorView};
use crate::event::{EpochMillis, Reject};
use crate::state::{
    Checkpoint, MonitorMeta, Outcomes, PartitionKey, PartitionState, RestoreError, Source,
    StateBackend, StoreError,
};

/// How many messages ahead a run commit prefetches dedup slots: enough to
/// cover a miss to memory (about 100 ns) with the commit work of the
/// messages before it, few enough that the lines are still in cache.
const PREFETCH_AHEAD: usize = 8;

/// How often the overdue incidents are counted again.
const OVERDUE_EVERY_MS: i64 = 60_000;
/// How far back an unhandled incident is overdue (older ones are history:
/// a backfill's, not the day's work).
const OVERDUE_SPAN_MS: i64 = 30 * 86_400_000;

/// Why the monitor cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// Engine, partition states and their checkpoints.
#[derive(Debug)]
pub struct Monitor {
    engine: Engine,
    store: Arc<dyn StateBackend>,
    partitions: BTreeMap<PartitionKey, PartitionState>,
    dirty: BTreeSet<PartitionKey>,
    /// Partitions whose state held now is the one last written to the
    /// store, and that write is complete (see [`Monitor::written`]): a
    /// release has nothing to add and does not write them again.
    durable: BTreeSet<PartitionKey>,
    rejects: RejectLog,
    /// Last counters of partitions handed to another owner, for run summaries.
    released: BTreeMap<PartitionKey, Outcomes>,
    /// Dedup evictions of partitions no longer held (the counter never
    /// goes down when a partition is released).
    released_evicted: u64,
    /// The same for incidents the lifecycle forgot.
    released_forgotten: u64,
    /// The overdue incidents as last counted, and when (a count walks
    /// every remembered incident: once a minute at most).
    overdue: Option<(EpochMillis, (u64, u64))>,
    /// What this process applied since it started (the metrics' counters).
    applied: Applied,
    /// The same per source (an input: `kafka.<topic>`, or a file's).
    applied_by_source: BTreeMap<Source, Outcomes>,
}

impl Monitor {
    /// Opens a monitor over a state backend and records what readers of
    /// the state need to know. Exclusive use is the caller's concern: a
    /// file run locks its directory; Kafka replicas may share one, each
    /// writing only the partitions the group gave it.
    pub fn open(engine: Engine, store: Arc<dyn StateBackend>) -> Result<Monitor, MonitorError> {
        let s = engine.settings();
        let applied = Applied::new(
            s.categories().len(),
            s.config.windows.windows.len(),
            s.sectors.len(),
        );
        let cfg = &s.config;
        store.open(&MonitorMeta {
            timezone: cfg.timezone.clone(),
            report: cfg.report.clone(),
            labels: cfg.report.labels.clone(),
        })?;
        Ok(Monitor {
            engine,
            store,
            partitions: BTreeMap::new(),
            dirty: BTreeSet::new(),
            durable: BTreeSet::new(),
            rejects: RejectLog::new(Duration::from_secs(10)),
            released: BTreeMap::new(),
            released_evicted: 0,
            released_forgotten: 0,
            overdue: None,
            applied,
            applied_by_source: BTreeMap::new(),
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
        held_or_restored(
            &mut self.partitions,
            &*self.store,
            &self.engine,
            key,
            wall_ms,
        )
    }

    /// Counts a batch: prepares what is not prepared yet, then commits it
    /// run by run of one partition (one state lookup per run). Every
    /// source comes through here, so one rule holds for all: a message
    /// below its partition's checkpointed position was counted before (a
    /// restart replays from the group offset or the file position, which
    /// may lag the checkpoint) and is skipped. `on_invalid` gets the batch
    /// index and reason of each rejected message that was not skipped.
    pub fn apply(
        &mut self,
        batch: &mut Batch,
        wall_ms: EpochMillis,
        mut on_invalid: impl FnMut(usize, Reject),
    ) -> Result<(), MonitorError> {
        batch.prepare(&mut self.engine);
        let items = batch.items();
        let mut start = 0;
        while start < items.len() {
            let partition = items[start].partition;
            let end = items[start..]
                .iter()
                .position(|it| it.partition != partition)
                .map_or(items.len(), |n| start + n);
            let key = PartitionKey {
                source: batch.source().clone(),
                partition,
            };
            let offsets = items[start..end].iter().map(|it| (it.offset, it.next));
            self.commit_run(
                &key,
                &batch.prepared()[start..end],
                offsets,
                wall_ms,
                |i, r| on_invalid(start + i, r),
            )?;
            start = end;
        }
        self.applied.blank_lines += batch.blank_lines();
        if let Some((next, hash)) = batch.file_end() {
            self.file_end(batch.source(), next, hash, wall_ms)?;
        }
        Ok(())
    }

    /// A file's batch is applied up to `next` (its blank lines and an
    /// unread last line are not messages): the position moves there, and
    /// records the hash of the file's bytes before it.
    fn file_end(
        &mut self,
        source: &Source,
        next: u64,
        hash: u64,
        wall_ms: EpochMillis,
    ) -> Result<(), MonitorError> {
        let key = PartitionKey {
            source: source.clone(),
            partition: 0,
        };
        let st = held_or_restored(
            &mut self.partitions,
            &*self.store,
            &self.engine,
            &key,
            wall_ms,
        )?;
        if next >= st.position.next_offset {
            st.position.next_offset = next;
            st.position.identity = Some(crate::state::FileIdentity::Prefix(hash));
            self.changed(&key);
        }
        Ok(())
    }

    /// Commits a run of prepared messages of one partition, with their
    /// `(offset, next)` positions, in offset order, each message's dedup
    /// slot prefetched a few messages early (`PREFETCH_AHEAD`).
    fn commit_run(
        &mut self,
        key: &PartitionKey,
        prepared: &[Prepared],
        offsets: impl Iterator<Item = (u64, u64)>,
        wall_ms: EpochMillis,
        mut on_invalid: impl FnMut(usize, Reject),
    ) -> Result<(), MonitorError> {
        let st = held_or_restored(
            &mut self.partitions,
            &*self.store,
            &self.engine,
            key,
            wall_ms,
        )?;
        let mut applied = false;
        if !self.applied_by_source.contains_key(&key.source) {
            self.applied_by_source
                .insert(key.source.clone(), Outcomes::default());
        }
        let mut by_source = self.applied_by_source.get_mut(&key.source);
        for p in prepared.iter().take(PREFETCH_AHEAD) {
            Engine::prefetch(st, p);
        }
        for (i, (p, (offset, next))) in prepared.iter().zip(offsets).enumerate() {
            if let Some(ahead) = prepared.get(i + PREFETCH_AHEAD) {
                Engine::prefetch(st, ahead);
            }
            if offset < st.position.next_offset {
                continue;
            }
            let outcome = self.engine.commit(st, p, wall_ms);
            self.applied.record(&outcome);
            if let Some(o) = by_source.as_deref_mut() {
                outcome.tally(o);
            }
            if let Outcome::Invalid(r) = outcome {
                self.rejects.record(r, key, offset);
                on_invalid(i, r);
            }
            st.position.next_offset = next;
            st.position.records += 1;
            applied = true;
        }
        if applied {
            self.changed(key);
        }
        Ok(())
    }

    /// A partition's state changed since its last checkpoint: it is to be
    /// written, and what the store holds of it is no longer its state.
    fn changed(&mut self, key: &PartitionKey) {
        if !self.dirty.contains(key) {
            self.durable.remove(key);
            self.dirty.insert(key.clone());
        }
    }

    /// Checkpoints the given partitions and forgets them (they were revoked:
    /// another instance takes over from the checkpoint). Returns their
    /// checkpointed next offsets. Written even when unchanged since the
    /// last checkpoint, unless that one is known to be complete (a
    /// drain's last checkpoint, just before the consumer leaves the
    /// group: issue 32): one in flight may still be on its way to disk.
    pub fn release(
        &mut self,
        keys: &[PartitionKey],
        wall_ms: EpochMillis,
    ) -> Result<Vec<(PartitionKey, u64)>, MonitorError> {
        let tz = self.engine.settings().config.timezone.clone();
        let mut out = Vec::new();
        for key in keys {
            if let Some(st) = self.partitions.remove(key) {
                let unchanged = !self.dirty.remove(key) && self.durable.remove(key);
                if !unchanged {
                    self.store
                        .write(&self.store.checkpoint(&st, &tz, wall_ms))?;
                }
                self.released.insert(key.clone(), st.outcomes.clone());
                self.released_evicted += st.dedup.evicted();
                self.released_forgotten += st.lifecycle.forgotten();
                out.push((key.clone(), st.position.next_offset));
            }
        }
        Ok(out)
    }

    /// Forgets partitions lost without a hand-over (the group gave them to
    /// another member while this one could not answer): nothing is written
    /// for them any more, not even a checkpoint taken before. Their next
    /// owner went on from the last checkpoint written.
    pub fn drop_lost(&mut self, keys: &[PartitionKey]) {
        for key in keys {
            self.store.disown(key);
            if let Some(st) = self.partitions.remove(key) {
                self.dirty.remove(key);
                self.durable.remove(key);
                self.released_evicted += st.dedup.evicted();
                self.released_forgotten += st.lifecycle.forgotten();
            }
        }
    }

    /// Whether the monitor holds this partition now.
    pub fn holds(&self, key: &PartitionKey) -> bool {
        self.partitions.contains_key(key)
    }

    /// Next offsets of the partitions held, as last checkpointed (callers
    /// that write checkpoints in the background wait for that write
    /// first).
    pub fn checkpointed_positions(&self) -> Vec<(PartitionKey, u64)> {
        self.partitions
            .iter()
            .filter(|(k, _)| !self.dirty.contains(*k))
            .map(|(k, st)| (k.clone(), st.position.next_offset))
            .collect()
    }

    /// Plain numbers for the metrics, summed over the partitions held.
    pub fn view(&mut self, wall_ms: EpochMillis) -> MonitorView {
        let evicted = self.released_evicted
            + self
                .partitions
                .values()
                .map(|st| st.dedup.evicted())
                .sum::<u64>();
        let mut v = super::view::compute(
            &mut self.engine,
            self.partitions.values(),
            &self.applied,
            evicted,
            wall_ms,
        );
        v.lifecycle_forgotten = self.released_forgotten
            + self
                .partitions
                .values()
                .map(|st| st.lifecycle.forgotten())
                .sum::<u64>();
        v.lifecycle_overdue = match self.overdue {
            Some((at, counted)) if (0..OVERDUE_EVERY_MS).contains(&(wall_ms - at)) => counted,
            _ => {
                let lc = &self.engine.settings().config.lifecycle;
                let to = wall_ms - i64::from(lc.overdue_hours) * 3_600_000;
                let from = wall_ms - OVERDUE_SPAN_MS;
                let counted = self.partitions.values().fold((0, 0), |(o, a), st| {
                    let (open, all) = st.lifecycle.overdue(from, to);
                    (o + open, a + all)
                });
                self.overdue = Some((wall_ms, counted));
                counted
            }
        };
        v.by_source = self
            .applied_by_source
            .iter()
            .map(|(s, o)| (s.clone(), o.clone()))
            .collect();
        v
    }

    /// The partitions changed since the last checkpoint, which now count as
    /// checkpointed: the caller checkpoints each with
    /// [`Monitor::checkpoint_of`] (the run loop does so on another
    /// thread, taking the monitor lock for one partition's encoding at a
    /// time).
    pub fn take_dirty(&mut self) -> Vec<PartitionKey> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    /// Encodes one partition's state for [`StateBackend::write`]; `None` if
    /// the partition is no longer held (its release wrote it).
    pub fn checkpoint_of(&self, key: &PartitionKey, wall_ms: EpochMillis) -> Option<Checkpoint> {
        let tz = &self.engine.settings().config.timezone;
        let st = self.partitions.get(key)?;
        Some(self.store.checkpoint(st, tz, wall_ms))
    }

    /// Writes a checkpoint of every partition changed since the last one,
    /// now.
    pub fn checkpoint(&mut self, wall_ms: EpochMillis) -> Result<usize, MonitorError> {
        let keys = self.take_dirty();
        for key in &keys {
            if let Some(cp) = self.checkpoint_of(key, wall_ms) {
                self.store.write(&cp)?;
            }
        }
        self.written(&keys);
        Ok(keys.len())
    }

    /// The checkpoints of `keys` taken after [`Monitor::take_dirty`] are
    /// written: those unchanged since are durable as held. (Written
    /// checkpoints are encoded after `take_dirty`, under this lock; a
    /// partition still clean was not changed after its encoding. A write a
    /// backend skipped for a later one of the partition is covered too:
    /// only a release writes concurrently, and a partition held again
    /// after its release holds what that release wrote.)
    pub fn written(&mut self, keys: &[PartitionKey]) {
        for key in keys {
            if self.partitions.contains_key(key) && !self.dirty.contains(key) {
                self.durable.insert(key.clone());
            }
        }
    }

    /// Blank lines of files and stdin this process skipped.
    pub fn blank_lines(&self) -> u64 {
        self.applied.blank_lines
    }

    /// Outcome counters summed over partitions.
    pub fn outcomes(&self) -> Outcomes {
        let mut total = Outcomes::default();
        for st in self.partitions.values() {
            total.add(&st.outcomes);
        }
        total
    }

    /// The backend checkpoints are written to.
    pub fn store(&self) -> &Arc<dyn StateBackend> {
        &self.store
    }

    /// The ledgers of every partition held, merged.
    pub fn merged_ledger(&self) -> crate::calendar::Ledger {
        let s = self.engine.settings();
        let mut l = crate::calendar::Ledger::new(
            s.categories().into(),
            s.sectors.clone(),
            s.provinces.names().clone(),
        );
        for st in self.partitions.values() {
            l.merge(&st.ledger);
        }
        l
    }

    /// Counters of the partitions held and of those released during this
    /// run (what a run summary reports).
    pub fn outcomes_seen(&self) -> Outcomes {
        let mut o = self.outcomes();
        for (k, r) in &self.released {
            if !self.partitions.contains_key(k) {
                o.add(r);
            }
        }
        o
    }

    pub fn partitions(&self) -> impl Iterator<Item = &PartitionState> {
        self.partitions.values()
    }
}

/// A partition's state: held, or restored from its checkpoint on first
/// use, or new.
fn held_or_restored<'a>(
    partitions: &'a mut BTreeMap<PartitionKey, PartitionState>,
    store: &dyn StateBackend,
    engine: &Engine,
    key: &PartitionKey,
    wall_ms: EpochMillis,
) -> Result<&'a mut PartitionState, MonitorError> {
    let slot = match partitions.entry(key.clone()) {
        Entry::Occupied(e) => return Ok(e.into_mut()),
        Entry::Vacant(v) => v,
    };
    let st = match store.claim(key)? {
        Some(snap) => {
            let st = PartitionState::restore(snap, engine.settings(), wall_ms)?;
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
        None => engine.new_partition(key.clone()),
    };
    Ok(slot.insert(st))
}
