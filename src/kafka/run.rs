//! `run` on Kafka: the Kafka [`Source`] of the one run loop.
//!
//! Each input is a lane (`super::lane`): its consumer (in the input's
//! group), its apply stage (its decoder) and a task that only consumes.
//! The source's events are a consume task failing and a lane drained; on
//! the metrics tick it publishes lag, queue depth and readiness, and says
//! when a drain is over or should give up; a checkpoint written is
//! committed through each lane's consumer. Consuming is `super::consume`,
//! rebalances `super::context`. Parsing and counting run on the stages'
//! threads over the one monitor.
//!
//! Shutdown order: stop consuming, apply what was consumed, checkpoint,
//! commit (synchronously), flush the dead-letter producer, stop serving;
//! the Kafka part bounded by `drain_timeout_secs`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::client::{DeadLetter, commit, partition_key};
use super::context::MonitorContext;
use super::lane::Lane;
use super::state_store::TopicStore;
use crate::config::{KafkaConfig, Settings};
use crate::count::Monitor;
use crate::metrics::Metrics;
use crate::pipeline::{
    AppError, Checkpointer, End, Endpoint, LiveReports, Positions, Run, RunSummary, Source, Stage,
    StateChoice,
};
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::state::StateBackend;

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

/// Consumes the configured inputs until `shutdown` (or, with `until_end`,
/// until every assigned partition of every input is drained).
pub async fn run_kafka(
    settings: Settings,
    state: StateChoice,
    opts: KafkaOptions,
    shutdown: CancellationToken,
    started: Option<oneshot::Sender<Started>>,
) -> Result<RunSummary, AppError> {
    let begun = Instant::now();
    let k: KafkaConfig = settings.config.kafka.clone();
    // Settings librdkafka refuses are a configuration error, found before
    // anything is opened or written.
    super::client::check_properties(&k).map_err(|why| {
        AppError::Usage(format!(
            "kafka.properties: librdkafka refuses this configuration: {}",
            k.properties.redact(&why)
        ))
    })?;
    let topics: Vec<String> = settings.inputs.iter().map(|i| i.topic.clone()).collect();
    let backend: Arc<dyn StateBackend> = match state {
        StateChoice::Dir(store) => Arc::new(store),
        StateChoice::Topic(topic) => {
            Arc::new(TopicStore::connect(&k, &topics, &topic, &owner_name(&k)).await?)
        }
    };
    let monitor = crate::pipeline::open_monitor(&settings, backend.clone()).await?;
    let reports = Arc::new(LiveReports::new(monitor.clone(), backend, &settings.config));
    let inputs: Vec<(String, crate::state::Source)> = settings
        .inputs
        .iter()
        .map(|i| (i.name.clone(), partition_key(&i.topic, 0).source))
        .collect();
    let endpoint = Endpoint::start(&settings, &inputs, &opts.metrics_addr, reports).await?;
    let lanes = open_lanes(&settings, &k, &monitor, &endpoint.metrics)?;
    if let Some(tx) = started {
        let _ = tx.send(Started {
            metrics: endpoint.metrics.clone(),
            monitor: monitor.clone(),
            metrics_addr: endpoint.addr,
        });
    }
    let shown = Progress::new(opts.progress, "run --until-end", Unit::Messages);
    let stop = CancellationToken::new();
    let drained = Arc::new(Notify::new());
    let max_backoff = Duration::from_secs(k.max_retry_backoff_secs);
    let mut tasks = JoinSet::new();
    for lane in &lanes {
        let task = lane.spawn(opts.until_end, max_backoff, drained.clone(), stop.clone());
        tasks.spawn(async move {
            task.await.map_err(|source| AppError::Task {
                what: "consume",
                source,
            })?
        });
    }
    let source = KafkaSource {
        lanes,
        tasks,
        stop,
        drained,
        until_end: opts.until_end,
        connect_timeout: Duration::from_secs(k.connect_timeout_secs),
        k,
    };
    let cfg = settings.config;
    Run::new(source, monitor, Some(endpoint), shown, &cfg, begun)
        .run(async move { shutdown.cancelled().await })
        .await
}

/// Waits for every consume task; the first failure is returned.
async fn stop_tasks(tasks: &mut JoinSet<Result<(), AppError>>) -> Result<(), AppError> {
    let mut first = Ok(());
    while let Some(done) = tasks.join_next().await {
        let result = done
            .map_err(|source| AppError::Task {
                what: "consume",
                source,
            })
            .and_then(|r| r);
        if first.is_ok() {
            first = result;
        }
    }
    first
}

/// A lane per input, sharing the dead-letter producer if one is configured.
fn open_lanes(
    settings: &Settings,
    k: &KafkaConfig,
    monitor: &Arc<Mutex<Monitor>>,
    metrics: &Arc<Metrics>,
) -> Result<Vec<Lane>, AppError> {
    let dead_letter = if k.dead_letter_topic.is_empty() {
        None
    } else {
        Some(Arc::new(DeadLetter::new(k, metrics.clone()).map_err(
            |e| AppError::Usage(format!("dead-letter producer: {e}")),
        )?))
    };
    let several = settings.inputs.len() > 1;
    settings
        .inputs
        .iter()
        .map(|input| {
            Lane::open(
                settings,
                input,
                k,
                monitor,
                metrics,
                dead_letter.as_ref(),
                several,
            )
        })
        .collect()
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

/// The inputs' lanes and their consume tasks.
struct KafkaSource {
    lanes: Vec<Lane>,
    tasks: JoinSet<Result<(), AppError>>,
    /// Stops the consume tasks.
    stop: CancellationToken,
    /// A lane reports it is drained.
    drained: Arc<Notify>,
    until_end: bool,
    connect_timeout: Duration,
    k: KafkaConfig,
}

impl KafkaSource {
    /// A drain is over when every lane has drained what it holds, or
    /// holds nothing (the group gave it no partition: its input has fewer
    /// partitions than the instances draining it).
    fn all_drained(&self) -> bool {
        let over = self.until_end
            && self
                .lanes
                .iter()
                .any(|l| l.status.drained.load(Ordering::Relaxed))
            && self.lanes.iter().all(|l| {
                l.status.drained.load(Ordering::Relaxed) || l.consumer.context().has_none()
            });
        if over {
            log_drained(&self.lanes);
        }
        over
    }

    /// Readiness now; `Some(why)` when a drain should give up.
    fn failing(&self, metrics: &Metrics) -> Option<String> {
        match not_ready(&self.lanes, &self.k.brokers) {
            Some(why) => metrics.set_ready(false, &why),
            None => metrics.set_ready(true, ""),
        }
        if self.until_end {
            self.lanes.iter().find_map(|l| {
                give_up(l.consumer.context(), &self.k.brokers, self.connect_timeout)
                    .or_else(|| stuck(l, self.connect_timeout))
            })
        } else {
            None
        }
    }
}

impl Source for KafkaSource {
    /// A consume task failing (one ends before `stop` only when it fails),
    /// or a lane drained.
    async fn next(&mut self) -> Result<Option<End>, AppError> {
        tokio::select! {
            Some(done) = self.tasks.join_next() => {
                done.map_err(|source| AppError::Task { what: "consume", source })??;
                Ok(None)
            }
            () = self.drained.notified() => Ok(self.all_drained().then_some(End::Drained)),
        }
    }

    /// Messages read by this run against those read plus the lag still
    /// ahead. Not the outcome counters: they include each assigned
    /// partition's restored history.
    fn progress(&self, _: &Monitor) -> Snapshot {
        progress(messages(&self.lanes), lag_total(&self.lanes))
    }

    /// Lag, queue depth and readiness; the drain's end or giving up.
    fn publish(&mut self, m: &Metrics) -> Option<End> {
        let lags: Vec<(&str, Vec<(i32, i64)>)> = self
            .lanes
            .iter()
            .map(|l| (l.input.topic.as_str(), held_lags(l.consumer.context())))
            .collect();
        m.set_lag(&lags);
        let held: Vec<(&str, Vec<i32>)> = self
            .lanes
            .iter()
            .map(|l| (l.input.topic.as_str(), l.consumer.context().assigned()))
            .collect();
        m.keep_last_record(&held);
        m.set_queue_depth("apply", self.lanes.iter().map(|l| l.stage.depth()).sum());
        match self.failing(m) {
            Some(why) => Some(End::GaveUp(why)),
            None => self.all_drained().then_some(End::Drained),
        }
    }

    fn checkpointed(&mut self, positions: &Positions) {
        for lane in &self.lanes {
            commit_lane(lane, positions, CommitMode::Async);
        }
    }

    /// Every consume task ends before the drain: none touches a consumer
    /// or a stage after it.
    async fn stop(&mut self) -> Result<(), AppError> {
        self.stop.cancel();
        stop_tasks(&mut self.tasks).await
    }

    async fn finish(self, checkpoints: &mut Checkpointer, end: &End) -> Result<Snapshot, AppError> {
        let last_lag = lag_total(&self.lanes);
        let read = messages(&self.lanes);
        drain(self.lanes, checkpoints, &self.k).await?;
        // Drained: nothing is left, whatever the last statistics said.
        let lag = if matches!(end, End::Drained) {
            Some(0)
        } else {
            last_lag
        };
        Ok(progress(read, lag))
    }
}

/// The end of a drain, over every input: what the benchmark reads.
fn log_drained(lanes: &[Lane]) {
    let first = lanes
        .iter()
        .filter_map(|l| l.status.first_message.lock().ok().and_then(|f| *f))
        .min();
    let secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let read = messages(lanes);
    tracing::info!(
        inputs = lanes.len(),
        messages = read,
        secs_since_first_message = secs,
        messages_per_sec = if secs > 0.0 { read as f64 / secs } else { 0.0 },
        "every assigned partition is drained"
    );
}

/// Messages read by this run, over the lanes.
fn messages(lanes: &[Lane]) -> u64 {
    lanes
        .iter()
        .map(|l| l.status.messages.load(Ordering::Relaxed))
        .sum()
}

/// Commits the positions of a lane's partitions through its consumer. Not
/// fatal when it fails: the checkpoint is the source of truth; lag tools
/// see progress at the next successful commit.
fn commit_lane(lane: &Lane, positions: &Positions, mode: CommitMode) {
    let own: Positions = positions
        .iter()
        .filter(|(k, _)| lane.owns(k))
        .cloned()
        .collect();
    if let Err(e) = commit(&*lane.consumer, &lane.input.topic, &own, mode) {
        tracing::debug!(error = %e, topic = %lane.input.topic, "offset commit failed");
    }
}

/// The end of a run, bounded by `drain_timeout_secs` so a dead broker
/// cannot hold the process: everything consumed is applied, checkpointed
/// and its positions committed; the consumers are dropped (leaving the
/// group) off the runtime's workers; then the stages stop.
async fn drain(
    lanes: Vec<Lane>,
    checkpoints: &mut Checkpointer,
    k: &KafkaConfig,
) -> Result<(), AppError> {
    let limit = Duration::from_secs(k.drain_timeout_secs);
    let stages: Vec<Arc<Stage>> = lanes.iter().map(|l| l.stage.clone()).collect();
    let done = tokio::time::timeout(limit, async {
        for stage in &stages {
            stage.flush().await?;
        }
        let positions = checkpoints.finish().await?;
        tokio::task::spawn_blocking(move || {
            for lane in lanes {
                commit_lane(&lane, &positions, CommitMode::Sync);
                // Leaving the group revokes what is held: released through
                // the stage, still running.
                drop(lane);
            }
        })
        .await
        .map_err(|source| AppError::Task {
            what: "final commit",
            source,
        })?;
        // Last: the dead-letter producer is flushed as the stages end.
        for stage in &stages {
            stage.stop().await?;
        }
        Ok(())
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

/// Why a drain should stop waiting for a lane whose consumer has failed,
/// with no message in between, for `timeout` while brokers answer (its
/// topic does not exist, it may not read it): the line names the input
/// and the error.
fn stuck(lane: &Lane, timeout: Duration) -> Option<String> {
    if lane.status.drained.load(Ordering::Relaxed) {
        return None;
    }
    let failing = lane.status.failing_for()?;
    if failing < timeout {
        return None;
    }
    let error = lane.status.failing()?;
    Some(format!(
        "gave up after {} s (kafka.connect_timeout_secs): input {} cannot read topic {}: {error}; \
         check that the topic exists and that this client may read it",
        failing.as_secs(),
        lane.input.name,
        lane.input.topic
    ))
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

/// Summed lag over the lanes; `None` before the statistics know any.
fn lag_total(lanes: &[Lane]) -> Option<u64> {
    let lags: Vec<(i32, i64)> = lanes
        .iter()
        .flat_map(|l| held_lags(l.consumer.context()))
        .collect();
    (!lags.is_empty()).then(|| {
        lags.iter()
            .map(|(_, l)| u64::try_from(*l).unwrap_or(0))
            .sum()
    })
}

/// Why the instance is not ready, if it is not: brokers that cannot be
/// reached (named), a consumer failing, or no partition of any input yet.
/// An input with no partition here is fine (another instance holds them).
fn not_ready(lanes: &[Lane], brokers: &str) -> Option<String> {
    let several = lanes.len() > 1;
    let named = |l: &Lane, why: String| {
        if several {
            format!("input {}: {why}", l.input.name)
        } else {
            why
        }
    };
    for l in lanes {
        let ctx = l.consumer.context();
        if let Some(why) = ctx.brokers.lock().ok().and_then(|b| b.unreachable()) {
            return Some(named(l, format!("{why} (brokers: {brokers})")));
        }
        if let Some(e) = l.status.failing() {
            return Some(named(l, format!("consumer errors: {e}")));
        }
    }
    lanes
        .iter()
        .all(|l| l.consumer.context().assigned().is_empty())
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
