//! The compiled rule set: ordered rules, first match decides; what attributes they need decoded.

pub mod aggregate;
pub mod condition;
pub mod matchers;
mod standing;

use crate::capture::{CaptureStore, Captures, MemoryStore};
use crate::config::{ActionSpec, Config, Rule};
use crate::decide::explain::{Explanation, RuleCheck, SamplingDetail};
use crate::decide::{Decider, Verdict, DEFAULT_RULE};
use crate::otlp::encode::string_attribute_field;
use crate::otlp::{Interest, Span, TraceId};
use crate::output::fidelity::Profile;
use crate::sampler::adaptive::{self, AdaptiveSampler};
use crate::sampler::probability;
use crate::sampler::rate_limit::TokenBucket;
use bytes::Bytes;
use condition::Cond;
use std::sync::Arc;
use tokio::time::Instant;

/// What a matching rule does.
#[derive(Debug, Clone)]
pub enum Action {
    Keep,
    Drop,
    /// Keep when the trace's randomness is at or above this threshold (see [`probability`]).
    Probability {
        threshold: u64,
    },
    /// Keep a share sized to a throughput target, per key (see [`adaptive`]).
    Adaptive(Arc<AdaptiveSampler>),
    /// Keep while the token buckets have room.
    RateLimit(Arc<TokenBucket>),
}

#[derive(Debug)]
pub struct CompiledRule {
    pub name: Arc<str>,
    when: Option<Cond>,
    pub action: Action,
    /// The action as written in the config, for explanations ([`ActionSpec::describe`]).
    pub described: String,
    /// Reduced-fidelity profile for kept spans; `None` is full fidelity.
    pub fidelity: Option<Arc<Profile>>,
    /// The encoded `sampling.rule = <name>` attribute appended to kept spans.
    pub annotation: Bytes,
}

/// What traces kept by a capture of one fidelity are forwarded with.
#[derive(Debug)]
struct CaptureSlot {
    name: Arc<str>,
    fidelity: Option<Arc<Profile>>,
    annotation: Bytes,
}

#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// Captures on demand, ahead of the rules; their verdicts' rule indices follow the rules'
    /// (one slot per fidelity).
    captures: Arc<Captures>,
    capture_slots: Vec<CaptureSlot>,
    interest: Interest,
    /// The stage sketches `slower_than` conditions read, fed as spans arrive.
    stages: crate::stages::Stages,
    default_annotation: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("sampling.rules[{index}] ({name}): {source}")]
    Regex {
        index: usize,
        name: String,
        source: regex::Error,
    },
    #[error("sampling.rules[{index}] ({name}): unknown fidelity profile `{profile}`")]
    UnknownProfile {
        index: usize,
        name: String,
        profile: String,
    },
    #[error("sampling.rules: more than 65535 rules")]
    TooMany,
    #[error("sampling.rules[{index}] ({name}): {message}")]
    Action {
        index: usize,
        name: String,
        message: String,
    },
}

fn action_of(rule: &Rule, interest: &mut Interest) -> Result<Action, String> {
    Ok(match rule.action().map_err(|e| e.to_string())? {
        ActionSpec::Keep => Action::Keep,
        ActionSpec::Drop => Action::Drop,
        ActionSpec::Probability(p) => Action::Probability {
            threshold: probability::threshold(p),
        },
        ActionSpec::Adaptive(a) => {
            let key = a
                .key
                .iter()
                .map(|k| crate::config::KeyField::parse(k))
                .collect::<Result<Vec<_>, _>>()?;
            let params = adaptive::Params::from_config(a);
            let sampler = AdaptiveSampler::new(rule.name.as_str().into(), &key, params, interest);
            Action::Adaptive(Arc::new(sampler))
        }
        ActionSpec::RateLimit(r) => Action::RateLimit(Arc::new(TokenBucket::new(r))),
    })
}

impl RuleSet {
    /// Compiles the rules of a validated configuration (captures kept in memory).
    pub fn compile(config: &Config) -> Result<RuleSet, CompileError> {
        Self::compile_with_store(config, Arc::new(MemoryStore::default()))
    }

    /// Compiles the rules, activating the captures `store` holds and telling it of every
    /// capture added or removed (persistence and sharing hook in there).
    pub fn compile_with_store(
        config: &Config,
        store: Arc<dyn CaptureStore>,
    ) -> Result<RuleSet, CompileError> {
        let rules = &config.sampling.rules;
        if rules.len() > u16::MAX as usize {
            return Err(CompileError::TooMany);
        }
        let profiles: Vec<(String, Arc<Profile>)> = config
            .fidelity
            .iter()
            .map(|(name, p)| (name.clone(), Arc::new(Profile::compile(name, p))))
            .collect();
        let mut interest = Interest::default();
        let mut stages = crate::stages::Stages::default();
        let mut out = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let mut ctx = condition::Ctx {
                interest: &mut interest,
                stages: &mut stages,
            };
            let when = match &rule.when {
                Some(c) => {
                    Some(
                        Cond::compile(c, &mut ctx).map_err(|source| CompileError::Regex {
                            index,
                            name: rule.name.clone(),
                            source,
                        })?,
                    )
                }
                None => None,
            };
            let fidelity = match rule.fidelity.as_deref() {
                None | Some("full") => None,
                Some(name) => Some(
                    profiles
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, p)| p.clone())
                        .ok_or_else(|| CompileError::UnknownProfile {
                            index,
                            name: rule.name.clone(),
                            profile: name.to_string(),
                        })?,
                ),
            };
            let action =
                action_of(rule, &mut interest).map_err(|message| CompileError::Action {
                    index,
                    name: rule.name.clone(),
                    message,
                })?;
            out.push(CompiledRule {
                name: rule.name.as_str().into(),
                when,
                action,
                described: rule.action().map(|a| a.describe()).unwrap_or_default(),
                fidelity,
                annotation: string_attribute_field("sampling.rule", &rule.name),
            });
        }
        let settings = config.sampling.capture.clone();
        let keys = settings
            .attributes
            .iter()
            .map(|k| (interest.span_key(k), interest.resource_key(k)))
            .collect();
        let names: Vec<String> = profiles.iter().map(|(n, _)| n.clone()).collect();
        let capture_slots = Captures::slot_names(&names)
            .into_iter()
            .zip(std::iter::once(None).chain(profiles.iter().map(|(_, p)| Some(p.clone()))))
            .map(|(name, fidelity)| CaptureSlot {
                annotation: string_attribute_field("sampling.rule", &name),
                name: name.into(),
                fidelity,
            })
            .collect();
        let captures = Arc::new(Captures::new(settings, keys, names, store));
        Ok(RuleSet {
            captures,
            capture_slots,
            rules: out,
            interest,
            stages,
            default_annotation: string_attribute_field("sampling.rule", DEFAULT_RULE),
        })
    }

    /// The attribute keys the rules read; ingest decodes exactly these.
    pub fn interest(&self) -> &Interest {
        &self.interest
    }

    /// The stage sketches of the `slower_than` conditions.
    pub fn stages(&self) -> &crate::stages::Stages {
        &self.stages
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Judges a trace now: see [`RuleSet::decide_at`].
    pub fn decide(&self, trace_id: &TraceId, spans: &[Span]) -> Verdict {
        self.decide_at(trace_id, spans, Instant::now())
    }

    /// Judges a trace at time `now` (which drives adaptive and rate-limit rules): the first
    /// rule whose condition holds decides; no match keeps it.
    pub fn decide_at(&self, trace_id: &TraceId, spans: &[Span], now: Instant) -> Verdict {
        self.evaluate(trace_id, spans, now, None)
    }

    /// Judges a trace like [`RuleSet::decide_at`] (with the same effect on rate-based state)
    /// and says why.
    pub fn explain(&self, trace_id: &TraceId, spans: &[Span], now: Instant) -> Explanation {
        let mut e = Explanation {
            checks: Vec::new(),
            verdict: Verdict::new(None, true),
            rule: DEFAULT_RULE.to_string(),
            action: "keep".to_string(),
            sampling: SamplingDetail::None,
        };
        e.verdict = self.evaluate(trace_id, spans, now, Some(&mut e));
        if let Some(r) = e.verdict.rule.and_then(|i| self.rules.get(i as usize)) {
            e.rule = r.name.to_string();
            e.action = r.described.clone();
        }
        e
    }

    fn evaluate(
        &self,
        trace_id: &TraceId,
        spans: &[Span],
        now: Instant,
        mut why: Option<&mut Explanation>,
    ) -> Verdict {
        if let Some((slot, id)) = self.captures.matching(spans, now) {
            let v = Verdict::new(Some((self.rules.len() + slot as usize) as u16), true);
            if let Some(e) = why {
                e.rule = self.name_of(v).to_string();
                e.action = format!("keep (capture {id})");
            }
            return v;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let matched = rule.when.as_ref().is_none_or(|c| c.eval(spans));
            if let Some(e) = why.as_deref_mut() {
                e.checks.push(RuleCheck {
                    index: i,
                    name: rule.name.clone(),
                    matched,
                    failed: match (&rule.when, matched) {
                        (Some(c), false) => c.failed_parts(spans),
                        _ => Vec::new(),
                    },
                });
            }
            if !matched {
                continue;
            }
            let (keep, threshold, detail) = match &rule.action {
                Action::Keep => (true, 0, SamplingDetail::None),
                Action::Drop => (false, 0, SamplingDetail::None),
                Action::Probability { threshold } => {
                    let randomness = probability::trace_randomness(trace_id, spans);
                    let detail = SamplingDetail::Threshold {
                        key: None,
                        randomness,
                        threshold: *threshold,
                    };
                    (randomness >= *threshold, *threshold, detail)
                }
                Action::Adaptive(a) => {
                    let randomness = probability::trace_randomness(trace_id, spans);
                    let d = a.decide(spans, randomness, now, why.is_some());
                    let detail = SamplingDetail::Threshold {
                        key: d.key,
                        randomness,
                        threshold: d.threshold,
                    };
                    (d.keep, d.threshold, detail)
                }
                Action::RateLimit(b) => {
                    let admitted = b.admit(spans.len(), now);
                    (admitted, 0, SamplingDetail::RateLimit { admitted })
                }
            };
            if let Some(e) = why {
                e.sampling = detail;
            }
            return Verdict {
                threshold: if keep { threshold } else { 0 },
                ..Verdict::new(Some(i as u16), keep)
            };
        }
        Verdict::new(None, true)
    }

    /// The deciding rule's name (or [`DEFAULT_RULE`]).
    pub fn name_of(&self, v: Verdict) -> &str {
        match v.rule.map(usize::from) {
            None => DEFAULT_RULE,
            Some(i) => match self.rules.get(i) {
                Some(r) => &r.name,
                None => self.capture_slot(i).map_or(DEFAULT_RULE, |s| &s.name),
            },
        }
    }

    fn capture_slot(&self, i: usize) -> Option<&CaptureSlot> {
        self.capture_slots.get(i.checked_sub(self.rules.len())?)
    }

    /// The fidelity profile for spans kept under this verdict.
    pub fn fidelity_of(&self, v: Verdict) -> Option<&Arc<Profile>> {
        let i = usize::from(v.rule?);
        match self.rules.get(i) {
            Some(r) => r.fidelity.as_ref(),
            None => self.capture_slot(i)?.fidelity.as_ref(),
        }
    }

    /// The encoded `sampling.rule` attribute for spans kept under this verdict.
    pub fn annotation_of(&self, v: Verdict) -> &Bytes {
        let Some(i) = v.rule.map(usize::from) else {
            return &self.default_annotation;
        };
        match self.rules.get(i) {
            Some(r) => &r.annotation,
            None => self
                .capture_slot(i)
                .map_or(&self.default_annotation, |s| &s.annotation),
        }
    }

    /// The captures on demand of this rule set.
    pub fn captures(&self) -> &Arc<Captures> {
        &self.captures
    }
}

impl Decider for RuleSet {
    fn interest(&self) -> &Interest {
        RuleSet::interest(self)
    }
    fn decide(&self, id: &TraceId, spans: &[Span], now: Instant) -> Verdict {
        RuleSet::decide_at(self, id, spans, now)
    }
    fn rule_names(&self) -> Vec<Arc<str>> {
        self.rules
            .iter()
            .map(|r| r.name.clone())
            .chain(self.capture_slots.iter().map(|s| s.name.clone()))
            .collect()
    }
    fn captures(&self) -> Option<Arc<Captures>> {
        Some(self.captures.clone())
    }
    fn fidelity_of(&self, v: Verdict) -> Option<&Arc<Profile>> {
        RuleSet::fidelity_of(self, v)
    }
    fn annotation_of(&self, v: Verdict) -> &Bytes {
        RuleSet::annotation_of(self, v)
    }
    fn explain(&self, id: &TraceId, spans: &[Span], now: Instant) -> Explanation {
        RuleSet::explain(self, id, spans, now)
    }
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for r in &self.rules {
            if let Action::Adaptive(a) = &r.action {
                if let Some(m) = &a.params().min_per_key {
                    notes.push(format!(
                        "adaptive `{}`: min_per_key ({} per {}) kept {} traces its probabilities alone would have dropped",
                        r.name,
                        m.traces,
                        crate::config::units::format_duration(m.every),
                        a.floor_kept()
                    ));
                }
            }
        }
        for f in self.stages.families() {
            notes.push(format!(
                "slower_than: {} stages sketched (by [{}], window {})",
                f.len(),
                f.by.join(", "),
                crate::config::units::format_duration(f.window)
            ));
        }
        notes
    }
    fn observe(&self, spans: &[(TraceId, Span)], now: Instant) {
        self.stages.observe(spans, now);
    }
    fn standing(&self, v: Verdict) -> crate::decide::Standing {
        RuleSet::standing(self, v)
    }
    fn join_group(&self, group: &crate::sampler::group::GroupShare) {
        for r in &self.rules {
            match &r.action {
                Action::Adaptive(a) => a.join_group(group),
                Action::RateLimit(b) => b.join_group(group),
                _ => {}
            }
        }
    }
    fn tick(&self, now: Instant) {
        self.stages.tick(now);
        self.captures.expire(now);
        for r in &self.rules {
            if let Action::Adaptive(a) = &r.action {
                a.tick(now);
            }
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_samplers;
