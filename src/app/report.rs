//! `report`: a month or another period from the state (a month's with the
//! restatements the archive holds), and writing a command's output.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::state::{StateArgs, read_state};
use crate::calendar::{Period, YearMonth};
use crate::config::Config;
use crate::event::EpochMillis;
use crate::pipeline::AppError;
use crate::publish::{Archive, restatements_for};
use crate::report::{Format, Lang, Report, ReportError, Restatement, Slice};

/// Options of `report`.
#[derive(Debug, Clone)]
pub struct ReportArgs {
    /// `--month M` is `--period M`.
    pub period: Period,
    /// `--against PERIOD`: another comparison.
    pub against: Option<Period>,
    /// `--sector NAME` or `--province NAME`: that slice.
    pub slice: Option<Slice>,
    pub lang: Lang,
    pub format: Format,
    pub state_dir: Option<PathBuf>,
    /// With `state_topic`: the brokers (default: the config's).
    pub brokers: Option<String>,
    pub state_topic: Option<String>,
    pub config: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

/// `report`: renders a month or another period from the checkpoints in the
/// state directory or the state topic.
pub fn report(args: &ReportArgs) -> Result<String, AppError> {
    let state = read_state(&StateArgs {
        config: args.config.clone(),
        state_dir: args.state_dir.clone(),
        brokers: args.brokers.clone(),
        state_topic: args.state_topic.clone(),
    })?;
    let now = crate::clock::wall_now_ms();
    let fy = state.who.fiscal_year_start_month;
    let mut r = match &args.slice {
        Some(slice) => {
            let slice = state.merged.slice_label(slice.clone(), &state.who.labels);
            let part = state.merged.slice(&slice).map_err(|e| match e {
                ReportError::UnknownSlice(what, ..) => AppError::Usage(format!("--{what}: {e}")),
                e => e.into(),
            })?;
            let mut r = part.report_period(args.period, fy, args.against, now)?;
            r.set_slice(&slice);
            r
        }
        None => state
            .merged
            .report_period(args.period, fy, args.against, now)?,
    };
    // Restatements are of the whole: a slice names none.
    if let (Report::Month(m), None) = (&mut r, &args.slice) {
        m.restatements = restatements(&state.config, m.ym, now);
    }
    Ok(r.render(args.lang, args.format, &state.who))
}

/// The restatements a report of month `m` at `now` names, from the
/// configured archive (none without one; an archive that cannot be read
/// is logged, and the report goes without them).
fn restatements(config: &Config, m: YearMonth, now: EpochMillis) -> Vec<Restatement> {
    match Archive::new(&config.publish.archive_dir).all() {
        Ok(versions) => restatements_for(m, &versions, now),
        Err(e) => {
            tracing::warn!(error = %e, "the archive cannot be read: the report names no restatement");
            Vec::new()
        }
    }
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
