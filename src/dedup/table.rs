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

use super::IdHash;

/// The empty-slot marker.
const EMPTY: [u64; 2] = [0, 0];

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
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for `extra` more ids without growing on the way.
    pub fn reserve(&mut self, extra: usize) {
        let want = slots_for(self.len + extra);
        if want > self.mask + 1 {
            self.rebuild(want);
        }
    }

    pub fn contains(&self, id: &IdHash) -> bool {
        if id.0 == EMPTY {
            return self.zero;
        }
        self.find(id.0).is_ok()
    }

    /// Adds `id`; `false` if it was already there. One probe sequence.
    #[inline]
    pub fn insert(&mut self, id: IdHash) -> bool {
        if id.0 == EMPTY {
            let new = !self.zero;
            self.zero = true;
            self.len += usize::from(new);
            return new;
        }
        if (self.len + 1) * 4 > (self.mask + 1) * 3 {
            self.rebuild((self.mask + 1) * 2);
        }
        match self.find(id.0) {
            Ok(_) => false,
            Err(empty) => {
                self.set(empty, id.0);
                self.len += 1;
                true
            }
        }
    }

    /// Removes `id`; `false` if it was not there.
    pub fn remove(&mut self, id: &IdHash) -> bool {
        if id.0 == EMPTY {
            let held = self.zero;
            self.zero = false;
            self.len -= usize::from(held);
            return held;
        }
        let Ok(mut hole) = self.find(id.0) else {
            return false;
        };
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
        true
    }

    /// Starts loading the cache line where a lookup of `id` begins, so that
    /// an [`IdTable::insert`] a little later finds it in cache.
    #[inline(always)]
    pub fn prefetch(&self, id: &IdHash) {
        let line = &self.lines[self.home(id.0) >> 2];
        #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
        // SAFETY: a prefetch is a hint: it reads nothing into the program
        // and cannot fault; the address is that of a live line anyway.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(line).cast::<i8>());
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
        let _ = line;
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
            if s == id {
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
        for id in old.iter().flat_map(|l| l.0) {
            if id != EMPTY
                && let Err(empty) = self.find(id)
            {
                self.set(empty, id);
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
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    /// Ids whose homes collide a lot (few distinct low bits), so runs wrap
    /// around the end of the table and removals shift entries back.
    fn crowded() -> impl Strategy<Value = IdHash> {
        (0u64..24, 0u64..4).prop_map(|(lo, hi)| IdHash([lo * 8 + (hi & 1), hi]))
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(IdHash),
        Remove(IdHash),
        Contains(IdHash),
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = prop_oneof![crowded(), any::<[u64; 2]>().prop_map(IdHash)];
        prop_oneof![
            3 => id.clone().prop_map(Op::Insert),
            2 => id.clone().prop_map(Op::Remove),
            1 => id.prop_map(Op::Contains),
        ]
    }

    proptest! {
        /// Any sequence of operations answers as a `HashSet` does, and
        /// every id held is found afterwards (no entry lost by a shift).
        #[test]
        fn behaves_as_a_set(ops in prop::collection::vec(op(), 0..600), reserve in 0usize..40) {
            let mut t = IdTable::with_capacity(0);
            t.reserve(reserve);
            let mut model = HashSet::new();
            for op in ops {
                match op {
                    Op::Insert(id) => prop_assert_eq!(t.insert(id), model.insert(id)),
                    Op::Remove(id) => prop_assert_eq!(t.remove(&id), model.remove(&id)),
                    Op::Contains(id) => prop_assert_eq!(t.contains(&id), model.contains(&id)),
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for id in &model {
                prop_assert!(t.contains(id));
            }
            prop_assert!((t.len() - usize::from(t.zero)) * 4 <= (t.mask + 1) * 3);
        }
    }

    #[test]
    fn the_zero_id_is_an_ordinary_member() {
        let mut t = IdTable::with_capacity(4);
        let zero = IdHash([0, 0]);
        assert!(!t.contains(&zero));
        assert!(t.insert(zero));
        assert!(!t.insert(zero));
        assert_eq!(t.len(), 1);
        assert!(t.contains(&zero));
        assert!(t.remove(&zero));
        assert!(!t.remove(&zero));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn grows_and_keeps_every_id() {
        let mut t = IdTable::with_capacity(0);
        let ids: Vec<_> = (0..100_000u64)
            .map(|i| IdHash::of(&i.to_string()))
            .collect();
        for id in &ids {
            assert!(t.insert(*id));
        }
        assert_eq!(t.len(), ids.len());
        assert!(ids.iter().all(|id| t.contains(id)));
        assert!((t.mask + 1) * 3 >= t.len() * 4);
        for id in ids.iter().step_by(2) {
            assert!(t.remove(id));
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.contains(id), i % 2 == 1, "{i}");
        }
    }
}
