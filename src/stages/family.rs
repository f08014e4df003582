//! One family of stage sketches: the stages of one `by` grouping and window, sharded behind
//! their own small locks (never the buffer's), bounded by `max_stages`.

use super::window::{Window, ACCURACY, SLOTS};
use super::{CompiledField, STAGE_SHARDS};
use crate::otlp::Span;
use hashbrown::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// One stage: its labels for metrics and its window.
pub(super) struct Stage {
    pub service: Box<str>,
    pub name: Box<str>,
    pub window: Window,
}

#[derive(Default)]
pub(super) struct Shard {
    pub stages: HashMap<u64, Stage>,
}

/// The stages of one grouping.
pub struct StageFamily {
    fields: Vec<CompiledField>,
    /// The `by` list as written, for explanations.
    pub by: Vec<String>,
    pub window: Duration,
    slot: Duration,
    max_stages: AtomicUsize,
    stages: AtomicUsize,
    /// The quantiles conditions ask of this family (for metrics).
    pub(super) quantiles: Mutex<Vec<f64>>,
    pub(super) shards: Box<[Mutex<Shard>]>,
    hasher: hashbrown::DefaultHashBuilder,
    overflow: metrics::Counter,
}

impl std::fmt::Debug for StageFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageFamily")
            .field("by", &self.by)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl StageFamily {
    pub(super) fn new(
        fields: Vec<CompiledField>,
        by: Vec<String>,
        window: Duration,
        max_stages: usize,
    ) -> Self {
        StageFamily {
            fields,
            by,
            window,
            slot: window / SLOTS as u32,
            max_stages: AtomicUsize::new(max_stages),
            stages: AtomicUsize::new(0),
            quantiles: Mutex::new(Vec::new()),
            shards: (0..STAGE_SHARDS).map(|_| Mutex::default()).collect(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            overflow: metrics::counter!(crate::telemetry::names::STAGE_OVERFLOW_SPANS),
        }
    }

    pub(super) fn slot(&self) -> Duration {
        self.slot
    }

    pub(super) fn raise_max_stages(&self, n: usize) {
        self.max_stages.fetch_max(n, Ordering::Relaxed);
    }

    pub(super) fn add_quantile(&self, q: f64) {
        let mut qs = self.quantiles.lock().unwrap_or_else(|p| p.into_inner());
        if !qs.contains(&q) {
            qs.push(q);
        }
    }

    /// Takes over the sketches of `old` (the same grouping in the rule set a config reload
    /// replaces), so `slower_than` needs no new warm-up. Stages are keyed by their values, not
    /// by the rule set's attribute indices, so the sketches stay valid.
    pub fn adopt(&self, old: &StageFamily) {
        for (new, old) in self.shards.iter().zip(old.shards.iter()) {
            let taken = std::mem::take(&mut *old.lock().unwrap_or_else(|p| p.into_inner()));
            *new.lock().unwrap_or_else(|p| p.into_inner()) = taken;
        }
        self.stages
            .store(old.stages.swap(0, Ordering::AcqRel), Ordering::Release);
    }

    /// Stages sketched now.
    pub fn len(&self) -> usize {
        self.stages.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, s: &Span) -> u64 {
        let mut h = self.hasher.build_hasher();
        for f in &self.fields {
            f.hash_into(s, &mut h);
            h.write_u8(0xff);
        }
        h.finish()
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[(key >> 58) as usize % self.shards.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a span's duration to its stage's window (a new stage when there is room).
    pub fn observe(&self, s: &Span, now: Instant) {
        let key = self.key(s);
        let secs = s.duration_nanos() as f64 / 1e9;
        let mut shard = self.shard(key);
        if let Some(st) = shard.stages.get_mut(&key) {
            st.window.add(secs, now, self.slot);
            return;
        }
        // Reserve a place first, so concurrent shards never pass the bound together.
        let max = self.max_stages.load(Ordering::Relaxed);
        if self
            .stages
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            self.overflow.increment(1);
            return;
        }
        let mut window = Window::new(now);
        window.add(secs, now, self.slot);
        shard.stages.insert(
            key,
            Stage {
                service: s.service().unwrap_or("").into(),
                name: s.name().into(),
                window,
            },
        );
    }

    /// The `q` quantile (seconds) of the span's stage, when it has `min_samples` spans.
    pub fn quantile_of(&self, s: &Span, q: f64, min_samples: u64, now: Instant) -> Option<f64> {
        let key = self.key(s);
        let mut shard = self.shard(key);
        shard
            .stages
            .get_mut(&key)?
            .window
            .quantile(q, min_samples, now, self.slot)
    }

    /// Whether the span took longer than the `q` quantile of its stage, beyond the sketch's
    /// accuracy: a span in the quantile's own bucket (within 2% of it) is not slower.
    pub fn is_slower(&self, s: &Span, q: f64, min_samples: u64, now: Instant) -> bool {
        let d = s.duration_nanos() as f64 / 1e9;
        self.quantile_of(s, q, min_samples, now)
            .is_some_and(|limit| d > limit * (1.0 + 2.0 * ACCURACY))
    }

    /// Forgets stages without a span for two windows, freeing their places.
    pub fn evict_idle(&self, now: Instant) {
        let idle = self.window * 2;
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.stages.len();
            shard
                .stages
                .retain(|_, st| now.saturating_duration_since(st.window.last_seen) < idle);
            let gone = before - shard.stages.len();
            if gone > 0 {
                self.stages.fetch_sub(gone, Ordering::AcqRel);
            }
        }
    }
}
