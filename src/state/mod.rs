//! Per-partition aggregated state and its checkpoints (spec §4 "Delivery").
//!
//! Everything counted for one source partition (a Kafka partition, or the
//! file/stdin input as partition 0) lives in one [`PartitionState`] together
//! with the source position it covers. A checkpoint writes both in one file,
//! atomically (write, fsync, rename, fsync the directory), so after a crash
//! the state on disk always matches its position: resuming right after that
//! position neither loses nor double-counts an incident.
//!
//! Readers (`report`, and later instances taking over a partition) load the
//! files with [`StateStore::load_all`] and merge the ledgers by name.

mod backend;
pub mod codec;
mod file;
mod store;
pub mod topic;

use std::sync::Arc;

pub use backend::StateBackend;
pub use file::{
    Counts, FORMAT_VERSION, Snapshot, WindowSnapshot, decode, decode_counts, decode_life_chunk,
    encode, encode_life_chunk,
};
pub use store::{Checkpoint, LockError, MonitorMeta, StateLock, StateStore, StoreError};

use crate::calendar::Ledger;
use crate::config::Settings;
use crate::dedup::Dedup;
use crate::event::{EpochMillis, Filter, Reject, Severity};
use crate::lifecycle::{Lifecycle, Note};
use crate::window::{WindowShape, Windows};

/// Where a partition's messages come from. Ordered as their names are
/// (`input` before `kafka.<topic>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A file or stdin (one partition, 0).
    #[default]
    Input,
    /// A Kafka topic.
    Kafka(String),
}

impl Source {
    /// The source of a Kafka topic.
    pub fn kafka(topic: &str) -> Source {
        Source::Kafka(topic.to_owned())
    }

    /// The source of a name written by its `Display` (`input`,
    /// `kafka.<topic>`), as checkpoints and state-topic keys hold it.
    pub fn from_name(name: &str) -> Option<Source> {
        match name {
            "input" => Some(Source::Input),
            _ => name
                .strip_prefix("kafka.")
                .filter(|t| !t.is_empty())
                .map(Source::kafka),
        }
    }

    /// The topic of a Kafka source.
    pub fn topic(&self) -> Option<&str> {
        match self {
            Source::Input => None,
            Source::Kafka(t) => Some(t),
        }
    }
}

/// `input`, or `kafka.<topic>`: the name in checkpoints, state-topic keys,
/// file names and logs.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Input => f.write_str("input"),
            Source::Kafka(t) => write!(f, "kafka.{t}"),
        }
    }
}

/// Which partition of which source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub source: Source,
    pub partition: i32,
}

impl PartitionKey {
    /// The key of the file/stdin input.
    pub fn input() -> PartitionKey {
        PartitionKey {
            source: Source::Input,
            partition: 0,
        }
    }

    /// A file name for this key: unusual characters become `_`.
    pub fn file_stem(&self) -> String {
        let source: String = self
            .source
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{source}-{}", self.partition)
    }
}

/// How far the source has been applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// The next offset to read: a Kafka offset, or a byte offset in a file.
    pub next_offset: u64,
    /// Records (messages, lines) applied so far.
    pub records: u64,
    /// What the position refers to: the input path (`-` for stdin), or the
    /// topic.
    pub input: String,
    /// Which file it is (see [`FileIdentity`]); `None` for stdin and Kafka,
    /// and for checkpoints written before it was recorded.
    pub identity: Option<FileIdentity>,
}

/// What makes a file at the same path the one a position was recorded
/// in: the XXH3-64 hash of every byte before the position, as they were
/// read ([`FileIdentity::Prefix`]). The file is resumed at the position
/// only when its bytes before it hash the same now: appended to, it is the
/// same file; rewritten, edited, truncated or rotated (copytruncate), it
/// is read again from its start, and dedup keeps the counts exact. The
/// inode and the modification time are not used: editors and `generate >
/// file` keep or change them regardless of the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileIdentity {
    /// XXH3-64 of the bytes before the position.
    Prefix(u64),
    /// Read from a checkpoint of before version 4: the length and hash of
    /// the file's first 4 KiB, which cannot vouch for the bytes after them
    /// (such a file is read again from its start).
    Head { len: u32, hash: u64 },
}

/// Outcome counters (spec §6 `events_total`, `invalid_events_total`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// New incidents, counted in their months however late they arrived.
    pub accepted: u64,
    /// Later messages that moved an incident (a stage, a category).
    pub update: u64,
    pub duplicate: u64,
    /// Incidents a version-1 build left uncounted as older than its dedup
    /// horizon (restored from its checkpoints; nothing is dropped as late
    /// any more: lateness is per window, in `window_late`).
    pub late: u64,
    pub invalid: [u64; Reject::ALL.len()],
    /// Messages a format's filter says are not incidents, by reason.
    pub filtered: [u64; Filter::ALL.len()],
    /// Per window: incidents older than the window's range when they arrived.
    pub window_late: Vec<u64>,
    /// Lifecycle news not (all) applied, by [`Note`] reason.
    pub lifecycle: [u64; Note::ALL.len()],
}

impl Outcomes {
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }

    pub fn filtered_total(&self) -> u64 {
        self.filtered.iter().sum()
    }

    pub fn total(&self) -> u64 {
        self.accepted
            + self.update
            + self.duplicate
            + self.late
            + self.invalid_total()
            + self.filtered_total()
    }

    /// Counts a lifecycle note.
    #[inline]
    pub fn note(&mut self, note: Option<Note>) {
        if let Some(n) = note {
            self.lifecycle[n.index()] += 1;
        }
    }

    /// Adds another partition's counters.
    pub fn add(&mut self, o: &Outcomes) {
        self.accepted += o.accepted;
        self.update += o.update;
        self.duplicate += o.duplicate;
        for (a, b) in self.lifecycle.iter_mut().zip(o.lifecycle) {
            *a += b;
        }
        self.late += o.late;
        for (a, b) in self.invalid.iter_mut().zip(o.invalid) {
            *a += b;
        }
        for (a, b) in self.filtered.iter_mut().zip(o.filtered) {
            *a += b;
        }
        if self.window_late.len() < o.window_late.len() {
            self.window_late.resize(o.window_late.len(), 0);
        }
        for (a, b) in self.window_late.iter_mut().zip(&o.window_late) {
            *a += b;
        }
    }
}

/// Everything counted for one partition, and the position it covers.
#[derive(Debug, Clone)]
pub struct PartitionState {
    pub key: PartitionKey,
    pub position: Position,
    pub ledger: Ledger,
    pub dedup: Dedup,
    /// The incidents later messages can still move.
    pub lifecycle: Lifecycle,
    pub windows: Windows,
    pub outcomes: Outcomes,
}

/// A checkpoint that cannot be used with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "state for {partition} was counted in timezone {stored}, but the configuration says {configured}: \
         months would mix; set timezone = \"{stored}\" or use a new --state-dir"
    )]
    Timezone {
        partition: String,
        stored: String,
        configured: String,
    },
    #[error(
        "state for {partition} has counts in category {category:?}, which the configuration no longer has: \
         add a rule for it back or use a new --state-dir"
    )]
    CategoryRemoved { partition: String, category: String },
}

impl PartitionState {
    /// An empty state for a partition.
    pub fn new(key: PartitionKey, settings: &Settings) -> PartitionState {
        let cfg = &settings.config;
        let categories: Arc<[String]> = settings.categories().into();
        let shapes = WindowShape::from_config(&cfg.windows);
        PartitionState {
            key,
            position: Position::default(),
            ledger: Ledger::new(
                categories.clone(),
                settings.sectors.clone(),
                settings.provinces.names().clone(),
            ),
            dedup: Dedup::new(
                i64::from(cfg.dedup.horizon_days) * 86_400_000,
                cfg.dedup.max_ids_per_partition,
            ),
            lifecycle: Lifecycle::new(
                i64::from(cfg.lifecycle.remember_days) * 86_400_000,
                cfg.lifecycle.max_per_partition,
            ),
            windows: Windows::new(
                shapes.clone(),
                categories.len(),
                (cfg.windows.allowed_lateness_secs * 1000) as i64,
                (cfg.windows.idle_after_secs * 1000) as i64,
            ),
            outcomes: Outcomes {
                window_late: vec![0; shapes.len()],
                ..Outcomes::default()
            },
        }
    }

    /// Rebuilds a live state from a checkpoint, mapping categories, sectors
    /// and windows by name onto the current configuration.
    pub fn restore(
        s: Snapshot,
        settings: &Settings,
        wall_ms: EpochMillis,
    ) -> Result<PartitionState, RestoreError> {
        let partition = s.key.file_stem();
        let configured = settings.config.timezone.clone();
        if s.timezone != configured {
            return Err(RestoreError::Timezone {
                partition,
                stored: s.timezone,
                configured,
            });
        }
        let mut st = PartitionState::new(s.key.clone(), settings);
        let cat_map: Vec<usize> = s
            .ledger
            .categories()
            .iter()
            .map(|name| {
                settings
                    .classifier
                    .category_id(name)
                    .map(usize::from)
                    .ok_or_else(|| RestoreError::CategoryRemoved {
                        partition: partition.clone(),
                        category: name.clone(),
                    })
            })
            .collect::<Result<_, _>>()?;
        restore_ledger(&mut st, &s.ledger, &cat_map, settings);
        st.dedup = Dedup::restore(
            i64::from(settings.config.dedup.horizon_days) * 86_400_000,
            settings.config.dedup.max_ids_per_partition,
            s.dedup_buckets,
            wall_ms,
        );
        st.windows.restore_clock(s.max_event_ms, wall_ms);
        restore_windows(&mut st, &s.windows, &cat_map, settings.categories().len());
        st.position = s.position;
        let (sec_map, prov_map) = place_maps(&s.ledger, settings);
        let small = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let at = |map: &[usize], i: u16| map.get(usize::from(i)).copied().unwrap_or(0);
        let mut lifecycle = s.lifecycle;
        for chunk in &mut lifecycle {
            for (_, o) in chunk.incidents.iter_mut() {
                o.category = small(at(&cat_map, o.category));
                o.first_category = small(at(&cat_map, o.first_category));
                o.sector = small(at(&sec_map, o.sector));
                o.province = small(at(&prov_map, o.province));
            }
        }
        st.lifecycle.restore(lifecycle, wall_ms);
        st.lifecycle.link(&mut st.dedup);
        st.outcomes.accepted = s.outcomes.accepted;
        st.outcomes.update = s.outcomes.update;
        st.outcomes.lifecycle = s.outcomes.lifecycle;
        st.outcomes.duplicate = s.outcomes.duplicate;
        st.outcomes.late = s.outcomes.late;
        st.outcomes.invalid = s.outcomes.invalid;
        st.outcomes.filtered = s.outcomes.filtered;
        Ok(st)
    }
}

/// Where a checkpoint's sectors and provinces go in the configured ones
/// (ones no longer configured: `other`).
fn place_maps(ledger: &Ledger, settings: &Settings) -> (Vec<usize>, Vec<usize>) {
    let by_name = |stored: &[String], configured: &[String]| -> Vec<usize> {
        // Configured names end with `other` and `unknown`.
        let other = configured.len() - 2;
        stored
            .iter()
            .map(|name| configured.iter().position(|n| n == name).unwrap_or(other))
            .collect()
    };
    (
        by_name(ledger.sectors(), &settings.sectors),
        by_name(ledger.provinces(), settings.provinces.names()),
    )
}

/// The checkpoint's months onto the configured categories (`cat_map`),
/// sectors and provinces (ones no longer configured fold into `other`).
fn restore_ledger(
    st: &mut PartitionState,
    ledger: &Ledger,
    cat_map: &[usize],
    settings: &Settings,
) {
    let (sec_map, prov_map) = place_maps(ledger, settings);
    for (month, theirs) in ledger.months() {
        let mut mine = st.ledger.empty_month();
        remap(
            &theirs.by_category_severity,
            &mut mine.by_category_severity,
            Severity::COUNT,
            cat_map,
        );
        for (c, s, minute, n) in theirs.minute_cells() {
            if let Some(&to) = cat_map.get(c) {
                mine.add_minute(to, s, minute, n);
            }
        }
        crate::calendar::merge_stages(&mut mine, theirs, cat_map);
        mine.stages_kept = theirs.stages_kept;
        match theirs.cells() {
            Some(cells) => {
                for (sec, prov, c, s, minute, n) in cells {
                    if let (Some(&to), Some(&sec), Some(&prov)) =
                        (cat_map.get(c), sec_map.get(sec), prov_map.get(prov))
                    {
                        mine.add_cell(sec, prov, to, s, minute, n);
                    }
                }
                if !theirs.provinces_kept() {
                    mine.without_provinces();
                }
            }
            None => mine.without_cells(),
        }
        for (i, &n) in theirs.by_sector.iter().enumerate() {
            // Several sectors no longer configured fold into `other`.
            let cell = &mut mine.by_sector[sec_map[i]];
            *cell = file::add_count(*cell, n);
        }
        for (i, &n) in theirs.by_province.iter().enumerate() {
            let cell = &mut mine.by_province[prov_map[i]];
            *cell = file::add_count(*cell, n);
        }
        st.ledger.insert_month(month, mine);
    }
}

/// The checkpoint's windows that match a configured one by name and shape.
fn restore_windows(
    st: &mut PartitionState,
    windows: &[WindowSnapshot],
    cat_map: &[usize],
    nc: usize,
) {
    let shapes: Vec<WindowShape> = st.windows.shapes().to_vec();
    for (wi, shape) in shapes.iter().enumerate() {
        let Some(ws) = windows.iter().find(|w| {
            w.name == shape.name && w.slide_ms == shape.slide_ms && w.panes == shape.panes
        }) else {
            continue;
        };
        let panes: Vec<(i64, Vec<u32>)> = ws
            .pane_counts
            .iter()
            .map(|(tag, counts)| {
                let mut row = vec![0u32; nc];
                for (i, &n) in counts.iter().enumerate() {
                    if let Some(&c) = cat_map.get(i) {
                        row[c] += n;
                    }
                }
                (*tag, row)
            })
            .collect();
        st.windows.restore_ring(wi, &panes);
        st.outcomes.window_late[wi] = ws.late;
    }
}

/// Copies `[category][width]` rows from one category order to another.
/// Categories are distinct by name in a decoded checkpoint, so each target
/// row receives one source row.
fn remap<T: Copy + std::ops::AddAssign>(from: &[T], to: &mut [T], width: usize, cat_map: &[usize]) {
    for (oc, &c) in cat_map.iter().enumerate() {
        let src = &from[oc * width..(oc + 1) * width];
        for (d, s) in to[c * width..(c + 1) * width].iter_mut().zip(src) {
            *d += *s;
        }
    }
}

#[cfg(test)]
mod tests;
