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

    // The summed month gauges are the single-instance figures.
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
