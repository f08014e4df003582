//! `not`: samples a trace when its sub-policy does not.

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::NotCfg;

#[derive(Debug)]
pub struct Not(Boxed);

pub fn compile(c: &mut Compiler, cfg: Option<&NotCfg>, path: &str) -> Option<Boxed> {
    let Some(cfg) = cfg else {
        c.error(
            path,
            "required: `not: { not_sub_policy: { name: ..., type: ... } }`",
        );
        return None;
    };
    let sub = c.policy(
        &cfg.not_sub_policy,
        &format!("{path}.not_sub_policy"),
        false,
    )?;
    Some(Box::new(Not(sub)))
}

impl Policy for Not {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(self.0.eval(t) != Decision::Sampled)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn flips_its_sub_policy() {
        let p = compile("{ name: p, type: not, not: { not_sub_policy: { name: e, type: status_code, status_code: { status_codes: [ERROR] } } } }");
        assert_eq!(judge(&p, vec![span(1, 1).error()]), Decision::NotSampled);
        assert_eq!(judge(&p, vec![span(1, 1)]), Decision::Sampled);
    }

    #[test]
    fn needs_its_block() {
        assert_error("{ name: p, type: not }", ".not", "required");
    }
}
