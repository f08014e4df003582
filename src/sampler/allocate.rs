//! Budget allocation for adaptive sampling, as pure functions: max-min fair ("water-filling")
//! shares of a kept-traces budget across keys, and the moving average of a key's rate.
//!
//! Every key is entitled to an equal share `c` of the target; a key whose whole traffic fits in
//! its share keeps everything, and what it leaves unused is shared by the busier keys. So the
//! kept rate of key `k` is `min(r_k, c)`, with `c` chosen so that these sum to the target:
//! rare keys get probability 1, busy keys `c / r_k`, and a hot key cannot starve a rare one.

/// The fair share `c` (traces per second per key) for keys with the given rates: the value
/// with `sum(min(r_k, c)) == target`, or infinity when all traffic fits within the target.
pub fn fair_share(rates: &[f64], target: f64) -> f64 {
    let mut sorted: Vec<f64> = rates.iter().copied().filter(|r| *r > 0.0).collect();
    sorted.sort_by(f64::total_cmp);
    let mut remaining = target.max(0.0);
    let n = sorted.len();
    for (i, r) in sorted.iter().enumerate() {
        let share = remaining / (n - i) as f64;
        if *r > share {
            return share;
        }
        remaining -= r;
    }
    f64::INFINITY
}

/// The keep-probability of a key with rate `rate` under fair share `share`, at least `min_p`.
pub fn probability(rate: f64, share: f64, min_p: f64) -> f64 {
    if rate <= share || rate <= 0.0 {
        1.0
    } else {
        (share / rate).clamp(min_p, 1.0)
    }
}

/// Folds a rate observed over `fraction` of an interval into a moving average whose newest
/// full interval weighs `WEIGHT`; the weight scales with the time covered, so a short interval
/// (an early adjustment) moves the average less. A first observation is taken as it is, and
/// so is a burst: a rate more than `BURST` times the average replaces it at once.
pub fn moving_average(prev: Option<f64>, observed: f64, fraction: f64) -> f64 {
    match prev {
        None => observed,
        Some(avg) if observed > avg * BURST => observed,
        Some(avg) => {
            let w = 1.0 - (1.0 - WEIGHT).powf(fraction.clamp(0.0, 1.0e6));
            avg + w * (observed - avg)
        }
    }
}

/// Weight of the newest full interval in the moving average (as in Honeycomb Refinery's EMA
/// samplers).
pub const WEIGHT: f64 = 0.5;
/// An observed rate this many times the average counts as a burst.
pub const BURST: f64 = 1.5;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn everything_fits() {
        assert_eq!(fair_share(&[1.0, 2.0, 3.0], 10.0), f64::INFINITY);
        assert_eq!(probability(3.0, f64::INFINITY, 0.01), 1.0);
    }

    #[test]
    fn rare_keys_keep_all_and_the_rest_is_shared() {
        // 1 + 2 fit; 10 - 3 = 7 left for the two busy keys: 3.5 each.
        let c = fair_share(&[1.0, 2.0, 100.0, 1000.0], 10.0);
        assert!((c - 3.5).abs() < 1e-12, "{c}");
        assert_eq!(probability(1.0, c, 1e-4), 1.0);
        assert!((probability(100.0, c, 1e-4) - 0.035).abs() < 1e-12);
        assert!((probability(1000.0, c, 1e-4) - 0.0035).abs() < 1e-12);
    }

    #[test]
    fn min_probability_floors() {
        assert_eq!(probability(1e9, 1.0, 1e-4), 1e-4);
    }

    #[test]
    fn moving_average_follows_bursts_at_once_and_decays_smoothly() {
        assert_eq!(moving_average(None, 7.0, 1.0), 7.0);
        assert_eq!(moving_average(Some(10.0), 100.0, 1.0), 100.0);
        assert_eq!(moving_average(Some(10.0), 12.0, 1.0), 11.0);
        assert_eq!(moving_average(Some(10.0), 0.0, 1.0), 5.0);
        // Two half intervals move it as far as one full interval.
        let half = moving_average(Some(moving_average(Some(10.0), 0.0, 0.5)), 0.0, 0.5);
        assert!((half - 5.0).abs() < 1e-12, "{half}");
    }

    proptest! {
        #[test]
        fn expected_kept_rate_meets_the_target(
            rates in proptest::collection::vec(0.0f64..1e5, 1..50),
            target in 0.1f64..1e4,
        ) {
            let c = fair_share(&rates, target);
            let kept: f64 = rates.iter().map(|r| r * probability(*r, c, 0.0)).sum();
            let total: f64 = rates.iter().sum();
            let want = target.min(total);
            prop_assert!((kept - want).abs() <= 1e-6 * want.max(1.0), "kept {} want {}", kept, want);
        }

        #[test]
        fn rarer_keys_never_get_lower_probabilities(
            rates in proptest::collection::vec(0.1f64..1e5, 2..50),
            target in 0.1f64..1e4,
        ) {
            let c = fair_share(&rates, target);
            for a in &rates {
                for b in &rates {
                    if a < b {
                        prop_assert!(probability(*a, c, 1e-4) >= probability(*b, c, 1e-4));
                    }
                }
            }
        }
    }
}
