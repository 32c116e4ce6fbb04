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
//! The incidents are found by their [`IdHash`] in [`Slots`], a table
//! whose lines can be prefetched ahead of the messages that look them up.

use std::collections::{BTreeMap, HashMap};

use super::Stage;
use super::slots::Slots;
use crate::dedup::{BUCKET_MS, IdHash};
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

/// One arrival hour's incidents: ids by place (`base + index`). The
/// first `skip` were evicted: they are cut off the vector only once they
/// are half of it, so eviction never moves the rest at every step.
#[derive(Debug, Clone, Default)]
struct Bucket {
    base: u64,
    skip: usize,
    ids: Vec<IdHash>,
}

impl Bucket {
    /// The place of the first id kept.
    fn start(&self) -> u64 {
        self.base + self.skip as u64
    }

    /// The place after the last id.
    fn end(&self) -> u64 {
        self.base + self.ids.len() as u64
    }

    fn kept(&self) -> &[IdHash] {
        self.ids.get(self.skip..).unwrap_or_default()
    }
}

/// The remembered incidents of one partition.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    map: Slots,
    /// Arrival hour → ids whose message arrived in it; an id seen again in
    /// a later hour is in that one too, and only the entry its incident
    /// names ([`Open::place`]) is live.
    buckets: BTreeMap<i64, Bucket>,
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

/// What [`Lifecycle::lookup`] found.
pub enum Lookup<'a> {
    /// An incident remembered (its last arrival renewed).
    Known(&'a mut Open),
    /// Not remembered: [`Vacancy::fill`] remembers it.
    Vacant(Vacancy<'a>),
    /// The lifecycle is off (`max_per_partition = 0`).
    Off,
}

/// Where a new incident goes.
pub struct Vacancy<'a> {
    map: &'a mut Slots,
    slot: usize,
    id: IdHash,
    buckets: &'a mut BTreeMap<i64, Bucket>,
    changed: &'a mut Changed,
    now_bucket: i64,
}

impl Vacancy<'_> {
    /// Remembers the incident (the bound is enforced at the next lookup).
    pub fn fill(self, mut open: Open) {
        let place = push(self.buckets, self.now_bucket, self.id);
        open.hour = hour(self.now_bucket);
        open.place = u32::try_from(place).unwrap_or(u32::MAX);
        self.map.fill(self.slot, &self.id, open);
        self.changed.mark(self.now_bucket, place);
    }
}

/// Appends an id to a bucket; returns its place.
fn push(buckets: &mut BTreeMap<i64, Bucket>, bucket: i64, k: IdHash) -> u64 {
    // Almost every id lands in the newest bucket: skip the tree search.
    let b = match buckets.last_entry() {
        Some(last) if *last.key() == bucket => last.into_mut(),
        _ => buckets.entry(bucket).or_default(),
    };
    b.ids.push(k);
    b.base + b.ids.len() as u64 - 1
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
            // Room for a busy hour before the first growth (4 MB).
            map: Slots::with_capacity(max.min(1 << 16)),
            buckets: BTreeMap::new(),
            changed: Changed::default(),
            remember_ms,
            max,
            now_bucket: i64::MIN,
            forgotten: 0,
        }
    }

    /// Finds an incident by id at `arrival_ms`, renewing it when found.
    #[inline]
    pub fn lookup(&mut self, id: &IdHash, arrival_ms: EpochMillis) -> Lookup<'_> {
        if self.max == 0 {
            return Lookup::Off;
        }
        let bucket = arrival_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        if bucket > self.now_bucket {
            self.advance(bucket);
        }
        if self.map.len() > self.max {
            self.evict();
        }
        let now = self.now_bucket;
        match self.map.locate(id) {
            Ok(i) => {
                let open = self.map.at_mut(i);
                // Its chunk changes whatever the caller does with it: a
                // stage, a category, or its place (renewed).
                let from = i64::from(open.hour) * BUCKET_MS;
                self.changed.mark(from, u64::from(open.place));
                if open.hour != hour(now) {
                    let place = push(&mut self.buckets, now, *id);
                    open.hour = hour(now);
                    open.place = u32::try_from(place).unwrap_or(u32::MAX);
                    self.changed.mark(now, place);
                }
                Lookup::Known(open)
            }
            Err(slot) => Lookup::Vacant(Vacancy {
                map: &mut self.map,
                slot,
                id: *id,
                buckets: &mut self.buckets,
                changed: &mut self.changed,
                now_bucket: now,
            }),
        }
    }

    /// Drops the incidents live at places `first..` of a bucket, counting
    /// the ones not handled.
    fn drop_live(&mut self, start: i64, first: u64, ids: &[IdHash]) {
        let h = hour(start);
        for (i, k) in ids.iter().enumerate() {
            if let Some(k) = ids.get(i + 8) {
                self.map.prefetch(k);
            }
            let place = first + i as u64;
            let live = |o: &Open| o.hour == h && u64::from(o.place) == place;
            if let Some(o) = self.map.remove_if(k, live)
                && o.stage < Stage::Handled
            {
                self.forgotten += 1;
            }
        }
    }

    /// Forgets a whole bucket.
    fn drop_bucket(&mut self, start: i64, b: Bucket) {
        self.drop_live(start, b.start(), b.kept());
        let chunks = (b.start() / PER_CHUNK)..=(b.end() / PER_CHUNK);
        for c in chunks {
            self.changed.forget(start, c);
        }
    }

    fn advance(&mut self, bucket: i64) {
        if let Some(ended) = self.buckets.get_mut(&self.now_bucket) {
            ended.ids.shrink_to_fit();
        }
        self.now_bucket = bucket;
        let cutoff = bucket.saturating_sub(self.remember_ms);
        while let Some(entry) = self.buckets.first_entry() {
            if entry.key().saturating_add(BUCKET_MS) > cutoff {
                break;
            }
            let start = *entry.key();
            let b = entry.remove();
            self.drop_bucket(start, b);
        }
    }

    /// Forgets the incidents last seen longest ago until 63/64 of the
    /// bound is held.
    #[cold]
    fn evict(&mut self) {
        let target = self.max - self.max / 64;
        while self.map.len() > target {
            let Some(mut entry) = self.buckets.first_entry() else {
                break;
            };
            let start = *entry.key();
            let b = entry.get_mut();
            let take = b.kept().len().min(self.map.len() - target);
            if take == b.kept().len() {
                let b = entry.remove();
                self.drop_bucket(start, b);
                continue;
            }
            let first = b.start();
            let gone: Vec<IdHash> = b.kept()[..take].to_vec();
            b.skip += take;
            if b.skip * 2 > b.ids.len() {
                let skip = b.skip;
                b.ids.drain(..skip);
                b.base += skip as u64;
                b.skip = 0;
            }
            let kept_from = b.start();
            self.drop_live(start, first, &gone);
            for c in (first / PER_CHUNK)..(kept_from / PER_CHUNK) {
                self.changed.forget(start, c);
            }
            self.changed.mark(start, kept_from);
        }
    }

    /// Incidents remembered now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Starts loading where [`Lifecycle::lookup`] will look for `id`.
    #[inline(always)]
    pub fn prefetch(&self, id: &IdHash) {
        if self.max > 0 {
            self.map.prefetch(id);
        }
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
        for o in self.map.values() {
            if (from_ms..to_ms).contains(&o.detected_ms) {
                all += 1;
                if o.stage < Stage::Handled {
                    open += 1;
                }
            }
        }
        (open, all)
    }

    /// Heap bytes held (the map's slots and the arrival buckets).
    pub fn heap_bytes(&self) -> usize {
        self.map.heap_bytes()
            + self
                .buckets
                .values()
                .map(|b| b.ids.capacity() * std::mem::size_of::<IdHash>())
                .sum::<usize>()
    }

    /// The incidents live at places `first..end` of the bucket `start`.
    fn live(&self, start: i64, b: &Bucket, first: u64, end: u64) -> Vec<(IdHash, Open)> {
        let h = hour(start);
        let from = first.max(b.start());
        let lo = usize::try_from(from - b.base).unwrap_or(usize::MAX);
        let hi = usize::try_from(end.saturating_sub(b.base)).unwrap_or(usize::MAX);
        b.ids
            .get(lo.min(b.ids.len())..hi.min(b.ids.len()).max(lo.min(b.ids.len())))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                self.map
                    .get(k)
                    .filter(|o| o.hour == h && u64::from(o.place) == from + i as u64)
                    .map(|o| (*k, *o))
            })
            .collect()
    }

    /// The incidents by the arrival hour of their last message, oldest
    /// first (what a checkpoint file writes; their places are not kept).
    pub fn by_arrival(&self) -> Vec<(i64, Vec<(IdHash, Open)>)> {
        self.buckets
            .iter()
            .map(|(&start, b)| (start, self.live(start, b, b.start(), u64::MAX)))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// The chunks of every bucket: (bucket, first place, end place, the
    /// tick it last changed at). A chunk's content, [`Lifecycle::chunk`],
    /// is the same while its tick is.
    pub fn chunks(&self) -> Vec<(i64, u64, u64, u64)> {
        let mut out = Vec::new();
        for (&start, b) in &self.buckets {
            let end = b.end();
            let mut first = b.start();
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
        self.buckets
            .get(&start)
            .map(|b| self.live(start, b, first, end))
            .unwrap_or_default()
    }

    /// Restores checkpointed chunks, each incident at its place; the
    /// bounds apply from `wall_ms` on.
    pub fn restore(&mut self, chunks: Vec<Chunk>, wall_ms: EpochMillis) {
        if self.max == 0 {
            return;
        }
        let mut chunks = chunks;
        chunks.sort_by_key(|c| (c.bucket, c.first));
        for c in chunks {
            let start = c.bucket.div_euclid(BUCKET_MS) * BUCKET_MS;
            let b = self.buckets.entry(start).or_default();
            if b.ids.is_empty() {
                b.base = c.first;
            }
            // Places not live (renewed elsewhere, or of another chunk
            // missing) hold the zero key, which no live incident names
            // at that place.
            let pad = |b: &mut Bucket, to: u64| {
                while b.base + (b.ids.len() as u64) < to {
                    b.ids.push(IdHash([0, 0]));
                }
            };
            pad(b, c.first);
            for (id, mut open) in c.incidents {
                pad(b, u64::from(open.place));
                b.ids.push(id);
                open.hour = hour(start);
                open.place = u32::try_from(b.base + b.ids.len() as u64 - 1).unwrap_or(u32::MAX);
                // A later bucket's entry of the same incident wins.
                self.map.insert(&id, open);
            }
            pad(b, c.end);
            if c.tick > 0 {
                self.changed.set(start, c.first / PER_CHUNK, c.tick);
            }
            self.now_bucket = self.now_bucket.max(start);
        }
        let now = wall_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        if now > self.now_bucket {
            self.advance(now);
        }
        if self.map.len() > self.max {
            self.evict();
        }
        // What the bounds dropped while restoring was forgotten by the
        // previous owner's configuration, not by this process.
        self.forgotten = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> IdHash {
        IdHash::of(&format!("inc-{n}"))
    }

    fn open() -> Open {
        Open::new(0, 0, 0, 0, 0, 0, 0)
    }

    fn add(l: &mut Lifecycle, n: u64, at: i64) -> bool {
        match l.lookup(&id(n), at) {
            Lookup::Known(_) => true,
            Lookup::Vacant(v) => {
                v.fill(open());
                false
            }
            Lookup::Off => false,
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
    fn remembers_until_the_bounds_and_counts_the_open_ones_forgotten() {
        let hour = BUCKET_MS;
        let mut l = Lifecycle::new(2 * hour, 1000);
        assert!(!add(&mut l, 1, 0));
        assert!(!add(&mut l, 2, 0));
        if let Lookup::Known(o) = l.lookup(&id(2), 0) {
            o.stage = Stage::Handled;
        }
        // Renewed an hour later: kept past the first bucket's expiry.
        assert!(add(&mut l, 1, hour));
        assert!(!add(&mut l, 3, 2 * hour));
        assert_eq!(l.len(), 3);
        assert!(add(&mut l, 1, 3 * hour));
        // 2 (handled) went with the first hour: not counted as forgotten.
        assert_eq!((l.len(), l.forgotten()), (2, 0));
        assert!(!add(&mut l, 9, 5 * hour));
        // 3 (open, last seen at 2 h) is forgotten; 1 (renewed at 3 h) is not.
        assert_eq!((l.len(), l.forgotten()), (2, 1));
        // A checkpoint restores the same incidents.
        let mut r = Lifecycle::new(2 * hour, 1000);
        r.restore(checkpointed(&l), 5 * hour);
        assert_eq!(r.len(), l.len());
        assert!(matches!(r.lookup(&id(9), 5 * hour), Lookup::Known(_)));
    }

    #[test]
    fn the_cap_forgets_the_oldest_first() {
        let mut l = Lifecycle::new(i64::MAX / 4, 1000);
        for n in 0..1100 {
            add(&mut l, n, (n as i64) * 1000);
        }
        add(&mut l, 5000, 2_000_000);
        assert!(l.len() <= 1000, "{}", l.len());
        assert!(l.forgotten() >= 100);
        // Restored from its chunks (evicted places cut or skipped), the
        // same incidents.
        let mut r = Lifecycle::new(i64::MAX / 4, 1000);
        r.restore(checkpointed(&l), 2_000_000);
        assert_eq!(r.len(), l.len());
        assert_eq!(r.by_arrival().len(), l.by_arrival().len());
        assert!(!add(&mut l, 0, 2_000_000), "the oldest is gone");
        assert!(add(&mut l, 1099, 2_000_000), "the newest is kept");
        assert!(add(&mut r, 1099, 2_000_000));
    }

    /// A chunk changed after it was written has another name, however
    /// soon (the state topic writes a chunk again only under a new name);
    /// one unchanged keeps its name.
    #[test]
    fn a_changed_chunk_is_named_anew() {
        let mut l = Lifecycle::new(BUCKET_MS * 1000, 100_000);
        for n in 0..(PER_CHUNK + 10) {
            add(&mut l, n, 0);
        }
        let before = l.chunks();
        assert_eq!(before.len(), 2);
        add(&mut l, 99_999, 1);
        let after = l.chunks();
        assert_eq!(after[0], before[0], "the full chunk did not change");
        assert_ne!(after[1], before[1], "the chunk appended to did");
        // An update of an incident of the first chunk, in the same hour.
        if let Lookup::Known(o) = l.lookup(&id(3), 2) {
            o.stage = Stage::Warned;
        }
        assert_ne!(l.chunks()[0], after[0]);
    }

    /// Memory per remembered incident at the default bound, full: a
    /// 64-byte slot in a table at most 3/4 full, and 16 bytes in its
    /// arrival bucket (docs/operations.md says "about 115 bytes").
    #[test]
    fn about_115_bytes_an_incident_at_the_default_bound() {
        let max = crate::config::LifecycleConfig::default().max_per_partition;
        let mut l = Lifecycle::new(BUCKET_MS * 1000, max);
        for n in 0..max as u64 {
            add(&mut l, n, 0);
        }
        let per = l.heap_bytes() as f64 / l.len() as f64;
        assert!((100.0..=125.0).contains(&per), "{per} bytes an incident");
    }

    #[test]
    fn off_remembers_nothing() {
        let mut l = Lifecycle::new(BUCKET_MS, 0);
        assert!(matches!(l.lookup(&id(1), 0), Lookup::Off));
        assert!(l.is_empty());
    }
}
