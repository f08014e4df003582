//! The group's size as budgets see it: `adaptive` targets and `rate_limit` rates are for the
//! whole group of instances sharing decisions (`crate::cluster`), so each instance takes a
//! share of them. Alone (no `cluster:`), the share is the whole budget.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Live members of this instance's group (at least 1: itself), shared by its samplers.
#[derive(Debug, Clone)]
pub struct GroupSize(Arc<AtomicU32>);

impl Default for GroupSize {
    fn default() -> Self {
        GroupSize(Arc::new(AtomicU32::new(1)))
    }
}

impl GroupSize {
    pub fn members(&self) -> u32 {
        self.0.load(Ordering::Relaxed).max(1)
    }

    pub fn set(&self, members: u32) {
        self.0.store(members.max(1), Ordering::Relaxed);
    }

    /// This instance's share of a group-wide budget.
    pub fn share(&self, budget: f64) -> f64 {
        budget / f64::from(self.members())
    }
}

#[cfg(test)]
mod tests {
    use super::GroupSize;

    #[test]
    fn shares_a_budget_among_live_members() {
        let g = GroupSize::default();
        assert_eq!(g.share(90.0), 90.0);
        let seen_by_sampler = g.clone();
        g.set(3);
        assert_eq!(seen_by_sampler.share(90.0), 30.0);
        g.set(0);
        assert_eq!(
            seen_by_sampler.members(),
            1,
            "never less than this instance"
        );
    }
}
