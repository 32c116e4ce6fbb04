//! A lane: one input's consumer, apply stage and consume task.
//!
//! Each configured input (a topic and its format) is read by a consumer
//! of its own, in a consumer group of its own, into an apply stage of its
//! own (its decoder), over the one shared monitor. A consumer per input
//! keeps every signal unambiguous: the end of a partition (rust-rdkafka's
//! `PartitionEOF` names the partition, not the topic), lag, rebalances;
//! a group per input keeps one input's members joining and leaving from
//! stopping the others (config::Input::group).
//! The lane's task only consumes; the loop in `super` owns the schedule,
//! checkpoints, commits (through each lane's consumer, for its partitions)
//! and publishing, and reads what the task learns through [`LaneStatus`].

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::client::{DeadLetter, consumer_config, partition_key};
use super::consume::{Consume, Step, next};
use super::context::MonitorContext;
use crate::config::{Input, KafkaConfig, Settings};
use crate::count::{Batch, Engine, Item, Monitor};
use crate::event::Reject;
use crate::metrics::Metrics;
use crate::pipeline::RejectSink;
use crate::pipeline::{AppError, Stage};
use crate::state::{PartitionKey, Source};

/// What a lane's task tells the loop.
#[derive(Debug, Default)]
pub(super) struct LaneStatus {
    /// Messages read by this run.
    pub messages: AtomicU64,
    pub errors_in_a_row: AtomicU32,
    pub last_error: Mutex<String>,
    /// Every partition assigned was read to its end and applied (a drain;
    /// stays set).
    pub drained: AtomicBool,
    /// When the first message arrived.
    pub first_message: Mutex<Option<Instant>>,
    /// Since when the consumer has failed without a message in between.
    pub failing_since: Mutex<Option<Instant>>,
}

impl LaneStatus {
    fn update(&self, c: &Consume) {
        if self.messages.swap(c.messages, Ordering::Relaxed) == 0
            && c.messages > 0
            && let Ok(mut first) = self.first_message.lock()
        {
            *first = c.first_message;
        }
        self.errors_in_a_row
            .store(c.errors_in_a_row, Ordering::Relaxed);
        if let Ok(mut since) = self.failing_since.lock() {
            match (c.errors_in_a_row > 0, *since) {
                (true, None) => *since = Some(Instant::now()),
                (false, Some(_)) => *since = None,
                _ => {}
            }
        }
        if c.errors_in_a_row > 0
            && let Ok(mut last) = self.last_error.lock()
            && *last != c.last_error
        {
            last.clone_from(&c.last_error);
        }
    }

    /// How long the consumer has failed with no message in between.
    pub fn failing_for(&self) -> Option<Duration> {
        self.failing_since
            .lock()
            .ok()
            .and_then(|s| *s)
            .map(|t| t.elapsed())
    }

    /// The last consumer error while errors go on.
    pub fn failing(&self) -> Option<String> {
        (self.errors_in_a_row.load(Ordering::Relaxed) > 0).then(|| {
            self.last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default()
        })
    }
}

/// One input's consumer and stage.
pub(super) struct Lane {
    pub input: Input,
    /// The state key source of its partitions (`kafka.<topic>`).
    source: Source,
    pub consumer: Arc<StreamConsumer<MonitorContext>>,
    pub stage: Arc<Stage>,
    pub status: Arc<LaneStatus>,
}

impl Lane {
    /// The stage and the subscribed consumer of `input`.
    pub fn open(
        settings: &Settings,
        input: &Input,
        k: &KafkaConfig,
        monitor: &Arc<Mutex<Monitor>>,
        metrics: &Arc<Metrics>,
        dead_letter: Option<&Arc<DeadLetter>>,
        several: bool,
    ) -> Result<Lane, AppError> {
        let dead_letters: Option<Box<dyn RejectSink>> = dead_letter.map(|producer| {
            Box::new(DeadLetters {
                producer: producer.clone(),
                topic: input.topic.clone(),
            }) as Box<dyn RejectSink>
        });
        let engine = Engine::for_input(settings.clone(), input);
        let source = partition_key(&input.topic, 0).source;
        let stage = Arc::new(Stage::start(
            monitor.clone(),
            engine,
            Some(metrics.clone()),
            dead_letters,
            source.clone(),
            crate::pipeline::DEPTH,
        )?);
        let consumer = subscribe(k, input, stage.clone(), several)?;
        Ok(Lane {
            input: input.clone(),
            source,
            consumer: Arc::new(consumer),
            stage,
            status: Arc::default(),
        })
    }

    /// Whether a partition key is one of this lane's.
    pub fn owns(&self, key: &PartitionKey) -> bool {
        key.source == self.source
    }

    /// Starts the consume task; it runs until `stop` (or fails).
    pub fn spawn(
        &self,
        until_end: bool,
        max_backoff: Duration,
        drained: Arc<Notify>,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), AppError>> {
        let task = Task {
            consumer: self.consumer.clone(),
            stage: self.stage.clone(),
            status: self.status.clone(),
            consume: Consume::new(until_end, max_backoff),
            drained,
        };
        tokio::spawn(task.run(stop))
    }
}

/// The consumer of one input, in the input's group, subscribed, its
/// rebalances handled through `stage`. With several inputs, a static
/// member id gets the input's name (two inputs may share a group).
fn subscribe(
    k: &KafkaConfig,
    input: &Input,
    stage: Arc<Stage>,
    several: bool,
) -> Result<StreamConsumer<MonitorContext>, AppError> {
    let handover = Duration::from_secs(k.drain_timeout_secs);
    let ctx = MonitorContext::new(stage, &input.topic, handover);
    let mut k = k.clone();
    k.group_id.clone_from(&input.group);
    if several && !k.group_instance_id.is_empty() {
        k.group_instance_id = format!("{}-{}", k.group_instance_id, input.name);
    }
    let consumer: StreamConsumer<MonitorContext> = consumer_config(&k)
        .create_with_context(ctx)
        .map_err(|e| AppError::Usage(format!("invalid Kafka configuration: {e}")))?;
    consumer
        .subscribe(&[input.topic.as_str()])
        .map_err(|e| AppError::Usage(format!("cannot subscribe to {:?}: {e}", input.topic)))?;
    tracing::info!(
        brokers = %k.brokers,
        input = %input.name,
        topic = %input.topic,
        format = input.format.name(),
        group = %k.group_id,
        "consuming"
    );
    Ok(consumer)
}

/// A lane's consume task.
struct Task {
    consumer: Arc<StreamConsumer<MonitorContext>>,
    stage: Arc<Stage>,
    status: Arc<LaneStatus>,
    consume: Consume,
    drained: Arc<Notify>,
}

impl Task {
    /// Consumes until `stop`. A drained lane goes on polling (its
    /// rebalances must still be answered) until every lane is drained.
    async fn run(mut self, stop: CancellationToken) -> Result<(), AppError> {
        let mut backoff: Option<tokio::time::Instant> = None;
        // One stream for the task's life: `StreamConsumer::recv` makes one
        // per message (a waker slot taken and given back, two locks).
        let mut messages = self.consumer.stream();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                () = sleep_until(backoff), if backoff.is_some() => backoff = None,
                msg = next(&mut messages), if backoff.is_none() => {
                    let step = self.consume.turn(msg, &mut messages, &self.consumer, &self.stage).await;
                    self.status.update(&self.consume);
                    match step? {
                        Step::More => {}
                        Step::Drained => {
                            if !self.status.drained.swap(true, Ordering::Relaxed) {
                                self.drained.notify_one();
                            }
                        }
                        Step::Backoff(d) => backoff = Some(tokio::time::Instant::now() + d),
                    }
                }
            }
        }
    }
}

/// Rejected messages to the dead-letter topic, with their origin.
struct DeadLetters {
    producer: Arc<DeadLetter>,
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

/// Sleeps until `at`; never without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
