//! One stage's sliding window of span durations: four DDSketches, each a quarter of the
//! window, merged (and the merge cached) when a quantile is asked for.

use sketches_ddsketch::{Config, DDSketch};
use std::time::Duration;
use tokio::time::Instant;

/// Sketches per window; the window moves in steps of `window / SLOTS`.
pub const SLOTS: usize = 4;

/// Relative accuracy of the quantiles.
pub const ACCURACY: f64 = 0.01;

/// [`ACCURACY`], the bin limit per sketch (enough for durations from a microsecond to days
/// at that accuracy), and the smallest duration told apart (1 µs).
fn sketch_config() -> Config {
    Config::new(ACCURACY, 2048, 1e-6)
}

/// A stage's recent durations, in seconds.
pub struct Window {
    slots: [DDSketch; SLOTS],
    /// Index of the slot being filled.
    current: usize,
    /// When the current slot started.
    slot_start: Instant,
    pub last_seen: Instant,
    /// The merged sketch, valid while `stale < merged.count() / 64` (or no sample came).
    merged: Option<DDSketch>,
    /// Samples added since `merged` was built.
    stale: u64,
    /// Quantiles read from `merged`: (q, seconds).
    quantiles: Vec<(f64, f64)>,
}

impl Window {
    pub fn new(now: Instant) -> Self {
        Window {
            slots: std::array::from_fn(|_| DDSketch::new(sketch_config())),
            current: 0,
            slot_start: now,
            last_seen: now,
            merged: None,
            stale: 0,
            quantiles: Vec::new(),
        }
    }

    /// Moves the window to `now`: slots older than the window are emptied.
    fn advance(&mut self, now: Instant, slot: Duration) {
        let elapsed = now.saturating_duration_since(self.slot_start);
        if elapsed < slot {
            return;
        }
        let steps = (elapsed.as_nanos() / slot.as_nanos().max(1)).min(SLOTS as u128) as usize;
        for _ in 0..steps {
            self.current = (self.current + 1) % SLOTS;
            self.slots[self.current] = DDSketch::new(sketch_config());
        }
        self.slot_start = now;
        self.merged = None;
        self.quantiles.clear();
    }

    /// Adds one duration.
    pub fn add(&mut self, seconds: f64, now: Instant, slot: Duration) {
        self.advance(now, slot);
        self.slots[self.current].add(seconds.max(0.0));
        self.last_seen = now;
        self.stale += 1;
    }

    /// Samples in the window.
    pub fn count(&self) -> u64 {
        self.slots.iter().map(|s| s.count() as u64).sum()
    }

    /// The `q` quantile of the window's durations in seconds, when it holds at least
    /// `min_samples` spans.
    pub fn quantile(
        &mut self,
        q: f64,
        min_samples: u64,
        now: Instant,
        slot: Duration,
    ) -> Option<f64> {
        self.advance(now, slot);
        let fresh = self
            .merged
            .as_ref()
            .is_some_and(|m| self.stale <= (m.count() as u64 / 64));
        if !fresh {
            let mut m = DDSketch::new(sketch_config());
            for s in &self.slots {
                // Same configuration on both sides: merging cannot fail.
                let _ = m.merge(s);
            }
            self.merged = Some(m);
            self.stale = 0;
            self.quantiles.clear();
        }
        let merged = self.merged.as_ref()?;
        if (merged.count() as u64) < min_samples {
            return None;
        }
        if let Some((_, v)) = self.quantiles.iter().find(|(k, _)| *k == q) {
            return Some(*v);
        }
        let v = merged.quantile(q).ok().flatten()?;
        self.quantiles.push((q, v));
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: Duration = Duration::from_secs(150);

    #[test]
    fn quantile_within_one_percent_and_only_once_warm() {
        let now = Instant::now();
        let mut w = Window::new(now);
        for i in 0..1000 {
            w.add(1.0 + i as f64 / 1000.0, now, SLOT);
        }
        assert_eq!(w.quantile(0.5, 1001, now, SLOT), None, "not warm yet");
        let p50 = w.quantile(0.5, 1000, now, SLOT).unwrap();
        assert!((p50 - 1.5).abs() / 1.5 < 0.011, "{p50}");
        let p99 = w.quantile(0.99, 1000, now, SLOT).unwrap();
        assert!((p99 - 1.99).abs() / 1.99 < 0.011, "{p99}");
    }

    #[tokio::test(start_paused = true)]
    async fn old_samples_leave_the_window() {
        let start = Instant::now();
        let mut w = Window::new(start);
        for _ in 0..100 {
            w.add(50.0, start, SLOT);
        }
        tokio::time::advance(SLOT * 2).await;
        for _ in 0..100 {
            w.add(1.0, Instant::now(), SLOT);
        }
        assert_eq!(w.count(), 200);
        assert!(w.quantile(0.99, 1, Instant::now(), SLOT).unwrap() > 40.0);
        tokio::time::advance(SLOT * 2).await;
        let q = w.quantile(0.99, 1, Instant::now(), SLOT).unwrap();
        assert!(q < 1.1, "the 50 s samples aged out: {q}");
        assert_eq!(w.count(), 100);
        tokio::time::advance(SLOT * 4).await;
        assert_eq!(w.quantile(0.99, 1, Instant::now(), SLOT), None);
    }
}
