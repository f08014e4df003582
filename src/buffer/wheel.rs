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
    }

    /// Whether any slot up to `now` is waiting to be looked at.
    pub fn has_due(&self, now: Instant) -> bool {
        self.cursor <= self.slot_of(now)
            && (self.cursor..=self.slot_of(now).min(self.cursor + self.slots.len() as u64))
                .any(|s| !self.slots[self.index(s)].is_empty())
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
        }
        // The current slot may get entries again (deadlines later in this tick).
        self.cursor = last;
    }

    /// Removes and returns the entry of the earliest slot that names a live trace (entries of
    /// traces no longer live are discarded on the way), for deciding early under pressure.
    pub fn pop_earliest(&mut self, is_live: impl Fn(&TraceId) -> bool) -> Option<TraceId> {
        for k in 0..self.slots.len() as u64 {
            let i = self.index(self.cursor + k);
            while let Some(id) = self.slots[i].pop() {
                if is_live(&id) {
                    return Some(id);
                }
            }
        }
        None
    }

    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.clear();
        }
    }
}
