//! The apply stage: a thread that applies the consumed messages to the
//! monitor, so parsing and counting run on a second core while the consume
//! loop keeps librdkafka's queue moving.
//!
//! The loop copies each message (payload, key, partition, offset,
//! timestamp) into a batch and hands full batches over a bounded channel
//! (backpressure: the loop waits when the stage is 8 batches behind). Order
//! is kept: one stage, one channel. A *flush* is a barrier: it returns once
//! every message handed over before it is applied. Revocation (the
//! rebalance callback) and shutdown flush before they checkpoint, so a
//! checkpoint never misses a consumed message of its partition.
//!
//! Measured on the end-to-end benchmark: see docs/benchmarks.md.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rdkafka::Message;

use super::{AppError, Monitor};
use crate::metrics::{LatencyRecorder, Metrics};
use crate::pipeline::wall_now_ms;
use crate::source::kafka::{DeadLetter, partition_key};
use crate::state::PartitionKey;

/// Messages per batch, at most.
pub const BATCH: usize = 1024;
/// Batches in flight, at most.
const DEPTH: usize = 8;

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

/// The stage, shared by the consume loop and the rebalance callback.
pub struct Stage {
    tx: SyncSender<Work>,
    /// The batch being filled; behind a lock because the rebalance callback
    /// (which runs inside the consumer's poll) must hand it over too.
    pending: Mutex<Batch>,
    thread: Mutex<Option<JoinHandle<Result<(), String>>>>,
    /// Batches handed over and not yet applied (exported as a metric).
    depth: Arc<AtomicUsize>,
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
        let depth = Arc::new(AtomicUsize::new(0));
        let in_flight = depth.clone();
        let thread = std::thread::Builder::new()
            .name("apply".into())
            .spawn(move || {
                apply_loop(
                    &rx,
                    &monitor,
                    &metrics,
                    dead_letter.as_ref(),
                    &topic,
                    &in_flight,
                )
            })
            .map_err(|e| rt(format!("cannot start the apply thread: {e}")))?;
        Ok(Stage {
            tx,
            pending: Mutex::new(Batch::default()),
            thread: Mutex::new(Some(thread)),
            depth,
        })
    }

    /// Batches waiting for the apply thread.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Copies a message into the current batch; hands the batch over when
    /// full.
    pub fn push<M: Message>(&self, m: &M) -> Result<(), AppError> {
        let full = {
            let mut p = self.pending.lock().map_err(|_| rt("stage lock poisoned"))?;
            p.push(m);
            (p.items.len() >= BATCH).then(|| std::mem::take(&mut *p))
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
        let b = std::mem::take(&mut *self.pending.lock().map_err(|_| rt("stage lock poisoned"))?);
        if b.items.is_empty() {
            Ok(())
        } else {
            self.send(Work::Apply(b))
        }
    }

    /// Returns once every message pushed so far is applied.
    pub fn flush(&self) -> Result<(), AppError> {
        self.send_pending()?;
        let (ack, done) = sync_channel(1);
        self.send(Work::Flush(ack))?;
        done.recv().map_err(|_| self.failure())
    }

    fn send(&self, w: Work) -> Result<(), AppError> {
        if matches!(w, Work::Apply(_)) {
            self.depth.fetch_add(1, Ordering::Relaxed);
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

fn apply_loop(
    rx: &Receiver<Work>,
    monitor: &Mutex<Monitor>,
    metrics: &Metrics,
    dead_letter: Option<&DeadLetter>,
    topic: &str,
    depth: &AtomicUsize,
) -> Result<(), String> {
    let mut keys: Vec<(i32, PartitionKey)> = Vec::new();
    let mut latency = LatencyRecorder::default();
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
        {
            let mut m = monitor
                .lock()
                .map_err(|_| "monitor lock poisoned".to_owned())?;
            // Runs of one partition (librdkafka delivers fetches per
            // partition): one state lookup per run, not per message.
            let mut start = 0;
            while start < batch.items.len() {
                let partition = batch.items[start].partition;
                let end = batch.items[start..]
                    .iter()
                    .position(|it| it.partition != partition)
                    .map_or(batch.items.len(), |n| start + n);
                let run = &batch.items[start..end];
                let idx = match keys.iter().position(|(p, _)| *p == partition) {
                    Some(i) => i,
                    None => {
                        keys.push((partition, partition_key(topic, partition)));
                        keys.len() - 1
                    }
                };
                let messages = run.iter().map(|it| {
                    (
                        &batch.data[it.payload.clone()],
                        u64::try_from(it.offset).unwrap_or(0),
                    )
                });
                m.apply_run(&keys[idx].1, messages, wall, |i, reason| {
                    if let Some(dlq) = dead_letter {
                        let it = &run[i];
                        let key = it.key.clone().map(|r| &batch.data[r]);
                        dlq.send(
                            key,
                            &batch.data[it.payload.clone()],
                            reason,
                            topic,
                            partition,
                            it.offset,
                        );
                    }
                })
                .map_err(|e| e.to_string())?;
                start = end;
            }
        }
        metrics.absorb_latency(&mut latency);
        depth.fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(dlq) = dead_letter {
        dlq.flush(std::time::Duration::from_secs(5));
    }
    Ok(())
}
