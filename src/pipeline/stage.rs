//! The apply stage: a thread that counts batches into the monitor, so
//! decoding and counting run on a core of their own while the source (the
//! consume loop, the file reader) keeps reading.
//!
//! Every source hands it [`Batch`]es over one bounded channel (order is
//! kept: one stage, one channel) and gets them back emptied, so buffers are
//! reused. Backpressure never blocks a runtime worker: async senders
//! `.await` a slot, threads (the file reader, the rebalance callback inside
//! `block_in_place`) block on their own; the file reader first prepares
//! more of the batch it holds while the channel is full
//! ([`StageSender::try_send`]). The thread prepares a batch (if
//! its source did not) without the monitor lock and takes the lock only to
//! commit it, so metrics and `/report` readers never wait for parsing.
//!
//! A *flush* is a barrier: it returns once every batch handed over before
//! it is applied. A *release* (revocation) is applied in order too: the
//! thread checkpoints the revoked partitions after their last message, so a
//! checkpoint never misses a consumed message of its partition.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::locked;
use crate::clock::wall_now_ms;
use crate::count::{Batch, Engine, Item, Monitor, MonitorError};
use crate::event::Reject;
use crate::metrics::{LatencyRecorder, Metrics};
use crate::state::{PartitionKey, Source};

/// Messages per batch from a consumer, at most.
pub const BATCH: usize = 1024;
/// A consumer's batches in flight, at most ([`Stage::start`]'s `depth`):
/// enough to absorb a fetch response (tens of thousands of messages) while
/// the thread catches up. 8 left the loop blocked a quarter of the time on
/// the end-to-end benchmark.
pub const DEPTH: usize = 32;
/// How long recorded latencies may wait for the shared summary under load.
const LATENCY_MERGE_MS: i64 = 200;

/// Why the stage stopped or could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("applying a batch failed: {0}")]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    Poisoned(#[from] super::Poisoned),
    #[error("cannot start the apply thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the apply thread panicked")]
    Panicked,
    #[error("the apply thread stopped")]
    Stopped,
    #[error("the apply thread did not finish within {0:?}")]
    Timeout(Duration),
}

/// Where rejected messages go besides the counters (Kafka: the
/// dead-letter topic). Called after the commit, outside the monitor lock.
pub trait RejectSink: Send + Sync {
    fn send(&self, batch: &Batch, item: &Item, reason: Reject);
    /// Waits, bounded, for what was sent (at the end of the stage).
    fn flush(&self);
}

/// Positions of released partitions, as checkpointed.
pub type Released = Result<Vec<(PartitionKey, u64)>, StageError>;

enum Work {
    Apply(Batch),
    /// Ends the thread (everything before it applied).
    Stop,
    Flush(oneshot::Sender<()>),
    Release(Vec<PartitionKey>, std::sync::mpsc::SyncSender<Released>),
    /// Partitions assigned: restore their state now, before any of their
    /// messages is fetched; the reply is where each one resumes.
    Acquire(Vec<PartitionKey>, std::sync::mpsc::SyncSender<Acquired>),
    /// Partitions lost without a hand-over: forget them, write nothing.
    Lose(Vec<PartitionKey>),
}

/// Where acquired partitions resume: their checkpointed next offsets
/// (`None`: no checkpoint, start from the group's offset).
pub type Acquired = Result<Vec<(PartitionKey, Option<u64>)>, StageError>;

/// What the senders and the thread share.
struct Shared {
    monitor: Arc<Mutex<Monitor>>,
    metrics: Option<Arc<Metrics>>,
    rejected: Option<Box<dyn RejectSink>>,
    source: Source,
    /// Batches handed over and not yet committed (exported as a metric).
    depth: AtomicUsize,
    /// Batches the channel holds.
    capacity: usize,
    /// Applied batches, emptied, for the sources to fill again: their
    /// buffers are reused instead of being grown from nothing and freed
    /// each time (which cost page faults and copies on every batch,
    /// measured).
    spare: Mutex<Vec<Batch>>,
}

/// A handle to hand batches to the stage from a thread of its own (the
/// file reader).
#[derive(Clone)]
pub struct StageSender {
    tx: mpsc::Sender<Work>,
    shared: Arc<Shared>,
}

impl StageSender {
    /// An emptied batch to fill, or a new one.
    pub fn spare(&self) -> Batch {
        let reused = self.shared.spare.lock().ok().and_then(|mut s| s.pop());
        reused.unwrap_or_else(|| Batch::new(self.shared.source.clone()))
    }

    /// Batches handed over and not yet applied (the one being applied
    /// included).
    pub fn depth(&self) -> usize {
        self.shared.depth.load(Ordering::Relaxed)
    }

    /// Hands a batch over if the channel has room now; gives it back when
    /// it is full.
    pub fn try_send(&self, batch: Batch) -> Handed {
        self.shared.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Work::Apply(batch)) {
            Ok(()) => Handed::Sent,
            Err(e) => {
                self.shared.depth.fetch_sub(1, Ordering::Relaxed);
                match e {
                    mpsc::error::TrySendError::Full(Work::Apply(b)) => Handed::Full(b),
                    // Only batches are sent here.
                    mpsc::error::TrySendError::Full(_) => Handed::Sent,
                    mpsc::error::TrySendError::Closed(_) => Handed::Gone,
                }
            }
        }
    }

    /// Hands a batch over, waiting for room; `false` once the stage is gone.
    /// Not for runtime threads (it blocks).
    pub fn send_blocking(&self, batch: Batch) -> bool {
        self.shared.depth.fetch_add(1, Ordering::Relaxed);
        self.tx.blocking_send(Work::Apply(batch)).is_ok()
    }
}

/// What [`StageSender::try_send`] did with a batch.
pub enum Handed {
    Sent,
    /// The channel is full: the batch, back.
    Full(Batch),
    /// The stage is gone.
    Gone,
}

/// The stage, shared by a loop and (Kafka) the rebalance callback.
pub struct Stage {
    sender: StageSender,
    /// The batch being filled; behind a lock because the rebalance callback
    /// (which runs inside the consumer's poll) must hand it over too.
    pending: Mutex<Batch>,
    thread: Mutex<Option<JoinHandle<Result<(), StageError>>>>,
}

impl Stage {
    /// Starts the thread. Batches are of `source` (a partition key's
    /// source) and prepared by `engine` (the source's input: its decoder;
    /// the month cache is per engine), committed by the monitor's;
    /// `metrics` gets latencies, `rejected` rejected messages; at most
    /// `depth` batches wait (at least one).
    pub fn start(
        monitor: Arc<Mutex<Monitor>>,
        engine: Engine,
        metrics: Option<Arc<Metrics>>,
        rejected: Option<Box<dyn RejectSink>>,
        source: Source,
        depth: usize,
    ) -> Result<Stage, StageError> {
        let depth = depth.max(1);
        let (tx, rx) = mpsc::channel(depth);
        let shared = Arc::new(Shared {
            monitor,
            metrics,
            rejected,
            source: source.clone(),
            depth: AtomicUsize::new(0),
            capacity: depth,
            spare: Mutex::new(Vec::new()),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("apply".into())
                .spawn(move || apply_loop(rx, &shared, engine))
                .map_err(StageError::Spawn)?
        };
        Ok(Stage {
            sender: StageSender { tx, shared },
            pending: Mutex::new(Batch::new(source)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A handle for a reading thread.
    pub fn sender(&self) -> StageSender {
        self.sender.clone()
    }

    /// Batches waiting for the apply thread.
    pub fn depth(&self) -> usize {
        self.sender.depth()
    }

    /// Adds a message to the batch being filled (`fill` copies it in);
    /// returns the batch once it is full, for [`Stage::send`].
    pub fn push(&self, fill: impl FnOnce(&mut Batch)) -> Result<Option<Batch>, StageError> {
        let mut p = locked(&self.pending, "stage batch")?;
        fill(&mut p);
        Ok((p.len() >= BATCH).then(|| std::mem::replace(&mut *p, self.sender.spare())))
    }

    /// The batch being filled, if it holds anything.
    fn take_pending(&self) -> Result<Option<Batch>, StageError> {
        let mut p = locked(&self.pending, "stage batch")?;
        Ok((!p.is_empty()).then(|| std::mem::replace(&mut *p, self.sender.spare())))
    }

    /// Hands a batch over, waiting (without blocking the worker) for room.
    pub async fn send(&self, batch: Batch) -> Result<(), StageError> {
        self.sender.shared.depth.fetch_add(1, Ordering::Relaxed);
        match self.sender.tx.send(Work::Apply(batch)).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.failure()),
        }
    }

    /// Hands the batch being filled over, however small (the consume loop
    /// does whenever librdkafka has nothing more ready, so a slow stream is
    /// counted at once).
    pub async fn send_pending(&self) -> Result<(), StageError> {
        match self.take_pending()? {
            Some(b) => self.send(b).await,
            None => Ok(()),
        }
    }

    /// Returns once every message handed over so far is committed.
    pub async fn flush(&self) -> Result<(), StageError> {
        self.send_pending().await?;
        let (ack, done) = oneshot::channel();
        if self.sender.tx.send(Work::Flush(ack)).await.is_err() {
            return Err(self.failure());
        }
        done.await.map_err(|_| self.failure())
    }

    /// Checkpoints and forgets `keys` once every message handed over
    /// before is applied, waiting at most `timeout`. Blocking: for the
    /// rebalance callback, which runs it outside the runtime's workers
    /// (see `kafka::context`).
    pub fn release_blocking(&self, keys: Vec<PartitionKey>, timeout: Duration) -> Released {
        let tx = &self.sender.tx;
        if let Some(b) = self.take_pending()? {
            self.sender.shared.depth.fetch_add(1, Ordering::Relaxed);
            tx.blocking_send(Work::Apply(b))
                .map_err(|_| self.failure())?;
        }
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        tx.blocking_send(Work::Release(keys, reply))
            .map_err(|_| self.failure())?;
        match answer.recv_timeout(timeout) {
            Ok(released) => released,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(StageError::Timeout(timeout)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(self.failure()),
        }
    }

    /// Restores (claims) the state of newly assigned partitions, in order
    /// with the batches, and returns where each resumes. Blocking (the
    /// rebalance callback, off the workers): the partitions are assigned
    /// only after this, so none of their messages is fetched before its
    /// state is restored.
    pub fn acquire_blocking(&self, keys: Vec<PartitionKey>) -> Acquired {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.sender
            .tx
            .blocking_send(Work::Acquire(keys, reply))
            .map_err(|_| self.failure())?;
        answer.recv().map_err(|_| self.failure())?
    }

    /// Forgets partitions lost without a hand-over, in order with the
    /// batches (those handed over before are applied, not checkpointed).
    pub fn lose_blocking(&self, keys: Vec<PartitionKey>) -> Result<(), StageError> {
        let tx = &self.sender.tx;
        if let Some(b) = self.take_pending()? {
            self.sender.shared.depth.fetch_add(1, Ordering::Relaxed);
            tx.blocking_send(Work::Apply(b))
                .map_err(|_| self.failure())?;
        }
        tx.blocking_send(Work::Lose(keys))
            .map_err(|_| self.failure())
    }

    /// Stops the stage: every batch handed over is applied, rejected
    /// messages are flushed, and the thread's error (if it failed) is
    /// returned. Waits on a blocking thread, not a worker.
    pub async fn stop(&self) -> Result<(), StageError> {
        self.send_pending().await?;
        if self.sender.tx.send(Work::Stop).await.is_err() {
            return Err(self.failure());
        }
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        match handle {
            Some(h) => match tokio::task::spawn_blocking(move || h.join()).await {
                Ok(Ok(result)) => result,
                _ => Err(StageError::Panicked),
            },
            None => Err(StageError::Stopped),
        }
    }

    /// The stage stopped: its error.
    fn failure(&self) -> StageError {
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        match handle.map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => StageError::Panicked,
            _ => StageError::Stopped,
        }
    }
}

fn apply_loop(
    mut rx: mpsc::Receiver<Work>,
    shared: &Shared,
    mut engine: Engine,
) -> Result<(), StageError> {
    let mut latency = LatencyRecorder::default();
    let mut merged_at = wall_now_ms();
    let mut rejected: Vec<(usize, Reject)> = Vec::new();
    while let Some(work) = rx.blocking_recv() {
        let mut batch = match work {
            Work::Apply(b) => b,
            Work::Flush(ack) => {
                let _ = ack.send(());
                continue;
            }
            Work::Stop => break,
            Work::Acquire(keys, reply) => {
                let acquired = locked(&shared.monitor, "monitor")
                    .map_err(StageError::from)
                    .and_then(|mut m| {
                        let mut out = Vec::with_capacity(keys.len());
                        for key in keys {
                            let st = m.partition(&key, wall_now_ms())?;
                            let at = (st.position.records > 0).then_some(st.position.next_offset);
                            out.push((key, at));
                        }
                        Ok(out)
                    });
                // A failure goes to the callback (and comes back at the
                // partition's first message).
                let _ = reply.send(acquired);
                continue;
            }
            Work::Lose(keys) => {
                locked(&shared.monitor, "monitor")?.drop_lost(&keys);
                continue;
            }
            Work::Release(keys, reply) => {
                let released = locked(&shared.monitor, "monitor")
                    .map_err(StageError::from)
                    .and_then(|mut m| Ok(m.release(&keys, wall_now_ms())?));
                let _ = reply.send(released);
                continue;
            }
        };
        let wall = wall_now_ms();
        if shared.metrics.is_some() {
            for ts in batch.items().iter().filter_map(|it| it.timestamp_ms) {
                latency.record_ms(wall - ts);
            }
        }
        // Prepared outside the lock (a no-op for a batch its source
        // prepared), committed under it.
        batch.prepare(&mut engine);
        locked(&shared.monitor, "monitor")?.apply(&mut batch, wall, |i, r| {
            rejected.push((i, r));
        })?;
        // Dead letters after the commit (a message skipped as already
        // counted is not sent again) and outside the monitor lock.
        if let Some(sink) = &shared.rejected {
            for (i, reason) in rejected.drain(..) {
                sink.send(&batch, &batch.items()[i], reason);
            }
        }
        rejected.clear();
        // Latencies go to the shared summary when the stage has caught up,
        // and at least every LATENCY_MERGE_MS under load: merging walks the
        // histogram and takes a lock, which per batch (a thousand times a
        // second) was 1% of the process for figures read once a second.
        if let Some(metrics) = &shared.metrics {
            newest_per_partition(metrics, &shared.source, &batch);
        }
        let caught_up = shared.depth.fetch_sub(1, Ordering::Relaxed) == 1;
        if let Some(metrics) = &shared.metrics
            && (caught_up || wall - merged_at >= LATENCY_MERGE_MS)
        {
            metrics.absorb_latency(&mut latency);
            merged_at = wall;
        }
        recycle(shared, batch);
    }
    if let Some(sink) = &shared.rejected {
        sink.flush();
    }
    Ok(())
}

/// Publishes the broker timestamp of the last message of each partition
/// in a batch (a partition's messages are in offset order).
fn newest_per_partition(metrics: &Metrics, source: &Source, batch: &Batch) {
    let Some(topic) = source.topic() else {
        return;
    };
    let items = batch.items();
    for (i, it) in items.iter().enumerate() {
        let last_of_run = items.get(i + 1).is_none_or(|n| n.partition != it.partition);
        if last_of_run && let Some(ts) = it.timestamp_ms {
            metrics.set_last_record(topic, it.partition, ts);
        }
    }
}

/// Empties a batch and keeps it for the sources, up to one per slot of the
/// channel (more would only hold memory).
fn recycle(shared: &Shared, mut batch: Batch) {
    batch.clear();
    if let Ok(mut spare) = shared.spare.lock()
        && spare.len() < shared.capacity
    {
        spare.push(batch);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::count::Engine;
    use crate::state::{StateBackend, StateStore};

    fn batch(p: i32, from: u64, n: u64) -> Batch {
        Batch::of_incidents("t", p, from, n)
    }

    /// Revocation goes through the stage in order: the batches handed over
    /// before it are applied first, then the partition is checkpointed
    /// and forgotten; the others are kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_release_follows_every_batch_handed_over_before_it() {
        let dir = std::env::temp_dir().join(format!("im-stage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = StateStore::new(&dir);
        let settings = crate::config::Config::default().validate().unwrap();
        let m = Monitor::open(Engine::new(settings), Arc::new(store.clone())).unwrap();
        let monitor = Arc::new(Mutex::new(m));
        let engine = monitor.lock().unwrap().engine().clone();
        let stage = Arc::new(
            Stage::start(
                monitor.clone(),
                engine,
                None,
                None,
                crate::state::Source::kafka("t"),
                DEPTH,
            )
            .unwrap(),
        );
        for i in 0..40 {
            stage
                .send(batch(i % 2, (i / 2) as u64 * 100, 100))
                .await
                .unwrap();
        }
        // The last messages wait in the batch being filled.
        let full = stage
            .push(|b| {
                b.push(
                    0,
                    2000,
                    2001,
                    None,
                    br#"{"id":"last","time":"2022-06-01T00:00:00Z","type":"ddos"}"#,
                    None,
                )
            })
            .unwrap();
        assert!(full.is_none());
        let key = PartitionKey {
            source: Source::kafka("t"),
            partition: 0,
        };
        let s = stage.clone();
        let k = key.clone();
        let released = tokio::task::spawn_blocking(move || {
            s.release_blocking(vec![k], Duration::from_secs(30))
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(released, vec![(key.clone(), 2001)]);
        assert_eq!(store.load(&key).unwrap().unwrap().outcomes.accepted, 2001);
        {
            let m = monitor.lock().unwrap();
            assert!(!m.holds(&key), "released");
            assert_eq!(m.outcomes().accepted, 2000, "partition 1 still held");
        }
        stage.stop().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A stage of `depth` batches over a fresh directory state.
    pub(crate) fn started(
        name: &str,
        depth: usize,
    ) -> (std::path::PathBuf, Arc<Mutex<Monitor>>, Stage) {
        let dir = std::env::temp_dir().join(format!("im-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let settings = crate::config::Config::default().validate().unwrap();
        let store: Arc<dyn StateBackend> = Arc::new(StateStore::new(&dir));
        let monitor = Arc::new(Mutex::new(
            Monitor::open(Engine::new(settings), store).unwrap(),
        ));
        let engine = monitor.lock().unwrap().engine().clone();
        let stage = Stage::start(
            monitor.clone(),
            engine,
            None,
            None,
            crate::state::Source::kafka("t"),
            depth,
        )
        .unwrap();
        (dir, monitor, stage)
    }

    #[tokio::test]
    async fn a_flush_returns_once_everything_handed_over_is_counted() {
        let (dir, monitor, stage) = started("flush", DEPTH);
        for i in 0..50 {
            stage.send(batch(3, i * 10, 10)).await.unwrap();
        }
        stage.flush().await.unwrap();
        assert_eq!(monitor.lock().unwrap().outcomes().accepted, 500);
        assert_eq!(stage.depth(), 0);
        stage.stop().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A batch the full channel refuses is given back whole, is not
    /// counted as waiting, and is counted once handed over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_channel_gives_the_batch_back() {
        let (dir, monitor, stage) = started("full", 1);
        let sender = stage.sender();
        let held = monitor.lock().unwrap();
        // The apply thread takes at most one batch and waits for the lock:
        // within three the channel of one is full.
        let mut taken = 0;
        let back = loop {
            match sender.try_send(batch(3, taken * 10, 10)) {
                Handed::Sent => {
                    taken += 1;
                    assert!(taken <= 2, "a channel of one took {taken} batches");
                }
                Handed::Full(back) => break back,
                Handed::Gone => panic!("the stage is running"),
            }
        };
        assert_eq!(stage.depth() as u64, taken);
        assert_eq!(back.len(), 10);
        drop(held);
        let sent = tokio::task::spawn_blocking(move || sender.send_blocking(back))
            .await
            .unwrap();
        assert!(sent);
        stage.flush().await.unwrap();
        assert_eq!(
            monitor.lock().unwrap().outcomes().accepted,
            (taken + 1) * 10
        );
        stage.stop().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
