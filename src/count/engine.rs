//! The per-event path: decode → classify → dedup → windows and ledger.
//!
//! Pure and synchronous: [`Engine::apply`] takes message bytes and a
//! partition's state and returns what happened. This is what the criterion
//! benchmark measures.
//!
//! It is two steps. [`Engine::prepare`] (decode, month, classification, id
//! hash: most of the cost) reads no partition state, so it can run on any
//! thread without the monitor lock; [`Engine::commit`] (dedup, ledger,
//! windows, counters) must see a partition's messages in offset order.
//! `apply` is the two in a row; [`super::Monitor::apply`] prepares a whole
//! batch, then commits it run by run.

use crate::calendar::{MonthIndex, MonthSlot};
use crate::classify::CategoryId;
use crate::config::{Input, Settings};
use crate::decode::{Decoded, Decoder};
use crate::dedup::{IdHash, Seen};
use crate::event::{EpochMillis, Filter, Reject, Severity};
use crate::state::{Outcomes, PartitionKey, PartitionState};

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new incident, counted in its month however old it is, and in
    /// every window whose range it is in (it is late for the others only).
    Accepted {
        category: CategoryId,
        severity: Severity,
        /// Index of its sector label.
        sector: usize,
        /// Bit set of windows it was too old for.
        late_windows: u32,
    },
    /// Another message of an incident already counted.
    Duplicate,
    /// Well formed, but not an incident by its format's filter.
    Filtered(Filter),
    /// Not an incident.
    Invalid(Reject),
}

impl Outcome {
    /// Adds this outcome to outcome counters.
    #[inline]
    pub fn tally(&self, o: &mut Outcomes) {
        match *self {
            Outcome::Accepted { late_windows, .. } => {
                o.accepted += 1;
                let mut bits = late_windows;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(n) = o.window_late.get_mut(i) {
                        *n += 1;
                    }
                }
            }
            Outcome::Duplicate => o.duplicate += 1,
            Outcome::Filtered(f) => o.filtered[f.index()] += 1,
            Outcome::Invalid(r) => o.invalid[r.index()] += 1,
        }
    }
}

/// A message parsed and classified, not yet counted: what [`Engine::commit`]
/// needs, without the message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    Event(Classified),
    Filtered(Filter),
    Invalid(Reject),
}

/// The parts of an incident the counts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    id: IdHash,
    time_ms: EpochMillis,
    slot: MonthSlot,
    category: CategoryId,
    severity: Severity,
    sector: usize,
    province: usize,
}

/// Stateless with respect to partitions; holds the compiled configuration and
/// the month cache.
#[derive(Debug, Clone)]
pub struct Engine {
    settings: Settings,
    months: MonthIndex,
    decoder: Decoder,
    max_future_ms: i64,
    /// `events.earliest_time`: earlier events are `too_old`.
    earliest_ms: EpochMillis,
    /// The provinces already matched, as written.
    provinces: crate::classify::NameCache,
}

/// The decoder of an input.
fn decoder_of(settings: &Settings, input: &Input) -> Decoder {
    let max = settings.config.events.max_event_bytes;
    match &input.mapping {
        Some(m) => Decoder::custom(m.clone(), max, input.tools.clone()),
        None => Decoder::new(
            input.format,
            max,
            settings.classifier.fields_needed(),
            input.tools.clone(),
        ),
    }
}

impl Engine {
    /// The engine of the `[events]` input (a file run's).
    pub fn new(settings: Settings) -> Engine {
        let input = settings.events_input.clone();
        Engine::for_input(settings, &input)
    }

    /// The engine of one input: its decoder, the shared rules and months.
    pub fn for_input(settings: Settings, input: &Input) -> Engine {
        Engine {
            months: MonthIndex::new(settings.tz.clone()),
            decoder: decoder_of(&settings, input),
            max_future_ms: i64::try_from(settings.config.events.max_future_secs)
                .map_or(i64::MAX, |s| s.saturating_mul(1000)),
            earliest_ms: settings.earliest_ms,
            settings,
            provinces: crate::classify::NameCache::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn months(&mut self) -> &mut MonthIndex {
        &mut self.months
    }

    /// A fresh state for a partition.
    pub fn new_partition(&self, key: PartitionKey) -> PartitionState {
        PartitionState::new(key, &self.settings)
    }

    /// Applies one message to a partition's state. Does not move the
    /// position: the caller does, once per message or batch.
    #[inline]
    pub fn apply(
        &mut self,
        st: &mut PartitionState,
        payload: &[u8],
        wall_ms: EpochMillis,
    ) -> Outcome {
        let prepared = self.prepare(payload);
        self.commit(st, &prepared, wall_ms)
    }

    /// Decodes and classifies one message. Touches no partition state (the
    /// `&mut` is the month cache).
    #[inline]
    pub fn prepare(&mut self, payload: &[u8]) -> Prepared {
        let event = match self.decoder.decode(payload) {
            Decoded::Event(e) => e,
            Decoded::Filtered(f) => return Prepared::Filtered(f),
            Decoded::Invalid(r) => return Prepared::Invalid(r),
        };
        let Some(slot) = self.months.locate(event.time_ms) else {
            return Prepared::Invalid(Reject::BadTime);
        };
        Prepared::Event(Classified {
            id: IdHash::of(&event.id),
            time_ms: event.time_ms,
            slot,
            category: self.settings.classifier.classify(&event),
            severity: event.severity,
            sector: self.sector_index(event.target.sector.as_deref()),
            province: self
                .settings
                .provinces
                .index(event.target.province.as_deref(), &mut self.provinces),
        })
    }

    /// Counts a prepared message in a partition's state. A partition's
    /// messages must be committed in offset order.
    #[inline]
    pub fn commit(
        &self,
        st: &mut PartitionState,
        prepared: &Prepared,
        wall_ms: EpochMillis,
    ) -> Outcome {
        let outcome = match prepared {
            Prepared::Invalid(r) => Outcome::Invalid(*r),
            Prepared::Filtered(f) => Outcome::Filtered(*f),
            // Checked at arrival, against the wall clock: a sensor with a
            // wrong clock must not move any clock, window or month.
            Prepared::Event(e) if e.time_ms > wall_ms.saturating_add(self.max_future_ms) => {
                Outcome::Invalid(Reject::FutureTime)
            }
            // Before the configured floor: a reset clock, an epoch default.
            // Like a future time, it moves no clock, window or month.
            Prepared::Event(e) if e.time_ms < self.earliest_ms => Outcome::Invalid(Reject::TooOld),
            Prepared::Event(e) => Self::count(st, e, wall_ms),
        };
        outcome.tally(&mut st.outcomes);
        outcome
    }

    /// Starts loading the partition state a later [`Engine::commit`] of
    /// this message reads at random (its dedup slot), so a batch commit can
    /// overlap those cache misses instead of waiting for each in turn.
    #[inline(always)]
    pub fn prefetch(st: &PartitionState, prepared: &Prepared) {
        if let Prepared::Event(e) = prepared {
            st.dedup.prefetch(&e.id);
        }
    }

    fn count(st: &mut PartitionState, e: &Classified, wall_ms: EpochMillis) -> Outcome {
        if st.dedup.offer(e.id, wall_ms) == Seen::Duplicate {
            return Outcome::Duplicate;
        }
        st.ledger.record(
            &e.slot,
            e.slot.minute_of(e.time_ms),
            e.category,
            e.severity,
            e.sector,
            e.province,
        );
        let late_windows = st.windows.record(e.time_ms, e.category, wall_ms);
        Outcome::Accepted {
            category: e.category,
            severity: e.severity,
            sector: e.sector,
            late_windows,
        }
    }

    /// Configured sectors match case-insensitively; others are `other`, a
    /// missing sector `unknown` (the last two labels).
    fn sector_index(&self, sector: Option<&str>) -> usize {
        let n = self.settings.sectors.len();
        match sector {
            None => n - 1,
            Some(s) => {
                let s = s.trim();
                self.settings.sectors[..n - 2]
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(s))
                    .unwrap_or(n - 2)
            }
        }
    }
}
