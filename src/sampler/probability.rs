//! Consistent probability sampling per the OpenTelemetry randomness convention: the low 56 bits
//! of the trace id are the randomness `R`; probability `p` keeps a trace when `R >= (1 - p) * 2^56`.
//! Every tailsift instance (and any other consistent sampler) reaches the same verdict. An
//! explicit randomness `rv` in the trace's tracestate replaces the trace id's bits.

use crate::otlp::{tracestate, Span, TraceId};

/// 2^56: the size of the randomness space.
pub const MAX_THRESHOLD: u64 = 1 << 56;

/// The randomness value of a trace id: its last 7 bytes, big-endian.
#[inline]
pub fn randomness(trace_id: &TraceId) -> u64 {
    let mut b = [0u8; 8];
    b[1..].copy_from_slice(&trace_id[9..16]);
    u64::from_be_bytes(b)
}

/// The randomness of a trace: the explicit `rv` of its tracestate (the root span's, else the
/// first span's that has one) when present, else the trace id's low 56 bits.
pub fn trace_randomness(trace_id: &TraceId, spans: &[Span]) -> u64 {
    let roots_first = spans
        .iter()
        .filter(|s| s.is_root())
        .chain(spans.iter().filter(|s| !s.is_root()));
    roots_first
        .filter_map(|s| s.trace_state())
        .find_map(|ts| tracestate::read(ts).rv)
        .unwrap_or_else(|| randomness(trace_id))
}

/// Like [`threshold`], but with the keep fraction `2^56 - T` rounded to `digits` significant
/// hex digits (at least 1), so that the `th` written for it is short and decodes exactly to the
/// threshold used. With 4 digits the probability is off by less than 1 part in 4096.
pub fn threshold_rounded(p: f64, digits: u32) -> u64 {
    let keep = MAX_THRESHOLD - threshold(p);
    if keep == 0 {
        return MAX_THRESHOLD;
    }
    let hex_digits = (64 - keep.leading_zeros()).div_ceil(4);
    let digits = digits.max(1);
    if hex_digits <= digits {
        return MAX_THRESHOLD - keep;
    }
    let unit = 1u64 << (4 * (hex_digits - digits));
    let rounded = (keep + unit / 2) / unit * unit;
    MAX_THRESHOLD - rounded.min(MAX_THRESHOLD)
}

/// The rejection threshold for keep-probability `p` (clamped to 0..=1).
pub fn threshold(p: f64) -> u64 {
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    let t = ((1.0 - p) * MAX_THRESHOLD as f64).round();
    (t as u64).min(MAX_THRESHOLD)
}

/// Keep-probability encoded by a threshold.
pub fn probability(threshold: u64) -> f64 {
    1.0 - threshold.min(MAX_THRESHOLD) as f64 / MAX_THRESHOLD as f64
}

/// The consistent verdict: keep when the trace's randomness is at or above the threshold.
#[inline]
pub fn keeps(trace_id: &TraceId, threshold: u64) -> bool {
    randomness(trace_id) >= threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extremes() {
        assert_eq!(threshold(1.0), 0);
        assert_eq!(threshold(0.0), MAX_THRESHOLD);
        assert_eq!(threshold(0.5), 1 << 55);
        assert!(keeps(&[0; 16], threshold(1.0)));
        assert!(!keeps(&[0xff; 16], threshold(0.0)));
    }

    #[test]
    fn randomness_is_low_56_bits() {
        let mut id = [0xaa; 16];
        id[9..].copy_from_slice(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
        assert_eq!(randomness(&id), 0x01020304050607);
    }

    #[test]
    fn keep_fraction_matches_probability() {
        // Deterministic pseudo-random trace ids (splitmix64), 200k of them.
        let mut rng = crate::fixtures::SplitMix64(42);
        let mut next = || rng.next_u64();
        for p in [0.01, 0.1, 0.5, 0.9] {
            let t = threshold(p);
            let n = 200_000;
            let kept = (0..n)
                .filter(|_| {
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&next().to_be_bytes());
                    id[8..].copy_from_slice(&next().to_be_bytes());
                    keeps(&id, t)
                })
                .count();
            let frac = kept as f64 / n as f64;
            assert!((frac - p).abs() < 0.01 + p * 0.05, "p={p} kept {frac}");
        }
    }

    proptest! {
        #[test]
        fn higher_probability_keeps_a_superset(id: [u8; 16], a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            if keeps(&id, threshold(lo)) {
                prop_assert!(keeps(&id, threshold(hi)));
            }
        }

        #[test]
        fn rounded_threshold_is_close_and_short(p in 1e-9f64..=1.0) {
            let t = threshold_rounded(p, 4);
            let q = probability(t);
            prop_assert!((q - p).abs() <= p / 2048.0 + 1e-15, "p={} q={}", p, q);
            prop_assert!(crate::otlp::tracestate::format_threshold(t).len() <= 14);
            prop_assert_eq!(crate::otlp::tracestate::parse_threshold(
                &crate::otlp::tracestate::format_threshold(t)), Some(t));
        }

        #[test]
        fn threshold_roundtrips(p in 0.0f64..=1.0) {
            prop_assert!((probability(threshold(p)) - p).abs() < 1e-12);
        }
    }
}
