//! The set of remembered ids: open addressing with linear probing over
//! 16-byte slots, four to a 64-byte cache line, at most 3/4 full.
//!
//! Written for this one job instead of a general hash set: the ids are
//! already uniform 128-bit hashes, so the slot is their low bits, and a slot
//! holds the whole id with no separate control bytes. An insert that misses
//! the cache therefore touches one line (usually), not two, and the line can
//! be prefetched a few messages ahead ([`IdTable::prefetch`]), which is what
//! a batch commit does. Removal shifts the following entries back (no
//! tombstones), so lookups never slow down as ids are forgotten.
//!
//! The all-zero id marks an empty slot; it is kept in a flag of its own, so
//! the set is exact for every id.
//!
//! Each entry also carries a 16-bit *stamp* (the arrival hour it was last
//! seen in, modulo 2¹⁶) in the top bits of its second word, where
//! [`IdHash`] keeps zeros: no extra memory and no second cache line per id.

use super::IdHash;

/// The empty-slot marker.
const EMPTY: [u64; 2] = [0, 0];

/// Where the stamp sits in an entry's second word.
const STAMP_SHIFT: u32 = 48;
/// The id bits of an entry's second word.
const ID_MASK: u64 = (1 << STAMP_SHIFT) - 1;

/// An entry as stored: the id with its stamp.
#[inline(always)]
fn entry(id: [u64; 2], stamp: u16) -> [u64; 2] {
    [id[0], id[1] | (u64::from(stamp) << STAMP_SHIFT)]
}

/// The stamp of a stored entry.
#[inline(always)]
fn stamp_of(e: [u64; 2]) -> u16 {
    // The shift leaves 16 bits.
    (e[1] >> STAMP_SHIFT) as u16
}

/// One cache line of slots. Aligned, so that a probe that stays within
/// its line costs one miss (measured: unaligned slots, though zeroed more
/// cheaply by the allocator, cost more than they saved).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([[u64; 2]; 4]);

const EMPTY_LINE: Line = Line([EMPTY; 4]);

#[derive(Clone)]
pub struct IdTable {
    /// A power of two of lines (at least two).
    lines: Vec<Line>,
    /// Slots minus one.
    mask: usize,
    /// Ids held, the zero id included.
    len: usize,
    /// Whether the zero id (the empty marker) is held.
    zero: bool,
    /// The zero id's stamp.
    zero_stamp: u16,
}

impl std::fmt::Debug for IdTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTable")
            .field("len", &self.len)
            .field("slots", &(self.mask + 1))
            .finish()
    }
}

impl IdTable {
    /// Room for `n` ids before the first growth.
    pub fn with_capacity(n: usize) -> IdTable {
        let slots = slots_for(n);
        IdTable {
            lines: vec![EMPTY_LINE; slots / 4],
            mask: slots - 1,
            len: 0,
            zero: false,
            zero_stamp: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes held by the slots.
    pub fn heap_bytes(&self) -> usize {
        self.lines.capacity() * std::mem::size_of::<Line>()
    }

    /// Makes room for `extra` more ids without growing on the way.
    pub fn reserve(&mut self, extra: usize) {
        let want = slots_for(self.len + extra);
        if want > self.mask + 1 {
            self.rebuild(want);
        }
    }

    #[cfg(test)]
    pub fn contains(&self, id: &IdHash) -> bool {
        self.stamp(id).is_some()
    }

    /// The stamp of `id`, if held.
    #[cfg(test)]
    pub fn stamp(&self, id: &IdHash) -> Option<u16> {
        if id.0 == EMPTY {
            return self.zero.then_some(self.zero_stamp);
        }
        self.find(id.0).ok().map(|i| stamp_of(self.get(i)))
    }

    /// Adds `id` with `stamp`, or moves a held id to `stamp`. Returns the
    /// stamp it had, `None` if it is new. One probe sequence.
    #[inline]
    pub fn upsert(&mut self, id: IdHash, stamp: u16) -> Option<u16> {
        debug_assert_eq!(id.0[1] & !ID_MASK, 0, "ids keep the stamp bits clear");
        if id.0 == EMPTY {
            let old = self.zero.then_some(self.zero_stamp);
            self.len += usize::from(!self.zero);
            self.zero = true;
            self.zero_stamp = stamp;
            return old;
        }
        if (self.len + 1) * 4 > (self.mask + 1) * 3 {
            self.rebuild((self.mask + 1) * 2);
        }
        match self.find(id.0) {
            Ok(i) => {
                let old = stamp_of(self.get(i));
                if old != stamp {
                    self.set(i, entry(id.0, stamp));
                }
                Some(old)
            }
            Err(empty) => {
                self.set(empty, entry(id.0, stamp));
                self.len += 1;
                None
            }
        }
    }

    /// Removes `id` if it is held with `stamp` (an id seen again later
    /// carries a newer stamp and stays). `false` if nothing was removed.
    pub fn remove_stamped(&mut self, id: &IdHash, stamp: u16) -> bool {
        if id.0 == EMPTY {
            let held = self.zero && self.zero_stamp == stamp;
            if held {
                self.zero = false;
                self.len -= 1;
            }
            return held;
        }
        match self.find(id.0) {
            Ok(i) if stamp_of(self.get(i)) == stamp => {
                self.remove_at(i);
                true
            }
            _ => false,
        }
    }

    /// Removes `id` whatever its stamp; `false` if it was not there.
    #[cfg(test)]
    pub fn remove(&mut self, id: &IdHash) -> bool {
        match self.stamp(id) {
            Some(stamp) => self.remove_stamped(id, stamp),
            None => false,
        }
    }

    fn remove_at(&mut self, mut hole: usize) {
        // Backward shift: move up every later entry of the run that may
        // sit in the hole (its home is not after the hole), so that no
        // lookup stops early at the hole.
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let s = self.get(j);
            if s == EMPTY {
                break;
            }
            let home = self.home(s);
            if j.wrapping_sub(home) & self.mask >= j.wrapping_sub(hole) & self.mask {
                self.set(hole, s);
                hole = j;
            }
        }
        self.set(hole, EMPTY);
        self.len -= 1;
    }

    /// Starts loading the cache line where a lookup of `id` begins, so that
    /// an [`IdTable::insert`] a little later finds it in cache.
    #[inline(always)]
    pub fn prefetch(&self, id: &IdHash) {
        super::prefetch::line(&self.lines[self.home(id.0) >> 2]);
    }

    #[inline(always)]
    fn home(&self, id: [u64; 2]) -> usize {
        // Truncation keeps the low bits, which the mask selects anyway.
        id[0] as usize & self.mask
    }

    #[inline(always)]
    fn get(&self, slot: usize) -> [u64; 2] {
        self.lines[slot >> 2].0[slot & 3]
    }

    #[inline(always)]
    fn set(&mut self, slot: usize, id: [u64; 2]) {
        self.lines[slot >> 2].0[slot & 3] = id;
    }

    /// The slot holding `id` (not the zero id), or the empty slot where it
    /// would go. The table is never full, so the probe ends.
    #[inline(always)]
    fn find(&self, id: [u64; 2]) -> Result<usize, usize> {
        let mut i = self.home(id);
        loop {
            let s = self.get(i);
            if s[0] == id[0] && s[1] & ID_MASK == id[1] {
                return Ok(i);
            }
            if s == EMPTY {
                return Err(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn rebuild(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.lines, vec![EMPTY_LINE; slots / 4]);
        self.mask = slots - 1;
        for e in old.iter().flat_map(|l| l.0) {
            if e != EMPTY
                && let Err(empty) = self.find([e[0], e[1] & ID_MASK])
            {
                self.set(empty, e);
            }
        }
    }
}

/// Slots for `n` ids at most 3/4 full: a power of two, at least two lines.
fn slots_for(n: usize) -> usize {
    (n.saturating_mul(4) / 3 + 1).next_power_of_two().max(8)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// Ids whose homes collide a lot (few distinct low bits), so runs wrap
    /// around the end of the table and removals shift entries back.
    fn crowded() -> impl Strategy<Value = IdHash> {
        (0u64..24, 0u64..4).prop_map(|(lo, hi)| IdHash([lo * 8 + (hi & 1), hi]))
    }

    #[derive(Debug, Clone)]
    enum Op {
        Upsert(IdHash, u16),
        RemoveStamped(IdHash, u16),
        Remove(IdHash),
        Stamp(IdHash),
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = prop_oneof![
            crowded(),
            any::<[u64; 2]>().prop_map(|[a, b]| IdHash([a, b & ID_MASK])),
            Just(IdHash([0, 0])),
        ];
        let stamp = prop_oneof![0u16..3, any::<u16>()];
        prop_oneof![
            3 => (id.clone(), stamp.clone()).prop_map(|(i, s)| Op::Upsert(i, s)),
            2 => (id.clone(), stamp).prop_map(|(i, s)| Op::RemoveStamped(i, s)),
            1 => id.clone().prop_map(Op::Remove),
            1 => id.prop_map(Op::Stamp),
        ]
    }

    proptest! {
        /// Any sequence of operations answers as a `HashMap` from id to
        /// stamp does, and every id held is found afterwards with its stamp
        /// (no entry lost or altered by a shift or a growth).
        #[test]
        fn behaves_as_a_map_of_stamps(ops in prop::collection::vec(op(), 0..600), reserve in 0usize..40) {
            let mut t = IdTable::with_capacity(0);
            t.reserve(reserve);
            let mut model: HashMap<IdHash, u16> = HashMap::new();
            for op in ops {
                match op {
                    Op::Upsert(id, s) => prop_assert_eq!(t.upsert(id, s), model.insert(id, s)),
                    Op::RemoveStamped(id, s) => {
                        let held = model.get(&id) == Some(&s);
                        if held {
                            model.remove(&id);
                        }
                        prop_assert_eq!(t.remove_stamped(&id, s), held);
                    }
                    Op::Remove(id) => prop_assert_eq!(t.remove(&id), model.remove(&id).is_some()),
                    Op::Stamp(id) => prop_assert_eq!(t.stamp(&id), model.get(&id).copied()),
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for (id, s) in &model {
                prop_assert_eq!(t.stamp(id), Some(*s));
            }
            prop_assert!((t.len() - usize::from(t.zero)) * 4 <= (t.mask + 1) * 3);
        }
    }

    #[test]
    fn the_zero_id_is_an_ordinary_member() {
        let mut t = IdTable::with_capacity(4);
        let zero = IdHash([0, 0]);
        assert!(!t.contains(&zero));
        assert_eq!(t.upsert(zero, 5), None);
        assert_eq!(t.upsert(zero, 6), Some(5));
        assert_eq!(t.len(), 1);
        assert!(!t.remove_stamped(&zero, 5));
        assert!(t.remove_stamped(&zero, 6));
        assert!(!t.remove(&zero));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn grows_and_keeps_every_id_and_stamp() {
        let mut t = IdTable::with_capacity(0);
        let ids: Vec<_> = (0..100_000u64)
            .map(|i| IdHash::of(&i.to_string()))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.upsert(*id, (i % 7) as u16 + 65_000), None);
        }
        assert_eq!(t.len(), ids.len());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.stamp(id), Some((i % 7) as u16 + 65_000));
        }
        assert!((t.mask + 1) * 3 >= t.len() * 4);
        for id in ids.iter().step_by(2) {
            assert!(t.remove(id));
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.contains(id), i % 2 == 1, "{i}");
        }
    }
}
