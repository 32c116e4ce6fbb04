//! The per-event path: decode → classify → dedup and the lifecycle it
//! links to → windows and ledger.
//!
//! Pure and synchronous: [`Engine::apply`] takes message bytes and a
//! partition's state and returns what happened. This is what the criterion
//! benchmark measures.
//!
//! It is two steps. [`Engine::prepare`] (decode, month, classification, id
//! hash: most of the cost) reads no partition state, so it can run on any
//! thread without the monitor lock; [`Engine::commit`] (dedup, lifecycle,
//! ledger, windows, counters) must see a partition's messages in offset
//! order. `apply` is the two in a row; [`super::Monitor::apply`] prepares a whole
//! batch, then commits it run by run.

use crate::calendar::{Ledger, MonthIndex, MonthSlot, YearMonth};
use crate::classify::{AsciiWords, CategoryId, trimmed};
use crate::config::{Input, Settings};
use crate::decode::{Decoded, Decoder};
use crate::dedup::IdHash;
use crate::event::{EpochMillis, Filter, Reject, Severity};
use crate::lifecycle::{Found, Moved, NO_TIME, Note, Open, Stage, quantize};
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
        /// Its first message may already be `warned` or `handled`.
        moved: Moved,
    },
    /// A later message of an incident already counted that moved it to a
    /// later stage or into another category (spec §4 "Updates"): it is
    /// not counted again.
    Update(Moved),
    /// Another message of an incident already counted, that changes
    /// nothing (`note`: a stage named for an incident no longer
    /// remembered).
    Duplicate { note: Option<Note> },
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
            Outcome::Accepted {
                late_windows,
                moved,
                ..
            } => {
                o.accepted += 1;
                o.note(moved.note);
                let mut bits = late_windows;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(n) = o.window_late.get_mut(i) {
                        *n += 1;
                    }
                }
            }
            Outcome::Update(moved) => {
                o.update += 1;
                o.note(moved.note);
            }
            Outcome::Duplicate { note } => {
                o.duplicate += 1;
                o.note(note);
            }
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
    /// The stage its `status` names.
    stage: Stage,
    /// When that stage was reached (`updated`), if given.
    updated_ms: Option<EpochMillis>,
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
    /// `lifecycle.max_time_days`, in ms.
    max_time_ms: i64,
    /// The configured sectors (not `other` and `unknown`).
    sectors: AsciiWords,
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
            max_time_ms: i64::from(settings.config.lifecycle.max_time_days) * 86_400_000,
            sectors: AsciiWords::new(
                settings.sectors[..settings.sectors.len() - 2]
                    .iter()
                    .map(String::as_str),
            ),
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
            stage: self.settings.stage_words.stage(event.status.as_deref()),
            updated_ms: event.updated_ms,
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
            Prepared::Event(e) => self.count(st, e, wall_ms),
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

    /// Counts a new incident, or applies a later message of one counted
    /// (found through dedup, whose slot for the id links to it).
    fn count(&self, st: &mut PartitionState, e: &Classified, wall_ms: EpochMillis) -> Outcome {
        let PartitionState {
            lifecycle,
            dedup,
            ledger,
            windows,
            ..
        } = st;
        let held = match lifecycle.find(dedup, &e.id, wall_ms) {
            Found::Known(open) => return self.update(ledger, open, e, wall_ms),
            Found::Duplicate => {
                // Counted before, and no longer remembered by the lifecycle.
                let note =
                    (lifecycle.is_on() && e.stage > Stage::Recorded).then_some(Note::Forgotten);
                return Outcome::Duplicate { note };
            }
            Found::New(held) => held,
        };
        let minute = e.slot.minute_of(e.time_ms);
        ledger.record(
            &e.slot, minute, e.category, e.severity, e.sector, e.province,
        );
        let late_windows = windows.record(e.time_ms, e.category, wall_ms);
        let mut open = Open::new(
            e.time_ms,
            e.slot.month.0,
            minute,
            usize::from(e.category),
            e.sector,
            e.province,
            e.severity.index(),
        );
        let moved = if e.stage > Stage::Recorded {
            self.advance(ledger, &mut open, e, wall_ms)
        } else {
            Moved::default()
        };
        open.type_stage = e.stage;
        lifecycle.remember(dedup, held, e.id, open);
        Outcome::Accepted {
            category: e.category,
            severity: e.severity,
            sector: e.sector,
            late_windows,
            moved,
        }
    }

    /// A later message of a remembered incident: a later stage is reached
    /// (once, with its time), a corrected type moves it between categories
    /// of its month (once). Anything else is a duplicate.
    fn update(
        &self,
        ledger: &mut Ledger,
        open: &mut Open,
        e: &Classified,
        wall_ms: EpochMillis,
    ) -> Outcome {
        let mut moved = Moved::default();
        let mut changed = false;
        if e.stage > open.stage {
            moved = self.advance(ledger, open, e, wall_ms);
            changed = true;
        }
        let to = usize::from(e.category);
        let first_again = e.stage == Stage::Recorded
            && e.updated_ms.is_none()
            && to == usize::from(open.first_category);
        if to != usize::from(open.category) && e.stage >= open.type_stage && !first_again {
            ledger.move_category(
                YearMonth(open.month),
                usize::from(open.category),
                to,
                usize::from(open.severity),
                usize::from(open.minute),
                usize::from(open.sector),
                usize::from(open.province),
                open.stage,
                open.times,
            );
            open.category = u16::try_from(to).unwrap_or(u16::MAX);
            open.type_stage = e.stage;
            changed = true;
        }
        if changed {
            Outcome::Update(moved)
        } else {
            Outcome::Duplicate { note: None }
        }
    }

    /// Moves `open` to the stage `e` names (later than its own), recording
    /// the time to each stage it reaches: `updated` (or the arrival) minus
    /// the detection time, when it is neither negative nor too long.
    fn advance(
        &self,
        ledger: &mut Ledger,
        open: &mut Open,
        e: &Classified,
        wall_ms: EpochMillis,
    ) -> Moved {
        let mut moved = Moved::default();
        let at = e.updated_ms.unwrap_or(wall_ms);
        let elapsed = at.saturating_sub(open.detected_ms);
        let secs = if elapsed < 0 {
            moved.note = Some(Note::NegativeTime);
            None
        } else if elapsed > self.max_time_ms {
            moved.note = Some(Note::TooLong);
            None
        } else {
            // Within max_time_days (at most ten years of seconds).
            u32::try_from(elapsed / 1000).ok()
        };
        let month = YearMonth(open.month);
        for (t, s) in Stage::TIMED.into_iter().enumerate() {
            if open.stage < s && s <= e.stage {
                let q = secs.map_or(NO_TIME, |v| quantize(u64::from(v)));
                ledger.reach(month, usize::from(open.category), s, q);
                open.times[t] = q;
                moved.times[t] = secs.unwrap_or(NO_TIME);
            }
        }
        open.stage = e.stage;
        moved
    }

    /// Configured sectors match case-insensitively; others are `other`, a
    /// missing sector `unknown` (the last two labels).
    fn sector_index(&self, sector: Option<&str>) -> usize {
        let n = self.settings.sectors.len();
        match sector {
            None => n - 1,
            Some(s) => self.sectors.find(trimmed(s)).unwrap_or(n - 2),
        }
    }
}
