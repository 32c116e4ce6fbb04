//! Reports from the live state, for `GET /report`.
//!
//! The partitions this process holds come from memory (current to the last
//! message); the others (held by other instances sharing the state
//! directory) from their latest checkpoints, of which only the counts are
//! decoded (never the remembered ids). The monitor's lock is held only to
//! copy the ledgers, never during file reads.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::calendar::YearMonth;
use crate::clock::wall_now_ms;
use crate::config::ReportConfig;
use crate::count::Monitor;
use crate::report::{Format, Lang, MergedState, ReportError, render};
use crate::server::Reports;
use crate::state::{PartitionKey, StateBackend};

pub struct LiveReports {
    pub monitor: Arc<Mutex<Monitor>>,
    pub store: Arc<dyn StateBackend>,
    pub who: ReportConfig,
}

impl LiveReports {
    fn merged(&self) -> Result<MergedState, ReportError> {
        let (mut ledger, timezone, held) = {
            let m = self
                .monitor
                .lock()
                .map_err(|_| ReportError::NoState("the monitor's state is unavailable".into()))?;
            let held: BTreeSet<PartitionKey> = m.partitions().map(|p| p.key.clone()).collect();
            (
                m.merged_ledger(),
                m.engine().settings().config.timezone.clone(),
                held,
            )
        };
        for snap in self.store.load_counts()? {
            if !held.contains(&snap.key) && snap.timezone == timezone {
                ledger.merge(&snap.ledger);
            }
        }
        Ok(MergedState {
            ledger,
            timezone,
            covered_until_ms: Some(wall_now_ms()),
        })
    }
}

impl Reports for LiveReports {
    fn render(&self, month: YearMonth, lang: Lang, format: Format) -> Result<String, ReportError> {
        let r = self.merged()?.report(month, wall_now_ms())?;
        Ok(render(&r, lang, format, &self.who))
    }
}
