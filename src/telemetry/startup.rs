//! The series that exist before any traffic: zero-valued counters for every label value known
//! at start-up (protocols of the configured receivers, exporters, reasons, verdicts) and the
//! configured limits as constant gauges, so "is it scraped?" queries, rate panels and ratio
//! alerts have data on an idle instance. Per-rule, per-profile and per-exporter series are
//! registered by their owners when they are built.

use super::names as n;
use crate::config::Config;
use metrics::{counter, gauge};

/// Request outcomes a receiver counts, the same for every protocol label.
const RECEIVER_OUTCOMES: &[&str] = &[
    "accepted",
    "partial",
    "refused",
    "invalid",
    "too_large",
    "timeout",
    "unsupported",
];
/// Why single spans are rejected (`otlp::Rejection::reason`).
pub const REJECTION_REASONS: &[&str] = &[
    "invalid_trace_id",
    "invalid_span_id",
    "malformed_span",
    "malformed_resource",
    "malformed_scope",
];
/// Why traces are decided early (`buffer::Reason::early_label`).
pub const EARLY_REASONS: &[&str] = &[
    "max_spans_per_trace",
    "max_traces",
    "max_buffer_bytes",
    "shutdown",
    "peer_decided",
];
/// Why exported spans fail (`exporter::FailReason::as_str`).
pub const EXPORT_FAIL_REASONS: &[&str] = &[
    "rejected",
    "retries_exhausted",
    "not_retryable",
    "shutdown",
    "partial_success",
    "malformed",
];

/// The protocol labels of the configured receivers, each with the outcomes it can count.
fn protocols(config: &Config) -> Vec<(&'static str, &'static [&'static str])> {
    let r = &config.receivers.otlp;
    let mut v = Vec::new();
    if r.grpc.is_some() {
        v.push(("grpc", RECEIVER_OUTCOMES));
    }
    if r.http.is_some() {
        v.push(("http_protobuf", RECEIVER_OUTCOMES));
        v.push(("http_json", RECEIVER_OUTCOMES));
        v.push(("http_other", &["unsupported"][..]));
    }
    v
}

/// Registers the series known from `config` (zero counters, limit gauges, empty buffer).
pub fn register(config: &Config) {
    gauge!(n::RECEIVER_INFLIGHT_BYTES).increment(0.0);
    gauge!(n::EXPORT_PENDING_BYTES).increment(0.0);
    let r = &config.receivers.otlp;
    let listeners = [("grpc", r.grpc.is_some()), ("http", r.http.is_some())];
    for (l, _) in listeners.iter().filter(|(_, on)| *on) {
        gauge!(n::RECEIVER_CONNECTIONS, "protocol" => *l).increment(0.0);
        counter!(n::RECEIVER_CONNECTIONS_REFUSED, "protocol" => *l, "reason" => "max_connections")
            .increment(0);
        for reason in ["header_read_timeout", "idle_timeout"] {
            counter!(n::RECEIVER_CONNECTIONS_TIMED_OUT, "protocol" => *l, "reason" => reason)
                .increment(0);
        }
    }
    for (p, outcomes) in protocols(config) {
        for &o in outcomes {
            counter!(n::RECEIVER_REQUESTS, "protocol" => p, "outcome" => o).increment(0);
        }
        if p == "http_other" {
            continue;
        }
        counter!(n::RECEIVER_ACCEPTED_SPANS, "protocol" => p).increment(0);
        for &r in REJECTION_REASONS {
            counter!(n::RECEIVER_REFUSED_SPANS, "protocol" => p, "reason" => r).increment(0);
        }
    }
    for v in ["kept", "dropped"] {
        counter!(n::LATE_SPANS, "verdict" => v).increment(0);
    }
    counter!(n::LATE_DROPPED_ERROR_SPANS).increment(0);
    for &r in EARLY_REASONS {
        counter!(n::EARLY_DECISIONS, "reason" => r).increment(0);
    }
    for name in config.exporters.keys() {
        for &r in EXPORT_FAIL_REASONS {
            counter!(n::EXPORTER_FAILED_SPANS, "exporter" => name.clone(), "reason" => r)
                .increment(0);
        }
    }
    limits(config);
    pipelines(config);
    for g in [
        n::BUFFER_TRACES,
        n::BUFFER_SPANS,
        n::BUFFER_BYTES,
        n::BUFFER_RETAINED_BYTES,
    ] {
        gauge!(g).set(0.0);
    }
}

/// The series of stage sketches, captures and media reduction, at zero.
fn pipelines(config: &Config) {
    gauge!(n::STAGES).set(0.0);
    counter!(n::STAGE_OVERFLOW_SPANS).increment(0);
    gauge!(n::CAPTURES).set(0.0);
    counter!(n::CAPTURE_HITS).increment(0);
    for e in ["added", "removed", "expired", "shared"] {
        counter!(n::CAPTURE_EVENTS, "event" => e).increment(0);
    }
    for (name, p) in &config.fidelity {
        if p.media.is_some() {
            counter!(n::FIDELITY_MEDIA_REDUCED, "profile" => name.clone()).increment(0);
        }
    }
}

/// The configured limits as gauges: alerts divide by them instead of repeating numbers.
fn limits(config: &Config) {
    let s = &config.sampling;
    gauge!(n::MEMORY_LIMIT).set(s.memory_limit_bytes() as f64);
    gauge!(n::BUFFER_MAX_BYTES).set(s.max_buffer_bytes.get() as f64);
    gauge!(n::BUFFER_MAX_TRACES).set(s.max_traces as f64);
    gauge!(n::DECISION_WAIT).set(s.decision_wait.get().as_secs_f64());
    for (name, e) in &config.exporters {
        gauge!(n::EXPORTER_QUEUE_MAX_BYTES, "exporter" => name.clone())
            .set(e.queue.max_bytes.get() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::Reason;
    use crate::exporter::FailReason;
    use crate::otlp::Rejection;

    /// Every variant of an enum, in declaration order; fails to compile when a variant is added,
    /// so the lists above are revisited.
    macro_rules! all_variants {
        ($ty:ident: $($v:ident),+ $(,)?) => {{
            let _exhaustive = |r: $ty| match r {
                $($ty::$v)|+ => (),
            };
            [$($ty::$v),+]
        }};
    }

    #[test]
    fn label_lists_match_the_enums() {
        let fail = all_variants!(FailReason: Rejected, RetriesExhausted, NotRetryable, Shutdown,
            PartialSuccess, Malformed);
        assert_eq!(fail.map(FailReason::as_str).to_vec(), EXPORT_FAIL_REASONS);
        let rej = all_variants!(Rejection: InvalidTraceId, InvalidSpanId, MalformedSpan,
            MalformedResource, MalformedScope);
        assert_eq!(rej.map(Rejection::reason).to_vec(), REJECTION_REASONS);
        let early = all_variants!(Reason: Due, MaxSpansPerTrace, MaxTraces, MaxBufferBytes,
            Shutdown, Peer);
        let labels: Vec<&str> = early.into_iter().filter_map(Reason::early_label).collect();
        assert_eq!(labels, EARLY_REASONS);
        assert_eq!(Reason::Due.early_label(), None);
    }
}
