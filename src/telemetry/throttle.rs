//! A rate limit for repeated warnings: at most one log line per interval, carrying how many
//! occurrences it stands for, so a flood of one problem neither fills the logs nor goes unseen.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// One warning's gate. [`Throttle::hit`] counts occurrences and says when to log.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    /// Occurrences since the last line logged.
    pending: u64,
}

impl Throttle {
    pub const fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            state: Mutex::new(State {
                last: None,
                pending: 0,
            }),
        }
    }

    /// Records `n` occurrences at `now`. Returns `Some(total)` when a line should be logged now,
    /// `total` being the occurrences since the previous line (these `n` included).
    pub fn hit(&self, n: u64, now: Instant) -> Option<u64> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.pending += n;
        match st.last {
            Some(t) if now.saturating_duration_since(t) < self.interval => None,
            _ => {
                st.last = Some(now);
                Some(std::mem::take(&mut st.pending))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_interval_with_the_count_in_between() {
        let t = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(t.hit(2, start), Some(2));
        assert_eq!(t.hit(1, start + Duration::from_secs(1)), None);
        assert_eq!(t.hit(4, start + Duration::from_secs(9)), None);
        assert_eq!(t.hit(1, start + Duration::from_secs(10)), Some(6));
        assert_eq!(t.hit(1, start + Duration::from_secs(11)), None);
        assert_eq!(t.hit(3, start + Duration::from_secs(25)), Some(4));
    }
}
