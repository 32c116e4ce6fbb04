//! Helpers shared by the black-box tests: the real binary, temporary
//! directories, and reading the state the binary wrote.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use incident_monitor::report::MergedState;
use incident_monitor::state::{Outcomes, StateStore};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_incident-monitor"));
    c.env("RUST_LOG", "warn");
    c
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("im-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary and asserts success.
fn succeeded(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs the binary and asserts success; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    String::from_utf8(succeeded(cmd).stdout).unwrap()
}

/// Runs the binary with info logs and asserts success; returns its log
/// (stderr).
pub fn ok_log(cmd: &mut Command) -> String {
    String::from_utf8(succeeded(cmd.env("RUST_LOG", "info")).stderr).unwrap()
}

/// Runs the binary expecting failure.
pub fn fails(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded");
    out
}

/// `generate` output as bytes.
pub fn generate(args: &[&str]) -> Vec<u8> {
    let out = bin().arg("generate").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `run --input -` with `input` on stdin.
pub fn run_stdin(input: &[u8], args: &[&str]) -> Output {
    let mut child = bin()
        .args(["run", "--input", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// `run --input -` over `input` with `args`, which must succeed.
pub fn run_stdin_ok(input: &[u8], args: &[&str]) {
    let out = run_stdin(input, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Merged ledger and summed counters of a state directory.
pub fn state_of(dir: &Path) -> (MergedState, Outcomes) {
    let store = StateStore::new(dir);
    let snaps = store.load_all().unwrap();
    let mut o = Outcomes::default();
    for s in &snaps {
        o.add(&s.outcomes);
    }
    let merged = MergedState::from_snapshots(&snaps, &dir.display().to_string()).unwrap();
    (merged, o)
}

/// A JSON report with its `as_of` (the instant it was read, which differs
/// from one reading to the next) replaced by a placeholder, for
/// comparisons of whole documents.
pub fn without_as_of(json: &str) -> String {
    json.lines()
        .map(|l| {
            if l.trim_start().starts_with("\"as_of\":") {
                "  \"as_of\": \"…\",".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if json.ends_with('\n') { "\n" } else { "" }
}

/// Compares a text with a golden file; `UPDATE_GOLDEN=1` rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = repo("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with UPDATE_GOLDEN=1)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file {}; if the change is intended, rerun with UPDATE_GOLDEN=1\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// A running `incident-monitor` whose stderr is collected, with the metrics
/// address it logged.
pub struct Running {
    pub child: std::process::Child,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    /// Starts the binary with `args` (which should include
    /// `--metrics-addr 127.0.0.1:0` where an address is wanted).
    pub fn start(args: &[&str]) -> Running {
        Running::spawn(args, Stdio::null())
    }

    /// `run --input -` on `state` with `config`, the endpoint on a free
    /// port and `more` arguments: the run, its address and its stdin
    /// (the run lasts while the stdin is open).
    pub fn stdin_run(
        config: &Path,
        state: &Path,
        more: &[&str],
    ) -> (Running, String, std::process::ChildStdin) {
        let mut args = vec![
            "run",
            "--input",
            "-",
            "--config",
            config.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
        ];
        args.extend_from_slice(more);
        let (mut run, stdin) = Running::start_piped(&args);
        let addr = run.metrics_addr(30);
        (run, addr, stdin)
    }

    /// Like [`Running::start`], with these environment variables set.
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Running {
        Running::spawn_with(args, Stdio::null(), env)
    }

    /// Like [`Running::start`], with stdin a pipe the test writes to.
    pub fn start_piped(args: &[&str]) -> (Running, std::process::ChildStdin) {
        let mut r = Running::spawn(args, Stdio::piped());
        let stdin = r.child.stdin.take().unwrap();
        (r, stdin)
    }

    fn spawn(args: &[&str], stdin: Stdio) -> Running {
        Running::spawn_with(args, stdin, &[])
    }

    fn spawn_with(args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Running {
        let mut child = bin()
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::BufReader::new(out), &mut std::io::sink());
        });
        Running { child, stderr }
    }

    /// The metrics address from the start-up log line, waiting up to `secs`.
    pub fn metrics_addr(&mut self, secs: u64) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            {
                let log = self.stderr.lock().unwrap();
                if let Some(rest) = log.split("serving /metrics").nth(1)
                    && let Some(a) = rest.split("addr=").nth(1)
                {
                    return a.split_whitespace().next().unwrap().to_owned();
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited ({status}) before serving metrics:\n{}", self.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no metrics address logged:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET on loopback: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Value of one sample in a Prometheus text exposition: `name{labels}` must
/// match the line's series exactly as printed (labels sorted by name).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(series))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Sum of every sample of a metric (any labels).
pub fn sum_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// Waits until `f` holds, polling, for at most `secs`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The `promtool` the test script installed (`PROMTOOL`), for tests marked
/// `#[ignore]` that `./scripts/test.sh` runs.
pub fn promtool() -> PathBuf {
    let p = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo(".tools/prometheus/usr/bin/promtool"));
    assert!(
        p.exists(),
        "promtool not found at {}: run ./scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// The `prometheus` server the test script installed (`PROMETHEUS`).
pub fn prometheus_bin() -> PathBuf {
    let p = std::env::var_os("PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo(".tools/prometheus/usr/bin/prometheus"));
    assert!(
        p.exists(),
        "prometheus not found at {}: run ./scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// A free loopback port (bound and released; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes a query parameter value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `report` of a state directory, as text.
pub fn report_of(state: &Path, month: &str, lang: &str, format: &str) -> String {
    report_with(state, month, lang, format, &[])
}

/// `report_of` with more flags (`--config FILE`).
pub fn report_with(state: &Path, month: &str, lang: &str, format: &str, more: &[&str]) -> String {
    ok(bin()
        .args([
            "report",
            "--month",
            month,
            "--lang",
            lang,
            "--format",
            format,
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .args(more))
}

/// The June 2022 figures of spec §9 in a `report --format json` document.
pub fn assert_june_2022_figures(v: &serde_json::Value) {
    assert_eq!(v["month"], "2022-06");
    assert_eq!(v["total"], 1178);
    assert_eq!(v["by_category"]["phishing"], 766);
    assert_eq!(v["by_category"]["deface"], 83);
    assert_eq!(v["by_category"]["malware"], 329);
    assert_eq!(v["previous_month"]["month"], "2022-05");
    assert_eq!(v["previous_month"]["total"], 847);
    assert_eq!(v["previous_month"]["basis"], "closed");
    let r = v["previous_month"]["change_ratio"].as_f64().unwrap();
    assert!((r - (1178.0 / 847.0 - 1.0)).abs() < 1e-12);
    assert_eq!(v["previous_month"]["change_percent"], 39.08);
    let ytd = &v["year_to_date"];
    assert_eq!(ytd["total"], 6641);
    assert_eq!(ytd["by_category"]["phishing"], 1696);
    assert_eq!(ytd["by_category"]["deface"], 859);
    assert_eq!(ytd["by_category"]["malware"], 4086);
    assert_eq!(ytd["previous_period"]["total"], 4914);
    assert_eq!(ytd["previous_period"]["change_percent"], 35.14);
    assert_eq!(ytd["same_period_last_year"]["total"], 4815);
    assert_eq!(ytd["same_period_last_year"]["change_percent"], 37.92);
}

/// The `progress` log events in JSON logs (`--log-format json`), as their
/// `fields` objects, in order.
pub fn progress_events(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "progress")
        .map(|v| v["fields"].clone())
        .collect()
}

/// The `run finished` log event's fields in JSON logs.
pub fn finished_event(stderr: &str) -> serde_json::Value {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("run finished"))
        })
        .map(|v| v["fields"].clone())
        .unwrap_or_else(|| panic!("no run finished event in:\n{stderr}"))
}

/// Progress events come in order, their counts never fall, and the last one
/// states the run's totals.
pub fn assert_progress_agrees(events: &[serde_json::Value], finished: &serde_json::Value) {
    assert!(events.len() >= 2, "{events:?}");
    let counts: Vec<u64> = events
        .iter()
        .map(|e| e["events"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(counts[0] < *counts.last().unwrap(), "{counts:?}");
    let last = events.last().unwrap();
    assert_eq!(
        last["events"], finished["events_this_run"],
        "{last} vs {finished}"
    );
    for key in ["accepted", "update", "duplicate", "invalid"] {
        if !last[key].is_null() {
            assert_eq!(last[key], finished[key], "{key}: {last} vs {finished}");
        }
    }
}

/// A real Prometheus (Debian's 2.42) scraping `targets` every second under
/// the job `incident-monitor`, with the shipped rules evaluated every 2 s
/// (instead of 30 s: the expressions are the same) and a `runbook_base`
/// external label. Killed when dropped.
pub struct Prometheus {
    pub child: std::process::Child,
    pub addr: String,
}

impl Prometheus {
    pub fn start(dir: &TempDir, targets: &[&str]) -> Prometheus {
        let rules =
            std::fs::read_to_string(repo("deploy/prometheus/rules/incident-monitor.yml")).unwrap();
        std::fs::write(
            dir.path("rules.yml"),
            rules.replace("interval: 30s", "interval: 2s"),
        )
        .unwrap();
        let cfg = dir.path("prometheus.yml");
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 2s\n  external_labels:\n    runbook_base: https://soc.example/alerts\n\
                 rule_files:\n  - {}\nscrape_configs:\n  - job_name: incident-monitor\n    static_configs:\n      - targets: [{}]\n",
                dir.path("rules.yml").display(),
                list.join(", ")
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let prom = Prometheus {
            child: Command::new(prometheus_bin())
                .args([
                    &format!("--config.file={}", cfg.display()),
                    &format!("--storage.tsdb.path={}", dir.path("tsdb").display()),
                    &format!("--web.listen-address={addr}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            addr,
        };
        wait_until(60, "prometheus to answer", || {
            std::net::TcpStream::connect(&prom.addr).is_ok()
                && prom_query(&prom.addr, "up").is_ok_and(|r| !r.is_empty())
        });
        prom
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An instant query through Prometheus' HTTP API: the result vector.
pub fn prom_query(addr: &str, expr: &str) -> Result<Vec<serde_json::Value>, String> {
    let (status, body) = http_get(addr, &format!("/api/v1/query?query={}", url_encode(expr)));
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("HTTP {status}: {body}"));
    }
    Ok(match &v["data"]["result"] {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Null => Vec::new(),
        other => vec![other.clone()],
    })
}

/// Creates `topic` with `partitions` through an admin client made from
/// `client` (whatever its security settings).
pub fn create_topic(client: &rdkafka::ClientConfig, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let made = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(20))),
        ))
        .unwrap();
    assert!(made.iter().all(Result::is_ok), "{made:?}");
}

/// Produces `(key, message)` pairs with a producer made from `client`
/// (`linger.ms` 20), waiting while its queue is full, and flushes.
pub fn produce_with<'a>(
    client: &rdkafka::ClientConfig,
    topic: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let p: ThreadedProducer<DefaultProducerContext> =
        client.clone().set("linger.ms", "20").create().unwrap();
    for (key, l) in pairs {
        let mut rec = BaseRecord::to(topic).key(key).payload(l);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    rec = back;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
    }
    p.flush(std::time::Duration::from_secs(60)).unwrap();
}

/// A name no earlier test run used (topics and groups on a shared broker).
pub fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The real sample files of one tool (`tests/data/samples/<dir>/*.jsonl`),
/// in name order.
pub fn sample_files(dir: &str) -> Vec<PathBuf> {
    let root = repo("tests/data/samples").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

/// A decoder of a tool format with the default options (Wazuh minimum
/// level 7, times without offset in UTC) and a 1 MiB limit.
pub fn tool_decoder(format: incident_monitor::decode::Format) -> incident_monitor::decode::Decoder {
    tool_decoder_at(format, 7)
}

/// [`tool_decoder`] with another Wazuh minimum level.
pub fn tool_decoder_at(
    format: incident_monitor::decode::Format,
    wazuh_min_level: i64,
) -> incident_monitor::decode::Decoder {
    incident_monitor::decode::Decoder::new(
        format,
        1 << 20,
        incident_monitor::event::Fields::ALL,
        incident_monitor::decode::ToolOptions {
            wazuh_min_level,
            naive_zone: jiff::tz::TimeZone::UTC,
        },
    )
}
