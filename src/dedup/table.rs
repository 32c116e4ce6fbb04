//! The set of remembered ids: open addressing with linear probing over
//! 16-byte slots, four to a 64-byte cache line, at most 3/4 full.
//!
//! Written for this one job instead of a general hash set: the ids are
//! already hashes, and a slot holds the id's key with no separate control
//! bytes.
//!
//! Where an id goes is keyed: its home slot is a multiply-add-shift of its
//! two words with a random key of the table's own (a 2-universal family:
//! two ids share a home with probability about 2/slots, whatever ids an
//! outsider chooses). The ids are XXH3 hashes of text anyone who can
//! produce to the incidents topic chooses, and XXH3 is not keyed: ids whose
//! hashes share their low bits are found in seconds, and with the home
//! taken from those bits 95,000 of them made one probe run of 95,000 slots
//! (6.5 s of work instead of 0.03 s). The key is not stored: the table is
//! rebuilt from the remembered ids when a state is restored, under the new
//! owner's key. A probe longer than [`MAX_PROBE`] (never reached by
//! chance below 3/4 full) rebuilds the table under a new key. An insert that misses
//! the cache therefore touches one line (usually), not two, and the line can
//! be prefetched a few messages ahead ([`IdTable::prefetch`]), which is what
//! a batch commit does. Removal shifts the following entries back (no
//! tombstones), so lookups never slow down as ids are forgotten.
//!
//! A slot keeps 80 bits of its id (the first word and the low 16 bits of
//! the second: [`key`]), a 32-bit *link* and a 16-bit *stamp*:
//!
//! * the stamp is the arrival hour the id was last seen in, modulo 2¹⁶;
//! * the link is the caller's: the lifecycle keeps there where the
//!   incident's record is ([`crate::lifecycle`]), so a later message finds
//!   it in the line it has just read, and a new incident costs no second
//!   random line. The table keeps a link as it is (0 when none was set) and
//!   hands it back when the id is removed.
//!
//! Two different ids are taken for one when their 80 bits agree: with `n`
//! ids held, a new id with probability n/2⁸⁰, 1.7·10⁻¹⁸ at the largest cap
//! of 2,000,000; over 10¹² messages, 2·10⁻⁶. The arrival buckets and the
//! checkpoints keep the whole 112-bit id.
//!
//! The all-zero key marks an empty slot; it is kept in fields of its own,
//! so the set is exact for every id.

use super::IdHash;

/// The longest probe an insert accepts before the table is rebuilt under a
/// new key (at 3/4 full the expected longest run among a million slots is
/// a few dozen).
const MAX_PROBE: usize = 512;

/// The key of a table's home function: two odd multipliers and an
/// addend, from the operating system's randomness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key([u64; 3]);

impl Key {
    /// A fresh random key. `std`'s `RandomState` draws its SipHash keys
    /// from the operating system once per thread and steps them for each
    /// new state, so each call hashes with a key of its own.
    fn random() -> Key {
        use std::hash::BuildHasher;
        let words = std::collections::hash_map::RandomState::new();
        Key([
            words.hash_one(1u8) | 1,
            words.hash_one(2u8) | 1,
            words.hash_one(3u8),
        ])
    }
}

impl Key {
    /// The home slot of `id` in a table of `2^(64 - shift)` slots:
    /// multiply-add-shift over both words of the key a slot keeps.
    #[inline(always)]
    fn home(&self, id: [u64; 2], shift: u32) -> usize {
        let [a, b, c] = self.0;
        let h = id[0]
            .wrapping_mul(a)
            .wrapping_add(id[1].wrapping_mul(b))
            .wrapping_add(c);
        // The top bits: fewer than the word's, so the cast keeps them all.
        (h >> shift) as usize
    }
}

/// The empty-slot marker.
const EMPTY: [u64; 2] = [0, 0];

/// Where the link sits in an entry's second word.
const LINK_SHIFT: u32 = 16;
/// Where the stamp sits in an entry's second word.
const STAMP_SHIFT: u32 = 48;
/// The id bits of an entry's second word.
const KEY_MASK: u64 = (1 << LINK_SHIFT) - 1;

/// The bits of an id a slot keeps.
#[inline(always)]
fn key(id: &IdHash) -> [u64; 2] {
    [id.0[0], id.0[1] & KEY_MASK]
}

/// The key of a stored entry.
#[inline(always)]
fn key_of(e: [u64; 2]) -> [u64; 2] {
    [e[0], e[1] & KEY_MASK]
}

/// An entry as stored: the key with its link and stamp.
#[inline(always)]
fn entry(key: [u64; 2], link: u32, stamp: u16) -> [u64; 2] {
    [
        key[0],
        key[1] | (u64::from(link) << LINK_SHIFT) | (u64::from(stamp) << STAMP_SHIFT),
    ]
}

/// The stamp of a stored entry.
#[inline(always)]
fn stamp_of(e: [u64; 2]) -> u16 {
    // The shift leaves 16 bits.
    (e[1] >> STAMP_SHIFT) as u16
}

/// The link of a stored entry.
#[inline(always)]
fn link_of(e: [u64; 2]) -> u32 {
    // The mask keeps 32 bits.
    ((e[1] >> LINK_SHIFT) & 0xFFFF_FFFF) as u32
}

/// Where an id is held: a slot, or the zero key's own fields. Valid until
/// the table next changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held(usize);

/// The zero key's place.
const ZERO: Held = Held(usize::MAX);

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
    /// 64 minus the bits of a slot number (the home is the top bits).
    shift: u32,
    key: Key,
    /// Ids held, the zero id included.
    len: usize,
    /// Whether the zero key (the empty marker) is held.
    zero: bool,
    /// The zero key's stamp and link.
    zero_stamp: u16,
    zero_link: u32,
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
            shift: 64 - slots.trailing_zeros(),
            key: Key::random(),
            len: 0,
            zero: false,
            zero_stamp: 0,
            zero_link: 0,
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
        self.held(id).map(|h| {
            if h == ZERO {
                self.zero_stamp
            } else {
                stamp_of(self.get(h.0))
            }
        })
    }

    /// Where `id` is held, if it is.
    pub fn held(&self, id: &IdHash) -> Option<Held> {
        let k = key(id);
        if k == EMPTY {
            return self.zero.then_some(ZERO);
        }
        self.find(k).ok().map(Held)
    }

    /// The link of a held id.
    #[inline]
    pub fn link(&self, h: Held) -> u32 {
        if h == ZERO {
            self.zero_link
        } else {
            link_of(self.get(h.0))
        }
    }

    /// Sets the link of a held id.
    #[inline]
    pub fn set_link(&mut self, h: Held, link: u32) {
        if h == ZERO {
            self.zero_link = link;
        } else {
            let e = self.get(h.0);
            self.set(h.0, entry(key_of(e), link, stamp_of(e)));
        }
    }

    /// Adds `id` with `stamp` (and no link), or moves a held id to
    /// `stamp` (its link kept). Returns the stamp it had, `None` if it is
    /// new, and where it is held. One probe sequence.
    #[inline]
    pub fn upsert(&mut self, id: IdHash, stamp: u16) -> (Option<u16>, Held) {
        let k = key(&id);
        if k == EMPTY {
            let old = self.zero.then_some(self.zero_stamp);
            self.len += usize::from(!self.zero);
            if !self.zero {
                self.zero_link = 0;
            }
            self.zero = true;
            self.zero_stamp = stamp;
            return (old, ZERO);
        }
        if (self.len + 1) * 4 > (self.mask + 1) * 3 {
            self.rebuild((self.mask + 1) * 2);
        }
        let found = match self.find(k) {
            // A probe run this long is an attack, not chance: new key.
            Err(at) if at.wrapping_sub(self.home(k)) & self.mask > MAX_PROBE => {
                self.key = Key::random();
                self.rebuild(self.mask + 1);
                self.find(k)
            }
            found => found,
        };
        match found {
            Ok(i) => {
                let e = self.get(i);
                let old = stamp_of(e);
                if old != stamp {
                    self.set(i, entry(k, link_of(e), stamp));
                }
                (Some(old), Held(i))
            }
            Err(empty) => {
                self.set(empty, entry(k, 0, stamp));
                self.len += 1;
                (None, Held(empty))
            }
        }
    }

    /// Removes `id` if it is held with `stamp` (an id seen again later
    /// carries a newer stamp and stays). Returns its link if it was
    /// removed.
    pub fn remove_stamped(&mut self, id: &IdHash, stamp: u16) -> Option<u32> {
        let k = key(id);
        if k == EMPTY {
            let held = self.zero && self.zero_stamp == stamp;
            if held {
                self.zero = false;
                self.len -= 1;
            }
            return held.then_some(self.zero_link);
        }
        match self.find(k) {
            Ok(i) if stamp_of(self.get(i)) == stamp => {
                let link = link_of(self.get(i));
                self.remove_at(i);
                Some(link)
            }
            _ => None,
        }
    }

    /// Removes `id` whatever its stamp; `false` if it was not there.
    #[cfg(test)]
    pub fn remove(&mut self, id: &IdHash) -> bool {
        match self.stamp(id) {
            Some(stamp) => self.remove_stamped(id, stamp).is_some(),
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
            let home = self.home(key_of(s));
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
        super::prefetch::line(&self.lines[self.home(key(id)) >> 2]);
    }

    /// The keyed home slot.
    #[inline(always)]
    fn home(&self, id: [u64; 2]) -> usize {
        self.key.home(id, self.shift)
    }

    /// The key in use (tests: each table draws its own).
    #[cfg(test)]
    fn key(&self) -> Key {
        self.key
    }

    /// The longest probe run from a home to its id (tests).
    #[cfg(test)]
    pub fn longest_probe(&self) -> usize {
        (0..=self.mask)
            .filter_map(|i| {
                let s = self.get(i);
                (s != EMPTY).then(|| i.wrapping_sub(self.home(key_of(s))) & self.mask)
            })
            .max()
            .unwrap_or(0)
    }

    #[inline(always)]
    fn get(&self, slot: usize) -> [u64; 2] {
        self.lines[slot >> 2].0[slot & 3]
    }

    #[inline(always)]
    fn set(&mut self, slot: usize, id: [u64; 2]) {
        self.lines[slot >> 2].0[slot & 3] = id;
    }

    /// The slot holding `key` (not the zero key), or the empty slot where
    /// it would go. The table is never full, so the probe ends.
    #[inline(always)]
    fn find(&self, key: [u64; 2]) -> Result<usize, usize> {
        let mut i = self.home(key);
        loop {
            let s = self.get(i);
            if s[0] == key[0] && s[1] & KEY_MASK == key[1] {
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
        self.shift = 64 - slots.trailing_zeros();
        for e in old.iter().flat_map(|l| l.0) {
            if e != EMPTY
                && let Err(empty) = self.find(key_of(e))
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
        Link(IdHash, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Ids that differ in the kept bits only (the model keys by the
        // whole id), and some with the bits a slot drops set.
        let id = prop_oneof![
            crowded(),
            any::<[u64; 2]>().prop_map(|[a, b]| IdHash([a, b & KEY_MASK])),
            Just(IdHash([0, 0])),
        ];
        let stamp = prop_oneof![0u16..3, any::<u16>()];
        prop_oneof![
            3 => (id.clone(), stamp.clone()).prop_map(|(i, s)| Op::Upsert(i, s)),
            2 => (id.clone(), stamp).prop_map(|(i, s)| Op::RemoveStamped(i, s)),
            1 => id.clone().prop_map(Op::Remove),
            1 => id.clone().prop_map(Op::Stamp),
            2 => (id, any::<u32>()).prop_map(|(i, l)| Op::Link(i, l)),
        ]
    }

    proptest! {
        /// Any sequence of operations answers as a `HashMap` from id to
        /// stamp and link does, and every id held is found afterwards with
        /// its stamp and link (no entry lost or altered by a shift or a
        /// growth).
        #[test]
        fn behaves_as_a_map_of_stamps_and_links(ops in prop::collection::vec(op(), 0..600), reserve in 0usize..40) {
            let mut t = IdTable::with_capacity(0);
            t.reserve(reserve);
            let mut model: HashMap<IdHash, (u16, u32)> = HashMap::new();
            for op in ops {
                match op {
                    Op::Upsert(id, s) => {
                        let old = model.get(&id).copied();
                        model.insert(id, (s, old.map_or(0, |o| o.1)));
                        let (stamp, held) = t.upsert(id, s);
                        prop_assert_eq!(stamp, old.map(|o| o.0));
                        prop_assert_eq!(t.link(held), old.map_or(0, |o| o.1));
                    }
                    Op::RemoveStamped(id, s) => {
                        let held = model.get(&id).filter(|o| o.0 == s).map(|o| o.1);
                        if held.is_some() {
                            model.remove(&id);
                        }
                        prop_assert_eq!(t.remove_stamped(&id, s), held);
                    }
                    Op::Remove(id) => prop_assert_eq!(t.remove(&id), model.remove(&id).is_some()),
                    Op::Stamp(id) => prop_assert_eq!(t.stamp(&id), model.get(&id).map(|o| o.0)),
                    Op::Link(id, l) => {
                        prop_assert_eq!(t.held(&id).is_some(), model.contains_key(&id));
                        if let (Some(h), Some(o)) = (t.held(&id), model.get_mut(&id)) {
                            prop_assert_eq!(t.link(h), o.1);
                            t.set_link(h, l);
                            o.1 = l;
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for (id, (s, l)) in &model {
                prop_assert_eq!(t.stamp(id), Some(*s));
                let h = t.held(id);
                prop_assert!(h.is_some());
                if let Some(h) = h {
                    prop_assert_eq!(t.link(h), *l);
                }
            }
            prop_assert!((t.len() - usize::from(t.zero)) * 4 <= (t.mask + 1) * 3);
        }
    }

    /// A slot keeps 80 bits of an id: two ids that differ only in the
    /// bits it drops are one (the probability the module states).
    #[test]
    fn a_slot_keeps_eighty_bits() {
        let mut t = IdTable::with_capacity(4);
        let a = IdHash([7, 3]);
        let b = IdHash([7, 3 | (1 << 20)]);
        assert_eq!(t.upsert(a, 1).0, None);
        assert_eq!(t.upsert(b, 1).0, Some(1));
        assert_ne!(t.upsert(IdHash([7, 4]), 1).0, Some(1));
    }

    #[test]
    fn the_zero_id_is_an_ordinary_member() {
        let mut t = IdTable::with_capacity(4);
        let zero = IdHash([0, 0]);
        assert!(!t.contains(&zero));
        assert_eq!(t.upsert(zero, 5).0, None);
        let (old, held) = t.upsert(zero, 6);
        assert_eq!(old, Some(5));
        t.set_link(held, 9);
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove_stamped(&zero, 5), None);
        assert_eq!(t.remove_stamped(&zero, 6), Some(9));
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
            let (old, held) = t.upsert(*id, (i % 7) as u16 + 65_000);
            assert_eq!(old, None);
            t.set_link(held, u32::MAX - i as u32);
        }
        assert_eq!(t.len(), ids.len());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.stamp(id), Some((i % 7) as u16 + 65_000));
            assert_eq!(t.held(id).map(|h| t.link(h)), Some(u32::MAX - i as u32));
        }
        assert!((t.mask + 1) * 3 >= t.len() * 4);
        for id in ids.iter().step_by(2) {
            assert!(t.remove(id));
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(t.contains(id), i % 2 == 1, "{i}");
        }
    }

    /// Issue 30, 3: ids an outsider crafted so that their XXH3 hashes share
    /// their low bits (the regression set: found by brute force, as an
    /// attacker would). With the home taken from those bits they formed
    /// one probe run as long as their number; keyed, they spread.
    #[test]
    fn crafted_colliding_ids_do_not_make_long_probe_runs() {
        let mut crafted = Vec::new();
        let mut n = 0u64;
        while crafted.len() < 3000 {
            let text = format!("evil-{n}");
            let id = IdHash::of(&text);
            if id.0[0] & 0x3FF == 0x2A5 {
                crafted.push(id);
            }
            n += 1;
        }
        let mut t = IdTable::with_capacity(4000);
        for id in &crafted {
            assert_eq!(t.upsert(*id, 1).0, None);
        }
        // What the unkeyed home made of them: one run of all of them.
        let slots = t.mask + 1;
        let unkeyed_homes: std::collections::HashSet<usize> = crafted
            .iter()
            .map(|id| id.0[0] as usize & (slots - 1))
            .collect();
        assert!(
            unkeyed_homes.len() <= slots >> 10,
            "the set collides unkeyed"
        );
        assert!(
            t.longest_probe() < 64,
            "longest probe {}",
            t.longest_probe()
        );
        for id in &crafted {
            assert!(t.contains(id));
        }
    }

    #[test]
    fn each_table_draws_its_own_key() {
        let a = IdTable::with_capacity(10);
        let b = IdTable::with_capacity(10);
        assert_ne!(a.key(), b.key());
    }

    /// A probe run past MAX_PROBE rebuilds under a new key, keeping every id.
    #[test]
    fn a_run_past_the_bound_rekeys() {
        let mut t = IdTable::with_capacity(8000);
        // Ids placed by hand into one run under the current key: each one's
        // first word chosen so that its home is slot 0.
        let key = t.key();
        let mut ids = Vec::new();
        let mut x = 0u64;
        while ids.len() < MAX_PROBE + 50 {
            x += 1;
            let id = [x, 7];
            if t.home(id) == 0 {
                ids.push(IdHash(id));
            }
        }
        for id in &ids {
            t.upsert(*id, 3);
        }
        assert_ne!(t.key(), key, "the table was rekeyed");
        assert!(t.longest_probe() < 64);
        for id in &ids {
            assert_eq!(t.stamp(id), Some(3));
        }
    }
}
