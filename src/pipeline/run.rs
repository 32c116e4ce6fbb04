//! One run loop, whatever the source: a file, stdin or Kafka topics.
//!
//! A [`Source`] reads into apply stages on its own threads and tasks; the
//! loop only watches. It selects, in priority order, on shutdown, the
//! source's own events (its end, a failure, a drain over), the schedule
//! (figures to the endpoint, a checkpoint, progress) and a checkpoint
//! written (its positions go back to the source, which commits them
//! upstream where there is an upstream). Then the same finish for every
//! source: stop reading, apply what was read, write the last checkpoint,
//! publish the last figures, stop serving, sum up.
//!
//! A new source (another broker, a socket) is a [`Source`], not a loop.

use std::future::Future;
use std::time::{Duration, Instant};

use super::checkpoints::{Checkpointer, Positions};
use super::endpoint::Endpoint;
use super::schedule::{Schedule, Tick};
use super::{AppError, SharedMonitor, locked};
use crate::clock::wall_now_ms;
use crate::config::Config;
use crate::count::Monitor;
use crate::metrics::Metrics;
use crate::progress::{Progress, Snapshot};
use crate::state::Outcomes;

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

/// Why a run ends.
#[derive(Debug, Clone)]
pub(crate) enum End {
    /// Everything there was to read is read (a file's end, a drain's).
    Drained,
    /// A signal, or the reader stopped before the end.
    Shutdown,
    /// A drain gave up: what it reads cannot be reached (the line says
    /// why); the run ends with [`AppError::Unreachable`] after finishing.
    GaveUp(String),
}

/// What a run reads from. Each method is called from the loop's task, one
/// at a time; the reading itself happens elsewhere (a reader thread, the
/// consumers' tasks) into apply stages over the monitor.
pub(crate) trait Source {
    /// The source's own events: `Some(end)` when the run should end,
    /// `None` to go on, an error when reading failed. Awaited in a select
    /// beside the loop's other work, so it must be cancel-safe, and it is
    /// not awaited again once it returned an end or an error.
    fn next(&mut self) -> impl Future<Output = Result<Option<End>, AppError>> + Send;

    /// Progress of this run now.
    fn progress(&self, monitor: &Monitor) -> Snapshot;

    /// On the loop's metrics tick, after the figures: the source's own
    /// metrics (queue depth, lag, readiness); `Some(end)` when the run
    /// should end (a drain over, or given up).
    fn publish(&mut self, metrics: &Metrics) -> Option<End>;

    /// A checkpoint is durable and covers `positions`.
    fn checkpointed(&mut self, positions: &Positions);

    /// Stops reading; whatever was read is still applied by `finish`.
    fn stop(&mut self) -> impl Future<Output = Result<(), AppError>> + Send;

    /// Applies everything read, writes the last checkpoint through
    /// `checkpoints` (and commits it upstream), and returns the last
    /// progress of the run.
    fn finish(
        self,
        checkpoints: &mut Checkpointer,
        end: &End,
    ) -> impl Future<Output = Result<Snapshot, AppError>> + Send;
}

/// A run: a source and what every run does around it.
pub(crate) struct Run<S> {
    source: S,
    monitor: SharedMonitor,
    /// The HTTP endpoint, when the run serves one.
    endpoint: Option<Endpoint>,
    checkpoints: Checkpointer,
    schedule: Schedule,
    shown: Progress,
    started: Instant,
}

impl<S: Source> Run<S> {
    /// A run of `source` over `monitor`, timed from `started`: figures to
    /// the endpoint (if any) and checkpoints at the configured intervals,
    /// progress at its own.
    pub(crate) fn new(
        source: S,
        monitor: SharedMonitor,
        endpoint: Option<Endpoint>,
        shown: Progress,
        cfg: &Config,
        started: Instant,
    ) -> Run<S> {
        let schedule = Schedule::new(
            endpoint
                .is_some()
                .then(|| Duration::from_millis(cfg.metrics.update_interval_ms)),
            Duration::from_millis(cfg.state.checkpoint_interval_ms),
            (!shown.is_off()).then(|| shown.tick()),
        );
        Run {
            source,
            checkpoints: Checkpointer::new(monitor.clone()),
            monitor,
            endpoint,
            schedule,
            shown,
            started,
        }
    }

    /// Runs until the source ends or `shutdown`, then finishes. What was
    /// read is applied and checkpointed also when reading failed; the
    /// failure is returned after (and a failure to finish then is logged).
    pub(crate) async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<RunSummary, AppError> {
        let ended = self.until(shutdown).await;
        let stopped = self.source.stop().await;
        let end = ended.as_ref().map_or(End::Shutdown, Clone::clone);
        let summary = self.finish(end).await;
        match (ended, stopped, summary) {
            (Err(e), _, summary) | (Ok(_), Err(e), summary) => {
                if let Err(also) = summary {
                    tracing::error!(error = %also, "finishing the run after a failure failed too");
                }
                Err(e)
            }
            (Ok(_), Ok(()), summary) => summary,
        }
    }

    async fn until(&mut self, shutdown: impl Future<Output = ()>) -> Result<End, AppError> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    tracing::info!("shutdown requested: stop reading, checkpoint, commit");
                    return Ok(End::Shutdown);
                }
                next = self.source.next() => {
                    if let Some(end) = next? {
                        return Ok(end);
                    }
                }
                tick = self.schedule.next(!self.checkpoints.is_writing()) => {
                    if let Some(end) = self.on_tick(tick)? {
                        return Ok(end);
                    }
                }
                written = self.checkpoints.written() => {
                    let positions = written?;
                    if let Some(e) = &self.endpoint {
                        e.metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
                    }
                    self.source.checkpointed(&positions);
                }
            }
        }
    }

    fn on_tick(&mut self, tick: Tick) -> Result<Option<End>, AppError> {
        match tick {
            Tick::Checkpoint => self.checkpoints.start()?,
            Tick::Progress => {
                let now = self.source.progress(&*locked(&self.monitor, "monitor")?);
                self.shown.update(&now);
            }
            Tick::Publish => {
                if let Some(e) = self.endpoint.as_mut() {
                    e.publish(&mut *locked(&self.monitor, "monitor")?);
                    return Ok(self.source.publish(&e.metrics.clone()));
                }
            }
        }
        Ok(None)
    }

    /// The last checkpoint, the last figures, the summary.
    async fn finish(mut self, end: End) -> Result<RunSummary, AppError> {
        let last = self.source.finish(&mut self.checkpoints, &end).await?;
        self.shown.finish(&last);
        if let Some(mut e) = self.endpoint.take() {
            e.metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
            e.publish(&mut *locked(&self.monitor, "monitor")?);
            e.stop().await;
        }
        if let End::GaveUp(why) = end {
            return Err(AppError::Unreachable(why));
        }
        let m = locked(&self.monitor, "monitor")?;
        Ok(RunSummary {
            outcomes: m.outcomes_seen(),
            events_this_run: last.events,
            blank_lines: m.blank_lines(),
            elapsed: self.started.elapsed(),
            completed: matches!(end, End::Drained),
        })
    }
}
