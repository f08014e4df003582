//! The compiled rule set: ordered rules, first match decides; what attributes they need decoded.

pub mod condition;
pub mod matchers;

use crate::config::{Config, Rule};
use crate::fidelity::Profile;
use crate::otlp::encode::string_attribute_field;
use crate::otlp::{Interest, Span, TraceId};
use crate::sampler::probability;
use bytes::Bytes;
use condition::Cond;
use std::sync::Arc;
use tokio::time::Instant;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Keep,
    Drop,
    /// Keep when the trace's randomness is at or above this threshold (see [`probability`]).
    Probability {
        threshold: u64,
    },
}

#[derive(Debug)]
pub struct CompiledRule {
    pub name: Arc<str>,
    when: Option<Cond>,
    pub action: Action,
    /// Reduced-fidelity profile for kept spans; `None` is full fidelity.
    pub fidelity: Option<Arc<Profile>>,
    /// The encoded `sampling.rule = <name>` attribute appended to kept spans.
    pub annotation: Bytes,
}

/// The outcome of judging one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Index of the deciding rule; `None` when no rule matched (the trace is kept).
    pub rule: Option<u16>,
    pub keep: bool,
    /// For traces kept by a probability below 1: the rejection threshold used (see
    /// [`probability`]); 0 when the trace was kept outright.
    pub threshold: u64,
}

impl Verdict {
    /// A verdict without a sampling threshold.
    pub fn new(rule: Option<u16>, keep: bool) -> Self {
        Verdict {
            rule,
            keep,
            threshold: 0,
        }
    }
}

/// Anything that decides traces: the ordered rule set, or another policy engine.
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
}

/// Rule name used in metrics when no rule matched.
pub const DEFAULT_RULE: &str = "_default";

#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    interest: Interest,
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
}

fn action_of(rule: &Rule) -> Action {
    match (rule.keep, rule.drop, rule.probability) {
        (_, Some(true), _) => Action::Drop,
        (_, _, Some(p)) => Action::Probability {
            threshold: probability::threshold(p),
        },
        _ => Action::Keep,
    }
}

impl RuleSet {
    /// Compiles the rules of a validated configuration.
    pub fn compile(config: &Config) -> Result<RuleSet, CompileError> {
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
        let mut out = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let when =
                match &rule.when {
                    Some(c) => Some(Cond::compile(c, &mut interest).map_err(|source| {
                        CompileError::Regex {
                            index,
                            name: rule.name.clone(),
                            source,
                        }
                    })?),
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
            out.push(CompiledRule {
                name: rule.name.as_str().into(),
                when,
                action: action_of(rule),
                fidelity,
                annotation: string_attribute_field("sampling.rule", &rule.name),
            });
        }
        Ok(RuleSet {
            rules: out,
            interest,
            default_annotation: string_attribute_field("sampling.rule", DEFAULT_RULE),
        })
    }

    /// The attribute keys the rules read; ingest decodes exactly these.
    pub fn interest(&self) -> &Interest {
        &self.interest
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Judges a trace: the first rule whose condition holds decides; no match keeps it.
    pub fn decide(&self, trace_id: &TraceId, spans: &[Span]) -> Verdict {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.when.as_ref().is_none_or(|c| c.eval(spans)) {
                let keep = match rule.action {
                    Action::Keep => true,
                    Action::Drop => false,
                    Action::Probability { threshold } => probability::keeps(trace_id, threshold),
                };
                let threshold = match rule.action {
                    Action::Probability { threshold } if keep => threshold,
                    _ => 0,
                };
                return Verdict {
                    rule: Some(i as u16),
                    keep,
                    threshold,
                };
            }
        }
        Verdict::new(None, true)
    }

    /// The deciding rule's name (or [`DEFAULT_RULE`]).
    pub fn name_of(&self, v: Verdict) -> &str {
        v.rule
            .map_or(DEFAULT_RULE, |i| &self.rules[i as usize].name)
    }

    /// The fidelity profile for spans kept under this verdict.
    pub fn fidelity_of(&self, v: Verdict) -> Option<&Arc<Profile>> {
        v.rule
            .and_then(|i| self.rules[i as usize].fidelity.as_ref())
    }

    /// The encoded `sampling.rule` attribute for spans kept under this verdict.
    pub fn annotation_of(&self, v: Verdict) -> &Bytes {
        v.rule.map_or(&self.default_annotation, |i| {
            &self.rules[i as usize].annotation
        })
    }
}

impl Decider for RuleSet {
    fn interest(&self) -> &Interest {
        RuleSet::interest(self)
    }
    fn decide(&self, id: &TraceId, spans: &[Span], _now: Instant) -> Verdict {
        RuleSet::decide(self, id, spans)
    }
    fn rule_names(&self) -> Vec<Arc<str>> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }
    fn fidelity_of(&self, v: Verdict) -> Option<&Arc<Profile>> {
        RuleSet::fidelity_of(self, v)
    }
    fn annotation_of(&self, v: Verdict) -> &Bytes {
        RuleSet::annotation_of(self, v)
    }
}

#[cfg(test)]
mod tests;
