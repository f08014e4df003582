//! A timer wheel of trace deadlines: one slot per tick, a ring long enough for the decision
//! wait. Pushing is O(1) and finding due traces touches only the slots that came due, so the
//! cost per trace does not grow with the number of live traces (a heap's does, by log n).
//!
//! An entry only says "look at this trace around then": the trace's own deadline is the truth.
//! A trace whose deadline moved later is put back in its new slot when its old one comes due.

use crate::otlp::TraceId;
use std::time::Duration;
use tokio::time::Instant;

pub(super) struct Wheel {
    origin: Instant,
    tick: Duration,
    slots: Box<[Vec<TraceId>]>,
    /// One bit per slot, set while the slot holds entries: finding the earliest entry for an
    /// early decision skips empty slots 64 at a time.
    occupied: Box<[u64]>,
    /// Absolute index of the first slot not yet fully processed.
    cursor: u64,
}

impl Wheel {
    /// A wheel with slots of `tick` covering at least `span` ahead.
    pub fn new(origin: Instant, tick: Duration, span: Duration) -> Self {
        let tick = tick.max(Duration::from_micros(100));
        let n = (span.as_nanos() / tick.as_nanos()).clamp(1, 1 << 16) as usize + 2;
        Wheel {
            origin,
            tick,
            slots: (0..n).map(|_| Vec::new()).collect(),
            occupied: vec![0; n.div_ceil(64)].into_boxed_slice(),
            cursor: 0,
        }
    }

    /// Absolute slot of an instant: the slot whose tick contains it.
    fn slot_of(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.origin).as_nanos() / self.tick.as_nanos()) as u64
    }

    fn index(&self, abs: u64) -> usize {
        (abs % self.slots.len() as u64) as usize
    }

    /// Files `id` under its deadline (past deadlines go to the current slot). A deadline beyond
    /// the ring lands in an earlier lap's slot and is simply put back when that slot comes up.
    pub fn push(&mut self, deadline: Instant, id: TraceId) {
        let abs = self.slot_of(deadline).max(self.cursor);
        let i = self.index(abs);
        self.slots[i].push(id);
        self.occupied[i / 64] |= 1 << (i % 64);
    }

    fn emptied(&mut self, i: usize) {
        self.occupied[i / 64] &= !(1 << (i % 64));
    }

    /// The first occupied slot index at or after ring index `from`, wrapping around.
    fn next_occupied(&self, from: usize) -> Option<usize> {
        let n = self.slots.len();
        let words = self.occupied.len();
        let (w0, b0) = (from / 64, from % 64);
        let first = self.occupied[w0] & (!0u64 << b0);
        if first != 0 {
            return Some(w0 * 64 + first.trailing_zeros() as usize).filter(|&i| i < n);
        }
        for k in 1..=words {
            let w = (w0 + k) % words;
            let mut bits = self.occupied[w];
            if w == w0 {
                bits &= !(!0u64 << b0);
            }
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
        }
        None
    }

    /// Whether any slot up to `now` is waiting to be looked at. The empty slots it passes are
    /// done with: the cursor moves past them, so each tick looks at the slots that came due
    /// since the last one, not at every slot since the wheel last held an entry.
    pub fn has_due(&mut self, now: Instant) -> bool {
        let last = self.slot_of(now);
        if self.cursor > last {
            return false;
        }
        // At most one lap: older laps' slots are the same slots.
        let end = last.min(self.cursor + self.slots.len() as u64 - 1);
        while self.cursor <= end {
            if !self.slots[self.index(self.cursor)].is_empty() {
                return true;
            }
            self.cursor += 1;
        }
        // Every slot up to `now` is empty; the current one may get entries again (deadlines
        // later in this tick), as after `take_due`.
        self.cursor = last;
        false
    }

    /// Takes the entries of every slot up to and including the one containing `now`. The
    /// caller decides the traces that are due and pushes the others back.
    pub fn take_due(&mut self, now: Instant, into: &mut Vec<TraceId>) {
        let last = self.slot_of(now);
        if self.cursor > last {
            return;
        }
        // At most one lap: older laps' slots are the same slots.
        let first = self
            .cursor
            .max(last.saturating_sub(self.slots.len() as u64 - 1));
        for s in first..=last {
            let i = self.index(s);
            into.append(&mut self.slots[i]);
            self.emptied(i);
        }
        // The current slot may get entries again (deadlines later in this tick).
        self.cursor = last;
    }

    /// Removes and returns the entry of the earliest slot that names a live trace (entries of
    /// traces no longer live are discarded on the way), for deciding early under pressure.
    pub fn pop_earliest(&mut self, is_live: impl Fn(&TraceId) -> bool) -> Option<TraceId> {
        let start = self.index(self.cursor);
        while let Some(i) = self.next_occupied(start) {
            while let Some(id) = self.slots[i].pop() {
                if is_live(&id) {
                    if self.slots[i].is_empty() {
                        self.emptied(i);
                    }
                    return Some(id);
                }
            }
            self.emptied(i);
        }
        None
    }

    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.clear();
        }
        self.occupied.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TraceId {
        [n; 16]
    }

    #[test]
    fn earliest_entry_comes_first_across_a_sparse_ring() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, Duration::from_millis(10), Duration::from_secs(600));
        w.push(t0 + Duration::from_secs(500), id(3));
        w.push(t0 + Duration::from_secs(7), id(2));
        w.push(t0 + Duration::from_millis(5), id(1));
        let live = |_: &TraceId| true;
        assert_eq!(w.pop_earliest(live), Some(id(1)));
        assert_eq!(w.pop_earliest(live), Some(id(2)));
        assert_eq!(w.pop_earliest(live), Some(id(3)));
        assert_eq!(w.pop_earliest(live), None);
        assert!(w.occupied.iter().all(|b| *b == 0));
    }

    #[test]
    fn dead_entries_are_skipped_and_slots_released() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, Duration::from_millis(10), Duration::from_secs(10));
        w.push(t0 + Duration::from_secs(1), id(1));
        w.push(t0 + Duration::from_secs(2), id(2));
        assert_eq!(w.pop_earliest(|i| *i == id(2)), Some(id(2)));
        assert_eq!(w.pop_earliest(|_| true), None, "id 1 was discarded as dead");
    }

    #[test]
    fn due_entries_are_taken_up_to_now() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, Duration::from_millis(10), Duration::from_secs(10));
        w.push(t0 + Duration::from_millis(15), id(1));
        w.push(t0 + Duration::from_millis(95), id(2));
        let mut got = Vec::new();
        assert!(!w.has_due(t0 + Duration::from_millis(5)));
        w.take_due(t0 + Duration::from_millis(20), &mut got);
        assert_eq!(got, vec![id(1)]);
        assert!(w.has_due(t0 + Duration::from_millis(95)));
        got.clear();
        w.take_due(t0 + Duration::from_millis(100), &mut got);
        assert_eq!(got, vec![id(2)]);
    }

    #[test]
    fn idle_ticks_move_the_cursor_and_later_entries_are_still_found() {
        let t0 = Instant::now();
        let tick = Duration::from_millis(10);
        let mut w = Wheel::new(t0, tick, Duration::from_secs(10));
        // A long idle stretch: the cursor follows the ticks over the empty slots.
        assert!(!w.has_due(t0 + Duration::from_secs(25)));
        assert_eq!(w.cursor, w.slot_of(t0 + Duration::from_secs(25)));
        assert!(!w.has_due(t0 + Duration::from_secs(26)));
        // A deadline already past lands in the current slot and is due at once.
        w.push(t0 + Duration::from_secs(1), id(1));
        // One ahead, in a slot the ring reaches after wrapping.
        w.push(t0 + Duration::from_secs(30), id(2));
        assert!(w.has_due(t0 + Duration::from_secs(26)));
        let mut got = Vec::new();
        w.take_due(t0 + Duration::from_secs(26), &mut got);
        assert_eq!(got, vec![id(1)]);
        assert!(!w.has_due(t0 + Duration::from_millis(29_990)));
        assert!(w.has_due(t0 + Duration::from_secs(30)));
        got.clear();
        w.take_due(t0 + Duration::from_secs(30), &mut got);
        assert_eq!(got, vec![id(2)]);
    }
}
