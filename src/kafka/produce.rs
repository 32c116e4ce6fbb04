//! Producing a stream to a topic (`generate --brokers`), as fast as the
//! broker takes it or at a rate, with progress.

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::config::KafkaConfig;
use crate::pipeline::AppError;
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};

/// Where records go: the brokers and topic, connecting as the
/// configuration's `[kafka.properties]` say (TLS, SASL).
pub struct Destination<'a> {
    pub kafka: &'a KafkaConfig,
    pub brokers: &'a str,
    pub topic: &'a str,
}

/// Produces `(key, payload)` records (`total` of them, for progress), at
/// `rate` per second when given; the number acknowledged.
pub fn produce(
    records: impl Iterator<Item = (String, String)>,
    total: u64,
    rate: Option<f64>,
    to: Destination<'_>,
    progress: ProgressMode,
) -> Result<u64, AppError> {
    let topic = to.topic;
    let mut shown = Progress::new(progress, "generate --brokers", Unit::Messages);
    // Produced and acknowledged (no longer in flight).
    let snapshot = |n: u64, producer: &BaseProducer| {
        let in_flight = u64::try_from(producer.in_flight_count()).unwrap_or(0);
        Snapshot {
            events: n,
            done: n,
            total: Some(total),
            acked: Some(n.saturating_sub(in_flight)),
            ..Snapshot::default()
        }
    };
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", to.brokers)
        .set("linger.ms", "20")
        .set("compression.type", "lz4");
    super::client::set_connection_properties(&mut config, to.kafka);
    let producer: BaseProducer = config
        .create()
        .map_err(|e| AppError::Usage(format!("invalid Kafka settings: {e}")))?;
    let start = std::time::Instant::now();
    let mut n = 0u64;
    for (key, written) in records {
        if let Some(rate) = rate
            && let Some(wait) = crate::generate::wait_before(start, n, rate)
        {
            producer.poll(wait);
        }
        let mut rec = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(written.as_str());
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, back)) => {
                    if !matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        return Err(AppError::kafka(format!("producing to {topic}"))(e));
                    }
                    producer.poll(std::time::Duration::from_millis(50));
                    rec = back;
                }
            }
        }
        producer.poll(std::time::Duration::ZERO);
        n += 1;
        // A clock read per 1,024 messages, not per message.
        if n.is_multiple_of(1024) && shown.due() {
            shown.update(&snapshot(n, &producer));
        }
    }
    let flushed = producer.flush(std::time::Duration::from_secs(60));
    shown.finish(&snapshot(n, &producer));
    flushed.map_err(AppError::kafka(format!(
        "{n} messages queued but not all delivered to {topic} within 60 s"
    )))?;
    Ok(n)
}
