//! `ottl_condition`: samples a trace when any span (or span event) satisfies any of the OTTL
//! boolean conditions (the subset `collector::ottl` parses).

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::collector::ottl::{self, Context, Scope};
use crate::collector::raw;
use crate::config::tail_sampling::OttlConditionCfg;

#[derive(Debug)]
pub struct OttlCondition {
    span: Vec<ottl::Cond>,
    event: Vec<ottl::Cond>,
}

pub fn compile(c: &mut Compiler, cfg: OttlConditionCfg, path: &str) -> Option<Boxed> {
    if cfg.span.0.is_empty() && cfg.spanevent.0.is_empty() {
        c.error(
            path,
            "give at least one condition under `span` or `spanevent`",
        );
    }
    let span = c.conditions(&cfg.span.0, Context::Span, &format!("{path}.span"));
    let event = c.conditions(
        &cfg.spanevent.0,
        Context::SpanEvent,
        &format!("{path}.spanevent"),
    );
    if !event.is_empty() {
        c.interest.want_span_events();
    }
    Some(Box::new(OttlCondition { span, event }))
}

impl Policy for OttlCondition {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(t.spans.iter().any(|s| {
            let scope = Scope {
                span: s,
                event: None,
            };
            if self.span.iter().any(|c| c.eval(&scope)) {
                return true;
            }
            !self.event.is_empty()
                && raw::events(s.raw()).iter().any(|e| {
                    let scope = Scope {
                        span: s,
                        event: Some(e),
                    };
                    self.event.iter().any(|c| c.eval(&scope))
                })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn span_and_event_conditions() {
        let p = compile(
            r#"{ name: p, type: ottl_condition, ottl_condition: { span: ['name == "checkout"'], spanevent: ['name == "exception"'] } }"#,
        );
        assert_eq!(
            judge(&p, vec![span(1, 1).name("checkout")]),
            Decision::Sampled
        );
        assert_eq!(
            judge(&p, vec![span(1, 1).name("other")]),
            Decision::NotSampled
        );
        let mut with_event = span(2, 1).name("other");
        with_event
            .0
            .events
            .push(opentelemetry_proto::tonic::trace::v1::span::Event {
                name: "exception".into(),
                ..Default::default()
            });
        assert_eq!(judge(&p, vec![with_event]), Decision::Sampled);
    }

    #[test]
    fn needs_a_condition() {
        assert_error(
            "{ name: p, type: ottl_condition, ottl_condition: {} }",
            ".ottl_condition",
            "at least one condition",
        );
    }
}
