//! Checkpoints off the loop: the partitions changed since the last
//! checkpoint are written on a blocking thread, one at a time, while the
//! loop goes on; the positions they cover come back for the commit.
//!
//! The monitor lock is held to encode one partition (sequential reads, a
//! few ms per million ids), not to write and fsync it, and one encoded
//! partition is in memory at a time. One write is in flight at most. Once
//! it is done the monitor learns which partitions are on disk as it holds
//! them, so a release does not write those again.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::{AppError, locked};
use crate::clock::wall_now_ms;
use crate::count::Monitor;
use crate::state::PartitionKey;

/// Positions written by a checkpoint: `(partition, next offset)`.
pub type Positions = Vec<(PartitionKey, u64)>;

pub(crate) struct Checkpointer {
    monitor: Arc<Mutex<Monitor>>,
    writing: Option<JoinHandle<Result<Positions, AppError>>>,
}

impl Checkpointer {
    pub(crate) fn new(monitor: Arc<Mutex<Monitor>>) -> Checkpointer {
        Checkpointer {
            monitor,
            writing: None,
        }
    }

    pub(crate) fn is_writing(&self) -> bool {
        self.writing.is_some()
    }

    /// Starts writing every partition changed since the last checkpoint.
    pub(crate) fn start(&mut self) -> Result<(), AppError> {
        let keys = locked(&self.monitor, "monitor")?.take_dirty();
        let monitor = self.monitor.clone();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let mut positions = Vec::new();
            for key in keys {
                let (cp, store) = {
                    let m = locked(&monitor, "monitor")?;
                    (m.checkpoint_of(&key, wall_now_ms()), m.store().clone())
                };
                if let Some(cp) = cp {
                    store.write(&cp)?;
                    positions.push((cp.key, cp.next_offset));
                }
            }
            Ok(positions)
        }));
        Ok(())
    }

    /// Resolves when the write in flight is on disk (never when there is
    /// none), with the positions it wrote of partitions still held (one
    /// revoked meanwhile was committed when it was released). Cancel-safe:
    /// a `select!` may drop it and call again.
    pub(crate) async fn written(&mut self) -> Result<Positions, AppError> {
        let Some(task) = self.writing.as_mut() else {
            return std::future::pending().await;
        };
        let result = task.await;
        self.writing = None;
        let positions = result.map_err(|source| AppError::Task {
            what: "checkpoint",
            source,
        })??;
        let mut m = locked(&self.monitor, "monitor")?;
        let keys: Vec<PartitionKey> = positions.iter().map(|(k, _)| k.clone()).collect();
        m.written(&keys);
        Ok(positions.into_iter().filter(|(k, _)| m.holds(k)).collect())
    }

    /// The last checkpoint of a run: waits for the write in flight (a final
    /// commit must not name a position whose checkpoint is not on disk),
    /// then writes what changed since, and returns every held partition's
    /// checkpointed position.
    pub(crate) async fn finish(&mut self) -> Result<Positions, AppError> {
        if self.writing.is_some() {
            self.written().await?;
        }
        let monitor = self.monitor.clone();
        tokio::task::spawn_blocking(move || {
            let mut m = locked(&monitor, "monitor")?;
            m.checkpoint(wall_now_ms())?;
            Ok(m.checkpointed_positions())
        })
        .await
        .map_err(|source| AppError::Task {
            what: "final checkpoint",
            source,
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::count::{Batch, Engine};
    use crate::event::EpochMillis;
    use crate::state::{
        Checkpoint, MonitorMeta, PartitionState, Snapshot, Source, StateBackend, StateStore,
        StoreError,
    };

    fn monitor(dir: &std::path::Path) -> (Arc<Mutex<Monitor>>, StateStore) {
        let store = StateStore::new(dir);
        let settings = crate::config::Config::default().validate().unwrap();
        let m = Monitor::open(Engine::new(settings), Arc::new(store.clone())).unwrap();
        (Arc::new(Mutex::new(m)), store)
    }

    fn batch(p: i32, from: u64, n: u64) -> Batch {
        Batch::of_incidents("t", p, from, n)
    }

    #[tokio::test]
    async fn writes_changed_partitions_off_the_loop_and_gives_their_positions() {
        let dir = std::env::temp_dir().join(format!("im-cp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (m, store) = monitor(&dir);
        m.lock()
            .unwrap()
            .apply(&mut batch(0, 0, 10), 0, |_, _| {})
            .unwrap();
        m.lock()
            .unwrap()
            .apply(&mut batch(1, 0, 5), 0, |_, _| {})
            .unwrap();
        let mut cp = Checkpointer::new(m.clone());
        assert!(!cp.is_writing());
        cp.start().unwrap();
        assert!(cp.is_writing());
        let mut written = cp.written().await.unwrap();
        written.sort();
        let keys: Vec<u64> = written.iter().map(|(_, n)| *n).collect();
        assert_eq!(keys, vec![10, 5]);
        assert!(!cp.is_writing());
        let on_disk: Vec<u64> = store
            .load_all()
            .unwrap()
            .iter()
            .map(|s| s.position.next_offset)
            .collect();
        assert_eq!(on_disk, vec![10, 5]);

        // Nothing changed: nothing written. A partition released while its
        // write is in flight is left out (its release committed it).
        cp.start().unwrap();
        assert!(cp.written().await.unwrap().is_empty());
        m.lock()
            .unwrap()
            .apply(&mut batch(1, 5, 3), 0, |_, _| {})
            .unwrap();
        cp.start().unwrap();
        let key = written[1].0.clone();
        m.lock()
            .unwrap()
            .release(std::slice::from_ref(&key), 0)
            .unwrap();
        assert!(cp.written().await.unwrap().is_empty());
        assert_eq!(store.load(&key).unwrap().unwrap().position.next_offset, 8);

        // The last checkpoint: what changed since, and every held position.
        m.lock()
            .unwrap()
            .apply(&mut batch(0, 10, 2), 0, |_, _| {})
            .unwrap();
        let last = cp.finish().await.unwrap();
        assert_eq!(last.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![12]);
        assert_eq!(
            store
                .load(&last[0].0)
                .unwrap()
                .unwrap()
                .position
                .next_offset,
            12
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A directory that counts the checkpoints it writes.
    #[derive(Debug)]
    struct Counting(StateStore, AtomicUsize);

    impl StateBackend for Counting {
        fn open(&self, meta: &MonitorMeta) -> Result<(), StoreError> {
            StateBackend::open(&self.0, meta)
        }
        fn load(&self, key: &PartitionKey) -> Result<Option<Snapshot>, StoreError> {
            self.0.load(key)
        }
        fn load_all(&self) -> Result<Vec<Snapshot>, StoreError> {
            self.0.load_all()
        }
        fn checkpoint(
            &self,
            st: &PartitionState,
            timezone: &str,
            wall_ms: EpochMillis,
        ) -> Checkpoint {
            self.0.checkpoint(st, timezone, wall_ms)
        }
        fn write(&self, cp: &Checkpoint) -> Result<(), StoreError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.write(cp)
        }
    }

    /// A release writes a partition again unless the state it holds is the
    /// one last written, completely: after a drain's last checkpoint it
    /// writes nothing; after a change, or while a write may be in flight,
    /// it does; a released partition's state on disk is its latest.
    #[tokio::test]
    async fn a_release_rewrites_only_what_is_not_durable_as_held() {
        let dir = std::env::temp_dir().join(format!("im-cp-rel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = StateStore::new(&dir);
        let counting = Arc::new(Counting(store.clone(), AtomicUsize::new(0)));
        let writes = || counting.1.load(Ordering::Relaxed);
        let settings = crate::config::Config::default().validate().unwrap();
        let m = Monitor::open(Engine::new(settings), counting.clone()).unwrap();
        let m = Arc::new(Mutex::new(m));
        let apply = |p: i32, from: u64, n: u64| {
            m.lock()
                .unwrap()
                .apply(&mut batch(p, from, n), 0, |_, _| {})
                .unwrap();
        };
        let key = |p: i32| PartitionKey {
            source: Source::kafka("t"),
            partition: p,
        };
        let next = |p: i32| store.load(&key(p)).unwrap().unwrap().position.next_offset;
        let mut cp = Checkpointer::new(m.clone());

        // The last checkpoint, then the hand-over: written once.
        apply(0, 0, 10);
        apply(1, 0, 10);
        let before = writes();
        cp.finish().await.unwrap();
        assert_eq!(writes() - before, 2);
        let before = writes();
        m.lock().unwrap().release(&[key(0)], 0).unwrap();
        assert_eq!(writes(), before, "durable as held: not written again");
        assert_eq!(next(0), 10);

        // Changed after its checkpoint: written by the release.
        apply(1, 10, 5);
        let before = writes();
        m.lock().unwrap().release(&[key(1)], 0).unwrap();
        assert_eq!(writes() - before, 1);
        assert_eq!(next(1), 15);

        // Durable, then changed, then taken by a background checkpoint not
        // yet known written: a release writes; once known written (and
        // unchanged since), it does not.
        apply(2, 0, 3);
        apply(3, 0, 3);
        cp.finish().await.unwrap();
        apply(2, 3, 2);
        apply(3, 3, 2);
        cp.start().unwrap();
        let before = writes();
        m.lock().unwrap().release(&[key(2)], 0).unwrap();
        assert!(writes() > before);
        cp.written().await.unwrap();
        let before = writes();
        m.lock().unwrap().release(&[key(3)], 0).unwrap();
        assert_eq!(writes(), before);
        assert_eq!((next(2), next(3)), (5, 5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
