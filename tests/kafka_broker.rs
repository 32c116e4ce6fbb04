//! Integration tests against a real Kafka-protocol broker process (Tansu),
//! which `./scripts/test.sh` installs, starts, and names in
//! `IM_TEST_BROKERS`. Each test uses its own topics and groups.

mod common;

use std::time::Duration;

use common::*;
use incident_monitor::calendar::Ledger;
use incident_monitor::kafka::TopicStore;
use incident_monitor::report::MergedState;
use incident_monitor::state::{Outcomes, StateBackend, StateStore};
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

/// Where a run under test keeps its state.
enum State {
    Dir(std::path::PathBuf),
    Topic(String),
}

impl State {
    /// A new, empty state of each backend.
    fn fresh(topic_backend: bool, dir: &TempDir, name: &str) -> State {
        if topic_backend {
            State::Topic(unique(name))
        } else {
            State::Dir(dir.path(name))
        }
    }

    fn flags(&self) -> [String; 2] {
        match self {
            State::Dir(d) => ["--state-dir".into(), d.to_str().unwrap().into()],
            State::Topic(t) => ["--state-topic".into(), t.clone()],
        }
    }

    fn snapshots(&self) -> Vec<incident_monitor::state::Snapshot> {
        match self {
            State::Dir(d) => StateStore::new(d).load_all().unwrap_or_default(),
            State::Topic(t) => {
                let k = incident_monitor::config::KafkaConfig {
                    brokers: brokers(),
                    connect_timeout_secs: 20,
                    ..Default::default()
                };
                TopicStore::reader(&k, t)
                    .and_then(|r| r.load_all())
                    .unwrap_or_default()
            }
        }
    }

    /// Merged ledger and summed counters.
    fn load(&self) -> (MergedState, Outcomes) {
        let snaps = self.snapshots();
        let mut o = Outcomes::default();
        for s in &snaps {
            o.add(&s.outcomes);
        }
        (MergedState::from_snapshots(&snaps, "test").unwrap(), o)
    }

    /// Messages covered by the checkpoints.
    fn covered(&self) -> u64 {
        self.snapshots().iter().map(|s| s.outcomes.total()).sum()
    }

    /// `report` of a month, as a separate process reads it.
    fn report(&self, month: &str, format: &str) -> String {
        let b = brokers();
        let mut a: Vec<String> = ["report", "--month", month, "--format", format]
            .map(String::from)
            .to_vec();
        if matches!(self, State::Topic(_)) {
            a.extend(["--brokers".to_owned(), b]);
        }
        a.extend(self.flags());
        ok(bin().args(&a))
    }
}

/// `run` arguments against the test broker.
fn run_args(
    cfg: &str,
    topic: &str,
    group: &str,
    state: &std::path::Path,
    until_end: bool,
) -> Vec<String> {
    run_args_in(cfg, topic, group, &State::Dir(state.to_owned()), until_end)
}

/// `run` arguments against the test broker, with either backend.
fn run_args_in(cfg: &str, topic: &str, group: &str, state: &State, until_end: bool) -> Vec<String> {
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
    a.extend(["--metrics-addr", "127.0.0.1:0"].map(String::from));
    a.extend(state.flags());
    a
}

fn run_until_end(cfg: &str, topic: &str, group: &str, state: &std::path::Path) {
    ok(bin().args(run_args(cfg, topic, group, state, true)));
}

fn ncsc_2022_gives_the_published_figures(topic_backend: bool) {
    let dir = TempDir::new("real-ncsc");
    let topic = unique("ncsc");
    create_topic(&topic, 4);
    generate_to(&topic, &["--scenario", "ncsc-2022"]);
    let cfg = config_file(&dir, "");
    let state = State::fresh(topic_backend, &dir, "state");
    ok(bin().args(run_args_in(&cfg, &topic, &unique("g"), &state, true)));
    let json = state.report("2022-06", "json");
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
    assert_eq!(state.snapshots().len(), 4);
    // `publish` reads the whole state, all four partitions, from where it
    // is (the directory, or the topic through the brokers).
    let archive = dir.path("archive");
    let mut a: Vec<String> = ["publish", "--archive", archive.to_str().unwrap()]
        .map(String::from)
        .to_vec();
    if topic_backend {
        a.extend(["--brokers".to_owned(), brokers()]);
    }
    a.extend(state.flags());
    let said = ok(bin().args(&a));
    assert!(
        said.contains("2022-06 v1 written (1178 incidents)"),
        "{said}"
    );
    let june: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("2022-06/v1/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(june["total"], 1178);
    assert_eq!(june["by_category"]["phishing"], 766);
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn ncsc_2022_on_a_real_broker_gives_the_published_figures() {
    ncsc_2022_gives_the_published_figures(false);
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn ncsc_2022_with_a_state_topic_gives_the_published_figures() {
    ncsc_2022_gives_the_published_figures(true);
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
    two_instances_split_the_partitions(false);
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn two_instances_with_a_state_topic_split_the_partitions() {
    two_instances_split_the_partitions(true);
}

fn two_instances_split_the_partitions(topic_backend: bool) {
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

    let shared = State::fresh(topic_backend, &dir, "shared");
    let args = run_args_in(&cfg, &topic, &unique("pair"), &shared, false);
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
    // Per severity: the counter keeps each incident's first category (a
    // corrected type moves the months, not a counter), so the categories
    // are compared in the shared state below.
    let mut by_severity: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    for (series, n) in totals(&want.ledger) {
        let got = sample(&ta, &series).unwrap_or(0.0) + sample(&tc, &series).unwrap_or(0.0);
        let severity = series.rsplit("severity=").next().unwrap_or("").to_owned();
        let e = by_severity.entry(severity).or_default();
        e.0 += got;
        e.1 += n;
    }
    for (severity, (got, want)) in by_severity {
        assert_eq!(got, want, "incidents_total of severity {severity}");
    }
    assert!(a.terminate().success());
    assert!(c.terminate().success());
    // The shared state holds exactly the single-instance figures.
    let (got, got_o) = shared.load();
    assert_eq!(got.ledger, want.ledger);
    assert_eq!(got_o, want_o);
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn sigkill_mid_stream_and_restart_gives_the_uninterrupted_figures() {
    sigkill_mid_stream_and_restart(false);
}

#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn sigkill_mid_stream_with_a_state_topic_gives_the_uninterrupted_figures() {
    sigkill_mid_stream_and_restart(true);
}

fn sigkill_mid_stream_and_restart(topic_backend: bool) {
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

    let victim = State::fresh(topic_backend, &dir, "victim");
    let args = run_args_in(&cfg, &topic, &unique("victim"), &victim, true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let progress = || victim.covered();
    let mut run = Running::start(&args);
    wait_until(120, "a checkpoint mid-stream", || progress() > 0);
    run.child.kill().unwrap(); // SIGKILL
    run.child.wait().unwrap();
    let at = progress();
    assert!(at > 0 && at < N, "killed at {at} of {N}: not mid-stream");

    let mut again = Running::start(&args);
    let status = again.child.wait().unwrap();
    assert!(status.success(), "restart failed:\n{}", again.log());
    let (got, got_o) = victim.load();
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

/// One scrape of `addr`, or `None` while nothing answers there.
fn try_scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// `_total` samples of a scrape, by series, and the process's start time.
fn totals_of(text: &str) -> (String, Vec<(String, f64)>) {
    let start = text
        .lines()
        .find(|l| l.starts_with("process_start_time_seconds "))
        .unwrap_or_default()
        .to_owned();
    let series = text
        .lines()
        .filter(|l| l.starts_with("incident_monitor_"))
        .filter_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            let metric = name.split('{').next()?;
            let counter = metric.ends_with("_total") || metric.ends_with("_count");
            Some((name.to_owned(), v.parse().ok()?)).filter(|_| counter)
        })
        .collect();
    (start, series)
}

/// Scrapes `addrs` until stopped and records every `_total` or `_count`
/// series of a process that went down between two scrapes of that process.
fn watch_counters(
    addrs: Vec<String>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        use std::collections::HashMap;
        let mut last: HashMap<(String, String, String), f64> = HashMap::new();
        let (mut scrapes, mut drops) = (0, Vec::new());
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for addr in &addrs {
                let Some(text) = try_scrape(addr) else {
                    continue;
                };
                scrapes += 1;
                let (process, series) = totals_of(&text);
                for (name, v) in series {
                    let key = (addr.clone(), process.clone(), name.clone());
                    if let Some(before) = last.insert(key, v)
                        && v < before
                    {
                        drops.push(format!(
                            "{addr} {process}: {name} went from {before} to {v}"
                        ));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        (scrapes, drops)
    })
}

/// Replicas as operators run them, watched by a real Prometheus with the
/// shipped rules: A counts the topic, B joins the group, A is killed with
/// SIGKILL and restarted. Each process's counters only go up, no spike,
/// rate or silence alert fires, and once the group is stable the summed
/// month gauges are the single-instance figures.
#[test]
#[ignore = "needs the real broker and prometheus: ./scripts/test.sh"]
fn replicas_joining_and_a_kill_move_no_counter_and_fire_no_alert() {
    let dir = TempDir::new("real-replicas");
    let topic = unique("replicas");
    create_topic(&topic, 4);
    generate_to(
        &topic,
        &["--scenario", "live", "--count", "20000", "--seed", "9"],
    );
    // Spike baselines that warm up within seconds, so a move that doubled
    // an instance's windows would score as a spike if it were not rebased.
    let cfg = config_file(
        &dir,
        "[metrics]\nupdate_interval_ms = 250\n[spike]\nwarmup_samples = 4\nmin_count = 3\n",
    );
    let reference = dir.path("reference");
    run_until_end(&cfg, &topic, &unique("ref"), &reference);
    let (want, _) = state_of(&reference);

    let (addr_a, addr_b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let prom = Prometheus::start(&dir, &[addr_a.as_str(), addr_b.as_str()]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_counters(vec![addr_a.clone(), addr_b.clone()], stop.clone());
    let group = unique("pair");
    let shared = dir.path("shared");
    let args = |addr: &str| -> Vec<String> {
        let mut a = run_args(&cfg, &topic, &group, &shared, false);
        let i = a.iter().position(|x| x == "127.0.0.1:0").unwrap();
        a[i] = addr.to_owned();
        a
    };
    let start = |addr: &str| {
        let a = args(addr);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        Running::start(&a)
    };
    let owned = |addr: &str| {
        try_scrape(addr).map_or(0.0, |t| {
            sample(&t, "incident_monitor_assigned_partitions").unwrap_or(0.0)
        })
    };
    let a = start(&addr_a);
    wait_until(120, "A to count the topic", || {
        try_scrape(&addr_a).is_some_and(|t| sum_of(&t, "incident_monitor_events_total") == 20_000.0)
    });
    let b = start(&addr_b);
    wait_until(120, "B to join and take partitions", || {
        owned(&addr_b) >= 1.0 && owned(&addr_a) + owned(&addr_b) == 4.0
    });
    std::thread::sleep(Duration::from_secs(3));
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    drop(a);
    wait_until(120, "B to take A's partitions", || owned(&addr_b) == 4.0);
    std::thread::sleep(Duration::from_secs(3));
    let a2 = start(&addr_a);
    wait_until(120, "the group to settle with both", || {
        owned(&addr_a) >= 1.0 && owned(&addr_a) + owned(&addr_b) == 4.0
    });
    // Several scrapes and rule evaluations of the settled group.
    std::thread::sleep(Duration::from_secs(6));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (scrapes, drops) = watcher.join().unwrap();
    assert!(scrapes > 50, "only {scrapes} scrapes");
    assert!(
        drops.is_empty(),
        "counters went down:\n{}",
        drops.join("\n")
    );

    // No spike, rate or silence alert was even pending at any point, and
    // the monitors' own spike gauges never rose.
    let alerts = prom_query(
        &prom.addr,
        "count_over_time(ALERTS{alertname=~\"IncidentSpike|IncidentRateAboveBaseline|IncidentsSilent\"}[1h])",
    )
    .unwrap();
    assert!(alerts.is_empty(), "alerts: {alerts:?}");
    let spikes = prom_query(&prom.addr, "max_over_time(incident_monitor_spike[1h]) > 0").unwrap();
    assert!(spikes.is_empty(), "spike gauges: {spikes:?}");
    // The shipped rules were evaluated over the run.
    assert!(
        !prom_query(&prom.addr, "incident_monitor:events:rate5m")
            .unwrap()
            .is_empty()
    );

    // The summed month gauges are the single-instance figures, once each
    // instance has restored what it was assigned (on a loaded machine the
    // assignment shows before the restored state is published).
    let settled = || {
        let (Some(ta), Some(tb)) = (try_scrape(&addr_a), try_scrape(&addr_b)) else {
            return false;
        };
        let series = "incident_monitor_incidents_month{category=\"phishing\",period=\"current\"}";
        let current = ta
            .lines()
            .find_map(|l| l.strip_prefix("incident_monitor_current_month_info{month=\""))
            .and_then(|r| r.split('"').next())
            .and_then(|m| m.parse::<incident_monitor::calendar::YearMonth>().ok());
        let Some(ym) = current else { return false };
        let ci = want
            .ledger
            .categories()
            .iter()
            .position(|c| c == "phishing");
        let got = sample(&ta, series).unwrap_or(0.0) + sample(&tb, series).unwrap_or(0.0);
        ci.is_some_and(|ci| got == want.ledger.category_total(ym, ci) as f64)
    };
    wait_until(60, "the summed month gauges to settle", settled);
    let ta = try_scrape(&addr_a).unwrap();
    let tb = try_scrape(&addr_b).unwrap();
    let month_of = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("incident_monitor_current_month_info{month=\""))
            .and_then(|r| r.split('"').next())
            .map(str::to_owned)
    };
    let current = month_of(&ta).unwrap();
    assert_eq!(month_of(&tb).as_deref(), Some(current.as_str()));
    let ym: incident_monitor::calendar::YearMonth = current.parse().unwrap();
    for (period, m) in [("current", ym), ("previous", ym.plus(-1))] {
        for (ci, c) in want.ledger.categories().iter().enumerate() {
            let series =
                format!("incident_monitor_incidents_month{{category=\"{c}\",period=\"{period}\"}}");
            let got = sample(&ta, &series).unwrap_or(0.0) + sample(&tb, &series).unwrap_or(0.0);
            assert_eq!(got, want.ledger.category_total(m, ci) as f64, "{series}");
        }
    }
    assert!(a2.terminate().success());
    assert!(b.terminate().success());
}

/// A config whose drains last many seconds (small fetches), so instances
/// join, die and pause while the stream is being consumed.
fn throttled_config(dir: &TempDir) -> String {
    let cfg = config_file(dir, "");
    let throttled = format!(
        "{}\"fetch.max.bytes\" = \"1000000\"\n\"max.partition.fetch.bytes\" = \"16384\"\n\"queued.max.messages.kbytes\" = \"64\"\n",
        std::fs::read_to_string(&cfg).unwrap()
    );
    std::fs::write(&cfg, throttled).unwrap();
    cfg
}

/// The ncsc-2022 stream with seed `seed` (a copy with its own ids).
fn ncsc_copy(seed: u64) -> Vec<u8> {
    generate(&["--scenario", "ncsc-2022", "--seed", &seed.to_string()])
}

/// The oracle: the same lines counted from a file by one process, and its
/// reports (§9: June 2022 in English and Vietnamese, and as JSON).
struct Oracle {
    state: std::path::PathBuf,
    lines: u64,
}

impl Oracle {
    fn of(dir: &TempDir, cfg: &str, copies: &[Vec<u8>]) -> Oracle {
        let file = dir.path("oracle.jsonl");
        std::fs::write(&file, copies.concat()).unwrap();
        let state = dir.path("oracle-state");
        ok(bin().args([
            "run",
            "--config",
            cfg,
            "--input",
            file.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ]));
        let lines = copies
            .iter()
            .map(|c| c.iter().filter(|&&b| b == b'\n').count() as u64)
            .sum();
        Oracle { state, lines }
    }

    /// Asserts a state holds exactly the oracle's figures, and that a
    /// separate process's report of it equals the oracle's byte for byte.
    fn assert_same(&self, state: &State) {
        let (want, want_o) = state_of(&self.state);
        let (got, got_o) = state.load();
        assert_eq!(got.ledger, want.ledger, "monthly figures differ");
        assert_eq!(got_o.accepted, want_o.accepted);
        assert_eq!(got_o.duplicate, want_o.duplicate);
        assert_eq!(got_o.invalid, want_o.invalid);
        for (lang, format) in [("en", "text"), ("vi", "text"), ("en", "json")] {
            let want = report_of(&self.state, "2022-06", lang, format);
            let b = brokers();
            let mut a: Vec<String> = [
                "report", "--month", "2022-06", "--lang", lang, "--format", format,
            ]
            .map(String::from)
            .to_vec();
            if matches!(state, State::Topic(_)) {
                a.extend(["--brokers".to_owned(), b]);
            }
            a.extend(state.flags());
            assert_eq!(
                without_as_of(&ok(bin().args(&a))),
                without_as_of(&want),
                "report {lang} {format}"
            );
        }
    }
}

/// Partitions an instance owns, from its metrics (0 while it does not answer).
fn owned_by(addr: &str) -> f64 {
    try_scrape(addr).map_or(0.0, |t| {
        sample(&t, "incident_monitor_assigned_partitions").unwrap_or(0.0)
    })
}

/// A `run` of the group on the state topic, serving metrics on `addr`.
fn member(cfg: &str, topic: &str, group: &str, state: &State, addr: &str) -> Running {
    let mut a = run_args_in(cfg, topic, group, state, false);
    let i = a.iter().position(|x| x == "127.0.0.1:0").unwrap();
    a[i] = addr.to_owned();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    Running::start(&a)
}

fn addrs(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect()
}

/// One instance, then three, then one again, while four copies of the
/// ncsc-2022 stream arrive; no instance has a state directory. The figures
/// and the reports (built by a fourth process from the topic) are the
/// single-process ones.
#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn scaling_one_three_one_on_a_state_topic_keeps_the_figures() {
    let dir = TempDir::new("scale-131");
    let topic = unique("scale");
    create_topic(&topic, 4);
    let cfg = throttled_config(&dir);
    let copies: Vec<Vec<u8>> = (1..=4).map(ncsc_copy).collect();
    let oracle = Oracle::of(&dir, &cfg, &copies);
    let state = State::Topic(unique("scale-state"));
    let group = unique("g");
    let per_copy = oracle.lines / 4;
    let produce_copy = |i: usize| {
        let lines: Vec<&str> = std::str::from_utf8(&copies[i]).unwrap().lines().collect();
        produce_keyed(&topic, &lines);
    };
    let at = addrs(3);
    produce_copy(0);
    let a = member(&cfg, &topic, &group, &state, &at[0]);
    wait_until(120, "one instance to own the topic", || {
        owned_by(&at[0]) == 4.0
    });
    produce_copy(1);
    let b = member(&cfg, &topic, &group, &state, &at[1]);
    let c = member(&cfg, &topic, &group, &state, &at[2]);
    wait_until(120, "three instances to share the partitions", || {
        let o: Vec<f64> = at.iter().map(|x| owned_by(x)).collect();
        o.iter().all(|&n| n >= 1.0) && o.iter().sum::<f64>() == 4.0
    });
    let mid = state.covered();
    assert!(mid < oracle.lines, "the stream was consumed before scaling");
    produce_copy(2);
    std::thread::sleep(Duration::from_secs(2));
    assert!(b.terminate().success());
    assert!(c.terminate().success());
    wait_until(120, "one instance to own the topic again", || {
        owned_by(&at[0]) == 4.0
    });
    produce_copy(3);
    wait_until(240, "every message to be counted", || {
        state.covered() == oracle.lines
    });
    assert!(a.terminate().success());
    assert!(per_copy > 20_000);
    oracle.assert_same(&state);
}

/// Three instances on a state topic; one is killed (SIGKILL) mid-stream
/// and started again: the figures are the single-process ones.
#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn sigkill_of_one_of_three_on_a_state_topic_keeps_the_figures() {
    let dir = TempDir::new("kill-3");
    let topic = unique("kill3");
    create_topic(&topic, 4);
    let cfg = throttled_config(&dir);
    let copies: Vec<Vec<u8>> = (11..=14).map(ncsc_copy).collect();
    let oracle = Oracle::of(&dir, &cfg, &copies);
    let state = State::Topic(unique("kill3-state"));
    let group = unique("g");
    let at = addrs(3);
    let mut members: Vec<Running> = at
        .iter()
        .map(|x| member(&cfg, &topic, &group, &state, x))
        .collect();
    wait_until(120, "three instances to share the partitions", || {
        let o: Vec<f64> = at.iter().map(|x| owned_by(x)).collect();
        o.iter().all(|&n| n >= 1.0) && o.iter().sum::<f64>() == 4.0
    });
    let stream = Stream::start(&topic, copies.concat());
    wait_until(120, "checkpoints of the stream", || state.covered() > 0);
    assert!(!stream.done(), "not mid-stream");
    members[1].child.kill().unwrap(); // SIGKILL
    members[1].child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    members[1] = member(&cfg, &topic, &group, &state, &at[1]);
    stream.join();
    wait_until(240, "every message to be counted", || {
        state.covered() == oracle.lines
    });
    // Each instance holds some partitions; its /report covers them all.
    let want = report_of(&oracle.state, "2022-06", "en", "json");
    for x in &at {
        assert!(owned_by(x) < 4.0);
        let (status, body) = http_get(x, "/report?month=2022-06&format=json");
        assert_eq!(status, 200);
        assert_eq!(without_as_of(&body), without_as_of(&want), "/report of {x}");
    }
    for m in members {
        assert!(m.terminate().success());
    }
    oracle.assert_same(&state);
}

/// An instance stopped (SIGSTOP) past its session timeout loses its
/// partitions to the others; resumed (SIGCONT), it finds them lost and
/// whatever it still writes is never taken as current: the figures are
/// the single-process ones.
#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn sigstop_past_the_session_timeout_then_sigcont_is_fenced() {
    let dir = TempDir::new("stop");
    let topic = unique("stop");
    create_topic(&topic, 4);
    let cfg = throttled_config(&dir);
    let copies: Vec<Vec<u8>> = (21..=24).map(ncsc_copy).collect();
    let oracle = Oracle::of(&dir, &cfg, &copies);
    let state = State::Topic(unique("stop-state"));
    let group = unique("g");
    let at = addrs(2);
    let a = member(&cfg, &topic, &group, &state, &at[0]);
    let b = member(&cfg, &topic, &group, &state, &at[1]);
    wait_until(120, "two instances to share the partitions", || {
        owned_by(&at[0]) >= 1.0 && owned_by(&at[0]) + owned_by(&at[1]) == 4.0
    });
    let stream = Stream::start(&topic, copies.concat());
    wait_until(120, "checkpoints of the stream", || state.covered() > 0);
    let pid = a.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped_at = state.covered();
    wait_until(120, "the other instance to take every partition", || {
        owned_by(&at[1]) == 4.0
    });
    // The group went on without A: B counts A's partitions from A's last
    // checkpoint.
    wait_until(60, "B to count past A's checkpoints", || {
        state.covered() > stopped_at
    });
    assert!(!stream.done(), "the stream ended while A was stopped");
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    stream.join();
    wait_until(240, "every message to be counted", || {
        state.covered() == oracle.lines
    });
    // A comes back into the group (and may take partitions again).
    wait_until(120, "A to rejoin", || {
        owned_by(&at[0]) + owned_by(&at[1]) == 4.0
    });
    let log_a = a.log();
    assert!(b.terminate().success());
    assert!(a.terminate().success());
    assert!(
        log_a.contains("partitions lost"),
        "A never found its partitions lost:\n{log_a}"
    );
    oracle.assert_same(&state);
}

/// A stream produced in the background at about 4,000 messages a second,
/// keyed by incident id.
struct Stream {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Stream {
    fn start(topic: &str, jsonl: Vec<u8>) -> Stream {
        let text = String::from_utf8(jsonl).unwrap();
        let keyed = text
            .lines()
            .map(|l| {
                let key = incident_monitor::generate::incident_id(l).unwrap_or("");
                (key.to_owned(), l.to_owned())
            })
            .collect();
        Stream::of_keyed(topic, keyed)
    }

    /// `(key, message)` pairs: a tool's message keyed by the incident id
    /// it was written from.
    fn of_keyed(topic: &str, keyed: Vec<(String, String)>) -> Stream {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, topic) = (done.clone(), topic.to_owned());
        let thread = std::thread::spawn(move || {
            for chunk in keyed.chunks(400) {
                produce_pairs(&topic, chunk);
                std::thread::sleep(Duration::from_millis(100));
            }
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        Stream { done, thread }
    }

    fn done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn join(self) {
        self.thread.join().unwrap();
    }
}

/// Produces lines keyed by incident id (as `generate --brokers` does), so
/// re-deliveries meet on one partition.
fn produce_keyed(topic: &str, lines: &[&str]) {
    let pairs: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let key = incident_monitor::generate::incident_id(l).unwrap_or("");
            (key.to_owned(), (*l).to_owned())
        })
        .collect();
    produce_pairs(topic, &pairs);
}

/// Produces `(key, message)` pairs.
fn produce_pairs(topic: &str, pairs: &[(String, String)]) {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", brokers());
    produce_with(
        &client,
        topic,
        pairs.iter().map(|(k, l)| (k.as_str(), l.as_str())),
    );
}

/// Fencing on the real broker, step by step: A owns a partition, B claims
/// it, A (not knowing) writes a later checkpoint; readers and the next
/// owner take B's.
#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn a_late_write_of_a_previous_owner_is_never_current() {
    use incident_monitor::count::Engine;
    use incident_monitor::state::{MonitorMeta, PartitionKey};
    let input = unique("fence-in");
    create_topic(&input, 2);
    let k = incident_monitor::config::KafkaConfig {
        brokers: brokers(),
        topic: input.clone(),
        connect_timeout_secs: 20,
        ..Default::default()
    };
    let topic = unique("fence-state");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let connect = |owner: &str| {
        rt.block_on(TopicStore::connect(
            &k,
            std::slice::from_ref(&input),
            &topic,
            owner,
        ))
        .unwrap()
    };
    let a = connect("A");
    let b = connect("B");
    let settings = incident_monitor::config::Config::default()
        .validate()
        .unwrap();
    a.open(&MonitorMeta {
        timezone: "UTC".into(),
        report: Default::default(),
        labels: Default::default(),
    })
    .unwrap();
    let mut engine = Engine::new(settings.clone());
    let key = PartitionKey {
        source: incident_monitor::state::Source::kafka(&input),
        partition: 1,
    };
    let feed = |engine: &mut Engine,
                st: &mut incident_monitor::state::PartitionState,
                from: u64,
                to: u64| {
        for i in from..to {
            let l = format!(r#"{{"id":"f{i}","time":"2022-06-01T00:00:00Z","type":"ddos"}}"#);
            engine.apply(st, l.as_bytes(), incident_monitor::clock::wall_now_ms());
            st.position.next_offset = i + 1;
            st.position.records += 1;
        }
    };
    assert!(a.claim(&key).unwrap().is_none());
    let mut sa = engine.new_partition(key.clone());
    feed(&mut engine, &mut sa, 0, 100);
    a.write(&a.checkpoint(&sa, "UTC", 1)).unwrap();

    let snap = b.claim(&key).unwrap().expect("A's checkpoint");
    assert_eq!(snap.position.next_offset, 100);
    let mut sb = incident_monitor::state::PartitionState::restore(
        snap,
        &settings,
        incident_monitor::clock::wall_now_ms(),
    )
    .unwrap();
    feed(&mut engine, &mut sb, 100, 150);
    b.write(&b.checkpoint(&sb, "UTC", 2)).unwrap();

    // A resumes after a pause and writes on, under its old claim.
    feed(&mut engine, &mut sa, 100, 600);
    a.write(&a.checkpoint(&sa, "UTC", 3)).unwrap();

    let reader = TopicStore::reader(&k, &topic).unwrap();
    let current = reader.load(&key).unwrap().unwrap();
    assert_eq!(current.position.next_offset, 150, "B's checkpoint, not A's");
    assert_eq!(current.outcomes.accepted, 150);
    // A checkpoint of B after A's late write, and the next owner.
    feed(&mut engine, &mut sb, 150, 160);
    b.write(&b.checkpoint(&sb, "UTC", 4)).unwrap();
    let c = connect("C");
    let next = c.claim(&key).unwrap().unwrap();
    assert_eq!(next.position.next_offset, 160);
    assert_eq!(next.outcomes.accepted, 160);
}

/// (category, minute of the month, incidents).
type MinuteCell = (usize, usize, u32);

/// Per month, per category: the incidents and their minutes (what months,
/// month to date and changes are made of). Severity and sector are each
/// tool's own, so a stream written by tools differs from its native
/// original there only.
fn by_category(l: &Ledger) -> Vec<(String, Vec<u64>, Vec<MinuteCell>)> {
    let n = l.categories().len();
    l.months()
        .filter(|(_, m)| m.total() > 0)
        .map(|(ym, m)| {
            (ym.to_string(), (0..n).map(|c| m.category(c)).collect(), {
                let mut cells = std::collections::BTreeMap::new();
                for (c, _, minute, n) in m.minute_cells() {
                    *cells.entry((c, minute)).or_insert(0) += n;
                }
                cells.into_iter().map(|((c, m), n)| (c, m, n)).collect()
            })
        })
        .collect()
}

/// A June 2022 report as JSON, without the tools' own dimensions.
fn june_figures(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    let o = v.as_object_mut().unwrap();
    // Suricata knows no sector or province, and its own severities.
    assert!(o.remove("by_severity").is_some());
    assert!(o.remove("top_sectors").is_some());
    assert!(o.remove("top_provinces").is_some());
    // The names of the dimensions above.
    o.remove("display_names");
    // When each was read.
    o.remove("as_of");
    // Suricata sends no status updates: the stages (and the sentence's
    // clause about them) are the native input's only.
    o.remove("stages");
    o.remove("sentence");
    v
}

/// Two inputs, native incidents and Suricata EVE alerts (two copies of
/// the ncsc-2022 stream split over them by incident id), read by two
/// instances of one group with no state directory; one is killed
/// (SIGKILL) mid-stream and started again. The months by category and the
/// June 2022 report are those of the native stream counted from a file by
/// one process.
#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn two_inputs_over_two_instances_and_a_sigkill_keep_the_figures() {
    use incident_monitor::decode::Format;
    use incident_monitor::generate::{FormatWriter, incident_id};
    let dir = TempDir::new("inputs-2");
    let native_topic = unique("in-native");
    let ids_topic = unique("in-ids");
    create_topic(&native_topic, 3);
    create_topic(&ids_topic, 2);
    let cfg = throttled_config(&dir);
    let inputs = format!(
        "\n[[inputs]]\nname = \"incidents\"\ntopic = \"{native_topic}\"\n\
         \n[[inputs]]\nname = \"ids\"\ntopic = \"{ids_topic}\"\nformat = \"suricata-eve\"\n"
    );
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap() + &inputs).unwrap();
    let copies: Vec<Vec<u8>> = (21..=22).map(ncsc_copy).collect();
    let text = String::from_utf8(copies.concat()).unwrap();
    let classifier = incident_monitor::config::Config::default()
        .validate()
        .unwrap()
        .classifier;
    let writer = FormatWriter::new(Format::SuricataEve, classifier);
    // By id, so that a re-delivery comes from the same tool again, keyed
    // by it, so that it meets its first delivery on one partition.
    let (mut native, mut ids) = (Vec::new(), Vec::new());
    // What was sent, as native lines: the oracle counts these.
    let mut sent = String::new();
    for l in text.lines() {
        let key = incident_id(l).unwrap_or("").to_owned();
        let odd = key
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31) + u32::from(b))
            % 2
            == 1;
        if odd {
            // A tool sends no status updates.
            if let Some(w) = writer.write(l) {
                ids.push((key, w));
                sent.push_str(l);
                sent.push('\n');
            }
        } else {
            sent.push_str(l);
            sent.push('\n');
            native.push((key, l.to_owned()));
        }
    }
    assert!(native.len() > 1000 && ids.len() > 1000);
    let oracle = Oracle::of(&dir, &cfg, &[sent.into_bytes()]);

    let state = State::Topic(unique("inputs-state"));
    let group = unique("g");
    let at = addrs(2);
    let start = |addr: &str| {
        let b = brokers();
        let mut a = vec![
            "run",
            "--config",
            cfg.as_str(),
            "--brokers",
            b.as_str(),
            "--group",
            group.as_str(),
            "--metrics-addr",
            addr,
        ];
        let flags = state.flags();
        a.extend(flags.iter().map(String::as_str));
        Running::start(&a)
    };
    let mut members: Vec<Running> = at.iter().map(|x| start(x)).collect();
    wait_until(120, "two instances to share the five partitions", || {
        let o: Vec<f64> = at.iter().map(|x| owned_by(x)).collect();
        o.iter().all(|&n| n >= 1.0) && o.iter().sum::<f64>() == 5.0
    });
    let s1 = Stream::of_keyed(&native_topic, native);
    let s2 = Stream::of_keyed(&ids_topic, ids);
    wait_until(120, "checkpoints of the stream", || state.covered() > 0);
    assert!(!s1.done() || !s2.done(), "not mid-stream");
    members[0].child.kill().unwrap(); // SIGKILL
    members[0].child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    members[0] = start(&at[0]);
    s1.join();
    s2.join();
    wait_until(240, "every message to be counted", || {
        state.covered() == oracle.lines
    });
    // Both inputs are read on both instances' metrics, by name.
    let mut from_ids = 0.0;
    for x in &at {
        let t = try_scrape(x).unwrap_or_default();
        from_ids += t
            .lines()
            .filter(|l| l.starts_with("incident_monitor_input_events_total{input=\"ids\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    assert!(from_ids > 0.0, "messages of input ids");
    for m in members {
        assert!(m.terminate().success());
    }
    let (want, want_o) = state_of(&oracle.state);
    let (got, got_o) = state.load();
    let (g, w) = (by_category(&got.ledger), by_category(&want.ledger));
    for (a, b) in g.iter().zip(&w) {
        // Compact: a month's hours are 745 numbers per category.
        assert!(a == b, "{} {:?} / {} {:?}", a.0, a.1, b.0, b.1);
    }
    assert_eq!(g.len(), w.len());
    assert_eq!(got_o.accepted, want_o.accepted);
    assert_eq!(got_o.duplicate, want_o.duplicate);
    assert_eq!(
        june_figures(&state.report("2022-06", "json")),
        june_figures(&report_of(&oracle.state, "2022-06", "en", "json"))
    );
}

/// A drain whose input names a topic that does not exist does not wait
/// forever: after `kafka.connect_timeout_secs` it exits 1 with one line
/// naming the input and the error; the other input is counted and
/// checkpointed.
#[test]
#[ignore = "needs the real broker: ./scripts/test.sh"]
fn a_drain_of_a_missing_input_topic_gives_up_naming_it() {
    let dir = TempDir::new("missing-input");
    let topic = unique("present");
    let missing = unique("missing");
    create_topic(&topic, 2);
    generate_to(
        &topic,
        &["--scenario", "live", "--count", "500", "--seed", "9"],
    );
    let cfg = config_file(
        &dir,
        &format!(
            "[[inputs]]\ntopic = \"{topic}\"\n[[inputs]]\ntopic = \"{missing}\"\n\
             [kafka]\nconnect_timeout_secs = 5\n"
        ),
    );
    let state = dir.path("state");
    let out = fails(bin().args([
        "run",
        "--config",
        &cfg,
        "--brokers",
        &brokers(),
        "--group",
        &unique("g"),
        "--until-end",
        "--metrics-addr",
        "127.0.0.1:0",
        "--state-dir",
        state.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: gave up")
            && last.contains(&format!("cannot read topic {missing}")),
        "{last}"
    );
    let (_, o) = state_of(&state);
    assert_eq!(o.total(), 500, "the present input is counted");
}
