//! Generations of the decider across config reloads. [`Versioned`] wraps the loaded decider,
//! stamps every verdict with its generation, and keeps what a retired generation's verdicts
//! need for output (annotation and fidelity profile per rule): a late span following a cached
//! verdict is then forwarded as the rest of its trace was, even after the rules were reordered,
//! renamed or removed.

use super::{Decider, Explanation, Verdict};
use crate::otlp::{Interest, Span, TraceId};
use crate::output::fidelity::Profile;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::time::Instant;

/// Retired generations whose output settings are kept. A cached verdict older than this many
/// reloads is forwarded with the current default annotation and at full fidelity.
pub const RETAINED_GENERATIONS: usize = 64;

/// A rule's annotation and fidelity profile, as a retired set keeps them.
type RuleOutput = (Bytes, Option<Arc<Profile>>);

/// What a retired generation's verdicts need to be forwarded.
#[derive(Debug)]
struct Retired {
    generation: u16,
    /// Per rule index: the `sampling.rule` annotation and the fidelity profile.
    rules: Vec<RuleOutput>,
    default_annotation: Bytes,
}

impl Retired {
    fn of(generation: u16, d: &dyn Decider) -> Retired {
        let rules = (0..d.rule_names().len())
            .map(|i| {
                let v = Verdict::new(Some(i as u16), true);
                (d.annotation_of(v).clone(), d.fidelity_of(v).cloned())
            })
            .collect();
        Retired {
            generation,
            rules,
            default_annotation: d.annotation_of(Verdict::new(None, true)).clone(),
        }
    }
}

/// The loaded decider of one generation, with the output settings of the ones before it.
pub struct Versioned {
    generation: u16,
    current: Arc<dyn Decider>,
    /// Newest first, at most [`RETAINED_GENERATIONS`].
    retired: VecDeque<Retired>,
}

impl Versioned {
    /// The decider loaded at start (generation 0).
    pub fn first(current: Arc<dyn Decider>) -> Versioned {
        Versioned {
            generation: 0,
            current,
            retired: VecDeque::new(),
        }
    }

    /// The next generation: `next` decides from now on; this one's verdicts stay readable.
    pub fn succeed(&self, next: Arc<dyn Decider>) -> Versioned {
        let mut retired = VecDeque::with_capacity(self.retired.len() + 1);
        retired.push_back(Retired::of(self.generation, &*self.current));
        for r in &self.retired {
            if retired.len() == RETAINED_GENERATIONS {
                break;
            }
            retired.push_back(Retired {
                generation: r.generation,
                rules: r.rules.clone(),
                default_annotation: r.default_annotation.clone(),
            });
        }
        Versioned {
            generation: self.generation.wrapping_add(1),
            current: next,
            retired,
        }
    }

    pub fn generation(&self) -> u16 {
        self.generation
    }

    /// The decider of the current generation.
    pub fn current(&self) -> &Arc<dyn Decider> {
        &self.current
    }

    fn retired(&self, v: Verdict) -> Option<&Retired> {
        self.retired.iter().find(|r| r.generation == v.generation)
    }

    /// Who describes `v`'s rule: a retired set (with the rule's annotation and fidelity, `None`
    /// for its default), or `Err` with the verdict to ask the current set about (`v` itself, or
    /// read as the current default's when its generation is no longer retained).
    fn lookup(&self, v: Verdict) -> Result<(&Retired, Option<&RuleOutput>), Verdict> {
        if v.generation == self.generation {
            return Err(v);
        }
        let r = self.retired(v).ok_or(Self::forgotten(v))?;
        Ok((r, v.rule.and_then(|i| r.rules.get(usize::from(i)))))
    }

    /// A verdict of a generation no longer retained, read as the current default's.
    fn forgotten(v: Verdict) -> Verdict {
        Verdict {
            rule: None,
            generation: 0,
            ..v
        }
    }
}

impl Decider for Versioned {
    fn interest(&self) -> &Interest {
        self.current.interest()
    }
    fn decide(&self, id: &TraceId, spans: &[Span], now: Instant) -> Verdict {
        Verdict {
            generation: self.generation,
            ..self.current.decide(id, spans, now)
        }
    }
    fn rule_names(&self) -> Vec<Arc<str>> {
        self.current.rule_names()
    }
    fn fidelity_of(&self, v: Verdict) -> Option<&Arc<Profile>> {
        match self.lookup(v) {
            Ok((_, rule)) => rule.and_then(|(_, f)| f.as_ref()),
            Err(v) => self.current.fidelity_of(v),
        }
    }
    fn annotation_of(&self, v: Verdict) -> &Bytes {
        match self.lookup(v) {
            Ok((r, rule)) => rule.map_or(&r.default_annotation, |(a, _)| a),
            Err(v) => self.current.annotation_of(v),
        }
    }
    fn explain(&self, id: &TraceId, spans: &[Span], now: Instant) -> Explanation {
        let mut e = self.current.explain(id, spans, now);
        e.verdict.generation = self.generation;
        e
    }
    fn tick(&self, now: Instant) {
        self.current.tick(now)
    }
    fn begin_shutdown(&self) {
        self.current.begin_shutdown()
    }
    fn observe(&self, spans: &[(TraceId, Span)], now: Instant) {
        self.current.observe(spans, now)
    }
    fn captures(&self) -> Option<Arc<crate::capture::Captures>> {
        self.current.captures()
    }
    fn notes(&self) -> Vec<String> {
        self.current.notes()
    }
    fn join_group(&self, group: &crate::sampler::group::GroupShare) {
        self.current.join_group(group)
    }
    fn standing(&self, v: Verdict) -> super::Standing {
        // A verdict of a retired generation ranks as the loaded rule at its index would: the
        // cluster only holds verdicts for `cluster.grace`, so few straddle a reload.
        self.current.standing(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse as load_str;
    use crate::rules::RuleSet;

    fn rules(yaml: &str) -> Arc<dyn Decider> {
        let cfg = load_str(yaml, "test").expect("valid config");
        Arc::new(RuleSet::compile(&cfg).expect("compiles"))
    }

    const V1: &str = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\nexporters: { out: { protocol: file, path: /dev/null } }\nsampling:\n  rules:\n    - { name: a, when: { span: { name: x } }, keep: true }\n    - { name: b, keep: true }\n";
    const V2: &str = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\nexporters: { out: { protocol: file, path: /dev/null } }\nsampling:\n  rules:\n    - { name: b, keep: true }\n";

    #[test]
    fn a_cached_verdict_keeps_the_annotation_of_its_generation() {
        let g0 = Versioned::first(rules(V1));
        let old = Verdict::new(Some(1), true); // rule `b` of generation 0
        let g1 = g0.succeed(rules(V2));
        assert_eq!(g1.generation(), 1);
        let b = crate::otlp::encode::string_attribute_field("sampling.rule", "b");
        assert_eq!(g1.annotation_of(old), &b);
        // Rule 1 does not exist in generation 1: the index is never read against it.
        let new = Verdict {
            generation: 1,
            ..Verdict::new(Some(0), true)
        };
        assert_eq!(g1.annotation_of(new), &b);
        assert!(g1.fidelity_of(old).is_none());
    }

    #[test]
    fn generations_beyond_the_retained_ones_fall_back_to_the_default() {
        let mut g = Versioned::first(rules(V1));
        let old = Verdict::new(Some(1), true);
        for _ in 0..=RETAINED_GENERATIONS {
            g = g.succeed(rules(V1));
        }
        let default = crate::otlp::encode::string_attribute_field("sampling.rule", "_default");
        assert_eq!(g.annotation_of(old), &default);
        assert_eq!(g.retired.len(), RETAINED_GENERATIONS);
    }
}
