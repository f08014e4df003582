//! The output stage: the one place a kept span is prepared for export. [`Forwarder::forward`]
//! appends the `sampling.rule` annotation and the sample-rate accounting fields and applies the
//! verdict's fidelity profile; the daemon's pipeline and `simulate` both call it, so `simulate`
//! predicts exactly what the daemon forwards.

pub mod accounting;
pub mod fidelity;
pub mod genai;
pub mod media;
pub mod tiers;

use crate::config::Sampling;
use crate::decide::{Decider, Verdict};
use crate::otlp::wire::WireError;
use crate::otlp::{OutSpan, Span};
use crate::telemetry::names;
use accounting::{Accounting, SuffixCache};
use bytes::Bytes;
use fidelity::Profile;
use metrics::counter;
use std::sync::Arc;

/// Why a kept span is not forwarded (each counted in a metric where it happens).
#[derive(Debug, thiserror::Error)]
pub enum NotForwarded {
    /// Not valid OTLP in a part ingest does not read: forwarded, it would make the backend
    /// refuse the whole batch, other clients' spans with it
    /// (`tailsift_malformed_kept_spans_total`).
    #[error("kept span is not valid OTLP: {0}")]
    Malformed(WireError),
    /// Its fidelity profile could not decode it, and forwarding it unreduced would leak the
    /// payload the profile exists to remove (`tailsift_fidelity_failed_spans_total`).
    #[error("span could not be decoded for fidelity profile `{}`: {reason}", .profile.name)]
    Unreducible {
        profile: Arc<Profile>,
        reason: String,
    },
}

/// Annotation and accounting settings, fixed for the daemon's life.
#[derive(Debug, Clone)]
pub struct Forwarder {
    annotate: bool,
    accounting: Accounting,
}

impl Forwarder {
    pub fn from_config(sampling: &Sampling) -> Self {
        Forwarder {
            annotate: sampling.annotate,
            accounting: Accounting::from_config(sampling),
        }
    }

    /// The span as it is forwarded under verdict `v`: annotation and accounting appended as
    /// protobuf fields (no decode), and the fidelity profile applied when the verdict has one.
    /// `suffixes` caches the appended fields between consecutive spans of one batch.
    pub fn forward(
        &self,
        decider: &dyn Decider,
        v: Verdict,
        span: Span,
        suffixes: &mut SuffixCache,
    ) -> Result<OutSpan, NotForwarded> {
        // Checked in full before it joins a batch (ingest read only its own fields): however a
        // backend answers an invalid batch, one client's malformed span never spoils it.
        if let Err(e) = crate::otlp::validate::span(span.raw()) {
            counter!(names::MALFORMED_KEPT_SPANS).increment(1);
            return Err(NotForwarded::Malformed(e));
        }
        // Built first: it reads the span's incoming tracestate from its original encoding.
        let no_annotation = Bytes::new();
        // A span annotated by an earlier tier keeps that tier's rule (`tiers`); its suffix is
        // built apart, so the batch's cache only ever holds suffixes with the annotation.
        let upstream = self.annotate && tiers::has_attribute(span.raw(), tiers::RULE_ATTRIBUTE);
        let mut apart = SuffixCache::default();
        let (annotation, cache) = match (self.annotate, upstream) {
            (true, false) => (decider.annotation_of(v), suffixes),
            (false, _) => (&no_annotation, suffixes),
            (true, true) => (&no_annotation, &mut apart),
        };
        let suffix = self.accounting.suffix(cache, annotation, v, &span);
        let mut raw = span.raw_bytes();
        if let Some(profile) = decider.fidelity_of(v) {
            match profile.apply(&raw) {
                Ok(Some(rewritten)) => {
                    profile.rewritten.increment(1);
                    raw = Bytes::from(rewritten);
                }
                Ok(None) => {}
                Err(e) => {
                    profile.failed.increment(1);
                    return Err(NotForwarded::Unreducible {
                        profile: profile.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(OutSpan {
            scope: span.scope,
            raw,
            suffix,
        })
    }
}
