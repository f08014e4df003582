//! `min_per_key`: the floor under every key of an adaptive rule. A key that has kept fewer
//! than `traces` traces in its current period of `every` keeps the next one whatever its
//! probability, so the first `traces` traces of every period are kept and the rest are
//! sampled. The fair share of the target shrinks to leave room for these keeps.

use super::allocate::fair_share;
use std::time::Duration;
use tokio::time::Instant;

/// The floor as configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinPerKey {
    pub traces: u64,
    pub every: Duration,
}

impl MinPerKey {
    /// The floor as a rate (traces per second per key).
    pub fn rate(&self) -> f64 {
        self.traces as f64 / self.every.as_secs_f64().max(1e-3)
    }
}

/// One key's progress toward its floor in the current period.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floor {
    start: Option<Instant>,
    kept: u64,
}

impl Floor {
    /// Whether the key still owes keeps in its period at `now` (a new period starts when the
    /// last one is over).
    pub fn owed(&mut self, spec: &MinPerKey, now: Instant) -> bool {
        match self.start {
            Some(s) if now.saturating_duration_since(s) < spec.every => {}
            _ => {
                self.start = Some(now);
                self.kept = 0;
            }
        }
        self.kept < spec.traces
    }

    /// Counts a kept trace of the key (kept by probability or by the floor).
    pub fn record_kept(&mut self) {
        self.kept += 1;
    }
}

/// Expected kept rate of a key of rate `r` under share `c` with a floor of `floor` traces/s:
/// its first traces of each period up to the floor, then the rest at probability `c / r`.
pub fn kept_rate(r: f64, c: f64, floor: f64) -> f64 {
    if r <= 0.0 {
        return 0.0;
    }
    r.min(floor) + (r - floor).max(0.0) * (c / r).min(1.0)
}

/// The fair share `c` such that the keys' expected kept rates ([`kept_rate`]) add up to
/// `target`: the floors come out of the target first. 0 when the floors alone use it up;
/// infinity when every key fits whole.
pub fn share_with_floor(rates: &[f64], target: f64, floor: f64) -> f64 {
    let kept = |c: f64| -> f64 { rates.iter().map(|&r| kept_rate(r, c, floor)).sum() };
    if kept(0.0) >= target {
        return 0.0;
    }
    let unbounded = fair_share(rates, target);
    if unbounded.is_infinite() {
        return unbounded;
    }
    // kept(c) is continuous and increasing in c: bisect between 0 and the share without
    // floors (which keeps at least the target).
    let (mut lo, mut hi) = (0.0, unbounded);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if kept(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_come_out_of_the_target() {
        // 100 rare keys at 0.01/s and one busy key at 100/s, target 1/s, floor 1 per 15 min.
        let mut rates = vec![0.01; 100];
        rates.push(100.0);
        let floor = MinPerKey {
            traces: 1,
            every: Duration::from_secs(900),
        }
        .rate();
        let c = share_with_floor(&rates, 1.0, floor);
        let kept: f64 = rates.iter().map(|&r| kept_rate(r, c, floor)).sum();
        assert!((kept - 1.0).abs() < 1e-9, "{kept}");
        assert!(c < fair_share(&rates, 1.0), "the busy key gives up room");
        assert_eq!(
            share_with_floor(&rates, 0.05, floor),
            0.0,
            "floors exceed the target"
        );
        assert!(share_with_floor(&[0.1, 0.2], 5.0, floor).is_infinite());
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_owes_until_it_kept_its_floor_each_period() {
        let spec = MinPerKey {
            traces: 2,
            every: Duration::from_secs(60),
        };
        let mut f = Floor::default();
        assert!(f.owed(&spec, Instant::now()));
        f.record_kept();
        assert!(f.owed(&spec, Instant::now()));
        f.record_kept();
        assert!(!f.owed(&spec, Instant::now()));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(f.owed(&spec, Instant::now()), "a new period");
    }
}
