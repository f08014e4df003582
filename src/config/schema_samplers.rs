//! Schema of the rate-based rule actions: `adaptive` (a throughput target shared fairly across
//! keys of traffic) and `rate_limit` (a token bucket), and the adaptive grouping key's fields.

use super::schema_pipelines::MinPerKey;
use super::units::{count, secs, Dur};
use serde::Deserialize;

/// `adaptive:` keeps a share of the matching traces sized so that the rule keeps about
/// `target_traces_per_sec`, sharing the budget fairly between groups of traffic (`key`): every
/// group gets an equal share, and what a rare group does not use goes to the busier ones, so a
/// hot endpoint never starves a rare one. Decisions are consistent on the trace's randomness,
/// and kept spans carry the probability used in their tracestate (`ot=th:...`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveAction {
    /// Traces per second this rule keeps, over all keys, per tailsift instance. Must be > 0.
    pub target_traces_per_sec: f64,
    /// How traffic is grouped (default `[service, root.name]`): a list of `service`,
    /// `root.name`, `root.attributes.<key>`, `span.attributes.<key>` (the first span that has
    /// it) or `resource.attributes.<key>` (the root span's resource). At least one field.
    #[serde(default = "default_key")]
    pub key: Vec<String>,
    /// How often the per-key probabilities are recomputed from the moving averages of each
    /// key's traffic (default `15s`, between `1s` and `1h`). A burst is followed sooner.
    #[serde(default = "secs::<15>")]
    pub adjust_every: Dur,
    /// No key is kept with a lower probability than this (default `0.0001`; above 0, at most 1).
    #[serde(default = "default_min_probability")]
    pub min_probability: f64,
    /// Most keys tracked separately (default 500, between 1 and 100000); further keys share
    /// one bucket, shown as `_other`. Idle keys age out and free their place.
    #[serde(default = "count::<500>")]
    pub max_keys: usize,
    /// Show the keys' values in the `key` label of `tailsift_adaptive_probability` (default
    /// false). Keys are built from span and resource attributes that clients control (user ids,
    /// e-mail addresses); by default the label is `sha256:` and the first 12 hex digits of the
    /// SHA-256 of the key as `simulate --explain` prints it, so a known key can be looked up
    /// (`printf '%s' 'checkout | GET /cart' | sha256sum | cut -c1-12`) without the metrics
    /// showing any. `_other` is shown as it is.
    #[serde(default)]
    pub expose_keys: bool,
    /// Keep at least this many traces per key per interval, counted against the target (see
    /// [`MinPerKey`]). Not set: no floor beyond `min_probability`.
    pub min_per_key: Option<MinPerKey>,
}

fn default_key() -> Vec<String> {
    vec!["service".to_string(), "root.name".to_string()]
}
fn default_min_probability() -> f64 {
    0.0001
}

/// `rate_limit:` keeps matching traces while a token bucket has room: one token per trace in
/// the traces bucket, one per span in the spans bucket. Give `traces_per_sec`,
/// `spans_per_sec`, or both (a trace is kept only when both have room).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitAction {
    /// Traces kept per second at most, on average (> 0).
    pub traces_per_sec: Option<f64>,
    /// Spans kept per second at most, on average (> 0).
    pub spans_per_sec: Option<f64>,
    /// How far above the rate a burst may go: the bucket size, counted in traces when
    /// `traces_per_sec` is given (the spans bucket then holds the same number of seconds of
    /// spans), otherwise in spans. Default: one second of the rate; at least 1. A trace with
    /// more spans than the spans bucket holds is kept when the bucket is full.
    pub burst: Option<f64>,
}

/// One field of an adaptive rule's grouping key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyField {
    /// The `service.name` of the root span's resource (or of the first span's).
    Service,
    /// The root span's name.
    RootName,
    /// A root span attribute.
    RootAttribute(String),
    /// An attribute of the first span that has it.
    SpanAttribute(String),
    /// A resource attribute of the root span's resource (or of the first span's).
    ResourceAttribute(String),
}

impl KeyField {
    /// Parses `service`, `root.name`, `root.attributes.<k>`, `span.attributes.<k>` or
    /// `resource.attributes.<k>`.
    pub fn parse(s: &str) -> Result<KeyField, String> {
        let attr = |prefix: &str| s.strip_prefix(prefix).filter(|k| !k.is_empty());
        Ok(match s {
            "service" => KeyField::Service,
            "root.name" => KeyField::RootName,
            _ => {
                if let Some(k) = attr("root.attributes.") {
                    KeyField::RootAttribute(k.to_string())
                } else if let Some(k) = attr("span.attributes.") {
                    KeyField::SpanAttribute(k.to_string())
                } else if let Some(k) = attr("resource.attributes.") {
                    KeyField::ResourceAttribute(k.to_string())
                } else {
                    return Err(format!(
                        "unknown key field `{s}`: use `service`, `root.name`, \
                         `root.attributes.<key>`, `span.attributes.<key>` or \
                         `resource.attributes.<key>`"
                    ));
                }
            }
        })
    }
}
