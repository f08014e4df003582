//! `and`: samples a trace when every sub-policy samples it.

use super::{subs, Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::AndCfg;

#[derive(Debug)]
pub struct And(Vec<Boxed>);

pub fn compile(c: &mut Compiler, cfg: AndCfg, path: &str) -> Option<Boxed> {
    let subs = subs(c, &cfg.and_sub_policy, &format!("{path}.and_sub_policy"))?;
    Some(Box::new(And(subs)))
}

impl Policy for And {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(self.0.iter().all(|p| p.eval(t) == Decision::Sampled))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn every_sub_policy_must_sample() {
        let p = compile("{ name: p, type: and, and: { and_sub_policy: [{ name: e, type: status_code, status_code: { status_codes: [ERROR] } }, { name: n, type: span_count, span_count: { min_spans: 2 } }] } }");
        assert_eq!(
            judge(&p, vec![span(1, 1).error(), span(1, 2)]),
            Decision::Sampled
        );
        assert_eq!(judge(&p, vec![span(1, 1).error()]), Decision::NotSampled);
    }

    #[test]
    fn needs_sub_policies() {
        assert_error(
            "{ name: p, type: and, and: { and_sub_policy: [] } }",
            ".and.and_sub_policy",
            "at least one sub-policy",
        );
    }
}
