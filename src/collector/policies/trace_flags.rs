//! `trace_flags`: samples a trace when any of its spans has the W3C `sampled` flag set.

use super::{Decision, Policy, TraceView};
use crate::collector::raw;

#[derive(Debug)]
pub struct TraceFlags;

impl Policy for TraceFlags {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(t.spans.iter().any(|s| raw::flags(s.raw()) & 0x01 != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn samples_when_a_span_has_the_sampled_flag() {
        let p = compile("{ name: p, type: trace_flags }");
        let mut sampled = span(1, 2);
        sampled.0.flags = 0x101;
        assert_eq!(judge(&p, vec![span(1, 1), sampled]), Decision::Sampled);
        let mut other = span(2, 1);
        other.0.flags = 0x100;
        assert_eq!(judge(&p, vec![other]), Decision::NotSampled);
    }
}
