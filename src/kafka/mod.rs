//! Everything that talks to Kafka, in one place (the only code that names
//! rdkafka):
//!
//! * [`client`]: the client as configured (consumer settings and their
//!   check, TLS and SASL, broker health, commits, the dead-letter producer);
//! * [`run`]: `run` on Kafka, the loop around one consumer lane per input
//!   (`lane`: its consumer and apply stage; `consume`: taking messages into
//!   batches; `context`: rebalances and statistics), built on
//!   `crate::pipeline`;
//! * [`state_store`]: the state backend in a compacted topic (its record
//!   format, pure, is `crate::state::topic`);
//! * [`mod@produce`]: `generate --brokers`;
//! * [`embedded`]: the demo's in-process cluster.

pub mod client;
mod consume;
mod context;
pub mod embedded;
mod lane;
pub mod produce;
pub mod run;
pub mod state_store;

pub use client::{check_properties, consumer_config, wait_for_checks};
pub use embedded::EmbeddedKafka;
pub use produce::{Destination, produce};
pub use run::{KafkaOptions, Started, run_kafka};
pub use state_store::TopicStore;
