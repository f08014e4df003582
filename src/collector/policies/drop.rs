//! `drop`: when every sub-policy samples a trace, the trace is dropped whatever the other
//! policies say (only at the top level of `policies`).

use super::{subs, Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::DropCfg;

#[derive(Debug)]
pub struct Drop(Vec<Boxed>);

pub fn compile(c: &mut Compiler, cfg: DropCfg, path: &str, top: bool) -> Option<Boxed> {
    if !top {
        c.error(
            format!("{path}.type"),
            "`drop` is only allowed at the top level of `policies` (its verdict overrides the others)",
        );
    }
    let subs = subs(
        c,
        &cfg.drop_sub_policy,
        &format!("{path}.drop.drop_sub_policy"),
    )?;
    Some(Box::new(Drop(subs)))
}

impl Policy for Drop {
    fn eval(&self, t: &TraceView) -> Decision {
        if self.0.iter().all(|p| p.eval(t) == Decision::Sampled) {
            Decision::Dropped
        } else {
            Decision::NotSampled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge_attr};
    use super::Decision;

    #[test]
    fn drops_when_every_sub_policy_samples() {
        let p = compile("{ name: p, type: drop, drop: { drop_sub_policy: [{ name: h, type: string_attribute, string_attribute: { key: url, values: [/health] } }] } }");
        assert_eq!(judge_attr(&p, "url", "/health"), Decision::Dropped);
        assert_eq!(judge_attr(&p, "url", "/api"), Decision::NotSampled);
    }

    #[test]
    fn only_at_the_top_level() {
        assert_error(
            "{ name: p, type: and, and: { and_sub_policy: [{ name: d, type: drop, drop: { drop_sub_policy: [{ name: a, type: always_sample }] } }] } }",
            ".and.and_sub_policy[0].type",
            "only allowed at the top level",
        );
    }
}
