//! Trace aggregates: `trace: { sum, max, count }` over the spans of a trace, compiled once and
//! evaluated on the spans held when the trace is decided.

use super::condition::{span_tests, Ctx, SpanTest};
use crate::config::{AttributeAggregate, SpanCount, TraceMatcher};
use crate::otlp::Span;

/// What is computed over the trace's spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sum,
    Max,
    Count,
}

/// One compiled aggregate with its inclusive bounds.
#[derive(Debug, Clone)]
pub struct Aggregate {
    kind: Kind,
    /// The attribute's interest index (`sum`, `max`).
    attr: Option<u16>,
    /// Only spans passing every test count.
    filter: Vec<SpanTest>,
    min: f64,
    max: f64,
}

fn numeric(kind: Kind, a: &AttributeAggregate, ctx: &mut Ctx) -> Result<Aggregate, regex::Error> {
    Ok(Aggregate {
        kind,
        attr: Some(ctx.interest.span_key(&a.attribute)),
        filter: match &a.span {
            Some(m) => span_tests(m, ctx)?,
            None => Vec::new(),
        },
        min: a.min.unwrap_or(f64::NEG_INFINITY),
        max: a.max.unwrap_or(f64::INFINITY),
    })
}

fn count(c: &SpanCount, ctx: &mut Ctx) -> Result<Aggregate, regex::Error> {
    Ok(Aggregate {
        kind: Kind::Count,
        attr: None,
        filter: span_tests(&c.span, ctx)?,
        min: c.min.map_or(f64::NEG_INFINITY, |v| v as f64),
        max: c.max.map_or(f64::INFINITY, |v| v as f64),
    })
}

impl Aggregate {
    /// Compiles the aggregates of a `trace:` matcher, registering the attributes they read.
    pub fn compile_all(t: &TraceMatcher, ctx: &mut Ctx) -> Result<Vec<Aggregate>, regex::Error> {
        let mut out = Vec::new();
        if let Some(a) = &t.sum {
            out.push(numeric(Kind::Sum, a, ctx)?);
        }
        if let Some(a) = &t.max {
            out.push(numeric(Kind::Max, a, ctx)?);
        }
        if let Some(c) = &t.count {
            out.push(count(c, ctx)?);
        }
        Ok(out)
    }

    /// The aggregate over these spans; `None` when no counted span has a numeric value
    /// (`sum`, `max`). A count is never `None`.
    pub fn value(&self, spans: &[Span]) -> Option<f64> {
        let counted = spans
            .iter()
            .filter(|s| self.filter.iter().all(|t| t.matches(s)));
        match (self.kind, self.attr) {
            (Kind::Count, _) => Some(counted.count() as f64),
            (_, None) => None,
            (kind, Some(i)) => counted
                .filter_map(|s| s.attr(i).and_then(|v| v.as_f64()))
                .fold(None, |acc: Option<f64>, v| {
                    Some(match (acc, kind) {
                        (None, _) => v,
                        (Some(a), Kind::Max) => a.max(v),
                        (Some(a), _) => a + v,
                    })
                }),
        }
    }

    /// Whether the aggregate lies within the bounds.
    pub fn holds(&self, spans: &[Span]) -> bool {
        self.value(spans)
            .is_some_and(|v| v >= self.min && v <= self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::fixtures::{self, span};
    use crate::otlp::Interest;

    fn compiled(trace_yaml: &str) -> (Vec<Aggregate>, Interest) {
        let y = format!(
            "receivers: {{ otlp: {{ http: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
             exporters: {{ f: {{ protocol: file, path: /dev/null }} }}\n\
             sampling:\n  rules:\n    - {{ name: a, when: {{ trace: {trace_yaml} }}, keep: true }}\n"
        );
        let c = parse(&y, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let t = c.sampling.rules[0]
            .when
            .as_ref()
            .unwrap()
            .trace
            .clone()
            .unwrap();
        let mut interest = Interest::default();
        let mut stages = crate::stages::Stages::default();
        let mut ctx = Ctx {
            interest: &mut interest,
            stages: &mut stages,
        };
        (Aggregate::compile_all(&t, &mut ctx).unwrap(), interest)
    }

    fn spans(interest: &Interest, built: Vec<fixtures::SpanBuilder>) -> Vec<Span> {
        fixtures::ingested(&fixtures::request("llm", built), interest)
    }

    #[test]
    fn token_sum_across_spans_mixes_ints_and_doubles_and_skips_strings() {
        let (aggs, interest) =
            compiled("{ sum: { attribute: gen_ai.usage.input_tokens, min: 50000 } }");
        let calls = |a: i64, b: f64| {
            spans(
                &interest,
                vec![
                    span(1, 1)
                        .name("chat")
                        .attr_int("gen_ai.usage.input_tokens", a),
                    span(1, 2)
                        .name("chat")
                        .attr_double("gen_ai.usage.input_tokens", b),
                    span(1, 3)
                        .name("chat")
                        .attr("gen_ai.usage.input_tokens", "99999"),
                    span(1, 4).name("retrieve"),
                ],
            )
        };
        assert_eq!(aggs[0].value(&calls(30_000, 20_000.0)), Some(50_000.0));
        assert!(
            aggs[0].holds(&calls(30_000, 20_000.0)),
            "50000 is at the bound"
        );
        assert!(!aggs[0].holds(&calls(30_000, 19_999.0)));
        assert!(
            !aggs[0].holds(&spans(&interest, vec![span(1, 1).name("chat")])),
            "no span has the attribute: no sum"
        );
    }

    #[test]
    fn max_and_count_with_a_span_filter() {
        let (aggs, interest) = compiled(
            "{ max: { attribute: frames, max: 100, span: { name: upscale } }, \
               count: { span: { name: chat }, min: 3 } }",
        );
        let (max, count) = (&aggs[0], &aggs[1]);
        let t = spans(
            &interest,
            vec![
                span(1, 1).name("upscale").attr_int("frames", 90),
                span(1, 2).name("upscale").attr_int("frames", 60),
                span(1, 3).name("synth").attr_int("frames", 500),
                span(1, 4).name("chat"),
                span(1, 5).name("chat"),
            ],
        );
        assert_eq!(max.value(&t), Some(90.0), "only upscale spans count");
        assert!(max.holds(&t));
        assert_eq!(count.value(&t), Some(2.0));
        assert!(!count.holds(&t));
        let mut more = t.clone();
        more.extend(spans(&interest, vec![span(1, 6).name("chat")]));
        assert!(count.holds(&more), "three chat calls");
    }
}
