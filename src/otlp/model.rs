//! The span data model: encoded bytes plus a small decoded summary, with resource and scope shared.

use bytes::Bytes;
use std::sync::Arc;

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
pub type Picked = Option<Box<[(u16, AttrValue)]>>;

/// Looks up a picked attribute by its interest index.
#[inline]
pub fn picked(attrs: &Picked, idx: u16) -> Option<&AttrValue> {
    attrs
        .as_deref()
        .and_then(|a| a.iter().find(|(i, _)| *i == idx).map(|(_, v)| v))
}

/// One `Resource` as received, shared by every span under it.
#[derive(Debug)]
pub struct Resource {
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
}

/// One span: its encoded bytes (a slice of the request body) plus what decisions need.
#[derive(Debug, Clone)]
pub struct Span {
    /// The encoded `Span` message, untouched.
    pub raw: Bytes,
    pub scope: Arc<Scope>,
    pub start: u64,
    pub end: u64,
    /// Byte range of the name inside `raw` (validated UTF-8).
    name_at: (u32, u32),
    pub kind: u8,
    pub status: u8,
    /// True when the span has no parent span id.
    pub is_root: bool,
    /// Span attributes the rules refer to.
    pub attrs: Picked,
    /// Offset in `raw` of the length of the `trace_state` field; 0 when the span has none.
    trace_state_at: u32,
}

impl Span {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        raw: Bytes,
        scope: Arc<Scope>,
        start: u64,
        end: u64,
        name_at: (u32, u32),
        kind: u8,
        status: u8,
        is_root: bool,
        attrs: Picked,
    ) -> Self {
        Span {
            raw,
            scope,
            start,
            end,
            name_at,
            kind,
            status,
            is_root,
            attrs,
            trace_state_at: 0,
        }
    }

    /// Records where the encoded `trace_state` is (the offset of its length prefix in `raw`).
    pub(crate) fn with_trace_state_at(mut self, at: usize) -> Self {
        self.trace_state_at = u32::try_from(at).unwrap_or(0);
        self
    }

    /// The span's W3C `tracestate` as received, when it has a non-empty one (read from `raw`).
    pub fn trace_state(&self) -> Option<&str> {
        let at = self.trace_state_at as usize;
        if at == 0 {
            return None;
        }
        let mut r = super::wire::Reader::within(&self.raw, (at, self.raw.len()));
        let (s, e) = r.len_range().ok()?;
        std::str::from_utf8(&self.raw[s..e])
            .ok()
            .filter(|t| !t.is_empty())
    }

    /// The name's bytes (validated as UTF-8 at ingest).
    #[inline]
    pub fn name_bytes(&self) -> &[u8] {
        let (s, e) = self.name_at;
        &self.raw[s as usize..e as usize]
    }

    /// The resource's `service.name` bytes, when present.
    #[inline]
    pub fn service_bytes(&self) -> Option<&[u8]> {
        self.scope.resource.service.as_deref()
    }

    pub fn name(&self) -> &str {
        let (s, e) = self.name_at;
        std::str::from_utf8(&self.raw[s as usize..e as usize]).unwrap_or("")
    }

    /// Duration in nanoseconds (0 when end precedes start).
    pub fn duration_nanos(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn service(&self) -> Option<&str> {
        self.scope.resource.service_name()
    }

    pub fn attr(&self, idx: u16) -> Option<&AttrValue> {
        picked(&self.attrs, idx)
    }

    pub fn resource_attr(&self, idx: u16) -> Option<&AttrValue> {
        picked(&self.scope.resource.attrs, idx)
    }

    /// Bytes this span accounts for in the buffer: its encoding plus the summary.
    pub fn held_bytes(&self) -> usize {
        self.raw.len() + std::mem::size_of::<Span>()
    }
}

/// The root span of a trace's spans: the first span without a parent.
pub fn root(spans: &[Span]) -> Option<&Span> {
    spans.iter().find(|s| s.is_root)
}

/// A trace's duration: earliest start to latest end, in nanoseconds.
pub fn trace_duration(spans: &[Span]) -> u64 {
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end).max().unwrap_or(0);
    end.saturating_sub(start)
}
