//! Kafka with SASL (spec §10), and the secrets it needs: taken from a file
//! or the environment, never logged, never printed.
//!
//! The failure path runs against the calfkit Tansu broker started with
//! `--authentication` (it refuses every login: ../shared/brokers.md), which
//! `./scripts/test.sh` installs (`TANSU`). The successful SCRAM logins need
//! the SQLite build of Tansu, which takes about 11 minutes to build: the
//! tests named `needs_scram_broker_*` run from `./scripts/test-scram.sh`,
//! which builds it once into `.tools/`, starts it behind TLS and sets
//! `IM_TEST_SCRAM_*`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const PASSWORD: &str = "correct-horse-battery-staple-7f3a";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run ./scripts/test.sh"))
}

/// The calfkit broker with `--authentication`, killed when dropped.
struct AuthBroker {
    child: std::process::Child,
    addr: String,
}

impl AuthBroker {
    fn start(dir: &TempDir) -> AuthBroker {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let log = std::fs::File::create(dir.path("tansu.log")).unwrap();
        let child = Command::new(env("TANSU"))
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
                "--authentication",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_until(30, "the SASL broker to listen", || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        AuthBroker { child, addr }
    }
}

impl Drop for AuthBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SCRAM-SHA-256 client configuration; `password` is a TOML line for
/// the password (a `_file` key, or nothing when the environment has it).
fn config(dir: &TempDir, password: &str) -> String {
    let p = dir.path("sasl.toml");
    std::fs::write(
        &p,
        format!(
            "timezone = \"Asia/Ho_Chi_Minh\"\n[kafka]\nconnect_timeout_secs = 5\n\
             [kafka.properties]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"SCRAM-SHA-256\"\n\
             \"sasl.username\" = \"alice\"\n{password}\"statistics.interval.ms\" = \"500\"\n"
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_owned()
}

fn run_args(cfg: &str, brokers: &str, state: &str, until_end: bool) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        "--config",
        cfg,
        "--brokers",
        brokers,
        "--topic",
        "never-read",
        "--metrics-addr",
        "127.0.0.1:0",
        "--state-dir",
        state,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if until_end {
        a.push("--until-end".into());
    }
    a
}

/// A refused login: a drain gives up after the connect timeout with exit 1
/// and a line naming the authentication failure; a live run's `/readyz`
/// is 503 naming it; the password is in no log line (at debug level), in
/// no `/readyz` body and in no `check-config` output; the password from
/// the environment works as the one from a file does.
#[test]
#[ignore = "needs the Tansu broker: ./scripts/test.sh"]
fn a_refused_login_is_named_and_the_password_never_shown() {
    let dir = TempDir::new("sasl-refused");
    let broker = AuthBroker::start(&dir);
    let secret = dir.path("kafka-password");
    std::fs::write(&secret, format!("{PASSWORD}\n")).unwrap();
    let from_file = config(
        &dir,
        &format!("\"sasl.password_file\" = {:?}\n", secret.to_str().unwrap()),
    );

    // check-config: accepted, the password nowhere.
    let out = bin()
        .args(["check-config", "--config", &from_file])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!shown.contains(PASSWORD), "{shown}");

    // A drain gives up, exit 1, naming the failure.
    let state = dir.path("s1");
    let started = std::time::Instant::now();
    let out = bin()
        .env("RUST_LOG", "debug")
        .args(run_args(
            &from_file,
            &broker.addr,
            state.to_str().unwrap(),
            true,
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(started.elapsed() < Duration::from_secs(90));
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("gave up") && last.contains(&broker.addr) && last.contains("SASL"),
        "{last}"
    );
    assert!(!err.contains(PASSWORD), "the password is in the log");

    // The same from the environment; a live run says why it is not ready.
    let from_env = config(&dir, "");
    let state = dir.path("s2");
    let args = run_args(&from_env, &broker.addr, state.to_str().unwrap(), false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut run = Running::start_env(
        &args,
        &[
            ("INCIDENT_MONITOR_KAFKA_SASL_PASSWORD", PASSWORD),
            ("RUST_LOG", "debug"),
        ],
    );
    let addr = run.metrics_addr(30);
    let mut body = String::new();
    wait_until(30, "/readyz to name the authentication failure", || {
        let (status, b) = http_get(&addr, "/readyz");
        body = b;
        status == 503 && body.contains("SASL")
    });
    assert!(body.contains(&broker.addr), "{body}");
    assert!(!body.contains(PASSWORD));
    assert!(!run.log().contains(PASSWORD), "the password is in the log");
    assert!(run.terminate().success());

    // The password in the file and in the environment: which one is
    // meant? An error naming both places, exit 2, no value.
    let both = config(&dir, &format!("\"sasl.password\" = \"{PASSWORD}\"\n"));
    let out = bin()
        .env("INCIDENT_MONITOR_KAFKA_SASL_PASSWORD", "other")
        .args(["check-config", "--config", &both])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sasl.password") && err.contains("INCIDENT_MONITOR_KAFKA_SASL_PASSWORD"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD) && !err.contains("other\""), "{err}");
}

/// SASL_SSL client settings for the SCRAM broker.
fn scram(user: &str, mechanism: &str, password: &str) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", env("IM_TEST_SCRAM_BROKERS"))
        .set("security.protocol", "SASL_SSL")
        .set("ssl.ca.location", env("IM_TEST_SCRAM_CA"))
        .set("sasl.mechanism", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password);
    c
}

/// A run over SASL_SSL as `user` with `mechanism`, the password from the
/// environment: its output.
fn scram_run(
    dir: &TempDir,
    name: &str,
    topic: &str,
    user: &str,
    mechanism: &str,
    password: &str,
) -> std::process::Output {
    let cfg = dir.path(&format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "timezone = \"Asia/Ho_Chi_Minh\"\n[state]\ncheckpoint_interval_ms = 200\n[kafka]\nconnect_timeout_secs = 10\n\
             [kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"ssl.ca.location\" = \"{}\"\n\
             \"sasl.mechanism\" = \"{mechanism}\"\n\"sasl.username\" = \"{user}\"\n\
             \"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n",
            env("IM_TEST_SCRAM_CA")
        ),
    )
    .unwrap();
    let state = dir.path(&format!("{name}-state"));
    bin()
        .env("INCIDENT_MONITOR_KAFKA_SASL_PASSWORD", password)
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--brokers",
            &env("IM_TEST_SCRAM_BROKERS"),
            "--topic",
            topic,
            "--group",
            &unique("g"),
            "--until-end",
            "--metrics-addr",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

/// The ncsc-2022 stream over SASL_SSL, logged in with SCRAM-SHA-512 and
/// with SCRAM-SHA-256, gives the published figures; a wrong password is
/// refused by the broker, named, and the drain gives up with exit 1.
#[test]
#[ignore = "needs the SCRAM broker: ./scripts/test-scram.sh"]
fn needs_scram_broker_ncsc_2022_over_sasl_ssl_gives_the_published_figures() {
    use incident_monitor::generate::{incident_id, ncsc_2022};
    let (bob, bob_pw) = ("bob", env("IM_TEST_SCRAM_512_PASSWORD"));
    let (alice, alice_pw) = ("alice", env("IM_TEST_SCRAM_256_PASSWORD"));
    let topic = unique("scram");
    create_topic(&scram(bob, "SCRAM-SHA-512", &bob_pw), &topic, 4);
    let lines = ncsc_2022(2022);
    produce_with(
        &scram(bob, "SCRAM-SHA-512", &bob_pw),
        &topic,
        lines
            .iter()
            .map(|l| (incident_id(l).unwrap_or(""), l.as_str())),
    );
    let dir = TempDir::new("scram");
    for (name, user, mechanism, pw) in [
        ("sha512", bob, "SCRAM-SHA-512", bob_pw.as_str()),
        ("sha256", alice, "SCRAM-SHA-256", alice_pw.as_str()),
    ] {
        let out = scram_run(&dir, name, &topic, user, mechanism, pw);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mechanism}: {err}");
        assert!(!err.contains(pw), "{mechanism}: the password is in the log");
        let state = dir.path(&format!("{name}-state"));
        let (_, o) = state_of(&state);
        assert_eq!(o.total(), lines.len() as u64, "{mechanism}");
        let june: serde_json::Value =
            serde_json::from_str(&report_of(&state, "2022-06", "en", "json")).unwrap();
        assert_june_2022_figures(&june);
    }
    // A wrong password: refused by the broker, named, exit 1.
    let out = scram_run(
        &dir,
        "wrong",
        &topic,
        bob,
        "SCRAM-SHA-512",
        "not-the-password",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(last.contains("gave up") && last.contains("SASL"), "{last}");
}
