//! The `rate_limit` action: token buckets of traces and of spans, refilled continuously from the
//! decision time. A trace is kept when every configured bucket has room for it.

use crate::config::RateLimitAction;
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Level {
    rate: f64,
    capacity: f64,
    tokens: f64,
}

impl Level {
    fn new(rate: f64, capacity: f64) -> Level {
        let capacity = capacity.max(1.0);
        Level {
            rate,
            capacity,
            tokens: capacity,
        }
    }
    /// Refills for `secs` at this instance's `share` of the rate (and of the bucket).
    fn refill(&mut self, secs: f64, share: f64) {
        self.tokens = (self.tokens + self.rate * share * secs).min(self.capacity * share);
    }
    /// Room for `cost`: enough tokens, or a full bucket for a cost larger than the bucket.
    fn has_room(&self, cost: f64, share: f64) -> bool {
        let capacity = self.capacity * share;
        self.tokens >= cost || (cost > capacity && self.tokens >= capacity)
    }
}

#[derive(Debug)]
struct State {
    traces: Option<Level>,
    spans: Option<Level>,
    last: Option<Instant>,
}

/// A rule's token buckets.
#[derive(Debug)]
pub struct TokenBucket {
    state: Mutex<State>,
    /// The group whose rates these are (`cluster:`); alone, the whole rate is this
    /// instance's.
    group: std::sync::OnceLock<super::group::GroupShare>,
}

impl TokenBucket {
    /// Takes over `old`'s tokens, for a config reload that kept this rule as it was.
    pub fn adopt(&self, old: &TokenBucket) {
        let mut mine = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut theirs = old.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *mine, &mut *theirs);
    }

    /// Buckets per the config (see [`RateLimitAction`] for the meaning of `burst`).
    pub fn new(c: &RateLimitAction) -> TokenBucket {
        let traces = c
            .traces_per_sec
            .map(|r| Level::new(r, c.burst.unwrap_or(r)));
        let spans = c.spans_per_sec.map(|r| match (&traces, c.traces_per_sec) {
            (Some(t), Some(tr)) => Level::new(r, r * t.capacity / tr),
            _ => Level::new(r, c.burst.unwrap_or(r)),
        });
        TokenBucket {
            state: Mutex::new(State {
                traces,
                spans,
                last: None,
            }),
            group: std::sync::OnceLock::new(),
        }
    }

    /// Shares the rates with the live members of `group` from now on.
    pub fn join_group(&self, group: &super::group::GroupShare) {
        let _ = self.group.set(group.clone());
    }

    /// Whether a trace of `spans` spans is kept at time `now` (taking its tokens if so).
    pub fn admit(&self, spans: usize, now: Instant) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let secs = st
            .last
            .map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        if st.last.is_none_or(|l| now > l) {
            st.last = Some(now);
        }
        let cost = spans as f64;
        let share = self.group.get().map_or(1.0, |g| g.share(1.0));
        if let Some(l) = st.traces.as_mut() {
            l.refill(secs, share);
        }
        if let Some(l) = st.spans.as_mut() {
            l.refill(secs, share);
        }
        let room = st.traces.is_none_or(|l| l.has_room(1.0, share))
            && st.spans.is_none_or(|l| l.has_room(cost, share));
        if room {
            if let Some(l) = st.traces.as_mut() {
                l.tokens -= 1.0;
            }
            if let Some(l) = st.spans.as_mut() {
                l.tokens -= cost;
            }
        }
        room
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bucket(traces: Option<f64>, spans: Option<f64>, burst: Option<f64>) -> TokenBucket {
        TokenBucket::new(&RateLimitAction {
            traces_per_sec: traces,
            spans_per_sec: spans,
            burst,
        })
    }

    /// Offers `n` traces of `spans` spans evenly over `secs` seconds; returns how many were kept.
    fn offer(b: &TokenBucket, base: Instant, from: f64, secs: f64, n: u64, spans: usize) -> u64 {
        (0..n)
            .filter(|i| {
                let t = from + secs * *i as f64 / n as f64;
                b.admit(spans, base + Duration::from_secs_f64(t))
            })
            .count() as u64
    }

    /// Asserts that of 1000 traces in the first millisecond `b` keeps `burst`, then of 1000/s for
    /// 10 s about 10/s.
    fn assert_burst_then_ten_a_second(b: &TokenBucket, burst: u64) {
        let base = Instant::now();
        assert_eq!(offer(b, base, 0.0, 0.001, 1000, 1), burst);
        let kept = offer(b, base, 1.0, 10.0, 10_000, 1);
        assert!((100..=111).contains(&kept), "{kept}");
    }

    #[test]
    fn keeps_the_burst_then_the_rate() {
        assert_burst_then_ten_a_second(&bucket(Some(10.0), None, Some(20.0)), 20);
    }

    #[test]
    fn the_spans_bucket_counts_spans_and_both_buckets_must_have_room() {
        // Traces/s and spans/s limits, traces offered over 10 s, spans per trace, and how many
        // are kept: 10 traces/s either way (100/s of 10-span traces against 100 spans/s; 1000/s
        // of 5-span traces against 100 traces/s and 50 spans/s).
        let cases = [
            (None, Some(100.0), 1000, 10, 100..=111),
            (Some(100.0), Some(50.0), 10_000, 5, 100..=115),
        ];
        for (traces, spans, offered, size, want) in cases {
            let b = bucket(traces, spans, None);
            let kept = offer(&b, Instant::now(), 0.0, 10.0, offered, size);
            assert!(want.contains(&kept), "{traces:?} {spans:?}: {kept}");
        }
    }

    #[test]
    fn a_trace_larger_than_the_bucket_passes_when_full() {
        let b = bucket(None, Some(10.0), None);
        let base = Instant::now();
        assert!(b.admit(50, base));
        assert!(!b.admit(1, base + Duration::from_secs(1)), "in debt");
        assert!(b.admit(50, base + Duration::from_secs(10)));
    }

    #[test]
    fn a_group_of_four_shares_the_rate() {
        let b = bucket(Some(40.0), None, Some(40.0));
        let g = crate::sampler::group::GroupShare::default();
        g.set(0.25);
        b.join_group(&g);
        // The bucket starts full (40); this instance's share is 10 tokens and 10/s.
        assert_burst_then_ten_a_second(&b, 10);
    }

    #[test]
    fn time_going_backwards_does_not_refill() {
        let b = bucket(Some(1.0), None, Some(1.0));
        let base = Instant::now() + Duration::from_secs(10);
        assert!(b.admit(1, base));
        assert!(!b.admit(1, base - Duration::from_secs(5)));
        assert!(!b.admit(1, base));
    }
}
