//! `run`: the flags over the configuration, then a file run (a file or
//! stdin) or a Kafka run, both the one loop of `crate::pipeline` over
//! their source, and a last log line summing it up.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::config::Overrides;
use crate::kafka::{KafkaOptions, run_kafka};
use crate::pipeline::{AppError, RunSummary, StateChoice, run_input};
use crate::progress::ProgressMode;
use crate::source::file::Input;

/// Options of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Configuration file (default: the built-in defaults).
    pub config: Option<PathBuf>,
    /// Flags over the configuration (`file_input` is set from `input`).
    pub overrides: Overrides,
    /// A JSONL file or stdin instead of Kafka.
    pub input: Option<Input>,
    /// Stop once every assigned partition is drained (Kafka).
    pub until_end: bool,
    /// The endpoint's address (default for Kafka: the configuration's; a
    /// file run serves one only when given).
    pub metrics_addr: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub state_topic: Option<String>,
}

/// `run` until its input ends or `shutdown`.
pub async fn run(
    args: RunArgs,
    progress: ProgressMode,
    shutdown: CancellationToken,
) -> Result<RunSummary, AppError> {
    let mut overrides = args.overrides;
    overrides.file_input = args.input.is_some();
    let settings = super::load_settings(args.config.as_deref(), overrides)?;
    let state = StateChoice::choose(&settings, args.state_dir, args.state_topic)?;
    let described = state.describe();
    let summary = match args.input {
        // A file run opens the endpoint only when asked; Kafka always does.
        Some(input) => {
            let StateChoice::Dir(store) = state else {
                return Err(AppError::Usage(
                    "--state-topic (or [state] topic) is for Kafka runs: a file run keeps its state in --state-dir".into(),
                ));
            };
            let stop = shutdown.cancelled_owned();
            run_input(settings, input, store, args.metrics_addr, progress, stop).await?
        }
        None => {
            let opts = KafkaOptions {
                until_end: args.until_end,
                metrics_addr: args
                    .metrics_addr
                    .unwrap_or_else(|| settings.config.metrics.listen_addr.clone()),
                // Progress is for a drain, which ends; a live consumer
                // reports through its metrics.
                progress: if args.until_end {
                    progress
                } else {
                    ProgressMode::Off
                },
            };
            run_kafka(settings, state, opts, shutdown, None).await?
        }
    };
    let o = &summary.outcomes;
    let secs = summary.elapsed.as_secs_f64();
    tracing::info!(
        completed = summary.completed,
        events_this_run = summary.events_this_run,
        secs = (secs * 1000.0).round() / 1000.0,
        events_per_sec = if secs > 0.0 { (summary.events_this_run as f64 / secs).round() } else { 0.0 },
        accepted = o.accepted,
        update = o.update,
        duplicate = o.duplicate,
        invalid = o.invalid_total(),
        filtered = o.filtered_total(),
        blank_lines = summary.blank_lines,
        state = %described,
        "run finished; the counters cover every run on this state"
    );
    Ok(summary)
}
