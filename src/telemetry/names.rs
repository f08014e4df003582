//! Every metric name tailsift exports, in one place. Counters end in `_total`; labels stay low-cardinality.

/// Export requests received. Labels: `protocol` (grpc, http_protobuf, http_json, http_other
/// for an unsupported content type), `outcome` (accepted; partial: some spans rejected;
/// refused: over the memory limit, retryable; invalid: malformed body; too_large: over
/// `max_request_bytes`; timeout: body not received within `body_read_timeout`; unsupported:
/// content type or encoding; unauthenticated: missing or wrong bearer token).
pub const RECEIVER_REQUESTS: &str = "tailsift_receiver_requests_total";
/// Spans accepted into the pipeline. Labels: `protocol`.
pub const RECEIVER_ACCEPTED_SPANS: &str = "tailsift_receiver_accepted_spans_total";
/// Spans rejected one by one inside an accepted request (OTLP partial success). Labels:
/// `protocol`, `reason` (invalid_trace_id, invalid_span_id, malformed_span, malformed_resource and
/// malformed_scope: every span under an invalid resource or scope). Requests refused as a whole are
/// counted by `tailsift_receiver_requests_total`, since their spans are not read.
pub const RECEIVER_REFUSED_SPANS: &str = "tailsift_receiver_refused_spans_total";

/// Traces decided. Labels: `rule` (rule name, `_default` when no rule matched), `verdict` (kept, dropped).
pub const DECIDED_TRACES: &str = "tailsift_decided_traces_total";
/// Spans in decided traces. Labels: `rule`, `verdict`.
pub const DECIDED_SPANS: &str = "tailsift_decided_spans_total";
/// Spans that arrived after their trace was decided. Labels: `verdict` (kept, dropped).
pub const LATE_SPANS: &str = "tailsift_late_spans_total";
/// Error spans (status error) among the late spans of dropped traces: a stage failed after its
/// trace was decided and dropped, so the error was dropped too (a warning is logged as well).
pub const LATE_DROPPED_ERROR_SPANS: &str = "tailsift_late_dropped_error_spans_total";
/// Traces decided before their wait ended. Labels: `reason` (max_spans_per_trace, max_traces,
/// max_buffer_bytes, shutdown, peer_decided: a peer in the cluster decided the trace).
pub const EARLY_DECISIONS: &str = "tailsift_early_decided_traces_total";
/// Time from a trace's first span to its decision, in seconds.
pub const DECISION_DELAY: &str = "tailsift_decision_delay_seconds";
/// Time from a trace's due time to its decision (its kept spans enter the export queue right
/// after), in seconds. Only traces decided because their wait ended.
pub const DECISION_LATENESS: &str = "tailsift_decision_lateness_seconds";
/// Kept spans rewritten by a fidelity profile. Labels: `profile`.
pub const FIDELITY_REWRITTEN_SPANS: &str = "tailsift_fidelity_rewritten_spans_total";

/// Live traces in the buffer (gauge).
pub const BUFFER_TRACES: &str = "tailsift_buffer_traces";
/// Spans in the buffer (gauge).
pub const BUFFER_SPANS: &str = "tailsift_buffer_spans";
/// Bytes of received requests kept in memory because some of their spans are still held
/// (gauge). Spans are slices of their request, so this is at least `tailsift_buffer_bytes`; with
/// storage on, the spans' summaries instead (their bytes are in the log). With the exporter
/// queues it is what `sampling.memory_limit` counts.
pub const BUFFER_RETAINED_BYTES: &str = "tailsift_buffer_retained_bytes";
/// Encoded span bytes in the buffer (gauge); with storage on, the bytes of the spans' summaries.
pub const BUFFER_BYTES: &str = "tailsift_buffer_bytes";

/// The configured `sampling.memory_limit` in bytes (gauge, constant), so alerts compare
/// ratios instead of repeating the config.
pub const MEMORY_LIMIT: &str = "tailsift_memory_limit_bytes";
/// The configured `sampling.max_buffer_bytes` (gauge, constant).
pub const BUFFER_MAX_BYTES: &str = "tailsift_buffer_max_bytes";
/// The configured `sampling.max_traces` (gauge, constant).
pub const BUFFER_MAX_TRACES: &str = "tailsift_buffer_max_traces";
/// The configured `sampling.decision_wait` in seconds (gauge, constant).
pub const DECISION_WAIT: &str = "tailsift_decision_wait_seconds";

/// Export batches finished. Labels: `exporter`, `outcome` (sent, failed).
pub const EXPORTER_BATCHES: &str = "tailsift_exporter_batches_total";
/// Spans in export batches that were delivered. Labels: `exporter`.
pub const EXPORTER_SENT_SPANS: &str = "tailsift_exporter_sent_spans_total";
/// Spans that could not be delivered. Labels: `exporter`, `reason` (rejected, retries_exhausted,
/// not_retryable, shutdown, partial_success, malformed: taken out of a refused batch as invalid
/// OTLP, with their whole resource or scope group when that is the invalid part).
pub const EXPORTER_FAILED_SPANS: &str = "tailsift_exporter_failed_spans_total";
/// Export attempts retried. Labels: `exporter`.
pub const EXPORTER_RETRIES: &str = "tailsift_exporter_retries_total";
/// Spans waiting in an exporter's queue (gauge). Labels: `exporter`.
pub const EXPORTER_QUEUE_SPANS: &str = "tailsift_exporter_queue_spans";
/// Bytes waiting in an exporter's queue (gauge). Labels: `exporter`.
pub const EXPORTER_QUEUE_BYTES: &str = "tailsift_exporter_queue_bytes";
/// The configured `exporters.<name>.queue.max_bytes` (gauge, constant). Labels: `exporter`.
pub const EXPORTER_QUEUE_MAX_BYTES: &str = "tailsift_exporter_queue_max_bytes";
/// Duration of one export attempt, in seconds. Labels: `exporter`.
pub const EXPORTER_REQUEST_DURATION: &str = "tailsift_exporter_request_duration_seconds";
/// Kept spans not forwarded because their fidelity profile could not decode them. Labels: `profile`.
pub const FIDELITY_FAILED_SPANS: &str = "tailsift_fidelity_failed_spans_total";
/// Kept spans not forwarded because they are not valid OTLP (an attribute, event or link with a
/// string that is not UTF-8, a field of the wrong wire type, values nested too deeply: the
/// parts ingest does not read, checked in full once a span is kept).
pub const MALFORMED_KEPT_SPANS: &str = "tailsift_malformed_kept_spans_total";

/// An adaptive rule's current keep-probability per key (gauge), for its busiest keys only
/// ([`ADAPTIVE_TOP_KEYS`]); keys that fall out of that set disappear. Labels: `rule`, `key`.
pub const ADAPTIVE_PROBABILITY: &str = "tailsift_adaptive_probability";
/// How many keys [`ADAPTIVE_PROBABILITY`] shows per rule at most.
pub const ADAPTIVE_TOP_KEYS: usize = 20;
/// Traces per second an adaptive rule kept over its last interval (gauge). Labels: `rule`.
pub const ADAPTIVE_KEPT_RATE: &str = "tailsift_adaptive_kept_rate";
/// An adaptive rule's `target_traces_per_sec` (gauge). Labels: `rule`.
pub const ADAPTIVE_TARGET_RATE: &str = "tailsift_adaptive_target_rate";
/// Keys an adaptive rule tracks separately (gauge; at most `max_keys`). Labels: `rule`.
pub const ADAPTIVE_KEYS: &str = "tailsift_adaptive_keys";
/// `tail_sampling` policy evaluations, as the Collector's `count_traces_sampled`. Labels:
/// `policy` (top-level policy name), `decision` (sampled, not_sampled, dropped).
pub const POLICY_DECISIONS: &str = "tailsift_policy_decisions_total";

/// Files re-read because they changed (TLS certificates, bearer token files). Labels: `config`
/// (the key path, e.g. `receivers.otlp.grpc.tls`), `outcome` (reloaded; failed: the new files
/// cannot be used and the previous ones stay in use).
pub const RELOADS: &str = "tailsift_reloads_total";
/// TLS handshakes that failed on a receiver. Labels: `receiver` (grpc, http), `reason`
/// (no_client_certificate, bad_client_certificate, refused_by_client: the client does not trust
/// the receiver's certificate, protocol, timeout, io, too_many_handshakes).
pub const TLS_HANDSHAKE_FAILURES: &str = "tailsift_receiver_tls_handshake_failures_total";
/// When the certificate in use expires, in seconds since the Unix epoch (gauge): a receiver's
/// `cert_file`, or an exporter's client certificate. Labels: `config` (e.g.
/// `receivers.otlp.grpc.tls`). Updated at start and on every reload.
pub const TLS_CERTIFICATE_EXPIRY: &str = "tailsift_tls_certificate_expiry_timestamp_seconds";
/// Connections open on a listener (gauge). Labels: `protocol` (grpc, http, metrics).
pub const RECEIVER_CONNECTIONS: &str = "tailsift_receiver_connections";
/// Connections closed at once after being accepted. Labels: `protocol`, `reason`
/// (max_connections: over the listener's cap; handshake_timeout, handshake_failed).
pub const RECEIVER_CONNECTIONS_REFUSED: &str = "tailsift_receiver_connections_refused_total";
/// Connections closed by a timeout. Labels: `protocol`, `reason` (header_read_timeout,
/// idle_timeout).
pub const RECEIVER_CONNECTIONS_TIMED_OUT: &str = "tailsift_receiver_connections_timed_out_total";
/// Failed `accept()` calls (e.g. out of file descriptors); the listener pauses briefly after
/// each. Labels: `protocol`.
pub const RECEIVER_ACCEPT_ERRORS: &str = "tailsift_receiver_accept_errors_total";
/// Bytes of requests being received, inflated or transcoded, reserved before they are read
/// (gauge). With retained bytes and the exporter queues, what `sampling.memory_limit` counts.
pub const RECEIVER_INFLIGHT_BYTES: &str = "tailsift_receiver_inflight_bytes";
/// Bytes of kept spans decided while an exporter queue had no room, waiting for it (gauge;
/// counted in `sampling.memory_limit`).
pub const EXPORT_PENDING_BYTES: &str = "tailsift_export_pending_bytes";
/// With storage on, kept spans waiting for room in the exporter queues, their bytes in the
/// storage log (gauge).
pub const EXPORT_PARKED_SPANS: &str = "tailsift_export_parked_spans";
/// Memory the parked spans' entries hold: their positions in the log (gauge; counted in
/// `sampling.memory_limit`).
pub const EXPORT_PARKED_BYTES: &str = "tailsift_export_parked_bytes";

/// Bytes of the storage log on disk, all segments (gauge).
pub const STORAGE_BYTES: &str = "tailsift_storage_bytes";
/// Segment files of the storage log (gauge).
pub const STORAGE_SEGMENTS: &str = "tailsift_storage_segments";
/// Records appended to the storage log. Labels: `kind` (request, decisions, released).
pub const STORAGE_APPENDED_RECORDS: &str = "tailsift_storage_appended_records_total";
/// Requests the storage log refused, answered with OTLP's retryable refusal. Labels: `reason`
/// (budget: `storage.max_bytes` reached; disk_full: the filesystem is full; write_error: another
/// write failure; fsync_error: the flush to the device failed).
pub const STORAGE_REFUSED_REQUESTS: &str = "tailsift_storage_refused_requests_total";
/// Spans read back from the storage log at start and put back into the pipeline (delivery is
/// at least once: spans delivered just before a crash may be exported again).
pub const STORAGE_REPLAYED_SPANS: &str = "tailsift_storage_replayed_spans_total";
/// Damage found while reading the storage log at start; the rest is still replayed. Labels:
/// `kind` (torn_tail, checksum, undecodable, foreign_file, truncated_file, unknown_version).
pub const STORAGE_DAMAGED: &str = "tailsift_storage_damaged_total";
/// Kept spans not exported because their request could not be read back from the storage log
/// (with storage on, buffered spans are summaries and their bytes are in the log). Labels:
/// `reason` (io_error, truncated, checksum, undecodable, not_a_request, not_found, no_record).
pub const STORAGE_UNREADABLE_SPANS: &str = "tailsift_storage_unreadable_spans_total";
/// Segment files deleted because every record in them was released.
pub const STORAGE_DELETED_SEGMENTS: &str = "tailsift_storage_deleted_segments_total";
/// The duration quantile (seconds) of a stage that `slower_than` conditions compare against
/// (gauge), for the busiest stages only ([`STAGE_TOP`]). Labels: `service`, `name`,
/// `quantile`.
pub const STAGE_DURATION_QUANTILE: &str = "tailsift_stage_duration_quantile_seconds";
/// How many stages [`STAGE_DURATION_QUANTILE`] shows at most.
pub const STAGE_TOP: usize = 20;
/// Stages sketched for `slower_than` conditions (gauge; at most `max_stages` per grouping).
pub const STAGES: &str = "tailsift_stages";
/// Spans of stages beyond `max_stages`, not added to any sketch (their stage has no quantile,
/// so `slower_than` never holds for them).
pub const STAGE_OVERFLOW_SPANS: &str = "tailsift_stage_overflow_spans_total";
/// Captures active now (gauge).
pub const CAPTURES: &str = "tailsift_captures";
/// Traces kept by a capture (ahead of the rules). Counted per trace decided by a capture.
pub const CAPTURE_HITS: &str = "tailsift_capture_hits_total";
/// Captures added, removed and expired. Labels: `event` (added, removed, expired; shared: added
/// here because a peer of the group shared it).
pub const CAPTURE_EVENTS: &str = "tailsift_capture_events_total";
/// Values a fidelity profile's `media` option reduced to hash, size and type. Labels:
/// `profile`.
pub const FIDELITY_MEDIA_REDUCED: &str = "tailsift_fidelity_media_reduced_total";
/// Config reloads (SIGHUP or a change of the config file). Labels: `outcome` (applied: the new
/// rules decide from now on; rejected: the file could not be read, parsed, validated or
/// compiled, and the running config stays).
pub const CONFIG_RELOADS: &str = "tailsift_config_reloads_total";
/// 1 while the cluster bus (NATS) is connected, 0 while this instance decides alone (gauge).
pub const CLUSTER_BUS_UP: &str = "tailsift_cluster_bus_up";
/// Live members of the group heard on the bus, this instance included (gauge); budgets are
/// shared among them.
pub const CLUSTER_MEMBERS: &str = "tailsift_cluster_members";
/// Traces decided here that wait `cluster.grace` for peers' decisions (gauge).
pub const CLUSTER_HELD_TRACES: &str = "tailsift_cluster_held_traces";
/// Traces whose peer decision arrived after this instance released its part under another
/// verdict: the trace is split at the backend.
pub const CLUSTER_SPLIT_TRACES: &str = "tailsift_cluster_split_traces_total";
/// Traces this instance applied a peer's verdict to instead of its own.
pub const CLUSTER_OVERRIDDEN_TRACES: &str = "tailsift_cluster_overridden_traces_total";
/// Decisions published on the bus.
pub const CLUSTER_PUBLISHED_DECISIONS: &str = "tailsift_cluster_published_decisions_total";
/// Peers' decisions received from the bus.
pub const CLUSTER_RECEIVED_DECISIONS: &str = "tailsift_cluster_received_decisions_total";
/// Decisions never published: the bus was too slow and the outbox full, or publishing failed.
pub const CLUSTER_UNPUBLISHED_DECISIONS: &str = "tailsift_cluster_unpublished_decisions_total";
/// Peers' decisions naming a rule or policy this instance does not have (ignored).
pub const CLUSTER_UNKNOWN_RULE_DECISIONS: &str = "tailsift_cluster_unknown_rule_decisions_total";
/// Compressed bytes of decision batches on the bus. Labels: `direction` (sent, received).
pub const CLUSTER_BUS_BYTES: &str = "tailsift_cluster_bus_bytes_total";
/// Messages from the bus that could not be read (damaged, another version). Labels: `kind`
/// (decisions, heartbeat).
pub const CLUSTER_BAD_MESSAGES: &str = "tailsift_cluster_bad_messages_total";
/// The fraction of the group's budgets (`adaptive` targets, `rate_limit` rates) this instance
/// takes: the share of the group's distinct traces it decides (gauge).
pub const CLUSTER_BUDGET_SHARE: &str = "tailsift_cluster_budget_share";

/// Decisions copied into a decisions segment before the request segment holding them (as
/// earlier versions wrote them) was deleted, because the decision cache still remembers them
/// (so they survive a restart).
pub const STORAGE_CARRIED_DECISIONS: &str = "tailsift_storage_carried_decisions_total";
