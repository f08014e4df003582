//! OTLP request builders shared by unit tests, integration tests and benchmarks.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;

/// Base timestamp of fixture spans (2026-01-01T00:00:00Z) in nanoseconds.
pub const T0: u64 = 1_767_225_600_000_000_000;

/// splitmix64: a small deterministic generator of pseudo-random numbers, seeded with its state.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
}

pub fn trace_id(n: u128) -> [u8; 16] {
    n.to_be_bytes()
}

pub fn span_id(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

pub fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

/// Builds one span. Defaults: a root span of 10 ms starting at [`T0`], status unset.
#[derive(Clone)]
pub struct SpanBuilder(pub Span);

/// Starts a span of trace `trace` with span id `id` (both non-zero for valid spans).
pub fn span(trace: u128, id: u64) -> SpanBuilder {
    SpanBuilder(Span {
        trace_id: trace_id(trace).to_vec(),
        span_id: span_id(id).to_vec(),
        name: format!("span-{id}"),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 10_000_000,
        ..Default::default()
    })
}

impl SpanBuilder {
    pub fn name(mut self, name: &str) -> Self {
        self.0.name = name.to_string();
        self
    }
    pub fn parent(mut self, parent: u64) -> Self {
        self.0.parent_span_id = span_id(parent).to_vec();
        self
    }
    pub fn kind(mut self, kind: span::SpanKind) -> Self {
        self.0.kind = kind as i32;
        self
    }
    pub fn error(self) -> Self {
        self.status(status::StatusCode::Error)
    }
    pub fn status(mut self, code: status::StatusCode) -> Self {
        self.0.status = Some(Status {
            message: String::new(),
            code: code as i32,
        });
        self
    }
    /// Starts `offset_ms` after [`T0`] and lasts `ms` milliseconds.
    pub fn at(mut self, offset_ms: u64, ms: u64) -> Self {
        self.0.start_time_unix_nano = T0 + offset_ms * 1_000_000;
        self.0.end_time_unix_nano = self.0.start_time_unix_nano + ms * 1_000_000;
        self
    }
    pub fn attr(mut self, key: &str, value: &str) -> Self {
        self.0.attributes.push(kv_str(key, value));
        self
    }
    pub fn attr_int(mut self, key: &str, value: i64) -> Self {
        self.0.attributes.push(kv_int(key, value));
        self
    }
    pub fn attr_double(mut self, key: &str, value: f64) -> Self {
        self.0
            .attributes
            .push(kv(key, any_value::Value::DoubleValue(value)));
        self
    }
    pub fn attr_value(mut self, key: &str, value: any_value::Value) -> Self {
        self.0.attributes.push(kv(key, value));
        self
    }
    pub fn build(self) -> Span {
        self.0
    }
}

/// A request with one resource (`service.name` = `service`, plus `resource_attrs`) and one scope.
pub fn request_with(
    service: &str,
    resource_attrs: Vec<KeyValue>,
    spans: Vec<Span>,
) -> ExportTraceServiceRequest {
    let mut attributes = vec![kv_str("service.name", service)];
    attributes.extend(resource_attrs);
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tailsift-fixtures".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A request with one resource for `service` and the given spans.
pub fn request(
    service: &str,
    spans: impl IntoIterator<Item = SpanBuilder>,
) -> ExportTraceServiceRequest {
    request_with(
        service,
        vec![],
        spans.into_iter().map(SpanBuilder::build).collect(),
    )
}

pub fn encode(req: &ExportTraceServiceRequest) -> Bytes {
    Bytes::from(req.encode_to_vec())
}

/// The span summaries ingest makes of `req`, reading the attributes `interest` names.
pub fn ingested(
    req: &ExportTraceServiceRequest,
    interest: &crate::otlp::Interest,
) -> Vec<crate::otlp::Span> {
    crate::otlp::ingest(&encode(req), interest)
        .expect("a valid request")
        .spans
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// All spans of a request, flattened.
pub fn spans_of(req: &ExportTraceServiceRequest) -> Vec<&Span> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .collect()
}

/// The string value of a span attribute.
pub fn attr_str<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key)? {
        any_value::Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    }
}

/// The value of the span's attribute `key`, if it has one.
pub fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    kv.value.as_ref()?.value.as_ref()
}

/// A realistic LLM-pipeline trace of `n` spans: a server root and children, one `prompt` payload.
pub fn pipeline_trace(trace: u128, n: u64, error: bool) -> Vec<SpanBuilder> {
    let stages = [
        "retrieve",
        "rerank",
        "generate",
        "upscale",
        "embed",
        "cache.get",
        "db.query",
    ];
    (1..=n)
        .map(|i| {
            let mut b = span(trace, i)
                .name(if i == 1 {
                    "POST /v1/generate"
                } else {
                    stages[(i as usize - 2) % stages.len()]
                })
                .at(i, 20)
                .attr("http.route", "/v1/generate")
                .attr("user.tier", "free")
                .attr_int("http.status_code", 200)
                .attr("net.peer.name", "10.0.0.1")
                .attr("model", "llm-large")
                .attr_int("tokens", 812)
                .attr("region", "eu-west-1")
                .attr("prompt", &"p".repeat(64));
            if i == 1 {
                b = b.kind(span::SpanKind::Server).at(0, 200);
            } else {
                b = b.parent(1);
            }
            if error && i == n {
                b = b.error();
            }
            b
        })
        .collect()
}

/// A request of one resource group per service that has spans (in `services`' order), each
/// with `host.name` and `deployment.environment` beside `service.name`, as a fleet's
/// collector-side batch looks.
pub fn services_request<'a>(
    services: impl IntoIterator<Item = (&'a str, Vec<Span>)>,
) -> ExportTraceServiceRequest {
    let resource_spans = services
        .into_iter()
        .filter(|(_, spans)| !spans.is_empty())
        .flat_map(|(service, spans)| {
            request_with(
                service,
                vec![
                    kv_str("host.name", "node-1"),
                    kv_str("deployment.environment", "prod"),
                ],
                spans,
            )
            .resource_spans
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Request `seq` of a stream shaped like production traffic: the second halves of the 8-span
/// [`pipeline_trace`]s request `seq - 1` started, then the first halves (with the roots) of
/// `traces` new ones, spread over `services` resource groups (`service-0`, `service-1`, ...)
/// by span position. 1% of traces end with an error. Trace ids depend on `(seq, t)` only, so
/// consecutive requests complete each other's traces.
pub fn split_trace_request(seq: u64, traces: u64, services: usize) -> ExportTraceServiceRequest {
    const SPANS_PER_TRACE: u64 = 8;
    let half = SPANS_PER_TRACE / 2;
    let services = services.max(1);
    let mut groups: Vec<Vec<Span>> = vec![Vec::new(); services];
    for t in 0..traces {
        for (stream_seq, halfs) in [(seq, 0..half), (seq.wrapping_sub(1), half..SPANS_PER_TRACE)] {
            if stream_seq == u64::MAX {
                continue;
            }
            let n = stream_seq * traces + t;
            let id = (n as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            let spans = pipeline_trace(id, SPANS_PER_TRACE, n.is_multiple_of(100));
            for (i, s) in spans.into_iter().enumerate() {
                if halfs.contains(&(i as u64)) {
                    groups[i % services].push(s.build());
                }
            }
        }
    }
    let resource_spans: Vec<ResourceSpans> = groups
        .into_iter()
        .enumerate()
        .flat_map(|(i, spans)| request_with(&format!("service-{i}"), vec![], spans).resource_spans)
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// An English-like prompt of exactly `bytes` bytes, words drawn from a small vocabulary by
/// `next` (so it compresses as real prompts do, unlike a repeated character).
pub fn english_prompt(bytes: usize, mut next: impl FnMut() -> u64) -> String {
    const WORDS: [&str; 32] = [
        "summarize",
        "the",
        "quarterly",
        "report",
        "for",
        "our",
        "customers",
        "in",
        "three",
        "bullet",
        "points",
        "translate",
        "this",
        "email",
        "into",
        "german",
        "and",
        "keep",
        "tone",
        "polite",
        "what",
        "is",
        "refund",
        "policy",
        "on",
        "damaged",
        "items",
        "write",
        "sql",
        "query",
        "listing",
        "orders",
    ];
    let mut p = String::with_capacity(bytes + 16);
    while p.len() < bytes {
        if !p.is_empty() {
            p.push(' ');
        }
        p.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
    }
    p.truncate(bytes);
    p
}
