//! Reading the whole state for a command (`report`, `publish`): the state
//! directory or every partition of the state topic, merged, with who the
//! report speaks for.

use std::path::PathBuf;

use super::load_settings;
use crate::config::{Config, ReportConfig};
use crate::pipeline::AppError;
use crate::report::{MergedState, ReportError};
use crate::state::{StateBackend, StateStore};

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
