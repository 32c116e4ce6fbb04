//! The Kafka state backend (spec §8): every partition's checkpoints in a
//! compacted topic, so instances need no shared disk and any process can
//! build the report. What the records are, which checkpoint is current and
//! how owners are fenced is `state::topic`; this is the I/O.
//!
//! * Input partition `p` is kept in state partition `p` (modulo the state
//!   topic's partitions, which is created with the input's count).
//! * Writes go through one producer (`acks=all`), one checkpoint at a time:
//!   segments, wait for their acknowledgement, the manifest, wait, then
//!   tombstones for the segments no longer referenced. Every wait is
//!   bounded (`timeout`).
//! * Reads assign the partitions from their start and read to their end
//!   (`enable.partition.eof`; Tansu's ListOffsets high watermarks are not
//!   reliable), keeping the latest value per key: correct whether or not
//!   the broker has compacted the topic yet.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};

use crate::config::KafkaConfig;
use crate::event::EpochMillis;
use crate::state::topic::{
    self, Claim, Current, Entry, Keys, Latest, Manifest, Segment, partition_of_key,
};
use crate::state::{
    Checkpoint, MonitorMeta, PartitionKey, PartitionState, Snapshot, StateBackend, StoreError,
};

/// The record key of the writer's metadata (timezone, report identity).
const META_KEY: &str = "im/meta";

/// Topic configuration the state topic is created with.
pub const TOPIC_CONFIG: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    // Compaction keeps the latest record per key for ever; time and size
    // retention would delete current state (Tansu also needs them stated).
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    ("max.message.bytes", "1048576"),
];

/// Collects delivery failures of the state producer.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result
            && let Ok(mut f) = self.failed.lock()
        {
            let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
            f.push(format!("{key}: {e}"));
        }
    }
}

/// The state reader's client context: the end of a partition is what a
/// read waits for, not an error to log.
struct ReadContext;

impl ClientContext for ReadContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::PartitionEOF)
        ) {
            return;
        }
        tracing::warn!(error = %error, reason, "state topic client error");
    }
}

impl rdkafka::consumer::ConsumerContext for ReadContext {}

/// What a read of the topic found: the latest values by input partition,
/// and the writer metadata.
type Read = (HashMap<PartitionKey, Latest>, Option<Vec<u8>>);

/// What this process wrote for a partition it owns.
#[derive(Debug)]
struct Owned {
    claim: Claim,
    /// The segments of the manifest written last.
    written: HashMap<Segment, Entry>,
    /// Number of the checkpoint written last.
    last_seq: Option<u64>,
}

/// Checkpoints in a compacted Kafka topic.
pub struct TopicStore {
    topic: String,
    client: ClientConfig,
    /// One checkpoint is written at a time (segments, manifest, tombstones
    /// in order); the lock is held for the whole write.
    producer: Mutex<BaseProducer<Deliveries>>,
    /// Reads the topic (restores, reports): one client for the life of the
    /// store, each read assigning the partitions it needs from their start
    /// (a new client per read cost about 0.7 s of connecting).
    reader: Mutex<Option<BaseConsumer<ReadContext>>>,
    lanes: Mutex<HashMap<PartitionKey, Owned>>,
    taken: AtomicU64,
    /// Who claims partitions (host, process, group member).
    owner: String,
    partitions: i32,
    timeout: Duration,
    /// Checkpoints written and their bytes (segments and manifests), for
    /// the log line at the end of a run.
    written: AtomicU64,
    written_bytes: AtomicU64,
}

impl Drop for TopicStore {
    fn drop(&mut self) {
        let checkpoints = self.written.load(Ordering::Relaxed);
        if checkpoints > 0 {
            tracing::info!(
                topic = %self.topic,
                checkpoints,
                bytes = self.written_bytes.load(Ordering::Relaxed),
                "state topic writes"
            );
        }
    }
}

impl std::fmt::Debug for TopicStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicStore")
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

/// The client settings of the state topic: the brokers and the
/// connection and security settings of `[kafka.properties]`.
fn client_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers)
        .set("client.id", "incident-monitor-state");
    // How to reach and authenticate to the cluster, not how the input is
    // consumed (fetch sizes tuned for incidents would slow a restore).
    super::client::set_connection_properties(&mut c, k);
    c
}

impl TopicStore {
    fn err(&self, message: impl Into<String>) -> StoreError {
        StoreError::Topic {
            topic: self.topic.clone(),
            message: message.into(),
        }
    }

    /// Opens the state topic for a run: creates it if missing (with the
    /// largest partition count of the input topics and [`TOPIC_CONFIG`]),
    /// waiting up to `kafka.connect_timeout_secs` for each input topic to
    /// exist.
    pub async fn connect(
        k: &KafkaConfig,
        inputs: &[String],
        topic: &str,
        owner: &str,
    ) -> Result<TopicStore, StoreError> {
        let err = |message: String| StoreError::Topic {
            topic: topic.to_owned(),
            message,
        };
        let client = client_config(k);
        let timeout = Duration::from_secs(k.connect_timeout_secs.max(1));
        let mut input_partitions = 0;
        for input in inputs {
            let probe = client.clone();
            let name = input.clone();
            let n = tokio::task::spawn_blocking(move || {
                partitions_of(&probe, &name, timeout)
                    .map(|n| n.unwrap_or(0))
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| err(e.to_string()))?
            .map_err(err)?;
            if n == 0 {
                return Err(err(format!(
                    "the input topic {input} was not found within {}s: the state topic is created with the inputs' partition count, so create it first",
                    timeout.as_secs()
                )));
            }
            input_partitions = input_partitions.max(n);
        }
        let probe = client.clone();
        let name = topic.to_owned();
        let existing = tokio::task::spawn_blocking(move || {
            partitions_of(&probe, &name, Duration::ZERO).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(err)?;
        let partitions = match existing {
            Some(n) => n,
            None => {
                create_topic(&client, topic, input_partitions, timeout).await?;
                input_partitions
            }
        };
        if partitions < input_partitions {
            tracing::warn!(
                topic,
                partitions,
                input_partitions,
                "the state topic has fewer partitions than the input: partitions share state partitions"
            );
        }
        TopicStore::new(&client, topic, owner, partitions, timeout)
    }

    /// Opens an existing state topic to read it (`report`).
    pub fn reader(k: &KafkaConfig, topic: &str) -> Result<TopicStore, StoreError> {
        let client = client_config(k);
        let timeout = Duration::from_secs(k.connect_timeout_secs.max(1));
        let partitions = partitions_of(&client, topic, timeout)
            .map_err(|e| StoreError::Topic {
                topic: topic.to_owned(),
                message: e.to_string(),
            })?
            .ok_or_else(|| StoreError::Topic {
                topic: topic.to_owned(),
                message: format!(
                    "no such topic on {}: check --brokers and --state-topic",
                    k.brokers
                ),
            })?;
        TopicStore::new(&client, topic, "report", partitions, timeout)
    }

    fn new(
        client: &ClientConfig,
        topic: &str,
        owner: &str,
        partitions: i32,
        timeout: Duration,
    ) -> Result<TopicStore, StoreError> {
        let producer: BaseProducer<Deliveries> = client
            .clone()
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("message.max.bytes", "1000000")
            .set("linger.ms", "5")
            .create_with_context(Deliveries::default())
            .map_err(|e| StoreError::Topic {
                topic: topic.to_owned(),
                message: format!("invalid Kafka settings: {e}"),
            })?;
        Ok(TopicStore {
            topic: topic.to_owned(),
            client: client.clone(),
            producer: Mutex::new(producer),
            reader: Mutex::default(),
            lanes: Mutex::default(),
            taken: AtomicU64::new(0),
            owner: owner.to_owned(),
            partitions: partitions.max(1),
            timeout,
            written: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
        })
    }

    /// The state partition of an input partition.
    fn partition_of(&self, key: &PartitionKey) -> i32 {
        key.partition.rem_euclid(self.partitions)
    }

    /// Produces records to one partition and waits for all of them.
    fn produce(
        &self,
        producer: &BaseProducer<Deliveries>,
        partition: i32,
        records: &[(String, Option<&[u8]>)],
    ) -> Result<(), StoreError> {
        if let Ok(mut f) = producer.context().failed.lock() {
            f.clear();
        }
        let deadline = Instant::now() + self.timeout;
        for (key, value) in records {
            let mut rec = BaseRecord::<str, [u8]>::to(&self.topic)
                .partition(partition)
                .key(key.as_str());
            if let Some(v) = value {
                rec = rec.payload(*v);
            }
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((e, back))
                        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
                            && Instant::now() < deadline =>
                    {
                        producer.poll(Duration::from_millis(10));
                        rec = back;
                    }
                    Err((e, _)) => return Err(self.err(format!("cannot produce {key}: {e}"))),
                }
            }
        }
        // Not `flush`: rust-rdkafka's polls in steps of 100 ms, which was
        // most of a checkpoint's time on a local broker (measured).
        while producer.in_flight_count() > 0 {
            if Instant::now() > deadline {
                return Err(self.err(format!(
                    "records not acknowledged within {}s",
                    self.timeout.as_secs()
                )));
            }
            producer.poll(Duration::from_millis(1));
        }
        let failed = producer
            .context()
            .failed
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        match failed.first() {
            None => Ok(()),
            Some(first) => Err(self.err(format!(
                "{} records not written, first {first}",
                failed.len()
            ))),
        }
    }

    fn producer(&self) -> std::sync::MutexGuard<'_, BaseProducer<Deliveries>> {
        // Poisoned only if a write panicked; the producer itself is fine.
        self.producer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<PartitionKey, Owned>> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads partitions from their start to their end: the latest value of
    /// every state key, by input partition, and the writer metadata.
    fn read(&self, partitions: &[i32]) -> Result<Read, StoreError> {
        // One read at a time; poisoned only if a read panicked, and the
        // client is reset by the next assignment anyway.
        let mut slot = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let consumer: BaseConsumer<ReadContext> = self
                .client
                .clone()
                .set("group.id", "incident-monitor-state-reader")
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("enable.partition.eof", "true")
                .set("auto.offset.reset", "earliest")
                .set("fetch.wait.max.ms", "50")
                .create_with_context(ReadContext)
                .map_err(|e| self.err(format!("invalid Kafka settings: {e}")))?;
            *slot = Some(consumer);
        }
        let Some(consumer) = slot.as_ref() else {
            return Err(self.err("no reader"));
        };
        let read = self.read_with(consumer, partitions);
        if let Err(e) = consumer.unassign() {
            tracing::debug!(error = %e, "unassigning the state reader");
        }
        read
    }

    fn read_with(
        &self,
        consumer: &BaseConsumer<ReadContext>,
        partitions: &[i32],
    ) -> Result<Read, StoreError> {
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(&self.topic, *p, Offset::Beginning)
                .map_err(|e| self.err(e.to_string()))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| self.err(format!("cannot read: {e}")))?;
        let mut open: HashSet<i32> = partitions.iter().copied().collect();
        let mut latest: HashMap<PartitionKey, Latest> = HashMap::new();
        let mut meta = None;
        let deadline = Instant::now() + self.timeout;
        while !open.is_empty() {
            if Instant::now() > deadline {
                return Err(self.err(format!(
                    "partitions {open:?} not read to their end within {}s",
                    self.timeout.as_secs()
                )));
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                }
                Some(Err(e)) => tracing::debug!(error = %e, "reading the state topic"),
                Some(Ok(m)) => {
                    let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                        continue;
                    };
                    if key == META_KEY {
                        meta = m.payload().map(<[u8]>::to_vec);
                        continue;
                    }
                    let Some(pk) = partition_of_key(key) else {
                        continue;
                    };
                    let values = latest.entry(pk).or_default();
                    match m.payload() {
                        Some(v) => {
                            values.insert(key.to_owned(), v.to_vec());
                        }
                        None => {
                            values.remove(key);
                        }
                    }
                }
            }
        }
        Ok((latest, meta))
    }

    /// The current checkpoint of one partition in the topic.
    fn current(&self, key: &PartitionKey) -> Result<Option<Current>, StoreError> {
        let (mut latest, _) = self.read(&[self.partition_of(key)])?;
        let values = latest.remove(key).unwrap_or_default();
        topic::current(&Keys::of(key), &values).map_err(|e| self.err(e.to_string()))
    }

    /// The metadata `run` wrote (timezone, report identity), if any.
    pub fn load_meta(&self) -> Result<Option<MonitorMeta>, StoreError> {
        let (_, meta) = self.read(&[0])?;
        meta.map(|m| serde_json::from_slice(&m).map_err(|e| self.err(e.to_string())))
            .transpose()
    }
}

/// Creates the state topic (compacted, [`TOPIC_CONFIG`]); one created
/// meanwhile by another instance is fine.
async fn create_topic(
    client: &ClientConfig,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<(), StoreError> {
    let err = |message: String| StoreError::Topic {
        topic: topic.to_owned(),
        message,
    };
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .map_err(|e| err(format!("invalid Kafka settings: {e}")))?;
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
    for (key, value) in TOPIC_CONFIG {
        new = new.set(key, value);
    }
    let created = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(timeout)),
        )
        .await
        .map_err(|e| {
            err(format!(
                "cannot create it: {e}; create it as docs/operations.md says"
            ))
        })?;
    match created.as_slice() {
        [Ok(_)] => {
            tracing::info!(topic, partitions, "state topic created (compacted)");
            Ok(())
        }
        [Err((_, RDKafkaErrorCode::TopicAlreadyExists))] => Ok(()),
        other => Err(err(format!(
            "cannot create it: {other:?}; create it as docs/operations.md says"
        ))),
    }
}

/// A topic's partition count; `None` when it does not exist (after
/// waiting up to `timeout` for it).
fn partitions_of(
    client: &ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Option<i32>, KafkaError> {
    let consumer: BaseConsumer = client.create()?;
    let deadline = Instant::now() + timeout;
    loop {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5));
        match md {
            Ok(md) => {
                let found = md
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map(|t| t.partitions().len() as i32)
                    .filter(|n| *n > 0);
                if found.is_some() || Instant::now() > deadline {
                    return Ok(found);
                }
            }
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A token no other claim has: random from the standard library's hasher
/// keys, the time and the process.
fn new_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl StateBackend for TopicStore {
    fn open(&self, meta: &MonitorMeta) -> Result<(), StoreError> {
        let json = serde_json::to_vec(meta).map_err(|e| self.err(e.to_string()))?;
        let producer = self.producer();
        self.produce(&producer, 0, &[(META_KEY.to_owned(), Some(&json))])
    }

    fn load(&self, key: &PartitionKey) -> Result<Option<Snapshot>, StoreError> {
        Ok(self
            .current(key)?
            .and_then(|c| c.checkpoint)
            .map(|(_, snap)| snap))
    }

    fn load_all(&self) -> Result<Vec<Snapshot>, StoreError> {
        let all: Vec<i32> = (0..self.partitions).collect();
        let (latest, _) = self.read(&all)?;
        let mut out = Vec::new();
        for (key, values) in latest {
            let current =
                topic::current(&Keys::of(&key), &values).map_err(|e| self.err(e.to_string()))?;
            if let Some((_, snap)) = current.and_then(|c| c.checkpoint) {
                out.push(snap);
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Reads the current checkpoint, writes it again under a new token
    /// (segments, manifest), then the claim: from then on only this
    /// process's checkpoints of the partition are current. The previous
    /// owner's records are deleted (tombstones).
    fn claim(&self, key: &PartitionKey) -> Result<Option<Snapshot>, StoreError> {
        let keys = Keys::of(key);
        let partition = self.partition_of(key);
        let (mut latest, _) = self.read(&[partition])?;
        let values = latest.remove(key).unwrap_or_default();
        let current = topic::current(&keys, &values).map_err(|e| self.err(e.to_string()))?;
        let token = new_token();
        let claim = Claim {
            token,
            epoch: current.as_ref().map_or(1, |c| c.claim.epoch + 1),
            owner: self.owner.clone(),
            claimed_ms: crate::clock::wall_now_ms(),
        };
        let producer = self.producer();
        let mut written = HashMap::new();
        let mut snapshot = None;
        if let Some((old, snap)) = current.as_ref().and_then(|c| c.checkpoint.as_ref()) {
            // The segments again, under this owner's token.
            let mut records = Vec::new();
            for e in &old.entries {
                for (i, k) in keys.parts_of(old.token, e).iter().enumerate() {
                    let v = values
                        .get(k)
                        .ok_or_else(|| self.err(format!("record {k} is missing")))?;
                    records.push((keys.part(token, &e.segment, i), Some(v.as_slice())));
                }
                written.insert(e.segment, *e);
            }
            self.produce(&producer, partition, &records)?;
            let manifest = Manifest {
                token,
                epoch: claim.epoch,
                ..old.clone()
            };
            let m = manifest.encode();
            self.produce(&producer, partition, &[(keys.manifest(token), Some(&m))])?;
            snapshot = Some(snap.clone());
        }
        let c = claim.encode();
        self.produce(&producer, partition, &[(keys.claim(), Some(&c))])?;
        // What the previous owners wrote, current or not, is garbage now.
        let claim_key = keys.claim();
        let tombs: Vec<(String, Option<&[u8]>)> = values
            .keys()
            .filter(|k| **k != claim_key)
            .map(|k| (k.clone(), None))
            .collect();
        if let Err(e) = self.produce(&producer, partition, &tombs) {
            tracing::warn!(error = %e, "old state records not deleted (compaction keeps them)");
        }
        tracing::info!(
            source = %key.source,
            partition = key.partition,
            epoch = claim.epoch,
            segments = written.len(),
            "partition claimed in the state topic"
        );
        self.lanes().insert(
            key.clone(),
            Owned {
                claim,
                written,
                last_seq: None,
            },
        );
        Ok(snapshot)
    }

    fn disown(&self, key: &PartitionKey) {
        self.lanes().remove(key);
    }

    fn checkpoint(&self, st: &PartitionState, timezone: &str, wall_ms: EpochMillis) -> Checkpoint {
        let seq = self.taken.fetch_add(1, Ordering::Relaxed);
        let delta = {
            let lanes = self.lanes();
            let empty = HashMap::new();
            let written = lanes.get(&st.key).map_or(&empty, |l| &l.written);
            topic::take(st, timezone, wall_ms, written)
        };
        Checkpoint::of_segments(st.key.clone(), seq, delta)
    }

    /// Writes the segments the topic does not have, then the manifest,
    /// then deletes the segments no longer referenced. A partition this
    /// process does not own (never claimed, released or lost) is not
    /// written; neither is a checkpoint older than one written.
    fn write(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        let Some(delta) = cp.segments() else {
            return Err(self.err("a checkpoint file cannot be written to a state topic"));
        };
        let producer = self.producer();
        let (claim, previous) = {
            let lanes = self.lanes();
            let Some(lane) = lanes.get(&cp.key) else {
                tracing::debug!(
                    partition = cp.key.partition,
                    "not owned: checkpoint not written"
                );
                return Ok(());
            };
            if lane.last_seq.is_some_and(|s| s > cp.seq) {
                return Ok(());
            }
            (lane.claim.clone(), lane.written.clone())
        };
        let keys = Keys::of(&cp.key);
        let partition = self.partition_of(&cp.key);
        let mut records = Vec::new();
        for e in &delta.entries {
            if previous.contains_key(&e.segment) {
                continue;
            }
            let Some(bytes) = delta.payloads.get(&e.segment) else {
                // Taken against segments a later write removed: not
                // written; the next checkpoint carries every segment.
                tracing::warn!(
                    partition = cp.key.partition,
                    "checkpoint skipped: its base moved; the next one is written in full"
                );
                if let Some(lane) = self.lanes().get_mut(&cp.key) {
                    lane.written.clear();
                }
                return Ok(());
            };
            for (i, part) in topic::split(bytes).enumerate() {
                records.push((keys.part(claim.token, &e.segment, i), Some(part)));
            }
        }
        self.produce(&producer, partition, &records)?;
        let manifest = Manifest {
            token: claim.token,
            epoch: claim.epoch,
            next_offset: delta.next_offset,
            written_ms: delta.written_ms,
            entries: delta.entries.clone(),
        };
        let m = manifest.encode();
        if m.len() > topic::RECORD_MAX {
            return Err(self.err(format!(
                "the manifest of {} is {} bytes, over the {} a record may have: lower dedup.horizon_days",
                keys.prefix(),
                m.len(),
                topic::RECORD_MAX
            )));
        }
        self.produce(
            &producer,
            partition,
            &[(keys.manifest(claim.token), Some(&m))],
        )?;
        self.written.fetch_add(1, Ordering::Relaxed);
        self.written_bytes.fetch_add(
            (records
                .iter()
                .map(|(_, v)| v.map_or(0, <[u8]>::len))
                .sum::<usize>()
                + m.len()) as u64,
            Ordering::Relaxed,
        );
        let now: HashSet<Segment> = delta.entries.iter().map(|e| e.segment).collect();
        let tombs: Vec<(String, Option<&[u8]>)> = previous
            .values()
            .filter(|e| !now.contains(&e.segment))
            .flat_map(|e| keys.parts_of(claim.token, e))
            .map(|k| (k, None))
            .collect();
        if let Err(e) = self.produce(&producer, partition, &tombs) {
            tracing::warn!(error = %e, "segments no longer used not deleted");
        }
        if let Some(lane) = self.lanes().get_mut(&cp.key)
            && lane.claim.token == claim.token
        {
            lane.written = delta.entries.iter().map(|e| (e.segment, *e)).collect();
            lane.last_seq = Some(cp.seq);
        }
        Ok(())
    }
}
