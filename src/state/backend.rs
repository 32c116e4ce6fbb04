//! The state backend seam: where checkpoints are kept. Today one backend,
//! the local directory ([`StateStore`]); a store in Kafka plugs in here.
//! The monitor and the loops see only this interface.

use super::file::{Counts, Snapshot};
use super::store::{Checkpoint, MonitorMeta, StateStore, StoreError};
use super::{PartitionKey, PartitionState};
use crate::event::EpochMillis;

/// Durable storage of per-partition checkpoints.
///
/// A checkpoint is taken (encoded and numbered, under the monitor's lock)
/// and then written (possibly on another thread, without the lock): a
/// backend must never let a checkpoint replace one of its partition taken
/// after it, so a write that finishes late cannot move a partition back.
pub trait StateBackend: Send + Sync + std::fmt::Debug {
    /// Makes the backend ready to write and records what readers of the
    /// state need to know about this writer.
    fn open(&self, meta: &MonitorMeta) -> Result<(), StoreError>;
    /// A partition's latest checkpoint, if it has one.
    fn load(&self, key: &PartitionKey) -> Result<Option<Snapshot>, StoreError>;
    /// Takes a partition over (the group gave it to this process) and
    /// returns its latest checkpoint: from now on checkpoints written by a
    /// previous owner are never taken as current. A directory has no
    /// owners: its claim is a load.
    fn claim(&self, key: &PartitionKey) -> Result<Option<Snapshot>, StoreError> {
        self.load(key)
    }
    /// Forgets a partition this process lost without handing it over: it
    /// writes nothing more for it, even a checkpoint taken before.
    fn disown(&self, _key: &PartitionKey) {}
    /// Every partition's latest checkpoint, sorted by key.
    fn load_all(&self) -> Result<Vec<Snapshot>, StoreError>;
    /// Every partition's latest counts, sorted by key: what a report
    /// reads. A backend that can skip the remembered ids does.
    fn load_counts(&self) -> Result<Vec<Counts>, StoreError> {
        Ok(self.load_all()?.iter().map(Counts::from).collect())
    }
    /// Encodes a partition's state, numbered in the order taken.
    fn checkpoint(&self, st: &PartitionState, timezone: &str, wall_ms: EpochMillis) -> Checkpoint;
    /// Stores a checkpoint durably (atomically: readers see the previous
    /// one or this one), unless a later one of its partition is stored.
    fn write(&self, cp: &Checkpoint) -> Result<(), StoreError>;
}

impl StateBackend for StateStore {
    fn open(&self, meta: &MonitorMeta) -> Result<(), StoreError> {
        self.create_dir()?;
        self.save_meta(meta)
    }

    fn load(&self, key: &PartitionKey) -> Result<Option<Snapshot>, StoreError> {
        StateStore::load(self, key)
    }

    fn load_all(&self) -> Result<Vec<Snapshot>, StoreError> {
        StateStore::load_all(self)
    }

    fn load_counts(&self) -> Result<Vec<Counts>, StoreError> {
        StateStore::load_counts(self)
    }

    fn checkpoint(&self, st: &PartitionState, timezone: &str, wall_ms: EpochMillis) -> Checkpoint {
        StateStore::checkpoint(self, st, timezone, wall_ms)
    }

    fn write(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        StateStore::write(self, cp)
    }
}
