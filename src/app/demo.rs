//! `demo`: the whole pipeline with nothing installed.
//!
//! An in-process Kafka cluster (librdkafka's mock cluster) receives the
//! `ncsc-2022` replay and then a live synthetic stream with occasional
//! spikes, over two inputs: native incidents on one topic, Suricata EVE
//! alerts on another (each incident goes to one of them, by its id). The
//! monitor consumes both with the national-centre configuration, serves
//! its metrics, prints the June 2022 report once the replay is counted,
//! and runs until Ctrl-C.
//!
//! The mock cluster keeps only about 5 MiB per partition and drops older
//! data silently, so the replay (about 2.7 MiB per partition and topic
//! over 4 partitions: the native topic's many status updates are short)
//! is produced before the live stream, which is paced.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, InputConfig, ReportConfig};
use crate::decode::Format;
use crate::generate::{FormatWriter, LiveStream, incident_id, ncsc_2022};
use crate::kafka::{EmbeddedKafka, KafkaOptions, Started, run_kafka};
use crate::pipeline::{AppError, StageError, StateChoice};
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::report::{Format as ReportFormat, Lang, MonthlyReport, render};
use crate::state::StateStore;

/// The national-centre configuration the demo runs with.
const DEMO_CONFIG: &str = include_str!("../../config/ncsc-vietnam.toml");
/// The demo's inputs: `(name, topic, format)`.
const INPUTS: [(&str, &str, Format); 2] = [
    ("incidents", "incidents", Format::Native),
    ("ids", "suricata-alerts", Format::SuricataEve),
];
/// Synthetic incidents over the ten weeks before now.
const RECENT_EVENTS: u64 = 3000;
/// Live events per second after the replay.
const LIVE_RATE: u64 = 20;

/// Runs the demo until `shutdown`.
pub async fn demo(
    metrics_addr: String,
    state_dir: Option<std::path::PathBuf>,
    progress: ProgressMode,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let topics: Vec<&str> = INPUTS.iter().map(|(_, topic, _)| *topic).collect();
    let kafka = EmbeddedKafka::start(&topics, 4)?;
    let brokers = kafka.brokers();
    let (settings, report_cfg) = demo_settings(&brokers)?;
    let writers = Writers::new(&settings);
    let dir = state_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("incident-monitor-demo-{}", std::process::id()))
    });
    prepare_state_dir(&dir)?;

    let replay = replay_lines();
    let mut shown = Progress::new(progress, "demo replay", Unit::Messages);
    let lines = replay.len() as u64;
    // What was produced: the Suricata input sends no status updates.
    let mut total = 0u64;
    for (n, line) in (1u64..).zip(&replay) {
        if send(&kafka, &writers, line).await {
            total += 1;
        }
        if n.is_multiple_of(1024) && shown.due() {
            shown.update(&replayed(n, lines));
        }
    }
    kafka.flush(Duration::from_secs(30));

    let (tx, rx) = oneshot::channel();
    let opts = KafkaOptions {
        until_end: false,
        metrics_addr,
        progress: ProgressMode::Off,
    };
    let state = StateChoice::Dir(StateStore::new(&dir));
    let pipeline = tokio::spawn(run_kafka(settings, state, opts, shutdown.clone(), Some(tx)));
    let Ok(started) = rx.await else {
        // The pipeline failed before starting: report its error.
        return finish(pipeline)
            .await
            .and(Err(AppError::Stage(StageError::Stopped)));
    };
    if !counted(&started, &mut shown, total, &shutdown).await {
        return finish(pipeline).await;
    }
    print_report(&started, &report_cfg);
    let archive = publish_replay(&started, &dir).await;
    print_guide(started.metrics_addr, &dir, archive.as_deref());
    live(&kafka, &writers, &shutdown).await;
    kafka.flush(Duration::from_secs(2));
    finish(pipeline).await
}

/// The national-centre configuration on the embedded cluster, and its
/// report identity.
fn demo_settings(brokers: &str) -> Result<(crate::config::Settings, ReportConfig), AppError> {
    let mut cfg = Config::from_toml(DEMO_CONFIG)
        .map_err(|m| AppError::Usage(format!("the demo's embedded configuration: {m}")))?;
    cfg.kafka.brokers = brokers.to_owned();
    cfg.kafka.group_id = "incident-monitor-demo".to_owned();
    cfg.inputs = INPUTS
        .iter()
        .map(|(name, topic, format)| InputConfig {
            name: (*name).to_owned(),
            topic: (*topic).to_owned(),
            format: Some(*format),
            wazuh_min_level: None,
            naive_time_zone: None,
            mapping: None,
            group_id: None,
        })
        .collect();
    // A short baseline so spikes in the live stream show within minutes.
    cfg.spike.baseline_half_life_secs = 120;
    cfg.spike.warmup_samples = 20;
    let report = cfg.report.clone();
    Ok((cfg.validate()?, report))
}

/// The `ncsc-2022` replay, then the last ten weeks at a low rate, so the
/// running month and the ones before it have data (month-over-month gauges
/// are defined).
fn replay_lines() -> Vec<String> {
    let mut replay = ncsc_2022(2022);
    let recent_step = 70 * 86_400_000 / RECENT_EVENTS as i64;
    replay.extend(LiveStream::ending_at(
        11,
        RECENT_EVENTS,
        crate::clock::wall_now_ms(),
        recent_step,
    ));
    replay
}

/// Progress of the replay: produced, then counted by the monitor.
fn replayed(n: u64, total: u64) -> Snapshot {
    Snapshot {
        events: n,
        done: n,
        total: Some(total),
        ..Snapshot::default()
    }
}

/// Waits until every replayed message is counted (as an incident, a
/// duplicate or an invalid line); `false` on shutdown first.
async fn counted(
    started: &Started,
    shown: &mut Progress,
    total: u64,
    shutdown: &CancellationToken,
) -> bool {
    loop {
        let seen = started
            .monitor
            .lock()
            .map(|m| m.outcomes().total())
            .unwrap_or(0);
        if shown.due() {
            shown.update(&replayed(seen.min(total), total));
        }
        if seen >= total {
            shown.finish(&replayed(total, total));
            return true;
        }
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Publishes the closed months counted so far into `<dir>/archive`, as
/// `publish` would (no destination): the archive a newcomer sees appear.
/// Returns the archive, or `None` when publishing failed (logged: the demo
/// goes on without it).
async fn publish_replay(started: &Started, dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let state = {
        let m = started.monitor.lock().ok()?;
        let config = m.engine().settings().config.clone();
        super::state::ReadState {
            merged: crate::report::MergedState {
                ledger: m.merged_ledger(),
                timezone: config.timezone.clone(),
                covered_until_ms: Some(crate::clock::wall_now_ms()),
            },
            who: config.report.clone(),
            config: Config::clone(&config),
            name: "the demo's monitor".to_owned(),
        }
    };
    let archive = dir.join("archive");
    let args = super::PublishArgs {
        archive: Some(archive.clone()),
        ..Default::default()
    };
    match super::publish::publish_state(&state, &args).await {
        Ok(done) => {
            println!(
                "\nPublished {} closed months into {} (each month's v1: manifest.json and the report in vi and en,\n\
                 html, json, md, txt), as `incident-monitor publish` does after each month closes.",
                done.written,
                archive.display()
            );
            Some(archive)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the demo could not publish its months");
            None
        }
    }
}

fn print_guide(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
    archive: Option<&std::path::Path>,
) {
    if let Some(a) = archive {
        println!(
            "The June 2022 report as published: {}",
            a.join("2022-06/v1/report.vi.html").display()
        );
    }
    println!(
        "\nThe monitor is live: http://{addr}/metrics (also /healthz, /readyz).\n\
         The June 2022 report as a page: http://{addr}/report?month=2022-06&lang=vi (or lang=en, format=json|markdown).\n\
         Two inputs: native incidents on topic incidents, Suricata EVE alerts on suricata-alerts\n  \
         curl -s http://{addr}/metrics | grep input_events_total\n\
         A synthetic stream now flows at {LIVE_RATE} incidents/s with occasional spikes; watch\n  \
         curl -s http://{addr}/metrics | grep -E 'incidents_window|spike\\{{|month_over_month'\n\
         State is checkpointed in {}; any month: incident-monitor report --month 2022-07 --state-dir {}\n\
         Ctrl-C to stop.",
        dir.display(),
        dir.display()
    );
}

/// The live synthetic stream, until shutdown.
async fn live(kafka: &EmbeddedKafka, writers: &Writers, shutdown: &CancellationToken) {
    let mut live = LiveStream::real_time(7, None);
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / LIVE_RATE));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Some(line) = live.next() {
                    send(kafka, writers, &line).await;
                }
            }
        }
    }
}

/// Marks a state directory the demo created (and so may clear).
const DEMO_MARKER: &str = ".incident-monitor-demo";

/// A fresh state directory for the demo (its embedded cluster starts empty
/// every time, so old positions would not match it). A directory the demo
/// created before (it holds the marker) is cleared; a missing one is
/// created and marked; an empty one is used and marked; anything else is
/// refused, never deleted.
fn prepare_state_dir(dir: &std::path::Path) -> Result<(), AppError> {
    let marker = dir.join(DEMO_MARKER);
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if marker.is_file() {
                std::fs::remove_dir_all(dir).map_err(AppError::io(format!(
                    "cannot clear the demo's earlier state in {}",
                    dir.display()
                )))?;
            } else if entries.next().is_some() {
                return Err(AppError::Usage(format!(
                    "--state-dir {} is not empty and was not created by the demo; \
                     give a new or empty directory (the demo clears its state directory at start)",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(AppError::Usage(format!(
                "--state-dir {}: {e}",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| {
            std::fs::write(
                &marker,
                b"created by incident-monitor demo; it may clear this directory\n",
            )
        })
        .map_err(AppError::io(format!(
            "cannot create the demo state directory {}",
            dir.display()
        )))
}

async fn finish(
    pipeline: tokio::task::JoinHandle<Result<super::RunSummary, AppError>>,
) -> Result<(), AppError> {
    match pipeline.await {
        Ok(r) => r.map(|_| ()),
        Err(source) => Err(AppError::Task {
            what: "the pipeline",
            source,
        }),
    }
}

/// The tool writers of the demo's inputs.
struct Writers(Vec<FormatWriter>);

impl Writers {
    fn new(settings: &crate::config::Settings) -> Writers {
        Writers(
            INPUTS
                .iter()
                .map(|(_, _, f)| FormatWriter::new(*f, settings.classifier.clone()))
                .collect(),
        )
    }
}

/// Which input a native line goes to: by its id, so a re-delivery comes
/// from the same tool again (FNV-1a: the same on every run).
fn input_of(id: &str) -> usize {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h % INPUTS.len() as u64) as usize
}

/// Produces one line, written as its input's tool writes it, keyed by its
/// id; waits while the local queue is full. `false` for a line the tool
/// does not send (a status update).
async fn send(kafka: &EmbeddedKafka, writers: &Writers, line: &str) -> bool {
    let key = incident_id(line).unwrap_or("");
    let i = input_of(key);
    let (topic, payload) = match (INPUTS.get(i), writers.0.get(i)) {
        (Some((_, topic, _)), Some(w)) => (*topic, w.write(line)),
        _ => (INPUTS[0].1, Some(line.to_owned())),
    };
    // A tool sends no status updates: those lines are not its.
    let Some(payload) = payload else {
        return false;
    };
    kafka.send(topic, key, &payload).await;
    true
}

fn print_report(started: &Started, who: &ReportConfig) {
    let Ok(m) = started.monitor.lock() else {
        return;
    };
    let ledger = m.merged_ledger();
    let tz = m.engine().settings().config.timezone.clone();
    drop(m);
    let june = "2022-06".parse().unwrap_or(crate::calendar::YearMonth(0));
    let r = MonthlyReport::build(&ledger, &tz, june, crate::clock::wall_now_ms());
    println!("{}", render(&r, Lang::Vi, ReportFormat::Text, who));
    println!();
    println!("{}", crate::report::sentence(&r, Lang::En, who));
}
