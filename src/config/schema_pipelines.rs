//! Schema of the conditions and options made for multi-stage AI pipelines: trace aggregates
//! (`sum`, `max`, `count`), `slower_than` a stage's own recent quantile, adaptive rules'
//! `min_per_key`, the media reduction of fidelity profiles, and the capture-on-demand settings.

use super::schema::SpanMatcher;
use super::units::{count, secs, ByteSize, Dur};
use serde::Deserialize;

/// `trace: { sum: {...} }` or `trace: { max: {...} }`: the sum (or the largest value) of a
/// numeric span attribute over the trace's spans, e.g. every token spent by the trace's model
/// calls: `sum: { attribute: gen_ai.usage.input_tokens, min: 50000 }`. Spans without the
/// attribute, or with a value that is not a number (integer or double), are left out; a trace
/// none of whose spans has it never matches. Give `min`, `max` or both (inclusive).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeAggregate {
    /// The span attribute to add up (or take the largest of). Must not be empty.
    pub attribute: String,
    /// Holds when the aggregate is at least this.
    pub min: Option<f64>,
    /// Holds when the aggregate is at most this; not below `min`.
    pub max: Option<f64>,
    /// Only spans matching this matcher count (the same fields as `span:`; `slower_than` is
    /// not allowed here). Not set: every span.
    pub span: Option<SpanMatcher>,
}

/// `trace: { count: {...} }`: how many spans of the trace match a span matcher, e.g. more
/// than 10 model calls: `count: { span: { name: chat }, min: 11 }`. Give `min`, `max` or both
/// (inclusive).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCount {
    /// The spans counted (the same fields as `span:`; `slower_than` is not allowed here).
    /// Required; `{}` counts every span.
    pub span: SpanMatcher,
    /// Holds when at least this many spans match.
    pub min: Option<u64>,
    /// Holds when at most this many spans match; not below `min`.
    pub max: Option<u64>,
}

/// `span: { slower_than: {...} }`: the span took longer than the given quantile of the recent
/// spans of its own stage (the spans with the same `by` fields), so a slow stage is caught
/// without a threshold written per span name. Every arriving span is added to its stage's
/// sketch (DDSketch, 1% relative accuracy); the condition holds only once the stage has
/// `min_samples` spans in its window. Sketches are per tailsift instance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowerThan {
    /// The quantile, above 0 and below 1 (e.g. `0.99`).
    pub quantile: f64,
    /// What makes a stage (default `[service, name]`): a list of `service`, `name`, `kind`,
    /// `attributes.<key>` (a span attribute) and `resource.<key>` (a resource attribute). At
    /// least one field.
    #[serde(default = "default_stage_by")]
    pub by: Vec<String>,
    /// Spans a stage must have in its window before the condition can hold for it (default
    /// 100, at least 1).
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// How far back the sketch remembers (default `10m`, between `1s` and `24h`); it moves in
    /// quarters of the window.
    #[serde(default = "secs::<600>")]
    pub window: Dur,
    /// Most stages sketched at once (default 1000, between 1 and 100000). Spans of further
    /// stages are counted in `tailsift_stage_overflow_spans_total` and never slower than
    /// anything; a stage idle for two windows frees its place.
    #[serde(default = "count::<1000>")]
    pub max_stages: usize,
}

pub fn default_stage_by() -> Vec<String> {
    vec!["service".to_string(), "name".to_string()]
}
fn default_min_samples() -> u64 {
    100
}

/// `adaptive: { min_per_key: {...} }`: every key keeps at least `traces` traces per `every`
/// (when it has that many), however busy the other keys are. The traces kept this way count
/// against `target_traces_per_sec`: the fair share of the other keys shrinks to make room.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinPerKey {
    /// Traces kept per key per interval at least (at least 1).
    pub traces: u64,
    /// The interval (between `1s` and `24h`).
    pub every: Dur,
}

/// `fidelity.<name>.media:`: any string or bytes value, under any key (nested in arrays and
/// maps too), that looks like encoded media and is at least `min_bytes` long is replaced by
/// its hash, size and media type. Encoded media is a `data:` URL, base64 text whose decoded
/// start is a known image, video, audio or PDF format, or bytes in such a format.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaReduction {
    /// Smallest value reduced, in bytes as received (default `1KiB`, at least 64 bytes).
    #[serde(default = "default_media_min_bytes")]
    pub min_bytes: ByteSize,
}

fn default_media_min_bytes() -> ByteSize {
    ByteSize(1024)
}

/// A built-in set of attribute rules a fidelity profile can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FidelityPreset {
    /// The OpenTelemetry GenAI semantic conventions: message contents
    /// (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`,
    /// `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`, the older `gen_ai.prompt*`
    /// and `gen_ai.completion*`, and every attribute of `gen_ai.*` span events but their
    /// metadata) are hashed with their length kept; token counts, models, finish reasons and
    /// every other attribute stay.
    GenAi,
}

/// `sampling.capture:`: capture on demand (see the README, "Capture on demand").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureSettings {
    /// Span and resource attribute keys a capture may match on (default `[user.id,
    /// enduser.id, session.id, experiment.id]`). Only the attributes rules and captures
    /// name are decoded, so a capture on another key is refused with the list.
    pub attributes: Vec<String>,
    /// Captures active at once at most (default 100, between 1 and 10000).
    pub max_captures: usize,
    /// Longest `ttl` a capture may ask for (default `24h`, at least `1s`).
    pub max_ttl: Dur,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            attributes: ["user.id", "enduser.id", "session.id", "experiment.id"]
                .map(String::from)
                .to_vec(),
            max_captures: 100,
            max_ttl: Dur::secs(86_400),
        }
    }
}
