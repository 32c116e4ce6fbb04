//! What a run is made of, whatever its source: the one run loop
//! ([`Run`], over a [`Source`]), the apply stage thread ([`Stage`]),
//! background checkpoints, the schedule of the loop's periodic work, the
//! HTTP endpoint's wiring and live reports, and the file source
//! ([`run_input`]). The Kafka source is in `crate::kafka`. The errors of a
//! run ([`AppError`]) are defined here, the lowest place every source and
//! command shares.

mod checkpoints;
mod endpoint;
mod file;
mod reports;
mod run;
mod schedule;
mod stage;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) use checkpoints::{Checkpointer, Positions};
pub(crate) use endpoint::{Endpoint, security};
pub use file::run_input;
pub use reports::LiveReports;
pub use run::RunSummary;
pub(crate) use run::{End, Run, Source};
pub(crate) use stage::RejectSink;
pub use stage::{BATCH, DEPTH, Stage, StageError};

use crate::config::{ConfigError, Settings};
use crate::count::{Monitor, MonitorError};
use crate::report::ReportError;
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
    /// A Kafka client failure (the client's own error as the source).
    #[error("{what}: {source}")]
    Kafka {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what} failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    /// `publish` could not deliver to some destinations (named in its
    /// output); the next `publish` tries them again.
    #[error("{0} deliveries failed (named above); the next publish tries them again")]
    Undelivered(usize),
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
    pub fn kafka<E: std::error::Error + Send + Sync + 'static>(
        what: impl Into<String>,
    ) -> impl FnOnce(E) -> AppError {
        let what = what.into();
        move |source| AppError::Kafka {
            what,
            source: Box::new(source),
        }
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
