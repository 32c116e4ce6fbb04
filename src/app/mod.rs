//! Commands: the wiring between the command line, the configuration, the
//! sources, the monitor and the report. `main.rs` parses flags and calls one
//! function here.

mod checkpoints;
mod demo;
mod endpoint;
mod kafka;
mod reports;
mod run;
mod schedule;
mod stage;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use demo::demo;
pub use kafka::{KafkaOptions, Started, run_kafka};
pub use reports::LiveReports;
pub use run::{RunSummary, run_input};
pub use stage::{Stage, StageError};

use crate::calendar::YearMonth;
use crate::config::{Config, ConfigError, ReportConfig, Settings};
use crate::count::{Monitor, MonitorError};
use crate::generate::{LiveStream, Scenario, incident_id, ncsc_2022, write_lines};
use crate::progress::{Progress, ProgressMode, Snapshot, Unit};
use crate::report::{Format, Lang, MergedState, ReportError, render};
use crate::state::{LockError, StateBackend, StateStore, StoreError};

/// A command's failure, with the exit status it maps to and the error it
/// came from ([`std::error::Error::source`]).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad flags or configuration: exit 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The rest is what went wrong while running: exit 1.
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Poisoned(#[from] Poisoned),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Kafka {
        what: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("{what} failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// A drain (`--until-end`) gave up: no broker could be reached.
    #[error("{0}")]
    Unreachable(String),
}

impl AppError {
    /// 2 for usage and configuration errors (also a configuration that
    /// contradicts the state it would continue: another timezone, a
    /// category removed), 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        use crate::count::MonitorError::Restore;
        match self {
            AppError::Usage(_)
            | AppError::Config(_)
            | AppError::Monitor(Restore(_))
            | AppError::Stage(StageError::Monitor(Restore(_))) => 2,
            _ => 1,
        }
    }

    /// An I/O failure, with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
        let what = what.into();
        move |source| AppError::Io { what, source }
    }

    /// A Kafka client failure, with what was being done.
    pub fn kafka(what: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> AppError {
        let what = what.into();
        move |source| AppError::Kafka { what, source }
    }
}

/// A lock whose holder panicked: the state behind it cannot be trusted.
#[derive(Debug, thiserror::Error)]
#[error("the {0} lock is poisoned: a thread panicked while holding it")]
pub struct Poisoned(&'static str);

/// Takes a lock; the one place a poisoned lock becomes an error.
pub(crate) fn locked<'a, T>(
    m: &'a Mutex<T>,
    what: &'static str,
) -> Result<MutexGuard<'a, T>, Poisoned> {
    m.lock().map_err(|_| Poisoned(what))
}

/// A monitor shared by a loop, its apply stage and the `/report` handler.
pub(crate) type SharedMonitor = Arc<Mutex<Monitor>>;

/// Where a run keeps its state.
#[derive(Debug, Clone)]
pub enum StateChoice {
    /// A local directory.
    Dir(StateStore),
    /// A compacted Kafka topic (Kafka runs).
    Topic(String),
}

impl StateChoice {
    /// The flags over the configuration: `--state-topic`, `--state-dir`,
    /// then `[state] topic`, then `[state] dir`.
    pub fn choose(
        settings: &Settings,
        state_dir: Option<PathBuf>,
        state_topic: Option<String>,
    ) -> Result<StateChoice, AppError> {
        let cfg = &settings.config.state;
        Ok(match (state_dir, state_topic) {
            (_, Some(t)) => {
                crate::config::check_state_topic(
                    &t,
                    settings.inputs.iter().map(|i| i.topic.as_str()),
                )
                .map_err(|m| AppError::Usage(format!("--state-topic: {m}")))?;
                StateChoice::Topic(t)
            }
            (Some(d), None) => StateChoice::Dir(StateStore::new(d)),
            (None, None) if !cfg.topic.is_empty() => StateChoice::Topic(cfg.topic.clone()),
            (None, None) => StateChoice::Dir(StateStore::new(&cfg.dir)),
        })
    }

    /// For logs: the directory or the topic.
    pub fn describe(&self) -> String {
        match self {
            StateChoice::Dir(s) => format!("directory {}", s.dir().display()),
            StateChoice::Topic(t) => format!("topic {t}"),
        }
    }
}

/// The monitor of a run over a state backend (shared with live reports).
/// Opening writes the backend's metadata: on a blocking thread.
pub(crate) async fn open_monitor(
    settings: &Settings,
    backend: Arc<dyn StateBackend>,
) -> Result<SharedMonitor, AppError> {
    let engine = crate::count::Engine::new(settings.clone());
    let opened = tokio::task::spawn_blocking(move || Monitor::open(engine, backend))
        .await
        .map_err(|source| AppError::Task {
            what: "opening the state",
            source,
        })??;
    Ok(Arc::new(Mutex::new(opened)))
}

/// Loads the config file (or the built-in defaults), applies overrides, and
/// validates it as `check-config` does: every command takes its settings
/// from here, so none accepts what `check-config` refuses.
pub fn load_settings(path: Option<&Path>, timezone: Option<&str>) -> Result<Settings, AppError> {
    let mut cfg = load_config(path)?;
    if let Some(tz) = timezone {
        cfg.timezone = tz.to_owned();
    }
    let settings = cfg.validate()?;
    check_kafka_properties(&settings.config)?;
    Ok(settings)
}

/// `[kafka.properties]` as librdkafka takes them (without connecting). The
/// refusal names the property, never its value.
fn check_kafka_properties(cfg: &Config) -> Result<(), AppError> {
    use rdkafka::error::KafkaError;
    crate::source::kafka::check_properties(&cfg.kafka).map_err(|e| {
        let why = match e {
            KafkaError::ClientConfig(_, desc, key, _value) => format!("{key}: {desc}"),
            other => other.to_string(),
        };
        AppError::Usage(format!(
            "kafka.properties: librdkafka refuses this configuration: {}",
            cfg.kafka.properties.redact(&why)
        ))
    })
}

/// The configuration file (or the defaults) with the environment's
/// overrides and its secrets taken from their files and variables; not yet
/// validated.
pub fn load_config(path: Option<&Path>) -> Result<Config, AppError> {
    let mut cfg = match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    cfg.apply_env(|k| std::env::var(k).ok());
    cfg.resolve_secrets(|k| std::env::var(k).ok(), |p| std::fs::read_to_string(p))?;
    Ok(cfg)
}

/// `check-config`: validates and describes the configuration.
pub fn check_config(path: Option<&Path>) -> Result<String, AppError> {
    let s = load_settings(path, None)?;
    let cfg = &s.config;
    let inputs: Vec<String> = s
        .inputs
        .iter()
        .map(|i| format!("{} ({}, {})", i.name, i.topic, i.format.name()))
        .collect();
    let endpoint = endpoint::security(cfg)?.describe(&cfg.metrics.listen_addr);
    Ok(format!(
        "config OK ({}): inputs [{}], timezone {}, categories [{}], {} classification rules, windows [{}], dedup horizon {} days / {} ids per partition; endpoint {}",
        path.map_or("built-in defaults".to_owned(), |p| p.display().to_string()),
        inputs.join(", "),
        cfg.timezone,
        s.categories().join(", "),
        cfg.classification.rules.len(),
        cfg.windows
            .windows
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.dedup.horizon_days,
        cfg.dedup.max_ids_per_partition,
        endpoint,
    ))
}

/// Options of `report`.
#[derive(Debug, Clone)]
pub struct ReportArgs {
    pub month: YearMonth,
    pub lang: Lang,
    pub format: Format,
    pub state_dir: Option<PathBuf>,
    /// With `state_topic`: the brokers (default: the config's).
    pub brokers: Option<String>,
    pub state_topic: Option<String>,
    pub config: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

/// `report`: renders a month from the checkpoints in the state directory
/// or the state topic.
pub fn report(args: &ReportArgs) -> Result<String, AppError> {
    // With --config: its state and report identity. Without: the state's
    // metadata (written by `run`), else the defaults.
    let cfg = match &args.config {
        Some(p) => Some(Config::clone(&load_settings(Some(p), None)?.config)),
        None => None,
    };
    let base = cfg.clone().unwrap_or_default();
    let topic = args.state_topic.clone().or_else(|| {
        (args.state_dir.is_none() && args.brokers.is_some() && !base.state.topic.is_empty())
            .then(|| base.state.topic.clone())
    });
    let (backend, meta, name): (Box<dyn StateBackend>, _, String) = match topic {
        Some(topic) => {
            let mut k = base.kafka.clone();
            if let Some(b) = &args.brokers {
                k.brokers = b.clone();
            }
            let store = crate::state_topic::TopicStore::reader(&k, &topic)?;
            let meta = store.load_meta()?;
            (Box::new(store), meta, format!("state topic {topic}"))
        }
        None => {
            if args.brokers.is_some() {
                return Err(AppError::Usage(
                    "--brokers needs --state-topic (or [state] topic in --config): the state is read from that topic".into(),
                ));
            }
            let dir = args
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(&base.state.dir));
            let store = StateStore::new(&dir);
            let meta = store.load_meta()?;
            (Box::new(store), meta, dir.display().to_string())
        }
    };
    let meta_written = meta.is_some();
    let who: ReportConfig = match &cfg {
        Some(c) => c.report.clone(),
        None => meta.map_or_else(
            || Config::default().report,
            |m| ReportConfig {
                labels: m.labels,
                ..m.report
            },
        ),
    };
    let merged = match MergedState::load(&*backend, &name) {
        // `run` opened this state (its metadata is there) and kept nothing.
        Err(ReportError::NoState(n)) if meta_written => {
            return Err(ReportError::NothingRecorded(n).into());
        }
        other => other?,
    };
    let r = merged.report(args.month, crate::clock::wall_now_ms())?;
    Ok(render(&r, args.lang, args.format, &who))
}

/// Writes a command's output to a file or stdout.
pub fn emit(text: &str, output: Option<&Path>) -> Result<(), AppError> {
    match output {
        Some(p) => {
            std::fs::write(p, text).map_err(AppError::io(format!("cannot write {}", p.display())))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(AppError::io("cannot write to stdout"))
        }
    }
}

/// A scenario's lines.
type Lines = Box<dyn Iterator<Item = String>>;

/// Options of `generate`.
#[derive(Debug, Clone)]
pub struct GenerateArgs {
    pub scenario: Scenario,
    /// The format written (`native`, or a tool's).
    pub format: crate::decode::Format,
    pub count: Option<u64>,
    pub rate: Option<f64>,
    pub seed: u64,
}

impl GenerateArgs {
    /// Writes native lines in the chosen format, classified by the default
    /// rules (whose categories the written texts carry).
    fn writer(&self) -> Result<crate::generate::FormatWriter, AppError> {
        if self.format == crate::decode::Format::Custom {
            return Err(AppError::Usage(
                "generate --format custom: a custom mapping reads a source of yours; generate writes native, suricata-eve, wazuh, ecs or ocsf".into(),
            ));
        }
        let settings = Config::default().validate()?;
        Ok(crate::generate::FormatWriter::new(
            self.format,
            settings.classifier,
        ))
    }

    /// The scenario's lines and how many there are, after checking the
    /// flags that shape it.
    fn lines(&self) -> Result<(Lines, u64), AppError> {
        let range = crate::generate::RATE_RANGE;
        if let Some(r) = self.rate
            && !range.contains(&r)
        {
            return Err(AppError::Usage(format!(
                "--rate {r} is out of range: must be {} to {} events per second",
                range.start(),
                range.end()
            )));
        }
        Ok(match self.scenario {
            Scenario::Ncsc2022 => {
                if self.count.is_some() {
                    return Err(AppError::Usage(
                        "--count does not apply to ncsc-2022, a fixed replay of the published figures; use --scenario live".into(),
                    ));
                }
                let all = ncsc_2022(self.seed);
                let n = all.len() as u64;
                (Box::new(all.into_iter()), n)
            }
            Scenario::Live => {
                let count = self.count.unwrap_or(10_000);
                let lines: Lines = if self.rate.is_some() {
                    // Paced: event times are the wall clock when written.
                    Box::new(LiveStream::real_time(self.seed, Some(count)))
                } else {
                    let now = crate::clock::wall_now_ms();
                    Box::new(LiveStream::ending_at(self.seed, count, now, 10))
                };
                (lines, count)
            }
        })
    }
}

/// `generate`: writes a scenario as JSONL to stdout.
pub fn generate(args: &GenerateArgs) -> Result<u64, AppError> {
    let (lines, _) = args.lines()?;
    let writer = args.writer()?;
    let lines = lines.map(move |l| writer.write(&l));
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write_lines(lines, &mut out, args.rate).map_err(AppError::io("cannot write to stdout"))
}

/// `generate --brokers --topic`: produces the scenario to Kafka, keyed by
/// incident id so re-deliveries meet on one partition, connecting as the
/// configuration's `[kafka.properties]` say (TLS, SASL).
pub fn generate_to_kafka(
    args: &GenerateArgs,
    kafka: &crate::config::KafkaConfig,
    brokers: &str,
    topic: &str,
    progress: ProgressMode,
) -> Result<u64, AppError> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let (lines, total) = args.lines()?;
    let writer = args.writer()?;
    let mut shown = Progress::new(progress, "generate --brokers", Unit::Messages);
    // Produced and acknowledged (no longer in flight).
    let snapshot = |n: u64, producer: &BaseProducer| {
        let in_flight = u64::try_from(producer.in_flight_count()).unwrap_or(0);
        Snapshot {
            events: n,
            done: n,
            total: Some(total),
            acked: Some(n.saturating_sub(in_flight)),
            ..Snapshot::default()
        }
    };
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("compression.type", "lz4");
    crate::source::kafka::set_connection_properties(&mut config, kafka);
    let producer: BaseProducer = config
        .create()
        .map_err(|e| AppError::Usage(format!("invalid Kafka settings: {e}")))?;
    let start = std::time::Instant::now();
    let mut n = 0u64;
    for line in lines {
        if let Some(rate) = args.rate
            && let Some(wait) = crate::generate::wait_before(start, n, rate)
        {
            producer.poll(wait);
        }
        // Keyed by the native id, whatever the format written.
        let written = writer.write(&line);
        let mut rec = BaseRecord::to(topic)
            .key(incident_id(&line).unwrap_or(""))
            .payload(written.as_str());
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, back)) => {
                    if !matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        return Err(AppError::Kafka {
                            what: format!("producing to {topic}"),
                            source: e,
                        });
                    }
                    producer.poll(std::time::Duration::from_millis(50));
                    rec = back;
                }
            }
        }
        producer.poll(std::time::Duration::ZERO);
        n += 1;
        // A clock read per 1,024 messages, not per message.
        if n.is_multiple_of(1024) && shown.due() {
            shown.update(&snapshot(n, &producer));
        }
    }
    let flushed = producer.flush(std::time::Duration::from_secs(60));
    shown.finish(&snapshot(n, &producer));
    flushed.map_err(AppError::kafka(format!(
        "{n} messages queued but not all delivered to {topic} within 60 s"
    )))?;
    Ok(n)
}
