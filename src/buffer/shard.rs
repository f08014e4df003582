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

/// A live trace, as held: one of these (with its id) per live trace is the hash map's entry,
/// so it is kept small (40 bytes): times are nanoseconds from the shard's origin rather than
/// `Instant`s (16 bytes each), whether it has its root shares a word with its start, and its
/// bytes are summed again from its spans when it is decided.
#[derive(Debug)]
struct Live {
    spans: Vec<Span>,
    /// When its first span arrived (nanoseconds, shifted left by one), and in the low bit
    /// whether a root span has arrived. Nanoseconds up to 2^62 (146 years) either way fit.
    first_root: i64,
    deadline: Nanos,
}

impl Live {
    fn new(spans: Vec<Span>, first: Nanos, deadline: Nanos, has_root: bool) -> Live {
        Live {
            spans,
            first_root: (first << 1) | i64::from(has_root),
            deadline,
        }
    }
    fn first(&self) -> Nanos {
        self.first_root >> 1
    }
    fn has_root(&self) -> bool {
        self.first_root & 1 != 0
    }
    fn set_root(&mut self) {
        self.first_root |= 1;
    }
}

/// An instant as signed nanoseconds from the shard's origin (replayed traces start before it).
type Nanos = i64;

/// Saturates below ±2^62 ns (146 years), so that [`Live`] can shift it left by one.
fn to_nanos(origin: Instant, t: Instant) -> Nanos {
    const MAX: u128 = (1 << 62) - 1;
    match t.checked_duration_since(origin) {
        Some(d) => d.as_nanos().min(MAX) as i64,
        None => -(origin.duration_since(t).as_nanos().min(MAX) as i64),
    }
}

fn to_instant(origin: Instant, n: Nanos) -> Instant {
    let d = Duration::from_nanos(n.unsigned_abs());
    if n >= 0 {
        origin + d
    } else {
        origin.checked_sub(d).unwrap_or(origin)
    }
}

pub(super) struct Shard {
    limits: Limits,
    /// The instant times of live traces are counted from.
    origin: Instant,
    live: HashMap<TraceId, Live>,
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
        let origin = Instant::now();
        Shard {
            kept: DecisionCache::new(limits.cache_kept),
            dropped: DecisionCache::new(limits.cache_dropped),
            wheel: Wheel::new(origin, limits.tick, limits.decision_wait),
            origin,
            limits,
            live: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds the `len` spans `group` yields, of one trace (all from one request); `group` is
    /// consumed. Spans of a decided trace are late and follow the cached verdict; a trace
    /// reaching `max_spans_per_trace` is decided at once and any spans beyond that follow its
    /// verdict. A live trace's list takes the spans straight from `group`, and a new trace's
    /// list is made once at its size.
    pub fn insert(
        &mut self,
        id: TraceId,
        mut group: impl Iterator<Item = Span>,
        mut len: usize,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) -> Delta {
        let mut delta = Delta::default();
        let origin = self.origin;
        let ns = |t: Instant| to_nanos(origin, t);
        while len > 0 {
            let (max, decision_wait, root_wait) = (
                self.limits.max_spans_per_trace,
                self.limits.decision_wait,
                self.limits.root_wait,
            );
            let full = match self.live.get_mut(&id) {
                Some(t) => {
                    let room = max.saturating_sub(t.spans.len()).max(1);
                    let take = room.min(len);
                    len -= take;
                    t.spans.reserve(take);
                    for s in group.by_ref().take(take) {
                        if s.is_root() {
                            t.set_root();
                        }
                        delta.spans += 1;
                        delta.bytes += s.held_bytes() as i64;
                        t.spans.push(s);
                    }
                    if t.has_root() {
                        let first = to_instant(origin, t.first());
                        let d = (first + decision_wait).min(now + root_wait);
                        if ns(d) < t.deadline {
                            self.wheel.push(d, id);
                        }
                        t.deadline = ns(d);
                    }
                    t.spans.len() >= max
                }
                None => {
                    if let Some(v) = self.kept.get(&id) {
                        out.late_kept
                            .extend(group.by_ref().take(len).map(|s| (v, s)));
                        break;
                    }
                    if self.dropped.get(&id).is_some() {
                        out.late_dropped += len;
                        out.note_late_dropped_errors(id, group.by_ref().take(len));
                        break;
                    }
                    // A new trace: its span storage is made at the size it takes.
                    let take = max.min(len);
                    len -= take;
                    let mut spans = Vec::with_capacity(take);
                    spans.extend(group.by_ref().take(take));
                    let bytes: usize = spans.iter().map(Span::held_bytes).sum();
                    let has_root = spans.iter().any(Span::is_root);
                    let mut deadline = now + decision_wait;
                    if has_root {
                        deadline = deadline.min(now + root_wait);
                    }
                    delta.traces += 1;
                    delta.spans += spans.len() as i64;
                    delta.bytes += bytes as i64;
                    let full = spans.len() >= max;
                    self.live
                        .insert(id, Live::new(spans, ns(now), ns(deadline), has_root));
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

    pub fn has_due(&mut self, now: Instant) -> bool {
        self.wheel.has_due(now)
    }

    /// The earliest deadline of a live trace (a scan: for tests and diagnostics).
    pub fn next_deadline(&self) -> Option<Instant> {
        let d = self.live.values().map(|t| t.deadline).min()?;
        Some(to_instant(self.origin, d))
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
            let d = to_instant(self.origin, trace.deadline);
            if d <= now {
                delta += self.decide(id, Reason::Due, now, judge, out);
            } else {
                // Its deadline moved later, or lies later in the current tick.
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

    /// [`DecisionCache::turnover`] of the kept and the dropped cache.
    pub fn cache_turnover(&self) -> [(u64, u64); 2] {
        [self.kept.turnover(), self.dropped.turnover()]
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
        let Some(live) = self.live.remove(&id) else {
            return Delta::default();
        };
        let trace = Trace {
            first: to_instant(self.origin, live.first()),
            deadline: to_instant(self.origin, live.deadline),
            spans: live.spans,
        };
        let bytes: usize = trace.spans.iter().map(Span::held_bytes).sum();
        let verdict = judge.judge(&id, &trace.spans, now);
        if verdict.keep {
            self.kept.insert(id, verdict);
        } else {
            self.dropped.insert(id, verdict);
        }
        let delta = Delta {
            traces: -1,
            spans: -(trace.spans.len() as i64),
            bytes: -(bytes as i64),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory per buffered span is mostly these two sizes (README, "Memory and cost as the
    /// buffer grows"): a span's summary, and a live trace's hash map entry (one per trace, in a
    /// table that is between 44% and 87% full).
    #[test]
    fn a_buffered_span_and_a_live_trace_stay_small() {
        assert_eq!(std::mem::size_of::<Span>(), 32);
        assert_eq!(std::mem::size_of::<(TraceId, Live)>(), 56);
    }

    #[test]
    fn instants_before_and_after_the_origin_round_trip() {
        let origin = Instant::now();
        for t in [
            origin,
            origin + Duration::from_nanos(1),
            origin + Duration::from_secs(86_400 * 400),
            origin - Duration::from_millis(1),
        ] {
            assert_eq!(to_instant(origin, to_nanos(origin, t)), t);
        }
        assert!(to_nanos(origin, origin - Duration::from_secs(1)) < 0);
    }

    #[test]
    fn a_live_trace_keeps_its_start_and_root_flag_apart() {
        for first in [
            0,
            1,
            -1,
            123_456_789,
            -987_654_321,
            (1 << 62) - 1,
            1 - (1 << 62),
        ] {
            let mut t = Live::new(Vec::new(), first, 0, false);
            assert_eq!((t.first(), t.has_root()), (first, false));
            t.set_root();
            assert_eq!((t.first(), t.has_root()), (first, true));
            assert_eq!(Live::new(Vec::new(), first, 0, true).first(), first);
        }
    }
}
