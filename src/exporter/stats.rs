//! Per-exporter outcome accounting: metrics, lifetime counters for the shutdown report, rate-limited warnings.

use super::batch::Batch;
use super::queue::Queue;
use crate::telemetry::names;
use crate::telemetry::warn::{self, RateLimited};
use metrics::{Counter, Histogram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why spans were not delivered (the `reason` label of `EXPORTER_FAILED_SPANS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// The pipeline no longer accepted items (it stopped unexpectedly).
    Rejected,
    /// Retryable failures went on past `retry.max_elapsed` (or retry is disabled).
    RetriesExhausted,
    /// The backend answered with a permanent error (or the batch could not be written).
    NotRetryable,
    /// Still unsent when the shutdown deadline passed.
    Shutdown,
    /// The backend accepted the request but rejected some spans in it.
    PartialSuccess,
    /// Not valid OTLP (a string that is not UTF-8, a field of the wrong wire type): taken out of
    /// a batch the backend refused, so that the rest of the batch could be delivered.
    Malformed,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Rejected => "rejected",
            FailReason::RetriesExhausted => "retries_exhausted",
            FailReason::NotRetryable => "not_retryable",
            FailReason::Shutdown => "shutdown",
            FailReason::PartialSuccess => "partial_success",
            FailReason::Malformed => "malformed",
        }
    }
}

/// Lifetime counters of one exporter (spans count once per exporter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExporterStats {
    pub sent_spans: u64,
    pub failed_spans: u64,
    /// Part of `failed_spans`: still unsent when the shutdown deadline passed.
    pub shutdown_failed_spans: u64,
    pub batches_sent: u64,
    pub batches_failed: u64,
    pub retries: u64,
}

#[derive(Default)]
struct Counts {
    sent_spans: AtomicU64,
    failed_spans: AtomicU64,
    shutdown_failed_spans: AtomicU64,
    batches_sent: AtomicU64,
    batches_failed: AtomicU64,
    retries: AtomicU64,
}

/// Everything a pipeline records about outcomes. Resolving a batch also releases its queue bytes.
pub(crate) struct Recorder {
    pub(crate) name: String,
    pub(crate) queue: Arc<Queue>,
    counts: Counts,
    batches_sent: Counter,
    batches_failed: Counter,
    sent_spans: Counter,
    retries: Counter,
    duration: Histogram,
    retry_warnings: RateLimited,
    failure_warnings: RateLimited,
}

/// Which kind of warning is rate-limited (each kind has its own gate).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Warn {
    Retry,
    Failure,
}

impl Recorder {
    pub(crate) fn new(name: &str, queue: Arc<Queue>) -> Recorder {
        let l = name.to_string();
        Recorder {
            name: name.to_string(),
            queue,
            counts: Counts::default(),
            batches_sent: metrics::counter!(names::EXPORTER_BATCHES, "exporter" => l.clone(), "outcome" => "sent"),
            batches_failed: metrics::counter!(names::EXPORTER_BATCHES, "exporter" => l.clone(), "outcome" => "failed"),
            sent_spans: metrics::counter!(names::EXPORTER_SENT_SPANS, "exporter" => l.clone()),
            retries: metrics::counter!(names::EXPORTER_RETRIES, "exporter" => l.clone()),
            duration: metrics::histogram!(names::EXPORTER_REQUEST_DURATION, "exporter" => l),
            retry_warnings: RateLimited::new(warn::INTERVAL),
            failure_warnings: RateLimited::new(warn::INTERVAL),
        }
    }

    /// Items that never made it into a batch (pipeline gone, or shutdown deadline passed).
    pub(crate) fn fail_unbatched(&self, spans: usize, bytes: usize, reason: FailReason) {
        self.count_failed(spans, reason);
        self.queue.remove(spans, bytes);
    }

    /// The batch was delivered; `rejected` of its spans were refused by a partial success.
    pub(crate) fn sent(&self, batch: &Batch, rejected: usize) {
        let rejected = rejected.min(batch.spans);
        let sent = (batch.spans - rejected) as u64;
        self.counts.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.counts.sent_spans.fetch_add(sent, Ordering::Relaxed);
        self.batches_sent.increment(1);
        self.sent_spans.increment(sent);
        if rejected > 0 {
            self.count_failed(rejected, FailReason::PartialSuccess);
        }
        self.queue.remove(batch.spans, batch.body.len());
    }

    /// The batch is given up for `reason`.
    pub(crate) fn failed(&self, batch: &Batch, reason: FailReason) {
        self.counts.batches_failed.fetch_add(1, Ordering::Relaxed);
        self.batches_failed.increment(1);
        self.count_failed(batch.spans, reason);
        self.queue.remove(batch.spans, batch.body.len());
    }

    pub(crate) fn retry(&self) {
        self.counts.retries.fetch_add(1, Ordering::Relaxed);
        self.retries.increment(1);
    }

    pub(crate) fn attempt_took(&self, d: Duration) {
        self.duration.record(d.as_secs_f64());
    }

    fn count_failed(&self, spans: usize, reason: FailReason) {
        self.counts
            .failed_spans
            .fetch_add(spans as u64, Ordering::Relaxed);
        if reason == FailReason::Shutdown {
            self.counts
                .shutdown_failed_spans
                .fetch_add(spans as u64, Ordering::Relaxed);
        }
        metrics::counter!(names::EXPORTER_FAILED_SPANS,
            "exporter" => self.name.clone(), "reason" => reason.as_str())
        .increment(spans as u64);
    }

    /// Returns `Some(n)` (n warnings suppressed since the last one) when a warning may be logged now.
    pub(crate) fn may_warn(&self, kind: Warn) -> Option<u64> {
        let gate = match kind {
            Warn::Retry => &self.retry_warnings,
            Warn::Failure => &self.failure_warnings,
        };
        gate.check()
    }

    pub(crate) fn snapshot(&self) -> ExporterStats {
        let c = &self.counts;
        ExporterStats {
            sent_spans: c.sent_spans.load(Ordering::Relaxed),
            failed_spans: c.failed_spans.load(Ordering::Relaxed),
            shutdown_failed_spans: c.shutdown_failed_spans.load(Ordering::Relaxed),
            batches_sent: c.batches_sent.load(Ordering::Relaxed),
            batches_failed: c.batches_failed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }
}
