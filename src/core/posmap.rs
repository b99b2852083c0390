//! `PosMap`: what a replica keeps per log position (its committed log,
//! acceptor slots, the positions it proposes at) as a sorted `VecDeque` of
//! `(position, state)`, with the part of `BTreeMap`'s interface it uses.
//!
//! Why not a `BTreeMap`: in the steady state positions arrive in order at
//! the back and leave in order at the front, and the map holds only the
//! window in flight. A `BTreeMap` allocates a node when it stops being
//! empty and frees it when it becomes empty again — per decided position,
//! on every node — and walks nodes for each lookup (and the log, which only
//! grows at its end, pays a node walk per commit); a ring keeps its
//! capacity, appends and pops in O(1) and finds a position by binary search
//! over contiguous memory. Positions that arrive out of order (a Byzantine
//! proposer, recovery after phase 1) still land in sorted place, at the cost
//! of a shift, so every operation stays correct for any positions at all.
//!
//! It orders, compares, hashes and (de)serializes as the map it replaces
//! would, so replicas stay comparable states for the model checker.

use crate::core::types::Pos;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::{Bound, RangeBounds};

/// Positions to state, sorted by position (see the module docs).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PosMap<V> {
    items: VecDeque<(Pos, V)>,
}

impl<V> Default for PosMap<V> {
    fn default() -> Self {
        PosMap {
            items: VecDeque::new(),
        }
    }
}

impl<V> PosMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where `pos` is, or where it would go.
    fn find(&self, pos: Pos) -> Result<usize, usize> {
        match self.items.back() {
            None => return Err(0),
            Some(&(last, _)) if pos > last => return Err(self.items.len()),
            Some(&(last, _)) if pos == last => return Ok(self.items.len() - 1),
            _ => {}
        }
        match self.items.front() {
            Some(&(first, _)) if pos == first => Ok(0),
            Some(&(first, _)) if pos < first => Err(0),
            _ => self.items.binary_search_by_key(&pos, |(p, _)| *p),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn get(&self, pos: &Pos) -> Option<&V> {
        self.find(*pos).ok().map(|i| &self.items[i].1)
    }

    pub fn get_mut(&mut self, pos: &Pos) -> Option<&mut V> {
        self.find(*pos).ok().map(|i| &mut self.items[i].1)
    }

    pub fn contains_key(&self, pos: &Pos) -> bool {
        self.find(*pos).is_ok()
    }

    /// Put `value` at `pos`; what was there before, if anything.
    pub fn insert(&mut self, pos: Pos, value: V) -> Option<V> {
        match self.find(pos) {
            Ok(i) => Some(std::mem::replace(&mut self.items[i].1, value)),
            Err(i) if i == self.items.len() => {
                self.items.push_back((pos, value));
                None
            }
            Err(i) => {
                self.items.insert(i, (pos, value));
                None
            }
        }
    }

    /// The state at `pos`, made with `make` if there was none.
    pub fn get_or_insert_with(&mut self, pos: Pos, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(pos) {
            Ok(i) => i,
            Err(i) if i == self.items.len() => {
                self.items.push_back((pos, make()));
                i
            }
            Err(i) => {
                self.items.insert(i, (pos, make()));
                i
            }
        };
        &mut self.items[i].1
    }

    pub fn remove(&mut self, pos: &Pos) -> Option<V> {
        let i = self.find(*pos).ok()?;
        let (_, v) = if i == 0 {
            self.items.pop_front()?
        } else {
            self.items.remove(i)?
        };
        Some(v)
    }

    /// Everything from `pos` on, leaving what lies below it here.
    pub fn split_off(&mut self, pos: &Pos) -> Self {
        let at = self.items.partition_point(|(p, _)| p < pos);
        PosMap {
            items: self.items.split_off(at),
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Pos, &V)> {
        self.items.iter().map(|(p, v)| (p, v))
    }

    /// The positions `bounds` covers, in order (as `BTreeMap::range`).
    pub fn range(
        &self,
        bounds: impl RangeBounds<Pos>,
    ) -> impl DoubleEndedIterator<Item = (&Pos, &V)> {
        let start = match bounds.start_bound() {
            Bound::Included(&s) => self.items.partition_point(|(p, _)| *p < s),
            Bound::Excluded(&s) => self.items.partition_point(|(p, _)| *p <= s),
            Bound::Unbounded => 0,
        };
        let end = match bounds.end_bound() {
            Bound::Included(&e) => self.items.partition_point(|(p, _)| *p <= e),
            Bound::Excluded(&e) => self.items.partition_point(|(p, _)| *p < e),
            Bound::Unbounded => self.items.len(),
        };
        self.items.range(start..end.max(start)).map(|(p, v)| (p, v))
    }

    /// The first and the last entry.
    pub fn first_key_value(&self) -> Option<(&Pos, &V)> {
        self.items.front().map(|(p, v)| (p, v))
    }

    pub fn last_key_value(&self) -> Option<(&Pos, &V)> {
        self.items.back().map(|(p, v)| (p, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Pos> {
        self.items.iter().map(|(p, _)| p)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.items.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> {
        self.items.iter_mut().map(|(_, v)| v)
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> {
        self.items.into_iter().map(|(_, v)| v)
    }
}

impl<V: Default> PosMap<V> {
    /// The state at `pos`, a default one if there was none.
    pub fn get_or_default(&mut self, pos: Pos) -> &mut V {
        self.get_or_insert_with(pos, V::default)
    }
}

impl<V> std::ops::Index<&Pos> for PosMap<V> {
    type Output = V;

    fn index(&self, pos: &Pos) -> &V {
        self.get(pos).expect("no state at this position")
    }
}

impl<V> FromIterator<(Pos, V)> for PosMap<V> {
    /// Any order, duplicates keep the last (as collecting a map does).
    fn from_iter<I: IntoIterator<Item = (Pos, V)>>(iter: I) -> Self {
        let mut map = PosMap::new();
        for (p, v) in iter {
            map.insert(p, v);
        }
        map
    }
}

impl<V> Extend<(Pos, V)> for PosMap<V> {
    fn extend<I: IntoIterator<Item = (Pos, V)>>(&mut self, iter: I) {
        for (p, v) in iter {
            self.insert(p, v);
        }
    }
}

impl<V: Clone> PosMap<V> {
    /// The same entries as a `BTreeMap` (what [`crate::core::Durable`] holds).
    pub fn to_btree(&self) -> BTreeMap<Pos, V> {
        self.iter().map(|(p, v)| (*p, v.clone())).collect()
    }
}

impl<V: PartialEq> PartialEq<BTreeMap<Pos, V>> for PosMap<V> {
    fn eq(&self, other: &BTreeMap<Pos, V>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V> IntoIterator for PosMap<V> {
    type Item = (Pos, V);
    type IntoIter = std::collections::vec_deque::IntoIter<(Pos, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a PosMap<V> {
    type Item = (&'a Pos, &'a V);
    type IntoIter = std::iter::Map<
        std::collections::vec_deque::Iter<'a, (Pos, V)>,
        fn(&'a (Pos, V)) -> (&'a Pos, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().map(|(p, v)| (p, v))
    }
}

impl<V: fmt::Debug> fmt::Debug for PosMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Serialize> Serialize for PosMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for PosMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::<Pos, V>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever order positions come and go in, the map holds what a
    /// `BTreeMap` would, in the same order.
    #[test]
    fn it_behaves_as_a_btreemap_for_any_order() {
        let mut map = PosMap::new();
        let mut model = BTreeMap::new();
        // A deterministic scramble of inserts and removals, in order and not.
        let mut x: u64 = 7;
        for step in 0..2000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pos = if step.is_multiple_of(3) {
                (x >> 33) % 50
            } else {
                step / 2
            };
            if (x >> 20).is_multiple_of(4) {
                assert_eq!(map.remove(&pos), model.remove(&pos));
            } else {
                assert_eq!(map.insert(pos, step), model.insert(pos, step));
            }
            assert_eq!(map.len(), model.len());
            assert_eq!(map.get(&pos), model.get(&pos));
        }
        assert!(map.iter().eq(model.iter()));
        assert!(map.range(40..).eq(model.range(40..)));
        assert!(map.range(10..=30).eq(model.range(10..=30)));
        assert!(map.range(..7).eq(model.range(..7)));
        assert_eq!(map.to_btree(), model);
        let high = map.split_off(&500);
        let model_high = model.split_off(&500);
        assert!(high.iter().eq(model_high.iter()));
        assert!(map.iter().eq(model.iter()));
    }

    #[test]
    fn it_serializes_and_prints_as_a_map() {
        let mut map: PosMap<u32> = [(3, 30), (1, 10)].into_iter().collect();
        let model: BTreeMap<Pos, u32> = [(3, 30), (1, 10)].into_iter().collect();
        let json = serde_json::to_string(&map).expect("serializes");
        assert_eq!(json, serde_json::to_string(&model).expect("serializes"));
        let back: PosMap<u32> = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, map);
        assert_eq!(format!("{map:?}"), format!("{model:?}"));
        assert_eq!(*map.get_or_default(2), 0);
    }
}
