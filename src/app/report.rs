//! `report`: a month from the state, and writing a command's output.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::load_settings;
use crate::calendar::YearMonth;
use crate::config::{Config, ReportConfig};
use crate::pipeline::AppError;
use crate::report::{Format, Lang, MergedState, ReportError, render};
use crate::state::{StateBackend, StateStore};

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
    let state = read_state(&StateArgs {
        config: args.config.clone(),
        state_dir: args.state_dir.clone(),
        brokers: args.brokers.clone(),
        state_topic: args.state_topic.clone(),
    })?;
    let now = crate::clock::wall_now_ms();
    let mut r = state.merged.report(args.month, now)?;
    r.restatements = super::publish::restatements(&state.config, &r.ym, now)?;
    Ok(render(&r, args.lang, args.format, &state.who))
}

/// Where a command reads the state from (`report`, `publish`).
#[derive(Debug, Clone, Default)]
pub struct StateArgs {
    /// The configuration (default: what `run` recorded in the state).
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub brokers: Option<String>,
    pub state_topic: Option<String>,
}

/// The state read whole (every partition), with who speaks for it.
pub(super) struct ReadState {
    pub merged: MergedState,
    /// The organisation, scope and labels of the sentences.
    pub who: ReportConfig,
    /// `--config`, else the defaults.
    pub config: Config,
    /// The directory or topic, for messages.
    pub name: String,
}

/// Reads every partition's latest checkpoint from the state directory or
/// the state topic. With `--config`: its state and report identity.
/// Without: the state's metadata (written by `run`), else the defaults.
pub(super) fn read_state(args: &StateArgs) -> Result<ReadState, AppError> {
    let cfg = match &args.config {
        Some(p) => Some(Config::clone(
            &load_settings(Some(p), Default::default())?.config,
        )),
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
            let store = crate::kafka::TopicStore::reader(&k, &topic)?;
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
    Ok(ReadState {
        merged,
        who,
        config: base,
        name,
    })
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
