//! Salvaging a refused export batch: the spans that are not valid OTLP are taken out so the
//! rest can be delivered. Kept spans are checked in full before they are batched and resources
//! and scopes at ingest, so this is the second line: for a batch from elsewhere (a storage log
//! an older version wrote) or a check that missed what a backend refuses. Whole resource and
//! scope groups that fail their check are taken out with their spans; the exporter counts
//! everything removed as `tailsift_exporter_failed_spans_total{reason="malformed"}`.

use super::encode::{encode_request, OutSpan};
use super::ingest::{ingest, Interest};
use super::validate;
use bytes::Bytes;

/// A batch body with its malformed spans removed.
#[derive(Debug)]
pub struct Salvaged {
    pub body: Bytes,
    pub spans: usize,
    pub removed: usize,
}

/// Re-encodes `body` (an `ExportTraceServiceRequest`) without the spans that fail
/// [`validate::span`], nor those under a resource or scope that fails [`validate::resource`] or
/// [`validate::scope`] (ingest rejects those spans). `None` when nothing would change, or the
/// body is not a request at all.
pub fn salvage(body: &Bytes) -> Option<Salvaged> {
    let got = ingest(body, &Interest::default()).ok()?;
    let total = got.spans.len() + got.rejected.len();
    let kept: Vec<OutSpan> = got
        .spans
        .into_iter()
        .filter(|(_, s)| validate::span(s.raw()).is_ok())
        .map(|(_, s)| OutSpan {
            scope: s.scope.clone(),
            raw: s.raw_bytes(),
            suffix: Bytes::new(),
        })
        .collect();
    let removed = total - kept.len();
    if removed == 0 {
        return None;
    }
    Some(Salvaged {
        body: encode_request(kept.iter()),
        spans: kept.len(),
        removed,
    })
}
