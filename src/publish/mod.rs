//! Publishing the monthly figures (spec §11): which closed months are due,
//! what a published version says ([`Manifest`]), whether the state's
//! figures now differ from the archive's latest version ([`decide`]), and
//! the restatements a report names. Pure but for [`archive`], the
//! directory the versions are kept in; delivery (SMTP, webhooks) is
//! `crate::delivery`, the command `app::publish`.

pub mod archive;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calendar::{Ledger, MonthIndex, YearMonth};
use crate::event::EpochMillis;
use crate::report::{Change, MergedState, Restatement};

pub use archive::{Accepted, Archive, ArchiveLock};

/// The version of the manifest's shape; keys are only added within it.
pub const MANIFEST_SCHEMA: u32 = 1;

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("archive {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "archive {0}: another `publish` is running on it (its lock is held); run again when it has finished"
    )]
    Busy(std::path::PathBuf),
    #[error(
        "archive file {path} cannot be read: {why}; it was not written by this tool or was edited"
    )]
    Invalid {
        path: std::path::PathBuf,
        why: String,
    },
    #[error(
        "archive {dir}: version {version} of {month} was written by another `publish` meanwhile; run again"
    )]
    Taken {
        dir: std::path::PathBuf,
        month: String,
        version: u32,
    },
}

/// A month's figures as published: the total and every category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub total: u64,
    pub by_category: BTreeMap<String, u64>,
}

impl Figures {
    /// Month `m` of a ledger, whole (a closed month).
    pub fn of(ledger: &Ledger, m: YearMonth) -> Figures {
        let by_category: BTreeMap<String, u64> = ledger
            .categories()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), ledger.category_total(m, i)))
            .collect();
        Figures {
            total: by_category.values().sum(),
            by_category,
        }
    }

    /// What changed from `before` to `self`: the total, and every
    /// category whose count differs (a category one side does not name
    /// counts zero there); `None` when nothing did.
    pub fn changes_from(&self, before: &Figures) -> Option<Changes> {
        let names: std::collections::BTreeSet<&String> = self
            .by_category
            .keys()
            .chain(before.by_category.keys())
            .collect();
        let by_category: BTreeMap<String, Change> = names
            .into_iter()
            .filter_map(|c| {
                let from = before.by_category.get(c).copied().unwrap_or(0);
                let to = self.by_category.get(c).copied().unwrap_or(0);
                (from != to).then(|| (c.clone(), Change { from, to }))
            })
            .collect();
        (self.total != before.total || !by_category.is_empty()).then_some(Changes {
            total: Change {
                from: before.total,
                to: self.total,
            },
            by_category,
        })
    }
}

/// What a revision changed: the total (also when it stayed) and the
/// categories that moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub total: Change,
    pub by_category: BTreeMap<String, Change>,
}

/// A published version of a month: `manifest.json` of
/// `<archive>/<YYYY-MM>/v<N>/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// `YYYY-MM`.
    pub month: String,
    /// 1, 2, ...
    pub version: u32,
    /// The version this one replaces (`null` for version 1).
    pub revises: Option<u32>,
    /// When the figures were read (RFC 3339 in the timezone).
    pub as_of: String,
    pub timezone: String,
    pub total: u64,
    pub by_category: BTreeMap<String, u64>,
    /// The month had no incident: published all the same, and saying so.
    pub no_incidents: bool,
    /// The state the figures were read from (a directory or a topic).
    pub state: String,
    /// The report files beside the manifest.
    pub files: Vec<String>,
    /// For a revision: what changed since the version it revises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

impl Manifest {
    pub fn figures(&self) -> Figures {
        Figures {
            total: self.total,
            by_category: self.by_category.clone(),
        }
    }

    /// `as_of` as an instant (`None` if it does not parse).
    pub fn as_of_ms(&self) -> Option<EpochMillis> {
        let t: jiff::Timestamp = self.as_of.parse().ok()?;
        Some(t.as_millisecond())
    }

    /// The restatement this version makes, if it is a revision.
    pub fn restatement(&self) -> Option<Restatement> {
        let changes = self.changes.as_ref()?;
        Some(Restatement {
            month: self.month.clone(),
            version: self.version,
            revises: self.revises?,
            as_of: self.as_of.clone(),
            total: changes.total,
            by_category: changes.by_category.clone().into_iter().collect(),
        })
    }
}

/// What `publish` does with a month, given the archive's latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Never published: version 1.
    First,
    /// Published and the same (total and every category): nothing.
    Unchanged { version: u32 },
    /// Published and changed: version `revises + 1`.
    Revise { revises: u32, changes: Changes },
}

/// Compares the state's figures of a month with its latest version.
pub fn decide(latest: Option<&Manifest>, now: &Figures) -> Decision {
    match latest {
        None => Decision::First,
        Some(m) => match now.changes_from(&m.figures()) {
            None => Decision::Unchanged { version: m.version },
            Some(changes) => Decision::Revise {
                revises: m.version,
                changes,
            },
        },
    }
}

/// When month `m` may be published: `after_close_ms` after it closed (in
/// the timezone of `index`).
pub fn due_at(index: &MonthIndex, m: YearMonth, after_close_ms: i64) -> Option<EpochMillis> {
    Some(index.slot(m)?.end_ms.saturating_add(after_close_ms))
}

/// The closed months a state covers ([`MergedState::covers`]), oldest
/// first: its first month with incidents to its last (the months between
/// carry the zeros of a month without incidents), and the month it was
/// last kept in once that has closed, without the month running at `now`.
/// A quiet month after the last incident is published once the state
/// covers it: when a later month has incidents.
pub fn closed_months(state: &MergedState, now: EpochMillis) -> Vec<YearMonth> {
    let Ok(tz) = jiff::tz::TimeZone::get(&state.timezone) else {
        return Vec::new();
    };
    let (Some((first, last)), Some(running)) = (
        state.data_range(),
        MonthIndex::new(tz).slot_at(now).map(|s| s.month),
    ) else {
        return Vec::new();
    };
    let until = state.kept_in().map_or(last, |k| k.max(last));
    let mut out = Vec::new();
    let mut m = first;
    while m <= until && m < running {
        if state.covers(m) {
            out.push(m);
        }
        m = m.plus(1);
    }
    out
}

/// How far the archive is behind a state: closed months past their
/// publishing time that it does not have, and published months whose
/// figures have changed since their latest version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pending {
    pub unpublished: u64,
    pub changed: u64,
}

/// What the next `publish` would write for `state` at `now`.
pub fn pending(
    state: &MergedState,
    versions: &[Manifest],
    after_close_ms: i64,
    now: EpochMillis,
) -> Pending {
    let mut p = Pending::default();
    let Ok(tz) = jiff::tz::TimeZone::get(&state.timezone) else {
        return p;
    };
    let index = MonthIndex::new(tz);
    for m in closed_months(state, now) {
        if due_at(&index, m, after_close_ms).is_none_or(|due| due > now) {
            continue;
        }
        let key = m.to_string();
        let latest = versions
            .iter()
            .filter(|v| v.month == key)
            .max_by_key(|v| v.version);
        match decide(latest, &Figures::of(&state.ledger, m)) {
            Decision::First => p.unpublished += 1,
            Decision::Revise { .. } => p.changed += 1,
            Decision::Unchanged { .. } => {}
        }
    }
    p
}

/// The restatements a report of `month` names: revisions of earlier
/// months published since the month before it was first published (any
/// time, when it never was), up to `until` (the report's instant), oldest
/// first. The running month's report names those made since last month
/// was published; a published month's own version names those made
/// between its predecessor's publication and its own.
pub fn restatements_for(
    month: YearMonth,
    versions: &[Manifest],
    until: EpochMillis,
) -> Vec<Restatement> {
    let previous = month.plus(-1).to_string();
    let since = versions
        .iter()
        .filter(|v| v.month == previous && v.version == 1)
        .filter_map(Manifest::as_of_ms)
        .min();
    let mut out: Vec<(EpochMillis, Restatement)> = versions
        .iter()
        .filter(|v| v.month.parse::<YearMonth>().is_ok_and(|m| m < month))
        .filter_map(|v| {
            let at = v.as_of_ms()?;
            let after = since.is_none_or(|s| at > s);
            (after && at <= until)
                .then(|| v.restatement().map(|r| (at, r)))
                .flatten()
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.month.cmp(&b.1.month)));
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(total: u64, cats: &[(&str, u64)]) -> Figures {
        Figures {
            total,
            by_category: cats.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
        }
    }

    fn manifest(
        month: &str,
        version: u32,
        as_of: &str,
        f: &Figures,
        before: Option<&Figures>,
    ) -> Manifest {
        Manifest {
            schema_version: MANIFEST_SCHEMA,
            month: month.into(),
            version,
            revises: (version > 1).then(|| version - 1),
            as_of: as_of.into(),
            timezone: "Asia/Ho_Chi_Minh".into(),
            total: f.total,
            by_category: f.by_category.clone(),
            no_incidents: f.total == 0,
            state: "test".into(),
            files: vec![],
            changes: before.and_then(|b| f.changes_from(b)),
        }
    }

    #[test]
    fn a_month_is_first_unchanged_or_revised() {
        let v1 = figures(847, &[("malware", 300), ("phishing", 547)]);
        assert_eq!(decide(None, &v1), Decision::First);
        let m1 = manifest("2022-05", 1, "2022-06-03T00:00:00+07:00", &v1, None);
        assert_eq!(decide(Some(&m1), &v1), Decision::Unchanged { version: 1 });
        // A category the configuration added, still at zero, changes nothing.
        let mut with_new = v1.clone();
        with_new.by_category.insert("ddos".into(), 0);
        assert_eq!(
            decide(Some(&m1), &with_new),
            Decision::Unchanged { version: 1 }
        );
        let v2 = figures(850, &[("malware", 303), ("phishing", 547)]);
        match decide(Some(&m1), &v2) {
            Decision::Revise { revises, changes } => {
                assert_eq!(revises, 1);
                assert_eq!(changes.total, Change { from: 847, to: 850 });
                assert_eq!(changes.by_category.len(), 1);
                assert_eq!(
                    changes.by_category["malware"],
                    Change { from: 300, to: 303 }
                );
            }
            other => panic!("expected a revision, got {other:?}"),
        }
        // The total unchanged, two categories swapped: still a revision.
        let moved = figures(847, &[("malware", 301), ("phishing", 546)]);
        assert!(matches!(decide(Some(&m1), &moved), Decision::Revise { .. }));
    }

    #[test]
    fn pending_counts_what_the_next_publish_would_write() {
        use crate::calendar::Ledger;
        use crate::event::Severity;
        let cats: std::sync::Arc<[String]> = vec!["malware".to_owned()].into();
        let sectors: std::sync::Arc<[String]> = vec!["other".to_owned()].into();
        let mut ledger = Ledger::new(cats, sectors.clone(), sectors);
        let tz = jiff::tz::TimeZone::get("UTC").unwrap();
        let mut index = MonthIndex::new(tz);
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        for t in [
            "2022-04-10T00:00:00Z",
            "2022-05-10T00:00:00Z",
            "2022-05-11T00:00:00Z",
        ] {
            let slot = index.locate(at(t)).unwrap();
            ledger.record(&slot, slot.minute_of(at(t)), 0, Severity::Unknown, 0, 0);
        }
        let state = MergedState {
            ledger,
            timezone: "UTC".into(),
            covered_until_ms: Some(at("2022-07-05T00:00:00Z")),
        };
        // April and May are closed on 5 July and covered; June, after
        // the last incident, is not (the state says nothing of it), July
        // is running.
        let week = 7 * 86_400_000;
        let now = at("2022-07-05T00:00:00Z");
        assert_eq!(closed_months(&state, now).len(), 2);
        let none = pending(&state, &[], week, now);
        assert_eq!(
            none,
            Pending {
                unpublished: 2,
                changed: 0
            }
        );
        let apr = figures(1, &[("malware", 1)]);
        let may_old = figures(1, &[("malware", 1)]);
        let versions = vec![
            manifest("2022-04", 1, "2022-05-03T00:00:00Z", &apr, None),
            manifest("2022-05", 1, "2022-06-03T00:00:00Z", &may_old, None),
        ];
        assert_eq!(
            pending(&state, &versions, week, now),
            Pending {
                unpublished: 0,
                changed: 1
            }
        );
        // A state last kept in June (stopped then): June is covered, and
        // due without a delay, a month without incidents.
        let stopped = MergedState {
            covered_until_ms: Some(at("2022-06-20T00:00:00Z")),
            ..state.clone()
        };
        assert_eq!(closed_months(&stopped, now).len(), 3);
        assert_eq!(pending(&stopped, &versions, 0, now).unpublished, 1);
    }

    #[test]
    fn a_report_names_the_restatements_since_the_previous_month_was_published() {
        let may = figures(847, &[("malware", 847)]);
        let may2 = figures(850, &[("malware", 850)]);
        let apr = figures(10, &[("malware", 10)]);
        let apr2 = figures(11, &[("malware", 11)]);
        let versions = vec![
            manifest("2022-04", 1, "2022-05-03T00:00:00+07:00", &apr, None),
            // Before May was published: June's report does not name it.
            manifest("2022-04", 2, "2022-05-20T00:00:00+07:00", &apr2, Some(&apr)),
            manifest("2022-05", 1, "2022-06-03T00:00:00+07:00", &may, None),
            manifest("2022-05", 2, "2022-07-03T00:00:00+07:00", &may2, Some(&may)),
        ];
        let june = YearMonth::new(2022, 6).unwrap();
        let until = "2022-07-03T00:00:01+07:00"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let r = restatements_for(june, &versions, until);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].month, "2022-05");
        assert_eq!(r[0].total, Change { from: 847, to: 850 });
        // May's own report names April's restatement, made after April
        // was published... April's report was before: May's names it.
        let may_m = YearMonth::new(2022, 5).unwrap();
        let r = restatements_for(may_m, &versions, until);
        assert_eq!(
            r.iter().map(|r| r.month.as_str()).collect::<Vec<_>>(),
            ["2022-04"]
        );
        // Up to the report's instant only.
        let before = "2022-07-01T00:00:00+07:00"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        assert!(restatements_for(june, &versions, before).is_empty());
    }
}
