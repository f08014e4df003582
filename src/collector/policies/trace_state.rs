//! `trace_state`: samples a trace when a span's W3C tracestate has `key` with one of the values.

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::collector::raw;
use crate::config::tail_sampling::TraceStateCfg;

#[derive(Debug)]
pub struct TraceState {
    key: String,
    values: Vec<String>,
}

pub fn compile(c: &mut Compiler, cfg: TraceStateCfg, path: &str) -> Option<Boxed> {
    if cfg.key.is_empty() {
        c.error(
            format!("{path}.key"),
            "required: the tracestate key to look at",
        );
    }
    if cfg.values.0.is_empty() {
        c.error(format!("{path}.values"), "give at least one value");
    }
    let key_len = cfg.key.len();
    Some(Box::new(TraceState {
        values: cfg
            .values
            .0
            .into_iter()
            .filter(|v| !v.is_empty() && key_len + v.len() < 256)
            .collect(),
        key: cfg.key,
    }))
}

impl Policy for TraceState {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(t.spans.iter().any(|s| {
            s.trace_state()
                .and_then(|ts| raw::trace_state_get(ts, &self.key))
                .is_some_and(|v| self.values.iter().any(|x| x == v))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn samples_on_a_tracestate_value() {
        let p =
            compile("{ name: p, type: trace_state, trace_state: { key: tier, values: [gold] } }");
        let mut s = span(1, 1);
        s.0.trace_state = "x=1,tier=gold".into();
        assert_eq!(judge(&p, vec![s]), Decision::Sampled);
        let mut s = span(1, 1);
        s.0.trace_state = "tier=silver".into();
        assert_eq!(judge(&p, vec![s]), Decision::NotSampled);
    }

    #[test]
    fn needs_a_key() {
        assert_error(
            "{ name: p, type: trace_state, trace_state: { values: [a] } }",
            ".trace_state.key",
            "required",
        );
    }
}
