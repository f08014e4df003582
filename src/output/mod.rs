//! The output stage: the one place a kept span is prepared for export. [`Forwarder::forward`]
//! appends the `sampling.rule` annotation and the sample-rate accounting fields and applies the
//! verdict's fidelity profile; the daemon's pipeline and `simulate` both call it, so `simulate`
//! predicts exactly what the daemon forwards.

pub mod accounting;
pub mod fidelity;

use crate::config::Sampling;
use crate::decide::{Decider, Verdict};
use crate::otlp::{OutSpan, Span};
use accounting::{Accounting, SuffixCache};
use bytes::Bytes;
use fidelity::Profile;
use std::sync::Arc;

/// A kept span that cannot be forwarded: its fidelity profile could not decode it, and
/// forwarding it unreduced would leak the payload the profile exists to remove.
#[derive(Debug, thiserror::Error)]
#[error("span could not be decoded for fidelity profile `{}`: {reason}", .profile.name)]
pub struct Unreducible {
    pub profile: Arc<Profile>,
    pub reason: String,
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
    ) -> Result<OutSpan, Unreducible> {
        // Built first: it reads the span's incoming tracestate from its original encoding.
        let no_annotation = Bytes::new();
        let annotation = if self.annotate {
            decider.annotation_of(v)
        } else {
            &no_annotation
        };
        let suffix = self.accounting.suffix(suffixes, annotation, v, &span);
        let mut raw = span.raw;
        if let Some(profile) = decider.fidelity_of(v) {
            match profile.apply(&raw) {
                Ok(Some(rewritten)) => {
                    profile.rewritten.increment(1);
                    raw = Bytes::from(rewritten);
                }
                Ok(None) => {}
                Err(e) => {
                    profile.failed.increment(1);
                    return Err(Unreducible {
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
