//! The Kafka consumer on librdkafka's in-process mock cluster (a real
//! Kafka-protocol broker implementation, no install needed): exact figures
//! from a 4-partition topic, and poison messages sent to the dead-letter
//! topic while their neighbours all count.

mod common;

use std::time::Duration;

use common::*;
use incident_monitor::app::{KafkaOptions, StateChoice, run_kafka};
use incident_monitor::config::Config;
use incident_monitor::generate::{incident_id, ncsc_2022};
use incident_monitor::state::StateStore;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tokio_util::sync::CancellationToken;

fn produce(brokers: &str, topic: &str, lines: &[String]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "10")
        .create()
        .unwrap();
    for l in lines {
        let id = incident_id(l).unwrap_or("");
        while p.send(BaseRecord::to(topic).key(id).payload(l)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();
}

fn config(brokers: &str, topic: &str, dlq: &str) -> Config {
    let mut c =
        Config::from_toml(&std::fs::read_to_string(repo("config/ncsc-vietnam.toml")).unwrap())
            .unwrap();
    c.kafka.brokers = brokers.to_owned();
    c.kafka.topic = topic.to_owned();
    c.kafka.group_id = format!("g-{topic}");
    c.kafka.dead_letter_topic = dlq.to_owned();
    c.state.checkpoint_interval_ms = 200;
    // A restarted member of a group waits about session.timeout.ms on the
    // mock cluster: keep it short.
    c.kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    c.kafka
        .properties
        .insert("heartbeat.interval.ms".into(), "1000".into());
    c
}

/// June 2022's stages when the same lines are read from a file.
fn june_stages_from_file(lines: &[String]) -> Option<incident_monitor::report::Stages> {
    let dir = TempDir::new("june-stages");
    let state = dir.path("state");
    let config = repo("config/ncsc-vietnam.toml");
    run_stdin_ok(
        lines.join("\n").as_bytes(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    let (merged, _) = state_of(&state);
    merged
        .report(
            "2022-06".parse().unwrap(),
            incident_monitor::clock::wall_now_ms(),
        )
        .unwrap()
        .stages
}

async fn drain(cfg: Config, state: &std::path::Path) -> incident_monitor::app::RunSummary {
    drain_watched(cfg, state).await.0
}

/// A drain keeping its state in a topic.
async fn drain_to_topic(cfg: Config, topic: &str) -> incident_monitor::app::RunSummary {
    drain_into(cfg, StateChoice::Topic(topic.to_owned()))
        .await
        .0
}

/// A drain, and the metrics of the run after it ended.
async fn drain_watched(
    cfg: Config,
    state: &std::path::Path,
) -> (incident_monitor::app::RunSummary, String) {
    drain_into(cfg, StateChoice::Dir(StateStore::new(state))).await
}

async fn drain_into(
    cfg: Config,
    state: StateChoice,
) -> (incident_monitor::app::RunSummary, String) {
    let opts = KafkaOptions {
        until_end: true,
        metrics_addr: "127.0.0.1:0".into(),
        progress: incident_monitor::progress::ProgressMode::Off,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let run = run_kafka(
        cfg.validate().unwrap(),
        state,
        opts,
        CancellationToken::new(),
        Some(tx),
    );
    let summary = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("drained in time")
        .unwrap();
    let started = rx.await.unwrap();
    (summary, started.metrics.encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ncsc_2022_through_a_four_partition_topic_is_exact() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("incidents", 4, 1).unwrap();
    let lines = ncsc_2022(2022);
    produce(&cluster.bootstrap_servers(), "incidents", &lines);
    let dir = TempDir::new("mock-ncsc");
    let (summary, metrics) = drain_watched(
        config(&cluster.bootstrap_servers(), "incidents", ""),
        &dir.0,
    )
    .await;
    assert!(summary.completed);
    assert_eq!(summary.outcomes.total(), lines.len() as u64);
    // One latency observation per message applied (each has a broker
    // timestamp), in cumulative buckets.
    let n = lines.len() as f64;
    assert_eq!(
        sample(
            &metrics,
            "incident_monitor_processing_latency_seconds_count"
        ),
        Some(n)
    );
    assert_eq!(
        sample(
            &metrics,
            "incident_monitor_processing_latency_seconds_bucket{le=\"+Inf\"}"
        ),
        Some(n)
    );

    let (merged, o) = state_of(&dir.0);
    assert_eq!(
        o.total(),
        lines.len() as u64,
        "every message has exactly one outcome"
    );
    let june = merged
        .report(
            "2022-06".parse().unwrap(),
            incident_monitor::clock::wall_now_ms(),
        )
        .unwrap();
    assert_eq!(june.total, 1178);
    assert_eq!(june.previous_month.total, 847);
    assert_eq!(june.year_to_date.total, 6641);
    assert_eq!(june.year_to_date.previous_period.total, 4914);
    assert_eq!(june.year_to_date.same_period_last_year.total, 4815);
    // The updates went to their incident's partition (keyed by id): the
    // stages and times are those of the same stream read from a file.
    assert_eq!(june.stages, june_stages_from_file(&lines));
    assert!(june.stages.is_some_and(|s| s.handled.count > 900));
    // Four partition files, each with its own position.
    let snaps = StateStore::new(&dir.0).load_all().unwrap();
    assert_eq!(snaps.len(), 4);
    let positions: u64 = snaps.iter().map(|s| s.position.next_offset).sum();
    assert_eq!(positions, lines.len() as u64);
    // The group's committed offsets are the checkpointed positions.
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "g-incidents")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for s in &snaps {
        tpl.add_partition("incidents", s.key.partition);
    }
    let committed = group
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    for s in &snaps {
        let at = committed
            .find_partition("incidents", s.key.partition)
            .unwrap()
            .offset();
        assert_eq!(
            at,
            rdkafka::Offset::Offset(s.position.next_offset as i64),
            "partition {}",
            s.key.partition
        );
    }

    // Running again on the same state counts nothing twice, in a fresh
    // group: no committed offset, yet each partition is assigned at the
    // position its restored checkpoint covers, so nothing is read again.
    let mut fresh = config(&cluster.bootstrap_servers(), "incidents", "");
    fresh.kafka.group_id = "g-incidents-fresh".into();
    let again = drain(fresh, &dir.0).await;
    assert!(again.completed);
    assert_eq!(
        again.events_this_run, 0,
        "a fresh group starts where the checkpoints end, not at offset 0"
    );
    let (merged2, o2) = state_of(&dir.0);
    assert_eq!(o2, o);
    assert_eq!(merged2.ledger, merged.ledger);

    // The first group again: nothing new to read, yet the partitions it is
    // assigned are restored at assignment (not at a first message), so the
    // run holds, and reports, all of them.
    let idle = drain(
        config(&cluster.bootstrap_servers(), "incidents", ""),
        &dir.0,
    )
    .await;
    assert!(idle.completed);
    assert_eq!(idle.events_this_run, 0);
    assert_eq!(idle.outcomes.total(), lines.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dead_letter_topic_and_neighbours_count() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("in", 1, 1).unwrap();
    cluster.create_topic("dlq", 1, 1).unwrap();
    let valid = |i: u32| {
        format!(r#"{{"id":"v{i}","time":"2022-06-0{i}T10:00:00+07:00","type":"phishing"}}"#)
    };
    let lines = vec![
        valid(1),
        "{\"id\":\"poison\",\"time\":".to_owned(),
        valid(2),
        "[]".to_owned(),
        valid(3),
    ];
    produce(&cluster.bootstrap_servers(), "in", &lines);
    let dir = TempDir::new("mock-dlq");
    let summary = drain(config(&cluster.bootstrap_servers(), "in", "dlq"), &dir.0).await;
    assert_eq!(summary.outcomes.accepted, 3);
    assert_eq!(summary.outcomes.invalid_total(), 2);

    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&["dlq"]).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 2 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let headers = m.headers().unwrap();
            let h: Vec<(String, String)> = headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect();
            got.push((
                String::from_utf8_lossy(m.payload().unwrap()).into_owned(),
                h,
            ));
        }
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, lines[1], "original bytes");
    let header = |i: usize, k: &str| {
        got[i]
            .1
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header(0, "incident-monitor-reason").as_deref(),
        Some("not_json")
    );
    assert_eq!(
        header(0, "incident-monitor-source-topic").as_deref(),
        Some("in")
    );
    assert_eq!(
        header(0, "incident-monitor-source-partition").as_deref(),
        Some("0")
    );
    assert_eq!(
        header(0, "incident-monitor-source-offset").as_deref(),
        Some("1")
    );
    assert_eq!(
        header(1, "incident-monitor-reason").as_deref(),
        Some("not_object")
    );
    assert_eq!(
        header(1, "incident-monitor-source-offset").as_deref(),
        Some("3")
    );
}

/// The state in a topic instead of a directory: the same figures, a
/// restart resumes from the topic, and any process reads the whole state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_topic_keeps_the_figures_across_a_restart() {
    use incident_monitor::kafka::TopicStore;
    use incident_monitor::report::{Format, Lang, MergedState, render};
    use incident_monitor::state::StateBackend;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("incidents", 4, 1).unwrap();
    // The mock cluster has no CreateTopics: made here (the real broker
    // tests let the monitor create it).
    cluster.create_topic("im-state", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let lines = ncsc_2022(2022);
    let (first, second) = lines.split_at(lines.len() / 2);
    produce(&brokers, "incidents", first);
    let cfg = config(&brokers, "incidents", "");
    let one = drain_to_topic(cfg.clone(), "im-state").await;
    assert_eq!(one.outcomes.total(), first.len() as u64);
    produce(&brokers, "incidents", second);
    // A new process (no memory, no directory): it resumes from the topic.
    let two = drain_to_topic(cfg.clone(), "im-state").await;
    assert!(two.completed);
    assert_eq!(
        two.events_this_run,
        second.len() as u64,
        "the first half is not read again"
    );
    let reader = TopicStore::reader(&cfg.kafka, "im-state").unwrap();
    let snaps = reader.load_all().unwrap();
    assert_eq!(snaps.len(), 4, "one checkpoint per partition");
    let merged = MergedState::load(&reader, "im-state").unwrap();
    let r = merged
        .report(
            "2022-06".parse().unwrap(),
            incident_monitor::clock::wall_now_ms(),
        )
        .unwrap();
    let json = render(&r, Lang::En, Format::Json, &cfg.report);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_june_2022_figures(&v);
    // Updates in the second half of incidents counted in the first: the
    // lifecycle came back from the state topic.
    assert_eq!(r.stages, june_stages_from_file(&lines));
    let meta = reader.load_meta().unwrap().unwrap();
    assert_eq!(meta.timezone, "Asia/Ho_Chi_Minh");
}

/// Each tool format through Kafka: the ncsc-2022 stream written as the
/// tool writes it, one topic per format, each drained with its format,
/// gives the published figures (as the same lines from a file do:
/// tests/formats.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tool_format_through_kafka_gives_the_published_figures() {
    use incident_monitor::decode::Format;
    use incident_monitor::generate::FormatWriter;
    use incident_monitor::report::{Format as ReportFormat, Lang, MergedState};
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let native = ncsc_2022(2022);
    for format in [
        Format::SuricataEve,
        Format::Wazuh,
        Format::Ecs,
        Format::Ocsf,
    ] {
        let topic = format!("in-{}", format.name());
        cluster.create_topic(&topic, 4, 1).unwrap();
        let mut cfg = config(&brokers, &topic, "");
        cfg.events.format = format;
        let writer = FormatWriter::new(format, cfg.clone().validate().unwrap().classifier);
        // Keyed by the native id, as `generate --brokers --format` does.
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("linger.ms", "10")
            .create()
            .unwrap();
        let mut sent = 0u64;
        for l in &native {
            // A tool sends no status updates.
            let Some(written) = writer.write(l) else {
                continue;
            };
            sent += 1;
            let id = incident_id(l).unwrap_or("");
            while p
                .send(BaseRecord::to(&topic).key(id).payload(&written))
                .is_err()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        p.flush(Duration::from_secs(30)).unwrap();
        let dir = TempDir::new(&format!("mock-{}", format.name()));
        let summary = drain(cfg.clone(), &dir.0).await;
        assert_eq!(summary.outcomes.total(), sent, "{}", format.name());
        let (merged, _): (MergedState, _) = state_of(&dir.0);
        let r = merged
            .report(
                "2022-06".parse().unwrap(),
                incident_monitor::clock::wall_now_ms(),
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&incident_monitor::report::render(
            &r,
            Lang::En,
            ReportFormat::Json,
            &cfg.report,
        ))
        .unwrap();
        assert_june_2022_figures(&v);
    }
}

/// Four inputs into one instance: the ncsc-2022 stream split over four
/// topics by incident id (a re-delivery comes from the same tool again),
/// each written by another tool, read at once by one run through
/// `[[inputs]]`, gives the same figures as the native stream from a file,
/// month by month, and the per-input counters say how much came from
/// where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_topics_into_one_instance_give_the_figures_of_the_file() {
    use incident_monitor::config::InputConfig;
    use incident_monitor::decode::Format;
    use incident_monitor::generate::FormatWriter;
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let native = ncsc_2022(2022);
    let formats = [
        ("ids", Format::SuricataEve),
        ("hids", Format::Wazuh),
        ("siem", Format::Ecs),
        ("cloud", Format::Ocsf),
    ];
    let mut cfg = config(&brokers, "unused", "");
    cfg.kafka.topic = Config::default().kafka.topic;
    cfg.kafka.group_id = "g-four-inputs".into();
    let classifier = cfg.clone().validate().unwrap().classifier;
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "10")
        .create()
        .unwrap();
    for (i, (name, format)) in formats.iter().enumerate() {
        let topic = format!("four-{}", format.name());
        // Partition counts differ between inputs, as they do in a SOC.
        cluster.create_topic(&topic, 2 + i as i32, 1).unwrap();
        cfg.inputs.push(InputConfig {
            name: (*name).to_owned(),
            topic: topic.clone(),
            format: Some(*format),
            wazuh_min_level: None,
            naive_time_zone: None,
            mapping: None,
            group_id: None,
        });
        let writer = FormatWriter::new(*format, classifier.clone());
        for l in native.iter().filter(|l| input_of(l, formats.len()) == i) {
            let id = incident_id(l).unwrap_or("");
            // A tool sends no status updates.
            let Some(written) = writer.write(l) else {
                continue;
            };
            while p
                .send(BaseRecord::to(&topic).key(id).payload(&written))
                .is_err()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();

    let dir = TempDir::new("mock-four-inputs");
    let (summary, metrics) = drain_watched(cfg, &dir.0).await;
    assert!(summary.completed);
    let tool_lines = |i: usize| {
        let writer = FormatWriter::new(formats[i].1, classifier.clone());
        native
            .iter()
            .filter(|l| input_of(l, formats.len()) == i && writer.write(l).is_some())
            .count() as u64
    };
    let all: u64 = (0..formats.len()).map(tool_lines).sum();
    assert_eq!(summary.outcomes.total(), all);
    // Every input's partitions are state partitions of their own.
    let (_, outcomes) = state_of(&dir.0);
    assert_eq!(outcomes.total(), all);
    let keys = StateStore::new(&dir.0).load_all().unwrap().len();
    assert_eq!(keys, 2 + 3 + 4 + 5);
    for (i, (name, _)) in formats.iter().enumerate() {
        let sent = tool_lines(i) as f64;
        let read: f64 = ["accepted", "duplicate", "invalid", "filtered"]
            .iter()
            .filter_map(|o| {
                sample(
                    &metrics,
                    &format!(
                        "incident_monitor_input_events_total{{input=\"{name}\",outcome=\"{o}\"}}"
                    ),
                )
            })
            .sum();
        assert_eq!(read, sent, "messages of input {name}");
    }

    // The file: the same incidents, native, in one stream.
    let file_state = TempDir::new("mock-four-inputs-file");
    let text = native.join("\n") + "\n";
    run_stdin_ok(
        text.as_bytes(),
        &[
            "--config",
            repo("config/ncsc-vietnam.toml").to_str().unwrap(),
            "--state-dir",
            file_state.0.to_str().unwrap(),
        ],
    );
    for month in [
        "2021-06", "2021-12", "2022-01", "2022-05", "2022-06", "2022-07", "2022-12",
    ] {
        // Severity scales, sectors and provinces are the tools' own
        // (Suricata knows neither): the counts, categories and changes are the same.
        let figures = |dir: &std::path::Path| {
            let mut v: serde_json::Value =
                serde_json::from_str(&report_of(dir, month, "en", "json")).unwrap();
            let o = v.as_object_mut().unwrap();
            assert!(o.remove("by_severity").is_some());
            assert!(o.remove("top_sectors").is_some());
            assert!(o.remove("top_provinces").is_some());
            // The names of the dimensions above.
            o.remove("display_names");
            // When each was read.
            o.remove("as_of");
            // Tools send no status updates: the file's stages (and the
            // sentence's clause about them) are the native stream's only.
            o.remove("stages");
            o.remove("sentence");
            v
        };
        assert_eq!(figures(&dir.0), figures(&file_state.0), "{month}");
    }
    let june: serde_json::Value =
        serde_json::from_str(&report_of(&dir.0, "2022-06", "en", "json")).unwrap();
    assert_june_2022_figures(&june);
}

/// Which of `n` inputs a native line goes to: by its id (a line without
/// one, by its text).
fn input_of(line: &str, n: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    incident_id(line).unwrap_or(line).hash(&mut h);
    (h.finish() % n as u64) as usize
}

/// A drain ends when every input is drained or has no partition here: an
/// instance joining a group where another holds the one partition of one
/// input drains its share of the other input and exits, instead of
/// waiting for a partition the group will not give it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_ends_when_an_input_has_no_partition_here() {
    use incident_monitor::config::InputConfig;
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic("wide", 2, 1).unwrap();
    cluster.create_topic("narrow", 1, 1).unwrap();
    // The mock cluster keeps about 5 MiB per partition: `narrow` gets
    // 6,000 lines (2.7 MiB).
    let mut lines = ncsc_2022(2022);
    lines.truncate(16_000);
    let (half_a, half_b) = lines.split_at(10_000);
    produce(&brokers, "wide", half_a);
    produce(&brokers, "narrow", half_b);
    let mut cfg = config(&brokers, "unused", "");
    cfg.kafka.topic = Config::default().kafka.topic;
    cfg.kafka.group_id = "g-uneven".into();
    for topic in ["wide", "narrow"] {
        cfg.inputs.push(InputConfig {
            name: topic.to_owned(),
            topic: topic.to_owned(),
            format: None,
            wazuh_min_level: None,
            naive_time_zone: None,
            mapping: None,
            group_id: None,
        });
    }
    // The first instance runs on and holds all three partitions.
    let dir = TempDir::new("mock-uneven");
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let first = tokio::spawn(run_kafka(
        cfg.clone().validate().unwrap(),
        StateChoice::Dir(StateStore::new(dir.path("shared"))),
        KafkaOptions {
            until_end: false,
            metrics_addr: "127.0.0.1:0".into(),
            progress: incident_monitor::progress::ProgressMode::Off,
        },
        stop.clone(),
        Some(tx),
    ));
    let started = rx.await.unwrap();
    let held = || {
        started
            .monitor
            .lock()
            .map(|m| m.partitions().count())
            .unwrap_or(0)
    };
    let t = std::time::Instant::now();
    while held() < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "first instance holds {}",
            held()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counted = || {
        started
            .monitor
            .lock()
            .map(|m| m.outcomes().total())
            .unwrap_or(0)
    };
    while counted() < lines.len() as u64 {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "counted {}",
            counted()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The second drains, on the same state: the group gives it one
    // partition of `wide` (handed over, checkpointed) and none of `narrow`.
    let summary = tokio::time::timeout(
        Duration::from_secs(90),
        drain_into(cfg, StateChoice::Dir(StateStore::new(dir.path("shared")))),
    )
    .await
    .expect("the drain ends although `narrow` has no partition for it")
    .0;
    assert!(summary.completed);
    // What it held: one `wide` partition's restored counts, no `narrow`.
    let held = summary.outcomes.total();
    assert!(held > 0 && held < half_a.len() as u64, "held {held}");
    stop.cancel();
    first.await.unwrap().unwrap();
    let (_, o) = state_of(&dir.path("shared"));
    assert_eq!(o.total(), lines.len() as u64, "every message counted once");
}

/// The real samples of each tool (tests/data/samples/, as tests/corpus.rs
/// reads them) through Kafka, every record produced twice (a re-delivery),
/// one topic per tool read at once through `[[inputs]]`: each input counts,
/// filters and rejects what the decoder says of the same lines, and every
/// second delivery is a duplicate, derived and fingerprinted ids included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_samples_of_each_tool_through_kafka() {
    use std::collections::BTreeSet;
    use std::hash::{Hash, Hasher};

    use incident_monitor::config::InputConfig;
    use incident_monitor::decode::{Decoded, Format};
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let mut cfg = config(&brokers, "unused", "");
    cfg.kafka.topic = Config::default().kafka.topic;
    cfg.kafka.group_id = "g-real-samples".into();
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "10")
        .create()
        .unwrap();
    // (input, distinct incidents, incident records, filtered records)
    let mut expected = Vec::new();
    for (name, format, dir) in [
        ("ids", Format::SuricataEve, "suricata"),
        ("hids", Format::Wazuh, "wazuh"),
        ("siem", Format::Ecs, "ecs"),
        ("cloud", Format::Ocsf, "ocsf"),
    ] {
        let topic = format!("real-{}", format.name());
        // One partition: which records are duplicates does not depend on
        // where their keys land.
        cluster.create_topic(&topic, 1, 1).unwrap();
        cfg.inputs.push(InputConfig {
            name: name.to_owned(),
            topic: topic.clone(),
            format: Some(format),
            wazuh_min_level: None,
            naive_time_zone: None,
            mapping: None,
            group_id: None,
        });
        let d = tool_decoder(format);
        let (mut ids, mut incidents, mut filtered) = (BTreeSet::new(), 0u64, 0u64);
        let files = sample_files(dir);
        for f in files {
            let text = std::fs::read(f).unwrap();
            for line in text.split(|&b| b == b'\n') {
                if line.trim_ascii().is_empty() {
                    continue;
                }
                match d.decode(line) {
                    Decoded::Event(e) => {
                        ids.insert(e.id.into_owned());
                        incidents += 1;
                    }
                    Decoded::Filtered(_) => filtered += 1,
                    Decoded::Invalid(r) => panic!("a real sample rejected: {}", r.code()),
                }
                // Keyed by the record, as a shipper keys a record it has
                // no id for.
                let mut h = std::collections::hash_map::DefaultHasher::new();
                line.hash(&mut h);
                let key = format!("{:016x}", h.finish());
                for _ in 0..2 {
                    while p
                        .send(BaseRecord::to(&topic).key(&key).payload(line))
                        .is_err()
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
        expected.push((name, ids.len() as u64, incidents, filtered));
    }
    p.flush(Duration::from_secs(30)).unwrap();

    let dir = TempDir::new("mock-real-samples");
    let (summary, metrics) = drain_watched(cfg, &dir.0).await;
    assert!(summary.completed);
    for (name, distinct, incidents, filtered) in expected {
        let n = |outcome: &str| {
            sample(
                &metrics,
                &format!(
                    "incident_monitor_input_events_total{{input=\"{name}\",outcome=\"{outcome}\"}}"
                ),
            )
            .unwrap_or(0.0) as u64
        };
        assert!(distinct > 0, "{name}: the samples have incidents");
        assert_eq!(n("accepted"), distinct, "{name}: accepted");
        assert_eq!(
            n("duplicate"),
            2 * incidents - distinct,
            "{name}: duplicates"
        );
        assert_eq!(n("filtered"), 2 * filtered, "{name}: filtered");
        assert_eq!(n("invalid"), 0, "{name}: invalid");
    }
}
