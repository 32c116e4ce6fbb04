//! `run` on Kafka: the thin async loop around the consumer.
//!
//! One task selects, in priority order, on shutdown, the schedule (metrics,
//! checkpoints, progress), a checkpoint written (then its positions are
//! committed), the end of a backoff, and the next messages. Each arm is a
//! call: consuming is [`consume`], rebalances are [`context`], checkpoints
//! `app::checkpoints`, publishing [`Publisher`]. Parsing and counting run on
//! the apply stage's thread; the HTTP endpoint on its own tasks, reading
//! only what the loop publishes.
//!
//! Shutdown order: stop consuming, apply what was consumed, checkpoint,
//! commit (synchronously), flush the dead-letter producer, stop serving;
//! bounded by `drain_timeout_secs`.

mod consume;
mod context;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use self::consume::{Consume, Step};
use self::context::MonitorContext;
use super::checkpoints::{Checkpointer, Positions};
use super::endpoint::Endpoint;
use super::schedule::{Schedule, Tick};
use super::stage::RejectSink;
use super::{AppError, LiveReports, RunSummary, Stage, StateChoice, locked};
use crate::clock::wall_now_ms;
use crate::config::{KafkaConfig, Settings};
use crate::count::{Batch, Item, Monitor};
use crate::event::Reject;
use crate::metrics::Metrics;
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::source::kafka::{DeadLetter, commit, consumer_config, partition_key};
use crate::state::StateBackend;
use crate::state_topic::TopicStore;

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

/// How a consume loop ended.
enum End {
    Drained,
    Shutdown,
    /// A drain gave up: no broker could be reached (the line says which).
    GaveUp(String),
}

/// Consumes the configured topic until `shutdown` (or, with `until_end`,
/// until every assigned partition is drained).
pub async fn run_kafka(
    settings: Settings,
    state: StateChoice,
    opts: KafkaOptions,
    shutdown: CancellationToken,
    started: Option<oneshot::Sender<Started>>,
) -> Result<RunSummary, AppError> {
    let k: KafkaConfig = settings.config.kafka.clone();
    // Settings librdkafka refuses are a configuration error, found before
    // anything is opened or written.
    crate::source::kafka::check_properties(&k).map_err(|e| {
        AppError::Usage(format!(
            "kafka.properties: librdkafka refuses this configuration: {e}"
        ))
    })?;
    let backend: Arc<dyn StateBackend> = match state {
        StateChoice::Dir(store) => Arc::new(store),
        StateChoice::Topic(topic) => {
            Arc::new(TopicStore::connect(&k, &topic, &owner_name(&k)).await?)
        }
    };
    let monitor = super::open_monitor(&settings, backend.clone()).await?;
    let reports = Arc::new(LiveReports {
        monitor: monitor.clone(),
        store: backend,
        who: settings.config.report.clone(),
    });
    let endpoint = Endpoint::start(&settings, &opts.metrics_addr, reports).await?;
    let stage = Arc::new(start_stage(&k, &monitor, &endpoint.metrics)?);
    let consumer = subscribe(&k, stage.clone())?;
    if let Some(tx) = started {
        let _ = tx.send(Started {
            metrics: endpoint.metrics.clone(),
            monitor: monitor.clone(),
            metrics_addr: endpoint.addr,
        });
    }
    let shown = Progress::new(opts.progress, "run --until-end", Unit::Messages);
    let mut run = Loop {
        schedule: Schedule::new(
            Some(Duration::from_millis(
                settings.config.metrics.update_interval_ms,
            )),
            Duration::from_millis(settings.config.state.checkpoint_interval_ms),
            (!shown.is_off()).then(|| shown.tick()),
        ),
        shown,
        checkpoints: Checkpointer::new(monitor.clone()),
        consume: Consume::new(
            opts.until_end,
            Duration::from_secs(k.max_retry_backoff_secs),
        ),
        backoff: None,
        until_end: opts.until_end,
        started: Instant::now(),
        publisher: Publisher {
            endpoint,
            monitor,
            brokers: k.brokers.clone(),
            topic: k.topic.clone(),
            connect_timeout: Duration::from_secs(k.connect_timeout_secs),
        },
        consumer,
        stage,
        k,
    };
    let end = run.until(&shutdown).await?;
    run.finish(end).await
}

/// Who claims partitions in the state topic: the static member id, else
/// the host, and the process.
fn owner_name(k: &KafkaConfig) -> String {
    let host = if k.group_instance_id.is_empty() {
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned())
    } else {
        k.group_instance_id.clone()
    };
    format!("{host}/{}", std::process::id())
}

/// The apply stage of a Kafka run, with its dead letters if configured.
fn start_stage(
    k: &KafkaConfig,
    monitor: &Arc<Mutex<Monitor>>,
    metrics: &Arc<Metrics>,
) -> Result<Stage, AppError> {
    let dead_letters: Option<Box<dyn RejectSink>> = if k.dead_letter_topic.is_empty() {
        None
    } else {
        let producer = DeadLetter::new(k, metrics.clone())
            .map_err(|e| AppError::Usage(format!("dead-letter producer: {e}")))?;
        Some(Box::new(DeadLetters {
            producer,
            topic: k.topic.clone(),
        }))
    };
    let source = partition_key(&k.topic, 0).source;
    Ok(Stage::start(
        monitor.clone(),
        Some(metrics.clone()),
        dead_letters,
        source.as_str().into(),
    )?)
}

/// The consumer, subscribed, its rebalances handled through `stage`.
fn subscribe(
    k: &KafkaConfig,
    stage: Arc<Stage>,
) -> Result<StreamConsumer<MonitorContext>, AppError> {
    let handover = Duration::from_secs(k.drain_timeout_secs);
    let ctx = MonitorContext::new(stage, &k.topic, handover);
    let consumer: StreamConsumer<MonitorContext> = consumer_config(k)
        .create_with_context(ctx)
        .map_err(|e| AppError::Usage(format!("invalid Kafka configuration: {e}")))?;
    consumer
        .subscribe(&[k.topic.as_str()])
        .map_err(|e| AppError::Usage(format!("cannot subscribe to {:?}: {e}", k.topic)))?;
    tracing::info!(brokers = %k.brokers, topic = %k.topic, group = %k.group_id, "consuming");
    Ok(consumer)
}

/// The consume loop's parts.
struct Loop {
    consumer: StreamConsumer<MonitorContext>,
    stage: Arc<Stage>,
    publisher: Publisher,
    schedule: Schedule,
    checkpoints: Checkpointer,
    consume: Consume,
    shown: Progress,
    /// Until when the consumer backs off after an error.
    backoff: Option<tokio::time::Instant>,
    until_end: bool,
    started: Instant,
    k: KafkaConfig,
}

impl Loop {
    /// Runs until shutdown, a drain's end, or a drain giving up.
    async fn until(&mut self, shutdown: &CancellationToken) -> Result<End, AppError> {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    tracing::info!("shutdown requested: stop consuming, checkpoint, commit");
                    return Ok(End::Shutdown);
                }
                tick = self.schedule.next(!self.checkpoints.is_writing()) => {
                    if let Some(end) = self.on_tick(tick)? {
                        return Ok(end);
                    }
                }
                written = self.checkpoints.written() => {
                    commit_checkpointed(&self.consumer, &self.k.topic, &self.publisher.endpoint.metrics, written?);
                }
                () = sleep_until(self.backoff), if self.backoff.is_some() => self.backoff = None,
                msg = self.consumer.recv(), if self.backoff.is_none() => {
                    let step = self.consume.turn(msg, &self.consumer, &self.stage).await?;
                    if let Some(end) = self.on_step(step) {
                        return Ok(end);
                    }
                }
            }
        }
    }

    fn on_tick(&mut self, tick: Tick) -> Result<Option<End>, AppError> {
        match tick {
            Tick::Checkpoint => self.checkpoints.start()?,
            Tick::Progress => {
                let lag = lag_total(&held_lags(self.consumer.context()));
                self.shown.update(&progress(self.consume.messages, lag));
            }
            Tick::Publish => {
                let why = self.publisher.publish(
                    &self.consumer,
                    &self.stage,
                    &self.consume,
                    self.until_end,
                )?;
                return Ok(why.map(End::GaveUp));
            }
        }
        Ok(None)
    }

    fn on_step(&mut self, step: Step) -> Option<End> {
        match step {
            Step::More => None,
            Step::Drained => Some(End::Drained),
            Step::Backoff(d) => {
                let give_up = self
                    .publisher
                    .failing(&self.consumer, &self.consume, self.until_end);
                self.backoff = Some(tokio::time::Instant::now() + d);
                give_up.map(End::GaveUp)
            }
        }
    }

    /// Drains, publishes the last figures, stops serving, and sums up.
    async fn finish(mut self, end: End) -> Result<RunSummary, AppError> {
        let last_lag = lag_total(&held_lags(self.consumer.context()));
        let metrics = self.publisher.endpoint.metrics.clone();
        drain(
            self.consumer,
            &self.stage,
            &mut self.checkpoints,
            &self.k,
            &metrics,
        )
        .await?;
        let monitor = &self.publisher.monitor;
        let outcomes = locked(monitor, "monitor")?.outcomes_seen();
        // Drained: nothing is left, whatever the last statistics said.
        let drained = matches!(end, End::Drained);
        let lag = if drained { Some(0) } else { last_lag };
        self.shown.finish(&progress(self.consume.messages, lag));
        self.publisher
            .endpoint
            .publish(&mut *locked(monitor, "monitor")?);
        self.publisher.endpoint.stop().await;
        if let End::GaveUp(why) = end {
            return Err(AppError::Unreachable(why));
        }
        Ok(RunSummary {
            outcomes,
            events_this_run: self.consume.messages,
            elapsed: self.started.elapsed(),
            completed: drained,
        })
    }
}

/// The end of a run, bounded by `drain_timeout_secs` so a dead broker
/// cannot hold the process: everything consumed is applied, checkpointed
/// and its positions committed; the consumer is dropped (leaving the group)
/// off the runtime's workers; then the stage stops.
async fn drain(
    consumer: StreamConsumer<MonitorContext>,
    stage: &Stage,
    checkpoints: &mut Checkpointer,
    k: &KafkaConfig,
    metrics: &Metrics,
) -> Result<(), AppError> {
    let limit = Duration::from_secs(k.drain_timeout_secs);
    let done = tokio::time::timeout(limit, async {
        stage.flush().await?;
        let positions = checkpoints.finish().await?;
        metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
        let topic = k.topic.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = commit(&consumer, &topic, &positions, CommitMode::Sync) {
                tracing::debug!(error = %e, "offset commit failed");
            }
            // Leaving the group revokes what is held: released through
            // the stage, still running.
            drop(consumer);
        })
        .await
        .map_err(|source| AppError::Task {
            what: "final commit",
            source,
        })?;
        // Last: the dead-letter producer is flushed as the stage ends.
        Ok(stage.stop().await?)
    })
    .await;
    match done {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(
                timeout_secs = limit.as_secs(),
                "final checkpoint and commit did not finish in time; the next start resumes from the last completed checkpoint"
            );
            Ok(())
        }
    }
}

/// Commits the positions a background checkpoint wrote. Not fatal when it
/// fails: the checkpoint is the source of truth; lag tools see progress at
/// the next successful commit.
fn commit_checkpointed(
    consumer: &StreamConsumer<MonitorContext>,
    topic: &str,
    metrics: &Metrics,
    positions: Positions,
) {
    // Unchanged partitions need no write: the state is current as of now,
    // which is what the staleness alert asks.
    metrics.set_last_checkpoint(wall_now_ms() as f64 / 1000.0);
    if let Err(e) = commit(consumer, topic, &positions, CommitMode::Async) {
        tracing::debug!(error = %e, "offset commit failed");
    }
}

/// Sleeps until `at`; never without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Progress of a drain: messages read by this run against those read plus
/// the lag still ahead. Not the outcome counters: they include each
/// assigned partition's restored history.
fn progress(read: u64, lag: Option<u64>) -> Snapshot {
    Snapshot {
        events: read,
        done: read,
        total: lag.map(|l| read + l),
        lag,
        ..Snapshot::default()
    }
}

/// What the loop publishes on its metrics tick, and whether a drain should
/// give up.
struct Publisher {
    endpoint: Endpoint,
    monitor: Arc<Mutex<Monitor>>,
    brokers: String,
    topic: String,
    connect_timeout: Duration,
}

impl Publisher {
    /// Figures, lag, queue depth and readiness; `Some(why)` when a drain
    /// should give up.
    fn publish(
        &mut self,
        consumer: &StreamConsumer<MonitorContext>,
        stage: &Stage,
        consume: &Consume,
        until_end: bool,
    ) -> Result<Option<String>, AppError> {
        self.endpoint
            .publish(&mut *locked(&self.monitor, "monitor")?);
        let m = &self.endpoint.metrics;
        m.set_lag(&self.topic, &held_lags(consumer.context()));
        m.keep_last_record(&self.topic, &consumer.context().assigned());
        m.set_queue_depth("apply", stage.depth());
        Ok(self.failing(consumer, consume, until_end))
    }

    /// Readiness now; `Some(why)` when a drain should give up.
    fn failing(
        &self,
        consumer: &StreamConsumer<MonitorContext>,
        consume: &Consume,
        until_end: bool,
    ) -> Option<String> {
        let ctx = consumer.context();
        match not_ready(ctx, &self.brokers, consume) {
            Some(why) => self.endpoint.metrics.set_ready(false, &why),
            None => self.endpoint.metrics.set_ready(true, ""),
        }
        if until_end {
            give_up(ctx, &self.brokers, self.connect_timeout)
        } else {
            None
        }
    }
}

/// The lag of each partition held, from the last statistics (known lags
/// only: never negative).
fn held_lags(ctx: &MonitorContext) -> Vec<(i32, i64)> {
    let assigned = ctx.assigned();
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
fn not_ready(ctx: &MonitorContext, brokers: &str, consume: &Consume) -> Option<String> {
    if let Some(why) = ctx.brokers.lock().ok().and_then(|b| b.unreachable()) {
        return Some(format!("{why} (brokers: {brokers})"));
    }
    if consume.errors_in_a_row > 0 {
        return Some(format!("consumer errors: {}", consume.last_error));
    }
    ctx.assigned()
        .is_empty()
        .then(|| "waiting for a partition assignment from the group".to_owned())
}

/// Why a drain should stop waiting: no broker has been reachable for
/// `timeout`; the line names them.
fn give_up(ctx: &MonitorContext, configured: &str, timeout: Duration) -> Option<String> {
    let b = ctx.brokers.lock().ok()?;
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

/// Rejected messages to the dead-letter topic, with their origin.
struct DeadLetters {
    producer: DeadLetter,
    topic: String,
}

impl RejectSink for DeadLetters {
    fn send(&self, batch: &Batch, item: &Item, reason: Reject) {
        self.producer.send(
            batch.key(item),
            batch.payload(item),
            reason,
            &self.topic,
            item.partition,
            i64::try_from(item.offset).unwrap_or(i64::MAX),
        );
    }

    fn flush(&self) {
        self.producer.flush(Duration::from_secs(5));
    }
}
