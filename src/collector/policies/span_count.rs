//! `span_count`: samples a trace with at least `min_spans` spans and, when `max_spans` is
//! not 0, at most `max_spans`.

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::SpanCountCfg;

/// `max == 0`: no upper bound.
#[derive(Debug)]
pub struct SpanCount {
    min: i64,
    max: i64,
}

pub fn compile(c: &mut Compiler, cfg: SpanCountCfg, path: &str) -> Option<Boxed> {
    let (min, max) = (cfg.min_spans.0, cfg.max_spans.0);
    c.non_negative(path, "min_spans", min);
    if c.non_negative(path, "max_spans", max) && max != 0 && max < min {
        c.error(
            format!("{path}.max_spans"),
            format!("({max}) is less than min_spans ({min}); 0 means no upper bound"),
        );
    }
    Some(Box::new(SpanCount { min, max }))
}

impl Policy for SpanCount {
    fn eval(&self, t: &TraceView) -> Decision {
        let n = t.spans.len() as i64;
        Decision::of(n >= self.min && (self.max == 0 || n <= self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn counts_the_spans_between_the_bounds() {
        let p =
            compile("{ name: p, type: span_count, span_count: { min_spans: 2, max_spans: 3 } }");
        assert_eq!(judge(&p, vec![span(1, 1)]), Decision::NotSampled);
        assert_eq!(judge(&p, vec![span(1, 1), span(1, 2)]), Decision::Sampled);
        let four = (1..=4).map(|i| span(1, i)).collect();
        assert_eq!(judge(&p, four), Decision::NotSampled);
    }

    #[test]
    fn max_below_min_is_named() {
        assert_error(
            "{ name: p, type: span_count, span_count: { min_spans: 3, max_spans: 2 } }",
            ".span_count.max_spans",
            "less than min_spans",
        );
    }
}
