//! Metric handles of the per-request path, looked up once and kept. `counter!(name, labels)`
//! with a label that is not a literal allocates its label set twice (the key, then the registry's
//! copy) and takes a registry lock on every call; a kept handle is one atomic add. Each handle is
//! registered on first use, so a series appears in `/metrics` exactly when it did before.

use super::names;
use metrics::{Counter, Gauge};
use std::sync::OnceLock;

/// A counter registered on its first use.
#[derive(Default)]
pub struct LazyCounter(OnceLock<Counter>);

impl LazyCounter {
    #[inline]
    pub fn get(&self, register: impl FnOnce() -> Counter) -> &Counter {
        self.0.get_or_init(register)
    }
}

/// How a receiver's request ended, for `tailsift_receiver_requests_total{outcome}` (the
/// outcomes the pipeline decides; receivers count their own early refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Accepted,
    Partial,
    Refused,
    Invalid,
}

impl RequestOutcome {
    const ALL: [RequestOutcome; 4] = [
        RequestOutcome::Accepted,
        RequestOutcome::Partial,
        RequestOutcome::Refused,
        RequestOutcome::Invalid,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RequestOutcome::Accepted => "accepted",
            RequestOutcome::Partial => "partial",
            RequestOutcome::Refused => "refused",
            RequestOutcome::Invalid => "invalid",
        }
    }
}

/// Rejection reasons of single spans (`Rejection::reason`), at most this many distinct ones.
const MAX_REASONS: usize = 8;

/// The counters of one receiver protocol.
#[derive(Default)]
struct ProtocolCounters {
    requests: [LazyCounter; RequestOutcome::ALL.len()],
    accepted_spans: LazyCounter,
    /// By reason, in the order reasons are first seen (few, fixed strings).
    refused_spans: [(OnceLock<&'static str>, LazyCounter); MAX_REASONS],
}

/// Receiver counters for every protocol (`Protocol` as an index, with its label).
#[derive(Default)]
pub struct ReceiverCounters {
    protocols: [ProtocolCounters; 3],
}

impl ReceiverCounters {
    /// `tailsift_receiver_requests_total{protocol, outcome}`.
    #[inline]
    pub fn request(&self, protocol: (usize, &'static str), outcome: RequestOutcome) -> &Counter {
        let slot = &self.protocols[protocol.0].requests[outcome as usize];
        slot.get(|| {
            metrics::counter!(names::RECEIVER_REQUESTS, "protocol" => protocol.1, "outcome" => outcome.label())
        })
    }

    /// `tailsift_receiver_accepted_spans_total{protocol}`.
    #[inline]
    pub fn accepted_spans(&self, protocol: (usize, &'static str)) -> &Counter {
        self.protocols[protocol.0]
            .accepted_spans
            .get(|| metrics::counter!(names::RECEIVER_ACCEPTED_SPANS, "protocol" => protocol.1))
    }

    /// `tailsift_receiver_refused_spans_total{protocol, reason}`; counted through a fresh
    /// lookup if more distinct reasons than expected show up.
    pub fn refused_spans(&self, protocol: (usize, &'static str), reason: &'static str, n: u64) {
        for (key, counter) in &self.protocols[protocol.0].refused_spans {
            if *key.get_or_init(|| reason) == reason {
                counter
                    .get(|| {
                        metrics::counter!(names::RECEIVER_REFUSED_SPANS,
                            "protocol" => protocol.1, "reason" => reason)
                    })
                    .increment(n);
                return;
            }
        }
        metrics::counter!(names::RECEIVER_REFUSED_SPANS, "protocol" => protocol.1, "reason" => reason)
            .increment(n);
    }
}

/// The gauges the decision tick sets, looked up once.
pub struct BufferGauges {
    pub traces: Gauge,
    pub retained_bytes: Gauge,
    pub pending_bytes: Gauge,
    pub spans: Gauge,
    pub bytes: Gauge,
}

impl BufferGauges {
    pub fn new() -> BufferGauges {
        BufferGauges {
            traces: metrics::gauge!(names::BUFFER_TRACES),
            retained_bytes: metrics::gauge!(names::BUFFER_RETAINED_BYTES),
            pending_bytes: metrics::gauge!(names::EXPORT_PENDING_BYTES),
            spans: metrics::gauge!(names::BUFFER_SPANS),
            bytes: metrics::gauge!(names::BUFFER_BYTES),
        }
    }
}

impl Default for BufferGauges {
    fn default() -> Self {
        BufferGauges::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_register_once_with_their_labels() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let c = ReceiverCounters::default();
            let grpc = (0, "grpc");
            c.request(grpc, RequestOutcome::Accepted).increment(1);
            c.request(grpc, RequestOutcome::Accepted).increment(2);
            c.request((1, "http_protobuf"), RequestOutcome::Invalid)
                .increment(1);
            c.accepted_spans(grpc).increment(64);
            c.refused_spans(grpc, "invalid_span_id", 2);
            c.refused_spans(grpc, "malformed_span", 1);
            c.refused_spans(grpc, "invalid_span_id", 3);
        });
        let text = handle.render();
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("tailsift_"))
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            vec![
                "tailsift_receiver_accepted_spans_total{protocol=\"grpc\"} 64",
                "tailsift_receiver_refused_spans_total{protocol=\"grpc\",reason=\"invalid_span_id\"} 5",
                "tailsift_receiver_refused_spans_total{protocol=\"grpc\",reason=\"malformed_span\"} 1",
                "tailsift_receiver_requests_total{protocol=\"grpc\",outcome=\"accepted\"} 3",
                "tailsift_receiver_requests_total{protocol=\"http_protobuf\",outcome=\"invalid\"} 1",
            ]
        );
    }
}
