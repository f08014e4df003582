//! The span data model: encoded bytes plus a small decoded summary, with resource and scope shared.

use bytes::Bytes;
use std::sync::{Arc, OnceLock};

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// OTLP span kind numbers.
pub mod kind {
    pub const UNSPECIFIED: u8 = 0;
    pub const INTERNAL: u8 = 1;
    pub const SERVER: u8 = 2;
    pub const CLIENT: u8 = 3;
    pub const PRODUCER: u8 = 4;
    pub const CONSUMER: u8 = 5;
}

/// OTLP status code numbers.
pub mod status {
    pub const UNSET: u8 = 0;
    pub const OK: u8 = 1;
    pub const ERROR: u8 = 2;
}

/// A decoded attribute value, only for the keys the loaded rules refer to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(Bytes),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Arrays, maps, bytes and empty values: present, but not comparable.
    Other,
}

impl AttrValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Int(i) => Some(*i as f64),
            AttrValue::Double(d) => Some(*d),
            _ => None,
        }
    }
}

/// Attributes picked out of a span or resource: (index of the key in the rule set's interest list, value).
///
/// A thin pointer (8 bytes; no allocation when nothing was picked) to one allocation holding
/// its length and the attributes, rather than a boxed slice (16 bytes).
pub type Picked = thin_vec::ThinVec<(u16, AttrValue)>;

/// Looks up a picked attribute by its interest index.
#[inline]
pub fn picked(attrs: &[(u16, AttrValue)], idx: u16) -> Option<&AttrValue> {
    attrs.iter().find(|(i, _)| *i == idx).map(|(_, v)| v)
}

/// The picked attributes of spans of one scope that have any: pairs of a span's offset (its
/// `at`) and its attributes, gathered while the scope's spans are read and then given to it
/// ([`Scope::set_span_attrs`]).
pub type ScopeAttrs = Vec<(u32, Picked)>;

/// One `Resource` as received, shared by every span under it.
#[derive(Debug)]
pub struct Resource {
    /// The whole request body the resource came in: every span under it is a range of it.
    /// With storage on, the request's summary buffer instead (see [`Span::is_summary`]).
    pub body: Bytes,
    /// The encoded `Resource` message (may be empty).
    pub encoded: Bytes,
    /// `ResourceSpans.schema_url`.
    pub schema_url: Bytes,
    /// `service.name`, when present.
    pub service: Option<Bytes>,
    /// Resource attributes the rules refer to.
    pub attrs: Picked,
    /// Accounts for the request body this resource's spans keep alive (see [`Retained`]).
    pub retained: Option<Arc<RetainedBody>>,
}

/// Bytes of request bodies kept in memory by spans still held anywhere (buffer, decided but
/// not yet encoded). Every span is a slice of its request's body, so one live span keeps the
/// whole body: this, not the spans' own sizes, is what memory limits must count.
#[derive(Debug, Default)]
pub struct Retained(std::sync::atomic::AtomicU64);

impl Retained {
    pub fn bytes(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts accounting for a body of `len` bytes until the returned guard is dropped.
    pub fn hold(self: &Arc<Self>, len: usize) -> Arc<RetainedBody> {
        self.hold_leased(len, None)
    }

    /// [`Retained::hold`] for a body appended to the storage log: its spans also hold the
    /// record's lease, so the record is released when the last of them is dropped.
    pub fn hold_leased(
        self: &Arc<Self>,
        len: usize,
        lease: Option<Arc<crate::storage::Lease>>,
    ) -> Arc<RetainedBody> {
        self.0
            .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        Arc::new(RetainedBody {
            len: len as u64,
            counter: self.clone(),
            lease,
        })
    }
}

/// One request body's share of [`Retained`], released when its last span is dropped.
#[derive(Debug)]
pub struct RetainedBody {
    len: u64,
    counter: Arc<Retained>,
    /// The storage log record of the body, when storage is on.
    lease: Option<Arc<crate::storage::Lease>>,
}

impl RetainedBody {
    /// The storage log record the body was appended as, when storage is on.
    pub fn lease(&self) -> Option<&Arc<crate::storage::Lease>> {
        self.lease.as_ref()
    }
}

impl Drop for RetainedBody {
    fn drop(&mut self) {
        self.counter
            .0
            .fetch_sub(self.len, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Resource {
    pub fn service_name(&self) -> Option<&str> {
        self.service
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// One `InstrumentationScope` as received, with its resource.
#[derive(Debug)]
pub struct Scope {
    pub resource: Arc<Resource>,
    /// The encoded `InstrumentationScope` message (may be empty).
    pub encoded: Bytes,
    /// `ScopeSpans.schema_url`.
    pub schema_url: Bytes,
    /// The span attributes the rules refer to, of those of its spans that have any: pairs of a
    /// span's `at` and its attributes, sorted by `at`. Kept here rather than in each [`Span`]
    /// (a pointer per span took 8 of the 40 bytes it had), since most spans have none; set
    /// once, after the scope's spans were read.
    span_attrs: OnceLock<Box<[(u32, Picked)]>>,
}

impl Scope {
    pub fn new(resource: Arc<Resource>, encoded: Bytes, schema_url: Bytes) -> Scope {
        Scope {
            resource,
            encoded,
            schema_url,
            span_attrs: OnceLock::new(),
        }
    }

    /// Sets the picked attributes of the scope's spans, once they were all read: `attrs` pairs
    /// each span that has any (it was made with them, see [`Span::has_attrs`]) with them, in
    /// any order. A scope's attributes are set once; later calls are ignored.
    pub(crate) fn set_span_attrs(&self, mut attrs: ScopeAttrs) {
        if attrs.is_empty() {
            return;
        }
        attrs.sort_unstable_by_key(|(at, _)| *at);
        let set = self.span_attrs.set(attrs.into_boxed_slice());
        debug_assert!(set.is_ok(), "a scope's span attributes are set once");
    }

    /// The picked attributes of its span at `at`.
    fn span_attrs(&self, at: u32) -> &[(u16, AttrValue)] {
        let Some(all) = self.span_attrs.get() else {
            return &[];
        };
        match all.binary_search_by_key(&at, |(a, _)| *a) {
            Ok(i) => &all[i].1,
            Err(_) => &[],
        }
    }

    /// Memory a span with picked attributes takes in its scope's list, beside their values.
    pub const SPAN_ATTRS_ENTRY: usize = std::mem::size_of::<(u32, Picked)>();
}

/// One span: where its encoded bytes are in the request body, plus what decisions need.
///
/// Every buffered span carries one of these, so its size is memory per span: 32 bytes (a
/// `Bytes` of its own would be 32 bytes alone; a range into the body its resource holds is 8,
/// and the attributes the rules read are in its scope, see [`Scope::set_span_attrs`]).
/// What does not fit the narrow fields (a name far into the span, a span longer than 4.29 s)
/// is read again from the span's bytes when asked for.
#[derive(Debug, Clone)]
pub struct Span {
    pub scope: Arc<Scope>,
    pub start: u64,
    /// Byte range of the encoded `Span` message in `scope.resource.body`.
    at: u32,
    len: u32,
    /// `end - start` in nanoseconds; [`FAR_END`] when it does not fit (or end precedes start).
    dur: u32,
    pub kind: u8,
    pub status: u8,
    /// [`ROOT`], [`TRACE_STATE`], [`SUMMARY`] and [`ATTRS`].
    flags: u8,
    /// Offset in the span's bytes of the name's length prefix; [`NO_NAME`] when the span has
    /// no name field, [`FAR_NAME`] when it lies past the first 254 bytes.
    name_at: u8,
}

const FAR_END: u32 = u32::MAX;
const NO_NAME: u8 = 0;
const FAR_NAME: u8 = u8::MAX;
/// The span has no parent span id.
const ROOT: u8 = 1;
/// The span has a non-empty `trace_state`.
const TRACE_STATE: u8 = 2;
/// The span is a summary (storage on): `at` is the offset of its record in the request's
/// summary buffer ([`super::summary`]), `len` the length of its encoding in the stored request.
const SUMMARY: u8 = 4;
/// The span has picked attributes, in its scope's list under its `at`.
const ATTRS: u8 = 8;

/// Protobuf field numbers of `Span` read again from its bytes.
const TRACE_STATE_FIELD: u32 = 3;
const NAME_FIELD: u32 = 5;
const END_FIELD: u32 = 8;

impl Span {
    /// A span at `range` of `scope.resource.body`; `name_at` is the offset of the name's
    /// length prefix in the span's bytes (`None`: no name field). `None` when the range does
    /// not fit 32 bits (request bodies are far smaller). `has_attrs`: the span has picked
    /// attributes, which the caller gives its scope (see [`Scope::set_span_attrs`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        range: (usize, usize),
        scope: Arc<Scope>,
        start: u64,
        end: u64,
        name_at: Option<usize>,
        kind: u8,
        status: u8,
        is_root: bool,
        has_attrs: bool,
    ) -> Option<Self> {
        let at = u32::try_from(range.0).ok()?;
        let len = u32::try_from(range.1.checked_sub(range.0)?).ok()?;
        let dur = end
            .checked_sub(start)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| *d != FAR_END)
            .unwrap_or(FAR_END);
        let name_at = match name_at {
            None => NO_NAME,
            Some(n) => u8::try_from(n)
                .ok()
                .filter(|n| *n != NO_NAME && *n != FAR_NAME)
                .unwrap_or(FAR_NAME),
        };
        let flags = if is_root { ROOT } else { 0 } | if has_attrs { ATTRS } else { 0 };
        Some(Span {
            scope,
            start,
            at,
            len,
            dur,
            kind,
            status,
            flags,
            name_at,
        })
    }

    /// Records that the span has a non-empty `trace_state`.
    pub(crate) fn with_trace_state(mut self, has: bool) -> Self {
        if has {
            self.flags |= TRACE_STATE;
        }
        self
    }

    /// True when the end time does not follow from `start` and the 32-bit duration (it is
    /// read again from the span's bytes).
    pub(crate) fn has_far_end(&self) -> bool {
        self.dur == FAR_END
    }

    /// True when the span has no parent span id.
    #[inline]
    pub fn is_root(&self) -> bool {
        self.flags & ROOT != 0
    }

    /// `end_time_unix_nano`.
    #[inline]
    pub fn end(&self) -> u64 {
        if self.dur != FAR_END {
            return self.start + u64::from(self.dur);
        }
        let mut end = 0;
        let mut r = super::wire::Reader::new(self.raw());
        while let Ok(Some((f, wt))) = r.next_field() {
            if f == END_FIELD && wt == super::wire::WireType::Fixed64 {
                match r.fixed64() {
                    Ok(v) => end = v,
                    Err(_) => break,
                }
            } else if r.skip(wt).is_err() {
                break;
            }
        }
        end
    }

    /// The storage log record this span's request was appended as (storage on).
    pub fn lease(&self) -> Option<&Arc<crate::storage::Lease>> {
        self.scope.resource.retained.as_ref()?.lease()
    }

    /// The encoded `Span` message, untouched; for a summary ([`Span::is_summary`]), the
    /// fields of it that decisions read, re-encoded.
    #[inline]
    pub fn raw(&self) -> &[u8] {
        let (s, e) = self.range();
        &self.scope.resource.body[s..e]
    }

    /// [`Span::raw`] as a shared slice of the request body (no copy).
    pub fn raw_bytes(&self) -> Bytes {
        let (s, e) = self.range();
        self.scope.resource.body.slice(s..e)
    }

    #[inline]
    fn range(&self) -> (usize, usize) {
        let at = self.at as usize;
        if self.flags & SUMMARY == 0 {
            (at, at + self.len as usize)
        } else {
            super::summary::fields_range(&self.scope.resource.body, at)
        }
    }

    /// True when the span is a summary whose bytes are in the storage log: only the fields
    /// decisions read are in memory, and [`Span::raw`] holds those alone.
    #[inline]
    pub fn is_summary(&self) -> bool {
        self.flags & SUMMARY != 0
    }

    /// Where the span's encoding starts in its request body (for a summary, in the stored one).
    pub(crate) fn body_offset(&self) -> u32 {
        if self.flags & SUMMARY == 0 {
            self.at
        } else {
            super::summary::body_offset(&self.scope.resource.body, self.at as usize)
        }
    }

    /// This span as a summary: its record at `at` of the summary buffer `scope`'s resource holds
    /// (written by [`super::summary`], with the name first). When the span has picked
    /// attributes ([`Span::has_attrs`]), the caller gives `scope` copies of them under `at`.
    pub(crate) fn summarized(&self, scope: Arc<Scope>, at: u32) -> Span {
        Span {
            scope,
            start: self.start,
            at,
            len: self.len,
            dur: self.dur,
            kind: self.kind,
            status: self.status,
            flags: self.flags | SUMMARY,
            name_at: super::summary::NAME_AT,
        }
    }

    /// Length of the encoded `Span` message.
    #[inline]
    pub fn raw_len(&self) -> usize {
        self.len as usize
    }

    /// The range of length-delimited field `field` in the span's bytes (its last occurrence,
    /// the one protobuf and ingest go by).
    fn find(&self, field: u32) -> Option<(usize, usize)> {
        let mut r = super::wire::Reader::new(self.raw());
        let mut found = None;
        while let Ok(Some((f, wt))) = r.next_field() {
            if f == field && wt == super::wire::WireType::Len {
                found = Some(r.len_range().ok()?);
            } else {
                r.skip(wt).ok()?;
            }
        }
        found
    }

    /// The span's W3C `tracestate` as received, when it has a non-empty one (read from its bytes).
    pub fn trace_state(&self) -> Option<&str> {
        if self.flags & TRACE_STATE == 0 {
            return None;
        }
        let (s, e) = self.find(TRACE_STATE_FIELD)?;
        std::str::from_utf8(&self.raw()[s..e])
            .ok()
            .filter(|t| !t.is_empty())
    }

    /// The name's bytes (validated as UTF-8 at ingest).
    #[inline]
    pub fn name_bytes(&self) -> &[u8] {
        let raw = self.raw();
        let range = match self.name_at {
            NO_NAME => None,
            FAR_NAME => self.find(NAME_FIELD),
            at => super::wire::Reader::within(raw, (at as usize, raw.len()))
                .len_range()
                .ok(),
        };
        range.map_or(&[][..], |(s, e)| &raw[s..e])
    }

    /// The resource's `service.name` bytes, when present.
    #[inline]
    pub fn service_bytes(&self) -> Option<&[u8]> {
        self.scope.resource.service.as_deref()
    }

    pub fn name(&self) -> &str {
        std::str::from_utf8(self.name_bytes()).unwrap_or("")
    }

    /// Duration in nanoseconds (0 when end precedes start).
    pub fn duration_nanos(&self) -> u64 {
        if self.dur != FAR_END {
            return u64::from(self.dur);
        }
        self.end().saturating_sub(self.start)
    }

    pub fn service(&self) -> Option<&str> {
        self.scope.resource.service_name()
    }

    /// The span attribute the rules refer to by interest index `idx`, when the span has it.
    #[inline]
    pub fn attr(&self, idx: u16) -> Option<&AttrValue> {
        picked(self.attrs(), idx)
    }

    /// All the span attributes the rules refer to that the span has.
    #[inline]
    pub fn attrs(&self) -> &[(u16, AttrValue)] {
        if self.flags & ATTRS == 0 {
            return &[];
        }
        self.scope.span_attrs(self.at)
    }

    /// True when the span has picked attributes (in its scope's list).
    #[inline]
    pub fn has_attrs(&self) -> bool {
        self.flags & ATTRS != 0
    }

    /// Moves the span under another scope: with (`true`) or without picked attributes there.
    pub(crate) fn rescope(&mut self, scope: Arc<Scope>, has_attrs: bool) {
        self.scope = scope;
        self.flags = (self.flags & !ATTRS) | if has_attrs { ATTRS } else { 0 };
    }

    pub fn resource_attr(&self, idx: u16) -> Option<&AttrValue> {
        picked(&self.scope.resource.attrs, idx)
    }

    /// Bytes this span accounts for in the buffer: its encoding (for a summary, its record in
    /// the summary buffer) plus this struct, and its entry in its scope's attribute list.
    pub fn held_bytes(&self) -> usize {
        let held = if self.flags & SUMMARY == 0 {
            self.len as usize
        } else {
            let (s, e) = self.range();
            e - s + super::summary::RECORD_HEADER
        };
        let attrs = if self.has_attrs() {
            Scope::SPAN_ATTRS_ENTRY
        } else {
            0
        };
        held + std::mem::size_of::<Span>() + attrs
    }
}

/// The root span of a trace's spans: the first span without a parent.
pub fn root(spans: &[Span]) -> Option<&Span> {
    spans.iter().find(|s| s.is_root())
}

/// A trace's duration: earliest start to latest end, in nanoseconds.
pub fn trace_duration(spans: &[Span]) -> u64 {
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans.iter().map(Span::end).max().unwrap_or(0);
    end.saturating_sub(start)
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{self, span};
    use crate::otlp::ingest::{ingest, Interest};

    #[test]
    fn a_span_is_a_range_of_its_request_body() {
        let req = fixtures::request("svc", [span(1, 1).name("a"), span(1, 2).name("bb")]);
        let body = fixtures::encode(&req);
        let got = ingest(&body, &Interest::default()).unwrap();
        for (_, s) in &got.spans {
            let raw = s.raw();
            let at = raw.as_ptr() as usize - body.as_ptr() as usize;
            assert_eq!(
                &body[at..at + raw.len()],
                raw,
                "no copy: a slice of the body"
            );
            assert_eq!(s.raw_bytes(), raw);
            assert_eq!(s.raw_len(), raw.len());
            assert_eq!(s.held_bytes(), raw.len() + 32);
        }
        assert_eq!(got.spans[0].1.name(), "a");
        assert_eq!(got.spans[1].1.name(), "bb");
    }

    /// Picked span attributes live in the scope's list: each span finds its own values, spans
    /// without any find none, across several resources and scopes of one request.
    #[test]
    fn each_span_finds_its_own_picked_attributes_in_its_scope() {
        use super::AttrValue;
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
        let tagged = |t: u128, i: u64, tier: Option<&str>| {
            let s = span(t, i);
            match tier {
                Some(v) => s.attr("user.tier", v).build(),
                None => s.build(),
            }
        };
        let group = |spans: Vec<_>| ScopeSpans {
            spans,
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    scope_spans: vec![
                        group(vec![
                            tagged(1, 1, Some("gold")),
                            tagged(1, 2, None),
                            tagged(2, 3, Some("silver")),
                        ]),
                        group(vec![tagged(3, 4, None), tagged(3, 5, Some("bronze"))]),
                    ],
                    ..Default::default()
                },
                ResourceSpans {
                    scope_spans: vec![group(vec![tagged(4, 6, None)])],
                    ..Default::default()
                },
            ],
        };
        let mut interest = Interest::default();
        let tier = interest.span_key("user.tier");
        let got = ingest(&fixtures::encode(&req), &interest).unwrap();
        let tiers: Vec<_> = got
            .spans
            .iter()
            .map(|(_, s)| (s.has_attrs(), s.attr(tier).and_then(AttrValue::as_str)))
            .collect();
        assert_eq!(
            tiers,
            [
                (true, Some("gold")),
                (false, None),
                (true, Some("silver")),
                (false, None),
                (true, Some("bronze")),
                (false, None),
            ]
        );
        // Without an interest in span attributes nothing is picked or kept.
        let plain = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
        assert!(plain.spans.iter().all(|(_, s)| s.attrs().is_empty()));
    }

    /// Offsets past the summary's 16-bit fields are found again from the span's bytes.
    #[test]
    fn names_far_into_a_span_or_long_are_read_from_its_bytes() {
        let long_state = format!("k={}", "v".repeat(70_000));
        let mut far = span(1, 1).name("after a long tracestate");
        far.0.trace_state = long_state.clone();
        let long_name = "n".repeat(70_000);
        let mut plain = span(1, 2).name(&long_name);
        plain.0.trace_state = "a=1".into();
        let none = span(1, 3).name("no state");
        let req = fixtures::request("svc", [far, plain, none]);
        let got = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
        let s = |i: usize| &got.spans[i].1;
        assert_eq!(s(0).name(), "after a long tracestate");
        assert_eq!(s(0).trace_state(), Some(long_state.as_str()));
        assert_eq!(s(1).name(), long_name);
        assert_eq!(s(1).trace_state(), Some("a=1"));
        assert_eq!(s(2).name(), "no state");
        assert_eq!(s(2).trace_state(), None);
    }

    /// Durations past 32 bits of nanoseconds (and ends before starts) are read from the bytes.
    #[test]
    fn long_and_backwards_spans_keep_their_exact_end() {
        let mut backwards = span(1, 3);
        backwards.0.start_time_unix_nano = 5_000;
        backwards.0.end_time_unix_nano = 4_000;
        let req = fixtures::request(
            "svc",
            [
                span(1, 1).at(0, 3_000),
                span(1, 2).at(7, 600_000),
                backwards,
            ],
        );
        let got = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
        let s = |i: usize| &got.spans[i].1;
        assert_eq!(s(0).duration_nanos(), 3_000_000_000);
        assert_eq!(s(0).end(), s(0).start + 3_000_000_000);
        assert_eq!(s(1).duration_nanos(), 600_000_000_000);
        assert_eq!(s(1).end(), s(1).start + 600_000_000_000);
        assert_eq!(
            (s(2).start, s(2).end(), s(2).duration_nanos()),
            (5_000, 4_000, 0)
        );
        assert_eq!(
            super::trace_duration(&[s(0).clone(), s(1).clone()]),
            600_007_000_000
        );
    }
}
