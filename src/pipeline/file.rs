//! `run --input`: a file or stdin, a [`Source`] of the one run loop.
//!
//! The reader thread reads and splits lines into batches and prepares
//! part of each (decode, classify), more while the apply stage is behind,
//! on its core; the apply stage prepares the rest and commits them on the
//! other (dedup, counts, positions), through the same [`Monitor::apply`]
//! as Kafka batches. Where reading starts (after the
//! checkpoint, or from the start of a file that changed) is `open_input`.

use std::future::Future;
use std::sync::Arc;

use super::checkpoints::{Checkpointer, Positions};
use super::endpoint::Endpoint;
use super::run::{End, Run, RunSummary, Source};
use super::stage::{Handed, Stage, StageSender};
use super::{AppError, LiveReports, SharedMonitor, locked};
use crate::clock::wall_now_ms;
use crate::config::Settings;
use crate::count::{Batch, Engine, Monitor};
use crate::metrics::Metrics;
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::source::file::{self, Input, Sink};
use crate::state::{Outcomes, PartitionKey, StateBackend, StateStore};

/// Runs the JSONL input through the pipeline until end of input or
/// `shutdown`, checkpointing periodically and at the end.
///
/// With `metrics_addr`, the metrics endpoint serves progress while it runs
/// (a backfill is watched like a live run); without it, no port is opened.
pub async fn run_input(
    settings: Settings,
    input: Input,
    store: StateStore,
    metrics_addr: Option<String>,
    progress: ProgressMode,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, AppError> {
    let started = std::time::Instant::now();
    let _lock = store.lock()?;
    let cfg = settings.config.clone();
    let backend: Arc<dyn StateBackend> = Arc::new(store);
    let monitor = super::open_monitor(&settings, backend.clone()).await?;
    let endpoint = match metrics_addr {
        Some(addr) => {
            let reports = Arc::new(LiveReports::new(monitor.clone(), backend, &cfg));
            let input = [(
                settings.events_input.name.clone(),
                PartitionKey::input().source,
            )];
            let e = Endpoint::start(&settings, &input, &addr, reports).await?;
            e.metrics.set_ready(true, "");
            Some(e)
        }
        None => None,
    };
    let key = PartitionKey::input();
    let (opened, records_before) = open_input(&mut *locked(&monitor, "monitor")?, &key, &input)?;
    let stage = Stage::start(
        monitor.clone(),
        Engine::new(settings.clone()),
        endpoint.as_ref().map(|e| e.metrics.clone()),
        None,
        key.source.clone(),
        FILE_DEPTH,
    )?;
    let sink = Prepare {
        to: stage.sender(),
        engine: Engine::new(settings),
    };
    let reader = file::spawn(opened, cfg.events.max_event_bytes, sink)
        .map_err(AppError::io(format!("cannot read {}", input.name())))?;
    let source = FileSource {
        total_bytes: match &input {
            // Progress: bytes of the file (its length now) or lines of stdin.
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Input::Stdin => None,
        },
        baseline: locked(&monitor, "monitor")?.outcomes(),
        monitor: monitor.clone(),
        name: input.name(),
        reader,
        stage,
        key,
        records_before,
    };
    let shown = Progress::new(progress, "run --input", Unit::Bytes);
    Run::new(source, monitor, endpoint, shown, &cfg, started)
        .run(shutdown)
        .await
}

/// A file or stdin: a reader thread preparing batches into one stage.
struct FileSource {
    monitor: SharedMonitor,
    /// The input, for errors.
    name: String,
    reader: file::Reader,
    stage: Stage,
    /// Progress: the input's partition, the lines it had counted before
    /// this run, the file's length, the counters before this run.
    key: PartitionKey,
    records_before: u64,
    total_bytes: Option<u64>,
    baseline: Outcomes,
}

impl Source for FileSource {
    /// The reader's end: at end of input, stopped, or a read error.
    async fn next(&mut self) -> Result<Option<End>, AppError> {
        match (&mut self.reader.done).await {
            Ok(Ok(true)) => Ok(Some(End::Drained)),
            Ok(Ok(false)) => Ok(Some(End::Shutdown)),
            Ok(Err(e)) => Err(AppError::Io {
                what: format!("reading {} failed", self.name),
                source: e,
            }),
            Err(_) => Err(AppError::Io {
                what: "the input reader".into(),
                source: std::io::Error::other("stopped unexpectedly"),
            }),
        }
    }

    fn progress(&self, m: &Monitor) -> Snapshot {
        let (done, records) = m
            .partitions()
            .find(|p| p.key == self.key)
            .map_or((0, self.records_before), |p| {
                (p.position.next_offset, p.position.records)
            });
        let (o, b) = (m.outcomes(), &self.baseline);
        Snapshot {
            events: records.saturating_sub(self.records_before),
            done,
            total: self.total_bytes,
            accepted: Some(o.accepted.saturating_sub(b.accepted)),
            update: Some(o.update.saturating_sub(b.update)),
            duplicate: Some(o.duplicate.saturating_sub(b.duplicate)),
            invalid: Some(o.invalid_total().saturating_sub(b.invalid_total())),
            ..Snapshot::default()
        }
    }

    fn publish(&mut self, metrics: &Metrics) -> Option<End> {
        metrics.set_queue_depth("input", self.stage.depth());
        None
    }

    /// A file has no upstream to tell: the checkpoint is its position.
    fn checkpointed(&mut self, _: &Positions) {}

    async fn stop(&mut self) -> Result<(), AppError> {
        self.reader.stop();
        Ok(())
    }

    /// Everything handed over is counted, then checkpointed.
    async fn finish(self, checkpoints: &mut Checkpointer, _: &End) -> Result<Snapshot, AppError> {
        self.stage.stop().await?;
        let last = self.progress(&*locked(&self.monitor, "monitor")?);
        checkpoints.finish().await?;
        Ok(last)
    }
}

/// The reader prepares (decodes and classifies) the first part of each
/// batch before handing it over; the apply thread prepares the rest and
/// commits. The reader prepares a fixed part, then, while the apply
/// stage's queue is full (the apply thread behind), more of the batch it
/// holds, a step at a time, instead of waiting: so the apply thread is
/// helped exactly as much as it is behind, whatever a stream costs to read,
/// prepare and commit (new incidents cost the commit more than
/// duplicates). docs/benchmarks.md, sixteenth session.
const READER_PREPARES: (usize, usize) = (3, 8);
/// Messages prepared between two looks at the queue (about 50 µs).
const STEP: usize = 128;
/// Batches of the file reader in flight, at most (each about 1 MiB of
/// lines). 32, Kafka's depth, held 40 MiB more, and their page faults cost
/// about 6% more CPU on a two-million-line run (measured).
const FILE_DEPTH: usize = 8;

/// The reader's batches, partly prepared on its thread, to the apply stage.
struct Prepare {
    to: StageSender,
    engine: Engine,
}

impl Sink for Prepare {
    fn spare(&mut self) -> Batch {
        self.to.spare()
    }

    fn send(&mut self, mut batch: Batch) -> bool {
        let (num, den) = READER_PREPARES;
        let mut done = batch.len() * num / den;
        batch.prepare_first(&mut self.engine, done);
        loop {
            if done >= batch.len() {
                return self.to.send_blocking(batch);
            }
            match self.to.try_send(batch) {
                Handed::Sent => return true,
                Handed::Gone => return false,
                Handed::Full(back) => batch = back,
            }
            done += STEP;
            batch.prepare_first(&mut self.engine, done);
        }
    }
}

/// Opens the input where to read from: after the checkpoint when it is the
/// same file and its bytes before the checkpointed position are the ones
/// counted; from the start for another file, a file rewritten, edited or
/// truncated, or stdin, with the same counts and dedup memory (so the same
/// incidents again count nothing twice, and new ones count in full).
/// Returns the opened input and the lines the position had counted.
fn open_input(
    monitor: &mut Monitor,
    key: &PartitionKey,
    input: &Input,
) -> Result<(file::Opened, u64), AppError> {
    let st = monitor.partition(key, wall_now_ms())?;
    let recorded = match input {
        Input::File(_) if st.position.input == input.name() => {
            Some((st.position.next_offset, st.position.identity))
        }
        Input::File(_) | Input::Stdin => None,
    };
    let opened = file::open(input, recorded)
        .map_err(AppError::io(format!("cannot read {}", input.name())))?;
    if opened.offset > 0 {
        tracing::info!(input = %input.name(), offset = opened.offset, lines = st.position.records, "resuming after the last checkpoint (the bytes before it are unchanged)");
        return Ok((opened, st.position.records));
    }
    if st.position.next_offset > 0 || !st.position.input.is_empty() {
        tracing::info!(
            previous = %st.position.input,
            input = %input.name(),
            why = opened.restart_reason.unwrap_or("stdin, or another file"),
            "not the input of the last checkpoint as it was: reading it from its start (what was counted is not counted again)"
        );
    }
    st.position.input = input.name();
    st.position.identity = None;
    st.position.next_offset = 0;
    st.position.records = 0;
    Ok((opened, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While the apply thread is held (its queue of one full), the reader
    /// goes on preparing the batch it holds, then waits: every message is
    /// counted once, whoever prepared it.
    #[test]
    fn a_reader_behind_a_full_queue_loses_nothing() {
        let (dir, monitor, stage) = super::super::stage::tests::started("reader-full", 1);
        let engine = monitor.lock().unwrap().engine().clone();
        let mut sink = Prepare {
            to: stage.sender(),
            engine,
        };
        let held = monitor.lock().unwrap();
        let reader = std::thread::spawn(move || {
            (0..4).all(|i| sink.send(Batch::of_incidents("t", 3, i * 1000, 1000)))
        });
        // The apply thread holds one batch and the channel another: the
        // reader's next finds the channel full.
        while stage.depth() < 2 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(held);
        assert!(reader.join().unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(stage.flush()).unwrap();
        let o = monitor.lock().unwrap().outcomes().clone();
        assert_eq!((o.accepted, o.duplicate), (4000, 0));
        rt.block_on(stage.stop()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
