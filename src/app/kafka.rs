//! `run` on Kafka: the thin async loop around the monitor.
//!
//! One task selects, in priority order, on shutdown, the metrics tick, the
//! checkpoint tick and the next message. Applying a message is synchronous
//! and short; rebalance callbacks run inside `recv` on this same task and
//! checkpoint revoked partitions before they move. The HTTP endpoint runs on
//! its own tasks and only reads what the loop publishes.
//!
//! Shutdown order: stop consuming, checkpoint, commit (synchronously), flush
//! the dead-letter producer, stop serving; bounded by `drain_timeout_secs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::{AppError, LiveReports, Monitor, RunSummary, Stage};
use crate::config::{KafkaConfig, Settings};
use crate::metrics::Metrics;
use crate::pipeline::{Engine, wall_now_ms};
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::source::kafka::{BrokerHealth, DeadLetter, MonitorContext, commit, consumer_config};
use crate::state::{PartitionKey, StateStore};

/// Options of a Kafka run.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Stop once every assigned partition is drained.
    pub until_end: bool,
    /// Metrics endpoint address (port 0: any free port).
    pub metrics_addr: String,
    /// Progress of a drain (`until_end`).
    pub progress: ProgressMode,
}

/// Handed to the caller once the loop is running (the demo and tests use it).
#[derive(Clone)]
pub struct Started {
    pub metrics: Arc<Metrics>,
    pub monitor: Arc<Mutex<Monitor>>,
    pub metrics_addr: std::net::SocketAddr,
}

fn rt(e: impl std::fmt::Display) -> AppError {
    AppError::Runtime(e.to_string())
}

/// Consumes the configured topic until `shutdown` (or, with `until_end`,
/// until every assigned partition is drained).
pub async fn run_kafka(
    settings: Settings,
    store: StateStore,
    opts: KafkaOptions,
    shutdown: CancellationToken,
    started: Option<oneshot::Sender<Started>>,
) -> Result<RunSummary, AppError> {
    let cfg = settings.config.clone();
    let k: KafkaConfig = cfg.kafka.clone();
    // Settings librdkafka refuses are a configuration error, found before
    // anything is opened or written.
    crate::source::kafka::check_properties(&k).map_err(|e| {
        AppError::Usage(format!(
            "kafka.properties: librdkafka refuses this configuration: {e}"
        ))
    })?;
    let endpoint_settings = settings.clone();
    let monitor = Arc::new(Mutex::new(
        Monitor::open(Engine::new(settings), store.clone()).map_err(rt)?,
    ));
    let writer = store.clone();
    let reports = Arc::new(LiveReports {
        monitor: monitor.clone(),
        store,
        who: cfg.report.clone(),
    });
    let mut endpoint = Endpoint::start(&endpoint_settings, &opts.metrics_addr, reports).await?;
    let metrics = endpoint.metrics.clone();
    let dead_letter = if k.dead_letter_topic.is_empty() {
        None
    } else {
        Some(
            DeadLetter::new(&k, metrics.clone())
                .map_err(|e| AppError::Usage(format!("dead-letter producer: {e}")))?,
        )
    };
    let stage = Arc::new(Stage::start(
        monitor.clone(),
        metrics.clone(),
        dead_letter,
        k.topic.clone(),
    )?);
    let ctx = MonitorContext {
        monitor: monitor.clone(),
        stage: stage.clone(),
        metrics: metrics.clone(),
        topic: k.topic.clone(),
        lag: Mutex::new(BTreeMap::new()),
        assigned: Mutex::new(Vec::new()),
        brokers: Mutex::new(BrokerHealth::new(Instant::now())),
    };
    let consumer: StreamConsumer<MonitorContext> = consumer_config(&k)
        .create_with_context(ctx)
        .map_err(|e| AppError::Usage(format!("invalid Kafka configuration: {e}")))?;
    consumer
        .subscribe(&[k.topic.as_str()])
        .map_err(|e| AppError::Usage(format!("cannot subscribe to {:?}: {e}", k.topic)))?;
    tracing::info!(brokers = %k.brokers, topic = %k.topic, group = %k.group_id, "consuming");
    if let Some(tx) = started {
        let _ = tx.send(Started {
            metrics: metrics.clone(),
            monitor: monitor.clone(),
            metrics_addr: endpoint.addr,
        });
    }

    let mut update = tokio::time::interval(Duration::from_millis(cfg.metrics.update_interval_ms));
    update.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checkpoint =
        tokio::time::interval(Duration::from_millis(cfg.state.checkpoint_interval_ms));
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checkpoint.tick().await;

    let run_started = Instant::now();
    let mut shown = Progress::new(opts.progress, "run --until-end", Unit::Messages);
    let mut progress_tick = tokio::time::interval(shown.tick());
    progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    progress_tick.tick().await;
    // Messages read by this run against those read plus the lag still
    // ahead. Not the outcome counters: they include each assigned
    // partition's restored history.
    let snapshot = |read: u64, lag: Option<u64>| Snapshot {
        events: read,
        done: read,
        total: lag.map(|l| read + l),
        lag,
        ..Snapshot::default()
    };
    let mut eof: BTreeSet<i32> = BTreeSet::new();
    let mut errors_in_a_row = 0u32;
    // Throughput of this run, from the first message (excludes group join).
    let mut first_message: Option<Instant> = None;
    let mut messages_this_run = 0u64;
    let mut last_error = String::new();
    let max_backoff = Duration::from_secs(k.max_retry_backoff_secs);
    // The checkpoint being written off the loop (one at a time): its
    // positions are committed once it is on disk.
    let mut writing: Option<Writing> = None;
    let connect_timeout = Duration::from_secs(k.connect_timeout_secs);
    // Why a drain (`--until-end`) gave up, if it did.
    let mut gave_up: Option<String> = None;

    let completed = 'consume: loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                tracing::info!("shutdown requested: stop consuming, checkpoint, commit");
                break false;
            }
            _ = progress_tick.tick(), if !shown.is_off() => {
                let lag = lag_total(&held_lags(consumer.context()));
                shown.update(&snapshot(messages_this_run, lag));
            }
            _ = update.tick() => {
                endpoint.publish(&mut *monitor.lock().map_err(|_| rt("monitor lock poisoned"))?);
                metrics.set_lag(&k.topic, &held_lags(consumer.context()));
                metrics.set_queue_depth("apply", stage.depth());
                match not_ready(consumer.context(), &k.brokers, &last_error, errors_in_a_row) {
                    Some(why) => metrics.set_ready(false, &why),
                    None => metrics.set_ready(true, ""),
                }
                if opts.until_end && let Some(why) = give_up(&consumer, &k.brokers, connect_timeout) {
                    gave_up = Some(why);
                    break false;
                }
            }
            _ = checkpoint.tick(), if writing.is_none() => {
                // On a blocking thread, partition by partition: the monitor
                // lock is held to encode one partition (sequential reads, a
                // few ms per million ids), not to write and fsync it, and
                // one encoded partition is in memory at a time.
                let keys = monitor.lock().map_err(|_| rt("monitor lock poisoned"))?.take_dirty();
                let (monitor, writer) = (monitor.clone(), writer.clone());
                writing = Some(tokio::task::spawn_blocking(move || {
                    let mut positions = Vec::new();
                    for key in keys {
                        let cp = monitor.lock().map_err(|_| rt("monitor lock poisoned"))?.checkpoint_of(&key, wall_now_ms());
                        if let Some(cp) = cp {
                            writer.write(&cp).map_err(rt)?;
                            positions.push((cp.key, cp.next_offset));
                        }
                    }
                    Ok(positions)
                }));
            }
            written = finished(&mut writing) => {
                writing = None;
                let positions = written.map_err(|e| rt(format!("checkpoint task failed: {e}")))??;
                // Unchanged partitions need no write: the state on disk is
                // current as of now, which is what the staleness alert asks.
                metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
                // A partition revoked meanwhile was committed on release.
                let held: Vec<_> = {
                    let m = monitor.lock().map_err(|_| rt("monitor lock poisoned"))?;
                    positions.into_iter().filter(|(key, _)| m.holds(key)).collect()
                };
                if let Err(e) = commit(&consumer, &k.topic, &held, CommitMode::Async) {
                    // Not fatal: the checkpoint is the source of truth; lag
                    // tools see progress at the next successful commit.
                    tracing::debug!(error = %e, "offset commit failed");
                }
            }
            msg = consumer.recv() => {
                // Take what librdkafka already holds without going back
                // through `select!` for each message (no timer polls per
                // message), copy it to the apply stage, and hand the batch
                // over when nothing more is ready. Bounded, so ticks and
                // shutdown are still seen at least every BATCH messages.
                let mut next = Some(msg);
                let mut taken = 0;
                while let Some(msg) = next.take() {
                    match msg {
                        Ok(m) => {
                            errors_in_a_row = 0;
                            messages_this_run += 1;
                            first_message.get_or_insert_with(Instant::now);
                            stage.push(&m)?;
                            eof.remove(&m.partition());
                        }
                        Err(KafkaError::PartitionEOF(p)) => {
                            eof.insert(p);
                            if opts.until_end {
                                let assigned = consumer.context().assigned.lock().map(|a| a.clone()).unwrap_or_default();
                                if !assigned.is_empty() && assigned.iter().all(|a| eof.contains(a)) {
                                    // Drained means applied, not only read.
                                    stage.flush()?;
                                    let secs = first_message.map_or(0.0, |t| t.elapsed().as_secs_f64());
                                    tracing::info!(
                                        partitions = ?assigned,
                                        messages = messages_this_run,
                                        secs_since_first_message = secs,
                                        messages_per_sec = if secs > 0.0 { messages_this_run as f64 / secs } else { 0.0 },
                                        "every assigned partition is drained"
                                    );
                                    break 'consume true;
                                }
                            }
                        }
                        Err(e) => {
                            errors_in_a_row += 1;
                            last_error = e.to_string();
                            let backoff = Duration::from_secs(1 << errors_in_a_row.min(6)).min(max_backoff);
                            if errors_in_a_row <= 3 || errors_in_a_row.is_power_of_two() {
                                tracing::warn!(error = %e, attempt = errors_in_a_row, backoff_secs = backoff.as_secs(), "consumer error; retrying");
                            }
                            let why = not_ready(consumer.context(), &k.brokers, &last_error, errors_in_a_row);
                            metrics.set_ready(false, &why.unwrap_or_default());
                            if opts.until_end && let Some(why) = give_up(&consumer, &k.brokers, connect_timeout) {
                                gave_up = Some(why);
                                break 'consume false;
                            }
                            // A drain wakes up in time to give up on time.
                            let backoff = if opts.until_end { backoff.min(Duration::from_secs(1)) } else { backoff };
                            tokio::select! {
                                () = shutdown.cancelled() => {}
                                () = tokio::time::sleep(backoff) => {}
                            }
                            break;
                        }
                    }
                    taken += 1;
                    if taken < BATCH {
                        next = ready_now(consumer.recv());
                    }
                }
                stage.send_pending()?;
            }
        }
    };

    let last_lag = lag_total(&held_lags(consumer.context()));
    // Drain: bounded, so a dead broker cannot hold the process forever.
    let drain = Duration::from_secs(k.drain_timeout_secs);
    let result = tokio::time::timeout(drain, async {
        // A background checkpoint first: the final commit must not name a
        // position whose checkpoint is not on disk yet.
        if let Some(w) = writing.take() {
            w.await
                .map_err(|e| rt(format!("checkpoint task failed: {e}")))??;
        }
        let monitor = monitor.clone();
        let metrics = metrics.clone();
        let topic = k.topic.clone();
        let stage = stage.clone();
        tokio::task::spawn_blocking(move || {
            stage.flush()?;
            let r = checkpoint_and_commit(&monitor, &consumer, &topic, &metrics);
            drop(consumer);
            r
        })
        .await
        .map_err(|e| rt(format!("final checkpoint task failed: {e}")))?
    })
    .await;
    match result {
        Ok(r) => r?,
        Err(_) => tracing::error!(
            timeout_secs = drain.as_secs(),
            "final checkpoint and commit did not finish in time; the next start resumes from the last completed checkpoint"
        ),
    }
    // Last owner of the stage: its thread flushes the dead-letter producer
    // and ends.
    drop(stage);
    let outcomes = monitor
        .lock()
        .map(|m| m.outcomes_seen())
        .unwrap_or_default();
    // Drained: nothing is left, whatever the last statistics said.
    shown.finish(&snapshot(
        messages_this_run,
        if completed { Some(0) } else { last_lag },
    ));
    if let Ok(mut m) = monitor.lock() {
        endpoint.publish(&mut m);
    }
    endpoint.stop().await;
    if let Some(why) = gave_up {
        return Err(rt(why));
    }
    Ok(RunSummary {
        outcomes,
        events_this_run: messages_this_run,
        elapsed: run_started.elapsed(),
        completed,
    })
}

/// The lag of each partition held, from the last statistics (known lags
/// only: never negative).
fn held_lags(ctx: &MonitorContext) -> Vec<(i32, i64)> {
    let assigned = ctx.assigned.lock().map(|a| a.clone()).unwrap_or_default();
    let Ok(lag) = ctx.lag.lock() else {
        return Vec::new();
    };
    lag.iter()
        .filter(|(p, _)| assigned.contains(p))
        .map(|(p, l)| (*p, *l))
        .collect()
}

/// Summed lag; `None` before the statistics know any.
fn lag_total(lags: &[(i32, i64)]) -> Option<u64> {
    (!lags.is_empty()).then(|| {
        lags.iter()
            .map(|(_, l)| u64::try_from(*l).unwrap_or(0))
            .sum()
    })
}

/// Why the consumer is not ready, if it is not: brokers that cannot be
/// reached (named), no partition yet, or errors in a row.
fn not_ready(
    ctx: &MonitorContext,
    brokers: &str,
    last_error: &str,
    errors_in_a_row: u32,
) -> Option<String> {
    if let Some(why) = ctx.brokers.lock().ok().and_then(|b| b.unreachable()) {
        return Some(format!("{why} (brokers: {brokers})"));
    }
    if errors_in_a_row > 0 {
        return Some(format!("consumer errors: {last_error}"));
    }
    let unassigned = ctx.assigned.lock().map_or(true, |a| a.is_empty());
    unassigned.then(|| "waiting for a partition assignment from the group".to_owned())
}

/// Why a drain should stop waiting: no broker has been reachable for
/// `timeout`; the line names them.
fn give_up(
    consumer: &StreamConsumer<MonitorContext>,
    configured: &str,
    timeout: Duration,
) -> Option<String> {
    let b = consumer.context().brokers.lock().ok()?;
    let down = b.down_for(Instant::now())?;
    if down < timeout {
        return None;
    }
    let why = b.unreachable()?;
    Some(format!(
        "gave up after {} s (kafka.connect_timeout_secs): {why}; brokers configured: {configured}; \
         check --brokers / kafka.brokers and that they are running",
        down.as_secs()
    ))
}

/// Messages taken from librdkafka per turn of the loop, at most.
const BATCH: usize = super::stage::BATCH;

/// The output of a future if it is ready now, without waiting. The waker is
/// a no-op: a pending future is dropped and polled afresh by the loop.
fn ready_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// A checkpoint being written; gives the positions it wrote.
type Writing = tokio::task::JoinHandle<Result<Vec<(PartitionKey, u64)>, AppError>>;

/// Resolves when the task in `slot` finishes; never if there is none.
async fn finished<T>(
    slot: &mut Option<tokio::task::JoinHandle<T>>,
) -> Result<T, tokio::task::JoinError> {
    match slot {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// Checkpoints changed partitions now, then commits the checkpointed
/// positions synchronously (the last step of a run).
fn checkpoint_and_commit(
    monitor: &Mutex<Monitor>,
    consumer: &StreamConsumer<MonitorContext>,
    topic: &str,
    metrics: &Metrics,
) -> Result<(), AppError> {
    let positions = {
        let mut m = monitor.lock().map_err(|_| rt("monitor lock poisoned"))?;
        m.checkpoint(wall_now_ms()).map_err(rt)?;
        metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
        m.checkpointed_positions()
    };
    if let Err(e) = commit(consumer, topic, &positions, CommitMode::Sync) {
        tracing::debug!(error = %e, "offset commit failed");
    }
    Ok(())
}
