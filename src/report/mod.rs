//! The reports (spec §7): a month's and any other period's (`period`), of
//! the whole or of one sector's or province's slice; the model, the wording in English
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
    SCHEMA_VERSION, StageFigure, Stages, TrendPoint, YearToDateFigures,
};
pub use period::{
    PeriodComparison, PeriodError, PeriodPoint, PeriodReport, period_sentence, period_words,
};
pub use render::{Format, restatement_sentence, sentence};

use crate::calendar::{Dimension, Ledger, MonthIndex, YearMonth};
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
    #[error("unknown {0} {1:?}: the state counts {2}")]
    UnknownSlice(&'static str, String, String),
    #[error(
        "the state of {month} predates {what} slices (written before format version {version}): recount that month from its source to slice it by {what} {name:?}"
    )]
    SliceUnavailable {
        what: &'static str,
        name: String,
        month: String,
        version: u16,
    },
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
            first.ledger.provinces().into(),
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

    /// The state's label for a slice named by a user: a sector as given; a
    /// province by its code or any name that matches it (its display
    /// names in `labels` or built in, with or without diacritics: `Hà
    /// Nội`, `ha noi`), else as given.
    pub fn slice_label(&self, slice: Slice, labels: &crate::config::Labels) -> Slice {
        let Slice::Province(name) = slice else {
            return slice;
        };
        let codes: Vec<String> = (self.ledger.provinces().iter())
            .filter(|p| {
                *p != crate::classify::SECTOR_OTHER && *p != crate::classify::SECTOR_UNKNOWN
            })
            .cloned()
            .collect();
        let prefixes = crate::classify::DEFAULT_PROVINCE_PREFIXES.map(str::to_owned);
        let found = crate::classify::Provinces::compile(
            &codes,
            &labels.provinces,
            &Default::default(),
            &prefixes,
        )
        .ok()
        .and_then(|p| p.resolve(&name).map(str::to_owned));
        Slice::Province(found.unwrap_or_else(|| name.trim().to_lowercase()))
    }

    /// One sector's or province's slice of the state: the same exact
    /// counts, that slice's incidents only (spec §7 "Slices"). `slice`
    /// names it by its label (a province's code, `other` or `unknown`:
    /// [`crate::classify::Provinces::resolve`] turns a name into it).
    pub fn slice(&self, slice: &Slice) -> Result<MergedState, ReportError> {
        let (d, name) = slice.parts();
        let names = self.ledger.names(d);
        let unavailable = |m: YearMonth| ReportError::SliceUnavailable {
            what: slice.what(),
            name: name.to_owned(),
            month: m.to_string(),
            version: match d {
                Dimension::Sector => 5,
                Dimension::Province => 6,
            },
        };
        let Some(i) = names.iter().position(|s| s == name) else {
            // A state that kept no provinces knows none by name: say why.
            let none_known = (names.iter()).all(|n| {
                n == crate::classify::SECTOR_OTHER || n == crate::classify::SECTOR_UNKNOWN
            });
            if d == Dimension::Province
                && none_known
                && let Some((m, _)) =
                    (self.ledger.months()).find(|(_, c)| !c.provinces_kept() && c.total() > 0)
            {
                return Err(unavailable(m));
            }
            return Err(ReportError::UnknownSlice(
                slice.what(),
                name.to_owned(),
                names.join(", "),
            ));
        };
        let ledger = self.ledger.slice(d, i).map_err(unavailable)?;
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

/// What a report is a slice of (`--sector`, `--province`): a label of the
/// state (a sector's or a province's code, `other` or `unknown`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slice {
    Sector(String),
    Province(String),
}

impl Slice {
    fn parts(&self) -> (Dimension, &str) {
        match self {
            Slice::Sector(s) => (Dimension::Sector, s),
            Slice::Province(p) => (Dimension::Province, p),
        }
    }

    /// `sector` or `province`: the flag, the URL parameter, the JSON key.
    pub fn what(&self) -> &'static str {
        match self {
            Slice::Sector(_) => "sector",
            Slice::Province(_) => "province",
        }
    }
}

/// A report of a month (with its period keys) or of another period.
#[derive(Debug, Clone)]
pub enum Report {
    Month(Box<MonthlyReport>),
    Period(Box<PeriodReport>),
}

impl Report {
    /// Marks the report as a slice: its JSON says so (`sector` or
    /// `province`) and its sentence names the slice.
    pub fn set_slice(&mut self, slice: &Slice) {
        // Stages are kept per month and category, not per sector or
        // province: a slice has none.
        let (sector, province) = match self {
            Report::Month(r) => {
                r.stages = None;
                (&mut r.sector, &mut r.province)
            }
            Report::Period(r) => {
                r.stages = None;
                (&mut r.sector, &mut r.province)
            }
        };
        match slice {
            Slice::Sector(s) => *sector = Some(s.clone()),
            Slice::Province(p) => *province = Some(p.clone()),
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
