//! Why ingest refuses a request as a whole or rejects some of its spans, and the OTLP
//! partial-success message a client sees for the latter.

use super::model::{Span, TraceId};
use super::wire::WireError;

/// Why a span was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    InvalidTraceId,
    InvalidSpanId,
    /// Not a valid `Span` message (a string that is not UTF-8, a field of the wrong wire type,
    /// a truncated or too deeply nested part).
    MalformedSpan,
    /// Under a `Resource` (or `ResourceSpans.schema_url`) that is not valid: the whole group
    /// is rejected, since every span of it would be forwarded under that resource.
    MalformedResource,
    /// Under an `InstrumentationScope` (or `ScopeSpans.schema_url`) that is not valid.
    MalformedScope,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::InvalidTraceId => "invalid_trace_id",
            Rejection::InvalidSpanId => "invalid_span_id",
            Rejection::MalformedSpan => "malformed_span",
            Rejection::MalformedResource => "malformed_resource",
            Rejection::MalformedScope => "malformed_scope",
        }
    }

    /// How the partial-success message describes `n` spans rejected for this reason.
    fn describe(self, n: usize) -> String {
        match self {
            Rejection::InvalidTraceId => {
                format!("{n} span(s) with an invalid trace id (must be 16 bytes, not all zero)")
            }
            Rejection::InvalidSpanId => {
                format!("{n} span(s) with an invalid span id (must be 8 bytes, not all zero)")
            }
            Rejection::MalformedSpan => format!(
                "{n} malformed span(s) (a string that is not UTF-8, a field of the wrong wire type, or a truncated part)"
            ),
            Rejection::MalformedResource => format!(
                "{n} span(s) under a malformed resource (a string that is not UTF-8, a field of the wrong wire type, a truncated or too deeply nested part)"
            ),
            Rejection::MalformedScope => format!(
                "{n} span(s) under a malformed instrumentation scope (a string that is not UTF-8, a field of the wrong wire type, a truncated or too deeply nested part)"
            ),
        }
    }
}

const REJECTIONS: [Rejection; 5] = [
    Rejection::InvalidTraceId,
    Rejection::InvalidSpanId,
    Rejection::MalformedSpan,
    Rejection::MalformedResource,
    Rejection::MalformedScope,
];

/// The spans of one request, each with its trace id, and the spans rejected individually.
#[derive(Debug, Default)]
pub struct Ingested {
    pub spans: Vec<(TraceId, Span)>,
    pub rejected: Vec<Rejection>,
}

impl Ingested {
    /// The OTLP partial-success message for the rejected spans, if any.
    pub fn rejection_message(&self) -> Option<String> {
        if self.rejected.is_empty() {
            return None;
        }
        let parts: Vec<String> = REJECTIONS
            .iter()
            .map(|&k| (k, self.rejected.iter().filter(|r| **r == k).count()))
            .filter(|&(_, n)| n > 0)
            .map(|(k, n)| k.describe(n))
            .collect();
        Some(format!("rejected {}", parts.join(" and ")))
    }
}

/// A request that is not a valid OTLP trace export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ExportTraceServiceRequest: {what}: {source}")]
pub struct MalformedRequest {
    pub what: &'static str,
    pub source: WireError,
}

pub(super) fn at(what: &'static str) -> impl Fn(WireError) -> MalformedRequest {
    move |source| MalformedRequest { what, source }
}
