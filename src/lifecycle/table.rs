//! The incidents a partition remembers for their updates: each counted
//! incident with where it was counted (month, minute, category, severity,
//! sector, province), its stage and the times recorded for it, so a later
//! message can move it on, or into another category, exactly once.
//!
//! Bounded like dedup, by arrival (the wall clock), never by event time:
//! an incident is remembered for `lifecycle.remember_days` after its last
//! message arrived, and never more than `lifecycle.max_per_partition` are
//! kept (the ones whose last message is oldest go first). An incident
//! forgotten before it was handled is counted ([`Lifecycle::forgotten`]).
//! Handled incidents stay until the same bounds drop them, so a
//! re-delivered message of a handled incident is known for a duplicate and
//! a corrected type still moves it.
//!
//! The incidents are kept in one log in the order their last message
//! arrived (64 bytes each, one cache line), cut into arrival hours. There is
//! no table of their own to find them by id: dedup, which every message
//! consults anyway, keeps in the id's slot a *link* to the incident's place
//! in the log ([`crate::dedup::Dedup::set_link`]). So a new incident costs
//! an append at the end of the log and four bytes in a line already read,
//! and forgetting the oldest is a walk along the front of the log: no
//! random line at all (the table this replaces cost a fifth more CPU per
//! event on the file path, docs/benchmarks.md). A link is checked against
//! the incident it names (the whole id, and that it is still live), so a
//! link left behind by an incident forgotten here leads nowhere.
//!
//! An incident dedup forgets while it is remembered here (dedup's horizon
//! or cap is shorter) is an *orphan*: kept in a map by id
//! ([`Lifecycle::orphan`]), consulted for messages dedup calls new, and
//! linked again when its next message arrives. An incident renewed in a
//! later hour moves to the end of the log; its old place is left dead,
//! and the log's length, dead places included, is bounded too (eight times
//! the bound, past which the oldest are forgotten first).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound::{Excluded, Unbounded};

use super::Stage;
use crate::dedup::{BUCKET_MS, Dedup, Held, ID_HIGH_MASK, IdHash, Seen};
use crate::event::EpochMillis;

/// An incident remembered: where it was counted and how far it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    /// Detection time (`time` of its first message).
    pub detected_ms: EpochMillis,
    /// The month it is counted in (a [`crate::calendar::YearMonth`]'s
    /// number).
    pub month: i32,
    /// Time recorded for `warned` and `handled` ([`super::quantize`]d
    /// seconds); [`NO_TIME`] when none was recorded.
    pub times: [u32; 2],
    /// Minute of its month.
    pub minute: u16,
    pub category: u16,
    /// The category of its first message: the same text again, with no
    /// stage and no `updated`, is that message re-delivered, not a
    /// correction back.
    pub first_category: u16,
    pub sector: u16,
    pub province: u16,
    /// Severity index.
    pub severity: u8,
    pub stage: Stage,
    /// The stage of the message its category was last set by: a message
    /// of an earlier stage (older news) does not change it back.
    pub type_stage: Stage,
    /// The arrival hour of its last message (hours since the epoch): with
    /// its place, where it is live.
    hour: i32,
    /// Its place in its bucket (restored as checkpointed, so the state
    /// topic's chunks keep their names).
    pub place: u32,
}

/// No time recorded.
pub const NO_TIME: u32 = u32::MAX;

impl Open {
    /// An incident counted by its first message.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        detected_ms: EpochMillis,
        month: i32,
        minute: usize,
        category: usize,
        sector: usize,
        province: usize,
        severity: usize,
    ) -> Open {
        // Each fits its field (minutes of a month, configured bounded
        // sets); one that would not is held at the field's largest value.
        const fn small(n: usize) -> u16 {
            if n > u16::MAX as usize {
                u16::MAX
            } else {
                n as u16
            }
        }
        Open {
            detected_ms,
            month,
            times: [NO_TIME; 2],
            minute: small(minute),
            category: small(category),
            first_category: small(category),
            sector: small(sector),
            province: small(province),
            severity: if severity > u8::MAX as usize {
                u8::MAX
            } else {
                severity as u8
            },
            stage: Stage::Recorded,
            type_stage: Stage::Recorded,
            hour: 0,
            place: 0,
        }
    }
}

/// The hour of an arrival bucket (hours since the epoch: within `i32`
/// for any time the monitor accepts).
fn hour(bucket_ms: i64) -> i32 {
    i32::try_from(bucket_ms.div_euclid(BUCKET_MS)).unwrap_or(i32::MAX)
}

/// Incidents per chunk of a bucket, as the state topic writes them.
pub const PER_CHUNK: u64 = 8192;

/// A chunk of one arrival bucket, as checkpointed: places `first..end`,
/// the tick it last changed at (0 in a checkpoint file, which is written
/// whole), and the incidents live in it with their places.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub bucket: i64,
    pub first: u64,
    pub end: u64,
    pub tick: u64,
    pub incidents: Vec<(IdHash, Open)>,
}

/// Marks a live record (in its id's second word, whose top bits an
/// [`IdHash`] keeps clear).
const LIVE: u64 = 1 << 63;
/// Marks a live record whose id dedup no longer holds.
const ORPHAN: u64 = 1 << 62;

/// One place of the log: an incident, or a dead place (renewed later, or
/// a gap of a restored bucket).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Rec {
    id: [u64; 2],
    open: Open,
}

impl Rec {
    const DEAD: Rec = Rec {
        id: [0, 0],
        open: Open::new(0, 0, 0, 0, 0, 0, 0),
    };

    fn id(&self) -> IdHash {
        IdHash([self.id[0], self.id[1] & ID_HIGH_MASK])
    }

    fn live(&self) -> bool {
        self.id[1] & LIVE != 0
    }

    /// Live, and the incident of `id`.
    #[inline]
    fn is(&self, id: &IdHash) -> bool {
        self.live() && self.id[0] == id.0[0] && self.id[1] & ID_HIGH_MASK == id.0[1]
    }
}

/// What a message's id is, to dedup and the lifecycle together
/// ([`Lifecycle::find`]).
pub enum Found<'a> {
    /// An incident remembered (renewed by this message).
    Known(&'a mut Open),
    /// Counted before, and no longer remembered here.
    Duplicate,
    /// A new incident: [`Lifecycle::remember`] it with this, before dedup
    /// is offered another id.
    New(Held),
}

/// Links are places in the log modulo 2³² − 1, plus one (0: no link).
const LINK_MOD: u64 = u32::MAX as u64;

/// The link of the place `seq`.
#[inline]
fn link_of(seq: u64) -> u32 {
    // Below 2³² − 1 after the modulo, so within `u32` plus one.
    (seq % LINK_MOD + 1) as u32
}

/// Where an arrival hour's places begin: its first record's place in the
/// log (`seq0`), and its own number for it (`base`, 0 unless restored).
#[derive(Debug, Clone, Copy)]
struct Span {
    seq0: u64,
    base: u64,
}

/// The remembered incidents of one partition.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Places `front..front + len`, oldest first.
    log: VecDeque<Rec>,
    front: u64,
    /// Arrival hour → where its places begin; an hour's places end where
    /// the next one's begin.
    buckets: BTreeMap<i64, Span>,
    /// Orphans by id, with their place.
    orphans: HashMap<IdHash, u64>,
    /// Live incidents.
    live: usize,
    /// When each chunk of a bucket last changed (a tick of `tick`): what
    /// names the state topic's segments, so an unchanged chunk is not
    /// written again.
    changed: Changed,
    remember_ms: i64,
    max: usize,
    now_bucket: i64,
    /// Incidents forgotten before they were handled, since this state was
    /// created or restored.
    forgotten: u64,
}

impl std::fmt::Debug for Rec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rec")
            .field("live", &self.live())
            .field("open", &self.open)
            .finish()
    }
}

/// When each chunk of a bucket last changed: a counter stepped at every
/// change, so a chunk changed since it was written has another name. The
/// chunk changed last is held apart (new incidents land in one chunk after
/// another: one map entry per chunk, not per incident).
#[derive(Debug, Clone, Default)]
struct Changed {
    at: HashMap<(i64, u64), u64>,
    last: Option<((i64, u64), u64)>,
    tick: u64,
}

impl Changed {
    /// Notes that the chunk holding `place` of `bucket` changed.
    #[inline]
    fn mark(&mut self, bucket: i64, place: u64) {
        self.tick += 1;
        let k = (bucket, place / PER_CHUNK);
        match self.last {
            Some((held, _)) if held == k => {}
            Some((held, tick)) => {
                self.at.insert(held, tick);
            }
            None => {}
        }
        self.last = Some((k, self.tick));
    }

    fn get(&self, bucket: i64, chunk: u64) -> u64 {
        match self.last {
            Some((k, tick)) if k == (bucket, chunk) => tick,
            _ => self.at.get(&(bucket, chunk)).copied().unwrap_or(0),
        }
    }

    fn forget(&mut self, bucket: i64, chunk: u64) {
        self.at.remove(&(bucket, chunk));
        if self.last.is_some_and(|(k, _)| k == (bucket, chunk)) {
            self.last = None;
        }
    }

    /// A chunk restored as checkpointed.
    fn set(&mut self, bucket: i64, chunk: u64, tick: u64) {
        self.at.insert((bucket, chunk), tick);
        self.tick = self.tick.max(tick);
    }
}

impl Lifecycle {
    /// Remembers for `remember_ms` after the last message, at most `max`
    /// incidents (0: the lifecycle is off).
    pub fn new(remember_ms: i64, max: usize) -> Lifecycle {
        Lifecycle {
            // Room for the bound (up to a million incidents, 64 MiB): an
            // address range only, whose pages are touched as the log
            // fills, and the log never copies itself on the way there.
            // One more than the bound: it is applied before the next add.
            log: VecDeque::with_capacity(max.min(1 << 20) + 1),
            front: 0,
            buckets: BTreeMap::new(),
            orphans: HashMap::new(),
            live: 0,
            changed: Changed::default(),
            remember_ms,
            max,
            now_bucket: i64::MIN,
            forgotten: 0,
        }
    }

    /// Whether incidents are remembered (`max_per_partition` above 0).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.max > 0
    }

    /// Offers a message's id to dedup at `wall_ms` and finds the incident
    /// it names here: through the link in dedup's slot, or among the
    /// orphans when dedup calls it new. The bounds of both are applied
    /// first.
    #[inline]
    pub fn find<'a>(
        &'a mut self,
        dedup: &mut Dedup,
        id: &IdHash,
        wall_ms: EpochMillis,
    ) -> Found<'a> {
        self.tick(wall_ms);
        let (seen, held) = dedup.offer(*id, wall_ms);
        if let Some(gone) = dedup.take_unlinked() {
            for (gone, link) in gone {
                self.orphan(&gone, link);
            }
        }
        let known = match seen {
            Seen::Duplicate => self.resolve(dedup.link(held), id),
            Seen::New => self.adopt(id),
        };
        match (known, seen) {
            (Some(seq), _) => {
                let (open, link) = self.touch(seq);
                dedup.set_link(held, link);
                Found::Known(open)
            }
            (None, Seen::Duplicate) => Found::Duplicate,
            (None, Seen::New) => Found::New(held),
        }
    }

    /// Remembers a new incident ([`Found::New`]) and links it from dedup
    /// (nothing when the lifecycle is off).
    #[inline]
    pub fn remember(&mut self, dedup: &mut Dedup, held: Held, id: IdHash, open: Open) {
        if self.max > 0 {
            let link = self.push(id, open);
            dedup.set_link(held, link);
        }
    }

    /// The place after the last.
    fn head(&self) -> u64 {
        self.front + self.log.len() as u64
    }

    /// The most places the log keeps, dead ones included (below 2³² − 1,
    /// so a link names one place).
    fn max_log(&self) -> usize {
        self.max.saturating_mul(8).clamp(1 << 16, 1 << 31)
    }

    /// Applies the bounds as of a message arriving at `arrival_ms`; called
    /// before the message is looked up or added.
    #[inline]
    fn tick(&mut self, arrival_ms: EpochMillis) {
        if self.max == 0 {
            return;
        }
        let bucket = arrival_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        if bucket > self.now_bucket {
            self.advance(bucket);
        }
        if self.live > self.max || self.log.len() > self.max_log() {
            self.evict();
        }
    }

    /// The place a link names, if it is in the log.
    fn seq_of(&self, link: u32) -> Option<u64> {
        if link == 0 || self.log.is_empty() {
            return None;
        }
        let last = self.head() - 1;
        let back = (last % LINK_MOD + LINK_MOD - (u64::from(link) - 1)) % LINK_MOD;
        let seq = last.checked_sub(back)?;
        (seq >= self.front).then_some(seq)
    }

    /// The remembered incident of `id` that `link` (dedup's) names.
    #[inline]
    fn resolve(&self, link: u32, id: &IdHash) -> Option<u64> {
        let seq = self.seq_of(link)?;
        let i = usize::try_from(seq - self.front).ok()?;
        self.log.get(i).filter(|r| r.is(id)).map(|_| seq)
    }

    /// A remembered incident whose id dedup had forgotten (it now holds it
    /// again, as new): no longer an orphan.
    #[inline]
    fn adopt(&mut self, id: &IdHash) -> Option<u64> {
        if self.orphans.is_empty() {
            return None;
        }
        let seq = self.orphans.remove(id)?;
        let i = usize::try_from(seq - self.front).ok()?;
        let r = self.log.get_mut(i)?;
        r.id[1] &= !ORPHAN;
        Some(seq)
    }

    /// Dedup forgot `id`, which carried `link`: if that names an incident
    /// remembered here, it is an orphan until its next message.
    fn orphan(&mut self, id: &IdHash, link: u32) {
        if let Some(seq) = self.resolve(link, id) {
            let i = (seq - self.front) as usize;
            self.log[i].id[1] |= ORPHAN;
            self.orphans.insert(*id, seq);
        }
    }

    /// The incident at `seq` ([`Lifecycle::resolve`], [`Lifecycle::adopt`])
    /// for its message arriving now: moved to the end of the log if its
    /// last message was in an earlier hour. Returns it and its link, which
    /// the caller stores in dedup.
    #[inline]
    fn touch(&mut self, seq: u64) -> (&mut Open, u32) {
        let i = (seq - self.front) as usize;
        let r = self.log[i];
        // Its chunk changes whatever the caller does with it: a stage, a
        // category, or its place (renewed).
        self.changed
            .mark(i64::from(r.open.hour) * BUCKET_MS, u64::from(r.open.place));
        if r.open.hour == hour(self.now_bucket) {
            return (&mut self.log[i].open, link_of(seq));
        }
        self.log[i].id[1] &= !(LIVE | ORPHAN);
        let moved = self.append(r.id(), r.open);
        let last = self.log.len() - 1;
        (&mut self.log[last].open, link_of(moved))
    }

    /// Remembers a new incident; returns its link, which the caller stores
    /// in dedup (the bounds are applied at the next [`Lifecycle::tick`]).
    #[inline]
    fn push(&mut self, id: IdHash, open: Open) -> u32 {
        self.live += 1;
        link_of(self.append(id, open))
    }

    /// Appends a live record in the current hour; returns its place in the
    /// log.
    #[inline]
    fn append(&mut self, id: IdHash, mut open: Open) -> u64 {
        let seq = self.head();
        let now = self.now_bucket;
        let span = match self.buckets.last_key_value() {
            Some((&start, &span)) if start == now => span,
            _ => {
                let span = Span { seq0: seq, base: 0 };
                self.buckets.insert(now, span);
                span
            }
        };
        let place = span.base + (seq - span.seq0);
        open.hour = hour(now);
        open.place = u32::try_from(place).unwrap_or(u32::MAX);
        self.log.push_back(Rec {
            id: [id.0[0], (id.0[1] & ID_HIGH_MASK) | LIVE],
            open,
        });
        self.changed.mark(now, place);
        seq
    }

    /// Where the places of the bucket `start` end in the log.
    fn bucket_end(&self, start: i64) -> u64 {
        self.buckets
            .range((Excluded(start), Unbounded))
            .next()
            .map_or(self.head(), |(_, s)| s.seq0)
    }

    /// Drops the front place, counting a live incident not handled.
    fn pop(&mut self) {
        if let Some(r) = self.log.pop_front() {
            self.front += 1;
            if r.live() {
                self.live -= 1;
                if r.open.stage < Stage::Handled {
                    self.forgotten += 1;
                }
                if r.id[1] & ORPHAN != 0 {
                    self.orphans.remove(&r.id());
                }
            }
        }
    }

    fn advance(&mut self, bucket: i64) {
        self.now_bucket = bucket;
        let cutoff = bucket.saturating_sub(self.remember_ms);
        while let Some((&start, &span)) = self.buckets.first_key_value() {
            if start.saturating_add(BUCKET_MS) > cutoff {
                break;
            }
            let end = self.bucket_end(start);
            let first = span.base + (self.front.max(span.seq0) - span.seq0);
            let last = span.base + (end - span.seq0);
            while self.front < end {
                self.pop();
            }
            self.buckets.remove(&start);
            for c in (first / PER_CHUNK)..=(last / PER_CHUNK) {
                self.changed.forget(start, c);
            }
        }
    }

    /// Forgets the incidents last seen longest ago until 63/64 of the
    /// bound is held (and of the log's bound).
    #[cold]
    fn evict(&mut self) {
        let target = self.max - self.max / 64;
        let log_target = self.max_log() - self.max_log() / 64;
        while self.live > target || self.log.len() > log_target {
            let Some((&start, &span)) = self.buckets.first_key_value() else {
                break;
            };
            let end = self.bucket_end(start);
            let first = span.base + (self.front.max(span.seq0) - span.seq0);
            while self.front < end && (self.live > target || self.log.len() > log_target) {
                self.pop();
            }
            let kept_from = span.base + (self.front.max(span.seq0) - span.seq0);
            if self.front >= end {
                self.buckets.remove(&start);
                for c in (first / PER_CHUNK)..=(kept_from / PER_CHUNK) {
                    self.changed.forget(start, c);
                }
            } else {
                for c in (first / PER_CHUNK)..(kept_from / PER_CHUNK) {
                    self.changed.forget(start, c);
                }
                self.changed.mark(start, kept_from);
            }
        }
    }

    /// Incidents remembered now.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Incidents forgotten before they were handled, since this state was
    /// created or restored.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Of the incidents remembered that were detected in `[from_ms,
    /// to_ms)`: how many are not handled, and how many there are.
    pub fn overdue(&self, from_ms: EpochMillis, to_ms: EpochMillis) -> (u64, u64) {
        let mut open = 0;
        let mut all = 0;
        for r in self.log.iter().filter(|r| r.live()) {
            if (from_ms..to_ms).contains(&r.open.detected_ms) {
                all += 1;
                if r.open.stage < Stage::Handled {
                    open += 1;
                }
            }
        }
        (open, all)
    }

    /// Heap bytes held (the log, dead places included, and the orphans).
    pub fn heap_bytes(&self) -> usize {
        self.log.capacity() * std::mem::size_of::<Rec>()
            + self.orphans.capacity() * (std::mem::size_of::<(IdHash, u64)>() + 1)
    }

    /// Each bucket with where its places begin and end in the log and by
    /// its own numbers: (start, first seq, end seq, first place).
    fn spans(&self) -> impl Iterator<Item = (i64, u64, u64, u64)> + '_ {
        let mut it = self.buckets.iter().peekable();
        std::iter::from_fn(move || {
            let (&start, &span) = it.next()?;
            let end = it.peek().map_or(self.head(), |(_, s)| s.seq0);
            let first = self.front.max(span.seq0);
            Some((start, first, end, span.base + (first - span.seq0)))
        })
    }

    /// The incidents live at log places `first..end`.
    fn live_at(&self, first: u64, end: u64) -> impl Iterator<Item = (IdHash, &Open)> + '_ {
        let lo = usize::try_from(first.saturating_sub(self.front)).unwrap_or(usize::MAX);
        let hi = usize::try_from(end.saturating_sub(self.front)).unwrap_or(usize::MAX);
        let (lo, hi) = (lo.min(self.log.len()), hi.min(self.log.len()));
        self.log
            .range(lo..hi.max(lo))
            .filter(|r| r.live())
            .map(|r| (r.id(), &r.open))
    }

    /// The incidents by the arrival hour of their last message, oldest
    /// first, each hour's in order (what a checkpoint file writes; their
    /// places are not kept). An hour may have none.
    pub fn by_arrival(
        &self,
    ) -> impl Iterator<Item = (i64, impl Iterator<Item = (IdHash, &Open)> + '_)> + '_ {
        self.spans()
            .map(|(start, first, end, _)| (start, self.live_at(first, end)))
    }

    /// The chunks of every bucket: (bucket, first place, end place, the
    /// tick it last changed at). A chunk's content, [`Lifecycle::chunk`],
    /// is the same while its tick is.
    pub fn chunks(&self) -> Vec<(i64, u64, u64, u64)> {
        let mut out = Vec::new();
        for (start, first_seq, end_seq, first_place) in self.spans() {
            let end = first_place + (end_seq - first_seq);
            let mut first = first_place;
            while first < end {
                let stop = ((first / PER_CHUNK + 1) * PER_CHUNK).min(end);
                let tick = self.changed.get(start, first / PER_CHUNK);
                out.push((start, first, stop, tick));
                first = stop;
            }
        }
        out
    }

    /// The incidents live in one chunk ([`Lifecycle::chunks`]).
    pub fn chunk(&self, start: i64, first: u64, end: u64) -> Vec<(IdHash, Open)> {
        let Some(span) = self.buckets.get(&start) else {
            return Vec::new();
        };
        let bucket_end = self.bucket_end(start);
        let at = |place: u64| {
            (span.seq0 + place.saturating_sub(span.base))
                .clamp(self.front.max(span.seq0), bucket_end)
        };
        self.live_at(at(first), at(end))
            .map(|(id, o)| (id, *o))
            .collect()
    }

    /// Restores checkpointed chunks, each incident at its place; the
    /// bounds apply from `wall_ms` on. [`Lifecycle::link`] then links them
    /// from dedup.
    pub fn restore(&mut self, chunks: Vec<Chunk>, wall_ms: EpochMillis) {
        if self.max == 0 {
            return;
        }
        let mut chunks = chunks;
        chunks.sort_by_key(|c| (c.bucket, c.first));
        // Where each id is, so a later bucket's entry of the same incident
        // wins.
        let mut at: HashMap<IdHash, u64> = HashMap::new();
        for c in chunks {
            let start = c.bucket.div_euclid(BUCKET_MS) * BUCKET_MS;
            if start < self.now_bucket {
                // Buckets come in order; one before the last restored is
                // a duplicate chunk's.
                continue;
            }
            let head = self.head();
            let span = match self.buckets.last_key_value() {
                Some((&k, &span)) if k == start => span,
                _ => {
                    let span = Span {
                        seq0: head,
                        base: c.first,
                    };
                    self.buckets.insert(start, span);
                    span
                }
            };
            self.now_bucket = start;
            // Places not live (renewed elsewhere, or of a chunk missing)
            // are dead places.
            let pad = |l: &mut Lifecycle, to: u64| {
                while span.base + (l.head() - span.seq0) < to {
                    l.log.push_back(Rec::DEAD);
                }
            };
            pad(self, c.first);
            for (id, open) in c.incidents {
                pad(self, u64::from(open.place));
                let seq = self.append(id, open);
                self.live += 1;
                if let Some(before) = at.insert(id, seq) {
                    self.log[(before - self.front) as usize].id[1] &= !LIVE;
                    self.live -= 1;
                }
            }
            pad(self, c.end);
            if c.tick > 0 {
                self.changed.set(start, c.first / PER_CHUNK, c.tick);
            }
        }
        let now = wall_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        if now > self.now_bucket {
            self.advance(now);
        }
        if self.live > self.max || self.log.len() > self.max_log() {
            self.evict();
        }
        // What the bounds dropped while restoring was forgotten by the
        // previous owner's configuration, not by this process.
        self.forgotten = 0;
    }

    /// Links every incident remembered from `dedup` (after both were
    /// restored); the ones dedup does not hold are orphans.
    pub fn link(&mut self, dedup: &mut Dedup) {
        let front = self.front;
        for (i, r) in self.log.iter_mut().enumerate() {
            if !r.live() {
                continue;
            }
            let seq = front + i as u64;
            match dedup.held(&r.id()) {
                Some(h) => dedup.set_link(h, link_of(seq)),
                None => {
                    r.id[1] |= ORPHAN;
                    self.orphans.insert(r.id(), seq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn id(n: u64) -> IdHash {
        IdHash::of(&format!("inc-{n}"))
    }

    fn open() -> Open {
        Open::new(0, 0, 0, 0, 0, 0, 0)
    }

    /// The lifecycle with a dedup, as the engine holds them.
    struct Pair {
        l: Lifecycle,
        d: Dedup,
    }

    impl Pair {
        fn new(remember_ms: i64, max: usize) -> Pair {
            Pair::with_dedup(remember_ms, max, 10_000 * DAY, 1_000_000)
        }

        fn with_dedup(remember_ms: i64, max: usize, horizon_ms: i64, max_ids: usize) -> Pair {
            Pair {
                l: Lifecycle::new(remember_ms, max),
                d: Dedup::new(horizon_ms, max_ids),
            }
        }

        /// A message of incident `n` at `at`: whether it was remembered.
        fn add(&mut self, n: u64, at: i64) -> bool {
            self.with(n, at, |_| ())
        }

        /// The same, doing `f` to the incident when it was remembered.
        fn with(&mut self, n: u64, at: i64, f: impl FnOnce(&mut Open)) -> bool {
            match self.l.find(&mut self.d, &id(n), at) {
                Found::Known(o) => {
                    f(o);
                    true
                }
                Found::New(held) => {
                    self.l.remember(&mut self.d, held, id(n), open());
                    false
                }
                Found::Duplicate => false,
            }
        }

        /// Both restored from their checkpoints, as a new owner does.
        fn restored(&self, remember_ms: i64, max: usize, wall_ms: i64) -> Pair {
            let buckets = self
                .d
                .placed_buckets()
                .map(|(k, b, v)| (k, b, v.to_vec()))
                .collect();
            let d = Dedup::restore(10_000 * DAY, 1_000_000, buckets, wall_ms);
            let mut p = Pair {
                l: Lifecycle::new(remember_ms, max),
                d,
            };
            p.l.restore(checkpointed(&self.l), wall_ms);
            p.l.link(&mut p.d);
            p
        }
    }

    /// Every chunk, as the state topic writes them.
    fn checkpointed(l: &Lifecycle) -> Vec<Chunk> {
        l.chunks()
            .into_iter()
            .map(|(bucket, first, end, tick)| Chunk {
                bucket,
                first,
                end,
                tick,
                incidents: l.chunk(bucket, first, end),
            })
            .collect()
    }

    #[test]
    fn one_cache_line_per_incident() {
        assert_eq!(std::mem::size_of::<Rec>(), 64);
    }

    #[test]
    fn remembers_until_the_bounds_and_counts_the_open_ones_forgotten() {
        let hour = BUCKET_MS;
        let mut p = Pair::new(2 * hour, 1000);
        assert!(!p.add(1, 0));
        assert!(!p.add(2, 0));
        assert!(p.with(2, 0, |o| o.stage = Stage::Handled));
        // Renewed an hour later: kept past the first bucket's expiry.
        assert!(p.add(1, hour));
        assert!(!p.add(3, 2 * hour));
        assert_eq!(p.l.len(), 3);
        assert!(p.add(1, 3 * hour));
        // 2 (handled) went with the first hour: not counted as forgotten.
        assert_eq!((p.l.len(), p.l.forgotten()), (2, 0));
        assert!(!p.add(9, 5 * hour));
        // 3 (open, last seen at 2 h) is forgotten; 1 (renewed at 3 h) is not.
        assert_eq!((p.l.len(), p.l.forgotten()), (2, 1));
        // Dedup still holds 3: a duplicate, no longer remembered here.
        assert!(matches!(
            p.l.find(&mut p.d, &id(3), 5 * hour),
            Found::Duplicate
        ));
        // A checkpoint restores the same incidents, linked again.
        let mut r = p.restored(2 * hour, 1000, 5 * hour);
        assert_eq!(r.l.len(), p.l.len());
        assert!(r.add(9, 5 * hour));
        assert!(r.add(1, 5 * hour));
    }

    #[test]
    fn the_cap_forgets_the_oldest_first() {
        let mut p = Pair::new(i64::MAX / 4, 1000);
        for n in 0..1100 {
            p.add(n, (n as i64) * 1000);
        }
        p.add(5000, 2_000_000);
        assert!(p.l.len() <= 1000, "{}", p.l.len());
        assert!(p.l.forgotten() >= 100);
        // Restored from its chunks (evicted places cut or skipped), the
        // same incidents.
        let mut r = p.restored(i64::MAX / 4, 1000, 2_000_000);
        assert_eq!(r.l.len(), p.l.len());
        let hours = |l: &Lifecycle| -> Vec<usize> {
            l.by_arrival()
                .map(|(_, live)| live.count())
                .filter(|n| *n > 0)
                .collect()
        };
        assert_eq!(hours(&r.l), hours(&p.l));
        assert!(!p.add(0, 2_000_000), "the oldest is gone");
        assert!(p.add(1099, 2_000_000), "the newest is kept");
        assert!(r.add(1099, 2_000_000));
    }

    /// Dedup forgets sooner than the lifecycle (a shorter horizon, a
    /// smaller cap): the incidents it forgot are still found, and linked
    /// again by their next message; a restore finds them too.
    #[test]
    fn incidents_dedup_forgot_are_found_as_orphans() {
        let hour = BUCKET_MS;
        // Dedup remembers two hours; the lifecycle ten days.
        let mut p = Pair::with_dedup(10 * DAY, 1000, 2 * hour, 1_000_000);
        assert!(!p.add(1, 0));
        assert!(!p.add(2, 0));
        assert!(!p.add(3, 5 * hour), "dedup forgot 1 and 2 here");
        assert_eq!(p.l.orphans.len(), 2);
        let restored = p.restored(10 * DAY, 1000, 5 * hour);
        assert!(p.with(1, 6 * hour, |o| o.stage = Stage::Warned));
        assert_eq!(p.l.orphans.len(), 1, "1 is linked again");
        assert!(p.with(1, 6 * hour, |o| assert_eq!(o.stage, Stage::Warned)));
        // The restored pair: dedup's restore holds none of 1 and 2 either.
        let mut r = restored;
        assert!(r.add(2, 5 * hour));
        assert!(r.add(1, 5 * hour));
        // A dedup cap smaller than the lifecycle's bound.
        let mut p = Pair::with_dedup(10 * DAY, 1000, 10 * DAY, 64);
        for n in 0..500 {
            assert!(!p.add(n, 0));
        }
        assert!(p.d.remembered() <= 64);
        assert_eq!(p.l.len(), 500);
        for n in 0..500 {
            assert!(p.add(n, hour), "{n}");
        }
        assert_eq!(p.l.forgotten(), 0);
    }

    /// A chunk changed after it was written has another name, however
    /// soon (the state topic writes a chunk again only under a new name);
    /// one unchanged keeps its name.
    #[test]
    fn a_changed_chunk_is_named_anew() {
        let mut p = Pair::new(BUCKET_MS * 1000, 100_000);
        for n in 0..(PER_CHUNK + 10) {
            p.add(n, 0);
        }
        let before = p.l.chunks();
        assert_eq!(before.len(), 2);
        p.add(99_999, 1);
        let after = p.l.chunks();
        assert_eq!(after[0], before[0], "the full chunk did not change");
        assert_ne!(after[1], before[1], "the chunk appended to did");
        // An update of an incident of the first chunk, in the same hour.
        assert!(p.with(3, 2, |o| o.stage = Stage::Warned));
        assert_ne!(p.l.chunks()[0], after[0]);
    }

    /// Memory per remembered incident: a 64-byte record in a log reserved
    /// for the bound (docs/operations.md and the README say 64 bytes; a
    /// log that doubled past the bound would hold 128).
    #[test]
    fn sixty_four_bytes_an_incident_at_the_default_bound() {
        let max = crate::config::LifecycleConfig::default().max_per_partition;
        let mut p = Pair::new(BUCKET_MS * 1000, max);
        // One past the bound: it holds until the next message applies it.
        for n in 0..=max as u64 {
            p.add(n, 0);
        }
        let per = p.l.heap_bytes() as f64 / p.l.len() as f64;
        assert!((63.0..=65.0).contains(&per), "{per} bytes an incident");
    }

    #[test]
    fn off_remembers_nothing() {
        let mut p = Pair::new(BUCKET_MS, 0);
        assert!(!p.add(1, 0));
        assert!(!p.add(1, 0));
        assert!(p.l.is_empty());
    }

    /// The log's length, dead places included, is bounded: an incident
    /// renewed every hour leaves a dead place each time.
    #[test]
    fn dead_places_are_bounded() {
        let mut p = Pair::new(10_000 * DAY, 100);
        for h in 0..70_000i64 {
            p.add(1, h * BUCKET_MS);
        }
        assert!(p.l.log.len() <= p.l.max_log(), "{}", p.l.log.len());
        assert!(p.add(1, 70_000 * BUCKET_MS));
    }

    /// The lifecycle and dedup as the engine drives them, against a plain
    /// model of the lifecycle's contract (the incidents in the order of
    /// their last message's hour, renewed at the back in a later hour; the
    /// expired hours and then the oldest beyond the bound forgotten before
    /// each message; open ones counted): the same answer for every message,
    /// whatever dedup's bounds (shorter or longer than the lifecycle's:
    /// orphans) and with restarts from checkpoints in between.
    mod against_a_model {
        use std::collections::VecDeque;

        use proptest::prelude::*;

        use super::*;

        const HOUR: i64 = BUCKET_MS;

        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Answer {
            Known,
            Duplicate,
            New,
        }

        struct Model {
            /// (incident, hour of its last message, live, handled).
            recs: VecDeque<(u64, i64, bool, bool)>,
            live: usize,
            now: i64,
            forgotten: u64,
            remember_ms: i64,
            max: usize,
            dedup: Dedup,
        }

        impl Model {
            fn pop(&mut self) {
                if let Some((_, _, live, handled)) = self.recs.pop_front()
                    && live
                {
                    self.live -= 1;
                    self.forgotten += u64::from(!handled);
                }
            }

            fn tick(&mut self, at: i64) {
                let bucket = at.div_euclid(HOUR) * HOUR;
                if bucket > self.now {
                    self.now = bucket;
                    let cutoff = bucket - self.remember_ms;
                    while self.recs.front().is_some_and(|r| r.1 + HOUR <= cutoff) {
                        self.pop();
                    }
                }
                if self.live > self.max {
                    while self.live > self.max - self.max / 64 {
                        self.pop();
                    }
                }
            }

            fn message(&mut self, n: u64, at: i64, handle: bool) -> Answer {
                self.tick(at);
                let (seen, _) = self.dedup.offer(id(n), at);
                let now = self.now;
                if let Some(i) = self.recs.iter().position(|r| r.0 == n && r.2) {
                    let handled = self.recs[i].3 || handle;
                    if self.recs[i].1 == now {
                        self.recs[i].3 = handled;
                    } else {
                        self.recs[i].2 = false;
                        self.recs.push_back((n, now, true, handled));
                    }
                    return Answer::Known;
                }
                match seen {
                    Seen::Duplicate => Answer::Duplicate,
                    Seen::New => {
                        self.recs.push_back((n, now, true, false));
                        self.live += 1;
                        Answer::New
                    }
                }
            }
        }

        fn answer(p: &mut Pair, n: u64, at: i64, handle: bool) -> Answer {
            match p.l.find(&mut p.d, &id(n), at) {
                Found::Known(o) => {
                    if handle {
                        o.stage = Stage::Handled;
                    }
                    Answer::Known
                }
                Found::New(held) => {
                    p.l.remember(&mut p.d, held, id(n), open());
                    Answer::New
                }
                Found::Duplicate => Answer::Duplicate,
            }
        }

        /// Both sides restored from their checkpoints at `wall`.
        fn restart(p: &Pair, m: &mut Model, horizon_ms: i64, max_ids: usize, wall: i64) -> Pair {
            let buckets = |d: &Dedup| -> Vec<(i64, u64, Vec<IdHash>)> {
                d.placed_buckets()
                    .map(|(k, b, v)| (k, b, v.to_vec()))
                    .collect()
            };
            let mut r = Pair {
                l: Lifecycle::new(p.l.remember_ms, p.l.max),
                d: Dedup::restore(horizon_ms, max_ids, buckets(&p.d), wall),
            };
            r.l.restore(checkpointed(&p.l), wall);
            r.l.link(&mut r.d);
            m.dedup = Dedup::restore(horizon_ms, max_ids, buckets(&m.dedup), wall);
            m.tick(wall);
            m.forgotten = 0;
            r
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            #[test]
            fn answers_as_the_model(
                remember_h in 1i64..6,
                max in 3usize..24,
                horizon_h in 1i64..8,
                max_ids in 2usize..40,
                steps in prop::collection::vec(
                    (0u64..40, prop::sample::select(vec![0i64, 60_000, HOUR / 2, HOUR, 3 * HOUR]), 0u8..10),
                    1..400,
                ),
            ) {
                let (remember_ms, horizon_ms) = (remember_h * HOUR, horizon_h * HOUR);
                let mut p = Pair::with_dedup(remember_ms, max, horizon_ms, max_ids);
                let mut m = Model {
                    recs: VecDeque::new(),
                    live: 0,
                    now: i64::MIN,
                    forgotten: 0,
                    remember_ms,
                    max,
                    dedup: Dedup::new(horizon_ms, max_ids),
                };
                let mut at = 0;
                for (i, (n, dt, roll)) in steps.into_iter().enumerate() {
                    at += dt;
                    if roll == 0 {
                        p = restart(&p, &mut m, horizon_ms, max_ids, at);
                    }
                    let handle = roll >= 8;
                    let want = m.message(n, at, handle);
                    prop_assert_eq!(answer(&mut p, n, at, handle), want, "step {} incident {}", i, n);
                    prop_assert_eq!(p.l.len(), m.live, "step {}", i);
                    prop_assert_eq!(p.l.forgotten(), m.forgotten, "step {}", i);
                }
            }
        }
    }
}
