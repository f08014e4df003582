//! The Collector's `probabilistic` policy, bit for bit: FNV-1a (64 bit) over the salt and the
//! trace id bytes, sampled when the hash is at most `floor(MaxUint64 x percentage / 100)`
//! (computed like Go's `big.Float` with 64-bit precision). The same trace ids are kept as by
//! the Collector with the same salt.

use crate::otlp::TraceId;

/// The Collector's salt when `hash_salt` is not set.
pub const DEFAULT_SALT: &str = "default-hash-seed";

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bit, over `parts` in order.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h = FNV_OFFSET;
    for part in parts {
        for &b in *part {
            h ^= b as u64;
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    h
}

/// The hash the policy compares: salt bytes, then the 16 trace id bytes.
#[inline]
pub fn hash(salt: &[u8], id: &TraceId) -> u64 {
    fnv1a64(&[salt, id])
}

/// `MaxUint64 x ratio`, rounded to 64 significant bits (nearest, ties to even) and truncated
/// to an integer; saturating at 0 and `u64::MAX`, as Go's `big.Float.Uint64` does.
pub fn threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    if ratio >= 1.0 {
        return u64::MAX;
    }
    // ratio = mantissa x 2^exp exactly (a finite positive double).
    let bits = ratio.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mantissa, exp) = if raw_exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), raw_exp - 1075)
    };
    // Exact product with 2^64 - 1 (at most 117 bits).
    let product = (u64::MAX as u128) * (mantissa as u128);
    let bit_len = 128 - product.leading_zeros() as i32;
    let (mut q, mut shift) = if bit_len > 64 {
        let s = bit_len - 64;
        let q = product >> s;
        let rem = product & ((1u128 << s) - 1);
        let half = 1u128 << (s - 1);
        let up = rem > half || (rem == half && q & 1 == 1);
        (q + up as u128, s)
    } else {
        (product, 0)
    };
    if q >> 64 != 0 {
        q >>= 1;
        shift += 1;
    }
    let e = shift + exp;
    if e >= 0 {
        if e >= 64 || (q << e) >> 64 != 0 {
            u64::MAX
        } else {
            (q << e) as u64
        }
    } else if -e >= 128 {
        0
    } else {
        (q >> (-e)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_vectors() {
        assert_eq!(fnv1a64(&[b""]), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(&[b"foobar"]), 0x85944171f73967e8);
        assert_eq!(fnv1a64(&[b"foo", b"bar"]), fnv1a64(&[b"foobar"]));
    }

    #[test]
    fn thresholds_like_go_big_float() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(2.0), u64::MAX);
        assert_eq!(threshold(-0.5), 0);
        // (2^64 - 1) / 2 = 2^63 - 0.5, truncated.
        assert_eq!(threshold(0.5), (1u64 << 63) - 1);
        assert_eq!(threshold(0.25), (1u64 << 62) - 1);
        // 0.1 as a double is slightly above 1/10.
        let t = threshold(0.1);
        let approx = (u64::MAX as f64 * 0.1) as u64;
        assert!(t.abs_diff(approx) < 1 << 12, "{t} vs {approx}");
    }

    proptest::proptest! {
        #[test]
        fn threshold_is_monotonic_and_close_to_the_float_product(a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            proptest::prop_assert!(threshold(lo) <= threshold(hi));
            let approx = u64::MAX as f64 * a;
            proptest::prop_assert!((threshold(a) as f64 - approx).abs() <= approx * 1e-15 + 1.0);
        }
    }

    #[test]
    fn rate_matches_percentage() {
        for pct in [1.0, 10.0, 50.0] {
            let t = threshold(pct / 100.0);
            let n = 100_000u128;
            let kept = (0..n)
                .filter(|i| hash(DEFAULT_SALT.as_bytes(), &(i * 7919).to_be_bytes()) <= t)
                .count();
            let frac = kept as f64 / n as f64 * 100.0;
            assert!(
                (frac - pct).abs() < 0.5 + pct * 0.05,
                "{pct}%: kept {frac}%"
            );
        }
    }
}
