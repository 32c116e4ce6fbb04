//! The monthly report (spec §7): the model, the wording in English and
//! Vietnamese, and the renderers. Built from the merged ledgers of every
//! partition's checkpoint, so it may run while `run` is writing.

mod html;
mod lang;
mod model;
mod render;
mod svg;

pub use lang::Lang;
pub use model::{Comparison, MonthlyReport, Named, PreviousMonth, TrendPoint, YearToDateFigures};
pub use render::{Format, render, sentence};

use crate::calendar::{Ledger, YearMonth};
use crate::state::{Snapshot, StateStore, StoreError};

/// Why a report cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no state in {0}: run `incident-monitor run --state-dir {0}` first")]
    NoState(String),
    #[error("state files disagree on the timezone ({0} and {1}); they cannot be merged")]
    MixedTimezones(String, String),
    #[error("no incidents recorded for {month} (the state covers {first} to {last})")]
    NoData {
        month: String,
        first: String,
        last: String,
    },
}

/// Every partition's ledger merged, with the timezone they were counted in.
#[derive(Debug, Clone)]
pub struct MergedState {
    pub ledger: Ledger,
    pub timezone: String,
}

impl MergedState {
    /// Merges snapshots; all must share one timezone.
    pub fn from_snapshots(snaps: &[Snapshot], dir: &str) -> Result<MergedState, ReportError> {
        let Some(first) = snaps.first() else {
            return Err(ReportError::NoState(dir.to_owned()));
        };
        let mut ledger = Ledger::new(
            first.ledger.categories().into(),
            first.ledger.sectors().into(),
        );
        for s in snaps {
            if s.timezone != first.timezone {
                return Err(ReportError::MixedTimezones(
                    first.timezone.clone(),
                    s.timezone.clone(),
                ));
            }
            ledger.merge(&s.ledger);
        }
        Ok(MergedState {
            ledger,
            timezone: first.timezone.clone(),
        })
    }

    /// Loads and merges a state directory.
    pub fn load(store: &StateStore) -> Result<MergedState, ReportError> {
        let snaps = store.load_all()?;
        MergedState::from_snapshots(&snaps, &store.dir().display().to_string())
    }

    /// The report of month `m`; an error when the state has no data for it.
    pub fn report(&self, m: YearMonth) -> Result<MonthlyReport, ReportError> {
        if self.ledger.month(m).is_none() {
            let mut months = self.ledger.months().map(|(k, _)| k);
            let first = months.next();
            let last = self.ledger.months().map(|(k, _)| k).last();
            return Err(ReportError::NoData {
                month: m.to_string(),
                first: first.map_or("-".into(), |k| k.to_string()),
                last: last.map_or("-".into(), |k| k.to_string()),
            });
        }
        Ok(MonthlyReport::build(&self.ledger, &self.timezone, m))
    }
}
