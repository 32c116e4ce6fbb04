//! `run --input`: a file or stdin through the same path as Kafka.
//!
//! The reader thread reads and splits lines into batches and prepares
//! them (decode, classify: the costly half) on its core; the apply stage
//! commits them on the other (dedup, counts, positions), through the same
//! [`Monitor::apply`] as Kafka batches. The loop only watches: shutdown,
//! the schedule (metrics, checkpoints, progress), the checkpoint written,
//! and the reader's end.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::checkpoints::Checkpointer;
use super::endpoint::Endpoint;
use super::schedule::{Schedule, Tick};
use super::stage::{Stage, StageSender};
use super::{AppError, LiveReports, locked};
use crate::clock::wall_now_ms;
use crate::config::Settings;
use crate::count::{Batch, Engine, Monitor};
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::source::file::{self, Input, Sink};
use crate::state::{Outcomes, PartitionKey, StateBackend, StateStore};

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Counters over the whole state (this run and the runs before it).
    pub outcomes: Outcomes,
    /// Lines (or messages) handled by this run.
    pub events_this_run: u64,
    /// Blank lines of a file or stdin this run skipped (not messages).
    pub blank_lines: u64,
    /// How long the run took, start-up included.
    pub elapsed: Duration,
    /// Whether the input was read to its end (false: stopped by a signal).
    pub completed: bool,
}

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
            let reports = Arc::new(LiveReports {
                monitor: monitor.clone(),
                store: backend,
                who: cfg.report.clone(),
            });
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
    )?;
    let sink = Prepare {
        to: stage.sender(),
        engine: Engine::new(settings),
    };
    let reader = file::spawn(opened, cfg.events.max_event_bytes, sink)
        .map_err(AppError::io(format!("cannot read {}", input.name())))?;
    let watch = Watch {
        total_bytes: match &input {
            // Progress: bytes of the file (its length now) or lines of stdin.
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Input::Stdin => None,
        },
        baseline: locked(&monitor, "monitor")?.outcomes(),
        key,
        records_before,
    };
    let shown = Progress::new(progress, "run --input", Unit::Bytes);
    let schedule = Schedule::new(
        endpoint
            .is_some()
            .then(|| Duration::from_millis(cfg.metrics.update_interval_ms)),
        Duration::from_millis(cfg.state.checkpoint_interval_ms),
        (!shown.is_off()).then(|| shown.tick()),
    );
    let mut run = FileRun {
        checkpoints: Checkpointer::new(monitor.clone()),
        monitor,
        endpoint,
        stage,
        watch,
        shown,
        schedule,
    };
    let ended = run.until(reader, &input, shutdown).await;
    let (events_this_run, outcomes, blank_lines) = run.finish().await?;
    Ok(RunSummary {
        outcomes,
        events_this_run,
        blank_lines,
        elapsed: started.elapsed(),
        completed: ended?,
    })
}

/// The parts of a file run.
struct FileRun {
    monitor: Arc<Mutex<Monitor>>,
    endpoint: Option<Endpoint>,
    stage: Stage,
    checkpoints: Checkpointer,
    schedule: Schedule,
    watch: Watch,
    shown: Progress,
}

impl FileRun {
    /// Watches until the reader ends (`true`: at end of input) or shutdown
    /// (`false`); a read error is returned. The reader is stopped either way.
    async fn until(
        &mut self,
        mut reader: file::Reader,
        input: &Input,
        shutdown: impl Future<Output = ()>,
    ) -> Result<bool, AppError> {
        tokio::pin!(shutdown);
        let ended = loop {
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    tracing::info!("shutdown requested: checkpointing and stopping");
                    break Ok(false);
                }
                tick = self.schedule.next(!self.checkpoints.is_writing()) => self.on_tick(tick)?,
                written = self.checkpoints.written() => {
                    written?;
                    if let Some(e) = &self.endpoint {
                        e.metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
                    }
                }
                done = &mut reader.done => break match done {
                    Ok(Ok(complete)) => Ok(complete),
                    Ok(Err(e)) => Err(AppError::Io { what: format!("reading {} failed", input.name()), source: e }),
                    Err(_) => Err(AppError::Io {
                        what: "the input reader".into(),
                        source: std::io::Error::other("stopped unexpectedly"),
                    }),
                },
            }
        };
        reader.stop();
        ended
    }

    fn on_tick(&mut self, tick: Tick) -> Result<(), AppError> {
        match tick {
            Tick::Checkpoint => self.checkpoints.start()?,
            Tick::Publish => self.publish()?,
            Tick::Progress => {
                let s = self.watch.snapshot(&*locked(&self.monitor, "monitor")?);
                self.shown.update(&s);
            }
        }
        Ok(())
    }

    /// Everything handed over is counted and checkpointed (also after a
    /// read error, reported after); returns the lines of this run and the
    /// counters.
    async fn finish(mut self) -> Result<(u64, Outcomes, u64), AppError> {
        self.stage.stop().await?;
        let last = self.watch.snapshot(&*locked(&self.monitor, "monitor")?);
        self.shown.finish(&last);
        self.checkpoints.finish().await?;
        self.publish()?;
        if let Some(e) = self.endpoint.take() {
            e.stop().await;
        }
        let m = locked(&self.monitor, "monitor")?;
        Ok((last.events, m.outcomes(), m.blank_lines()))
    }

    /// Writes the monitor's figures into the endpoint's metrics.
    fn publish(&mut self) -> Result<(), AppError> {
        if let Some(e) = self.endpoint.as_mut() {
            e.publish(&mut *locked(&self.monitor, "monitor")?);
            e.metrics.set_queue_depth("input", self.stage.depth());
        }
        Ok(())
    }
}

/// The part of each batch the reader thread prepares (decodes and
/// classifies) before handing it over; the apply thread prepares the rest
/// and commits. Reading and splitting cost about a third of preparing and
/// committing about a third of it (perf, docs/benchmarks.md): half of the
/// preparing on each side keeps both cores about equally busy.
const READER_PREPARES: (usize, usize) = (1, 2);

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
        let n = batch.len() * num / den;
        batch.prepare_first(&mut self.engine, n);
        self.to.send_blocking(batch)
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

/// What the progress display shows of a file run.
struct Watch {
    key: PartitionKey,
    records_before: u64,
    total_bytes: Option<u64>,
    baseline: Outcomes,
}

impl Watch {
    fn snapshot(&self, m: &Monitor) -> Snapshot {
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
            duplicate: Some(o.duplicate.saturating_sub(b.duplicate)),
            invalid: Some(o.invalid_total().saturating_sub(b.invalid_total())),
            ..Snapshot::default()
        }
    }
}
