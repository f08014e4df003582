//! The decision cache: recently decided trace ids and their verdicts, so late spans follow
//! their trace. Bounded, oldest entries forgotten first.

use crate::decide::Verdict;
use crate::otlp::TraceId;
use hashbrown::HashMap;
use std::collections::VecDeque;

/// Remembers up to `capacity` trace ids with their verdicts (first in, first out).
#[derive(Debug)]
pub struct DecisionCache {
    capacity: usize,
    map: HashMap<TraceId, Verdict>,
    order: VecDeque<TraceId>,
    /// Trace ids taken in so far (once `capacity` more have come, every id held now is gone).
    inserted: u64,
}

impl DecisionCache {
    pub fn new(capacity: usize) -> Self {
        DecisionCache {
            capacity,
            map: HashMap::new(),
            order: VecDeque::new(),
            inserted: 0,
        }
    }

    #[inline]
    pub fn get(&self, id: &TraceId) -> Option<Verdict> {
        if self.capacity == 0 {
            return None;
        }
        self.map.get(id).copied()
    }

    pub fn insert(&mut self, id: TraceId, v: Verdict) {
        if self.capacity == 0 {
            return;
        }
        if self.map.insert(id, v).is_none() {
            self.inserted += 1;
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// Forgets `id` (its place in the eviction order is skipped when it comes up).
    pub fn remove(&mut self, id: &TraceId) -> Option<Verdict> {
        self.map.remove(id)
    }

    /// Trace ids taken in so far, and the capacity: every id held now is forgotten once the
    /// first has grown by the second (first in, first out; a decision replaced by a later one
    /// is logged again with it).
    pub fn turnover(&self) -> (u64, u64) {
        (self.inserted, self.capacity as u64)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(keep: bool) -> Verdict {
        Verdict::new(Some(1), keep)
    }

    #[test]
    fn forgets_oldest_first() {
        let mut c = DecisionCache::new(2);
        c.insert([1; 16], v(true));
        c.insert([2; 16], v(false));
        c.insert([3; 16], v(true));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&[1; 16]), None);
        assert_eq!(c.get(&[2; 16]), Some(v(false)));
        assert_eq!(c.get(&[3; 16]), Some(v(true)));
    }

    #[test]
    fn reinsert_does_not_duplicate() {
        let mut c = DecisionCache::new(2);
        c.insert([1; 16], v(true));
        c.insert([1; 16], v(true));
        c.insert([2; 16], v(true));
        assert_eq!(c.get(&[1; 16]), Some(v(true)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn zero_capacity_is_off() {
        let mut c = DecisionCache::new(0);
        c.insert([1; 16], v(true));
        assert!(c.get(&[1; 16]).is_none() && c.is_empty());
    }
}
