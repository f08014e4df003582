//! What the group knows of each trace: traces this instance decided and holds while peers may
//! still override them, peers' verdicts heard before this instance decided, and the verdicts
//! it applied (to tell a split). Combination: the verdict with the lowest
//! [`Standing::rank`](crate::decide::Standing) wins; at one rank a keep beats a drop, then the
//! lower sampling threshold (more kept) wins, so every instance that heard the same verdicts
//! picks the same one.

use crate::buffer::cache::DecisionCache;
use crate::buffer::Decided;
use crate::decide::{Decider, Verdict};
use crate::otlp::TraceId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use tokio::time::Instant;

/// Whether `a` wins over `b` when combined.
pub fn beats(d: &dyn Decider, a: Verdict, b: Verdict) -> bool {
    let key = |v: Verdict| (d.standing(v).rank, !v.keep, v.threshold);
    key(a) < key(b)
}

/// A trace decided here, waiting for peers until `until`.
#[derive(Debug)]
struct Held {
    decided: Decided,
    best: Verdict,
    until: Instant,
}

/// What a peer's verdict did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// It now leads for a trace held here.
    Held,
    /// It arrived after this instance released the trace under a different verdict.
    Split,
    /// Remembered for when this instance decides the trace.
    Noted,
    /// Nothing: no better than what is known.
    None,
}

#[derive(Debug)]
pub struct State {
    held: HashMap<TraceId, Held>,
    /// Release times of held traces (entries whose trace left early are skipped).
    due: BinaryHeap<Reverse<(Instant, TraceId)>>,
    /// Held traces whose best verdict became final: released at the next settle.
    ready: Vec<TraceId>,
    /// Peers' best verdicts on traces not decided here (yet).
    heard: DecisionCache,
    /// The verdicts applied here, for the split check.
    applied: DecisionCache,
    /// Traces peers decided: this instance decides its part now.
    pub decide_now: Vec<TraceId>,
    /// Verdicts late spans must follow instead of the one reached alone.
    pub overrides: Vec<(TraceId, Verdict)>,
}

impl State {
    /// `remember`: how many traces' verdicts are kept (heard and applied, each).
    pub fn new(remember: usize) -> Self {
        State {
            held: HashMap::new(),
            due: BinaryHeap::new(),
            ready: Vec::new(),
            heard: DecisionCache::new(remember),
            applied: DecisionCache::new(remember),
            decide_now: Vec::new(),
            overrides: Vec::new(),
        }
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes a trace this instance just decided: combined with what peers said, it is
    /// released into `out` when final, else held until `until`.
    pub fn decided(
        &mut self,
        d: &dyn Decider,
        mut decided: Decided,
        alone: bool,
        until: Instant,
        out: &mut Vec<Decided>,
    ) {
        let id = decided.trace_id;
        let mut best = decided.verdict;
        if let Some(p) = self.heard.remove(&id) {
            if beats(d, p, best) {
                best = p;
            }
        }
        if alone || d.standing(best).final_alone {
            decided.verdict = self.apply(id, decided.verdict, best);
            out.push(decided);
        } else {
            self.due.push(Reverse((until, id)));
            self.held.insert(
                id,
                Held {
                    decided,
                    best,
                    until,
                },
            );
        }
    }

    /// Records `best` as applied to `id` (decided `local` here); returns it.
    fn apply(&mut self, id: TraceId, local: Verdict, best: Verdict) -> Verdict {
        if best != local {
            self.overrides.push((id, best));
        }
        self.applied.insert(id, best);
        best
    }

    /// A peer's verdict on `id`.
    pub fn peer(&mut self, d: &dyn Decider, id: TraceId, v: Verdict) -> Effect {
        if let Some(h) = self.held.get_mut(&id) {
            if !beats(d, v, h.best) {
                return Effect::None;
            }
            h.best = v;
            if d.standing(v).final_alone {
                self.ready.push(id);
            }
            return Effect::Held;
        }
        if let Some(applied) = self.applied.get(&id) {
            if beats(d, v, applied) && (v.keep != applied.keep || v.rule != applied.rule) {
                self.applied.insert(id, v);
                self.overrides.push((id, v));
                return Effect::Split;
            }
            return Effect::None;
        }
        match self.heard.get(&id) {
            Some(p) if !beats(d, v, p) => Effect::None,
            _ => {
                self.heard.insert(id, v);
                self.decide_now.push(id);
                Effect::Noted
            }
        }
    }

    /// Moves held traces that are final, or whose wait ended by `now`, into `out`.
    pub fn release(&mut self, now: Instant, out: &mut Vec<Decided>) {
        for id in std::mem::take(&mut self.ready) {
            self.release_one(id, out);
        }
        while let Some(Reverse((until, id))) = self.due.peek().copied() {
            if until > now {
                break;
            }
            self.due.pop();
            if self.held.get(&id).is_some_and(|h| h.until == until) {
                self.release_one(id, out);
            }
        }
    }

    /// Releases every held trace now (the bus went down, or this instance is stopping).
    pub fn release_all(&mut self, out: &mut Vec<Decided>) {
        let ids: Vec<TraceId> = self.held.keys().copied().collect();
        for id in ids {
            self.release_one(id, out);
        }
        self.due.clear();
    }

    fn release_one(&mut self, id: TraceId, out: &mut Vec<Decided>) {
        if let Some(mut h) = self.held.remove(&id) {
            h.decided.verdict = self.apply(id, h.decided.verdict, h.best);
            out.push(h.decided);
        }
    }
}
