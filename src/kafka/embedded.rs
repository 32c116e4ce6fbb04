//! The demo's Kafka: librdkafka's in-process mock cluster (a real Kafka
//! protocol implementation, nothing to install) and a producer to it.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::pipeline::AppError;

/// An embedded cluster with its topics, and a producer to it.
pub struct EmbeddedKafka {
    // Declared first: dropped before the cluster it talks to.
    producer: ThreadedProducer<DefaultProducerContext>,
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedKafka {
    /// A one-broker cluster with these topics of `partitions` each.
    pub fn start(topics: &[&str], partitions: i32) -> Result<EmbeddedKafka, AppError> {
        let cluster = MockCluster::new(1)
            .map_err(AppError::kafka("cannot start the embedded Kafka cluster"))?;
        for topic in topics {
            cluster
                .create_topic(topic, partitions, 1)
                .map_err(AppError::kafka(format!("cannot create the topic {topic}")))?;
        }
        let producer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("linger.ms", "20")
            .create()
            .map_err(AppError::kafka("cannot create the demo producer"))?;
        Ok(EmbeddedKafka { producer, cluster })
    }

    /// Its bootstrap servers.
    pub fn brokers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Produces one record; waits while the local queue is full.
    pub async fn send(&self, topic: &str, key: &str, payload: &str) {
        loop {
            match self
                .producer
                .send(BaseRecord::to(topic).key(key).payload(payload))
            {
                Ok(()) => return,
                Err((e, _)) => {
                    tracing::debug!(error = %e, "demo producer queue full; waiting");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Waits up to `timeout` for what was sent to be delivered.
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}
