//! `probabilistic`: samples `sampling_percentage` of traces by the Collector's own hash of
//! `hash_salt` and the trace id, so the same traces are kept as by a Collector.

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::collector::probabilistic::{hash, threshold, DEFAULT_SALT};
use crate::config::tail_sampling::ProbabilisticCfg;

#[derive(Debug)]
pub struct Probabilistic {
    salt: Box<[u8]>,
    threshold: u64,
}

pub fn compile(c: &mut Compiler, cfg: ProbabilisticCfg, path: &str) -> Option<Boxed> {
    let pct = cfg.sampling_percentage;
    if !pct.is_finite() || pct < 0.0 {
        c.error(
            format!("{path}.sampling_percentage"),
            format!("must be a percentage from 0 to 100, got {pct}"),
        );
    }
    let salt = if cfg.hash_salt.is_empty() {
        DEFAULT_SALT
    } else {
        &cfg.hash_salt
    };
    Some(Box::new(Probabilistic {
        salt: salt.as_bytes().into(),
        threshold: threshold(pct / 100.0),
    }))
}

impl Policy for Probabilistic {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(hash(&self.salt, t.id) <= self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn zero_and_a_hundred_percent() {
        let none =
            compile("{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 0 } }");
        let all = compile(
            "{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 100 } }",
        );
        for t in 1..50 {
            assert_eq!(judge(&none, vec![span(t, 1)]), Decision::NotSampled);
            assert_eq!(judge(&all, vec![span(t, 1)]), Decision::Sampled);
        }
    }

    #[test]
    fn about_the_percentage_is_sampled() {
        let p =
            compile("{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 25 } }");
        let kept = (1..=2000u128)
            .filter(|&t| judge(&p, vec![span(t * 7919, 1)]) == Decision::Sampled)
            .count();
        assert!((400..=600).contains(&kept), "{kept} of 2000 at 25%");
    }

    #[test]
    fn a_negative_percentage_is_named() {
        assert_error(
            "{ name: p, type: probabilistic, probabilistic: { sampling_percentage: -1 } }",
            ".probabilistic.sampling_percentage",
            "percentage",
        );
    }
}
