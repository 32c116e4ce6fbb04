//! The monitor's mutable core, shared by every source: the engine, the
//! partition states it owns, and checkpointing. Synchronous; the async loop
//! in `run` drives it.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::calendar::change::{MonthToDate, ratio};
use crate::event::{EpochMillis, Reject, Severity};
use crate::metrics::{MonitorView, MonthView};
use crate::pipeline::{Engine, Outcome, Prepared};
use crate::state::{
    Checkpoint, MonitorMeta, Outcomes, PartitionKey, PartitionState, RestoreError, StateStore,
    StoreError,
};

/// How many messages ahead a run commit prefetches dedup slots: enough to
/// cover a miss to memory (about 100 ns) with the commit work of the
/// messages before it, few enough that the lines are still in cache.
const PREFETCH_AHEAD: usize = 8;

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
    /// Last counters of partitions handed to another owner, for run summaries.
    released: BTreeMap<PartitionKey, Outcomes>,
    /// Dedup evictions of partitions no longer held (the counter never
    /// goes down when a partition is released).
    released_evicted: u64,
}

impl Monitor {
    /// Opens a monitor over a state directory (which the caller has locked)
    /// and records what readers of the directory need to know.
    pub fn open(engine: Engine, store: StateStore) -> Result<Monitor, MonitorError> {
        let cfg = &engine.settings().config;
        store.create_dir()?;
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
            released: BTreeMap::new(),
            released_evicted: 0,
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

    /// Commits a run of prepared messages of one partition, with their
    /// offsets, in offset order, with one partition lookup for the whole
    /// run, and each message's dedup slot prefetched a few messages early
    /// (`PREFETCH_AHEAD`). Messages below the partition's checkpointed
    /// position were counted before a restart (the group offset may lag
    /// the checkpoint): they are skipped, which is what makes a replay
    /// after a crash exact.
    /// `on_invalid` gets the run index and reason of each rejected message
    /// that was not skipped.
    pub fn commit_run(
        &mut self,
        key: &PartitionKey,
        prepared: &[Prepared],
        offsets: impl Iterator<Item = u64>,
        wall_ms: EpochMillis,
        mut on_invalid: impl FnMut(usize, Reject),
    ) -> Result<(), MonitorError> {
        if !self.partitions.contains_key(key) {
            self.partition(key, wall_ms)?;
        }
        let Some(st) = self.partitions.get_mut(key) else {
            return Ok(());
        };
        let mut applied = false;
        for p in prepared.iter().take(PREFETCH_AHEAD) {
            Engine::prefetch(st, p);
        }
        for (i, (p, offset)) in prepared.iter().zip(offsets).enumerate() {
            if let Some(ahead) = prepared.get(i + PREFETCH_AHEAD) {
                Engine::prefetch(st, ahead);
            }
            if offset < st.position.next_offset {
                continue;
            }
            if let Outcome::Invalid(r) = self.engine.commit(st, p, wall_ms) {
                self.rejects.record(r, key, offset);
                on_invalid(i, r);
            }
            st.position.next_offset = offset + 1;
            st.position.records += 1;
            applied = true;
        }
        if applied && !self.dirty.contains(key) {
            self.dirty.insert(key.clone());
        }
        Ok(())
    }

    /// Checkpoints the given partitions and forgets them (they were revoked:
    /// another instance takes over from the checkpoint). Returns their
    /// checkpointed next offsets. Written even when unchanged since the
    /// last checkpoint: that one may still be on its way to disk.
    pub fn release(
        &mut self,
        keys: &[PartitionKey],
        wall_ms: EpochMillis,
    ) -> Result<Vec<(PartitionKey, u64)>, MonitorError> {
        let tz = self.engine.settings().config.timezone.clone();
        let mut out = Vec::new();
        for key in keys {
            if let Some(st) = self.partitions.remove(key) {
                self.dirty.remove(key);
                self.store.save(&st, &tz, wall_ms)?;
                self.released.insert(key.clone(), st.outcomes.clone());
                self.released_evicted += st.dedup.evicted();
                out.push((key.clone(), st.position.next_offset));
            }
        }
        Ok(out)
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
        let nc = self.engine.settings().categories().len();
        let nw = self.engine.settings().config.windows.windows.len();
        let o = self.outcomes();
        let mut v = MonitorView {
            accepted: o.accepted,
            duplicate: o.duplicate,
            late: o.late,
            invalid: o.invalid,
            window_late: if o.window_late.is_empty() {
                vec![0; nw]
            } else {
                o.window_late
            },
            incidents: vec![0; nc * Severity::COUNT],
            sectors: vec![0; self.engine.settings().sectors.len()],
            windows: vec![vec![0; nc]; nw],
            month: None,
            assigned_partitions: self.partitions.len(),
            dedup_evicted: self.released_evicted
                + self
                    .partitions
                    .values()
                    .map(|st| st.dedup.evicted())
                    .sum::<u64>(),
        };
        let mut clock: Option<EpochMillis> = None;
        for st in self.partitions.values() {
            for (_, m) in st.ledger.months() {
                for (a, b) in v.incidents.iter_mut().zip(&m.by_category_severity) {
                    *a += b;
                }
                for (a, b) in v.sectors.iter_mut().zip(&m.by_sector) {
                    *a += b;
                }
            }
            for (w, out) in v.windows.iter_mut().enumerate() {
                st.windows.counts_into(w, wall_ms, out);
            }
            if let Some(c) = st.windows.clock_ms(wall_ms) {
                clock = Some(clock.map_or(c, |x: EpochMillis| x.max(c)));
            }
        }
        let Some(clock) = clock else {
            return v;
        };
        let Some(slot) = self.engine.months().locate(clock) else {
            return v;
        };
        let (cur, prev, prev2) = (slot.month, slot.month.plus(-1), slot.month.plus(-2));
        let mut mv = MonthView {
            current_month: cur.to_string(),
            current: vec![0; nc],
            previous: vec![0; nc],
            ..MonthView::default()
        };
        let mut prev2_totals = vec![0u64; nc];
        let mut mtd_cur = vec![0u64; nc];
        let mut mtd_prev = vec![0u64; nc];
        for st in self.partitions.values() {
            let totals = mv
                .current
                .iter_mut()
                .zip(mv.previous.iter_mut())
                .zip(prev2_totals.iter_mut());
            for (c, ((now, before), before2)) in totals.enumerate() {
                *now += st.ledger.category_total(cur, c);
                *before += st.ledger.category_total(prev, c);
                *before2 += st.ledger.category_total(prev2, c);
            }
            let mtd = MonthToDate::compute(&st.ledger, &slot, clock);
            for (a, b) in mtd_cur.iter_mut().zip(&mtd.current) {
                *a += b;
            }
            for (a, b) in mtd_prev.iter_mut().zip(&mtd.previous_same_span) {
                *a += b;
            }
        }
        let sum = |x: &[u64]| x.iter().sum::<u64>();
        mv.closed_change = (0..nc)
            .map(|c| ratio(mv.previous[c], prev2_totals[c]))
            .chain([ratio(sum(&mv.previous), sum(&prev2_totals))])
            .collect();
        mv.mtd_change = (0..nc)
            .map(|c| ratio(mtd_cur[c], mtd_prev[c]))
            .chain([ratio(sum(&mtd_cur), sum(&mtd_prev))])
            .collect();
        mv.previous_2 = prev2_totals;
        mv.mtd_current = mtd_cur;
        mv.mtd_previous = mtd_prev;
        v.month = Some(mv);
        v
    }

    /// The partitions changed since the last checkpoint, which now count as
    /// checkpointed: the caller checkpoints each with
    /// [`Monitor::checkpoint_of`] (the Kafka loop does so on another
    /// thread, taking the monitor lock for one partition's encoding at a
    /// time).
    pub fn take_dirty(&mut self) -> Vec<PartitionKey> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    /// Encodes one partition's state for [`StateStore::write`]; `None` if
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
        Ok(keys.len())
    }

    /// Outcome counters summed over partitions.
    pub fn outcomes(&self) -> Outcomes {
        let mut total = Outcomes::default();
        for st in self.partitions.values() {
            total.add(&st.outcomes);
        }
        total
    }

    /// The ledgers of every partition held, merged.
    pub fn merged_ledger(&self) -> crate::calendar::Ledger {
        let s = self.engine.settings();
        let mut l = crate::calendar::Ledger::new(s.categories().into(), s.sectors.clone());
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
