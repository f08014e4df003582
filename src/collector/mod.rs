//! Drop-in compatibility with the OpenTelemetry Collector's `tail_sampling` processor: its
//! config block (`tail_sampling:`), every policy type, and its way of combining verdicts, as a
//! [`Decider`] the buffer and pipeline use unchanged.
//!
//! Combination (as the Collector): `drop` policies are evaluated first and a drop verdict wins;
//! otherwise the trace is sampled when any policy samples (evaluation stops at the first that
//! samples with `sample_on_first_match`), and not sampled otherwise. `invert_match` flips only
//! its own policy's verdict (the Collector with its `disableinvertdecisions` feature gate).
//! The deciding policy is the [`Verdict::rule`]: the drop policy, or the first policy that
//! sampled; traces no policy sampled count under `_not_sampled`.

mod compile;
mod limits;
pub mod ottl;
pub mod policies;
pub mod probabilistic;
pub mod raw;
pub mod validate;

/// The `tail_sampling:` schema lives with the rest of the config, which does not depend on
/// this module; the policy checks it needs compiled are [`validate`]'s
/// [`PolicyCheck`](crate::config::tail_sampling::PolicyCheck) implementation.
pub use crate::config::tail_sampling as schema;
pub use crate::config::tail_sampling::TailSamplingConfig;

use crate::decide::{Decider, Verdict};
use crate::otlp::encode::string_attribute_field;
use crate::otlp::{Interest, Span, TraceId};
use crate::output::fidelity::Profile;
use crate::telemetry::names;
use bytes::Bytes;
use compile::Compiler;
use metrics::{counter, Counter};
use policies::{Boxed, Decision, TraceView};
use schema::PolicyType;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// Rule name of traces no policy sampled.
pub const NOT_SAMPLED: &str = "_not_sampled";
/// Rule name of traces dropped for exceeding `maximum_trace_size_bytes`.
pub const TOO_LARGE: &str = "_maximum_trace_size_bytes";
/// Rule name of traces dropped at shutdown under `drop_pending_traces_on_shutdown`.
pub const SHUTDOWN: &str = "_drop_pending_traces_on_shutdown";
/// Names policies cannot take: they label tailsift's own verdicts.
pub const RESERVED_NAMES: [&str; 3] = [NOT_SAMPLED, TOO_LARGE, SHUTDOWN];

/// The policies could not be compiled (the config was not validated).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct PolicyCompileError(pub Vec<crate::config::ValidationError>);

struct TopPolicy {
    policy: Boxed,
    is_drop: bool,
    /// Evaluations by decision: sampled, not_sampled, dropped.
    counters: [Counter; 3],
}

/// The compiled `tail_sampling` policies.
pub struct PolicySet {
    policies: Vec<TopPolicy>,
    /// Evaluation order: drop policies first, then the others, each in config order.
    order: Vec<usize>,
    /// Policy names, then [`RESERVED_NAMES`]: indexed by [`Verdict::rule`].
    names: Vec<Arc<str>>,
    annotations: Vec<Bytes>,
    interest: Interest,
    first_match: bool,
    max_trace_bytes: u64,
    drop_on_shutdown: bool,
    shutting_down: AtomicBool,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

fn decision_counters(policy: &str) -> [Counter; 3] {
    [Decision::Sampled, Decision::NotSampled, Decision::Dropped].map(|d| {
        counter!(names::POLICY_DECISIONS, "policy" => policy.to_string(), "decision" => d.label())
    })
}

impl PolicySet {
    /// Compiles a `tail_sampling` block (validated by [`crate::config::Config::validate`]).
    pub fn compile(ts: &TailSamplingConfig) -> Result<PolicySet, PolicyCompileError> {
        let mut interest = Interest::default();
        let mut c = Compiler::new(&mut interest);
        let mut policies = Vec::with_capacity(ts.policies.len());
        for (i, p) in ts.policies.iter().enumerate() {
            if let Some(policy) = c.policy(p, &format!("tail_sampling.policies[{i}]"), true) {
                policies.push(TopPolicy {
                    policy,
                    is_drop: p.kind == PolicyType::Drop,
                    counters: decision_counters(&p.name),
                });
            }
        }
        if !c.errors.is_empty() {
            return Err(PolicyCompileError(c.errors));
        }
        if policies.len() > u16::MAX as usize - RESERVED_NAMES.len() {
            return Err(PolicyCompileError(vec![crate::config::ValidationError {
                path: "tail_sampling.policies".into(),
                message: "too many policies".into(),
            }]));
        }
        if ts.block_on_overflow {
            tracing::info!("tail_sampling.block_on_overflow has no effect: at sampling.memory_limit tailsift refuses new data with retryable answers instead");
        }
        let order = (0..policies.len())
            .filter(|&i| policies[i].is_drop)
            .chain((0..policies.len()).filter(|&i| !policies[i].is_drop))
            .collect();
        let names: Vec<Arc<str>> = ts
            .policies
            .iter()
            .map(|p| p.name.as_str())
            .chain(RESERVED_NAMES)
            .map(Arc::from)
            .collect();
        let annotations = names
            .iter()
            .map(|n| string_attribute_field("sampling.rule", n))
            .collect();
        Ok(PolicySet {
            policies,
            order,
            names,
            annotations,
            interest,
            first_match: ts.sample_on_first_match,
            max_trace_bytes: ts.maximum_trace_size_bytes.map_or(0, |b| b.0.max(0) as u64),
            drop_on_shutdown: ts.drop_pending_traces_on_shutdown,
            shutting_down: AtomicBool::new(false),
        })
    }

    /// The attribute keys the policies read; ingest decodes exactly these.
    pub fn interest(&self) -> &Interest {
        &self.interest
    }

    /// Called when the daemon starts deciding everything buffered on shutdown: with
    /// `drop_pending_traces_on_shutdown`, those traces are dropped from then on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    fn reserved(&self, name: &str) -> Option<u16> {
        let i = RESERVED_NAMES.iter().position(|n| *n == name)?;
        Some((self.policies.len() + i) as u16)
    }

    /// Judges a trace (see the module documentation).
    pub fn decide(&self, id: &TraceId, spans: &[Span], now: Instant) -> Verdict {
        self.evaluate(id, spans, now, None)
    }

    /// Decides like [`PolicySet::decide`] and lists what each policy evaluated said.
    pub fn explain(
        &self,
        id: &TraceId,
        spans: &[Span],
        now: Instant,
    ) -> crate::decide::explain::Explanation {
        use crate::decide::explain::{Explanation, RuleCheck, SamplingDetail};
        let mut seen = Vec::new();
        let verdict = self.evaluate(id, spans, now, Some(&mut seen));
        let checks = seen
            .into_iter()
            .map(|(i, d): (usize, Decision)| RuleCheck {
                index: i,
                name: self.names[i].clone(),
                matched: d != Decision::NotSampled,
                failed: if d == Decision::NotSampled {
                    vec!["the policy did not sample"]
                } else {
                    Vec::new()
                },
            })
            .collect();
        let rule = self.name_of(verdict).to_string();
        let action = match verdict.rule.map(usize::from) {
            Some(i) if i < self.policies.len() && verdict.keep => {
                "sampled by this policy (a trace is kept when any policy samples it)".to_string()
            }
            Some(i) if i < self.policies.len() => {
                "dropped by this drop policy (drop wins)".to_string()
            }
            _ => "not kept: no policy sampled it".to_string(),
        };
        Explanation {
            checks,
            verdict,
            rule,
            action,
            sampling: SamplingDetail::None,
        }
    }

    fn evaluate(
        &self,
        id: &TraceId,
        spans: &[Span],
        now: Instant,
        mut seen: Option<&mut Vec<(usize, Decision)>>,
    ) -> Verdict {
        let t = TraceView { id, spans, now };
        if self.drop_on_shutdown && self.shutting_down.load(Ordering::Relaxed) {
            return Verdict::new(self.reserved(SHUTDOWN), false);
        }
        if self.max_trace_bytes > 0 && t.bytes() > self.max_trace_bytes {
            return Verdict::new(self.reserved(TOO_LARGE), false);
        }
        let mut sampled = None;
        for &i in &self.order {
            let p = &self.policies[i];
            let d = p.policy.eval(&t);
            p.counters[d.index()].increment(1);
            if let Some(seen) = seen.as_deref_mut() {
                seen.push((i, d));
            }
            match d {
                Decision::Dropped => return Verdict::new(Some(i as u16), false),
                Decision::Sampled if sampled.is_none() => {
                    sampled = Some(i as u16);
                    if self.first_match {
                        break;
                    }
                }
                _ => {}
            }
        }
        match sampled {
            Some(i) => Verdict::new(Some(i), true),
            None => Verdict::new(self.reserved(NOT_SAMPLED), false),
        }
    }

    /// What policy `i` alone says of a trace (policy tests).
    #[cfg(test)]
    pub(crate) fn policy_decision(
        &self,
        i: usize,
        id: &TraceId,
        spans: &[Span],
        now: Instant,
    ) -> Decision {
        self.policies[i].policy.eval(&TraceView { id, spans, now })
    }

    /// How a verdict combines with peers' (the Collector's combination, drop first): a drop
    /// policy's drop ranks first and is final; a sample ranks by evaluation order and is final
    /// only from the first policy evaluated when there are no drop policies (another would
    /// change its annotation); not sampled ranks last and is never shared.
    pub fn standing(&self, v: Verdict) -> crate::decide::Standing {
        let n = self.policies.len();
        let has_drop = self.policies.iter().any(|p| p.is_drop);
        let can_sample = self.policies.iter().any(|p| !p.is_drop);
        let (rank, final_alone, share) = match v.rule.map(usize::from) {
            Some(i) if i < n && !v.keep => (0, true, can_sample),
            Some(i) if i < n => {
                let pos = self.order.iter().position(|&o| o == i).unwrap_or(n);
                let first = self.order.iter().position(|&o| !self.policies[o].is_drop);
                (1 + pos as u32, !has_drop && first == Some(pos), true)
            }
            _ => (u32::MAX, !can_sample, false),
        };
        crate::decide::Standing {
            rank,
            final_alone,
            share,
        }
    }

    /// The name of the deciding unit of a verdict.
    pub fn name_of(&self, v: Verdict) -> &str {
        v.rule
            .and_then(|i| self.names.get(i as usize))
            .map_or(crate::decide::DEFAULT_RULE, |n| n)
    }
}

impl Decider for PolicySet {
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn decide(&self, id: &TraceId, spans: &[Span], now: Instant) -> Verdict {
        PolicySet::decide(self, id, spans, now)
    }
    fn rule_names(&self) -> Vec<Arc<str>> {
        self.names.clone()
    }
    fn fidelity_of(&self, _v: Verdict) -> Option<&Arc<Profile>> {
        None
    }
    fn standing(&self, v: Verdict) -> crate::decide::Standing {
        PolicySet::standing(self, v)
    }
    fn annotation_of(&self, v: Verdict) -> &Bytes {
        let i = v.rule.map_or(self.policies.len(), usize::from);
        &self.annotations[i.min(self.annotations.len() - 1)]
    }
    fn explain(
        &self,
        id: &TraceId,
        spans: &[Span],
        now: Instant,
    ) -> crate::decide::explain::Explanation {
        PolicySet::explain(self, id, spans, now)
    }
    fn begin_shutdown(&self) {
        PolicySet::begin_shutdown(self)
    }
}

#[cfg(test)]
mod tests;
