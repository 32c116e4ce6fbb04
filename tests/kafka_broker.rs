//! Integration tests against a real Kafka-protocol broker process (Tansu),
//! which `./scripts/test.sh` installs, starts, and names in
//! `IM_TEST_BROKERS`. Each test uses its own topics and groups.

mod common;

use std::time::Duration;

use common::*;
use incident_monitor::calendar::Ledger;
use incident_monitor::state::StateStore;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

fn brokers() -> String {
    std::env::var("IM_TEST_BROKERS")
        .expect("IM_TEST_BROKERS is not set: run ./scripts/test.sh, which starts the broker")
}

fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    )
}

fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .unwrap();
    for r in res {
        r.unwrap();
    }
}

/// A config file for the test broker: short sessions (its first JoinGroup
/// takes about session.timeout.ms / 2) and frequent statistics.
fn config_file(dir: &TempDir, extra: &str) -> String {
    let p = dir.path("broker-test.toml");
    std::fs::write(
        &p,
        format!(
            "timezone = \"Asia/Ho_Chi_Minh\"\n{extra}\n[state]\ncheckpoint_interval_ms = 200\n\
             [kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n\"statistics.interval.ms\" = \"500\"\n"
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_owned()
}

fn produce(topic: &str, lines: &[&str]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    for (i, l) in lines.iter().enumerate() {
        let key = format!("k{i}");
        while p.send(BaseRecord::to(topic).key(&key).payload(*l)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();
}

fn generate_to(topic: &str, args: &[&str]) {
    let b = brokers();
    let mut a = vec!["generate", "--brokers", b.as_str(), "--topic", topic];
    a.extend_from_slice(args);
    ok(bin().args(&a));
}

/// `run` arguments against the test broker.
fn run_args(
    cfg: &str,
    topic: &str,
    group: &str,
    state: &std::path::Path,
    until_end: bool,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        "--config",
        cfg,
        "--brokers",
        &brokers(),
        "--topic",
        topic,
        "--group",
        group,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if until_end {
        a.push("--until-end".into());
    }
    a.extend(
        [
            "--metrics-addr",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
        ]
        .map(String::from),
    );
    a
}

fn run_until_end(cfg: &str, topic: &str, group: &str, state: &std::path::Path) {
    ok(bin().args(run_args(cfg, topic, group, state, true)));
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn ncsc_2022_on_a_real_broker_gives_the_published_figures() {
    let dir = TempDir::new("real-ncsc");
    let topic = unique("ncsc");
    create_topic(&topic, 4);
    generate_to(&topic, &["--scenario", "ncsc-2022"]);
    let cfg = config_file(&dir, "");
    let state = dir.path("state");
    run_until_end(&cfg, &topic, &unique("g"), &state);
    let json = ok(bin().args([
        "report",
        "--month",
        "2022-06",
        "--format",
        "json",
        "--state-dir",
        state.to_str().unwrap(),
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["total"], 1178);
    assert_eq!(v["previous_month"]["change_percent"], 39.08);
    assert_eq!(v["year_to_date"]["total"], 6641);
    assert_eq!(
        v["year_to_date"]["previous_period"]["change_percent"],
        35.14
    );
    assert_eq!(
        v["year_to_date"]["same_period_last_year"]["change_percent"],
        37.92
    );
    assert_eq!(StateStore::new(&state).load_all().unwrap().len(), 4);
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn a_poison_message_goes_to_the_dead_letter_topic_and_the_valid_ones_count() {
    let dir = TempDir::new("real-dlq");
    let topic = unique("in");
    let dlq = unique("dlq");
    create_topic(&topic, 1);
    create_topic(&dlq, 1);
    let lines = [
        r#"{"id":"a","time":"2022-06-01T10:00:00+07:00","type":"phishing"}"#,
        "\u{1}garbage\u{2}",
        r#"{"id":"b","time":"2022-06-02T10:00:00+07:00","type":"malware"}"#,
    ];
    produce(&topic, &lines);
    let cfg = config_file(&dir, &format!("[kafka]\ndead_letter_topic = \"{dlq}\""));
    let state = dir.path("state");
    run_until_end(&cfg, &topic, &unique("g"), &state);
    let (merged, o) = state_of(&state);
    assert_eq!((o.accepted, o.invalid_total()), (2, 1));
    assert_eq!(merged.ledger.total("2022-06".parse().unwrap()), 2);

    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    c.subscribe(&[dlq.as_str()]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing on the dead-letter topic"
        );
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            assert_eq!(m.payload().unwrap(), lines[1].as_bytes());
            let h = m.headers().unwrap();
            let get = |k: &str| {
                h.iter()
                    .find(|x| x.key == k)
                    .and_then(|x| x.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            assert_eq!(get("incident-monitor-reason").as_deref(), Some("not_json"));
            assert_eq!(get("incident-monitor-source-offset").as_deref(), Some("1"));
            assert_eq!(
                get("incident-monitor-source-topic").as_deref(),
                Some(topic.as_str())
            );
            break;
        }
    }
}

/// Per (category, severity) totals in a ledger, keyed like the metric labels.
fn totals(l: &Ledger) -> Vec<(String, f64)> {
    let sev = ["low", "medium", "high", "critical", "unknown"];
    let mut out = Vec::new();
    for (ci, c) in l.categories().iter().enumerate() {
        for (si, s) in sev.iter().enumerate() {
            let n: u64 = l
                .months()
                .map(|(_, m)| m.by_category_severity[ci * 5 + si])
                .sum();
            out.push((
                format!("incident_monitor_incidents_total{{category=\"{c}\",severity=\"{s}\"}}"),
                n as f64,
            ));
        }
    }
    out
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn two_instances_split_the_partitions_and_their_metrics_sum_to_one() {
    let dir = TempDir::new("real-two");
    let topic = unique("two");
    create_topic(&topic, 4);
    generate_to(
        &topic,
        &["--scenario", "live", "--count", "20000", "--seed", "5"],
    );
    let cfg = config_file(&dir, "");

    let reference = dir.path("reference");
    run_until_end(&cfg, &topic, &unique("ref"), &reference);
    let (want, want_o) = state_of(&reference);
    assert_eq!(want_o.total(), 20_000);

    let shared = dir.path("shared");
    let args = run_args(&cfg, &topic, &unique("pair"), &shared, false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut a = Running::start(&args);
    let mut c = Running::start(&args);
    let (addr_a, addr_c) = (a.metrics_addr(60), c.metrics_addr(60));
    let (mut ta, mut tc) = (String::new(), String::new());
    wait_until(
        120,
        "both instances to own partitions and count every message",
        || {
            ta = http_get(&addr_a, "/metrics").1;
            tc = http_get(&addr_c, "/metrics").1;
            let owned = |t: &str| sample(t, "incident_monitor_assigned_partitions").unwrap_or(0.0);
            owned(&ta) >= 1.0
                && owned(&tc) >= 1.0
                && owned(&ta) + owned(&tc) == 4.0
                && sum_of(&ta, "incident_monitor_events_total")
                    + sum_of(&tc, "incident_monitor_events_total")
                    == 20_000.0
        },
    );
    for (series, n) in totals(&want.ledger) {
        let got = sample(&ta, &series).unwrap_or(0.0) + sample(&tc, &series).unwrap_or(0.0);
        assert_eq!(got, n, "{series}");
    }
    assert!(a.terminate().success());
    assert!(c.terminate().success());
    // The shared state holds exactly the single-instance figures.
    let (got, got_o) = state_of(&shared);
    assert_eq!(got.ledger, want.ledger);
    assert_eq!(got_o, want_o);
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn sigkill_mid_stream_and_restart_gives_the_uninterrupted_figures() {
    const N: u64 = 150_000;
    let dir = TempDir::new("real-kill");
    let topic = unique("kill");
    create_topic(&topic, 4);
    generate_to(
        &topic,
        &[
            "--scenario",
            "live",
            "--count",
            &N.to_string(),
            "--seed",
            "77",
        ],
    );
    let cfg = config_file(&dir, "");

    let reference = dir.path("reference");
    run_until_end(&cfg, &topic, &unique("ref"), &reference);
    let (want, want_o) = state_of(&reference);
    assert_eq!(want_o.total(), N);

    let victim = dir.path("victim");
    let args = run_args(&cfg, &topic, &unique("victim"), &victim, true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let store = StateStore::new(&victim);
    let progress = || -> u64 {
        store
            .load_all()
            .map(|s| s.iter().map(|x| x.position.next_offset).sum())
            .unwrap_or(0)
    };
    let mut run = Running::start(&args);
    wait_until(120, "a checkpoint mid-stream", || progress() > 0);
    run.child.kill().unwrap(); // SIGKILL
    run.child.wait().unwrap();
    let at = progress();
    assert!(at > 0 && at < N, "killed at {at} of {N}: not mid-stream");

    let mut again = Running::start(&args);
    let status = again.child.wait().unwrap();
    assert!(status.success(), "restart failed:\n{}", again.log());
    let (got, got_o) = state_of(&victim);
    assert_eq!(
        got.ledger, want.ledger,
        "monthly figures differ after SIGKILL and restart"
    );
    assert_eq!(got_o, want_o);
}

/// A drain of several seconds (a small fetch size throttles it) shows its
/// progress as log events whose counts rise and end at the run's totals;
/// `generate --brokers` shows its own.
#[test]
#[ignore = "needs the test broker: run ./scripts/test.sh"]
fn a_drain_and_bulk_production_log_their_progress() {
    let topic = unique("progress");
    create_topic(&topic, 2);
    let b = brokers();
    let log = ok_log(bin().args([
        "--log-format",
        "json",
        "--progress-interval",
        "0.3",
        "generate",
        "--scenario",
        "live",
        "--count",
        "150000",
        "--brokers",
        &b,
        "--topic",
        &topic,
    ]));
    let produced = progress_events(&log);
    assert!(!produced.is_empty(), "{log}");
    let last = produced.last().unwrap();
    assert_eq!(last["events"], 150_000);
    assert_eq!(last["acknowledged"], 150_000);
    assert_eq!(last["percent"], 100.0);

    let dir = TempDir::new("progress-drain");
    let cfg = config_file(&dir, "");
    // Throttled: small fetches, so the drain lasts several seconds.
    let throttled = format!(
        "{}\"fetch.max.bytes\" = \"1000000\"\n\"max.partition.fetch.bytes\" = \"16384\"\n\"queued.max.messages.kbytes\" = \"64\"\n",
        std::fs::read_to_string(&cfg).unwrap()
    );
    std::fs::write(&cfg, throttled).unwrap();
    let state = dir.path("state");
    let mut args = vec![
        "--log-format".to_owned(),
        "json".into(),
        "--progress-interval".into(),
        "0.3".into(),
    ];
    args.extend(run_args(&cfg, &topic, &unique("g"), &state, true));
    let log = ok_log(bin().args(&args));
    let events = progress_events(&log);
    let finished = finished_event(&log);
    assert_progress_agrees(&events, &finished);
    assert_eq!(finished["events_this_run"], 150_000);
    let last = events.last().unwrap();
    assert_eq!(last["lag"], 0);
    assert_eq!(last["percent"], 100.0);
    assert!(
        events
            .iter()
            .any(|e| e["lag"].as_u64().is_some_and(|l| l > 0)),
        "{events:?}"
    );
}
