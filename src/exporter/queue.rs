//! Per-exporter queue accounting: spans and bytes accepted but not yet resolved (sent or failed).

use crate::telemetry::names;
use metrics::Gauge;
use std::sync::atomic::{AtomicU64, Ordering};

/// What one exporter holds: items in its channel, in its open batch, in flight and being retried.
/// Incremented by `Exporters::send`, decremented once a batch is resolved.
pub(crate) struct Queue {
    spans: AtomicU64,
    bytes: AtomicU64,
    max_bytes: u64,
    spans_gauge: Gauge,
    bytes_gauge: Gauge,
}

impl Queue {
    pub(crate) fn new(exporter: &str, max_bytes: u64) -> Queue {
        let label = exporter.to_string();
        Queue {
            spans: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_bytes,
            spans_gauge: metrics::gauge!(names::EXPORTER_QUEUE_SPANS, "exporter" => label.clone()),
            bytes_gauge: metrics::gauge!(names::EXPORTER_QUEUE_BYTES, "exporter" => label),
        }
    }

    pub(crate) fn add(&self, spans: usize, bytes: usize) {
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.spans_gauge.increment(spans as f64);
        self.bytes_gauge.increment(bytes as f64);
    }

    /// Adds an item only if it fits under `max_bytes` (an empty queue takes any one item, or
    /// an item larger than the bound could never be sent). Atomic: concurrent callers never
    /// push the queue past its bound together.
    pub(crate) fn try_add(&self, spans: usize, bytes: usize) -> bool {
        let b = bytes as u64;
        let mut cur = self.bytes.load(Ordering::Acquire);
        loop {
            if cur > 0 && cur.saturating_add(b) > self.max_bytes {
                return false;
            }
            match self.bytes.compare_exchange_weak(
                cur,
                cur + b,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        self.spans_gauge.increment(spans as f64);
        self.bytes_gauge.increment(bytes as f64);
        true
    }

    pub(crate) fn remove(&self, spans: usize, bytes: usize) {
        self.spans.fetch_sub(spans as u64, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
        self.spans_gauge.decrement(spans as f64);
        self.bytes_gauge.decrement(bytes as f64);
    }

    pub(crate) fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.bytes() >= self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_spans_and_bytes_and_fullness() {
        let q = Queue::new("q", 100);
        q.add(3, 60);
        assert!(!q.is_full());
        q.add(1, 40);
        assert!(q.is_full());
        assert_eq!((q.spans(), q.bytes()), (4, 100));
        q.remove(3, 60);
        assert!(!q.is_full());
        assert_eq!((q.spans(), q.bytes()), (1, 40));
    }

    #[test]
    fn try_add_never_passes_the_bound() {
        let q = Queue::new("q2", 100);
        assert!(q.try_add(1, 60));
        assert!(!q.try_add(1, 41), "60 + 41 > 100");
        assert!(q.try_add(1, 40));
        assert_eq!(q.bytes(), 100);
        assert!(!q.try_add(1, 1));
        q.remove(2, 100);
        assert!(q.try_add(1, 500), "an empty queue takes one oversized item");
        assert!(!q.try_add(1, 1));
    }

    #[test]
    fn concurrent_try_adds_stay_under_the_bound() {
        let q = std::sync::Arc::new(Queue::new("q3", 1000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || (0..1000).filter(|_| q.try_add(1, 7)).count())
            })
            .collect();
        let added: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(added, 1000 / 7);
        assert!(q.bytes() <= 1000);
    }
}
