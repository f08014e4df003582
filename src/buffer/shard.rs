//! One buffer shard: its live traces, their deadline wheel, and its part of the decision cache.

use super::cache::DecisionCache;
use super::wheel::Wheel;
use super::{Decided, Judge, Output, Reason, Trace};
use crate::otlp::{Span, TraceId};
use hashbrown::HashMap;
use std::time::Duration;
use tokio::time::Instant;

pub(super) struct Limits {
    pub decision_wait: Duration,
    pub root_wait: Duration,
    pub max_spans_per_trace: usize,
    /// Granularity of the deadline wheel.
    pub tick: Duration,
    pub cache_kept: usize,
    pub cache_dropped: usize,
}

/// Change in what a shard holds, summed into the buffer's totals.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Delta {
    pub traces: i64,
    pub spans: i64,
    pub bytes: i64,
}

impl std::ops::AddAssign for Delta {
    fn add_assign(&mut self, o: Delta) {
        self.traces += o.traces;
        self.spans += o.spans;
        self.bytes += o.bytes;
    }
}

pub(super) struct Shard {
    limits: Limits,
    live: HashMap<TraceId, Trace>,
    /// Deadlines. An entry may be stale (trace gone, or its deadline moved later); stale
    /// entries are skipped or put back when their slot comes due.
    wheel: Wheel,
    /// Reused buffer for entries taken from the wheel.
    scratch: Vec<TraceId>,
    kept: DecisionCache,
    dropped: DecisionCache,
}

impl Shard {
    pub fn new(limits: Limits) -> Self {
        Shard {
            kept: DecisionCache::new(limits.cache_kept),
            dropped: DecisionCache::new(limits.cache_dropped),
            wheel: Wheel::new(Instant::now(), limits.tick, limits.decision_wait),
            limits,
            live: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds spans of one trace (all from one request). Spans of a decided trace are late and
    /// follow the cached verdict; a trace reaching `max_spans_per_trace` is decided at once and
    /// any spans beyond that follow its verdict.
    pub fn insert(
        &mut self,
        id: TraceId,
        mut group: Vec<Span>,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) -> Delta {
        let mut delta = Delta::default();
        while !group.is_empty() {
            let (max, decision_wait, root_wait) = (
                self.limits.max_spans_per_trace,
                self.limits.decision_wait,
                self.limits.root_wait,
            );
            let full = match self.live.get_mut(&id) {
                Some(t) => {
                    let room = max.saturating_sub(t.spans.len()).max(1);
                    let rest = group.split_off(room.min(group.len()));
                    for s in &group {
                        let held = s.held_bytes();
                        t.bytes += held;
                        t.has_root |= s.is_root;
                        delta.spans += 1;
                        delta.bytes += held as i64;
                    }
                    t.spans.append(&mut group);
                    t.last = now;
                    if t.has_root {
                        let d = (t.first + decision_wait).min(now + root_wait);
                        if d < t.deadline {
                            self.wheel.push(d, id);
                        }
                        t.deadline = d;
                    }
                    group = rest;
                    t.spans.len() >= max
                }
                None => {
                    if let Some(v) = self.kept.get(&id) {
                        out.late_kept.extend(group.drain(..).map(|s| (v, s)));
                        break;
                    }
                    if self.dropped.get(&id).is_some() {
                        out.late_dropped += group.len();
                        out.note_late_dropped_errors(id, &group);
                        break;
                    }
                    // A new trace: the group becomes its span storage.
                    let rest = group.split_off(max.min(group.len()));
                    let bytes: usize = group.iter().map(Span::held_bytes).sum();
                    let has_root = group.iter().any(|s| s.is_root);
                    let mut deadline = now + decision_wait;
                    if has_root {
                        deadline = deadline.min(now + root_wait);
                    }
                    delta.traces += 1;
                    delta.spans += group.len() as i64;
                    delta.bytes += bytes as i64;
                    let full = group.len() >= max;
                    self.live.insert(
                        id,
                        Trace {
                            spans: std::mem::replace(&mut group, rest),
                            first: now,
                            last: now,
                            has_root,
                            bytes,
                            deadline,
                        },
                    );
                    self.wheel.push(deadline, id);
                    full
                }
            };
            if full {
                delta += self.decide(id, Reason::MaxSpansPerTrace, now, judge, out);
            }
        }
        delta
    }

    /// Decides this shard's trace closest to its deadline now; `None` when the shard is empty.
    pub fn decide_earliest(
        &mut self,
        reason: Reason,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) -> Option<Delta> {
        let id = self.pop_live()?;
        Some(self.decide(id, reason, now, judge, out))
    }

    /// The live trace filed under the earliest deadline, taken out of the wheel.
    fn pop_live(&mut self) -> Option<TraceId> {
        let live = &self.live;
        self.wheel.pop_earliest(|id| live.contains_key(id))
    }

    pub fn for_each_span_mut(&mut self, f: &mut impl FnMut(&mut Span)) {
        self.live
            .values_mut()
            .flat_map(|t| t.spans.iter_mut())
            .for_each(f);
    }

    pub fn has_due(&self, now: Instant) -> bool {
        self.wheel.has_due(now)
    }

    /// The earliest deadline of a live trace (a scan: for tests and diagnostics).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.live.values().map(|t| t.deadline).min()
    }

    pub fn take_due(
        &mut self,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) -> Delta {
        let mut delta = Delta::default();
        let mut ids = std::mem::take(&mut self.scratch);
        self.wheel.take_due(now, &mut ids);
        for id in ids.drain(..) {
            let Some(trace) = self.live.get(&id) else {
                continue;
            };
            if trace.deadline <= now {
                delta += self.decide(id, Reason::Due, now, judge, out);
            } else {
                // Its deadline moved later, or lies later in the current tick.
                let d = trace.deadline;
                self.wheel.push(d, id);
            }
        }
        self.scratch = ids;
        delta
    }

    pub fn drain(
        &mut self,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) -> Delta {
        let mut delta = Delta::default();
        let ids: Vec<TraceId> = self.live.keys().copied().collect();
        for id in ids {
            delta += self.decide(id, Reason::Shutdown, now, judge, out);
        }
        self.wheel.clear();
        delta
    }

    /// Decides `id` now if it is live (see [`Reason::Peer`]).
    pub fn decide_id(
        &mut self,
        id: TraceId,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) -> Delta {
        self.decide(id, Reason::Peer, now, judge, out)
    }

    /// Files `v` as the verdict late spans of `id` follow.
    pub fn remember(&mut self, id: TraceId, v: crate::decide::Verdict) {
        if v.keep {
            self.dropped.remove(&id);
            self.kept.insert(id, v);
        } else {
            self.kept.remove(&id);
            self.dropped.insert(id, v);
        }
    }

    pub fn remembers(&self, id: &TraceId, keep: bool) -> bool {
        if keep {
            self.kept.get(id).is_some()
        } else {
            self.dropped.get(id).is_some()
        }
    }

    fn decide(
        &mut self,
        id: TraceId,
        reason: Reason,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) -> Delta {
        let Some(trace) = self.live.remove(&id) else {
            return Delta::default();
        };
        let verdict = judge.judge(&id, &trace.spans, now);
        if verdict.keep {
            self.kept.insert(id, verdict);
        } else {
            self.dropped.insert(id, verdict);
        }
        let delta = Delta {
            traces: -1,
            spans: -(trace.spans.len() as i64),
            bytes: -(trace.bytes as i64),
        };
        out.decided.push(Decided {
            trace_id: id,
            trace,
            verdict,
            reason,
        });
        delta
    }
}
