//! Reports from the live state, for `GET /report`.
//!
//! The partitions this process holds come from memory (current to the last
//! message); the others (held by other instances sharing the state
//! directory) from their latest checkpoints, of which only the counts are
//! decoded (never the remembered ids). The monitor's lock is held only to
//! copy the ledgers, never during file reads.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::clock::wall_now_ms;
use crate::config::{Config, ReportConfig};
use crate::count::Monitor;
use crate::publish::{Archive, Manifest, Pending, pending, restatements_for};
use crate::report::{MergedState, Report, ReportError};
use crate::server::{ReportRequest, Reports};
use crate::state::{PartitionKey, StateBackend};

pub struct LiveReports {
    pub monitor: Arc<Mutex<Monitor>>,
    pub store: Arc<dyn StateBackend>,
    pub who: ReportConfig,
    /// The published versions (`[publish]`): restatements in reports, and
    /// how far behind the archive is.
    pub archive: Archive,
    pub after_close_secs: u64,
}

impl LiveReports {
    /// The reports of a run over `monitor` and `store`, as configured.
    pub fn new(
        monitor: Arc<Mutex<Monitor>>,
        store: Arc<dyn StateBackend>,
        config: &Config,
    ) -> LiveReports {
        LiveReports {
            monitor,
            store,
            who: config.report.clone(),
            archive: Archive::new(&config.publish.archive_dir),
            after_close_secs: config.publish.after_close_secs,
        }
    }

    /// The versions in the archive; none when it cannot be read (logged).
    fn versions(&self) -> Vec<Manifest> {
        self.archive.all().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the archive cannot be read");
            Vec::new()
        })
    }

    /// What the next `publish` would write; `None` while the archive does
    /// not exist (nothing was ever published, or it is not mounted here).
    pub fn pending(&self) -> Result<Option<Pending>, ReportError> {
        if !self.archive.dir().is_dir() {
            return Ok(None);
        }
        let state = self.merged()?;
        let after = i64::try_from(self.after_close_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(Some(pending(
            &state,
            &self.versions(),
            after,
            wall_now_ms(),
        )))
    }

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
    fn render(&self, req: &ReportRequest) -> Result<String, ReportError> {
        let now = wall_now_ms();
        let fy = self.who.fiscal_year_start_month;
        let merged = self.merged()?;
        let mut r = match &req.slice {
            Some(slice) => {
                let slice = merged.slice_label(slice.clone(), &self.who.labels);
                let mut r =
                    merged
                        .slice(&slice)?
                        .report_period(req.period, fy, req.against, now)?;
                r.set_slice(&slice);
                r
            }
            None => merged.report_period(req.period, fy, req.against, now)?,
        };
        // Restatements are of the whole: a slice names none.
        if let (Report::Month(m), None) = (&mut r, &req.slice) {
            m.restatements = restatements_for(m.ym, &self.versions(), now);
        }
        Ok(r.render(req.lang, req.format, &self.who))
    }
}
