//! Rate-limited warnings for the data path: at most one log line per call site per interval,
//! carrying how many occurrences were suppressed since the last line. One hostile request can
//! hold thousands of bad spans; each is counted in a metric, and logged at most this often.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one call site of [`warn_limited!`](crate::warn_limited) may log.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// A gate letting one occurrence per interval through.
#[derive(Debug)]
pub struct RateLimited {
    interval: Duration,
    state: Mutex<Gate>,
}

#[derive(Debug)]
struct Gate {
    last: Option<Instant>,
    /// Occurrences since the last line let through.
    pending: u64,
}

impl RateLimited {
    pub const fn new(interval: Duration) -> Self {
        RateLimited {
            interval,
            state: Mutex::new(Gate {
                last: None,
                pending: 0,
            }),
        }
    }

    /// `Some(n)` when a line may be logged now (`n` occurrences were suppressed since the
    /// previous line), `None` when this occurrence is suppressed.
    pub fn check(&self) -> Option<u64> {
        self.check_at(Instant::now())
    }

    /// [`RateLimited::check`] at a given time (tests inject their clock here).
    pub fn check_at(&self, now: Instant) -> Option<u64> {
        self.hit_at(1, now).map(|total| total - 1)
    }

    /// Records `n` occurrences at `now`; `Some(total)` when a line may be logged now, `total`
    /// being the occurrences since the previous line, these `n` included.
    pub fn hit_at(&self, n: u64, now: Instant) -> Option<u64> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        g.pending += n;
        match g.last {
            Some(t) if now.saturating_duration_since(t) < self.interval => None,
            _ => {
                g.last = Some(now);
                Some(std::mem::take(&mut g.pending))
            }
        }
    }
}

/// `tracing::warn!` limited to one line per [`INTERVAL`] for this call site; the line carries
/// a `suppressed` field (occurrences not logged since the previous line).
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static GATE: $crate::telemetry::warn::RateLimited =
            $crate::telemetry::warn::RateLimited::new($crate::telemetry::warn::INTERVAL);
        if let Some(suppressed) = GATE.check() {
            ::tracing::warn!(suppressed, $($arg)+);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_suppressed_count() {
        let gate = RateLimited::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        assert_eq!(gate.check_at(at(0)), Some(0));
        let passed: Vec<_> = (1..20_000)
            .filter_map(|i| gate.check_at(at(i / 4)))
            .collect();
        assert!(passed.is_empty(), "all within the first 5 s: {passed:?}");
        // The next line after the interval reports what was held back.
        assert_eq!(gate.check_at(at(10_000)), Some(19_999));
        assert_eq!(gate.check_at(at(10_001)), None);
        assert_eq!(gate.check_at(at(25_000)), Some(1));
        // A clock that goes backwards does not open the gate.
        assert_eq!(gate.check_at(at(1)), None);
    }

    #[test]
    fn hits_of_several_occurrences_are_summed_into_the_next_line() {
        let gate = RateLimited::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(gate.hit_at(2, at(0)), Some(2));
        assert_eq!(gate.hit_at(1, at(1)), None);
        assert_eq!(gate.hit_at(4, at(9)), None);
        assert_eq!(gate.hit_at(1, at(10)), Some(6));
        assert_eq!(gate.hit_at(1, at(11)), None);
    }

    #[test]
    fn the_macro_logs_at_most_once_per_interval_per_call_site() {
        use std::sync::{Arc, Mutex as StdMutex};
        #[derive(Clone, Default)]
        struct Lines(Arc<StdMutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..20_000 {
                crate::warn_limited!(span = i, "a bad span");
            }
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("suppressed=0") && text.contains("a bad span"),
            "{text}"
        );
    }
}
