//! Distinct-incident memory (spec §4): has this incident id been seen?
//!
//! Ids are stored as 128-bit XXH3 hashes (16 bytes instead of up to 256), so
//! two different ids are taken for the same incident with probability about
//! n²/2¹²⁹: for a billion ids, 10⁻²¹. XXH3 is a specified, stable hash, so
//! checkpoints written by one build are read correctly by another.
//!
//! Memory is bounded twice: ids are forgotten once their event time falls
//! more than the horizon behind the newest event time, and never more than
//! `max_ids` are kept (40 to 60 bytes each: 16 in the time bucket, and a
//! 16-byte slot of the id table, which is kept between 3/8 and 3/4 full).
//! Forgetting raises a *floor*: a first message whose event time is below
//! the floor cannot be checked any more, so it is `Late` (counted as such,
//! never counted as an incident twice).

use std::collections::BTreeMap;

use crate::event::EpochMillis;

mod table;

use table::IdTable;

/// Width of a forgetting bucket: ids are forgotten an hour at a time.
pub const BUCKET_MS: i64 = 3_600_000;

/// An incident id, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdHash(pub [u64; 2]);

impl IdHash {
    pub fn of(id: &str) -> IdHash {
        let h = xxhash_rust::xxh3::xxh3_128(id.as_bytes());
        // Truncating casts split the 128 bits into two halves.
        IdHash([h as u64, (h >> 64) as u64])
    }
}

/// Outcome of offering an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First message of this incident: count it.
    New,
    /// Already counted.
    Duplicate,
    /// Older than what is remembered: cannot be checked, not counted.
    Late,
}

/// Remembered ids of one partition.
#[derive(Debug, Clone)]
pub struct Dedup {
    ids: IdTable,
    /// Bucket start (event time, ms) → ids first seen with an event time in it.
    buckets: BTreeMap<i64, Vec<IdHash>>,
    horizon_ms: i64,
    max_ids: usize,
    /// Event times below this are no longer covered.
    floor_ms: EpochMillis,
    newest_ms: EpochMillis,
}

impl Dedup {
    pub fn new(horizon_ms: i64, max_ids: usize) -> Dedup {
        Dedup {
            // Start with room for a busy hour so the table does not grow
            // through every small size (131,072 slots: 2 MB per partition).
            ids: IdTable::with_capacity(max_ids.min(1 << 16)),
            buckets: BTreeMap::new(),
            horizon_ms,
            max_ids,
            floor_ms: i64::MIN,
            newest_ms: i64::MIN,
        }
    }

    /// Checks an id and remembers it if new.
    #[inline]
    pub fn offer(&mut self, id: IdHash, time_ms: EpochMillis) -> Seen {
        if time_ms < self.floor_ms {
            return if self.ids.contains(&id) {
                Seen::Duplicate
            } else {
                Seen::Late
            };
        }
        // One probe: `insert` says whether the id was there.
        if !self.ids.insert(id) {
            return Seen::Duplicate;
        }
        let bucket = time_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        // Most events land in the newest bucket: skip the tree search.
        match self.buckets.last_entry() {
            Some(mut last) if *last.key() == bucket => last.get_mut().push(id),
            _ => self.buckets.entry(bucket).or_default().push(id),
        }
        if time_ms > self.newest_ms {
            self.newest_ms = time_ms;
            self.forget_before(time_ms.saturating_sub(self.horizon_ms));
        }
        while self.ids.len() > self.max_ids {
            let Some((start, _)) = self.buckets.first_key_value() else {
                break;
            };
            self.forget_before(start + BUCKET_MS);
        }
        Seen::New
    }

    /// Forgets every bucket that ends at or before `t` and raises the floor.
    fn forget_before(&mut self, t: EpochMillis) {
        let t = t.div_euclid(BUCKET_MS) * BUCKET_MS;
        if t <= self.floor_ms {
            return;
        }
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() + BUCKET_MS > t {
                break;
            }
            for id in entry.remove() {
                self.ids.remove(&id);
            }
        }
        self.floor_ms = t;
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Starts loading where [`Dedup::offer`] will look for `id` (a batch
    /// commit calls this a few messages ahead, so the lookup does not wait
    /// for memory).
    #[inline(always)]
    pub fn prefetch(&self, id: &IdHash) {
        self.ids.prefetch(id);
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn floor_ms(&self) -> EpochMillis {
        self.floor_ms
    }

    pub fn newest_ms(&self) -> EpochMillis {
        self.newest_ms
    }

    /// Buckets with their ids, oldest first (for checkpoints).
    pub fn buckets(&self) -> impl Iterator<Item = (i64, &[IdHash])> {
        self.buckets.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// Rebuilds from checkpointed parts.
    pub fn restore(
        horizon_ms: i64,
        max_ids: usize,
        floor_ms: EpochMillis,
        newest_ms: EpochMillis,
        buckets: Vec<(i64, Vec<IdHash>)>,
    ) -> Dedup {
        let mut d = Dedup::new(horizon_ms, max_ids);
        d.floor_ms = floor_ms;
        d.newest_ms = newest_ms;
        let n = buckets.iter().map(|(_, v)| v.len()).sum();
        d.ids.reserve(n);
        for (start, ids) in buckets {
            for id in &ids {
                d.ids.insert(*id);
            }
            d.buckets.insert(start, ids);
        }
        // A smaller configured horizon or cap applies at once.
        d.forget_before(newest_ms.saturating_sub(horizon_ms));
        while d.ids.len() > d.max_ids {
            let Some((start, _)) = d.buckets.first_key_value() else {
                break;
            };
            d.forget_before(start + BUCKET_MS);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn duplicates_are_found_however_late_within_the_horizon() {
        let mut d = Dedup::new(400 * DAY, 1_000_000);
        let a = IdHash::of("a");
        assert_eq!(d.offer(a, 10 * DAY), Seen::New);
        assert_eq!(d.offer(IdHash::of("b"), 300 * DAY), Seen::New);
        assert_eq!(d.offer(a, 10 * DAY), Seen::Duplicate);
        assert_eq!(d.offer(IdHash::of("c"), 5 * DAY), Seen::New);
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn beyond_the_horizon_is_late_not_counted_twice() {
        let mut d = Dedup::new(30 * DAY, 1_000_000);
        assert_eq!(d.offer(IdHash::of("old"), 0), Seen::New);
        assert_eq!(d.offer(IdHash::of("new"), 40 * DAY), Seen::New);
        assert_eq!(d.len(), 1);
        // The old id is forgotten: its re-delivery cannot be checked.
        assert_eq!(d.offer(IdHash::of("old"), 0), Seen::Late);
        assert_eq!(d.offer(IdHash::of("other-old"), 9 * DAY), Seen::Late);
        assert_eq!(d.offer(IdHash::of("recent"), 11 * DAY), Seen::New);
    }

    #[test]
    fn the_cap_bounds_memory_and_raises_the_floor() {
        let mut d = Dedup::new(1000 * DAY, 1000);
        for i in 0..5000i64 {
            assert_eq!(d.offer(IdHash::of(&i.to_string()), i * 60_000), Seen::New);
            assert!(d.len() <= 1000);
        }
        assert!(d.floor_ms() > 0);
        assert_eq!(d.offer(IdHash::of("ancient"), 0), Seen::Late);
        assert_eq!(d.offer(IdHash::of("4999"), 4999 * 60_000), Seen::Duplicate);
    }

    #[test]
    fn restore_gives_the_same_answers() {
        let mut d = Dedup::new(30 * DAY, 1_000_000);
        for i in 0..100i64 {
            d.offer(IdHash::of(&i.to_string()), i * 3_600_000 * 5);
        }
        let parts = d.buckets().map(|(k, v)| (k, v.to_vec())).collect();
        let mut r = Dedup::restore(30 * DAY, 1_000_000, d.floor_ms(), d.newest_ms(), parts);
        assert_eq!(r.len(), d.len());
        for i in 0..120i64 {
            let (id, t) = (IdHash::of(&i.to_string()), i * 3_600_000 * 5);
            assert_eq!(r.offer(id, t), d.offer(id, t), "{i}");
        }
    }
}
