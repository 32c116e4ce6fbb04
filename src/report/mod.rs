//! The reports (spec §7): a month's and any other period's (`period`), of
//! the whole or of one sector's slice; the model, the wording in English
//! and Vietnamese, the restatements a report names, and the renderers.
//! Built from the merged ledgers of every partition's checkpoint, so it may
//! run while `run` is writing.

mod html;
mod labels;
mod lang;
mod model;
mod period;
mod render;
mod svg;

pub use html::content_security_policy;
pub use lang::Lang;
pub use model::{
    Change, Comparison, MonthlyReport, Named, PreviousMonth, Restatement, RunningSpan,
    SCHEMA_VERSION, TrendPoint, YearToDateFigures,
};
pub use period::{
    PeriodComparison, PeriodError, PeriodPoint, PeriodReport, period_sentence, period_words,
};
pub use render::{Format, restatement_sentence, sentence};

use crate::calendar::{Ledger, MonthIndex, YearMonth};
use crate::config::ReportConfig;
use crate::event::EpochMillis;
use crate::state::{Counts, Snapshot, StateBackend, StoreError};

/// Why a report cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no state in {0}: run `incident-monitor run --state-dir {0}` first")]
    NoState(String),
    #[error(
        "no incidents have been recorded yet in {0}: the monitor has used this state but counted no incident \
         (an empty input, or only blank, invalid or filtered lines)"
    )]
    NothingRecorded(String),
    #[error("state files disagree on the timezone ({0} and {1}); they cannot be merged")]
    MixedTimezones(String, String),
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error("unknown sector {0:?}: the state counts {1}")]
    UnknownSector(String, String),
    #[error(
        "the state of {1} predates sector slices (written before format version 5): recount that month from its source to slice it by sector {0:?}"
    )]
    SliceUnavailable(String, String),
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
    /// When the state was last kept (the newest checkpoint's wall time; for
    /// a live monitor, now): that month is covered even without incidents.
    pub covered_until_ms: Option<EpochMillis>,
}

impl MergedState {
    /// Merges snapshots; all must share one timezone.
    pub fn from_snapshots(snaps: &[Snapshot], dir: &str) -> Result<MergedState, ReportError> {
        let counts: Vec<Counts> = snaps.iter().map(Counts::from).collect();
        MergedState::from_counts(&counts, dir)
    }

    /// Merges partitions' counts; all must share one timezone.
    pub fn from_counts(snaps: &[Counts], dir: &str) -> Result<MergedState, ReportError> {
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
            covered_until_ms: snaps.iter().map(|s| s.written_ms).max(),
        })
    }

    /// Loads and merges every partition's latest checkpoint; `name` (the
    /// directory or topic) is for errors.
    pub fn load(store: &dyn StateBackend, name: &str) -> Result<MergedState, ReportError> {
        let counts = store.load_counts()?;
        MergedState::from_counts(&counts, name)
    }

    /// The months with incidents: the first and the last.
    pub fn data_range(&self) -> Option<(YearMonth, YearMonth)> {
        let first = self.ledger.months().map(|(k, _)| k).next()?;
        let last = self.ledger.months().map(|(k, _)| k).last()?;
        Some((first, last))
    }

    /// Whether month `m` is covered by the state: between its first and
    /// last months with incidents, or the month it was last kept in (the
    /// running month of a monitor that has seen nothing yet this month).
    /// The months after the last incident and before the month it was kept
    /// in are not: a backfill of 2022 kept in 2026 says nothing of 2024.
    pub fn covers(&self, m: YearMonth) -> bool {
        let in_range = self
            .data_range()
            .is_some_and(|(first, last)| first <= m && m <= last);
        in_range || self.kept_in() == Some(m)
    }

    /// The month the state was last kept in (in its timezone).
    pub fn kept_in(&self) -> Option<YearMonth> {
        let t = self.covered_until_ms?;
        let tz = jiff::tz::TimeZone::get(&self.timezone).ok()?;
        MonthIndex::new(tz).locate(t).map(|slot| slot.month)
    }

    /// One sector's slice of the state: the same exact counts, that
    /// sector's incidents only (spec §7 "Slices").
    pub fn sector_slice(&self, name: &str) -> Result<MergedState, ReportError> {
        let sectors = self.ledger.sectors();
        let Some(i) = sectors.iter().position(|s| s == name) else {
            return Err(ReportError::UnknownSector(
                name.to_owned(),
                sectors.join(", "),
            ));
        };
        let ledger = self
            .ledger
            .sector_slice(i)
            .map_err(|m| ReportError::SliceUnavailable(name.to_owned(), m.to_string()))?;
        Ok(MergedState {
            ledger,
            timezone: self.timezone.clone(),
            covered_until_ms: self.covered_until_ms,
        })
    }

    /// The report of `period` at instant `now`: a month's report (with
    /// the period keys besides) for a month, a period's report for the
    /// rest; `against` adds a comparison, `fy` is the fiscal year's first
    /// month. A period outside the covered range is an error.
    pub fn report_period(
        &self,
        period: crate::calendar::Period,
        fy: u8,
        against: Option<crate::calendar::Period>,
        now: EpochMillis,
    ) -> Result<Report, ReportError> {
        use crate::calendar::Period;
        let built = PeriodReport::build(&self.ledger, &self.timezone, period, fy, against, now)
            .map_err(ReportError::Period)?;
        if let Period::Month(m) = period {
            let mut r = self.report(m, now)?;
            r.period = Some(model::PeriodKeys {
                period: built.period,
                from: built.from,
                to: built.to,
                previous_period: built.previous_period,
                same_period_last_year: built.same_period_last_year,
                against: built.against,
            });
            return Ok(Report::Month(Box::new(r)));
        }
        let (first, last) = period
            .dates(fy)
            .and_then(|(a, b)| {
                Some((
                    YearMonth::new(i32::from(a.year()), u8::try_from(a.month()).ok()?)?,
                    YearMonth::new(i32::from(b.year()), u8::try_from(b.month()).ok()?)?,
                ))
            })
            .ok_or_else(|| ReportError::Period(PeriodError::OutOfRange(period.to_string())))?;
        // Covered as a month is (`covers`): the months from the first to
        // the last with incidents, and the month the state was kept in.
        let range = self.data_range();
        let kept = self.kept_in();
        let inside = range.is_some_and(|(f, l)| first <= l && last >= f)
            || kept.is_some_and(|k| first <= k && k <= last);
        if !inside {
            return Err(ReportError::NoData {
                month: period.to_string(),
                first: range.map_or("-".into(), |(f, _)| f.to_string()),
                last: range.map_or("-".into(), |(_, l)| l.to_string()),
            });
        }
        Ok(Report::Period(Box::new(built)))
    }

    /// The report of month `m` at instant `now` (the running month is
    /// compared month to date). A month inside the covered range without
    /// incidents reports zero; one outside it is an error.
    pub fn report(&self, m: YearMonth, now: EpochMillis) -> Result<MonthlyReport, ReportError> {
        if self.covers(m) {
            return Ok(MonthlyReport::build(&self.ledger, &self.timezone, m, now));
        }
        let range = self.data_range();
        Err(ReportError::NoData {
            month: m.to_string(),
            first: range.map_or("-".into(), |(f, _)| f.to_string()),
            last: range.map_or("-".into(), |(_, l)| l.to_string()),
        })
    }
}

/// A report of a month (with its period keys) or of another period.
#[derive(Debug, Clone)]
pub enum Report {
    Month(Box<MonthlyReport>),
    Period(Box<PeriodReport>),
}

impl Report {
    /// Marks the report as one sector's slice: its JSON says so (`sector`)
    /// and its sentence names the sector.
    pub fn set_sector(&mut self, sector: &str) {
        match self {
            Report::Month(r) => r.sector = Some(sector.to_owned()),
            Report::Period(r) => r.sector = Some(sector.to_owned()),
        }
    }

    /// Renders the report in a format.
    pub fn render(&self, lang: Lang, format: Format, who: &ReportConfig) -> String {
        match self {
            Report::Month(r) => render(r, lang, format, who),
            Report::Period(r) => render_period(r, lang, format, who),
        }
    }
}

/// Renders a period's report in a format.
pub fn render_period(r: &PeriodReport, lang: Lang, format: Format, who: &ReportConfig) -> String {
    match format {
        Format::Html => html::render_period_html(r, lang, who),
        Format::Json => render::render_period_json(r, lang, who),
        Format::Text => render::render_period_text(r, lang, false, who),
        Format::Markdown => render::render_period_text(r, lang, true, who),
    }
}

/// Renders the whole report in a format.
pub fn render(r: &MonthlyReport, lang: Lang, format: Format, who: &ReportConfig) -> String {
    match format {
        Format::Html => html::render_html(r, lang, who),
        Format::Json => render::render_json(r, lang, who),
        Format::Text => render::render_text(r, lang, false, who),
        Format::Markdown => render::render_text(r, lang, true, who),
    }
}
