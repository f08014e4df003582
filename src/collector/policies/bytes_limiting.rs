//! `bytes_limiting`: samples traces while a token bucket of `bytes_per_second` (burst
//! `burst_capacity`, default twice the rate) has room for their spans' encoded bytes.

use super::{Boxed, Limiting};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::BytesLimitingCfg;

pub fn compile(c: &mut Compiler, cfg: BytesLimitingCfg, path: &str) -> Option<Boxed> {
    let rate = (cfg.bytes_per_second.0, cfg.burst_capacity.map(|b| b.0));
    Limiting::compile(c, rate, path, "bytes_per_second", |t| t.bytes())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::super::Decision;
    use crate::fixtures::span;

    #[test]
    fn samples_while_the_bucket_has_room_for_the_bytes() {
        let p = compile("{ name: p, type: bytes_limiting, bytes_limiting: { bytes_per_second: 10, burst_capacity: 100 } }");
        let big = || span(1, 1).attr("payload", &"x".repeat(200));
        assert_eq!(judge(&p, vec![big()]), Decision::NotSampled);
        assert_eq!(judge(&p, vec![span(2, 1)]), Decision::Sampled);
    }

    #[test]
    fn a_negative_burst_is_named() {
        assert_error(
            "{ name: p, type: bytes_limiting, bytes_limiting: { bytes_per_second: 10, burst_capacity: -1 } }",
            ".bytes_limiting.burst_capacity",
            "negative",
        );
    }
}
