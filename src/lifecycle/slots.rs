//! The lifecycle's map from incident id to [`Open`]: open addressing with
//! linear probing over 64-byte slots (the id and its incident in one cache
//! line), at most 3/4 full, written as dedup's id table is and for the
//! same reasons: the ids are already 128-bit hashes, a lookup touches one
//! line, and that line can be prefetched a few messages ahead
//! ([`Slots::prefetch`], called where dedup's is). With `std`'s map, whose
//! buckets cannot be prefetched, the table cost a third more CPU per event
//! on the file path than the same run without it (docs/benchmarks.md);
//! `tests` below check it against that map, operation by operation.
//!
//! Homes are keyed with dedup's [`Key`] (multiply-add-shift with a random
//! key of the table's own): ids are hashes of text an outsider chooses. A
//! probe longer than dedup's [`MAX_PROBE`] rebuilds under a new key. Removal shifts the following
//! entries back (no tombstones). An occupied slot has the top bit of its
//! id's second word set ([`IdHash`] keeps it clear), so every id, the zero
//! id included, is an id.

use super::Open;
use crate::dedup::IdHash;
use crate::dedup::table::{Key, MAX_PROBE};

/// Marks an occupied slot in the id's second word.
const OCCUPIED: u64 = 1 << 63;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    id: [u64; 2],
    open: Open,
}

const EMPTY: Slot = Slot {
    id: [0, 0],
    open: Open::new(0, 0, 0, 0, 0, 0, 0),
};

/// Incidents by id.
#[derive(Clone)]
pub struct Slots {
    slots: Vec<Slot>,
    /// Slots minus one (a power of two).
    mask: usize,
    /// 64 minus the bits of a slot number.
    shift: u32,
    key: Key,
    len: usize,
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("len", &self.len)
            .field("slots", &(self.mask + 1))
            .finish()
    }
}

/// Slots for `n` incidents at most 3/4 full.
fn slots_for(n: usize) -> usize {
    (n.saturating_mul(4) / 3 + 1).next_power_of_two().max(16)
}

impl Default for Slots {
    fn default() -> Self {
        Slots::with_capacity(0)
    }
}

impl Slots {
    pub fn with_capacity(n: usize) -> Slots {
        let slots = slots_for(n);
        Slots {
            slots: vec![EMPTY; slots],
            mask: slots - 1,
            shift: 64 - slots.trailing_zeros(),
            key: Key::random(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    #[inline(always)]
    fn home(&self, id: [u64; 2]) -> usize {
        self.key.home(id, self.shift)
    }

    /// The slot holding `id`, or the empty slot where it would go (the
    /// table is never full, so the probe ends).
    #[inline(always)]
    fn find(&self, id: [u64; 2]) -> Result<usize, usize> {
        let want = [id[0], id[1] | OCCUPIED];
        let mut i = self.home(id);
        loop {
            let s = &self.slots[i].id;
            if *s == want {
                return Ok(i);
            }
            if s[1] & OCCUPIED == 0 {
                return Err(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Starts loading the line where a lookup of `id` begins.
    #[inline(always)]
    pub fn prefetch(&self, id: &IdHash) {
        crate::dedup::prefetch::line(&self.slots[self.home(id.0)]);
    }

    /// The incident of `id`, if held.
    pub fn get(&self, id: &IdHash) -> Option<&Open> {
        self.find(id.0).ok().map(|i| &self.slots[i].open)
    }

    /// Where `id` is (`Ok`), or the slot an insert of it takes (`Err`):
    /// room for one more is made first, so the slot stays valid until the
    /// table next changes.
    #[inline]
    pub fn locate(&mut self, id: &IdHash) -> Result<usize, usize> {
        if (self.len + 1) * 4 > (self.mask + 1) * 3 {
            self.rebuild((self.mask + 1) * 2);
        }
        match self.find(id.0) {
            // A probe run this long is an attack, not chance: new key.
            Err(at) if at.wrapping_sub(self.home(id.0)) & self.mask > MAX_PROBE => {
                self.key = Key::random();
                self.rebuild(self.mask + 1);
                self.find(id.0)
            }
            found => found,
        }
    }

    /// The incident in slot `i` (from [`Slots::locate`]'s `Ok`).
    #[inline]
    pub fn at_mut(&mut self, i: usize) -> &mut Open {
        &mut self.slots[i].open
    }

    /// Fills the empty slot `i` (from [`Slots::locate`]'s `Err`).
    #[inline]
    pub fn fill(&mut self, i: usize, id: &IdHash, open: Open) {
        self.slots[i] = Slot {
            id: [id.0[0], id.0[1] | OCCUPIED],
            open,
        };
        self.len += 1;
    }

    /// Adds or replaces.
    pub fn insert(&mut self, id: &IdHash, open: Open) {
        match self.locate(id) {
            Ok(i) => self.slots[i].open = open,
            Err(i) => self.fill(i, id, open),
        }
    }

    /// Removes `id` if `keep` says so of its incident; returns it.
    pub fn remove_if(&mut self, id: &IdHash, keep: impl FnOnce(&Open) -> bool) -> Option<Open> {
        let i = self.find(id.0).ok()?;
        let open = self.slots[i].open;
        if !keep(&open) {
            return None;
        }
        self.remove_at(i);
        Some(open)
    }

    fn remove_at(&mut self, mut hole: usize) {
        // Backward shift: move up every later entry of the run that may
        // sit in the hole (its home is not after the hole).
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots[j];
            if s.id[1] & OCCUPIED == 0 {
                break;
            }
            let home = self.home([s.id[0], s.id[1] & !OCCUPIED]);
            if j.wrapping_sub(home) & self.mask >= j.wrapping_sub(hole) & self.mask {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    /// Every incident held, in no order.
    pub fn values(&self) -> impl Iterator<Item = &Open> {
        self.slots
            .iter()
            .filter(|s| s.id[1] & OCCUPIED != 0)
            .map(|s| &s.open)
    }

    fn rebuild(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; slots]);
        self.mask = slots - 1;
        self.shift = 64 - slots.trailing_zeros();
        for s in old {
            if s.id[1] & OCCUPIED != 0
                && let Err(empty) = self.find([s.id[0], s.id[1] & !OCCUPIED])
            {
                self.slots[empty] = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn open(n: u64) -> Open {
        Open::new(n as i64, 0, 0, 0, 0, 0, 0)
    }

    proptest! {
        /// The table against `std`'s map: the same answers after any
        /// sequence of inserts, lookups and removals (ids from a small set,
        /// so they repeat; the zero id among them).
        #[test]
        fn behaves_as_std_map(ops in proptest::collection::vec((0u8..3, 0u64..300), 1..3000)) {
            let mut mine = Slots::default();
            let mut model: HashMap<IdHash, Open> = HashMap::new();
            let id = |n: u64| if n == 0 { IdHash([0, 0]) } else { IdHash::of(&n.to_string()) };
            for (op, n) in ops {
                let k = id(n);
                match op {
                    0 => {
                        mine.insert(&k, open(n));
                        model.insert(k, open(n));
                    }
                    1 => prop_assert_eq!(mine.get(&k), model.get(&k)),
                    _ => prop_assert_eq!(mine.remove_if(&k, |_| true), model.remove(&k)),
                }
                prop_assert_eq!(mine.len(), model.len());
            }
            let mut a: Vec<i64> = mine.values().map(|o| o.detected_ms).collect();
            let mut b: Vec<i64> = model.values().map(|o| o.detected_ms).collect();
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn one_cache_line_per_incident() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
    }
}
