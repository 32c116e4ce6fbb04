//! The calendar ledger: exact distinct-incident counts per month.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::month::{MonthSlot, YearMonth};
use crate::classify::CategoryId;
use crate::event::Severity;

/// Longest month in hours (31 days plus a daylight-saving hour).
pub const HOURS_PER_MONTH_MAX: usize = 31 * 24 + 1;

/// Counts of one month. Dimensions come from the owning [`Ledger`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthCounts {
    /// `[category][severity]`, row-major.
    pub by_category_severity: Vec<u64>,
    /// Per sector label.
    pub by_sector: Vec<u64>,
    /// `[category][hour of month]`, for month-to-date comparisons.
    pub hourly: Vec<u32>,
}

impl MonthCounts {
    fn new(n_categories: usize, n_sectors: usize) -> MonthCounts {
        MonthCounts {
            by_category_severity: vec![0; n_categories * Severity::COUNT],
            by_sector: vec![0; n_sectors],
            hourly: vec![0; n_categories * HOURS_PER_MONTH_MAX],
        }
    }

    pub fn total(&self) -> u64 {
        self.by_category_severity.iter().sum()
    }

    pub fn category(&self, c: usize) -> u64 {
        self.by_category_severity[c * Severity::COUNT..(c + 1) * Severity::COUNT]
            .iter()
            .sum()
    }

    pub fn severity(&self, s: Severity) -> u64 {
        self.by_category_severity
            .iter()
            .skip(s.index())
            .step_by(Severity::COUNT)
            .sum()
    }

    /// Incidents of category `c` in the first `hours` hours of the month.
    pub fn category_first_hours(&self, c: usize, hours: usize) -> u64 {
        let row = &self.hourly[c * HOURS_PER_MONTH_MAX..(c + 1) * HOURS_PER_MONTH_MAX];
        row[..hours.min(HOURS_PER_MONTH_MAX)]
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }
}

/// Exact counts per month, category, severity and sector. Category and sector
/// names travel with the ledger so ledgers from different partitions (or
/// configurations) merge by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    categories: Arc<[String]>,
    sectors: Arc<[String]>,
    months: BTreeMap<YearMonth, MonthCounts>,
}

impl Ledger {
    pub fn new(categories: Arc<[String]>, sectors: Arc<[String]>) -> Ledger {
        Ledger {
            categories,
            sectors,
            months: BTreeMap::new(),
        }
    }

    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    pub fn sectors(&self) -> &[String] {
        &self.sectors
    }

    /// Counts one distinct incident.
    #[inline]
    pub fn record(
        &mut self,
        slot: &MonthSlot,
        hour: usize,
        category: CategoryId,
        severity: Severity,
        sector: usize,
    ) {
        let (nc, ns) = (self.categories.len(), self.sectors.len());
        let m = self
            .months
            .entry(slot.month)
            .or_insert_with(|| MonthCounts::new(nc, ns));
        let c = usize::from(category);
        m.by_category_severity[c * Severity::COUNT + severity.index()] += 1;
        m.by_sector[sector] += 1;
        m.hourly[c * HOURS_PER_MONTH_MAX + hour.min(HOURS_PER_MONTH_MAX - 1)] += 1;
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

    /// Sum of the months `from..=to`.
    pub fn total_between(&self, from: YearMonth, to: YearMonth) -> u64 {
        self.months.range(from..=to).map(|(_, m)| m.total()).sum()
    }

    /// Sum of one category over `from..=to`.
    pub fn category_between(&self, from: YearMonth, to: YearMonth, c: usize) -> u64 {
        self.months
            .range(from..=to)
            .map(|(_, m)| m.category(c))
            .sum()
    }

    /// Replaces a month wholesale (used when restoring a checkpoint).
    pub fn insert_month(&mut self, m: YearMonth, counts: MonthCounts) {
        self.months.insert(m, counts);
    }

    /// An empty month shaped for this ledger.
    pub fn empty_month(&self) -> MonthCounts {
        MonthCounts::new(self.categories.len(), self.sectors.len())
    }

    /// Adds another ledger's counts, matching categories and sectors by name.
    /// Names this ledger lacks are appended.
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
        let (nc, ns) = (self.categories.len(), self.sectors.len());
        for m in self.months.values_mut() {
            m.by_category_severity.resize(nc * Severity::COUNT, 0);
            m.by_sector.resize(ns, 0);
            m.hourly.resize(nc * HOURS_PER_MONTH_MAX, 0);
        }
        for (key, theirs) in &other.months {
            let mine = self
                .months
                .entry(*key)
                .or_insert_with(|| MonthCounts::new(nc, ns));
            for (oc, &c) in cat_map.iter().enumerate() {
                for s in 0..Severity::COUNT {
                    let cell = &mut mine.by_category_severity[c * Severity::COUNT + s];
                    *cell =
                        cell.saturating_add(theirs.by_category_severity[oc * Severity::COUNT + s]);
                }
                for h in 0..HOURS_PER_MONTH_MAX {
                    let cell = &mut mine.hourly[c * HOURS_PER_MONTH_MAX + h];
                    *cell = cell.saturating_add(theirs.hourly[oc * HOURS_PER_MONTH_MAX + h]);
                }
            }
            for (os, &s) in sec_map.iter().enumerate() {
                mine.by_sector[s] = mine.by_sector[s].saturating_add(theirs.by_sector[os]);
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
