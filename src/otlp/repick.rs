//! Re-reading the picked attributes of spans already ingested for another [`Interest`]: after a
//! config reload the rules may read attributes (or read them in another order) that buffered
//! spans were decoded without. Each span's attributes are read again from its own bytes; each
//! resource is summarised again once and shared again by its spans. Span summaries whose bytes
//! are in the storage log are made again from their request, read back once per request.

use super::ingest::{resource_summary, Interest};
use super::ingest_span::{key_value, picked_value};
use super::model::{Picked, Resource, Retained, Scope, ScopeAttrs, Span};
use super::wire::{Reader, WireType};
use bytes::Bytes;
use hashbrown::HashMap;
use std::sync::Arc;

/// Re-picks spans for one interest, sharing each new resource and scope between their spans.
/// The new scopes get their spans' picked attributes when it is dropped (or [`Repicker::finish`]
/// is called), so that spans are only read again after that.
pub struct Repicker<'a> {
    interest: &'a Interest,
    /// Old scope (by address) to its replacement, with the picked attributes of its spans.
    scopes: HashMap<usize, (Arc<Scope>, ScopeAttrs)>,
    resources: HashMap<usize, Arc<Resource>>,
    /// With storage on, the log summaries are read back from, and what their bodies count in.
    storage: Option<(&'a crate::storage::Storage, &'a Arc<Retained>)>,
    /// The summaries of each request read back (by lease), made again for the new interest;
    /// `None` when the request could not be read back.
    reread: HashMap<usize, Option<Vec<Span>>>,
}

impl<'a> Repicker<'a> {
    pub fn new(interest: &'a Interest) -> Self {
        Repicker {
            interest,
            scopes: HashMap::new(),
            resources: HashMap::new(),
            storage: None,
            reread: HashMap::new(),
        }
    }

    /// Makes span summaries again from their requests in `storage`, accounted in `retained`.
    pub fn reading(
        mut self,
        storage: &'a crate::storage::Storage,
        retained: &'a Arc<Retained>,
    ) -> Self {
        self.storage = Some((storage, retained));
        self
    }

    /// Replaces the span's picked attributes, and its scope by one whose resource has its
    /// attributes picked for the new interest. An attribute that cannot be decoded (ingest
    /// did not read it when no rule asked for it) is left out, as if absent.
    pub fn span(&mut self, span: &mut Span) {
        if span.is_summary() {
            return self.summary(span);
        }
        let attrs = span_attrs(&span.raw_bytes(), self.interest);
        let key = Arc::as_ptr(&span.scope) as usize;
        if !self.scopes.contains_key(&key) {
            let resource = self.resource(&span.scope.resource);
            let scope = Arc::new(Scope::new(
                resource,
                span.scope.encoded.clone(),
                span.scope.schema_url.clone(),
            ));
            self.scopes.insert(key, (scope, Vec::new()));
        }
        let (scope, list) = self.scopes.get_mut(&key).expect("inserted above");
        let has_attrs = !attrs.is_empty();
        if has_attrs {
            list.push((span.body_offset(), attrs));
        }
        span.rescope(scope.clone(), has_attrs);
    }

    /// Gives the new scopes their spans' picked attributes (as dropping the re-picker does).
    pub fn finish(mut self) {
        self.set_scope_attrs();
    }

    fn set_scope_attrs(&mut self) {
        for (_, (scope, attrs)) in self.scopes.drain() {
            scope.set_span_attrs(attrs);
        }
    }

    fn resource(&mut self, old: &Arc<Resource>) -> Arc<Resource> {
        let key = Arc::as_ptr(old) as usize;
        if let Some(r) = self.resources.get(&key) {
            return r.clone();
        }
        let attrs = resource_attrs(&old.encoded, self.interest);
        let new = Arc::new(Resource {
            body: old.body.clone(),
            encoded: old.encoded.clone(),
            schema_url: old.schema_url.clone(),
            service: old.service.clone(),
            attrs,
            retained: old.retained.clone(),
        });
        self.resources.insert(key, new.clone());
        new
    }
}

impl Drop for Repicker<'_> {
    fn drop(&mut self) {
        self.set_scope_attrs();
    }
}

impl Repicker<'_> {
    /// Replaces a summary by the one its request, read back, makes for the new interest; a
    /// request that cannot be read back leaves its summaries as they are (their trace, if kept,
    /// counts them as unreadable then).
    fn summary(&mut self, span: &mut Span) {
        let (Some((storage, retained)), Some(lease)) = (self.storage, span.lease()) else {
            return;
        };
        let interest = self.interest;
        // The lease lives as long as the spans cached for it: its address is not reused.
        let spans = self
            .reread
            .entry(Arc::as_ptr(lease) as usize)
            .or_insert_with(|| reread(storage, lease, interest, retained));
        if let Some(s) = spans
            .as_deref()
            .and_then(|v| super::summary::find_at(v, span.body_offset()))
        {
            *span = s.clone();
        }
    }
}

/// The summaries of the request `lease` holds, read back and picked for `interest` as spans in
/// memory are (leniently: an attribute that cannot be decoded is left out).
fn reread(
    storage: &crate::storage::Storage,
    lease: &Arc<crate::storage::Lease>,
    interest: &Interest,
    retained: &Arc<Retained>,
) -> Option<Vec<Span>> {
    let body = match storage.read_request(lease) {
        Ok(b) => b,
        Err(e) => {
            crate::warn_limited!(error = %e, reason = e.label(), "reload: a buffered request could not be read back from the storage log; its spans keep the attributes they were read with");
            return None;
        }
    };
    let mut spans = super::ingest_leased(
        &body,
        &Interest::default(),
        Some(retained),
        Some(lease.clone()),
    )
    .ok()?
    .spans;
    let mut memory = Repicker::new(interest);
    for (_, s) in &mut spans {
        memory.span(s);
    }
    memory.finish();
    let summaries = super::summary::summarize(spans, interest, retained);
    Some(summaries.into_iter().map(|(_, s)| s).collect())
}

fn span_attrs(raw: &Bytes, interest: &Interest) -> Picked {
    let mut picked = Picked::new();
    if interest.span_keys.is_empty() {
        return picked;
    }
    let mut r = Reader::new(raw);
    while let Ok(Some((field, wt))) = r.next_field() {
        if field != 9 || wt != WireType::Len {
            if r.skip(wt).is_err() {
                break;
            }
            continue;
        }
        let Ok(kv) = r.len_range() else { break };
        let Ok((key, value)) = key_value(raw, kv) else {
            continue;
        };
        if let Some(i) = interest.span_keys.find(&raw[key.0..key.1]) {
            if let Ok(v) = picked_value(raw, value) {
                picked.push((i, v));
            }
        }
    }
    picked
}

fn resource_attrs(encoded: &Bytes, interest: &Interest) -> Picked {
    if encoded.is_empty() {
        return Picked::new();
    }
    resource_summary(encoded, (0, encoded.len()), interest)
        .ok()
        .map(|(_, attrs)| attrs)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::ingest;
    use crate::otlp::model::AttrValue;

    fn request() -> Bytes {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        let span = |i: u8| Span {
            trace_id: vec![1; 16],
            span_id: vec![i; 8],
            name: "op".into(),
            attributes: vec![kv("user.tier", "gold"), kv("model", "m1")],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "api"), kv("region", "eu")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(1), span(2)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
        .into()
    }

    #[test]
    fn picks_what_the_new_interest_reads_and_shares_scopes_again() {
        let mut old = Interest::default();
        old.span_key("user.tier");
        let mut spans = ingest(&request(), &old).expect("valid").spans;
        let mut new = Interest::default();
        let model = new.span_key("model");
        let tier = new.span_key("user.tier");
        let region = new.resource_key("region");
        let mut r = Repicker::new(&new);
        for (_, s) in &mut spans {
            r.span(s);
        }
        r.finish();
        let (a, b) = (&spans[0].1, &spans[1].1);
        assert_eq!(a.attr(model), Some(&AttrValue::Str("m1".into())));
        assert_eq!(a.attr(tier), Some(&AttrValue::Str("gold".into())));
        assert_eq!(a.resource_attr(region), Some(&AttrValue::Str("eu".into())));
        assert_eq!(a.service(), Some("api"));
        assert!(Arc::ptr_eq(&a.scope, &b.scope), "one scope for both spans");
    }
}
