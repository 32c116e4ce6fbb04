//! The Kafka client as the monitor configures it: consumer settings and
//! their check, connection properties (TLS, SASL), broker health from
//! statistics and errors, partition keys, copying messages into batches,
//! commits, and the dead-letter producer.
//!
//! Offset discipline: auto commit and auto offset store are off. Offsets are
//! committed only for positions that are already checkpointed together with
//! the state that covers them, so the group offset never runs ahead of
//! durable state; on restart, messages below a partition's checkpointed
//! position are skipped (`count::Monitor::apply`). The commit is for lag tools and
//! for handing a partition over; the checkpoint is the source of truth.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientContext, Message};

use crate::config::KafkaConfig;
use crate::count::Batch;
use crate::event::Reject;
use crate::metrics::Metrics;
use crate::state::{PartitionKey, Source};

/// Properties the monitor sets; `[kafka.properties]` may override them except
/// those in `FORCED` (auto commit and offset store off).
pub fn consumer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers)
        .set("group.id", &k.group_id)
        .set("group.protocol", "classic")
        // Incremental rebalances: a member joining or leaving moves only the
        // partitions that must move; the others keep counting (tested on
        // Tansu and librdkafka's mock cluster).
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("statistics.interval.ms", "2000")
        .set("fetch.wait.max.ms", "100")
        // librdkafka pauses fetching for this long once its local queue is
        // over queued.max.messages.kbytes (default 1000 ms): a consumer that
        // is only slightly slower than the fetcher then idles most of the
        // time (measured: 6x slower drains). Resume quickly instead.
        .set("fetch.queue.backoff.ms", "10")
        .set("client.id", "incident-monitor");
    if !k.group_instance_id.is_empty() {
        c.set("group.instance.id", &k.group_instance_id);
    }
    for (key, value) in k.properties.iter() {
        if FORCED.iter().any(|(f, _)| f == key) {
            tracing::warn!(property = %key, "ignoring [kafka.properties] override: the monitor's offset discipline needs it");
            continue;
        }
        c.set(key, value);
    }
    for (key, value) in FORCED {
        c.set(*key, *value);
    }
    c.set_log_level(RDKafkaLogLevel::Info);
    c
}

/// Hands the consumer configuration (and the dead-letter producer's, when
/// one is configured) to librdkafka and drops the clients at once, without
/// waiting for any broker: every property librdkafka would refuse at start
/// (an unknown key, a bad value, a combination such as `fetch.max.bytes`
/// below `message.max.bytes`) is refused here, with its message.
/// `check_clients`, its refusal as text that names the property (never
/// its value: the caller redacts what a value could still show).
pub fn check_properties(k: &KafkaConfig) -> Result<(), String> {
    check_clients(k).map_err(|e| match e {
        KafkaError::ClientConfig(_, desc, key, _value) => format!("{key}: {desc}"),
        other => other.to_string(),
    })
}

fn check_clients(k: &KafkaConfig) -> Result<(), KafkaError> {
    // No bootstrap servers and no logging: the clients are built to check
    // the properties, never to connect anywhere.
    let quiet = |mut c: ClientConfig| {
        c.set("bootstrap.servers", "")
            .set_log_level(RDKafkaLogLevel::Emerg);
        c
    };
    // A consumer checks what only a consumer checks (`fetch.max.bytes`
    // against `message.max.bytes`, ...). It takes about 100 ms to stop,
    // even with no broker: it stops on a thread of its own, so that no
    // command's start waits for it, and `main` waits for that thread
    // before the process exits ([`wait_for_checks`]).
    let consumer: BaseConsumer = quiet(consumer_config(k)).create()?;
    let stopping = std::thread::Builder::new()
        .name("kafka-check".into())
        .spawn(move || drop(consumer));
    match (stopping, STOPPING.lock()) {
        (Ok(handle), Ok(mut handles)) => handles.push(handle),
        // No thread (the consumer stopped here, as the closure was
        // dropped), or a poisoned list: wait for it now.
        (Ok(handle), Err(_)) => {
            let _ = handle.join();
        }
        (Err(_), _) => {}
    }
    if !k.dead_letter_topic.is_empty() {
        let producer: rdkafka::producer::BaseProducer = quiet(dead_letter_config(k)).create()?;
        drop(producer);
    }
    Ok(())
}

/// The threads stopping the consumers [`check_properties`] built.
static STOPPING: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// Waits until the consumers built to check properties have stopped; called
/// before the process exits, so that no client is still stopping while the
/// TLS library cleans up at exit.
pub fn wait_for_checks() {
    let handles = match STOPPING.lock() {
        Ok(mut h) => std::mem::take(&mut *h),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    for h in handles {
        let _ = h.join();
    }
}

/// Never overridden: offsets are committed only once checkpointed.
const FORCED: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
];

/// The partition key of a Kafka partition.
pub fn partition_key(topic: &str, partition: i32) -> PartitionKey {
    PartitionKey {
        source: Source::kafka(topic),
        partition,
    }
}

/// Which brokers the client can reach: the broker states of librdkafka's
/// statistics (every `statistics.interval.ms`) and the failures its error
/// callback reports in between (connect and resolve failures, "all brokers
/// down"), with the last reason seen for each broker.
#[derive(Debug)]
pub struct BrokerHealth {
    started: Instant,
    /// When a broker was last seen up.
    last_up: Option<Instant>,
    /// Whether a broker was up at the last report.
    up_now: bool,
    /// Whether anything has been heard yet (statistics or an error).
    heard: bool,
    /// Broker (`host:port`) → the last failure reported for it.
    reasons: BTreeMap<String, String>,
    /// Brokers not up at the last statistics.
    down: Vec<String>,
}

impl BrokerHealth {
    pub fn new(now: Instant) -> BrokerHealth {
        BrokerHealth {
            started: now,
            last_up: None,
            up_now: false,
            heard: false,
            reasons: BTreeMap::new(),
            down: Vec::new(),
        }
    }

    /// The brokers of one statistics report: `(nodename, state, source)`.
    /// Internal and logical brokers (librdkafka's own) are not counted.
    pub fn on_stats<'a>(
        &mut self,
        brokers: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
        now: Instant,
    ) {
        self.heard = true;
        self.down.clear();
        self.up_now = false;
        for (node, state, source) in brokers {
            if !matches!(source, "configured" | "learned") {
                continue;
            }
            if state == "UP" {
                self.up_now = true;
                self.reasons.remove(node);
            } else if !self.down.iter().any(|d| d == node) {
                self.down.push(node.to_owned());
            }
        }
        self.down.sort();
        if self.up_now {
            self.last_up = Some(now);
        }
    }

    /// An error from the client. `reason` starts with the broker's name
    /// (`host:port/id: ...`, with the protocol first when it is not
    /// plaintext: `ssl://host:port/id: ...`) for connection, resolve, TLS
    /// and authentication failures.
    pub fn on_error(&mut self, code: Option<rdkafka::types::RDKafkaErrorCode>, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode as C;
        match code {
            Some(C::AllBrokersDown) => {
                self.heard = true;
                self.up_now = false;
            }
            Some(C::BrokerTransportFailure | C::Resolve | C::Authentication | C::SSL) => {
                self.heard = true;
                if let Some((name, why)) = reason.split_once(": ")
                    && let Some((node, _)) = name
                        .split_once("://")
                        .map_or(name, |(_, rest)| rest)
                        .split_once('/')
                {
                    self.reasons.insert(node.to_owned(), why.trim().to_owned());
                }
            }
            _ => {}
        }
    }

    /// `None` while a broker is up (or before anything is known); else one
    /// line naming the brokers that cannot be reached and why.
    pub fn unreachable(&self) -> Option<String> {
        if self.up_now || !self.heard {
            return None;
        }
        let mut names: Vec<&String> = self.down.iter().collect();
        for n in self.reasons.keys() {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names.sort();
        let list: Vec<String> = names
            .iter()
            .map(|n| match self.reasons.get(*n) {
                Some(why) => format!("{n} ({why})"),
                None => (*n).clone(),
            })
            .collect();
        Some(if list.is_empty() {
            "no Kafka broker can be reached".to_owned()
        } else {
            format!("no Kafka broker can be reached: {}", list.join(", "))
        })
    }

    /// How long no broker has been up, when none is now.
    pub fn down_for(&self, now: Instant) -> Option<Duration> {
        self.unreachable()?;
        Some(now.saturating_duration_since(self.last_up.unwrap_or(self.started)))
    }
}

/// Copies a consumed message into a batch (payload, key, partition,
/// offset, the position after it, timestamp).
pub fn copy_message<M: Message>(batch: &mut Batch, m: &M) {
    let offset = u64::try_from(m.offset()).unwrap_or(0);
    batch.push(
        m.partition(),
        offset,
        offset + 1,
        m.timestamp().to_millis(),
        m.payload().unwrap_or(&[]),
        m.key(),
    );
}

/// Commits next offsets for partitions of `topic`.
pub fn commit<C: Consumer<X>, X: ConsumerContext>(
    consumer: &C,
    topic: &str,
    positions: &[(PartitionKey, u64)],
    mode: CommitMode,
) -> Result<(), KafkaError> {
    if positions.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for (k, next) in positions {
        let offset = i64::try_from(*next).unwrap_or(i64::MAX);
        tpl.add_partition_offset(topic, k.partition, Offset::Offset(offset))?;
    }
    consumer.commit(&tpl, mode)
}

/// Counts dead-letter deliveries.
pub struct DeadLetterContext {
    pub metrics: Arc<Metrics>,
}

impl ClientContext for DeadLetterContext {}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        use std::sync::atomic::Ordering;
        match result {
            Ok(_) => self
                .metrics
                .dead_letter_sent
                .fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                tracing::warn!(error = %e, "dead-letter delivery failed");
                self.metrics
                    .dead_letter_failed
                    .fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// The dead-letter topic: original bytes, reason and origin in headers.
pub struct DeadLetter {
    producer: ThreadedProducer<DeadLetterContext>,
    topic: String,
    metrics: Arc<Metrics>,
}

/// The dead-letter producer's settings.
fn dead_letter_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers)
        .set("client.id", "incident-monitor-dlq")
        .set("linger.ms", "50");
    set_connection_properties(&mut c, k);
    c
}

/// `[kafka.properties]` that every client of the monitor takes (the
/// dead-letter producer, the state topic's clients), not only the
/// consumer: how to reach and authenticate to the cluster (TLS, SASL,
/// sockets, metadata), not how the input is consumed.
const CONNECTION_PROPERTIES: &[&str] = &[
    "security.",
    "ssl.",
    "sasl.",
    "socket.",
    "broker.",
    "reconnect.",
    "api.version",
    "client.dns",
    "enable.ssl.",
    "connections.max.idle.ms",
    "metadata.",
];

/// Sets the connection and security settings of `[kafka.properties]` on
/// a client other than the consumer.
pub fn set_connection_properties(c: &mut ClientConfig, k: &KafkaConfig) {
    for (key, value) in k.properties.iter() {
        if CONNECTION_PROPERTIES.iter().any(|p| key.starts_with(p)) {
            c.set(key, value);
        }
    }
}

impl DeadLetter {
    pub fn new(k: &KafkaConfig, metrics: Arc<Metrics>) -> Result<DeadLetter, KafkaError> {
        let producer = dead_letter_config(k).create_with_context(DeadLetterContext {
            metrics: metrics.clone(),
        })?;
        Ok(DeadLetter {
            producer,
            topic: k.dead_letter_topic.clone(),
            metrics,
        })
    }

    /// Queues one rejected message. A full queue is counted as a failure,
    /// never blocks the pipeline.
    pub fn send(
        &self,
        key: Option<&[u8]>,
        payload: &[u8],
        reason: Reject,
        topic: &str,
        partition: i32,
        offset: i64,
    ) {
        let partition_s = partition.to_string();
        let offset_s = offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "incident-monitor-reason",
                value: Some(reason.code()),
            })
            .insert(Header {
                key: "incident-monitor-source-topic",
                value: Some(topic),
            })
            .insert(Header {
                key: "incident-monitor-source-partition",
                value: Some(partition_s.as_str()),
            })
            .insert(Header {
                key: "incident-monitor-source-offset",
                value: Some(offset_s.as_str()),
            });
        let mut rec = BaseRecord::<[u8], [u8]>::to(&self.topic)
            .payload(payload)
            .headers(headers);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        if let Err((e, _)) = self.producer.send(rec) {
            tracing::warn!(error = %e, "dead-letter queue full or closed; message counted as invalid but not forwarded");
            self.metrics
                .dead_letter_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Waits for queued messages, at most `timeout`.
    pub fn flush(&self, timeout: Duration) {
        use rdkafka::producer::Producer;
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "dead-letter flush incomplete");
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::types::RDKafkaErrorCode as C;

    use super::*;

    #[test]
    fn broker_health_names_what_is_down_and_for_how_long() {
        let t0 = Instant::now();
        let mut h = BrokerHealth::new(t0);
        assert_eq!(h.unreachable(), None, "nothing known yet");
        h.on_error(
            Some(C::BrokerTransportFailure),
            "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused",
        );
        h.on_stats(
            [
                ("127.0.0.1:9", "DOWN", "configured"),
                (":0", "INIT", "internal"),
            ]
            .into_iter(),
            t0,
        );
        let why = h.unreachable().unwrap();
        assert!(
            why.contains("127.0.0.1:9 (Connect to ipv4#127.0.0.1:9 failed: Connection refused)"),
            "{why}"
        );
        assert!(!why.contains(":0"), "{why}");
        let later = t0 + Duration::from_secs(61);
        assert_eq!(h.down_for(later), Some(Duration::from_secs(61)));
        // Up: reachable, and the clock restarts from there.
        h.on_stats([("127.0.0.1:9", "UP", "configured")].into_iter(), later);
        assert_eq!(h.unreachable(), None);
        assert_eq!(h.down_for(later), None);
        h.on_error(Some(C::AllBrokersDown), "1/1 brokers are down");
        assert!(h.unreachable().is_some());
        assert_eq!(
            h.down_for(later + Duration::from_secs(5)),
            Some(Duration::from_secs(5))
        );
    }

    /// A TLS or authentication failure names the broker as the statistics
    /// do (without the `ssl://` of the log's name) and says why.
    #[test]
    fn tls_and_authentication_failures_are_named() {
        let t0 = Instant::now();
        let mut h = BrokerHealth::new(t0);
        h.on_error(
            Some(C::SSL),
            "ssl://10.0.0.5:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed",
        );
        h.on_error(
            Some(C::Authentication),
            "sasl_ssl://10.0.0.6:9093/bootstrap: SASL authentication error: Authentication failed",
        );
        h.on_stats(
            [
                ("10.0.0.5:9093", "DOWN", "configured"),
                ("10.0.0.6:9093", "DOWN", "configured"),
            ]
            .into_iter(),
            t0,
        );
        let why = h.unreachable().unwrap();
        assert!(
            why.contains("10.0.0.5:9093 (SSL handshake failed: error:0A000086:SSL routines::certificate verify failed)"),
            "{why}"
        );
        assert!(
            why.contains("10.0.0.6:9093 (SASL authentication error"),
            "{why}"
        );
        assert!(!why.contains("ssl://"), "{why}");
    }
}
