//! Error spans that arrive after their trace was decided and dropped: the decision stands (they
//! are dropped too), but nothing else would show that a failure was lost, so they are counted
//! and reported in a rate-limited warning naming an example trace, the span and `decision_wait`.

use super::names;
use super::warn::{RateLimited, INTERVAL};
use crate::config::units::format_duration;
use crate::otlp::{Span, TraceId};
use metrics::Counter;
use std::time::Duration;
use tokio::time::Instant;

/// The counter and the warning gate of late error spans.
#[derive(Debug)]
pub struct LateErrors {
    decision_wait: Duration,
    counter: Counter,
    warnings: RateLimited,
}

impl LateErrors {
    pub fn new(decision_wait: Duration) -> LateErrors {
        LateErrors {
            decision_wait,
            counter: metrics::counter!(names::LATE_DROPPED_ERROR_SPANS),
            warnings: RateLimited::new(INTERVAL),
        }
    }

    /// `n` late error spans of dropped traces arrived; `span` of trace `trace_id` is one.
    pub fn report(&self, n: u64, trace_id: &TraceId, span: &Span, now: Instant) {
        self.counter.increment(n);
        if let Some(count) = self.warnings.hit_at(n, now.into_std()) {
            tracing::warn!(
                count,
                trace_id = %hex::encode(trace_id),
                span = %span.name(),
                span_duration = %format_duration(Duration::from_nanos(span.duration_nanos())),
                decision_wait = %format_duration(self.decision_wait),
                "error spans arrived after their trace was decided and dropped, so they were \
                 dropped too: a stage outlasted sampling.decision_wait (raise it, or keep such \
                 traces by a rule that matches their earlier spans)"
            );
        }
    }
}
