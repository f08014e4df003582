//! The `tail_sampling` policy types, one file each: how the type's block compiles (every
//! problem recorded with its key path) and how the compiled policy judges a trace, with the
//! Collector's semantics, and the tests of both beside them (the Collector's own
//! `internal/sampling/<policy>.go` + `_test.go` layout).
//!
//! Adding a policy type: write `policies/<type>.rs` with a `compile` function and a type that
//! implements [`Policy`], with its tests; then register it: a variant in
//! [`PolicyType`](crate::config::tail_sampling::PolicyType), its settings block in
//! [`PolicyCfg`](crate::config::tail_sampling::PolicyCfg), and one arm in [`compile`] below.

mod always_sample;
mod and;
mod boolean_attribute;
mod bytes_limiting;
mod composite;
mod drop;
mod latency;
mod not;
mod numeric_attribute;
mod ottl_condition;
mod probabilistic;
mod rate_limiting;
mod span_count;
mod status_code;
mod string_attribute;
mod trace_flags;
mod trace_state;

use super::compile::Compiler;
use crate::config::tail_sampling::{PolicyCfg, PolicyType};
use crate::otlp::model::AttrValue;
use crate::otlp::{Span, TraceId};
use tokio::time::Instant;

/// One policy's verdict on a trace. `invert_match` policies give plain `Sampled`/`NotSampled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    /// From a `drop` policy whose sub-policies all sampled: the trace is not sampled.
    Dropped,
}

impl Decision {
    /// Position in per-decision arrays: sampled, not_sampled, dropped.
    pub fn index(self) -> usize {
        match self {
            Decision::Sampled => 0,
            Decision::NotSampled => 1,
            Decision::Dropped => 2,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Decision::Sampled => "sampled",
            Decision::NotSampled => "not_sampled",
            Decision::Dropped => "dropped",
        }
    }
    pub fn of(b: bool) -> Decision {
        if b {
            Decision::Sampled
        } else {
            Decision::NotSampled
        }
    }
}

/// The trace being decided.
pub struct TraceView<'a> {
    pub id: &'a TraceId,
    pub spans: &'a [Span],
    pub now: Instant,
}

impl TraceView<'_> {
    /// Encoded bytes of the trace's spans.
    pub fn bytes(&self) -> u64 {
        self.spans.iter().map(|s| s.raw_len() as u64).sum()
    }
}

/// A policy that samples traces while a token bucket has room for what `cost` counts of them:
/// `rate_limiting` (spans) and `bytes_limiting` (encoded bytes).
#[derive(Debug)]
struct Limiting {
    bucket: crate::collector::limits::Bucket,
    cost: fn(&TraceView) -> u64,
}

impl Limiting {
    /// Compiles a bucket of `rate` (set at `path.rate_key`) a second, `burst` deep.
    fn compile(
        c: &mut Compiler,
        (rate, burst): (i64, Option<i64>),
        path: &str,
        rate_key: &str,
        cost: fn(&TraceView) -> u64,
    ) -> Option<Boxed> {
        let (rate, burst) = c.bucket(rate, burst, path, rate_key);
        let bucket = crate::collector::limits::Bucket::new(rate, burst);
        Some(Box::new(Limiting { bucket, cost }))
    }
}

impl Policy for Limiting {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(self.bucket.allow(t.now, (self.cost)(t)))
    }
}

/// A compiled policy.
pub trait Policy: Send + Sync + std::fmt::Debug {
    /// This policy's verdict on the trace.
    fn eval(&self, t: &TraceView) -> Decision;
}

/// A compiled policy of any type.
pub type Boxed = Box<dyn Policy>;

/// Compiles the policy at `path` by its type; `None` when its block has errors (recorded in
/// `c`). `top`: at the top level of `policies`, where `drop` is allowed.
pub(super) fn compile(c: &mut Compiler, p: &PolicyCfg, path: &str, top: bool) -> Option<Boxed> {
    let at = |block: &str| format!("{path}.{block}");
    // The type's settings block `p.$t` (or its defaults), compiled by `$t::compile` at `path.$t`.
    macro_rules! by_block {
        ($t:ident) => {
            $t::compile(c, block(&p.$t), &at(stringify!($t)))
        };
    }
    match p.kind {
        PolicyType::AlwaysSample => Some(Box::new(always_sample::AlwaysSample)),
        PolicyType::TraceFlags => {
            c.interest.want_span_flags();
            Some(Box::new(trace_flags::TraceFlags))
        }
        PolicyType::Latency => by_block!(latency),
        PolicyType::NumericAttribute => by_block!(numeric_attribute),
        PolicyType::Probabilistic => by_block!(probabilistic),
        PolicyType::StatusCode => by_block!(status_code),
        PolicyType::StringAttribute => by_block!(string_attribute),
        PolicyType::TraceState => by_block!(trace_state),
        PolicyType::RateLimiting => by_block!(rate_limiting),
        PolicyType::BytesLimiting => by_block!(bytes_limiting),
        PolicyType::SpanCount => by_block!(span_count),
        PolicyType::BooleanAttribute => by_block!(boolean_attribute),
        PolicyType::OttlCondition => by_block!(ottl_condition),
        PolicyType::And => by_block!(and),
        PolicyType::Not => not::compile(c, p.not.as_deref(), &at("not")),
        PolicyType::Drop => drop::compile(c, block(&p.drop), path, top),
        PolicyType::Composite => by_block!(composite),
    }
}

/// A policy's settings block, or its defaults when not given.
fn block<T: Clone + Default>(b: &Option<T>) -> T {
    b.clone().unwrap_or_default()
}

/// Where an attribute policy looks: the key's index among span keys and resource keys.
#[derive(Debug, Clone, Copy)]
pub struct AttrKey {
    pub span: u16,
    pub resource: u16,
}

/// Some resource or span has the attribute and `pred` holds for it. The Collector reads a
/// non-matching type as the zero value (`""`, `0`, `false`), and skips empty span strings.
pub fn any_attr(
    t: &TraceView,
    key: AttrKey,
    res: impl Fn(&AttrValue) -> bool,
    span: impl Fn(&AttrValue) -> bool,
) -> bool {
    t.spans.iter().any(|s| {
        s.resource_attr(key.resource).is_some_and(&res) || s.attr(key.span).is_some_and(&span)
    })
}

/// Sub-policies (`and`, `drop`): at least one, each compiled at `path[i]`.
fn subs(c: &mut Compiler, subs: &[PolicyCfg], path: &str) -> Option<Vec<Boxed>> {
    if subs.is_empty() {
        c.error(path, "give at least one sub-policy");
        return None;
    }
    let nodes: Vec<Option<Boxed>> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| c.policy(s, &format!("{path}[{i}]"), false))
        .collect();
    nodes.into_iter().collect()
}

/// Policy tests: compile one policy from YAML and judge a trace built from fixtures.
#[cfg(test)]
pub(crate) mod testing {
    use super::super::{PolicySet, TailSamplingConfig};
    use super::Decision;
    use crate::config::ValidationError;
    use crate::fixtures::{encode, request_with, SpanBuilder};
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use tokio::time::Instant;

    fn config(policy: &str) -> TailSamplingConfig {
        serde_yaml::from_str(&format!("policies: [{policy}]")).expect("a tail_sampling block")
    }

    /// The policy `{ name: p, type: ..., ... }`, compiled alone.
    pub fn compile(policy: &str) -> PolicySet {
        PolicySet::compile(&config(policy)).unwrap_or_else(|e| panic!("{policy}: {e}"))
    }

    /// The errors compiling the policy gives, as (path, message).
    pub fn errors(policy: &str) -> Vec<ValidationError> {
        match PolicySet::compile(&config(policy)) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    /// Asserts some error is at `path` and mentions `words`.
    pub fn assert_error(policy: &str, path: &str, words: &str) {
        let errs = errors(policy);
        assert!(
            errs.iter()
                .any(|e| e.path == format!("tail_sampling.policies[0]{path}")
                    && e.message.contains(words)),
            "{policy}: no error at {path} mentioning `{words}` in {errs:?}"
        );
    }

    /// What the single policy of `set` says of a trace with these spans (one resource with
    /// `resource` attributes).
    pub fn judge_with(
        set: &PolicySet,
        resource: Vec<KeyValue>,
        spans: Vec<SpanBuilder>,
    ) -> Decision {
        judge_as(set, resource, spans, false)
    }

    /// [`judge`] of the spans' summaries, as the buffer holds them with storage on.
    pub fn judge_summaries(set: &PolicySet, spans: Vec<SpanBuilder>) -> Decision {
        judge_as(set, Vec::new(), spans, true)
    }

    fn judge_as(
        set: &PolicySet,
        resource: Vec<KeyValue>,
        spans: Vec<SpanBuilder>,
        summaries: bool,
    ) -> Decision {
        let trace = spans[0].0.trace_id.clone();
        let body = encode(&request_with(
            "svc",
            resource,
            spans.into_iter().map(SpanBuilder::build).collect(),
        ));
        let retained = std::sync::Arc::new(crate::otlp::Retained::default());
        let mut got = crate::otlp::ingest::ingest_retained(&body, set.interest(), Some(&retained))
            .expect("valid request")
            .spans;
        if summaries {
            got = crate::otlp::summary::summarize(got, set.interest(), &retained);
            assert!(got.iter().all(|(_, s)| s.is_summary()));
        }
        let spans: Vec<_> = got.into_iter().map(|(_, s)| s).collect();
        let id: [u8; 16] = trace.try_into().expect("16-byte trace id");
        set.policy_decision(0, &id, &spans, Instant::now())
    }

    /// [`judge_with`] without resource attributes.
    pub fn judge(set: &PolicySet, spans: Vec<SpanBuilder>) -> Decision {
        judge_with(set, Vec::new(), spans)
    }

    /// [`judge`] of one span with the string attribute `key: value`.
    pub fn judge_attr(set: &PolicySet, key: &str, value: &str) -> Decision {
        judge(set, vec![crate::fixtures::span(1, 1).attr(key, value)])
    }
}

/// With storage on, policies judge spans' summaries: each field a policy reads must be in
/// them (the rules' interest says which), so the verdict is the one the spans get.
#[cfg(test)]
mod summary_tests {
    use super::testing::{compile, judge, judge_summaries};
    use super::Decision;
    use crate::fixtures::{span, SpanBuilder};
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    fn flagged(flags: u32) -> SpanBuilder {
        let mut s = span(1, 1);
        s.0.flags = flags;
        s
    }

    fn with_event(name: &str) -> SpanBuilder {
        let mut s = span(1, 1).name("checkout");
        s.0.events.push(Event {
            name: name.into(),
            ..Default::default()
        });
        s
    }

    fn with_state(state: &str) -> SpanBuilder {
        let mut s = span(1, 1);
        s.0.trace_state = state.into();
        s
    }

    /// A trace's spans, made afresh for each judging.
    type Trace = fn() -> Vec<SpanBuilder>;

    #[test]
    fn policies_decide_summaries_as_they_decide_the_spans() {
        // (policy, a trace it samples, a trace it does not)
        let cases: Vec<(&str, Trace, Trace)> = vec![
            (
                "{ name: p, type: trace_flags }",
                || vec![flagged(0x100), flagged(0x301)],
                || vec![flagged(0x100)],
            ),
            (
                r#"{ name: p, type: ottl_condition, ottl_condition: { spanevent: ['name == "exception"'] } }"#,
                || vec![with_event("exception")],
                || vec![with_event("retry")],
            ),
            (
                "{ name: p, type: trace_state, trace_state: { key: tier, values: [gold] } }",
                || vec![with_state("x=1,tier=gold")],
                || vec![with_state("tier=silver")],
            ),
            (
                "{ name: p, type: status_code, status_code: { status_codes: [ERROR] } }",
                || vec![span(1, 1), span(1, 2).parent(1).error()],
                || vec![span(1, 1)],
            ),
            (
                "{ name: p, type: latency, latency: { threshold_ms: 100 } }",
                || vec![span(1, 1).at(0, 250)],
                || vec![span(1, 1).at(0, 50)],
            ),
            (
                "{ name: p, type: string_attribute, string_attribute: { key: url, values: [/checkout] } }",
                || vec![span(1, 1).attr("url", "/checkout")],
                || vec![span(1, 1).attr("url", "/health")],
            ),
            (
                "{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 500, max_value: 599 } }",
                || vec![span(1, 1).attr_int("code", 503)],
                || vec![span(1, 1).attr_int("code", 200)],
            ),
            (
                r#"{ name: p, type: ottl_condition, ottl_condition: { span: ['name == "checkout"'] } }"#,
                || vec![span(1, 1).name("checkout")],
                || vec![span(1, 1).name("browse")],
            ),
        ];
        for (policy, sampled, other) in cases {
            let p = compile(policy);
            assert_eq!(judge(&p, sampled()), Decision::Sampled, "{policy}");
            assert_eq!(
                judge_summaries(&p, sampled()),
                Decision::Sampled,
                "{policy}"
            );
            assert_eq!(judge(&p, other()), Decision::NotSampled, "{policy}");
            assert_eq!(
                judge_summaries(&p, other()),
                Decision::NotSampled,
                "{policy}"
            );
        }
    }
}
