//! The `tail_sampling:` section: the OpenTelemetry Collector's tail sampling processor config,
//! key for key, so a Collector block can be pasted unchanged. Unknown keys are errors, as in
//! the Collector.

use super::go_units::{GoDuration, Int, StrList};
use super::{Config, ValidationError};
use serde::Deserialize;

/// The checks of a `tail_sampling` block that need its policies compiled, so that every
/// policy error comes from the compiler the daemon runs. Implemented by the engine that runs
/// the policies (`crate::collector::validate`); [`Config::validate`] calls it, and this module
/// does not depend on that engine.
pub trait PolicyCheck {
    /// Every problem of this block within `config`, each with its key path.
    fn check_policies(&self, config: &Config) -> Vec<ValidationError>;
}

/// `tail_sampling:`: the Collector `tail_sampling` processor block (an alternative to
/// `sampling.rules`). See the README section "Migrating from the OpenTelemetry Collector".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TailSamplingConfig {
    /// Wait after a trace's first span before deciding (default `30s`, as in the Collector).
    /// Sets `sampling.decision_wait`.
    pub decision_wait: Option<GoDuration>,
    /// Live traces held at most (default 50000). Sets `sampling.max_traces`; when full, tailsift
    /// decides the oldest traces early instead of evicting them undecided.
    pub num_traces: Option<Int>,
    /// Accepted for compatibility; tailsift sizes its buffer on demand, so it has no effect.
    pub expected_new_traces_per_sec: Option<Int>,
    /// Once the root span has arrived, decide this long after the trace's last span. Sets
    /// `sampling.root_wait`; not set or 0: `decision_wait` (no early decision, as in the
    /// Collector).
    pub decision_wait_after_root_received: Option<GoDuration>,
    /// Decision caches: `sampled_cache_size` sets `sampling.decision_cache.kept`,
    /// `non_sampled_cache_size` sets `sampling.decision_cache.dropped`.
    pub decision_cache: Option<DecisionCacheCfg>,
    /// Stop at the first policy that samples (drop policies are still evaluated first).
    pub sample_on_first_match: bool,
    /// On shutdown, drop the traces still waiting instead of deciding them with what arrived.
    pub drop_pending_traces_on_shutdown: bool,
    /// Accepted for compatibility, no effect: tailsift never evicts undecided traces; at its
    /// `memory_limit` it refuses new data with retryable answers (OTLP backpressure).
    pub block_on_overflow: bool,
    /// A trace whose spans add up to more encoded bytes than this is dropped without evaluating
    /// the policies (0 or not set: no limit).
    pub maximum_trace_size_bytes: Option<Int>,
    /// The policies. Required, at least one.
    pub policies: Vec<PolicyCfg>,
}

/// `tail_sampling.decision_cache:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionCacheCfg {
    /// Sampled trace ids remembered (0 turns the cache off).
    pub sampled_cache_size: Option<Int>,
    /// Not-sampled trace ids remembered (0 turns the cache off).
    pub non_sampled_cache_size: Option<Int>,
}

/// A policy type (`type:`); the settings go in the block of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    AlwaysSample,
    Latency,
    NumericAttribute,
    Probabilistic,
    StatusCode,
    StringAttribute,
    TraceState,
    TraceFlags,
    RateLimiting,
    BytesLimiting,
    SpanCount,
    BooleanAttribute,
    OttlCondition,
    And,
    Not,
    Drop,
    Composite,
}

impl PolicyType {
    /// The type as written in the config, which is also the name of its settings block.
    pub fn key(self) -> &'static str {
        match self {
            PolicyType::AlwaysSample => "always_sample",
            PolicyType::Latency => "latency",
            PolicyType::NumericAttribute => "numeric_attribute",
            PolicyType::Probabilistic => "probabilistic",
            PolicyType::StatusCode => "status_code",
            PolicyType::StringAttribute => "string_attribute",
            PolicyType::TraceState => "trace_state",
            PolicyType::TraceFlags => "trace_flags",
            PolicyType::RateLimiting => "rate_limiting",
            PolicyType::BytesLimiting => "bytes_limiting",
            PolicyType::SpanCount => "span_count",
            PolicyType::BooleanAttribute => "boolean_attribute",
            PolicyType::OttlCondition => "ottl_condition",
            PolicyType::And => "and",
            PolicyType::Not => "not",
            PolicyType::Drop => "drop",
            PolicyType::Composite => "composite",
        }
    }
}

/// One policy: a name, a type, and the settings block named after the type. Used at every
/// level (top level, `and_sub_policy`, `not_sub_policy`, `drop_sub_policy`,
/// `composite_sub_policy`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCfg {
    /// Shown in metrics (`policy` and `rule` labels) and in the `sampling.rule` attribute.
    /// Required and unique at the top level.
    #[serde(default)]
    pub name: String,
    /// The policy type; its settings go in the block of the same name.
    #[serde(rename = "type")]
    pub kind: PolicyType,
    /// Settings of a `latency` policy.
    pub latency: Option<LatencyCfg>,
    /// Settings of a `numeric_attribute` policy.
    pub numeric_attribute: Option<NumericAttributeCfg>,
    /// Settings of a `probabilistic` policy.
    pub probabilistic: Option<ProbabilisticCfg>,
    /// Settings of a `status_code` policy.
    pub status_code: Option<StatusCodeCfg>,
    /// Settings of a `string_attribute` policy.
    pub string_attribute: Option<StringAttributeCfg>,
    /// Settings of a `trace_state` policy.
    pub trace_state: Option<TraceStateCfg>,
    /// Settings of a `rate_limiting` policy.
    pub rate_limiting: Option<RateLimitingCfg>,
    /// Settings of a `bytes_limiting` policy.
    pub bytes_limiting: Option<BytesLimitingCfg>,
    /// Settings of a `span_count` policy.
    pub span_count: Option<SpanCountCfg>,
    /// Settings of a `boolean_attribute` policy.
    pub boolean_attribute: Option<BooleanAttributeCfg>,
    /// Settings of an `ottl_condition` policy.
    pub ottl_condition: Option<OttlConditionCfg>,
    /// Sub-policies of an `and` policy.
    pub and: Option<AndCfg>,
    /// Sub-policy of a `not` policy.
    pub not: Option<Box<NotCfg>>,
    /// Sub-policies of a `drop` policy (top level only).
    pub drop: Option<DropCfg>,
    /// Settings and sub-policies of a `composite` policy.
    pub composite: Option<CompositeCfg>,
}

impl PolicyCfg {
    /// The settings blocks that are present, by name.
    pub fn blocks(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |present: bool, key: &'static str| {
            if present {
                v.push(key)
            }
        };
        add(self.latency.is_some(), "latency");
        add(self.numeric_attribute.is_some(), "numeric_attribute");
        add(self.probabilistic.is_some(), "probabilistic");
        add(self.status_code.is_some(), "status_code");
        add(self.string_attribute.is_some(), "string_attribute");
        add(self.trace_state.is_some(), "trace_state");
        add(self.rate_limiting.is_some(), "rate_limiting");
        add(self.bytes_limiting.is_some(), "bytes_limiting");
        add(self.span_count.is_some(), "span_count");
        add(self.boolean_attribute.is_some(), "boolean_attribute");
        add(self.ottl_condition.is_some(), "ottl_condition");
        add(self.and.is_some(), "and");
        add(self.not.is_some(), "not");
        add(self.drop.is_some(), "drop");
        add(self.composite.is_some(), "composite");
        v
    }
}

/// `latency:`: the trace's duration (earliest start to latest end, whole milliseconds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyCfg {
    /// Without `upper_threshold_ms`: sampled when duration >= threshold_ms. With it: sampled
    /// when threshold_ms < duration <= upper_threshold_ms (the Collector's bounds).
    pub threshold_ms: Int,
    /// Upper bound, inclusive; 0 or not set: none.
    pub upper_threshold_ms: Int,
}

/// `numeric_attribute:`: an integer attribute (resource or span) within bounds, inclusive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumericAttributeCfg {
    /// Attribute key (required).
    pub key: String,
    /// Lower bound; 0 or not set: none (as in the Collector).
    pub min_value: Option<Int>,
    /// Upper bound; 0 or not set: none (as in the Collector).
    pub max_value: Option<Int>,
    /// Sampled when no resource or span has a matching value (including when the key is missing).
    pub invert_match: bool,
}

/// `probabilistic:`: a consistent percentage of trace ids (FNV-1a of salt and trace id).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbabilisticCfg {
    /// Salt of the hash; not set: the Collector's default salt.
    pub hash_salt: String,
    /// Percentage of traces sampled, 0 to 100 (100 or more samples every trace).
    pub sampling_percentage: f64,
}

/// `status_code:`: some span has one of these status codes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusCodeCfg {
    /// `OK`, `ERROR`, `UNSET` (at least one).
    pub status_codes: StrList,
}

/// `string_attribute:`: a string attribute (resource or span) with one of the values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StringAttributeCfg {
    /// Attribute key (required).
    pub key: String,
    /// Exact values, or regular expressions (unanchored) with `enabled_regex_matching`.
    pub values: StrList,
    /// Treat `values` as regular expressions (Rust `regex` syntax, matched anywhere in the value).
    pub enabled_regex_matching: bool,
    /// Accepted for compatibility (size of the Collector's regex result cache); no effect.
    pub cache_max_size: Option<Int>,
    /// Sampled when no resource or span has a matching value (including when the key is missing).
    pub invert_match: bool,
}

/// `trace_state:`: some span's W3C tracestate has `key=value` for one of the values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceStateCfg {
    /// Tracestate key (required), e.g. `vendor` in `vendor=value`.
    pub key: String,
    /// Accepted values (at least one), compared exactly.
    pub values: StrList,
}

/// `rate_limiting:`: a token bucket of spans.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitingCfg {
    /// Refill rate, spans per second (> 0).
    pub spans_per_second: Int,
    /// Bucket size in spans (default 2 x spans_per_second); a larger trace never passes.
    pub burst_capacity: Option<Int>,
}

/// `bytes_limiting:`: a token bucket of encoded trace bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BytesLimitingCfg {
    /// Refill rate, bytes per second (> 0).
    pub bytes_per_second: Int,
    /// Bucket size in bytes (default 2 x bytes_per_second); a larger trace never passes.
    pub burst_capacity: Option<Int>,
}

/// `span_count:`: the number of spans, bounds inclusive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanCountCfg {
    /// At least this many spans.
    pub min_spans: Int,
    /// 0 or not set: no upper bound.
    pub max_spans: Int,
}

/// `boolean_attribute:`: a boolean attribute (resource or span) equal to `value`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BooleanAttributeCfg {
    /// Attribute key (required).
    pub key: String,
    /// The value sampled (default false).
    pub value: bool,
    /// Sampled when no resource or span has a matching value (including when the key is missing).
    pub invert_match: bool,
}

/// OTTL error mode; the supported condition subset cannot fail at run time, so all behave alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    Ignore,
    Silent,
    Propagate,
}

/// `ottl_condition:`: OTTL boolean conditions; sampled when any condition holds for some span
/// (`span`) or some span event (`spanevent`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OttlConditionCfg {
    /// `ignore`, `silent` or `propagate` (the Collector's default).
    pub error_mode: Option<ErrorMode>,
    /// Conditions on spans: `name`, `kind`, `status.code`, `attributes["k"]`,
    /// `resource.attributes["k"]`.
    pub span: StrList,
    /// Conditions on span events: the event's `name` and `attributes["k"]`, and `span.*`.
    pub spanevent: StrList,
}

/// `and:`: sampled when every sub-policy samples.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AndCfg {
    /// At least one sub-policy.
    pub and_sub_policy: Vec<PolicyCfg>,
}

/// `not:`: sampled when its sub-policy does not sample.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotCfg {
    /// The policy whose verdict is inverted.
    pub not_sub_policy: PolicyCfg,
}

/// `drop:`: the trace is dropped, whatever other policies say, when every sub-policy samples.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DropCfg {
    /// At least one sub-policy.
    pub drop_sub_policy: Vec<PolicyCfg>,
}

/// `composite:`: the first sub-policy that samples decides, within its share of
/// `max_total_spans_per_second` in the current second.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompositeCfg {
    /// Spans per second sampled at most, over all sub-policies (> 0).
    pub max_total_spans_per_second: Int,
    /// Evaluation order by sub-policy name; sub-policies not listed follow in their own order.
    pub policy_order: StrList,
    /// The sub-policies (at least one), each with a unique name.
    pub composite_sub_policy: Vec<PolicyCfg>,
    /// Shares in percent; sub-policies not listed (or with percent 0) get an equal share
    /// (max_total_spans_per_second / number of sub-policies).
    pub rate_allocation: Vec<RateAllocationCfg>,
}

/// One `rate_allocation` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateAllocationCfg {
    /// Name of a composite sub-policy.
    pub policy: String,
    /// Its share of `max_total_spans_per_second`, 0 to 100 (0: an equal share).
    pub percent: Int,
}
