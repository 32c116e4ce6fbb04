//! The calendar ledger: exact distinct-incident counts per month.
//!
//! A month keeps its totals by category and severity, by sector and by
//! province, and the minute of the month each incident is dated in, per
//! category and severity, for the "to date" figures (spec §4: month to
//! date against the same elapsed span of the previous month, to the
//! minute), and per sector, province, category and severity (its cells),
//! for the slices and breakdowns of any period (spec §7); and per category
//! how many incidents reached each lifecycle stage, with hdrhistogram's
//! values of their times (spec §4 "Updates"). All are sparse:
//! a month holds one entry per key that has incidents, so memory grows
//! with the incidents, never with the calendar span between them (one
//! incident in each month of a thousand years costs a thousand small
//! months, not a thousand dense arrays).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::month::{MonthSlot, YearMonth};
use crate::classify::CategoryId;
use crate::event::{EpochMillis, Severity};
use crate::lifecycle::{NO_TIME, Stage, StageTimes};

/// Stages with counts and times kept per category: `warned`, `handled`
/// (`recorded` is every incident: the category's total).
const TIMED: usize = Stage::TIMED.len();

/// Longest month in minutes (31 days plus a daylight-saving hour).
pub const MINUTES_PER_MONTH_MAX: usize = (31 * 24 + 1) * 60;

/// Hashes a (category, severity, minute) key: the keys are a bounded set
/// (at most [`MINUTES_PER_MONTH_MAX`] per category and severity) that an outsider cannot grow,
/// so a fixed multiplicative mix is enough, and costs one multiply where
/// SipHash costs a few dozen instructions per incident.
#[derive(Default)]
pub struct KeyMix(u64);

impl Hasher for KeyMix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        let p = (u64::from(n) ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // High bits into the low ones: the table indexes by the low bits.
        self.0 = p ^ (p >> 29);
    }
    fn write_u64(&mut self, n: u64) {
        let p = (n ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = p ^ (p >> 29);
    }
}

/// A cell of a month: (sector, province, category, severity, minute,
/// count).
pub type Cell = (usize, usize, usize, usize, usize, u32);

/// Incidents per (province, sector, category, severity, minute):
/// `province << 48 | sector << 32 |` the minute key, to the count.
pub type CellCounts = HashMap<u64, u32, BuildHasherDefault<KeyMix>>;

/// Sectors or provinces a cell key can name (configuration allows far
/// fewer: 66 sectors, 258 provinces).
const MAX_PLACES: usize = 1 << 16;

fn cell_key(sector: usize, province: usize, key: u32) -> u64 {
    ((province.min(MAX_PLACES - 1) as u64) << 48)
        | ((sector.min(MAX_PLACES - 1) as u64) << 32)
        | u64::from(key)
}

/// (sector, province, minute key) of a cell key.
fn split_cell(k: u64) -> (usize, usize, u32) {
    (((k >> 32) & 0xFFFF) as usize, (k >> 48) as usize, k as u32)
}

/// Which breakdown a slice is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Sector,
    Province,
}

/// Incidents per (category, severity, minute of the month): `category <<
/// 19 | severity << 16 | minute` to the count.
pub type MinuteCounts = HashMap<u32, u32, BuildHasherDefault<KeyMix>>;

/// Categories a minute key can name (configuration allows far fewer).
pub const MAX_CATEGORIES: usize = 1 << 13;

fn minute_key(category: usize, severity: usize, minute: usize) -> u32 {
    // Categories are a configured bounded set (at most MAX_RULES + 1,
    // far below MAX_CATEGORIES), severities 0..5 fit 3 bits, and the minute is below
    // MINUTES_PER_MONTH_MAX < 2^16.
    ((category.min(MAX_CATEGORIES - 1) as u32) << 19)
        | ((severity.min(7) as u32) << 16)
        | (minute.min(MINUTES_PER_MONTH_MAX - 1) as u32)
}

/// (category, severity, minute) of a key.
fn split_key(key: u32) -> (usize, usize, usize) {
    (
        (key >> 19) as usize,
        ((key >> 16) & 7) as usize,
        (key & 0xFFFF) as usize,
    )
}

/// One category's incidents in `[category][severity]` cells.
fn category_of(cells: &[u64], c: usize) -> u64 {
    cells
        .get(c * Severity::COUNT..(c + 1) * Severity::COUNT)
        .map_or(0, |row| row.iter().sum())
}

/// One severity's incidents in `[category][severity]` cells.
fn severity_of(cells: &[u64], s: Severity) -> u64 {
    cells.iter().skip(s.index()).step_by(Severity::COUNT).sum()
}

/// Counts of one month. Dimensions come from the owning [`Ledger`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthCounts {
    /// `[category][severity]`, row-major.
    pub by_category_severity: Vec<u64>,
    /// Per sector label.
    pub by_sector: Vec<u64>,
    /// Per province label (all zero for a month kept without provinces).
    pub by_province: Vec<u64>,
    /// Incidents per (category, severity, minute of month), sparse.
    minutes: MinuteCounts,
    /// Incidents per (sector, province, category, severity, minute),
    /// sparse: what a slice of any period, and the sectors and provinces
    /// of a part of a month, are counted from. `None` for a month restored
    /// from a state written before version 5, which kept sectors as
    /// monthly totals only.
    cells: Option<CellCounts>,
    /// Whether the cells know each incident's province: `false` for a
    /// month restored from a state written before version 6 (its cells
    /// hold every incident as of province `unknown`, and it cannot be
    /// sliced or broken down by province).
    provinces_kept: bool,
    /// `[category][warned, handled]`: incidents that reached the stage (or
    /// a later one).
    pub reached: Vec<u64>,
    /// `[category][warned, handled]`: their detection-to-stage times.
    pub times: Vec<StageTimes>,
    /// Whether stages were kept: `false` for a month restored from a state
    /// written before version 7 (its incidents' stages are unknown).
    pub stages_kept: bool,
}

impl MonthCounts {
    fn new(n_categories: usize, n_sectors: usize, n_provinces: usize) -> MonthCounts {
        MonthCounts {
            by_category_severity: vec![0; n_categories * Severity::COUNT],
            by_sector: vec![0; n_sectors],
            by_province: vec![0; n_provinces],
            minutes: MinuteCounts::default(),
            cells: Some(CellCounts::default()),
            provinces_kept: true,
            reached: vec![0; n_categories * TIMED],
            times: vec![StageTimes::default(); n_categories * TIMED],
            stages_kept: true,
        }
    }

    /// Incidents of category `c` that reached `stage` (for `recorded`,
    /// all of them).
    pub fn stage_count(&self, c: usize, stage: Stage) -> u64 {
        match stage.timed_index() {
            None => self.category(c),
            Some(t) => self.reached.get(c * TIMED + t).copied().unwrap_or(0),
        }
    }

    /// The times to `stage` of category `c` (none for `recorded`).
    pub fn stage_times(&self, c: usize, stage: Stage) -> Option<&StageTimes> {
        self.times.get(c * TIMED + stage.timed_index()?)
    }

    /// Adds `n` incidents of category `c` that reached `stage` (restoring,
    /// merging); `recorded` is not kept apart.
    pub fn add_reached(&mut self, c: usize, stage: Stage, n: u64) {
        if let Some(cell) = stage
            .timed_index()
            .and_then(|t| self.reached.get_mut(c * TIMED + t))
        {
            *cell = cell.saturating_add(n);
        }
    }

    /// The month's lifecycle summed over categories (`None` for a month
    /// kept without stages).
    pub fn stage_figures(&self) -> Option<StageFigures> {
        if !self.stages_kept {
            return None;
        }
        let mut f = StageFigures::default();
        for c in 0..self.by_category_severity.len() / Severity::COUNT {
            for s in Stage::ALL {
                f.counts[s.index()] += self.stage_count(c, s);
            }
            for (t, s) in Stage::TIMED.into_iter().enumerate() {
                if let Some(times) = self.stage_times(c, s) {
                    f.times[t].merge(times);
                }
            }
        }
        Some(f)
    }

    /// Adds `n` times `q` to `stage` of category `c`.
    pub fn add_time(&mut self, c: usize, stage: Stage, q: u32, n: u64) {
        if let Some(t) = stage
            .timed_index()
            .and_then(|t| self.times.get_mut(c * TIMED + t))
        {
            t.add(q, n);
        }
    }

    pub fn total(&self) -> u64 {
        self.by_category_severity.iter().sum()
    }

    pub fn category(&self, c: usize) -> u64 {
        category_of(&self.by_category_severity, c)
    }

    pub fn severity(&self, s: Severity) -> u64 {
        severity_of(&self.by_category_severity, s)
    }

    /// Per category, the incidents dated in the first `minutes` minutes of
    /// the month, added into `out` (one pass over the month's minutes).
    pub fn first_minutes_into(&self, minutes: usize, out: &mut [u64]) {
        for (&key, &n) in &self.minutes {
            let (c, _, m) = split_key(key);
            if m < minutes
                && let Some(o) = out.get_mut(c)
            {
                *o += u64::from(n);
            }
        }
    }

    /// The month's counts without the incidents dated from minute
    /// `minutes` on: what the running month holds to date. Its totals by
    /// category and severity are exact, and its sectors and provinces too
    /// where the month has cells; a month restored from before format 5
    /// keeps the whole month's sectors (incidents dated after the instant
    /// are at most `events.max_future_secs` ahead).
    pub fn before_minute(&self, minutes: usize) -> MonthCounts {
        let mut m = self.clone();
        for (&key, &n) in &self.minutes {
            let (c, s, minute) = split_key(key);
            if minute >= minutes {
                m.minutes.remove(&key);
                if let Some(cell) = m.by_category_severity.get_mut(c * Severity::COUNT + s) {
                    *cell = cell.saturating_sub(u64::from(n));
                }
            }
        }
        // With cells, the sectors and provinces are exact to date too.
        if let (Some(cells), Some(mine)) = (&self.cells, m.cells.as_mut()) {
            for (&key, &n) in cells {
                let (sector, province, k) = split_cell(key);
                let (_, _, minute) = split_key(k);
                if minute >= minutes {
                    mine.remove(&key);
                    if let Some(cell) = m.by_sector.get_mut(sector) {
                        *cell = cell.saturating_sub(u64::from(n));
                    }
                    if let Some(cell) = m.by_province.get_mut(province) {
                        *cell = cell.saturating_sub(u64::from(n));
                    }
                }
            }
        }
        m
    }

    /// The (sector, province, category, severity, minute, count) cells,
    /// in that order; `None` for a month without them (restored from
    /// before version 5).
    pub fn cells(&self) -> Option<Vec<Cell>> {
        let cells = self.cells.as_ref()?;
        // Sorted by one number whose order is (sector, province, key):
        // sector and province each fit 16 bits (MAX_PLACES).
        let mut keys: Vec<(u64, u32)> = cells
            .iter()
            .map(|(&k, &n)| {
                let (sector, province, key) = split_cell(k);
                (
                    (sector as u64) << 48 | (province as u64) << 32 | u64::from(key),
                    n,
                )
            })
            .collect();
        keys.sort_unstable_by_key(|&(k, _)| k);
        Some(
            keys.into_iter()
                .map(|(k, n)| {
                    let (c, s, minute) = split_key(k as u32);
                    (
                        (k >> 48) as usize,
                        (k >> 32 & 0xFFFF) as usize,
                        c,
                        s,
                        minute,
                        n,
                    )
                })
                .collect(),
        )
    }

    /// Adds `n` incidents of sector `sector` and province `province` to a
    /// (category, severity, minute) cell (restoring a checkpoint, merging
    /// ledgers).
    pub fn add_cell(
        &mut self,
        sector: usize,
        province: usize,
        c: usize,
        s: usize,
        minute: usize,
        n: u32,
    ) {
        if let Some(cells) = self.cells.as_mut() {
            let cell = cells
                .entry(cell_key(sector, province, minute_key(c, s, minute)))
                .or_insert(0);
            *cell = cell.saturating_add(n);
        }
    }

    /// Marks the month as kept without cells (a state from before version
    /// 5): it cannot be sliced, nor broken down by province.
    pub fn without_cells(&mut self) {
        self.cells = None;
        self.provinces_kept = false;
    }

    /// Marks the month as kept without provinces (a state from before
    /// version 6): it cannot be sliced or broken down by province.
    pub fn without_provinces(&mut self) {
        self.provinces_kept = false;
    }

    /// Whether the month's provinces are known.
    pub fn provinces_kept(&self) -> bool {
        self.provinces_kept
    }

    /// The (category, severity, minute, count) cells with incidents, in
    /// that order (what a checkpoint writes: the same bytes for the same
    /// counts).
    pub fn minute_cells(&self) -> Vec<(usize, usize, usize, u32)> {
        let mut keys: Vec<(u32, u32)> = self.minutes.iter().map(|(k, n)| (*k, *n)).collect();
        keys.sort_unstable();
        keys.into_iter()
            .map(|(k, n)| {
                let (c, s, minute) = split_key(k);
                (c, s, minute, n)
            })
            .collect()
    }

    /// Adds `n` incidents of category `c` and severity index `s` at minute
    /// `minute` (restoring a checkpoint, merging ledgers); a minute past
    /// the longest month is kept in its last minute.
    pub fn add_minute(&mut self, c: usize, s: usize, minute: usize, n: u32) {
        let cell = self.minutes.entry(minute_key(c, s, minute)).or_insert(0);
        *cell = cell.saturating_add(n);
    }
}

/// The counts of a range of instants ([`Ledger::between`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCounts {
    /// `[category][severity]`, row-major.
    pub by_category_severity: Vec<u64>,
    /// Per sector; `None` when a month of the range has no cells and the
    /// range covers only part of it.
    pub by_sector: Option<Vec<u64>>,
    /// Per province; `None` when a month of the range with incidents was
    /// kept without provinces.
    pub by_province: Option<Vec<u64>>,
}

impl RangeCounts {
    pub fn total(&self) -> u64 {
        self.by_category_severity.iter().sum()
    }

    pub fn category(&self, c: usize) -> u64 {
        category_of(&self.by_category_severity, c)
    }

    pub fn severity(&self, s: Severity) -> u64 {
        severity_of(&self.by_category_severity, s)
    }
}

/// The lifecycle of a period's incidents ([`Ledger::stages_between`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageFigures {
    /// Per stage ([`Stage::index`]): incidents that reached it or a later
    /// one.
    pub counts: [u64; Stage::COUNT],
    /// Times to `warned` and `handled`.
    pub times: [StageTimes; 2],
}

impl StageFigures {
    pub fn add(&mut self, other: &StageFigures) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        for (a, b) in self.times.iter_mut().zip(&other.times) {
            a.merge(b);
        }
    }
}

fn add_into(out: &mut Option<Vec<u64>>, counts: &[u64]) {
    if let Some(out) = out.as_mut() {
        for (o, n) in out.iter_mut().zip(counts) {
            *o += n;
        }
    }
}

/// Exact counts per month, category, severity, sector and province.
/// Category, sector and province names travel with the ledger so ledgers
/// from different partitions (or configurations) merge by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    categories: Arc<[String]>,
    sectors: Arc<[String]>,
    provinces: Arc<[String]>,
    months: BTreeMap<YearMonth, MonthCounts>,
}

impl Ledger {
    pub fn new(
        categories: Arc<[String]>,
        sectors: Arc<[String]>,
        provinces: Arc<[String]>,
    ) -> Ledger {
        Ledger {
            categories,
            sectors,
            provinces,
            months: BTreeMap::new(),
        }
    }

    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    pub fn sectors(&self) -> &[String] {
        &self.sectors
    }

    pub fn provinces(&self) -> &[String] {
        &self.provinces
    }

    /// The labels of a dimension.
    pub fn names(&self, d: Dimension) -> &[String] {
        match d {
            Dimension::Sector => &self.sectors,
            Dimension::Province => &self.provinces,
        }
    }

    /// Counts one distinct incident.
    #[inline]
    pub fn record(
        &mut self,
        slot: &MonthSlot,
        minute: usize,
        category: CategoryId,
        severity: Severity,
        sector: usize,
        province: usize,
    ) {
        let (nc, ns, np) = (
            self.categories.len(),
            self.sectors.len(),
            self.provinces.len(),
        );
        let m = self
            .months
            .entry(slot.month)
            .or_insert_with(|| MonthCounts::new(nc, ns, np));
        let c = usize::from(category);
        m.by_category_severity[c * Severity::COUNT + severity.index()] += 1;
        m.by_sector[sector] += 1;
        m.by_province[province] += 1;
        let key = minute_key(c, severity.index(), minute);
        *m.minutes.entry(key).or_insert(0) += 1;
        if let Some(cells) = m.cells.as_mut() {
            *cells.entry(cell_key(sector, province, key)).or_insert(0) += 1;
        }
    }

    /// An incident of `month` and category `c` reached `stage`, with the
    /// time `q` to it ([`crate::lifecycle::quantize`]d; [`NO_TIME`]: none
    /// recorded). The caller reaches each stage passed on the way.
    pub fn reach(&mut self, month: YearMonth, c: usize, stage: Stage, q: u32) {
        if let Some(m) = self.months.get_mut(&month) {
            m.add_reached(c, stage, 1);
            if q != NO_TIME {
                m.add_time(c, stage, q, 1);
            }
        }
    }

    /// Moves one incident of `month` from category `from` to `to`: its
    /// totals, minute, cell, the stages it reached and their `times`
    /// (one per timed stage, [`NO_TIME`] where none was recorded).
    #[allow(clippy::too_many_arguments)]
    pub fn move_category(
        &mut self,
        month: YearMonth,
        from: usize,
        to: usize,
        severity: usize,
        minute: usize,
        sector: usize,
        province: usize,
        stage: Stage,
        times: [u32; 2],
    ) {
        let nc = self.categories.len();
        let Some(m) = self.months.get_mut(&month) else {
            return;
        };
        if from >= nc || to >= nc || from == to {
            return;
        }
        let (a, b) = (
            from * Severity::COUNT + severity,
            to * Severity::COUNT + severity,
        );
        if m.by_category_severity.get(a).copied().unwrap_or(0) == 0 {
            return;
        }
        m.by_category_severity[a] -= 1;
        if let Some(n) = m.by_category_severity.get_mut(b) {
            *n += 1;
        }
        fn take<K: std::hash::Hash + Eq>(
            map: &mut HashMap<K, u32, BuildHasherDefault<KeyMix>>,
            k: K,
        ) {
            if let Some(n) = map.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&k);
                }
            }
        }
        let (ka, kb) = (
            minute_key(from, severity, minute),
            minute_key(to, severity, minute),
        );
        take(&mut m.minutes, ka);
        *m.minutes.entry(kb).or_insert(0) += 1;
        if let Some(cells) = m.cells.as_mut() {
            take(cells, cell_key(sector, province, ka));
            *cells.entry(cell_key(sector, province, kb)).or_insert(0) += 1;
        }
        for (t, s) in Stage::TIMED.into_iter().enumerate() {
            if stage < s {
                continue;
            }
            if let Some(n) = m.reached.get_mut(from * TIMED + t) {
                *n = n.saturating_sub(1);
            }
            m.add_reached(to, s, 1);
            let q = times[t];
            if q != NO_TIME && m.times.get_mut(from * TIMED + t).is_some_and(|h| h.take(q)) {
                m.add_time(to, s, q, 1);
            }
        }
    }

    pub fn month(&self, m: YearMonth) -> Option<&MonthCounts> {
        self.months.get(&m)
    }

    pub fn months(&self) -> impl Iterator<Item = (YearMonth, &MonthCounts)> {
        self.months.iter().map(|(k, v)| (*k, v))
    }

    /// Total of one month (0 when absent).
    pub fn total(&self, m: YearMonth) -> u64 {
        self.months.get(&m).map_or(0, MonthCounts::total)
    }

    /// Total of one category in one month.
    pub fn category_total(&self, m: YearMonth, c: usize) -> u64 {
        self.months.get(&m).map_or(0, |mc| mc.category(c))
    }

    /// Per category, the incidents of the months `from..=to`, the last of
    /// them only up to `span` (its first minutes, [`super::ToDate`]) when
    /// given: the one sum behind every figure "to date". Added into `out`.
    pub fn categories_through(
        &self,
        from: YearMonth,
        to: YearMonth,
        span: Option<&super::ToDate>,
        out: &mut [u64],
    ) {
        for (&key, m) in self.months.range(from..=to) {
            match span {
                Some(s) if key == to => m.first_minutes_into(s.minutes, out),
                _ => {
                    for (c, o) in out.iter_mut().enumerate() {
                        *o += m.category(c);
                    }
                }
            }
        }
    }

    /// The total of [`Ledger::categories_through`].
    pub fn total_through(
        &self,
        from: YearMonth,
        to: YearMonth,
        span: Option<&super::ToDate>,
    ) -> u64 {
        let mut out = vec![0; self.categories.len()];
        self.categories_through(from, to, span, &mut out);
        out.iter().sum()
    }

    /// The incidents dated in `[start, end)`: per category and severity
    /// (exact to the minute, from each month's minutes), and per sector
    /// and province (from each month's totals, or its cells for a part of
    /// a month; `None` where a month was kept without them).
    pub fn between(
        &self,
        index: &super::MonthIndex,
        start: EpochMillis,
        end: EpochMillis,
    ) -> RangeCounts {
        let mut out = RangeCounts {
            by_category_severity: vec![0; self.categories.len() * Severity::COUNT],
            by_sector: Some(vec![0; self.sectors.len()]),
            by_province: Some(vec![0; self.provinces.len()]),
        };
        let (Some(first), Some(last)) = (
            index.slot_at(start).map(|s| s.month),
            index.slot_at(end.saturating_sub(1)).map(|s| s.month),
        ) else {
            return out;
        };
        if end <= start {
            return out;
        }
        for (&m, counts) in self.months.range(first..=last) {
            let Some(slot) = index.slot(m) else { continue };
            if start <= slot.start_ms && slot.end_ms <= end {
                for (o, n) in out
                    .by_category_severity
                    .iter_mut()
                    .zip(&counts.by_category_severity)
                {
                    *o += n;
                }
                add_into(&mut out.by_sector, &counts.by_sector);
                if counts.provinces_kept || counts.total() == 0 {
                    add_into(&mut out.by_province, &counts.by_province);
                } else {
                    out.by_province = None;
                }
                continue;
            }
            let minutes = |t: EpochMillis| -> usize {
                // Non-negative after max(0): unsigned rounding up.
                let ms = u64::try_from((t - slot.start_ms).max(0)).unwrap_or(0);
                usize::try_from(ms.div_ceil(60_000)).unwrap_or(usize::MAX)
            };
            let lo = minutes(start);
            let hi = if end >= slot.end_ms {
                usize::MAX
            } else {
                minutes(end)
            };
            for (&key, &n) in &counts.minutes {
                let (c, sev, minute) = split_key(key);
                if (lo..hi).contains(&minute)
                    && let Some(o) = out.by_category_severity.get_mut(c * Severity::COUNT + sev)
                {
                    *o += u64::from(n);
                }
            }
            let Some(cells) = &counts.cells else {
                out.by_sector = None;
                out.by_province = None;
                continue;
            };
            if !counts.provinces_kept {
                out.by_province = None;
            }
            for (&key, &n) in cells {
                let (sector, province, k) = split_cell(key);
                let (_, _, minute) = split_key(k);
                if !(lo..hi).contains(&minute) {
                    continue;
                }
                if let Some(o) = out.by_sector.as_mut().and_then(|v| v.get_mut(sector)) {
                    *o += u64::from(n);
                }
                if let Some(o) = out.by_province.as_mut().and_then(|v| v.get_mut(province)) {
                    *o += u64::from(n);
                }
            }
        }
        out
    }

    /// One sector's or province's slice: a ledger of the same names whose
    /// counts are that slice's incidents only (by category, severity,
    /// minute, sector and province), so every report reads it as a whole.
    /// `Err(month)`: the first month with incidents that was kept without
    /// what the slice needs (cells before version 5, provinces before 6).
    pub fn slice(&self, d: Dimension, index: usize) -> Result<Ledger, YearMonth> {
        let mut out = Ledger::new(
            self.categories.clone(),
            self.sectors.clone(),
            self.provinces.clone(),
        );
        for (&key, m) in &self.months {
            let usable = match d {
                Dimension::Sector => m.cells.is_some(),
                Dimension::Province => m.cells.is_some() && m.provinces_kept,
            };
            let Some(cells) = m.cells.as_ref().filter(|_| usable) else {
                let inside = match d {
                    Dimension::Sector => m.by_sector.get(index).copied().unwrap_or(0),
                    Dimension::Province => m.total(),
                };
                if inside > 0 {
                    return Err(key);
                }
                continue;
            };
            let mut mine = out.empty_month();
            mine.provinces_kept = m.provinces_kept;
            // Stages are kept per month and category, not per cell.
            mine.stages_kept = false;
            for (&k, &n) in cells {
                let (sector, province, minute_key) = split_cell(k);
                let place = match d {
                    Dimension::Sector => sector,
                    Dimension::Province => province,
                };
                if place != index {
                    continue;
                }
                let (c, s, minute) = split_key(minute_key);
                if let Some(cell) = mine.by_category_severity.get_mut(c * Severity::COUNT + s) {
                    *cell += u64::from(n);
                }
                if let Some(cell) = mine.by_sector.get_mut(sector) {
                    *cell += u64::from(n);
                }
                if let Some(cell) = mine.by_province.get_mut(province) {
                    *cell += u64::from(n);
                }
                mine.add_minute(c, s, minute, n);
                mine.add_cell(sector, province, c, s, minute, n);
            }
            out.months.insert(key, mine);
        }
        Ok(out)
    }

    /// The lifecycle of the incidents dated in `[start, end)`, summed over
    /// categories: `None` unless the range is whole months (stages are
    /// kept per month) that all kept them.
    pub fn stages_between(
        &self,
        index: &super::MonthIndex,
        start: EpochMillis,
        end: EpochMillis,
    ) -> Option<StageFigures> {
        let mut out = StageFigures::default();
        let (first, last) = (index.slot_at(start)?, index.slot_at(end.saturating_sub(1))?);
        if first.start_ms != start || last.end_ms != end || end <= start {
            return None;
        }
        for (_, m) in self.months.range(first.month..=last.month) {
            match m.stage_figures() {
                Some(f) => out.add(&f),
                None if m.total() > 0 => return None,
                None => {}
            }
        }
        Some(out)
    }

    /// Replaces a month wholesale (used when restoring a checkpoint).
    pub fn insert_month(&mut self, m: YearMonth, counts: MonthCounts) {
        self.months.insert(m, counts);
    }

    /// An empty month shaped for this ledger.
    pub fn empty_month(&self) -> MonthCounts {
        MonthCounts::new(
            self.categories.len(),
            self.sectors.len(),
            self.provinces.len(),
        )
    }

    /// Adds another ledger's counts, matching categories, sectors and
    /// provinces by name. Names this ledger lacks are appended.
    pub fn merge(&mut self, other: &Ledger) {
        let cat_map: Vec<usize> = other
            .categories
            .iter()
            .map(|n| index_or_push(&mut self.categories, n))
            .collect();
        let sec_map: Vec<usize> = other
            .sectors
            .iter()
            .map(|n| index_or_push(&mut self.sectors, n))
            .collect();
        let prov_map: Vec<usize> = other
            .provinces
            .iter()
            .map(|n| index_or_push(&mut self.provinces, n))
            .collect();
        let (nc, ns, np) = (
            self.categories.len(),
            self.sectors.len(),
            self.provinces.len(),
        );
        for m in self.months.values_mut() {
            m.reached.resize(nc * TIMED, 0);
            m.times.resize(nc * TIMED, StageTimes::default());
            m.by_category_severity.resize(nc * Severity::COUNT, 0);
            m.by_sector.resize(ns, 0);
            m.by_province.resize(np, 0);
        }
        for (key, theirs) in &other.months {
            let mine = self
                .months
                .entry(*key)
                .or_insert_with(|| MonthCounts::new(nc, ns, np));
            for (oc, &c) in cat_map.iter().enumerate() {
                for s in 0..Severity::COUNT {
                    let cell = &mut mine.by_category_severity[c * Severity::COUNT + s];
                    *cell =
                        cell.saturating_add(theirs.by_category_severity[oc * Severity::COUNT + s]);
                }
            }
            for (&key, &n) in &theirs.minutes {
                let (oc, s, minute) = split_key(key);
                if let Some(&c) = cat_map.get(oc) {
                    mine.add_minute(c, s, minute, n);
                }
            }
            merge_stages(mine, theirs, &cat_map);
            match &theirs.cells {
                Some(cells) => {
                    for (&key, &n) in cells {
                        let (os, op, k) = split_cell(key);
                        let (oc, s, minute) = split_key(k);
                        if let (Some(&c), Some(&sec), Some(&prov)) =
                            (cat_map.get(oc), sec_map.get(os), prov_map.get(op))
                        {
                            mine.add_cell(sec, prov, c, s, minute, n);
                        }
                    }
                    if !theirs.provinces_kept {
                        mine.without_provinces();
                    }
                }
                None => mine.without_cells(),
            }
            for (os, &s) in sec_map.iter().enumerate() {
                mine.by_sector[s] = mine.by_sector[s].saturating_add(theirs.by_sector[os]);
            }
            for (op, &p) in prov_map.iter().enumerate() {
                mine.by_province[p] = mine.by_province[p].saturating_add(theirs.by_province[op]);
            }
        }
    }
}

/// Adds a month's stage counts and times into another's, its categories
/// mapped by `cat_map`. A month of a state without stages makes the sum
/// one without them.
pub fn merge_stages(mine: &mut MonthCounts, theirs: &MonthCounts, cat_map: &[usize]) {
    if !theirs.stages_kept && theirs.total() > 0 {
        mine.stages_kept = false;
    }
    for (oc, &c) in cat_map.iter().enumerate() {
        for (t, s) in Stage::TIMED.into_iter().enumerate() {
            let i = oc * TIMED + t;
            mine.add_reached(c, s, theirs.reached.get(i).copied().unwrap_or(0));
            if let (Some(from), Some(to)) = (theirs.times.get(i), mine.times.get_mut(c * TIMED + t))
            {
                to.merge(from);
            }
        }
    }
}

fn index_or_push(names: &mut Arc<[String]>, name: &str) -> usize {
    if let Some(i) = names.iter().position(|n| n == name) {
        return i;
    }
    let mut v = names.to_vec();
    v.push(name.to_owned());
    *names = v.into();
    names.len() - 1
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest::proptest! {
        /// The cells come out summed and in (sector, province, category,
        /// severity, minute) order, as sorting the tuples themselves puts
        /// them, whatever the places' numbers.
        #[test]
        fn cells_are_in_tuple_order(adds in proptest::collection::vec(
            (0usize..4, 0usize..70_000, 0usize..3, 0usize..5, 0usize..MINUTES_PER_MONTH_MAX, 1u32..5),
            0..200,
        )) {
            let mut m = MonthCounts::new(3, 4, 8);
            let mut want: std::collections::BTreeMap<(usize, usize, usize, usize, usize), u32> =
                std::collections::BTreeMap::new();
            for &(sector, province, c, s, minute, n) in &adds {
                m.add_cell(sector, province, c, s, minute, n);
                *want.entry((sector, province.min(MAX_PLACES - 1), c, s, minute)).or_insert(0) += n;
            }
            let want: Vec<Cell> = want
                .into_iter()
                .map(|((sector, province, c, s, minute), n)| (sector, province, c, s, minute, n))
                .collect();
            prop_assert_eq!(m.cells(), Some(want));
        }
    }
}
