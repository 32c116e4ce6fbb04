//! The apply stage: a thread that applies the consumed messages to the
//! monitor, so parsing and counting run on a second core while the consume
//! loop keeps librdkafka's queue moving.
//!
//! The loop copies each message (payload, key, partition, offset,
//! timestamp) into a batch and hands full batches over a bounded channel
//! (backpressure: the loop waits when the stage is [`DEPTH`] batches
//! behind); applied batches come back emptied, so their buffers are reused.
//! Order is kept: one stage, one channel. The thread prepares a batch
//! (parse, classify) without the monitor lock and takes the lock only to
//! commit it (dedup, counts, positions), so metrics and `/report` readers
//! never wait for parsing. A *flush* is a barrier: it returns once every
//! message handed over before it is applied. Revocation (the rebalance
//! callback) and shutdown flush before they checkpoint, so a checkpoint
//! never misses a consumed message of its partition.
//!
//! Measured on the end-to-end benchmark: see docs/benchmarks.md.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rdkafka::Message;

use super::{AppError, Monitor};
use crate::event::Reject;
use crate::metrics::{LatencyRecorder, Metrics};
use crate::pipeline::{Engine, Prepared, wall_now_ms};
use crate::source::kafka::{DeadLetter, partition_key};
use crate::state::PartitionKey;

/// Messages per batch, at most.
pub const BATCH: usize = 1024;
/// Batches in flight, at most: enough to absorb a fetch response (tens of
/// thousands of messages) while the thread catches up. 8 left the loop
/// blocked a quarter of the time on the end-to-end benchmark.
pub const DEPTH: usize = 32;

struct Item {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    payload: Range<usize>,
    key: Option<Range<usize>>,
}

/// Copied messages of one topic.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    fn push<M: Message>(&mut self, m: &M) {
        let mut copy = |bytes: &[u8]| {
            let start = self.data.len();
            self.data.extend_from_slice(bytes);
            start..self.data.len()
        };
        let payload = copy(m.payload().unwrap_or(&[]));
        let key = m.key().map(copy);
        self.items.push(Item {
            partition: m.partition(),
            offset: m.offset(),
            timestamp_ms: m.timestamp().to_millis(),
            payload,
            key,
        });
    }
}

enum Work {
    Apply(Batch),
    Flush(SyncSender<()>),
}

/// What the loop and the thread share.
struct Shared {
    monitor: Arc<Mutex<Monitor>>,
    metrics: Arc<Metrics>,
    dead_letter: Option<DeadLetter>,
    topic: String,
    /// Batches handed over and not yet committed (exported as a metric).
    depth: AtomicUsize,
    /// Applied batches, emptied, for the loop to fill again: their buffers
    /// are reused instead of being grown from nothing and freed each time
    /// (which cost page faults and copies on every batch, measured).
    spare: Mutex<Vec<Batch>>,
}

/// The stage, shared by the consume loop and the rebalance callback.
pub struct Stage {
    tx: SyncSender<Work>,
    /// The batch being filled; behind a lock because the rebalance callback
    /// (which runs inside the consumer's poll) must hand it over too.
    pending: Mutex<Batch>,
    thread: Mutex<Option<JoinHandle<Result<(), String>>>>,
    shared: Arc<Shared>,
}

fn rt(e: impl std::fmt::Display) -> AppError {
    AppError::Runtime(e.to_string())
}

impl Stage {
    pub fn start(
        monitor: Arc<Mutex<Monitor>>,
        metrics: Arc<Metrics>,
        dead_letter: Option<DeadLetter>,
        topic: String,
    ) -> Result<Stage, AppError> {
        let (tx, rx) = sync_channel(DEPTH);
        // The thread's own engine prepares (the month cache is per engine);
        // the monitor's commits.
        let engine = monitor
            .lock()
            .map_err(|_| rt("monitor lock poisoned"))?
            .engine()
            .clone();
        let shared = Arc::new(Shared {
            monitor,
            metrics,
            dead_letter,
            topic,
            depth: AtomicUsize::new(0),
            spare: Mutex::new(Vec::new()),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("apply".into())
                .spawn(move || apply_loop(&rx, &shared, engine))
                .map_err(|e| rt(format!("cannot start the apply thread: {e}")))?
        };
        Ok(Stage {
            tx,
            pending: Mutex::new(Batch::default()),
            thread: Mutex::new(Some(thread)),
            shared,
        })
    }

    /// Batches waiting for the apply thread.
    pub fn depth(&self) -> usize {
        self.shared.depth.load(Ordering::Relaxed)
    }

    /// Copies a message into the current batch; hands the batch over when
    /// full.
    pub fn push<M: Message>(&self, m: &M) -> Result<(), AppError> {
        let full = {
            let mut p = self.pending.lock().map_err(|_| rt("stage lock poisoned"))?;
            p.push(m);
            (p.items.len() >= BATCH).then(|| std::mem::replace(&mut *p, self.spare_batch()))
        };
        match full {
            Some(b) => self.send(Work::Apply(b)),
            None => Ok(()),
        }
    }

    /// Hands the current batch over, however small (the loop calls this
    /// whenever librdkafka has nothing more ready, so a slow stream is
    /// applied at once).
    pub fn send_pending(&self) -> Result<(), AppError> {
        let b = {
            let mut p = self.pending.lock().map_err(|_| rt("stage lock poisoned"))?;
            if p.items.is_empty() {
                return Ok(());
            }
            std::mem::replace(&mut *p, self.spare_batch())
        };
        self.send(Work::Apply(b))
    }

    /// An emptied batch to fill, or a new one.
    fn spare_batch(&self) -> Batch {
        self.shared
            .spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default()
    }

    /// Returns once every message pushed so far is committed.
    pub fn flush(&self) -> Result<(), AppError> {
        self.send_pending()?;
        let (ack, done) = sync_channel(1);
        self.send(Work::Flush(ack))?;
        done.recv().map_err(|_| self.failure())
    }

    fn send(&self, w: Work) -> Result<(), AppError> {
        if matches!(w, Work::Apply(_)) {
            self.shared.depth.fetch_add(1, Ordering::Relaxed);
        }
        self.tx.send(w).map_err(|_| self.failure())
    }

    /// The stage stopped: its error.
    fn failure(&self) -> AppError {
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        match handle.map(JoinHandle::join) {
            Some(Ok(Err(e))) => rt(e),
            Some(Err(_)) => rt("the apply thread panicked"),
            _ => rt("the apply thread stopped"),
        }
    }
}

/// How long recorded latencies may wait for the shared summary under load.
const LATENCY_MERGE_MS: i64 = 200;

fn apply_loop(rx: &Receiver<Work>, shared: &Shared, mut engine: Engine) -> Result<(), String> {
    let mut keys: Vec<(i32, PartitionKey)> = Vec::new();
    let mut latency = LatencyRecorder::default();
    let mut merged_at = wall_now_ms();
    let mut prepared: Vec<Prepared> = Vec::with_capacity(BATCH);
    let mut rejected: Vec<(usize, Reject)> = Vec::new();
    for work in rx {
        let batch = match work {
            Work::Apply(b) => b,
            Work::Flush(ack) => {
                let _ = ack.send(());
                continue;
            }
        };
        let wall = wall_now_ms();
        for it in &batch.items {
            if let Some(ts) = it.timestamp_ms {
                latency.record_ms(wall - ts);
            }
        }
        prepared.clear();
        prepared.extend(
            batch
                .items
                .iter()
                .map(|it| engine.prepare(&batch.data[it.payload.clone()])),
        );
        commit(shared, &batch, &prepared, &mut keys, wall, &mut rejected)?;
        // Dead letters after the commit (a message skipped as already
        // counted is not sent again) and outside the monitor lock.
        if let Some(dlq) = &shared.dead_letter {
            for (i, reason) in rejected.drain(..) {
                let it = &batch.items[i];
                let key = it.key.clone().map(|r| &batch.data[r]);
                dlq.send(
                    key,
                    &batch.data[it.payload.clone()],
                    reason,
                    &shared.topic,
                    it.partition,
                    it.offset,
                );
            }
        }
        rejected.clear();
        // Latencies go to the shared summary when the stage has caught up,
        // and at least every LATENCY_MERGE_MS under load: merging walks the
        // histogram and takes a lock, which per batch (a thousand times a
        // second) was 1% of the process for figures read once a second.
        let caught_up = shared.depth.fetch_sub(1, Ordering::Relaxed) == 1;
        if caught_up || wall - merged_at >= LATENCY_MERGE_MS {
            shared.metrics.absorb_latency(&mut latency);
            merged_at = wall;
        }
        recycle(shared, batch);
    }
    if let Some(dlq) = &shared.dead_letter {
        dlq.flush(std::time::Duration::from_secs(5));
    }
    Ok(())
}

/// Empties a batch and keeps it for the loop, up to one per slot of the
/// channel (more would only hold memory).
fn recycle(shared: &Shared, mut batch: Batch) {
    batch.data.clear();
    batch.items.clear();
    if let Ok(mut spare) = shared.spare.lock()
        && spare.len() < DEPTH
    {
        spare.push(batch);
    }
}

/// Commits a prepared batch, run by run of one partition (librdkafka
/// delivers fetches per partition): one state lookup per run. Rejected
/// messages that were counted go to `rejected` (batch index, reason).
fn commit(
    shared: &Shared,
    batch: &Batch,
    prepared: &[Prepared],
    keys: &mut Vec<(i32, PartitionKey)>,
    wall: i64,
    rejected: &mut Vec<(usize, Reject)>,
) -> Result<(), String> {
    let mut m = shared
        .monitor
        .lock()
        .map_err(|_| "monitor lock poisoned".to_owned())?;
    let mut start = 0;
    while start < batch.items.len() {
        let partition = batch.items[start].partition;
        let end = batch.items[start..]
            .iter()
            .position(|it| it.partition != partition)
            .map_or(batch.items.len(), |n| start + n);
        let idx = match keys.iter().position(|(p, _)| *p == partition) {
            Some(i) => i,
            None => {
                keys.push((partition, partition_key(&shared.topic, partition)));
                keys.len() - 1
            }
        };
        let offsets = batch.items[start..end]
            .iter()
            .map(|it| u64::try_from(it.offset).unwrap_or(0));
        m.commit_run(
            &keys[idx].1,
            &prepared[start..end],
            offsets,
            wall,
            |i, reason| rejected.push((start + i, reason)),
        )
        .map_err(|e| e.to_string())?;
        start = end;
    }
    Ok(())
}
