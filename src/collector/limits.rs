//! The stateful parts of policies: token buckets (`rate_limiting`, `bytes_limiting`, with the
//! semantics of Go's `golang.org/x/time/rate` limiter the Collector uses) and the per-second
//! span counters of `composite`.

use std::sync::Mutex;
use tokio::time::Instant;

/// A token bucket: starts full, refills continuously at `rate` per second up to `burst`.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Option<Instant>)>,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Bucket {
            rate,
            burst,
            state: Mutex::new((burst, None)),
        }
    }

    /// Takes `n` tokens if the bucket holds them now; otherwise takes nothing.
    pub fn allow(&self, now: Instant, n: u64) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *st;
        let available = match last {
            None => self.burst,
            Some(l) => {
                let elapsed = now.saturating_duration_since(l).as_secs_f64();
                (tokens + elapsed * self.rate).min(self.burst)
            }
        };
        let n = n as f64;
        if n <= available {
            *st = (available - n, Some(last.map_or(now, |l| l.max(now))));
            true
        } else {
            false
        }
    }
}

/// Spans sampled by each composite sub-policy in the current second.
#[derive(Debug, Default)]
pub struct PerSecond {
    state: Mutex<(Option<Instant>, u64, Vec<i64>)>,
}

impl PerSecond {
    pub fn new(subs: usize) -> Self {
        PerSecond {
            state: Mutex::new((None, 0, vec![0; subs])),
        }
    }

    /// Adds `spans` to sub-policy `i`'s count for the current second if the result stays within
    /// `allocated` and `total`; says whether it did. Seconds count from the first decision.
    pub fn admit(&self, now: Instant, i: usize, spans: i64, allocated: i64, total: i64) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (epoch, second, counts) = &mut *st;
        let epoch = *epoch.get_or_insert(now);
        let s = now.saturating_duration_since(epoch).as_secs();
        if s != *second {
            *second = s;
            counts.iter_mut().for_each(|c| *c = 0);
        }
        let after = counts[i].saturating_add(spans);
        if after <= allocated && after <= total {
            counts[i] = after;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_starts_full_and_refills() {
        let t0 = Instant::now();
        let b = Bucket::new(10.0, 20.0);
        assert!(b.allow(t0, 15));
        assert!(!b.allow(t0, 6), "5 left");
        assert!(b.allow(t0, 5));
        assert!(!b.allow(t0 + Duration::from_millis(500), 6), "5 refilled");
        assert!(b.allow(t0 + Duration::from_millis(500), 5));
        assert!(
            !b.allow(t0 + Duration::from_secs(100), 21),
            "never more than burst"
        );
        assert!(b.allow(t0 + Duration::from_secs(100), 20));
    }

    #[test]
    fn per_second_resets() {
        let t0 = Instant::now();
        let p = PerSecond::new(2);
        assert!(p.admit(t0, 0, 5, 5, 10));
        assert!(!p.admit(t0, 0, 1, 5, 10));
        assert!(p.admit(t0, 1, 5, 5, 10), "own counter");
        assert!(p.admit(t0 + Duration::from_millis(1000), 0, 5, 5, 10));
    }
}
