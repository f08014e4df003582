//! Compiled conditions and their evaluation on a read-only view of a trace's spans.

use super::aggregate::Aggregate;
use super::matchers::{StrTest, ValTest};
use crate::config::{self, Condition, SpanKind, SpanMatcher, StatusCode, TraceMatcher};
use crate::otlp::model::{kind, root, status, trace_duration};
use crate::otlp::{Interest, Span};
use crate::stages::{StageFamily, Stages};
use std::sync::Arc;

/// What compiling conditions registers: the attributes they read and the stage sketches
/// `slower_than` conditions ask.
pub struct Ctx<'a> {
    pub interest: &'a mut Interest,
    pub stages: &'a mut Stages,
}

/// One test on one span.
#[derive(Debug, Clone)]
pub enum SpanTest {
    Name(StrTest),
    Service(StrTest),
    /// Bit mask of accepted kinds.
    Kind(u8),
    /// Bit mask of accepted status codes.
    Status(u8),
    MinDuration(u64),
    MaxDuration(u64),
    Attr(u16, ValTest),
    Resource(u16, ValTest),
    /// Longer than the quantile of its stage (with at least `min_samples` spans).
    SlowerThan {
        family: Arc<StageFamily>,
        quantile: f64,
        min_samples: u64,
    },
}

impl SpanTest {
    #[inline]
    pub(super) fn matches(&self, s: &Span) -> bool {
        match self {
            SpanTest::Name(t) => t.matches(s.name_bytes()),
            SpanTest::Service(t) => s.service_bytes().is_some_and(|n| t.matches(n)),
            SpanTest::Kind(mask) => s.kind < 8 && mask & (1 << s.kind) != 0,
            SpanTest::Status(mask) => s.status < 8 && mask & (1 << s.status) != 0,
            SpanTest::MinDuration(ns) => s.duration_nanos() >= *ns,
            SpanTest::MaxDuration(ns) => s.duration_nanos() <= *ns,
            SpanTest::Attr(i, t) => t.matches(s.attr(*i)),
            SpanTest::Resource(i, t) => t.matches(s.resource_attr(*i)),
            SpanTest::SlowerThan {
                family,
                quantile,
                min_samples,
            } => family.is_slower(s, *quantile, *min_samples, tokio::time::Instant::now()),
        }
    }
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Cond {
    /// Some span passes all tests.
    AnySpan(Vec<SpanTest>),
    /// The root span passes all tests.
    Root(Vec<SpanTest>),
    Trace {
        min_duration: Option<u64>,
        max_duration: Option<u64>,
        min_spans: Option<usize>,
        max_spans: Option<usize>,
        aggregates: Vec<Aggregate>,
    },
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

fn nanos(d: config::Dur) -> u64 {
    d.get().as_nanos().min(u64::MAX as u128) as u64
}

fn kind_bit(k: SpanKind) -> u8 {
    1 << match k {
        SpanKind::Unspecified => kind::UNSPECIFIED,
        SpanKind::Internal => kind::INTERNAL,
        SpanKind::Server => kind::SERVER,
        SpanKind::Client => kind::CLIENT,
        SpanKind::Producer => kind::PRODUCER,
        SpanKind::Consumer => kind::CONSUMER,
    }
}

fn status_bit(s: StatusCode) -> u8 {
    1 << match s {
        StatusCode::Unset => status::UNSET,
        StatusCode::Ok => status::OK,
        StatusCode::Error => status::ERROR,
    }
}

pub(super) fn span_tests(m: &SpanMatcher, ctx: &mut Ctx) -> Result<Vec<SpanTest>, regex::Error> {
    let interest = &mut *ctx.interest;
    let mut t = Vec::new();
    if let Some(n) = &m.name {
        t.push(SpanTest::Name(StrTest::compile(n)?));
    }
    if let Some(s) = &m.service {
        t.push(SpanTest::Service(StrTest::compile(s)?));
    }
    if let Some(k) = &m.kind {
        t.push(SpanTest::Kind(
            k.as_slice().iter().fold(0, |m, k| m | kind_bit(*k)),
        ));
    }
    if let Some(s) = &m.status {
        t.push(SpanTest::Status(
            s.as_slice().iter().fold(0, |m, s| m | status_bit(*s)),
        ));
    }
    if let Some(d) = m.min_duration {
        t.push(SpanTest::MinDuration(nanos(d)));
    }
    if let Some(d) = m.max_duration {
        t.push(SpanTest::MaxDuration(nanos(d)));
    }
    for (k, v) in m.attributes.iter().flatten() {
        t.push(SpanTest::Attr(interest.span_key(k), ValTest::compile(v)?));
    }
    for (k, v) in m.resource.iter().flatten() {
        t.push(SpanTest::Resource(
            interest.resource_key(k),
            ValTest::compile(v)?,
        ));
    }
    // Last: the cheaper tests decide most spans before the sketch is asked.
    if let Some(st) = &m.slower_than {
        t.push(SpanTest::SlowerThan {
            family: ctx.stages.family(st, ctx.interest),
            quantile: st.quantile,
            min_samples: st.min_samples,
        });
    }
    Ok(t)
}

impl Cond {
    /// Compiles a condition, registering the attribute keys it reads.
    pub fn compile(c: &Condition, ctx: &mut Ctx) -> Result<Cond, regex::Error> {
        let mut parts = Vec::new();
        if let Some(m) = &c.span {
            parts.push(Cond::AnySpan(span_tests(m, ctx)?));
        }
        if let Some(m) = &c.root {
            parts.push(Cond::Root(span_tests(m, ctx)?));
        }
        if let Some(
            t @ TraceMatcher {
                min_duration,
                max_duration,
                min_spans,
                max_spans,
                ..
            },
        ) = &c.trace
        {
            parts.push(Cond::Trace {
                min_duration: min_duration.map(nanos),
                max_duration: max_duration.map(nanos),
                min_spans: *min_spans,
                max_spans: *max_spans,
                aggregates: Aggregate::compile_all(t, ctx)?,
            });
        }
        if let Some(any) = &c.any {
            let alts = any
                .iter()
                .map(|c| Cond::compile(c, ctx))
                .collect::<Result<_, _>>()?;
            parts.push(Cond::Any(alts));
        }
        if let Some(not) = &c.not {
            parts.push(Cond::Not(Box::new(Cond::compile(not, ctx)?)));
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Cond::All(parts)
        })
    }

    /// Evaluates the condition on a trace's spans.
    pub fn eval(&self, spans: &[Span]) -> bool {
        match self {
            Cond::AnySpan(tests) => spans.iter().any(|s| tests.iter().all(|t| t.matches(s))),
            Cond::Root(tests) => root(spans).is_some_and(|s| tests.iter().all(|t| t.matches(s))),
            Cond::Trace {
                min_duration,
                max_duration,
                min_spans,
                max_spans,
                aggregates,
            } => {
                let d = trace_duration(spans);
                min_duration.is_none_or(|m| d >= m)
                    && max_duration.is_none_or(|m| d <= m)
                    && min_spans.is_none_or(|m| spans.len() >= m)
                    && max_spans.is_none_or(|m| spans.len() <= m)
                    && aggregates.iter().all(|a| a.holds(spans))
            }
            Cond::All(cs) => cs.iter().all(|c| c.eval(spans)),
            Cond::Any(cs) => cs.iter().any(|c| c.eval(spans)),
            Cond::Not(c) => !c.eval(spans),
        }
    }
}

impl Cond {
    /// The config key of this part of a `when` (`span`, `root`, `trace`, `any`, `not`; `all`
    /// for a condition of several parts).
    pub fn label(&self) -> &'static str {
        match self {
            Cond::AnySpan(_) => "span",
            Cond::Root(_) => "root",
            Cond::Trace { .. } => "trace",
            Cond::All(_) => "all",
            Cond::Any(_) => "any",
            Cond::Not(_) => "not",
        }
    }

    /// The parts of the condition that do not hold on these spans (for explanations).
    pub fn failed_parts(&self, spans: &[Span]) -> Vec<&'static str> {
        match self {
            Cond::All(parts) => parts
                .iter()
                .filter(|c| !c.eval(spans))
                .map(Cond::label)
                .collect(),
            c if !c.eval(spans) => vec![c.label()],
            _ => Vec::new(),
        }
    }
}
