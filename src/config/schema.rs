//! The configuration file's shape: one struct tree, unknown keys rejected, every field documented.

use super::units::{ByteSize, Dur};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where spans come in.
    pub receivers: Receivers,
    /// How traces are held and judged.
    #[serde(default)]
    pub sampling: Sampling,
    /// Named reduced-fidelity profiles that rules can ask for (`full` is built in).
    #[serde(default)]
    pub fidelity: BTreeMap<String, FidelityProfile>,
    /// Where kept traces go: every kept trace goes to every exporter.
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// The daemon's own metrics, health endpoints and logs.
    #[serde(default)]
    pub telemetry: Telemetry,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receivers {
    /// OTLP receivers: gRPC, HTTP, or both.
    pub otlp: OtlpReceivers,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceivers {
    /// OTLP/gRPC (`opentelemetry.proto.collector.trace.v1.TraceService/Export`).
    pub grpc: Option<ReceiverEndpoint>,
    /// OTLP/HTTP: `POST /v1/traces`, protobuf or JSON, optionally gzip-compressed.
    pub http: Option<ReceiverEndpoint>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverEndpoint {
    /// Address to listen on, `host:port` (e.g. `0.0.0.0:4317`; port 0 picks a free port).
    pub endpoint: String,
    /// Largest request accepted, after decompression. Larger requests are refused with a clear error.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: ByteSize,
}

fn default_max_request_bytes() -> ByteSize {
    ByteSize::mib(16)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Longest wait after a trace's first span before it is decided.
    #[serde(default = "default_decision_wait")]
    pub decision_wait: Dur,
    /// Once the root span has arrived, decide this long after the trace's last span.
    #[serde(default = "default_root_wait")]
    pub root_wait: Dur,
    /// A trace reaching this many spans is decided at once.
    #[serde(default = "default_max_spans_per_trace")]
    pub max_spans_per_trace: usize,
    /// Live traces held at most; past this the oldest are decided early (never dropped undecided).
    #[serde(default = "default_max_traces")]
    pub max_traces: usize,
    /// Encoded span bytes held at most; past this the oldest traces are decided early.
    #[serde(default = "default_max_buffer_bytes")]
    pub max_buffer_bytes: ByteSize,
    /// Hard ceiling on bytes held (buffer plus exporter queues). Above it receivers refuse new
    /// data with retryable answers. Default: 1.5 x `max_buffer_bytes`.
    pub memory_limit: Option<ByteSize>,
    /// How many decided trace ids are remembered so that late spans follow their trace.
    #[serde(default)]
    pub decision_cache: DecisionCache,
    /// When true, every kept span carries the attribute `sampling.rule = <rule name>`.
    #[serde(default = "default_true")]
    pub annotate: bool,
    /// Number of independently locked buffer shards.
    #[serde(default = "default_shards")]
    pub shards: usize,
    /// How often the buffer looks for traces that are due.
    #[serde(default = "default_tick")]
    pub tick: Dur,
    /// Ordered rules: the first rule whose `when` holds decides. A trace no rule matches is kept.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            decision_wait: default_decision_wait(),
            root_wait: default_root_wait(),
            max_spans_per_trace: default_max_spans_per_trace(),
            max_traces: default_max_traces(),
            max_buffer_bytes: default_max_buffer_bytes(),
            memory_limit: None,
            decision_cache: DecisionCache::default(),
            annotate: true,
            shards: default_shards(),
            tick: default_tick(),
            rules: Vec::new(),
        }
    }
}

impl Sampling {
    /// The hard memory ceiling in bytes (explicit or 1.5 x `max_buffer_bytes`).
    pub fn memory_limit_bytes(&self) -> u64 {
        self.memory_limit
            .map(|b| b.0)
            .unwrap_or(self.max_buffer_bytes.0.saturating_mul(3) / 2)
    }
}

fn default_decision_wait() -> Dur {
    Dur::secs(10)
}
fn default_root_wait() -> Dur {
    Dur::secs(2)
}
fn default_max_spans_per_trace() -> usize {
    10_000
}
fn default_max_traces() -> usize {
    200_000
}
fn default_max_buffer_bytes() -> ByteSize {
    ByteSize::mib(512)
}
fn default_true() -> bool {
    true
}
fn default_shards() -> usize {
    64
}
fn default_tick() -> Dur {
    Dur::millis(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionCache {
    /// Kept trace ids remembered.
    #[serde(default = "default_cache_kept")]
    pub kept: usize,
    /// Dropped trace ids remembered.
    #[serde(default = "default_cache_dropped")]
    pub dropped: usize,
}

impl Default for DecisionCache {
    fn default() -> Self {
        DecisionCache {
            kept: default_cache_kept(),
            dropped: default_cache_dropped(),
        }
    }
}

fn default_cache_kept() -> usize {
    100_000
}
fn default_cache_dropped() -> usize {
    1_000_000
}

/// One sampling rule. Exactly one action: `keep: true`, `drop: true` or `probability: P`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name; shown in metrics and in the `sampling.rule` attribute.
    pub name: String,
    /// Condition; a rule without `when` matches every trace.
    pub when: Option<Condition>,
    /// Keep the matching trace.
    pub keep: Option<bool>,
    /// Drop the matching trace.
    pub drop: Option<bool>,
    /// Keep the matching trace with this probability (0..=1), consistently on the trace id.
    pub probability: Option<f64>,
    /// Fidelity of kept spans: `full` (default) or a profile name under `fidelity:`.
    pub fidelity: Option<String>,
}

/// A condition on a trace. All given parts must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Some span of the trace matches.
    pub span: Option<SpanMatcher>,
    /// The root span (the span without a parent) matches. A trace without a root never matches.
    pub root: Option<SpanMatcher>,
    /// Whole-trace properties.
    pub trace: Option<TraceMatcher>,
    /// At least one of these conditions holds.
    pub any: Option<Vec<Condition>>,
    /// This condition does not hold.
    pub not: Option<Box<Condition>>,
}

/// Matches one span. All given fields must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanMatcher {
    /// Span name: a string, a list of strings, or `{ regex: ... }`.
    pub name: Option<StringMatcher>,
    /// The resource's `service.name`: a string, a list of strings, or `{ regex: ... }`.
    pub service: Option<StringMatcher>,
    /// Span kind: `server`, `client`, `producer`, `consumer`, `internal`, `unspecified`, or a list.
    pub kind: Option<OneOrMany<SpanKind>>,
    /// Span status: `error`, `ok`, `unset`, or a list.
    pub status: Option<OneOrMany<StatusCode>>,
    /// Span lasted at least this long.
    pub min_duration: Option<Dur>,
    /// Span lasted at most this long.
    pub max_duration: Option<Dur>,
    /// Span attributes: key -> value matcher.
    pub attributes: Option<BTreeMap<String, ValueMatcher>>,
    /// Resource attributes: key -> value matcher.
    pub resource: Option<BTreeMap<String, ValueMatcher>>,
}

/// Whole-trace matcher.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceMatcher {
    /// Trace duration (earliest start to latest end) at least this long.
    pub min_duration: Option<Dur>,
    /// Trace duration at most this long.
    pub max_duration: Option<Dur>,
    /// At least this many spans.
    pub min_spans: Option<usize>,
    /// At most this many spans.
    pub max_spans: Option<usize>,
}

/// A single value or a list of values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

/// String matcher: exact string, list of strings (any), or `{ regex: ... }` (whole-string match).
#[derive(Debug, Clone, PartialEq)]
pub enum StringMatcher {
    Exact(String),
    OneOf(Vec<String>),
    Regex(String),
}

/// A scalar value as written in the config.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Attribute value matcher: exact value, list of values (any), `{ exists: bool }`,
/// `{ regex: ... }`, or `{ min: N, max: N }` (inclusive, numeric attributes only).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueMatcher {
    Exact(Scalar),
    OneOf(Vec<Scalar>),
    Exists(bool),
    Regex(String),
    Range { min: Option<f64>, max: Option<f64> },
}

/// A reduced-fidelity profile applied to the spans of kept traces whose rule names it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FidelityProfile {
    /// Attribute keys (`*` wildcards) whose string values are replaced by
    /// `sha256:<first 16 hex digits>`; the original length goes into `<key>.length`.
    #[serde(default)]
    pub hash_attributes: Vec<String>,
    /// String attribute values longer than this are truncated (on a UTF-8 boundary).
    pub max_attribute_bytes: Option<ByteSize>,
    /// Drop span events.
    #[serde(default)]
    pub drop_events: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportProtocol {
    OtlpGrpc,
    OtlpHttp,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

/// One destination for kept traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExporterConfig {
    /// `otlp_grpc`, `otlp_http` or `file`.
    pub protocol: ExportProtocol,
    /// For `otlp_grpc`/`otlp_http`: `http://host:port` (for HTTP, `/v1/traces` is appended
    /// unless the URL already has a path).
    pub endpoint: Option<String>,
    /// For `file`: path of the JSON-lines file (OTLP JSON, one export request per line).
    pub path: Option<PathBuf>,
    /// Extra headers (gRPC metadata) on every export request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `gzip` (default for OTLP) or `none`.
    pub compression: Option<Compression>,
    /// Timeout of one export attempt.
    #[serde(default = "default_export_timeout")]
    pub timeout: Dur,
    /// Batching of kept spans into export requests.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Bounded queue of batches waiting to be sent.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Retry of failed batches with exponential backoff and jitter.
    #[serde(default)]
    pub retry: RetryConfig,
}

fn default_export_timeout() -> Dur {
    Dur::secs(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Send a batch once it holds this many spans.
    #[serde(default = "default_batch_spans")]
    pub max_spans: usize,
    /// Send a batch once it holds this many encoded bytes.
    #[serde(default = "default_batch_bytes")]
    pub max_bytes: ByteSize,
    /// Send a non-empty batch at the latest this long after its first span.
    #[serde(default = "default_batch_timeout")]
    pub timeout: Dur,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_spans: default_batch_spans(),
            max_bytes: default_batch_bytes(),
            timeout: default_batch_timeout(),
        }
    }
}

fn default_batch_spans() -> usize {
    8192
}
fn default_batch_bytes() -> ByteSize {
    ByteSize::mib(4)
}
fn default_batch_timeout() -> Dur {
    Dur::millis(200)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Bytes of kept spans waiting for this exporter at most. While any exporter's queue is
    /// full, receivers refuse new data with retryable answers.
    #[serde(default = "default_queue_bytes")]
    pub max_bytes: ByteSize,
    /// Export requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_bytes: default_queue_bytes(),
            concurrency: default_concurrency(),
        }
    }
}

fn default_queue_bytes() -> ByteSize {
    ByteSize::mib(128)
}
fn default_concurrency() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry retryable failures at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// First backoff.
    #[serde(default = "default_initial_interval")]
    pub initial_interval: Dur,
    /// Largest backoff.
    #[serde(default = "default_max_interval")]
    pub max_interval: Dur,
    /// Give up on a batch after retrying this long (counted as failed, with the reason).
    #[serde(default = "default_max_elapsed")]
    pub max_elapsed: Dur,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: default_initial_interval(),
            max_interval: default_max_interval(),
            max_elapsed: default_max_elapsed(),
        }
    }
}

fn default_initial_interval() -> Dur {
    Dur::millis(500)
}
fn default_max_interval() -> Dur {
    Dur::secs(30)
}
fn default_max_elapsed() -> Dur {
    Dur::secs(300)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// Prometheus `/metrics`, `/healthz` and `/readyz` on this address.
    pub metrics: Option<MetricsEndpoint>,
    /// Log level and format.
    #[serde(default)]
    pub logs: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsEndpoint {
    /// Address to listen on, `host:port`.
    pub endpoint: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
            format: LogFormat::Text,
        }
    }
}

fn default_log_level() -> String {
    "info".to_string()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
