//! Kafka over TLS (spec §10): the test broker behind a real TLS terminator
//! (`scripts/tls-broker.sh`: stunnel with a certificate for 127.0.0.1 from
//! a throwaway CA), librdkafka built with OpenSSL. `./scripts/test.sh`
//! starts it and sets `IM_TEST_TLS_BROKERS`, `IM_TEST_TLS_CA` and
//! `IM_TEST_TLS_OTHER_CA`.

mod common;

use std::time::Duration;

use common::*;
use incident_monitor::generate::{incident_id, ncsc_2022};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run ./scripts/test.sh"))
}

fn brokers() -> String {
    env("IM_TEST_TLS_BROKERS")
}

/// Client settings over TLS trusting `ca`.
fn tls(ca: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers())
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", ca);
    c
}

/// A config file for runs over TLS trusting `ca`, rejected messages to
/// `dlq` (empty: none).
fn config(dir: &TempDir, ca: &str, dlq: &str) -> String {
    let p = dir.path("tls.toml");
    std::fs::write(
        &p,
        format!(
            "timezone = \"Asia/Ho_Chi_Minh\"\n[state]\ncheckpoint_interval_ms = 200\n\
             [kafka]\nconnect_timeout_secs = 5\ndead_letter_topic = \"{dlq}\"\n\
             [kafka.properties]\n\"security.protocol\" = \"ssl\"\n\"ssl.ca.location\" = \"{ca}\"\n\
             \"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n\"statistics.interval.ms\" = \"500\"\n"
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
#[ignore = "needs the TLS test broker: ./scripts/test.sh"]
fn ncsc_2022_over_tls_gives_the_published_figures() {
    let ca = env("IM_TEST_TLS_CA");
    let topic = unique("tls");
    create_topic(&tls(&ca), &topic, 4);
    let lines = ncsc_2022(2022);
    produce_with(
        &tls(&ca),
        &topic,
        lines
            .iter()
            .map(|l| (incident_id(l).unwrap_or(""), l.as_str())),
    );

    let dir = TempDir::new("tls-ncsc");
    let dlq = unique("tls-dlq");
    let cfg = config(&dir, &ca, &dlq);
    let state = dir.path("state");
    ok(bin().args([
        "run",
        "--config",
        &cfg,
        "--brokers",
        &brokers(),
        "--topic",
        &topic,
        "--group",
        &unique("g"),
        "--until-end",
        "--metrics-addr",
        "127.0.0.1:0",
        "--state-dir",
        state.to_str().unwrap(),
    ]));
    let (_, o) = state_of(&state);
    assert_eq!(o.total(), lines.len() as u64);
    let june: serde_json::Value =
        serde_json::from_str(&report_of(&state, "2022-06", "en", "json")).unwrap();
    assert_june_2022_figures(&june);
    // The dead-letter producer reached the cluster over TLS too: every
    // rejected message is on its topic.
    let consumer: BaseConsumer = tls(&ca)
        .set("group.id", unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[dlq.as_str()]).unwrap();
    let invalid: u64 = o.invalid.iter().sum();
    assert!(invalid > 0);
    let mut seen = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen < invalid && std::time::Instant::now() < deadline {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(500)) {
            seen += 1;
        }
    }
    assert_eq!(seen, invalid, "dead letters over TLS");
}

/// A client that does not trust the broker's certificate: `/readyz` is
/// 503 naming the failure, and a drain gives up after the connect timeout
/// with exit 1 and a line naming it.
#[test]
#[ignore = "needs the TLS test broker: ./scripts/test.sh"]
fn an_untrusted_certificate_is_named_and_a_drain_gives_up() {
    let dir = TempDir::new("tls-untrusted");
    let cfg = config(&dir, &env("IM_TEST_TLS_OTHER_CA"), "");
    let args = |until_end: bool| {
        let mut a = vec![
            "run".to_owned(),
            "--config".into(),
            cfg.clone(),
            "--brokers".into(),
            brokers(),
            "--topic".into(),
            "never-read".into(),
            "--metrics-addr".into(),
            "127.0.0.1:0".into(),
            "--state-dir".into(),
            dir.path(if until_end { "s1" } else { "s2" })
                .to_str()
                .unwrap()
                .to_owned(),
        ];
        if until_end {
            a.push("--until-end".into());
        }
        a
    };
    let started = std::time::Instant::now();
    let out = fails(bin().args(args(true)));
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("gave up") && last.contains("certificate verify failed"),
        "{last}"
    );
    // A live run says why it is not ready.
    let a = args(false);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut run = Running::start(&a);
    let addr = run.metrics_addr(30);
    let mut body = String::new();
    wait_until(30, "/readyz to name the certificate failure", || {
        let (status, b) = http_get(&addr, "/readyz");
        body = b;
        status == 503 && body.contains("certificate verify failed")
    });
    assert!(body.contains(&brokers()), "{body}");
    assert!(run.terminate().success());
}
