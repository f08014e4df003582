//! The trace buffer: live traces sharded by trace id, each shard behind its own lock, with a
//! timer wheel per shard (never a scan) and the decision cache for late spans.
//!
//! Decisions are taken under the shard lock (rule evaluation is cheap), so a span arriving at
//! the same moment either joins the live trace or follows the cached verdict, never both.

pub mod cache;
mod shard;
mod wheel;

use crate::decide::{Decider, Verdict};
use crate::otlp::{Span, TraceId};
use shard::Shard;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Decides a trace from its spans.
pub trait Judge {
    fn judge(&self, id: &TraceId, spans: &[Span], now: Instant) -> Verdict;
}

impl<D: Decider + ?Sized> Judge for D {
    fn judge(&self, id: &TraceId, spans: &[Span], now: Instant) -> Verdict {
        self.decide(id, spans, now)
    }
}

/// Buffer limits and waits.
#[derive(Debug, Clone)]
pub struct BufferConfig {
    pub decision_wait: Duration,
    pub root_wait: Duration,
    pub max_spans_per_trace: usize,
    /// Granularity of deadlines (the decision ticker's period).
    pub tick: Duration,
    pub max_traces: usize,
    pub max_bytes: u64,
    pub shards: usize,
    pub cache_kept: usize,
    pub cache_dropped: usize,
}

impl BufferConfig {
    pub fn from_config(s: &crate::config::Sampling) -> Self {
        BufferConfig {
            decision_wait: s.decision_wait.get(),
            root_wait: s.root_wait.get(),
            max_spans_per_trace: s.max_spans_per_trace,
            tick: s.tick.get(),
            max_traces: s.max_traces,
            max_bytes: s.max_buffer_bytes.get(),
            shards: s.shards.max(1),
            cache_kept: s.decision_cache.kept,
            cache_dropped: s.decision_cache.dropped,
        }
    }
}

/// A decided trace's spans, with when it started and when it was due.
#[derive(Debug)]
pub struct Trace {
    pub spans: Vec<Span>,
    /// When its first span arrived.
    pub first: Instant,
    deadline: Instant,
}

impl Trace {
    /// When the trace was due (its wait ended), as last computed.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Why a trace was decided when it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its wait ended.
    Due,
    MaxSpansPerTrace,
    MaxTraces,
    MaxBufferBytes,
    Shutdown,
    /// A peer instance decided the trace (`crate::cluster`), so this instance decides its part.
    Peer,
}

impl Reason {
    /// The metric label for early decisions (`None` for [`Reason::Due`]).
    pub fn early_label(self) -> Option<&'static str> {
        match self {
            Reason::Due => None,
            Reason::MaxSpansPerTrace => Some("max_spans_per_trace"),
            Reason::MaxTraces => Some("max_traces"),
            Reason::MaxBufferBytes => Some("max_buffer_bytes"),
            Reason::Shutdown => Some("shutdown"),
            Reason::Peer => Some("peer_decided"),
        }
    }
}

/// A trace that has just been decided.
#[derive(Debug)]
pub struct Decided {
    pub trace_id: TraceId,
    pub trace: Trace,
    pub verdict: Verdict,
    pub reason: Reason,
}

/// What an operation on the buffer produced, to be acted on outside its locks.
#[derive(Debug, Default)]
pub struct Output {
    pub decided: Vec<Decided>,
    /// Late spans of traces already kept, with the verdict that kept them.
    pub late_kept: Vec<(Verdict, Span)>,
    /// Late spans of traces already dropped.
    pub late_dropped: usize,
    /// Of those, the spans with status error (a stage that failed after its trace was dropped).
    pub late_dropped_errors: usize,
    /// The first such error span, with its trace id, for the warning that reports them.
    pub late_dropped_error_example: Option<(TraceId, Span)>,
}

impl Output {
    /// Counts the error spans among `spans`, late spans of the dropped trace `id` (consumed).
    pub(crate) fn note_late_dropped_errors(
        &mut self,
        id: TraceId,
        spans: impl Iterator<Item = Span>,
    ) {
        for s in spans.filter(|s| s.status == crate::otlp::model::status::ERROR) {
            if self.late_dropped_error_example.is_none() {
                self.late_dropped_error_example = Some((id, s));
            }
            self.late_dropped_errors += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.decided.is_empty() && self.late_kept.is_empty() && self.late_dropped == 0
    }
}

/// Totals across shards.
#[derive(Debug, Default)]
struct Totals {
    traces: AtomicI64,
    spans: AtomicI64,
    bytes: AtomicI64,
}

/// Counts of what the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub traces: u64,
    pub spans: u64,
    pub bytes: u64,
}

pub struct Buffer {
    shards: Box<[Mutex<Shard>]>,
    cfg: BufferConfig,
    totals: Totals,
    /// Next shard to take an early decision from when the buffer is over a limit.
    cursor: AtomicUsize,
}

/// Shard of a trace id. Ids are random, so a few bytes spread them evenly.
#[inline]
fn shard_of(id: &TraceId, n: usize) -> usize {
    let x = u64::from_le_bytes(id[8..16].try_into().expect("8 bytes"))
        ^ u64::from_le_bytes(id[0..8].try_into().expect("8 bytes"));
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % n
}

impl Buffer {
    pub fn new(cfg: BufferConfig) -> Self {
        let n = cfg.shards.max(1);
        let per = |total: usize| total.div_ceil(n);
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard::new(shard::Limits {
                    decision_wait: cfg.decision_wait,
                    root_wait: cfg.root_wait,
                    max_spans_per_trace: cfg.max_spans_per_trace.max(1),
                    tick: cfg.tick,
                    cache_kept: per(cfg.cache_kept),
                    cache_dropped: per(cfg.cache_dropped),
                }))
            })
            .collect();
        Buffer {
            shards,
            cfg,
            totals: Totals::default(),
            cursor: AtomicUsize::new(0),
        }
    }

    pub fn config(&self) -> &BufferConfig {
        &self.cfg
    }

    fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, Shard> {
        // A panic while holding a shard lock cannot leave the shard inconsistent in a way that
        // matters more than losing the daemon, so a poisoned lock is taken over.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn account(&self, d: shard::Delta) {
        self.totals.traces.fetch_add(d.traces, Ordering::Relaxed);
        self.totals.spans.fetch_add(d.spans, Ordering::Relaxed);
        self.totals.bytes.fetch_add(d.bytes, Ordering::Relaxed);
    }

    /// Adds the spans of one request. Spans of decided traces are late and follow the cached
    /// verdict; traces that reach a limit are decided early. Results go into `out`.
    pub fn insert(
        &self,
        mut spans: Vec<(TraceId, Span)>,
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) {
        let n = self.shards.len();
        // Group by shard (one lock per shard) and by trace (one lookup per trace).
        spans.sort_by_cached_key(|(id, _)| (shard_of(id, n), *id));
        // Each run of one trace id goes to its shard straight from the request's list: the
        // remaining slice gives the run's length, so no list of runs or per-trace list is built.
        // The totals are updated once for the whole request, before the limits are checked.
        let mut it = spans.into_iter();
        let mut delta = shard::Delta::default();
        while let Some(&(first, _)) = it.as_slice().first() {
            let si = shard_of(&first, n);
            let mut shard = self.lock(si);
            while let Some(&(id, _)) = it.as_slice().first() {
                if id != first && shard_of(&id, n) != si {
                    break;
                }
                let len = it.as_slice().iter().take_while(|(x, _)| *x == id).count();
                let group = it.by_ref().take(len).map(|(_, s)| s);
                delta += shard.insert(id, group, len, now, judge, out);
            }
        }
        self.account(delta);
        self.enforce_limits(now, judge, out);
    }

    /// Which limit the whole buffer is over, if any.
    fn over_limit(&self) -> Option<Reason> {
        let s = self.stats();
        if s.traces > self.cfg.max_traces as u64 {
            Some(Reason::MaxTraces)
        } else if s.bytes > self.cfg.max_bytes {
            Some(Reason::MaxBufferBytes)
        } else {
            None
        }
    }

    /// While the buffer is over `max_traces` or `max_bytes`, decides early the trace closest to
    /// its deadline in each shard in turn (trace ids spread evenly, so this approximates the
    /// oldest traces overall). Limits apply to the whole buffer, not to a shard's share.
    fn enforce_limits(&self, now: Instant, judge: &(impl Judge + ?Sized), out: &mut Output) {
        let n = self.shards.len();
        let mut empty = 0;
        while let Some(reason) = self.over_limit() {
            let i = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
            let decided = self.lock(i).decide_earliest(reason, now, judge, out);
            match decided {
                Some(delta) => {
                    self.account(delta);
                    empty = 0;
                }
                None => {
                    empty += 1;
                    if empty >= n {
                        return;
                    }
                }
            }
        }
    }

    /// Decides every trace whose deadline has passed.
    pub fn take_due(&self, now: Instant, judge: &(impl Judge + ?Sized), out: &mut Output) {
        for i in 0..self.shards.len() {
            let mut shard = self.lock(i);
            if !shard.has_due(now) {
                continue;
            }
            let delta = shard.take_due(now, judge, out);
            drop(shard);
            self.account(delta);
        }
    }

    /// Decides every live trace now (shutdown).
    pub fn drain(&self, now: Instant, judge: &(impl Judge + ?Sized), out: &mut Output) {
        for i in 0..self.shards.len() {
            let delta = self.lock(i).drain(now, judge, out);
            self.account(delta);
        }
    }

    /// Puts a decision taken before a restart (read from the storage log) into the cache.
    pub fn restore_decision(&self, id: TraceId, v: Verdict) {
        self.lock(shard_of(&id, self.shards.len())).remember(id, v);
    }

    /// Per part of the decision cache (each shard's kept and dropped cache): the decisions it
    /// has taken in so far, and how many it holds at most (see [`cache::DecisionCache::turnover`]).
    pub fn cache_turnover(&self) -> Vec<(u64, u64)> {
        (0..self.shards.len())
            .flat_map(|i| self.lock(i).cache_turnover())
            .collect()
    }

    /// Whether the decision cache remembers trace `id` as kept (`keep`) or dropped.
    pub fn remembers(&self, id: &TraceId, keep: bool) -> bool {
        self.lock(shard_of(id, self.shards.len()))
            .remembers(id, keep)
    }

    /// Visits every buffered span, one shard at a time under its lock (a config reload
    /// re-reads their attributes for the new rules).
    pub fn for_each_span_mut(&self, mut f: impl FnMut(&mut Span)) {
        for i in 0..self.shards.len() {
            self.lock(i).for_each_span_mut(&mut f);
        }
    }

    /// Decides now those of `ids` that are live (a peer decided them: `crate::cluster`).
    pub fn decide_now(
        &self,
        ids: &[TraceId],
        now: Instant,
        judge: &(impl Judge + ?Sized),
        out: &mut Output,
    ) {
        let n = self.shards.len();
        for id in ids {
            let delta = self.lock(shard_of(id, n)).decide_id(*id, now, judge, out);
            self.account(delta);
        }
    }

    /// Makes late spans of `id` follow `v` from now on (the group's verdict replaced the one
    /// this instance reached alone: `crate::cluster`).
    pub fn remember(&self, id: TraceId, v: Verdict) {
        self.lock(shard_of(&id, self.shards.len())).remember(id, v);
    }

    /// The earliest deadline of any live trace.
    pub fn next_deadline(&self) -> Option<Instant> {
        (0..self.shards.len())
            .filter_map(|i| self.lock(i).next_deadline())
            .min()
    }

    pub fn stats(&self) -> Stats {
        let get = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0) as u64;
        Stats {
            traces: get(&self.totals.traces),
            spans: get(&self.totals.spans),
            bytes: get(&self.totals.bytes),
        }
    }
}

#[cfg(test)]
mod tests;
