//! The HELP text and type of every metric in [`super::names`], given to the recorder before the
//! first scrape, and the zero-valued series registered at start-up for the label values known
//! then, so that `/metrics` lists every metric with HELP and TYPE before any traffic.

use super::names as n;
use metrics::{KeyName, Recorder, SharedString};

/// How a metric is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric: name, type, HELP text. A test checks that every name in `names.rs` is here.
pub const METRICS: &[(&str, Kind, &str)] = &[
    (n::RECEIVER_REQUESTS, Kind::Counter, "OTLP export requests received, by protocol and outcome (accepted, partial, refused, invalid, too_large, timeout, unsupported)."),
    (n::RECEIVER_ACCEPTED_SPANS, Kind::Counter, "Spans accepted into the pipeline, by protocol."),
    (n::RECEIVER_REFUSED_SPANS, Kind::Counter, "Spans rejected one by one inside an accepted request (OTLP partial success), by protocol and reason."),
    (n::DECIDED_TRACES, Kind::Counter, "Traces decided, by deciding rule and verdict (kept, dropped)."),
    (n::DECIDED_SPANS, Kind::Counter, "Spans in decided traces, by deciding rule and verdict."),
    (n::LATE_SPANS, Kind::Counter, "Spans that arrived after their trace was decided; they follow the decision (kept or dropped)."),
    (n::LATE_DROPPED_ERROR_SPANS, Kind::Counter, "Error spans that arrived after their trace was decided and dropped, so they were dropped too (decision_wait is shorter than the stage that failed)."),
    (n::EARLY_DECISIONS, Kind::Counter, "Traces decided before their wait ended, by reason (max_spans_per_trace, max_traces, max_buffer_bytes, shutdown, peer_decided)."),
    (n::DECISION_DELAY, Kind::Histogram, "Seconds from a trace's first span to its decision."),
    (n::DECISION_LATENESS, Kind::Histogram, "Seconds from a trace's due time to its decision."),
    (n::FIDELITY_REWRITTEN_SPANS, Kind::Counter, "Kept spans rewritten by a fidelity profile."),
    (n::FIDELITY_FAILED_SPANS, Kind::Counter, "Kept spans not forwarded because their fidelity profile could not decode them."),
    (n::BUFFER_TRACES, Kind::Gauge, "Live traces in the buffer."),
    (n::BUFFER_SPANS, Kind::Gauge, "Spans in the buffer."),
    (n::BUFFER_BYTES, Kind::Gauge, "Encoded span bytes in the buffer (with storage on, of the spans' summaries: their bytes are in the storage log)."),
    (n::BUFFER_RETAINED_BYTES, Kind::Gauge, "Bytes of received requests kept in memory by spans still held (with storage on, of their summaries); with the exporter queues, what sampling.memory_limit counts."),
    (n::MEMORY_LIMIT, Kind::Gauge, "The configured sampling.memory_limit in bytes: receivers refuse a request when its bytes, with retained, in-flight, pending and exporter queue bytes, would pass it."),
    (n::BUFFER_MAX_BYTES, Kind::Gauge, "The configured sampling.max_buffer_bytes: past it the oldest traces are decided early."),
    (n::BUFFER_MAX_TRACES, Kind::Gauge, "The configured sampling.max_traces: past it the oldest traces are decided early."),
    (n::DECISION_WAIT, Kind::Gauge, "The configured sampling.decision_wait in seconds."),
    (n::STORAGE_BYTES, Kind::Gauge, "Bytes of the storage log on disk."),
    (n::STORAGE_SEGMENTS, Kind::Gauge, "Segment files of the storage log."),
    (n::STORAGE_APPENDED_RECORDS, Kind::Counter, "Records appended to the storage log, by kind (request, decisions, released)."),
    (n::STORAGE_REFUSED_REQUESTS, Kind::Counter, "Requests refused (retryable) by the storage log, by reason (budget: at `storage.max_bytes`; disk_full: the filesystem is full; write_error; fsync_error)."),
    (n::STORAGE_REPLAYED_SPANS, Kind::Counter, "Spans read back from the storage log at start and put back into the pipeline."),
    (n::STORAGE_DAMAGED, Kind::Counter, "Damage found in the storage log at start, by kind (torn_tail, checksum, undecodable, foreign_file, truncated_file, unknown_version); the rest is replayed."),
    (n::STORAGE_UNREADABLE_SPANS, Kind::Counter, "Kept spans not exported because their request could not be read back from the storage log, by reason (io_error, truncated, checksum, undecodable, not_a_request, not_found, no_record); their records are released."),
    (n::STORAGE_DELETED_SEGMENTS, Kind::Counter, "Storage log segments deleted once every record in them was released."),
    (n::STORAGE_CARRIED_DECISIONS, Kind::Counter, "Decisions the decision cache still remembers, copied into a decisions segment before the request segment holding them (written so by an earlier version) was deleted, so they survive a restart."),
    (n::EXPORTER_BATCHES, Kind::Counter, "Export batches finished, by exporter and outcome (sent, failed)."),
    (n::EXPORTER_SENT_SPANS, Kind::Counter, "Spans delivered, by exporter."),
    (n::EXPORTER_FAILED_SPANS, Kind::Counter, "Spans that could not be delivered, by exporter and reason."),
    (n::EXPORTER_RETRIES, Kind::Counter, "Export attempts retried, by exporter."),
    (n::EXPORTER_QUEUE_SPANS, Kind::Gauge, "Spans waiting in an exporter's queue."),
    (n::EXPORTER_QUEUE_BYTES, Kind::Gauge, "Bytes waiting in an exporter's queue."),
    (n::EXPORTER_QUEUE_MAX_BYTES, Kind::Gauge, "The configured exporters.<name>.queue.max_bytes: while a queue is full, receivers refuse new data."),
    (n::EXPORTER_REQUEST_DURATION, Kind::Histogram, "Seconds one export attempt took, by exporter."),
    (n::ADAPTIVE_PROBABILITY, Kind::Gauge, "An adaptive rule's current keep-probability for its busiest keys."),
    (n::ADAPTIVE_KEPT_RATE, Kind::Gauge, "Traces per second an adaptive rule kept over its last interval."),
    (n::ADAPTIVE_TARGET_RATE, Kind::Gauge, "An adaptive rule's target_traces_per_sec."),
    (n::ADAPTIVE_KEYS, Kind::Gauge, "Keys an adaptive rule tracks separately (at most max_keys)."),
    (n::RECEIVER_CONNECTIONS, Kind::Gauge, "Open connections, by listener (grpc, http, metrics)."),
    (n::RECEIVER_CONNECTIONS_REFUSED, Kind::Counter, "Connections closed at once after being accepted, by listener and reason (max_connections, handshake_timeout, handshake_failed)."),
    (n::RECEIVER_CONNECTIONS_TIMED_OUT, Kind::Counter, "Connections closed by a timeout, by listener and reason (header_read_timeout, idle_timeout)."),
    (n::RECEIVER_ACCEPT_ERRORS, Kind::Counter, "Failed accept() calls (e.g. out of file descriptors), by listener; the listener pauses briefly after each."),
    (n::RECEIVER_INFLIGHT_BYTES, Kind::Gauge, "Bytes reserved by requests being received, inflated or transcoded; counted in sampling.memory_limit."),
    (n::EXPORT_PARKED_SPANS, Kind::Gauge, "With storage on, kept spans waiting for room in the exporter queues, their bytes in the storage log (an outage is absorbed on disk up to storage.max_bytes)."),
    (n::EXPORT_PARKED_BYTES, Kind::Gauge, "With storage on, memory held by the parked spans' entries (their positions in the storage log, about 4 bytes a span); counted in sampling.memory_limit."),
    (n::EXPORT_PENDING_BYTES, Kind::Gauge, "Bytes of kept spans decided while an exporter queue had no room, waiting for it; counted in sampling.memory_limit."),
    (n::POLICY_DECISIONS, Kind::Counter, "tail_sampling policy evaluations, by top-level policy and decision (sampled, not_sampled, dropped)."),
    (n::MALFORMED_KEPT_SPANS, Kind::Counter, "Kept spans not forwarded because they are not valid OTLP in a part ingest does not read (checked in full once kept, so they cannot spoil a batch)."),
    (n::CONFIG_RELOADS, Kind::Counter, "Config reloads on SIGHUP or a change of the config file, by outcome (applied; rejected: the running config stays)."),
    (n::RELOADS, Kind::Counter, "Files re-read because they changed (TLS certificates, bearer token files), by config key and outcome (ok, failed: the previous contents stay in use)."),
    (n::TLS_HANDSHAKE_FAILURES, Kind::Counter, "TLS handshakes that failed on a receiver, by receiver and reason."),
    (n::TLS_CERTIFICATE_EXPIRY, Kind::Gauge, "When the certificate in use expires (Unix seconds), by config key."),
    (n::STAGE_DURATION_QUANTILE, Kind::Gauge, "Duration quantile in seconds of the busiest stages that slower_than conditions compare against, by service, span name and quantile."),
    (n::STAGES, Kind::Gauge, "Stages sketched for slower_than conditions (at most max_stages per grouping)."),
    (n::STAGE_OVERFLOW_SPANS, Kind::Counter, "Spans of stages beyond max_stages, not sketched (slower_than never holds for them)."),
    (n::CAPTURES, Kind::Gauge, "Captures active now."),
    (n::CAPTURE_HITS, Kind::Counter, "Traces kept by a capture, ahead of the rules."),
    (n::CAPTURE_EVENTS, Kind::Counter, "Captures added, removed and expired, and added because a peer of the group shared them (shared), by event."),
    (n::FIDELITY_MEDIA_REDUCED, Kind::Counter, "Encoded media values (data URLs, base64 images and frames) a fidelity profile reduced to hash, size and type, by profile."),
    (n::CLUSTER_BUS_UP, Kind::Gauge, "1 while the cluster bus (NATS) is connected; 0 while this instance decides alone."),
    (n::CLUSTER_MEMBERS, Kind::Gauge, "Live members of the group heard on the bus, this instance included; budgets are shared among them."),
    (n::CLUSTER_HELD_TRACES, Kind::Gauge, "Traces decided here that wait cluster.grace for peers' decisions."),
    (n::CLUSTER_SPLIT_TRACES, Kind::Counter, "Traces whose peer decision arrived after this instance released its part under another verdict (split at the backend)."),
    (n::CLUSTER_OVERRIDDEN_TRACES, Kind::Counter, "Traces this instance applied a peer's verdict to instead of its own."),
    (n::CLUSTER_PUBLISHED_DECISIONS, Kind::Counter, "Decisions published on the cluster bus."),
    (n::CLUSTER_RECEIVED_DECISIONS, Kind::Counter, "Peers' decisions received from the cluster bus."),
    (n::CLUSTER_UNPUBLISHED_DECISIONS, Kind::Counter, "Decisions never published (outbox full or publishing failed)."),
    (n::CLUSTER_UNKNOWN_RULE_DECISIONS, Kind::Counter, "Peers' decisions naming a rule or policy this instance does not have (ignored)."),
    (n::CLUSTER_BUS_BYTES, Kind::Counter, "Compressed bytes of decision batches on the cluster bus, by direction (sent, received)."),
    (n::CLUSTER_BUDGET_SHARE, Kind::Gauge, "Fraction of the group's budgets (adaptive targets, rate_limit rates) this instance takes: its share of the group's distinct traces."),
    (n::CLUSTER_BAD_MESSAGES, Kind::Counter, "Messages from the cluster bus that could not be read, by kind (decisions, heartbeat)."),
];

/// The HELP text of `name`, if it is one of tailsift's metrics.
pub fn help(name: &str) -> Option<&'static str> {
    METRICS.iter().find(|m| m.0 == name).map(|m| m.2)
}

/// Gives every description to `recorder` (before it is installed, so it cannot be lost to
/// another recorder installed first).
pub fn describe(recorder: &impl Recorder) {
    for &(name, kind, help) in METRICS {
        let (key, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
        match kind {
            Kind::Counter => recorder.describe_counter(key, None, help),
            Kind::Gauge => recorder.describe_gauge(key, None, help),
            Kind::Histogram => recorder.describe_histogram(key, None, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `pub const NAME: &str = "value";` values of names.rs, read from its source.
    fn declared_names() -> Vec<String> {
        let src = include_str!("names.rs");
        let re = regex::Regex::new(r#"pub const \w+: &str\s*=\s*"(\w+)";"#).unwrap();
        re.captures_iter(src).map(|c| c[1].to_string()).collect()
    }

    #[test]
    fn every_name_has_a_description_and_only_once() {
        let declared = declared_names();
        assert!(declared.len() >= 30, "names.rs parsed: {declared:?}");
        for name in &declared {
            let n = METRICS.iter().filter(|m| m.0 == name).count();
            assert_eq!(n, 1, "{name} is described {n} times in describe.rs");
        }
        for (name, kind, help) in METRICS {
            assert!(
                declared.iter().any(|d| d == name),
                "{name} is not in names.rs"
            );
            assert!(help.len() > 10 && help.ends_with('.'), "{name}: {help}");
            assert_eq!(
                name.ends_with("_total"),
                *kind == Kind::Counter,
                "{name}: counters and only counters end in _total"
            );
        }
    }
}
