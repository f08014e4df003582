//! The configuration file's shape: one struct tree, unknown keys rejected, every field documented.

use super::schema_pipelines::{
    AttributeAggregate, CaptureSettings, FidelityPreset, MediaReduction, SlowerThan, SpanCount,
};
use super::schema_samplers::{AdaptiveAction, RateLimitAction};
use super::schema_tls::{AuthConfig, TlsConfig};
use super::units::{mib, secs, ByteSize, Dur};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole configuration file. Unknown keys anywhere are errors, so a typo never silently
/// falls back to a default. Load it with [`crate::config::load`] or [`crate::config::parse`],
/// which also run [`Config::validate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where spans come in. Required; at least one receiver.
    pub receivers: Receivers,
    /// How traces are held and judged: wait times, memory limits and the ordered rules.
    #[serde(default)]
    pub sampling: Sampling,
    /// Named reduced-fidelity profiles that rules can ask for with `fidelity: <name>`.
    /// `full` (spans unchanged) is built in and cannot be redefined.
    #[serde(default)]
    pub fidelity: BTreeMap<String, FidelityProfile>,
    /// Where kept traces go, by exporter name: every kept trace goes to every exporter.
    /// Required; at least one exporter.
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// The daemon's own metrics, health endpoints and logs.
    #[serde(default)]
    pub telemetry: Telemetry,
    /// On SIGTERM/SIGINT: receivers stop, every buffered trace is decided, and exporters get
    /// this long to deliver what is queued. What is still unsent then is counted as failed.
    #[serde(default = "secs::<10>")]
    pub shutdown_timeout: Dur,
    /// The OpenTelemetry Collector's `tail_sampling` processor block, pasted unchanged: an
    /// alternative to `sampling.rules` (give one or the other). Its buffer keys set the
    /// matching `sampling:` settings. See the README, "Migrating from the OpenTelemetry
    /// Collector".
    pub tail_sampling: Option<super::tail_sampling::TailSamplingConfig>,
    /// Durable storage of accepted spans (see [`StorageConfig`]); off when absent.
    pub storage: Option<super::schema_storage::StorageConfig>,
    /// Decision sharing between instances over NATS (sidecars, fleets behind any balancer).
    /// Absent: this instance decides alone.
    pub cluster: Option<super::schema_cluster::ClusterConfig>,
    /// Remarks for the operator about valid but easily misread values (a size written `512MB`
    /// is 512,000,000 bytes), filled in when the file is loaded; `validate` prints them and the
    /// daemon logs them at start.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// `receivers:`: the listeners that accept spans.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receivers {
    /// OTLP receivers: gRPC, HTTP, or both (at least one must be given).
    pub otlp: OtlpReceivers,
}

/// `receivers.otlp:`: the OTLP listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceivers {
    /// OTLP/gRPC (`opentelemetry.proto.collector.trace.v1.TraceService/Export`), usually on
    /// port 4317.
    pub grpc: Option<ReceiverEndpoint>,
    /// OTLP/HTTP: `POST /v1/traces`, protobuf or JSON, optionally gzip-compressed, usually on
    /// port 4318.
    pub http: Option<ReceiverEndpoint>,
}

/// One listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverEndpoint {
    /// Address to listen on, `host:port`: `0.0.0.0:4317` for all interfaces, `127.0.0.1:4317`
    /// for local clients only, `[::]:4317` for IPv6, or a host name such as `localhost:4317`.
    /// The port is required; port 0 picks a free port. No `http://` prefix.
    pub endpoint: String,
    /// Largest request accepted, after decompression (default `16MiB`, must be > 0). Larger
    /// requests are refused with a clear, non-retryable error.
    #[serde(default = "mib::<16>")]
    pub max_request_bytes: ByteSize,
    /// Serve TLS (or mTLS with `client_ca_file`) instead of plaintext (see [`TlsConfig`]).
    pub tls: Option<TlsConfig>,
    /// Require a bearer token on every request (see [`AuthConfig`]).
    pub auth: Option<AuthConfig>,
    /// Connections open at once at most (default: derived from the open-file limit, see the
    /// README's "Limits"; between 1 and 1000000). A connection over the cap is accepted and
    /// closed at once, and counted in `tailsift_receiver_connections_refused_total`.
    pub max_connections: Option<usize>,
    /// Time a client has from connecting (or from its previous response) to finishing a
    /// request's head, TLS handshake included (default `10s`, > 0). Slow or silent clients are
    /// disconnected.
    #[serde(default = "secs::<10>")]
    pub header_read_timeout: Dur,
    /// A connection with no request in flight for this long is closed (default `60s`, > 0).
    /// Applies to HTTP/1 keep-alive and HTTP/2 (gRPC) connections alike.
    #[serde(default = "secs::<60>")]
    pub idle_timeout: Dur,
    /// Time a client has to send a request's body once its head has arrived (default `30s`,
    /// > 0). Slower requests are refused and their bytes released.
    #[serde(default = "secs::<30>")]
    pub body_read_timeout: Dur,
    /// Requests decoded at once off the async workers (OTLP/JSON transcoding and gzip
    /// inflation, and ingest of bodies over 256KiB; default: half the CPUs, at least 1; between
    /// 1 and 256). A request waits up to a second for a slot, then is refused with a retryable
    /// answer.
    pub decode_concurrency: Option<usize>,
}

/// `sampling:`: how long traces are held, how much memory they may use, and the rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sampling {
    /// Longest wait after a trace's first span before it is decided (default `10s`, must be
    /// > 0). Spans arriving later follow the decision through the decision cache.
    pub decision_wait: Dur,
    /// Once the root span has arrived, decide this long after the trace's last span (default
    /// `2s`). Must not be longer than `decision_wait`.
    pub root_wait: Dur,
    /// A trace reaching this many spans is decided at once (default 10000, at least 1).
    pub max_spans_per_trace: usize,
    /// Live traces held at most (default 200000, at least 1); past this the oldest are decided
    /// early (never dropped undecided).
    pub max_traces: usize,
    /// Encoded span bytes held at most (default `512MiB`, must be > 0); past this the oldest
    /// traces are decided early.
    pub max_buffer_bytes: ByteSize,
    /// Ceiling on bytes held: received requests still referenced by held spans (a request stays
    /// in memory while any of its spans is held) plus exporter queues. Above it receivers refuse
    /// new data with retryable answers. Default: 1.5 x `max_buffer_bytes`; if given, it must be at
    /// least `max_buffer_bytes`.
    pub memory_limit: Option<ByteSize>,
    /// How many decided trace ids are remembered so that late spans follow their trace's
    /// decision instead of being judged alone.
    pub decision_cache: DecisionCache,
    /// When true (default), every kept span carries the attribute `sampling.rule = <rule name>`.
    pub annotate: bool,
    /// Number of independently locked buffer shards (default 64, between 1 and 4096). More
    /// shards mean less lock contention between receiver threads.
    pub shards: usize,
    /// How often the buffer looks for traces that are due (default `10ms`, between `1ms` and
    /// `1s`). Decisions happen up to one tick late.
    pub tick: Dur,
    /// Ordered rules: the first rule whose `when` holds decides. A trace no rule matches is
    /// kept. Rule names must be unique; a rule without `when` matches every trace, so it must
    /// be the last one.
    pub rules: Vec<Rule>,
    /// When set (e.g. `SampleRate`), kept spans of traces sampled with a probability below 1
    /// (by a `probability` or `adaptive` rule, or upstream: an incoming `ot=th`) also carry this
    /// attribute, a double: the adjusted count `1/p`, how many traces the kept one stands for.
    pub adjusted_count_attribute: Option<String>,
    /// Capture on demand: which attributes captures may match on, and their limits (see
    /// [`CaptureSettings`]).
    pub capture: CaptureSettings,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            decision_wait: Dur::secs(10),
            root_wait: Dur::secs(2),
            max_spans_per_trace: 10_000,
            max_traces: 200_000,
            max_buffer_bytes: ByteSize::mib(512),
            memory_limit: None,
            decision_cache: DecisionCache::default(),
            annotate: true,
            shards: 64,
            tick: Dur::millis(10),
            rules: Vec::new(),
            adjusted_count_attribute: None,
            capture: CaptureSettings::default(),
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

/// `sampling.decision_cache:`: sizes of the caches of recent decisions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionCache {
    /// Kept trace ids remembered (default 100000; 0 turns this cache off, and late spans of
    /// kept traces are then judged as new traces).
    pub kept: usize,
    /// Dropped trace ids remembered (default 1000000; 0 turns this cache off).
    pub dropped: usize,
}

impl Default for DecisionCache {
    fn default() -> Self {
        DecisionCache {
            kept: 100_000,
            dropped: 1_000_000,
        }
    }
}

/// One sampling rule. Exactly one action: `keep: true`, `drop: true`, `probability: P`,
/// `adaptive: {...}` or `rate_limit: {...}`
/// (`keep: false` and `drop: false` are rejected: write the other action instead).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique, non-empty name; shown in metrics and in the `sampling.rule` attribute.
    pub name: String,
    /// Condition; a rule without `when` matches every trace (a catch-all, which must be the
    /// last rule). An empty `when:` or `when: {}` is an error rather than a catch-all.
    #[serde(default, deserialize_with = "super::matchers::present")]
    pub when: Option<Condition>,
    /// Keep the matching trace.
    pub keep: Option<bool>,
    /// Drop the matching trace.
    pub drop: Option<bool>,
    /// Keep the matching trace with this probability (between 0 and 1), decided consistently
    /// from the trace id so every tailsift instance makes the same choice for one trace.
    pub probability: Option<f64>,
    /// Keep a share of the matching traces sized to a throughput target, fairly across keys of
    /// traffic (see [`AdaptiveAction`]).
    pub adaptive: Option<AdaptiveAction>,
    /// Keep matching traces up to a rate (token bucket, see [`RateLimitAction`]).
    pub rate_limit: Option<RateLimitAction>,
    /// Fidelity of kept spans: `full` (default) or a profile name under `fidelity:`. Not
    /// allowed on a `drop` rule.
    pub fidelity: Option<String>,
}

/// A condition on a trace. All given parts must hold, and at least one part must be given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Some span of the trace matches.
    pub span: Option<SpanMatcher>,
    /// The root span (the span without a parent) matches. A trace without a root never matches.
    pub root: Option<SpanMatcher>,
    /// Whole-trace properties.
    pub trace: Option<TraceMatcher>,
    /// At least one of these conditions holds. The list must not be empty.
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
    /// Span lasted at least this long (e.g. `1s`).
    pub min_duration: Option<Dur>,
    /// Span lasted at most this long; not shorter than `min_duration`.
    pub max_duration: Option<Dur>,
    /// Span attributes: key -> value matcher. All listed keys must match. A value matcher is
    /// a value (`premium`, `42`, `true`), a list of values (any), `{ exists: true|false }`,
    /// `{ regex: ... }` (whole string) or `{ min: N, max: N }` (numbers, inclusive).
    pub attributes: Option<BTreeMap<String, ValueMatcher>>,
    /// Resource attributes: key -> value matcher, same forms as `attributes`.
    pub resource: Option<BTreeMap<String, ValueMatcher>>,
    /// Slower than a quantile of its own stage's recent spans (see [`SlowerThan`]).
    pub slower_than: Option<SlowerThan>,
}

/// Whole-trace matcher.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceMatcher {
    /// Trace duration (earliest start to latest end) at least this long.
    pub min_duration: Option<Dur>,
    /// Trace duration at most this long; not shorter than `min_duration`.
    pub max_duration: Option<Dur>,
    /// At least this many spans (counted when the trace is decided).
    pub min_spans: Option<usize>,
    /// At most this many spans; not fewer than `min_spans`.
    pub max_spans: Option<usize>,
    /// The sum of a numeric span attribute over the trace (see [`AttributeAggregate`]).
    pub sum: Option<AttributeAggregate>,
    /// The largest value of a numeric span attribute in the trace.
    pub max: Option<AttributeAggregate>,
    /// How many spans match a matcher (see [`SpanCount`]).
    pub count: Option<SpanCount>,
}

/// A single value or a list of values (`status: error` or `status: [error, unset]`).
/// Deserialized in `matchers.rs` so that a bad value names the accepted ones.
#[derive(Debug, Clone, PartialEq)]
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

/// OpenTelemetry span kind, written in lower case.
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

/// OpenTelemetry span status code, written in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

/// String matcher: exact string, list of strings (any), or `{ regex: ... }` (whole-string
/// match, `regex` crate syntax; checked when the config is loaded).
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

/// The smallest accepted `max_attribute_bytes`. A truncated value ends with a marker saying how
/// long it was; below this there is no room for the marker and a useful prefix of the value.
pub const MIN_MAX_ATTRIBUTE_BYTES: u64 = 16;

/// A reduced-fidelity profile applied to the spans of kept traces whose rule names it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FidelityProfile {
    /// Attribute keys (`*` wildcards) whose string values are replaced by
    /// `sha256:<first 16 hex digits>`; the original length goes into `<key>.length`.
    /// Patterns must not be empty, e.g. `[prompt, "payload.*"]`.
    pub hash_attributes: Vec<String>,
    /// String attribute values longer than this are truncated (on a UTF-8 boundary). At least
    /// 16 bytes ([`MIN_MAX_ATTRIBUTE_BYTES`]). Not set: values are not truncated.
    pub max_attribute_bytes: Option<ByteSize>,
    /// Drop span events (default false).
    pub drop_events: bool,
    /// Built-in attribute rules to include: `[gen_ai]` (see [`FidelityPreset`]).
    pub presets: Vec<FidelityPreset>,
    /// Reduce encoded media under any key to its hash, size and type (see
    /// [`MediaReduction`]).
    pub media: Option<MediaReduction>,
}

/// How an exporter sends: OTLP over gRPC, OTLP over HTTP (protobuf), or a local file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportProtocol {
    OtlpGrpc,
    OtlpHttp,
    File,
}

/// Compression of export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// One destination for kept traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExporterConfig {
    /// `otlp_grpc`, `otlp_http` or `file`.
    pub protocol: ExportProtocol,
    /// Required for `otlp_grpc`/`otlp_http`, not allowed for `file`: `http://host:port` or
    /// `https://host:port` (TLS, verified against the system's trusted roots unless `tls` says
    /// otherwise). For HTTP, `/v1/traces` is appended unless the URL already has a path.
    pub endpoint: Option<String>,
    /// Required for `file`, not allowed otherwise: path of the JSON-lines file (OTLP JSON, one
    /// export request per line).
    pub path: Option<PathBuf>,
    /// Extra headers (gRPC metadata) on every export request, e.g. `X-Scope-OrgID: team-a`.
    /// Names and values must be valid HTTP headers. Not allowed for `file`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values are read from files, e.g. `Authorization: /run/secrets/tempo-auth`,
    /// so secrets stay out of this file. Each file is read when the configuration is loaded (at
    /// start, and by `validate`); restart to use a changed file. Leading and trailing whitespace
    /// (the final newline) is removed; the value must not be empty. A name may not be in both
    /// `headers` and `headers_from_file`. Not allowed for `file`.
    #[serde(default)]
    pub headers_from_file: BTreeMap<String, PathBuf>,
    /// `gzip` (default for OTLP), `zstd` or `none`. Not allowed for `file`.
    pub compression: Option<Compression>,
    /// Level of `compression`: gzip 1 (fastest) to 9 (smallest), default 1; zstd 1 to 22,
    /// default 1. Not allowed with `compression: none` or for `file`.
    pub compression_level: Option<i64>,
    /// Timeout of one export attempt (default `10s`, must be > 0).
    #[serde(default = "secs::<10>")]
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
    /// TLS settings of an `https://` endpoint: private CA, client certificate (mTLS), minimum
    /// version (see [`TlsConfig`]). Not allowed with `http://` or for `file`.
    pub tls: Option<TlsConfig>,
}

/// `exporters.<name>.batch:`: when a batch of kept spans is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Send a batch once it holds this many spans (default 8192, at least 1).
    pub max_spans: usize,
    /// Send a batch once it holds this many encoded bytes (default `4MiB`, must be > 0).
    pub max_bytes: ByteSize,
    /// Send a non-empty batch at the latest this long after its first span (default `200ms`).
    pub timeout: Dur,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_spans: 8192,
            max_bytes: ByteSize::mib(4),
            timeout: Dur::millis(200),
        }
    }
}

/// `exporters.<name>.queue:`: batches waiting to be sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Bytes of kept spans waiting for this exporter at most. While any exporter's queue is
    /// full, receivers refuse new data with retryable answers. Default `128MiB`, must be > 0.
    pub max_bytes: ByteSize,
    /// Export requests in flight at once (default 4, between 1 and 64).
    pub concurrency: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_bytes: ByteSize::mib(128),
            concurrency: 4,
        }
    }
}

/// `exporters.<name>.retry:`: exponential backoff with jitter for retryable failures.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry retryable failures at all (default true).
    pub enabled: bool,
    /// First backoff (default `500ms`; > 0 when retry is enabled; not longer than
    /// `max_interval`).
    pub initial_interval: Dur,
    /// Largest backoff (default `30s`).
    pub max_interval: Dur,
    /// Give up on a batch after retrying this long (default `5m`; counted as failed, with the
    /// reason).
    pub max_elapsed: Dur,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Dur::millis(500),
            max_interval: Dur::secs(30),
            max_elapsed: Dur::secs(300),
        }
    }
}

/// `telemetry:`: the daemon's own observability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Telemetry {
    /// Prometheus `/metrics`, `/healthz` and `/readyz` on this address. Not set: no endpoint.
    pub metrics: Option<MetricsEndpoint>,
    /// Log level and format.
    pub logs: LogConfig,
}

/// `telemetry.metrics:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsEndpoint {
    /// Address to listen on, `host:port` like the receivers' (e.g. `0.0.0.0:8888`). Must not
    /// share a port with a receiver.
    pub endpoint: String,
    /// Require a bearer token on `/metrics` (see [`AuthConfig`]). `/healthz` and `/readyz`
    /// stay open, for the kubelet's probes.
    pub auth: Option<AuthConfig>,
}

/// `telemetry.logs:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info` (default), `debug`, `trace` or `off`, or a `tracing` filter
    /// directive such as `info,tailsift::buffer=debug`. A bare word that is not a level (e.g.
    /// `warning`) is rejected as a likely typo; to enable one target write `target=trace`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

/// Log line format: human-readable `text` (default) or one JSON object per line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
