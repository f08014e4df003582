//! The decision seam between the buffer and the engines that judge traces: [`Decider`], the
//! [`Verdict`] it returns and the [`Explanation`] of one decision. The ordered rules
//! (`crate::rules`) and the Collector-compatible policies (`crate::collector`) implement it;
//! the buffer, the pipeline, the output stage and `simulate` only see this trait.

pub mod explain;
pub mod versioned;

pub use explain::Explanation;

use crate::otlp::{Interest, Span, TraceId};
use crate::output::fidelity::Profile;
use bytes::Bytes;
use std::sync::Arc;
use tokio::time::Instant;

/// Rule name used in metrics when no rule matched.
pub const DEFAULT_RULE: &str = "_default";

/// The outcome of judging one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Index of the deciding rule or policy (see [`Decider::rule_names`]); `None` when no rule
    /// matched (the trace is kept).
    pub rule: Option<u16>,
    pub keep: bool,
    /// For traces kept by a probability below 1: the rejection threshold used (see
    /// `crate::sampler::probability`); 0 when the trace was kept outright.
    pub threshold: u64,
    /// Which loaded rule set took it (see [`versioned`]): 0 until the first config reload.
    /// A late span following a cached verdict is annotated and reduced by that rule set.
    pub generation: u16,
}

impl Verdict {
    /// A verdict without a sampling threshold.
    pub fn new(rule: Option<u16>, keep: bool) -> Self {
        Verdict {
            rule,
            keep,
            threshold: 0,
            generation: 0,
        }
    }
}

/// How one instance's verdict on its part of a trace takes part in combining the verdicts of
/// instances that each hold a part (`crate::cluster`): the lowest `rank` wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Lower wins: the earliest matching rule; for the Collector's policies, drop first.
    pub rank: u32,
    /// No peer's verdict can change this one: it is applied at once.
    pub final_alone: bool,
    /// A peer's own verdict could lose to this one, so peers must hear of it.
    pub share: bool,
}

/// Anything that decides traces: the ordered rule set, or the `tail_sampling` policies.
pub trait Decider: Send + Sync {
    /// The attribute keys that decisions read; ingest decodes exactly these.
    fn interest(&self) -> &Interest;
    /// Judges a trace from its spans. `now` drives rate-based decisions.
    fn decide(&self, id: &TraceId, spans: &[Span], now: Instant) -> Verdict;
    /// The names of the deciding units, indexed by [`Verdict::rule`].
    fn rule_names(&self) -> Vec<Arc<str>>;
    /// The fidelity profile for spans kept under this verdict.
    fn fidelity_of(&self, v: Verdict) -> Option<&Arc<Profile>>;
    /// The encoded `sampling.rule` attribute for spans kept under this verdict.
    fn annotation_of(&self, v: Verdict) -> &Bytes;
    /// Decides like [`Decider::decide`] (with the same effect on rate-based state) and says
    /// why: what each rule or policy evaluated said, and the deciding action.
    fn explain(&self, id: &TraceId, spans: &[Span], now: Instant) -> Explanation;
    /// Sees spans as they arrive, before they enter the buffer and outside its locks (the
    /// stage sketches of `slower_than` learn from them). Deciders that only read traces when
    /// deciding have nothing to do.
    fn observe(&self, _spans: &[(TraceId, Span)], _now: Instant) {}
    /// The captures on demand this decider puts ahead of its rules, when it has them.
    fn captures(&self) -> Option<Arc<crate::capture::Captures>> {
        None
    }
    /// Lines about state the decisions built up (stages sketched, traces kept by
    /// `min_per_key`), for `simulate`'s report.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// Advances time-driven state (adaptive intervals) without traffic. Deciders whose state
    /// only changes with decisions have nothing to do.
    fn tick(&self, _now: Instant) {}
    /// Called once when shutdown starts deciding everything buffered (the Collector's
    /// `drop_pending_traces_on_shutdown` acts on it).
    fn begin_shutdown(&self) {}
    /// Shares this decider's group-wide budgets (`adaptive` targets, `rate_limit` rates) with
    /// the members of `group`: each instance takes its share.
    fn join_group(&self, _group: &crate::sampler::group::GroupShare) {}
    /// How a verdict combines with peers' verdicts (see [`Standing`]). The default is the
    /// cautious one: ranked by rule index, never final alone, always shared.
    fn standing(&self, v: Verdict) -> Standing {
        Standing {
            rank: v.rule.map_or(u32::MAX, u32::from),
            final_alone: false,
            share: true,
        }
    }
}
