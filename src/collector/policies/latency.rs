//! `latency`: samples a trace whose duration (earliest start to latest end, whole
//! milliseconds) is greater than `threshold_ms`, or within `(threshold_ms, upper_threshold_ms]`
//! (both strict below, as the Collector v0.161.0 compares).

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::LatencyCfg;
use crate::otlp::Span;

/// Whole milliseconds; `upper == 0`: no upper bound.
#[derive(Debug)]
pub struct Latency {
    lower: i64,
    upper: i64,
}

pub fn compile(c: &mut Compiler, cfg: LatencyCfg, path: &str) -> Option<Boxed> {
    let (lower, upper) = (cfg.threshold_ms.0, cfg.upper_threshold_ms.0);
    c.non_negative(path, "threshold_ms", lower);
    if c.non_negative(path, "upper_threshold_ms", upper) && upper != 0 && upper <= lower {
        c.error(
            format!("{path}.upper_threshold_ms"),
            format!("({upper}) must be greater than threshold_ms ({lower}): a trace is sampled when threshold_ms < duration <= upper_threshold_ms"),
        );
    }
    Some(Box::new(Latency { lower, upper }))
}

/// Earliest start to latest end, in whole milliseconds (truncated, as Go's `Milliseconds`).
fn duration_ms(spans: &[Span]) -> i64 {
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0) as i128;
    let end = spans.iter().map(|s| s.end()).max().unwrap_or(0) as i128;
    ((end - start) / 1_000_000) as i64
}

impl Policy for Latency {
    fn eval(&self, t: &TraceView) -> Decision {
        let d = duration_ms(t.spans);
        Decision::of(if self.upper == 0 {
            d > self.lower
        } else {
            self.lower < d && d <= self.upper
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn thresholds_are_exclusive_below_and_upper_bounds_inclusive() {
        // The Collector samples `duration > threshold_ms` (tests/peers/ checks it against v0.161.0).
        let p = compile("{ name: p, type: latency, latency: { threshold_ms: 100 } }");
        assert_eq!(judge(&p, vec![span(1, 1).at(0, 101)]), Decision::Sampled);
        assert_eq!(judge(&p, vec![span(1, 1).at(0, 100)]), Decision::NotSampled);
        let p = compile(
            "{ name: p, type: latency, latency: { threshold_ms: 100, upper_threshold_ms: 200 } }",
        );
        assert_eq!(judge(&p, vec![span(1, 1).at(0, 100)]), Decision::NotSampled);
        assert_eq!(judge(&p, vec![span(1, 1).at(0, 200)]), Decision::Sampled);
        assert_eq!(judge(&p, vec![span(1, 1).at(0, 201)]), Decision::NotSampled);
    }

    #[test]
    fn the_whole_trace_counts() {
        let p = compile("{ name: p, type: latency, latency: { threshold_ms: 100 } }");
        let spans = vec![span(1, 1).at(0, 60), span(1, 2).at(50, 60)];
        assert_eq!(judge(&p, spans), Decision::Sampled);
    }

    #[test]
    fn bad_bounds_are_named() {
        assert_error(
            "{ name: p, type: latency, latency: { threshold_ms: -1 } }",
            ".latency.threshold_ms",
            "negative",
        );
        assert_error(
            "{ name: p, type: latency, latency: { threshold_ms: 5, upper_threshold_ms: 5 } }",
            ".latency.upper_threshold_ms",
            "greater than threshold_ms",
        );
    }
}
