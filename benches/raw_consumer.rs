//! The reference consumer of the end-to-end benchmark (`benches/e2e.py`): the
//! same librdkafka and the same consumer settings as the monitor
//! (`kafka::consumer_config`), on the same kind of tokio loop, doing
//! nothing but count messages until every partition reports end of
//! partition. It is the physical limit of this client library on the broker.
//!
//! Usage: raw_consumer BROKERS TOPIC[,TOPIC...] GROUP PARTITIONS (several
//! topics: one consumer each, in a group of its own `GROUP.TOPIC`, as the
//! monitor reads several inputs)
//! Prints one JSON line: {"messages": N, "bytes": B, "secs_since_first_message": S}.

use std::collections::BTreeSet;
use std::time::Instant;

use incident_monitor::config::KafkaConfig;
use incident_monitor::kafka::consumer_config;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;

fn fail(msg: &str) -> ! {
    eprintln!("raw_consumer: {msg}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.len() != 4 {
        // `cargo bench` runs every bench target; without arguments this one
        // has nothing to measure.
        eprintln!(
            "usage: raw_consumer BROKERS TOPIC[,TOPIC...] GROUP PARTITIONS (run by benches/e2e.py)"
        );
        return;
    }
    let partitions: usize = args[3].parse().unwrap_or(1);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(&format!("cannot start the runtime: {e}")),
    };
    // One consumer per topic, each in a group of its own, as the monitor
    // reads several inputs.
    let (brokers, group) = (args[0].clone(), args[2].clone());
    let drains: Vec<_> = args[1]
        .split(',')
        .map(|topic| {
            rt.spawn(drain(
                brokers.clone(),
                topic.to_owned(),
                group.clone(),
                partitions,
            ))
        })
        .collect();
    let (mut n, mut bytes, mut first) = (0, 0, None::<Instant>);
    for d in drains {
        let Ok((tn, tb, tf)) = rt.block_on(d) else {
            fail("a consumer task failed");
        };
        n += tn;
        bytes += tb;
        first = match (first, tf) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!("{{\"messages\": {n}, \"bytes\": {bytes}, \"secs_since_first_message\": {secs}}}");
}

/// Counts one topic's messages until each of its partitions reports its
/// end: (messages, bytes, when the first arrived).
async fn drain(
    brokers: String,
    topic: String,
    group: String,
    partitions: usize,
) -> (u64, u64, Option<Instant>) {
    let group_id = format!("{group}.{topic}");
    let k = KafkaConfig {
        brokers,
        topic,
        group_id,
        properties: [
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1000"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect(),
        ..KafkaConfig::default()
    };
    let consumer: StreamConsumer = match consumer_config(&k).create() {
        Ok(c) => c,
        Err(e) => fail(&format!("cannot create the consumer: {e}")),
    };
    if let Err(e) = consumer.subscribe(&[k.topic.as_str()]) {
        fail(&format!("cannot subscribe to {}: {e}", k.topic));
    }
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut eof = BTreeSet::new();
    loop {
        match consumer.recv().await {
            Ok(m) => {
                first.get_or_insert_with(Instant::now);
                n += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
                eof.remove(&m.partition());
            }
            Err(KafkaError::PartitionEOF(p)) => {
                eof.insert(p);
                if eof.len() == partitions && n > 0 {
                    break;
                }
            }
            Err(e) => eprintln!("consumer error: {e}"),
        }
    }
    (n, bytes, first)
}
