//! This instance's share of the group's budgets: `adaptive` targets and `rate_limit` rates are
//! for the whole group of instances sharing decisions (`crate::cluster`), so each instance
//! takes the fraction of the group's traffic it sees. Alone (no `cluster:`), the share is the
//! whole budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The fraction (0, 1] of the group's budgets this instance takes, shared by its samplers.
#[derive(Debug, Clone)]
pub struct GroupShare(Arc<AtomicU64>);

impl Default for GroupShare {
    fn default() -> Self {
        GroupShare(Arc::new(AtomicU64::new(1f64.to_bits())))
    }
}

/// The smallest share taken: a member that sees almost nothing still keeps something.
const MIN_FRACTION: f64 = 1e-3;

impl GroupShare {
    pub fn fraction(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Sets the fraction (clamped into [0.001, 1]; not a number counts as 1).
    pub fn set(&self, fraction: f64) {
        let f = if fraction.is_nan() {
            1.0
        } else {
            fraction.clamp(MIN_FRACTION, 1.0)
        };
        self.0.store(f.to_bits(), Ordering::Relaxed);
    }

    /// This instance's share of a group-wide budget.
    pub fn share(&self, budget: f64) -> f64 {
        budget * self.fraction()
    }
}

#[cfg(test)]
mod tests {
    use super::GroupShare;

    #[test]
    fn shares_a_budget_by_the_fraction_seen() {
        let g = GroupShare::default();
        assert_eq!(g.share(90.0), 90.0);
        let seen_by_sampler = g.clone();
        g.set(1.0 / 3.0);
        assert!((seen_by_sampler.share(90.0) - 30.0).abs() < 1e-9);
        g.set(0.0);
        assert_eq!(seen_by_sampler.fraction(), 1e-3, "never nothing");
        g.set(f64::NAN);
        assert_eq!(seen_by_sampler.fraction(), 1.0);
    }
}
