//! `rate_limiting`: samples traces while a token bucket of `spans_per_second` (burst
//! `burst_capacity`, default twice the rate) has room for all their spans.

use super::{Boxed, Limiting};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::RateLimitingCfg;

pub fn compile(c: &mut Compiler, cfg: RateLimitingCfg, path: &str) -> Option<Boxed> {
    let rate = (cfg.spans_per_second.0, cfg.burst_capacity.map(|b| b.0));
    Limiting::compile(c, rate, path, "spans_per_second", |t| t.spans.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::super::Decision;
    use crate::fixtures::span;

    #[test]
    fn samples_while_the_bucket_has_room() {
        let p = compile("{ name: p, type: rate_limiting, rate_limiting: { spans_per_second: 2, burst_capacity: 3 } }");
        assert_eq!(judge(&p, vec![span(1, 1), span(1, 2)]), Decision::Sampled);
        assert_eq!(
            judge(&p, vec![span(2, 1), span(2, 2)]),
            Decision::NotSampled
        );
        assert_eq!(judge(&p, vec![span(3, 1)]), Decision::Sampled);
    }

    #[test]
    fn needs_a_rate() {
        assert_error(
            "{ name: p, type: rate_limiting, rate_limiting: { spans_per_second: 0 } }",
            ".rate_limiting.spans_per_second",
            "greater than 0",
        );
    }
}
