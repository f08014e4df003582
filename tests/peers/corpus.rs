//! The oracle's corpus: generated traces (seeded, so every run sends the same) covering what
//! `tail_sampling` policies look at: errors, durations at the policies' bounds, every attribute
//! type in span and resource attributes, trace_state (valid and not), trace flags, span counts,
//! traces without a root span, and late spans sent after the decisions.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, ResourceSpans, ScopeSpans, Span};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tailsift::fixtures::{kv, kv_str, span};

/// Whole-trace durations in ms: at and around the thresholds the configs use (100, 1000).
const DURATIONS: [u64; 9] = [50, 99, 100, 101, 999, 1000, 1001, 1500, 3000];
const SPAN_COUNTS: [u64; 6] = [1, 2, 3, 4, 5, 8];
const ROUTES: [&str; 5] = [
    "/health",
    "/ready",
    "/api/v1/items",
    "/api/v2/search",
    "/internal/health/deep",
];
const STATUS_CODES: [i64; 7] = [200, 404, 499, 500, 503, 599, 600];
const TRACE_STATES: [&str; 6] = [
    "",
    "vendor=a",
    "other=x,vendor=b",
    "vendor=c",
    "ot=th:8",
    "vendor=a,Bad Key=1",
];
const SERVICES: [&str; 3] = ["checkout", "search", "gen"];

/// One generated trace: its spans in the order they are sent, and an optional late span.
#[derive(Clone)]
pub struct Trace {
    pub id: u128,
    pub service: &'static str,
    pub env: &'static str,
    pub spans: Vec<Span>,
    pub late: Option<Span>,
}

impl Trace {
    /// The span ids a backend receives when the trace is kept (late span included).
    pub fn span_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .spans
            .iter()
            .chain(&self.late)
            .map(crate::support::span_id_of)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Whole-trace duration in ms (earliest start to latest end), and the same for every prefix
    /// of the spans in arrival order.
    pub fn prefix_durations_ms(&self) -> Vec<u64> {
        let (mut lo, mut hi) = (u64::MAX, 0);
        self.spans
            .iter()
            .map(|s| {
                lo = lo.min(s.start_time_unix_nano);
                hi = hi.max(s.end_time_unix_nano);
                (hi - lo) / 1_000_000
            })
            .collect()
    }
}

fn any(v: Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

/// Sets one attribute of every type on the span, each with some probability.
fn attributes(rng: &mut StdRng, s: &mut Span) {
    let push = |s: &mut Span, k: &str, v: Value| s.attributes.push(kv(k, v));
    if rng.random_bool(0.4) {
        push(
            s,
            "http.route",
            Value::StringValue(ROUTES[rng.random_range(0..ROUTES.len())].into()),
        );
    }
    if rng.random_bool(0.4) {
        push(
            s,
            "http.status_code",
            Value::IntValue(STATUS_CODES[rng.random_range(0..STATUS_CODES.len())]),
        );
    }
    if rng.random_bool(0.2) {
        push(
            s,
            "score",
            Value::DoubleValue([0.1, 0.5, 0.99, 10.0][rng.random_range(0..4)]),
        );
    }
    if rng.random_bool(0.25) {
        push(s, "cache.hit", Value::BoolValue(rng.random_bool(0.5)));
    }
    if rng.random_bool(0.1) {
        push(s, "payload", Value::BytesValue(vec![0, 1, 2, 0xff]));
    }
    if rng.random_bool(0.1) {
        let values = vec![any(Value::StringValue("a".into())), any(Value::IntValue(1))];
        push(s, "tags", Value::ArrayValue(ArrayValue { values }));
    }
    if rng.random_bool(0.1) {
        let values = vec![kv_str("model", "m1")];
        push(s, "meta", Value::KvlistValue(KeyValueList { values }));
    }
    if rng.random_bool(0.1) {
        // A number written as a string: numeric policies must not read it.
        push(s, "http.status_code", Value::StringValue("500".into()));
    }
}

fn one_trace(rng: &mut StdRng, index: usize) -> Trace {
    let id = rng.random::<u128>() | 1;
    let n = SPAN_COUNTS[rng.random_range(0..SPAN_COUNTS.len())];
    let dur = DURATIONS[rng.random_range(0..DURATIONS.len())];
    let has_root = rng.random_bool(0.85);
    let state = TRACE_STATES[rng.random_range(0..TRACE_STATES.len())];
    let sampled = rng.random_bool(0.5);
    let mut spans = Vec::new();
    // Children first (they end first, as SDKs export them), the root last.
    for i in 2..=n {
        let start = rng.random_range(0..=dur / 2);
        let len = rng.random_range(0..=(dur - start) / 2).max(1);
        spans.push(
            span(id, i)
                .name(["db.query", "cache.get", "llm.generate"][(i % 3) as usize])
                .parent(1)
                .at(start, len),
        );
    }
    let root = span(id, 1)
        .name("GET /api")
        .kind(SpanKind::Server)
        .at(0, dur);
    spans.push(if has_root { root } else { root.parent(0xdead) });
    let mut spans: Vec<Span> = spans.into_iter().map(|b| b.build()).collect();
    for s in spans.iter_mut() {
        s.trace_state = state.to_string();
        s.flags = 0x100 | u32::from(sampled);
        match rng.random_range(0..10) {
            0 => {
                s.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
                    code: StatusCode::Error as i32,
                    message: "boom".into(),
                })
            }
            1 => {
                s.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
                    code: StatusCode::Ok as i32,
                    message: String::new(),
                })
            }
            _ => {}
        }
        attributes(rng, s);
    }
    let late = rng.random_bool(0.2).then(|| {
        let mut s = span(id, 100)
            .name("late")
            .parent(1)
            .at(dur + 5_000, 10)
            .build();
        s.trace_state = state.to_string();
        s.status = rng
            .random_bool(0.5)
            .then(|| opentelemetry_proto::tonic::trace::v1::Status {
                code: StatusCode::Error as i32,
                message: "late".into(),
            });
        s
    });
    Trace {
        id,
        service: SERVICES[index % SERVICES.len()],
        env: if rng.random_bool(0.5) {
            "prod"
        } else {
            "staging"
        },
        spans,
        late,
    }
}

/// `n` traces from `seed`.
pub fn generate(seed: u64, n: usize) -> Vec<Trace> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|i| one_trace(&mut rng, i)).collect()
}

fn resource_spans(t: &Trace, spans: Vec<Span>) -> ResourceSpans {
    let mut attributes = vec![
        kv_str("service.name", t.service),
        kv_str("deployment.environment", t.env),
    ];
    if t.id.is_multiple_of(7) {
        attributes.push(kv("tenant.priority", Value::IntValue(9)));
    }
    ResourceSpans {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "oracle".into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// The traces' spans as export requests of `per_request` traces each.
pub fn requests(traces: &[Trace], per_request: usize) -> Vec<ExportTraceServiceRequest> {
    traces
        .chunks(per_request)
        .map(|c| ExportTraceServiceRequest {
            resource_spans: c
                .iter()
                .map(|t| resource_spans(t, t.spans.clone()))
                .collect(),
        })
        .collect()
}

/// The late spans, in one request.
pub fn late_request(traces: &[Trace]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: traces
            .iter()
            .filter_map(|t| Some(resource_spans(t, vec![t.late.clone()?])))
            .collect(),
    }
}
