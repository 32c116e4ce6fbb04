//! `run --input`: the thin async loop around the monitor.
//!
//! Selects, in priority order, on shutdown, the checkpoint tick and the next
//! batch from the source. Applying a batch is synchronous and bounded (one
//! batch of at most a few thousand lines), so the loop stays responsive.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::endpoint::Endpoint;
use super::{AppError, LiveReports, Monitor};
use crate::config::Settings;
use crate::pipeline::{Engine, wall_now_ms};
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::source::file::{self, Input, Resume, SourceMsg};
use crate::state::{Outcomes, PartitionKey, StateStore};

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Counters over the whole state (this run and the runs before it).
    pub outcomes: Outcomes,
    /// Lines (or messages) handled by this run.
    pub events_this_run: u64,
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
    let _lock = store.lock().map_err(|e| AppError::Runtime(e.to_string()))?;
    let interval = Duration::from_millis(settings.config.state.checkpoint_interval_ms);
    let mut update = tokio::time::interval(Duration::from_millis(
        settings.config.metrics.update_interval_ms,
    ));
    update.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max_line = settings.config.events.max_event_bytes;
    let who = settings.config.report.clone();
    let endpoint_settings = settings.clone();
    // Shared only with the /report handler, which copies ledgers under the
    // lock; the loop is its only other user.
    let monitor = Arc::new(Mutex::new(
        Monitor::open(Engine::new(settings), store.clone())
            .map_err(|e| AppError::Runtime(e.to_string()))?,
    ));
    let mut endpoint = match metrics_addr {
        Some(addr) => {
            let reports = Arc::new(LiveReports {
                monitor: monitor.clone(),
                store,
                who,
            });
            let e = Endpoint::start(&endpoint_settings, &addr, reports).await?;
            e.metrics.set_ready(true, "");
            Some(e)
        }
        None => None,
    };
    let lock = || {
        monitor
            .lock()
            .map_err(|_| AppError::Runtime("monitor lock poisoned".into()))
    };
    let key = PartitionKey::input();
    let wall = wall_now_ms();
    let (resume, records_before) = {
        let mut guard = lock()?;
        let st = guard
            .partition(&key, wall)
            .map_err(|e| AppError::Runtime(e.to_string()))?;
        // The same file resumes after its checkpoint; another file, the same
        // path holding other data, and stdin start at the beginning, with
        // the same counts and dedup memory (so the same incidents again
        // count nothing twice, and a new stream counts every incident).
        let same = match &input {
            Input::Stdin => false,
            Input::File(path) => {
                st.position.input == input.name()
                    && file::is_same_file(path, st.position.identity, st.position.next_offset)
                        .map_err(|e| {
                            AppError::Runtime(format!("cannot read {}: {e}", input.name()))
                        })?
            }
        };
        let resume = if same {
            Resume {
                offset: st.position.next_offset,
            }
        } else {
            if st.position.next_offset > 0 || !st.position.input.is_empty() {
                tracing::info!(
                    previous = %st.position.input,
                    input = %input.name(),
                    "not the input of the last checkpoint (stdin, another file, or the same path with other data): reading it from its start"
                );
            }
            st.position.input = input.name();
            st.position.identity = match &input {
                Input::Stdin => None,
                Input::File(path) => Some(file::identify(path).map_err(|e| {
                    AppError::Runtime(format!("cannot read {}: {e}", input.name()))
                })?),
            };
            st.position.next_offset = 0;
            st.position.records = 0;
            Resume::default()
        };
        if resume.offset > 0 {
            tracing::info!(input = %input.name(), offset = resume.offset, lines = st.position.records, "resuming after the last checkpoint");
        }
        (resume, st.position.records)
    };
    let mut rx = file::spawn(input.clone(), resume, max_line, 8)
        .map_err(|e| AppError::Runtime(format!("cannot read {}: {e}", input.name())))?;

    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // Progress: bytes of the file (its length now) or lines of stdin.
    let total_bytes = match &input {
        Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        Input::Stdin => None,
    };
    let baseline = lock()?.outcomes();
    let mut shown = Progress::new(progress, "run --input", Unit::Bytes);
    let mut progress_tick = tokio::time::interval(shown.tick());
    progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    progress_tick.tick().await;
    let snapshot = |m: &Monitor| -> Snapshot {
        let (done, records) = m
            .partitions()
            .find(|p| p.key == key)
            .map_or((0, records_before), |p| {
                (p.position.next_offset, p.position.records)
            });
        let o = m.outcomes();
        Snapshot {
            events: records.saturating_sub(records_before),
            done,
            total: total_bytes,
            accepted: Some(o.accepted.saturating_sub(baseline.accepted)),
            duplicate: Some(o.duplicate.saturating_sub(baseline.duplicate)),
            invalid: Some(o.invalid_total().saturating_sub(baseline.invalid_total())),
            ..Snapshot::default()
        }
    };
    tokio::pin!(shutdown);
    let runtime = |e: super::MonitorError| AppError::Runtime(e.to_string());
    let completed = loop {
        tokio::select! {
            biased;
            () = &mut shutdown => {
                tracing::info!("shutdown requested: checkpointing and stopping");
                break false;
            }
            _ = tick.tick() => {
                lock()?.checkpoint(wall_now_ms()).map_err(runtime)?;
                if let Some(e) = &endpoint {
                    e.metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
                }
            }
            _ = update.tick(), if endpoint.is_some() => {
                if let Some(e) = endpoint.as_mut() {
                    e.publish(&mut *lock()?);
                    e.metrics.set_queue_depth("input", rx.len());
                }
            }
            _ = progress_tick.tick(), if !shown.is_off() => {
                let s = snapshot(&*lock()?);
                shown.update(&s);
            }
            msg = rx.recv() => match msg {
                Some(SourceMsg::Batch(b)) => {
                    lock()?.apply_batch(&key, b.iter(), b.end_offset, wall_now_ms()).map_err(runtime)?;
                }
                Some(SourceMsg::End) => break true,
                Some(SourceMsg::Failed(e)) => {
                    // Keep what was applied, then report the failure.
                    lock()?.checkpoint(wall_now_ms()).map_err(runtime)?;
                    return Err(AppError::Runtime(format!("reading {} failed: {e}", input.name())));
                }
                None => return Err(AppError::Runtime("the input reader stopped unexpectedly".into())),
            }
        }
    };
    drop(rx);
    let last = snapshot(&*lock()?);
    shown.finish(&last);
    lock()?.checkpoint(wall_now_ms()).map_err(runtime)?;
    if let Some(mut e) = endpoint {
        e.publish(&mut *lock()?);
        e.stop().await;
    }
    let guard = lock()?;
    Ok(RunSummary {
        outcomes: guard.outcomes(),
        events_this_run: last.events,
        elapsed: started.elapsed(),
        completed,
    })
}
