//! Distinct-incident memory (spec §4): has this incident id been seen?
//!
//! Ids are kept as 112-bit XXH3 hashes (16 bytes instead of up to 256) in
//! the arrival buckets and the checkpoints, and by 80 of those bits in the
//! lookup table, whose slot also carries the stamp below and the
//! lifecycle's link ([`table`]): a new id is taken for one of the `n` held
//! with probability n/2⁸⁰, 1.7·10⁻¹⁸ at the cap of 2,000,000; over 10¹²
//! messages, 2·10⁻⁶. XXH3 is a specified, stable hash, so checkpoints
//! written by one build are read correctly by another.
//!
//! Memory is bounded by *arrival*, never by event time, so an incident is
//! counted however old it is when it arrives (a backfill of last year's
//! archive is counted in last year's months):
//!
//! * an id is remembered for the horizon after it was **last seen** (a
//!   re-delivery renews it), an hour at a time: ids are kept in buckets of
//!   the arrival hour, and each id's slot carries the stamp of the last
//!   hour it was seen in, so an id seen again is forgotten with its newest
//!   bucket, not its first;
//! * never more than `max_ids` are kept: past the cap the ids seen longest
//!   ago are *evicted* (down to 63/64 of the cap, so eviction is amortised),
//!   and counted ([`Dedup::evicted`]). An evicted id that is delivered again
//!   counts as a new incident: that is the price of bounded memory, and the
//!   metric says when it is being paid.
//!
//! Each id costs 40 to 60 bytes: a 16-byte slot of the id table (kept
//! between 3/8 and 3/4 full) and 16 bytes in its arrival bucket.

use std::collections::BTreeMap;

use crate::event::EpochMillis;

#[allow(unsafe_code)]
pub(crate) mod prefetch;
pub(crate) mod table;

pub use table::Held;
use table::IdTable;

/// Width of a forgetting bucket: ids are forgotten an hour at a time.
pub const BUCKET_MS: i64 = 3_600_000;

/// An incident id, hashed. The top 16 bits of the second word are always
/// zero (the table keeps its stamps there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdHash(pub [u64; 2]);

/// The bits of an [`IdHash`]'s second word that carry the hash.
pub const ID_HIGH_MASK: u64 = (1 << 48) - 1;

impl IdHash {
    pub fn of(id: &str) -> IdHash {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        // Truncating casts split the 128 bits into two halves.
        IdHash([h as u64, (h >> 64) as u64 & ID_HIGH_MASK])
    }

    /// An id read back from a checkpoint, with the stamp bits cleared (a
    /// version-1 checkpoint stored all 128 bits).
    pub fn from_words(a: u64, b: u64) -> IdHash {
        IdHash([a, b & ID_HIGH_MASK])
    }
}

/// Outcome of offering an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First message of this incident: count it.
    New,
    /// Already counted.
    Duplicate,
}

/// The stamp of an arrival bucket (its hour index, modulo 2¹⁶: hours repeat
/// after 7.4 years, longer than the largest horizon allowed).
#[inline(always)]
fn stamp(bucket_ms: i64) -> u16 {
    // Truncation to the low 16 bits is the point.
    bucket_ms.div_euclid(BUCKET_MS) as u16
}

/// Remembered ids of one partition.
#[derive(Debug, Clone)]
pub struct Dedup {
    ids: IdTable,
    /// Arrival bucket start (ms) → ids seen in it. An id seen again in a
    /// later hour is in that bucket too; only its newest entry is live.
    buckets: BTreeMap<i64, Vec<IdHash>>,
    /// Entries evicted from the front of a bucket that is still kept, by
    /// bucket: with it every entry has a fixed place in its bucket
    /// (`base + index`), which a checkpoint that writes only what changed
    /// relies on. Absent for a bucket never cut.
    bases: BTreeMap<i64, u64>,
    horizon_ms: i64,
    max_ids: usize,
    /// The current arrival bucket: the arrival clock never runs back.
    now_bucket: i64,
    /// Ids evicted by the cap, by this process.
    evicted: u64,
    /// Ids forgotten (by the horizon or the cap) that carried a link, with
    /// it, until [`Dedup::take_unlinked`] hands them on.
    unlinked: Vec<(IdHash, u32)>,
}

impl Dedup {
    pub fn new(horizon_ms: i64, max_ids: usize) -> Dedup {
        Dedup {
            // Start with room for a busy hour so the table does not grow
            // through every small size (131,072 slots: 2 MB per partition).
            ids: IdTable::with_capacity(max_ids.min(1 << 16)),
            buckets: BTreeMap::new(),
            bases: BTreeMap::new(),
            horizon_ms,
            max_ids: max_ids.max(1),
            now_bucket: i64::MIN,
            evicted: 0,
            unlinked: Vec::new(),
        }
    }

    /// Checks an id arriving at `arrival_ms` (wall clock) and remembers it;
    /// also says where it is held (for its link: a new id has none), valid
    /// until the next offer.
    #[inline]
    pub fn offer(&mut self, id: IdHash, arrival_ms: EpochMillis) -> (Seen, Held) {
        let bucket = arrival_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        if bucket > self.now_bucket {
            self.advance(bucket);
        }
        let now = stamp(self.now_bucket);
        match self.ids.upsert(id, now) {
            (None, held) => {
                self.push(id);
                if self.ids.len() > self.max_ids {
                    self.evict();
                    // The newest id stays; its slot may have moved.
                    if let Some(moved) = self.ids.held(&id) {
                        return (Seen::New, moved);
                    }
                }
                (Seen::New, held)
            }
            (Some(old), held) => {
                if old != now {
                    self.push(id);
                }
                (Seen::Duplicate, held)
            }
        }
    }

    /// The link of a held id (0: none set).
    #[inline]
    pub fn link(&self, held: Held) -> u32 {
        self.ids.link(held)
    }

    /// Sets the link of a held id (from [`Dedup::offer`] or
    /// [`Dedup::held`], with no offer since).
    #[inline]
    pub fn set_link(&mut self, held: Held, link: u32) {
        self.ids.set_link(held, link);
    }

    /// Where `id` is held, if it is.
    pub fn held(&self, id: &IdHash) -> Option<Held> {
        self.ids.held(id)
    }

    /// The ids forgotten since the last call that carried a link, with it.
    #[inline]
    pub fn take_unlinked(&mut self) -> Option<Vec<(IdHash, u32)>> {
        (!self.unlinked.is_empty()).then(|| std::mem::take(&mut self.unlinked))
    }
}

/// Forgets `id` if it is held with the stamp `s`, keeping a link it
/// carried for [`Dedup::take_unlinked`].
fn forget(ids: &mut IdTable, unlinked: &mut Vec<(IdHash, u32)>, id: &IdHash, s: u16) -> bool {
    match ids.remove_stamped(id, s) {
        Some(0) => true,
        Some(link) => {
            unlinked.push((*id, link));
            true
        }
        None => false,
    }
}

impl Dedup {
    #[inline]
    fn push(&mut self, id: IdHash) {
        // Almost every id lands in the newest bucket: skip the tree search.
        match self.buckets.last_entry() {
            Some(mut last) if *last.key() == self.now_bucket => last.get_mut().push(id),
            _ => self.buckets.entry(self.now_bucket).or_default().push(id),
        }
    }

    /// Moves the arrival clock to `bucket` and forgets every id last seen
    /// more than the horizon before it.
    fn advance(&mut self, bucket: i64) {
        // The hour that ends keeps no spare capacity (a busy hour's vector
        // may have doubled past its length): 16 bytes per entry.
        if let Some(ended) = self.buckets.get_mut(&self.now_bucket) {
            ended.shrink_to_fit();
        }
        self.now_bucket = bucket;
        let cutoff = bucket.saturating_sub(self.horizon_ms);
        while let Some(entry) = self.buckets.first_entry() {
            if entry.key().saturating_add(BUCKET_MS) > cutoff {
                break;
            }
            let start = *entry.key();
            let s = stamp(start);
            for id in entry.remove() {
                forget(&mut self.ids, &mut self.unlinked, &id, s);
            }
            self.bases.remove(&start);
        }
    }

    /// Evicts the ids seen longest ago until 63/64 of the cap is held.
    #[cold]
    fn evict(&mut self) {
        let target = self.max_ids - self.max_ids / 64;
        while self.ids.len() > target {
            let Some(mut entry) = self.buckets.first_entry() else {
                break;
            };
            let start = *entry.key();
            let s = stamp(start);
            let ids = entry.get_mut();
            let mut taken = 0;
            for id in ids.iter() {
                if self.ids.len() <= target {
                    break;
                }
                taken += 1;
                if forget(&mut self.ids, &mut self.unlinked, id, s) {
                    self.evicted += 1;
                }
            }
            if taken == ids.len() {
                entry.remove();
                self.bases.remove(&start);
            } else {
                ids.drain(..taken);
                *self.bases.entry(start).or_default() += taken as u64;
            }
        }
    }

    /// Ids remembered now.
    pub fn remembered(&self) -> usize {
        self.ids.len()
    }

    /// Heap bytes held: the id table and the arrival buckets (the tree's
    /// own nodes, a few per day of buckets, are left out).
    pub fn heap_bytes(&self) -> usize {
        self.ids.heap_bytes()
            + self
                .buckets
                .values()
                .map(|v| v.capacity() * std::mem::size_of::<IdHash>())
                .sum::<usize>()
    }

    /// Ids forgotten because of the cap (not the horizon) since this state
    /// was created or restored.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Starts loading where [`Dedup::offer`] will look for `id` (a batch
    /// commit calls this a few messages ahead, so the lookup does not wait
    /// for memory).
    #[inline(always)]
    pub fn prefetch(&self, id: &IdHash) {
        self.ids.prefetch(id);
    }

    /// Arrival buckets with their ids, oldest first (for checkpoints). An
    /// id may be listed in more than one bucket; the newest one counts.
    pub fn buckets(&self) -> impl Iterator<Item = (i64, &[IdHash])> {
        self.buckets.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// Arrival buckets as [`Dedup::buckets`], each with the place of its
    /// first entry (entries evicted from its front before it): an entry's
    /// place never changes while its bucket is kept.
    pub fn placed_buckets(&self) -> impl Iterator<Item = (i64, u64, &[IdHash])> {
        self.buckets.iter().map(|(k, v)| {
            let base = self.bases.get(k).copied().unwrap_or(0);
            (*k, base, v.as_slice())
        })
    }

    /// Entries in the arrival buckets (ids, and ids seen again in a later
    /// hour), for sizing a checkpoint.
    pub fn entries(&self) -> usize {
        self.buckets.values().map(Vec::len).sum()
    }

    /// Rebuilds from checkpointed arrival buckets (start, place of the
    /// first entry, ids), then applies the horizon and the cap as of
    /// `now_ms` (a smaller configured horizon or cap applies at once).
    pub fn restore(
        horizon_ms: i64,
        max_ids: usize,
        buckets: Vec<(i64, u64, Vec<IdHash>)>,
        now_ms: EpochMillis,
    ) -> Dedup {
        let mut d = Dedup::new(horizon_ms, max_ids);
        let mut buckets = buckets;
        buckets.sort_by_key(|(start, _, _)| *start);
        let n: usize = buckets.iter().map(|(_, _, v)| v.len()).sum();
        d.ids.reserve(n.min(d.max_ids));
        for (start, base, ids) in buckets {
            let start = start.div_euclid(BUCKET_MS) * BUCKET_MS;
            let s = stamp(start);
            for id in &ids {
                let _ = d.ids.upsert(*id, s);
            }
            let bucket = d.buckets.entry(start).or_default();
            if bucket.is_empty() && base > 0 {
                d.bases.insert(start, base);
            }
            bucket.extend(ids);
            d.now_bucket = d.now_bucket.max(start);
        }
        d.advance(d.now_bucket.max(now_ms.div_euclid(BUCKET_MS) * BUCKET_MS));
        if d.ids.len() > d.max_ids {
            d.evict();
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = BUCKET_MS;
    const DAY: i64 = 86_400_000;

    #[test]
    fn duplicates_are_found_whatever_their_event_time() {
        let mut d = Dedup::new(400 * DAY, 1_000_000);
        let a = IdHash::of("a");
        assert_eq!(d.offer(a, 0).0, Seen::New);
        assert_eq!(d.offer(IdHash::of("b"), 0).0, Seen::New);
        assert_eq!(d.offer(a, HOUR).0, Seen::Duplicate);
        assert_eq!(d.remembered(), 2);
    }

    #[test]
    fn ids_are_forgotten_a_horizon_after_they_were_last_seen() {
        let mut d = Dedup::new(2 * DAY, 1_000_000);
        let (a, b) = (IdHash::of("a"), IdHash::of("b"));
        assert_eq!(d.offer(a, 0).0, Seen::New);
        assert_eq!(d.offer(b, 0).0, Seen::New);
        // `a` is seen again a day later: renewed; `b` is not.
        assert_eq!(d.offer(a, DAY).0, Seen::Duplicate);
        assert_eq!(d.offer(IdHash::of("tick"), 2 * DAY + HOUR).0, Seen::New);
        assert_eq!(d.offer(b, 2 * DAY + HOUR).0, Seen::New, "b was forgotten");
        assert_eq!(
            d.offer(a, 2 * DAY + HOUR).0,
            Seen::Duplicate,
            "a was renewed"
        );
        assert_eq!(
            d.offer(IdHash::of("tick2"), 3 * DAY + 2 * HOUR).0,
            Seen::New
        );
        assert_eq!(
            d.offer(a, 3 * DAY + 2 * HOUR).0,
            Seen::Duplicate,
            "renewed again"
        );
        assert_eq!(d.evicted(), 0);
    }

    #[test]
    fn the_arrival_clock_never_runs_back() {
        let mut d = Dedup::new(DAY, 1_000_000);
        let a = IdHash::of("a");
        assert_eq!(d.offer(a, 10 * DAY).0, Seen::New);
        // A wall clock stepped back a week forgets nothing and breaks nothing.
        assert_eq!(d.offer(a, 3 * DAY).0, Seen::Duplicate);
        assert_eq!(d.offer(IdHash::of("b"), 3 * DAY).0, Seen::New);
        assert_eq!(d.offer(IdHash::of("b"), 10 * DAY + HOUR).0, Seen::Duplicate);
    }

    #[test]
    fn the_cap_evicts_the_ids_seen_longest_ago_and_counts_them() {
        let mut d = Dedup::new(1000 * DAY, 1000);
        for i in 0..5000i64 {
            assert_eq!(d.offer(IdHash::of(&i.to_string()), i * 60_000).0, Seen::New);
            assert!(d.remembered() <= 1000);
        }
        assert!(d.remembered() >= 1000 - 1000 / 64);
        assert_eq!(d.evicted(), 5000 - d.remembered() as u64);
        assert_eq!(
            d.offer(IdHash::of("4999"), 5000 * 60_000).0,
            Seen::Duplicate
        );
        // Evicted: counts again (the documented price of the cap).
        assert_eq!(d.offer(IdHash::of("0"), 5000 * 60_000).0, Seen::New);
        // All in one hour: the earliest arrivals within it go first.
        let mut d = Dedup::new(1000 * DAY, 100);
        for i in 0..300i64 {
            d.offer(IdHash::of(&i.to_string()), 0);
        }
        assert_eq!(d.offer(IdHash::of("299"), 0).0, Seen::Duplicate);
        assert_eq!(d.offer(IdHash::of("0"), 0).0, Seen::New);
    }

    #[test]
    fn restore_gives_the_same_answers() {
        let mut d = Dedup::new(3 * DAY, 1_000_000);
        for i in 0..100i64 {
            d.offer(IdHash::of(&(i % 70).to_string()), i * HOUR);
        }
        let parts = d
            .placed_buckets()
            .map(|(k, b, v)| (k, b, v.to_vec()))
            .collect();
        let mut r = Dedup::restore(3 * DAY, 1_000_000, parts, 99 * HOUR);
        assert_eq!(r.remembered(), d.remembered());
        for i in 0..200i64 {
            let (id, t) = (IdHash::of(&(i % 130).to_string()), (99 + i) * HOUR);
            assert_eq!(r.offer(id, t).0, d.offer(id, t).0, "{i}");
        }
    }

    /// The figure the docs state: 40 to 60 bytes per remembered id,
    /// re-deliveries in later hours included.
    #[test]
    fn memory_per_id_is_as_stated() {
        let mut d = Dedup::new(400 * DAY, 2_000_000);
        for i in 0..1_000_000u64 {
            let t = (i / 10_000) as i64 * HOUR;
            d.offer(IdHash::of(&i.to_string()), t);
            // One in twenty is delivered again an hour or more later.
            if i % 20 == 0 && i >= 20_000 {
                d.offer(IdHash::of(&(i - 20_000).to_string()), t);
            }
        }
        let per_id = d.heap_bytes() as f64 / d.remembered() as f64;
        eprintln!("{} ids: {:.1} bytes per id", d.remembered(), per_id);
        assert!((32.0..=64.0).contains(&per_id), "{per_id}");
    }

    #[test]
    fn restore_applies_the_horizon_at_the_restore_time() {
        let mut d = Dedup::new(30 * DAY, 1_000_000);
        d.offer(IdHash::of("old"), 0);
        let parts = d
            .placed_buckets()
            .map(|(k, b, v)| (k, b, v.to_vec()))
            .collect();
        let r = Dedup::restore(30 * DAY, 1_000_000, parts, 31 * DAY);
        assert_eq!(r.remembered(), 0);
    }
}
