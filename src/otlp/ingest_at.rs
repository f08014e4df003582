//! Ingest of some spans of a request only: those whose encodings start at given offsets of the
//! body (kept spans read back from the storage log). The request's framing is walked as
//! [`super::ingest`] walks it, but a span message that is not wanted is skipped by its length,
//! undecoded, and so are the resource and scope of a group that holds no wanted span.

use super::ingest::{
    each_scope_spans, group_resource, group_scope, want, Interest, Range, MIN_VALID_SPAN_BYTES,
};
use super::ingest_span::span;
use super::model::{Resource, Retained, Scope};
use super::rejection::{at, Ingested, MalformedRequest, Rejection};
use super::wire::{Reader, WireType};
use bytes::Bytes;
use std::sync::Arc;

/// The spans of `body` whose encodings start at `offsets` (sorted, without duplicates; as
/// [`super::Span::body_offset`] gives them for spans ingest made of this body), made as
/// [`super::ingest_leased`] makes them with no [`Interest`]: the same resources and scopes,
/// shared as there, the same share of `retained` and the same `lease`. A wanted span that
/// ingest rejects is rejected here too (in [`Ingested::rejected`]); offsets at which no span
/// starts are ignored. A request whose framing is broken is refused as ingest refuses it.
pub fn ingest_at(
    body: &Bytes,
    offsets: &[u32],
    retained: Option<&Arc<Retained>>,
    lease: Option<Arc<crate::storage::Lease>>,
) -> Result<Ingested, MalformedRequest> {
    debug_assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets sorted, without duplicates"
    );
    let mut out = Ingested::default();
    out.spans
        .reserve_exact(offsets.len().min(body.len() / MIN_VALID_SPAN_BYTES));
    let guard = retained.map(|r| r.hold_leased(body.len(), lease));
    let interest = Interest::default();
    let mut wanted = Wanted { offsets, next: 0 };
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.next_field().map_err(at("request"))? {
        if field != 1 {
            r.skip(wt).map_err(at("request"))?;
            continue;
        }
        want(wt, "resource_spans")?;
        let rs = r.len_range().map_err(at("resource_spans"))?;
        if !wanted.within(rs) {
            group_framing(body, rs)?;
            continue;
        }
        let resource = group_resource(body, rs, &interest, &guard)?;
        each_scope_spans(body, rs, |ss| {
            scope_spans_at(
                body,
                ss,
                resource.as_ref(),
                &interest,
                &mut wanted,
                &mut out,
            )
        })?;
    }
    Ok(out)
}

/// The offsets still to find, in body order.
struct Wanted<'a> {
    offsets: &'a [u32],
    next: usize,
}

impl Wanted<'_> {
    /// Passes the offsets before `at` (no span starts there), then tells whether the next one
    /// is `at`, and if so passes it too.
    fn take(&mut self, at: usize) -> bool {
        self.pass(at);
        let found = self
            .offsets
            .get(self.next)
            .is_some_and(|&o| o as usize == at);
        self.next += usize::from(found);
        found
    }

    /// Whether a wanted offset falls in `range` (passing those before it).
    fn within(&mut self, range: Range) -> bool {
        self.pass(range.0);
        self.offsets
            .get(self.next)
            .is_some_and(|&o| (o as usize) < range.1)
    }

    fn pass(&mut self, at: usize) {
        while self
            .offsets
            .get(self.next)
            .is_some_and(|&o| (o as usize) < at)
        {
            self.next += 1;
        }
    }
}

/// The wanted spans of the `ScopeSpans` at `range`, under `resource` (`None`: a malformed one,
/// which rejects them).
fn scope_spans_at(
    body: &Bytes,
    range: Range,
    resource: Option<&Arc<Resource>>,
    interest: &Interest,
    wanted: &mut Wanted,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    if !wanted.within(range) {
        return scope_framing(body, range);
    }
    let scope: Result<Arc<Scope>, Rejection> = match resource {
        None => Err(Rejection::MalformedResource),
        Some(resource) => group_scope(body, range, resource)?.ok_or(Rejection::MalformedScope),
    };
    let mut attrs = Vec::new();
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("scope_spans"))? {
        if field == 2 && wt == WireType::Len {
            let raw = r.len_range().map_err(at("span"))?;
            if !wanted.take(raw.0) {
                continue;
            }
            match &scope {
                Ok(scope) => match span(body, raw, scope, interest, &mut attrs)? {
                    Ok(s) => out.spans.push(s),
                    Err(rej) => out.rejected.push(rej),
                },
                Err(rej) => out.rejected.push(*rej),
            }
        } else {
            r.skip(wt).map_err(at("scope_spans"))?;
        }
    }
    if let Ok(scope) = &scope {
        scope.set_span_attrs(attrs);
    }
    Ok(())
}

/// Checks the framing of a `ResourceSpans` none of whose spans is wanted, as ingest's walk
/// checks it (a scope spans that is not length-delimited, a length past its container).
fn group_framing(body: &[u8], range: Range) -> Result<(), MalformedRequest> {
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("resource_spans"))? {
        if field == 2 {
            want(wt, "resource_spans.scope_spans")?;
            let ss = r.len_range().map_err(at("scope_spans"))?;
            scope_framing(body, ss)?;
        } else {
            r.skip(wt).map_err(at("resource_spans"))?;
        }
    }
    Ok(())
}

/// Checks the framing of a `ScopeSpans` none of whose spans is wanted.
fn scope_framing(body: &[u8], range: Range) -> Result<(), MalformedRequest> {
    let mut r = Reader::within(body, range);
    while let Some((_, wt)) = r.next_field().map_err(at("scope_spans"))? {
        r.skip(wt).map_err(at("scope_spans"))?;
    }
    Ok(())
}
