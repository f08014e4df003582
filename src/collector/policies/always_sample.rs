//! `always_sample`: samples every trace.

use super::{Decision, Policy, TraceView};

#[derive(Debug)]
pub struct AlwaysSample;

impl Policy for AlwaysSample {
    fn eval(&self, _t: &TraceView) -> Decision {
        Decision::Sampled
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn samples_every_trace() {
        let p = compile("{ name: p, type: always_sample }");
        assert_eq!(judge(&p, vec![span(1, 1)]), Decision::Sampled);
    }
}
