//! Every `tail_sampling` policy type, table-driven: a policy block as it would be pasted from a
//! Collector config, a small trace, and the verdict the Collector reaches (with the deciding
//! policy). Stateful policies (rate limits, composite) are cases with several steps in time.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::time::Duration;
use tailsift::collector::{PolicySet, NOT_SAMPLED};
use tailsift::fixtures::{
    encode, kv, kv_int, kv_str, request_with, span, trace_id, SpanBuilder, T0,
};
use tailsift::otlp::{ingest, Span};
use tokio::time::Instant;

const BASE: &str = r#"
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" } } }
exporters: { out: { protocol: file, path: /dev/null } }
tail_sampling:
"#;

/// A trace: its id, resource attributes (besides `service.name: svc`) and spans.
struct Tr {
    id: u128,
    resource: Vec<KeyValue>,
    spans: Vec<SpanBuilder>,
}

/// What the policies decide: sampled by the named policy, or not sampled (naming the drop
/// policy, or `_not_sampled` when no policy sampled).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Sampled(&'static str),
    Not(&'static str),
}
use Want::{Not, Sampled};

const NONE: Want = Not(NOT_SAMPLED);

struct Case {
    name: &'static str,
    /// The body of `tail_sampling:` (indented two spaces).
    block: &'static str,
    /// Traces decided in order, each `at_ms` after the start, with the expected verdict.
    steps: Vec<(Tr, u64, Want)>,
}

fn one(name: &'static str, block: &'static str, tr: Tr, want: Want) -> Case {
    Case {
        name,
        block,
        steps: vec![(tr, 0, want)],
    }
}

fn tr(spans: Vec<SpanBuilder>) -> Tr {
    Tr {
        id: 7,
        resource: vec![],
        spans,
    }
}

fn res(resource: Vec<KeyValue>, spans: Vec<SpanBuilder>) -> Tr {
    Tr {
        id: 7,
        resource,
        spans,
    }
}

fn with_id(id: u128) -> Tr {
    Tr {
        id,
        resource: vec![],
        spans: vec![s(1)],
    }
}

/// A span of the trace (its id is fixed when the request is built).
fn s(id: u64) -> SpanBuilder {
    span(7, id)
}

/// A trace of `n` spans.
fn n_spans(n: u64) -> Tr {
    tr((1..=n).map(s).collect())
}

/// One span lasting `ms` milliseconds.
fn lasting(ms: u64) -> Tr {
    tr(vec![s(1).at(0, ms)])
}

fn attr(key: &str, value: &str) -> Tr {
    tr(vec![s(1).attr(key, value)])
}

fn attr_int(key: &str, value: i64) -> Tr {
    tr(vec![s(1).attr_int(key, value)])
}

fn attr_bool(key: &str, value: bool) -> Tr {
    tr(vec![s(1).attr_value(key, Any::BoolValue(value))])
}

fn status(codes: &[StatusCode]) -> Tr {
    tr(codes
        .iter()
        .enumerate()
        .map(|(i, c)| s(i as u64 + 1).status(*c))
        .collect())
}

fn trace_state(ts: &str) -> Tr {
    let mut b = s(1);
    b.0.trace_state = ts.to_string();
    tr(vec![b])
}

fn flags(f: u32) -> Tr {
    let mut b = s(1);
    b.0.flags = f;
    tr(vec![b])
}

fn event(name: &str, attrs: Vec<KeyValue>) -> Tr {
    let mut b = s(1).name("call");
    b.0.events.push(Event {
        name: name.to_string(),
        attributes: attrs,
        ..Default::default()
    });
    tr(vec![b])
}

fn health(path: &str, error: bool) -> Tr {
    let mut b = s(1).attr("url.path", path).kind(SpanKind::Server);
    if error {
        b = b.error();
    }
    tr(vec![b])
}

fn cases() -> Vec<Case> {
    use StatusCode::{Error, Ok, Unset};
    let mut c = vec![
        // always_sample
        one("always_sample", "policies: [{ name: p, type: always_sample }]", n_spans(1), Sampled("p")),
        // latency: threshold only is exclusive (the Collector v0.161.0 samples duration > threshold_ms)
        one("latency at threshold", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000 } }]", lasting(5000), NONE),
        one("latency above threshold", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000 } }]", lasting(5001), Sampled("p")),
        one("latency below threshold", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000 } }]", lasting(4999), NONE),
        // latency with an upper bound: lower exclusive, upper inclusive
        one("latency upper: lower bound exclusive", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000, upper_threshold_ms: 10000 } }]", lasting(5000), NONE),
        one("latency upper: just above lower", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000, upper_threshold_ms: 10000 } }]", lasting(5001), Sampled("p")),
        one("latency upper: upper bound inclusive", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000, upper_threshold_ms: 10000 } }]", lasting(10000), Sampled("p")),
        one("latency upper: above upper", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000, upper_threshold_ms: 10000 } }]", lasting(10001), NONE),
        one("latency: earliest start to latest end", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000 } }]", tr(vec![s(1).at(0, 3000), s(2).parent(1).at(4000, 2000)]), Sampled("p")),
        one("latency: whole milliseconds, truncated", "policies: [{ name: p, type: latency, latency: { threshold_ms: 5000 } }]", {
            let mut b = s(1);
            b.0.end_time_unix_nano = T0 + 4_999_999_999;
            tr(vec![b])
        }, NONE),
        // numeric_attribute: bounds inclusive, resource and span attributes
        one("numeric at min", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50, max_value: 100 } }]", attr_int("code", 50), Sampled("p")),
        one("numeric at max", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50, max_value: 100 } }]", attr_int("code", 100), Sampled("p")),
        one("numeric above max", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50, max_value: 100 } }]", attr_int("code", 101), NONE),
        one("numeric min only", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50 } }]", attr_int("code", 1_000_000), Sampled("p")),
        one("numeric max only", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, max_value: 10 } }]", attr_int("code", -5), Sampled("p")),
        one("numeric min 0 means unbounded", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 0, max_value: 10 } }]", attr_int("code", -100), Sampled("p")),
        one("numeric on a resource attribute", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: shard, min_value: 1, max_value: 3 } }]", res(vec![kv_int("shard", 2)], vec![s(1)]), Sampled("p")),
        one("numeric missing key", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50 } }]", n_spans(1), NONE),
        one("numeric: a string value is not a number", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50 } }]", attr("code", "75"), NONE),
        one("numeric invert: in range", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50, max_value: 100, invert_match: true } }]", attr_int("code", 75), NONE),
        one("numeric invert: out of range", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50, max_value: 100, invert_match: true } }]", attr_int("code", 200), Sampled("p")),
        one("numeric invert: missing key", "policies: [{ name: p, type: numeric_attribute, numeric_attribute: { key: code, min_value: 50, max_value: 100, invert_match: true } }]", n_spans(1), Sampled("p")),
        // probabilistic: FNV-1a of salt and trace id (reference values computed independently)
        one("probabilistic 100%", "policies: [{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 100 } }]", with_id(0xd4cda95b652f4a1592b449d5929fda1b), Sampled("p")),
        one("probabilistic 0%", "policies: [{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 0 } }]", with_id(0x1234567890abcdef1234567890abcdef), NONE),
        one("probabilistic 50% keeps a low hash", "policies: [{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 50 } }]", with_id(0x0af7651916cd43dd8448eb211c80319c), Sampled("p")),
        one("probabilistic 50% drops a high hash", "policies: [{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 50 } }]", with_id(0x4bf92f3577b34da6a3ce929d0e0e4736), NONE),
        one("probabilistic: the salt changes the subset (1)", "policies: [{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 50, hash_salt: other-salt } }]", with_id(0x0af7651916cd43dd8448eb211c80319c), NONE),
        one("probabilistic: the salt changes the subset (2)", "policies: [{ name: p, type: probabilistic, probabilistic: { sampling_percentage: 50, hash_salt: other-salt } }]", with_id(0x4bf92f3577b34da6a3ce929d0e0e4736), Sampled("p")),
        // status_code
        one("status ERROR", "policies: [{ name: p, type: status_code, status_code: { status_codes: [ERROR] } }]", status(&[Error]), Sampled("p")),
        one("status ERROR, all unset", "policies: [{ name: p, type: status_code, status_code: { status_codes: [ERROR] } }]", status(&[Unset, Unset]), NONE),
        one("status OK or UNSET", "policies: [{ name: p, type: status_code, status_code: { status_codes: [OK, UNSET] } }]", status(&[Unset]), Sampled("p")),
        one("status: any span", "policies: [{ name: p, type: status_code, status_code: { status_codes: [ERROR] } }]", status(&[Ok, Unset, Error]), Sampled("p")),
        // string_attribute
        one("string exact", "policies: [{ name: p, type: string_attribute, string_attribute: { key: key2, values: [value1, value2] } }]", attr("key2", "value2"), Sampled("p")),
        one("string exact on the resource", "policies: [{ name: p, type: string_attribute, string_attribute: { key: service.name, values: [svc] } }]", n_spans(1), Sampled("p")),
        one("string exact is not a substring match", "policies: [{ name: p, type: string_attribute, string_attribute: { key: key2, values: [value1] } }]", attr("key2", "value1x"), NONE),
        one("string regex is unanchored", "policies: [{ name: p, type: string_attribute, string_attribute: { key: url.path, values: [/health], enabled_regex_matching: true } }]", attr("url.path", "/api/health/check"), Sampled("p")),
        one("string regex anchored", "policies: [{ name: p, type: string_attribute, string_attribute: { key: url.path, values: ['^/health$'], enabled_regex_matching: true } }]", attr("url.path", "/health/x"), NONE),
        one("string regex with an escaped slash", "policies: [{ name: p, type: string_attribute, string_attribute: { key: url.path, values: [\\/health, \\/metrics], enabled_regex_matching: true } }]", attr("url.path", "/metrics"), Sampled("p")),
        one("string regex wildcard", "policies: [{ name: p, type: string_attribute, string_attribute: { key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10 } }]", attr("key2", "va"), Sampled("p")),
        one("string: an int value is not a string", "policies: [{ name: p, type: string_attribute, string_attribute: { key: code, values: ['200'] } }]", attr_int("code", 200), NONE),
        one("string: empty span values never match", "policies: [{ name: p, type: string_attribute, string_attribute: { key: k, values: ['.*'], enabled_regex_matching: true } }]", attr("k", ""), NONE),
        one("string invert: value matches", "policies: [{ name: p, type: string_attribute, string_attribute: { key: key2, values: [value1], invert_match: true } }]", attr("key2", "value1"), NONE),
        one("string invert: other value", "policies: [{ name: p, type: string_attribute, string_attribute: { key: key2, values: [value1], invert_match: true } }]", attr("key2", "value9"), Sampled("p")),
        one("string invert: missing key", "policies: [{ name: p, type: string_attribute, string_attribute: { key: key2, values: [value1], invert_match: true } }]", n_spans(2), Sampled("p")),
        one("string invert: one matching span of many", "policies: [{ name: p, type: string_attribute, string_attribute: { key: route, values: ['/v1/name/.+'], enabled_regex_matching: true, invert_match: true } }]", tr(vec![s(1).attr("route", "/v1/other"), s(2).attr("route", "/v1/name/42")]), NONE),
        one("string invert on the resource", "policies: [{ name: p, type: string_attribute, string_attribute: { key: service.name, values: [svc], invert_match: true } }]", n_spans(1), NONE),
        // trace_state
        one("trace_state value", "policies: [{ name: p, type: trace_state, trace_state: { key: key3, values: [value1, value2] } }]", trace_state("vendor=x,key3=value2"), Sampled("p")),
        one("trace_state other value", "policies: [{ name: p, type: trace_state, trace_state: { key: key3, values: [value1, value2] } }]", trace_state("key3=value3"), NONE),
        one("trace_state other key", "policies: [{ name: p, type: trace_state, trace_state: { key: key3, values: [value1] } }]", trace_state("key4=value1"), NONE),
        one("trace_state malformed header", "policies: [{ name: p, type: trace_state, trace_state: { key: key3, values: [value1] } }]", trace_state("key3=value1,Upper=1"), NONE),
        // trace_flags
        one("trace_flags sampled", "policies: [{ name: p, type: trace_flags }]", flags(0x01), Sampled("p")),
        one("trace_flags not sampled", "policies: [{ name: p, type: trace_flags }]", flags(0x00), NONE),
        one("trace_flags with other span flags", "policies: [{ name: p, type: trace_flags }]", flags(0x301), Sampled("p")),
        one("trace_flags: only the low byte counts", "policies: [{ name: p, type: trace_flags }]", flags(0x300), NONE),
        // span_count
        one("span_count at min", "policies: [{ name: p, type: span_count, span_count: { min_spans: 2 } }]", n_spans(2), Sampled("p")),
        one("span_count below min", "policies: [{ name: p, type: span_count, span_count: { min_spans: 2 } }]", n_spans(1), NONE),
        one("span_count at max", "policies: [{ name: p, type: span_count, span_count: { min_spans: 2, max_spans: 3 } }]", n_spans(3), Sampled("p")),
        one("span_count above max", "policies: [{ name: p, type: span_count, span_count: { min_spans: 2, max_spans: 3 } }]", n_spans(4), NONE),
        one("span_count max 0 is unbounded", "policies: [{ name: p, type: span_count, span_count: { min_spans: 2, max_spans: 0 } }]", n_spans(50), Sampled("p")),
        // boolean_attribute
        one("boolean true", "policies: [{ name: p, type: boolean_attribute, boolean_attribute: { key: app.force_sample, value: true } }]", attr_bool("app.force_sample", true), Sampled("p")),
        one("boolean false matches false", "policies: [{ name: p, type: boolean_attribute, boolean_attribute: { key: f, value: false } }]", attr_bool("f", false), Sampled("p")),
        one("boolean mismatch", "policies: [{ name: p, type: boolean_attribute, boolean_attribute: { key: f, value: false } }]", attr_bool("f", true), NONE),
        one("boolean on the resource", "policies: [{ name: p, type: boolean_attribute, boolean_attribute: { key: canary, value: true } }]", res(vec![kv("canary", Any::BoolValue(true))], vec![s(1)]), Sampled("p")),
        one("boolean missing key", "policies: [{ name: p, type: boolean_attribute, boolean_attribute: { key: f, value: true } }]", n_spans(1), NONE),
        one("boolean invert: matches", "policies: [{ name: p, type: boolean_attribute, boolean_attribute: { key: f, value: true, invert_match: true } }]", attr_bool("f", true), NONE),
        one("boolean invert: missing key", "policies: [{ name: p, type: boolean_attribute, boolean_attribute: { key: f, value: true, invert_match: true } }]", n_spans(1), Sampled("p")),
        // ottl_condition
        one("ottl span attribute", "policies: [{ name: p, type: ottl_condition, ottl_condition: { error_mode: ignore, span: ['attributes[\"test_attr_key_1\"] == \"test_attr_val_1\"'] } }]", attr("test_attr_key_1", "test_attr_val_1"), Sampled("p")),
        one("ottl no match", "policies: [{ name: p, type: ottl_condition, ottl_condition: { span: ['attributes[\"test_attr_key_1\"] == \"test_attr_val_1\"'] } }]", attr("test_attr_key_1", "other"), NONE),
        one("ottl conditions are alternatives", "policies: [{ name: p, type: ottl_condition, ottl_condition: { span: ['name == \"nope\"', 'attributes[\"k\"] != \"v\"'] } }]", n_spans(1), Sampled("p")),
        one("ottl kind and status", "policies: [{ name: p, type: ottl_condition, ottl_condition: { span: ['kind == SPAN_KIND_SERVER and status.code == STATUS_CODE_ERROR'] } }]", health("/x", true), Sampled("p")),
        one("ottl IsMatch on a resource attribute", "policies: [{ name: p, type: ottl_condition, ottl_condition: { span: ['IsMatch(resource.attributes[\"k8s.namespace\"], \"^prod-\")'] } }]", res(vec![kv_str("k8s.namespace", "prod-eu")], vec![s(1)]), Sampled("p")),
        one("ottl span event", "policies: [{ name: p, type: ottl_condition, ottl_condition: { spanevent: ['name == \"exception\" and attributes[\"exception.type\"] == \"Timeout\"'] } }]", event("exception", vec![kv_str("exception.type", "Timeout")]), Sampled("p")),
        one("ottl span event no match", "policies: [{ name: p, type: ottl_condition, ottl_condition: { spanevent: ['name == \"exception\"'] } }]", event("retry", vec![]), NONE),
        // and / not / drop, nested
        one("and: all sample", "policies: [{ name: p, type: and, and: { and_sub_policy: [ { name: a, type: numeric_attribute, numeric_attribute: { key: key1, min_value: 50, max_value: 100 } }, { name: b, type: string_attribute, string_attribute: { key: key2, values: [value1, value2] } } ] } }]", tr(vec![s(1).attr_int("key1", 60).attr("key2", "value1")]), Sampled("p")),
        one("and: one does not", "policies: [{ name: p, type: and, and: { and_sub_policy: [ { name: a, type: numeric_attribute, numeric_attribute: { key: key1, min_value: 50, max_value: 100 } }, { name: b, type: string_attribute, string_attribute: { key: key2, values: [value1, value2] } } ] } }]", tr(vec![s(1).attr_int("key1", 60).attr("key2", "value3")]), NONE),
        one("and with an inverted sub-policy", "policies: [{ name: p, type: and, and: { and_sub_policy: [ { name: a, type: string_attribute, string_attribute: { key: service.name, values: [list, of, services], invert_match: true } }, { name: b, type: always_sample } ] } }]", n_spans(1), Sampled("p")),
        one("not: inverts", "policies: [{ name: p, type: not, not: { not_sub_policy: { name: e, type: status_code, status_code: { status_codes: [ERROR] } } } }]", status(&[Ok]), Sampled("p")),
        one("not: inverts back", "policies: [{ name: p, type: not, not: { not_sub_policy: { name: e, type: status_code, status_code: { status_codes: [ERROR] } } } }]", status(&[Error]), NONE),
        one("not inside and inside not", "policies: [{ name: p, type: not, not: { not_sub_policy: { name: n, type: and, and: { and_sub_policy: [ { name: a, type: always_sample }, { name: b, type: not, not: { not_sub_policy: { name: c, type: trace_flags } } } ] } } } }]", flags(1), Sampled("p")),
        one("drop wins over sampling policies", "policies: [{ name: all, type: always_sample }, { name: health, type: drop, drop: { drop_sub_policy: [ { name: h, type: string_attribute, string_attribute: { key: url.path, values: [\\/health, \\/metrics], enabled_regex_matching: true } } ] } }]", health("/health", false), Not("health")),
        one("drop needs all its sub-policies", "policies: [{ name: all, type: always_sample }, { name: health, type: drop, drop: { drop_sub_policy: [ { name: h, type: string_attribute, string_attribute: { key: url.path, values: [/health] } }, { name: ok, type: status_code, status_code: { status_codes: [OK] } } ] } }]", health("/health", false), Sampled("all")),
        one("drop with nested and/not keeps failing health checks", "policies: [{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: health, type: drop, drop: { drop_sub_policy: [ { name: a, type: and, and: { and_sub_policy: [ { name: h, type: string_attribute, string_attribute: { key: url.path, values: [/health] } }, { name: n, type: not, not: { not_sub_policy: { name: e, type: status_code, status_code: { status_codes: [ERROR] } } } } ] } } ] } }]", health("/health", true), Sampled("errors")),
        one("drop with nested and/not drops healthy checks", "policies: [{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: all, type: always_sample }, { name: health, type: drop, drop: { drop_sub_policy: [ { name: a, type: and, and: { and_sub_policy: [ { name: h, type: string_attribute, string_attribute: { key: url.path, values: [/health] } }, { name: n, type: not, not: { not_sub_policy: { name: e, type: status_code, status_code: { status_codes: [ERROR] } } } } ] } } ] } }]", health("/health", false), Not("health")),
        // combination
        one("the first sampling policy decides", "policies: [{ name: slow, type: latency, latency: { threshold_ms: 1000 } }, { name: a, type: always_sample }, { name: b, type: always_sample }]", lasting(10), Sampled("a")),
        one("no policy samples", "policies: [{ name: slow, type: latency, latency: { threshold_ms: 1000 } }, { name: e, type: status_code, status_code: { status_codes: [ERROR] } }]", lasting(10), NONE),
        one("invert_match flips only its own verdict", "policies: [{ name: not-premium, type: string_attribute, string_attribute: { key: tier, values: [premium], invert_match: true } }, { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }]", tr(vec![s(1).attr("tier", "premium").error()]), Sampled("errors")),
    ];
    // Stateful policies: several traces in time.
    c.push(Case {
        name: "rate_limiting: default burst is twice the rate",
        block:
            "policies: [{ name: p, type: rate_limiting, rate_limiting: { spans_per_second: 10 } }]",
        steps: vec![
            (n_spans(15), 0, Sampled("p")),
            (n_spans(10), 0, NONE),
            (n_spans(5), 0, Sampled("p")),
            (n_spans(10), 1000, Sampled("p")),
        ],
    });
    c.push(Case {
        name: "rate_limiting: a trace above the burst never passes",
        block: "policies: [{ name: p, type: rate_limiting, rate_limiting: { spans_per_second: 100, burst_capacity: 5 } }]",
        steps: vec![(n_spans(6), 0, NONE), (n_spans(5), 0, Sampled("p"))],
    });
    c.push(Case {
        name: "bytes_limiting: token bucket of trace bytes",
        block: "policies: [{ name: p, type: bytes_limiting, bytes_limiting: { bytes_per_second: 1000, burst_capacity: 1500 } }]",
        steps: vec![
            (tr(vec![s(1).attr("payload", &"x".repeat(1000))]), 0, Sampled("p")),
            (tr(vec![s(1).attr("payload", &"x".repeat(1000))]), 0, NONE),
            (tr(vec![s(1).attr("payload", &"x".repeat(1000))]), 1100, Sampled("p")),
            (tr(vec![s(1).attr("payload", &"x".repeat(2000))]), 60_000, NONE),
        ],
    });
    c.push(Case {
        name: "composite: first sampling sub-policy within its share",
        block: "policies: [{ name: c, type: composite, composite: { max_total_spans_per_second: 10, policy_order: [errors, rest], composite_sub_policy: [ { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: rest, type: always_sample } ], rate_allocation: [ { policy: errors, percent: 50 }, { policy: rest, percent: 50 } ] } }]",
        steps: vec![
            (status(&[Error, Error, Error, Error]), 0, Sampled("c")),
            // 4 + 2 > 5: the errors share is used up; `rest` is not consulted.
            (status(&[Error, Error]), 0, NONE),
            (status(&[Ok, Ok, Ok, Ok, Ok]), 0, Sampled("c")),
            (status(&[Ok]), 0, NONE),
            // A new second resets the counters.
            (status(&[Error, Error]), 1000, Sampled("c")),
        ],
    });
    c.push(Case {
        name: "composite: sub-policies missing from rate_allocation share the total equally",
        block: "policies: [{ name: c, type: composite, composite: { max_total_spans_per_second: 30, composite_sub_policy: [ { name: a, type: span_count, span_count: { min_spans: 100 } }, { name: b, type: span_count, span_count: { min_spans: 50 } }, { name: rest, type: always_sample } ], rate_allocation: [ { policy: a, percent: 50 } ] } }]",
        steps: vec![
            (n_spans(10), 0, Sampled("c")),
            (n_spans(1), 0, NONE),
            (n_spans(10), 1000, Sampled("c")),
        ],
    });
    c.push(Case {
        name: "composite: policy_order sets the evaluation order",
        block: "policies: [{ name: c, type: composite, composite: { max_total_spans_per_second: 100, policy_order: [rest, errors], composite_sub_policy: [ { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: rest, type: always_sample } ], rate_allocation: [ { policy: errors, percent: 90 }, { policy: rest, percent: 1 } ] } }]",
        steps: vec![(status(&[Error]), 0, Sampled("c")), (status(&[Error]), 0, NONE)],
    });
    c.push(Case {
        name: "sample_on_first_match leaves later rate limits untouched",
        block: "sample_on_first_match: true\npolicies: [{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: rl, type: rate_limiting, rate_limiting: { spans_per_second: 1, burst_capacity: 1 } }]",
        steps: vec![(status(&[Error]), 0, Sampled("errors")), (status(&[Ok]), 0, Sampled("rl"))],
    });
    c.push(Case {
        name: "without sample_on_first_match every policy is evaluated",
        block: "policies: [{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }, { name: rl, type: rate_limiting, rate_limiting: { spans_per_second: 1, burst_capacity: 1 } }]",
        steps: vec![(status(&[Error]), 0, Sampled("errors")), (status(&[Ok]), 0, NONE)],
    });
    c.push(Case {
        name: "sample_on_first_match still evaluates drop policies first",
        block: "sample_on_first_match: true\npolicies: [{ name: all, type: always_sample }, { name: d, type: drop, drop: { drop_sub_policy: [ { name: e, type: status_code, status_code: { status_codes: [ERROR] } } ] } }]",
        steps: vec![(status(&[Error]), 0, Not("d")), (status(&[Ok]), 0, Sampled("all"))],
    });
    c
}

fn compile(block: &str) -> PolicySet {
    let mut yaml = BASE.to_string();
    for line in block.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    let config =
        tailsift::config::parse(&yaml, "case.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    PolicySet::compile(config.tail_sampling.as_ref().expect("tail_sampling")).expect("compiles")
}

fn spans_of(set: &PolicySet, t: Tr) -> ([u8; 16], Vec<Span>) {
    let spans = t
        .spans
        .into_iter()
        .map(|b| {
            let mut sp = b.build();
            sp.trace_id = trace_id(t.id).to_vec();
            sp
        })
        .collect();
    let body = encode(&request_with("svc", t.resource, spans));
    let ingested = ingest(&body, set.interest()).expect("valid request");
    assert!(ingested.rejected.is_empty());
    (
        trace_id(t.id),
        ingested.spans.into_iter().map(|(_, s)| s).collect(),
    )
}

#[test]
fn policies_decide_as_the_collector() {
    // Evaluates policies, which count in the process-wide metrics the daemon test reads.
    let _policies_run = crate::support::isolation::shared_blocking();
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let set = compile(case.block);
        let t0 = Instant::now();
        for (i, (t, at_ms, want)) in case.steps.into_iter().enumerate() {
            let (id, spans) = spans_of(&set, t);
            let v = set.decide(&id, &spans, t0 + Duration::from_millis(at_ms));
            let got = if v.keep {
                Sampled(leak(set.name_of(v)))
            } else {
                Not(leak(set.name_of(v)))
            };
            if got != want {
                failures.push(format!(
                    "{} (step {i}): want {want:?}, got {got:?}",
                    case.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// splitmix64, for pseudo-random trace ids.
fn ids(n: usize) -> Vec<u128> {
    let mut rng = tailsift::fixtures::SplitMix64(0x5eed);
    let mut next = move || rng.next_u64();
    (0..n)
        .map(|_| ((next() as u128) << 64) | next() as u128)
        .collect()
}

#[test]
fn probabilistic_keeps_the_rate_and_is_consistent() {
    // Evaluates policies, which count in the process-wide metrics the daemon test reads.
    let _policies_run = crate::support::isolation::shared_blocking();
    let ids = ids(20_000);
    for pct in [1.0, 10.0, 25.0, 50.0] {
        let set = compile(&format!(
            "policies: [{{ name: p, type: probabilistic, probabilistic: {{ sampling_percentage: {pct} }} }}]"
        ));
        let other = compile(&format!(
            "policies: [{{ name: p, type: probabilistic, probabilistic: {{ sampling_percentage: {pct} }} }}]"
        ));
        let now = Instant::now();
        let mut kept = 0;
        for &id in &ids {
            let (tid, spans) = spans_of(&set, with_id(id));
            let v = set.decide(&tid, &spans, now);
            assert_eq!(
                v.keep,
                other.decide(&tid, &spans, now).keep,
                "same verdict everywhere"
            );
            kept += v.keep as usize;
        }
        let frac = kept as f64 / ids.len() as f64 * 100.0;
        assert!(
            (frac - pct).abs() < 0.6 + pct * 0.05,
            "{pct}%: kept {frac:.2}%"
        );
    }
}
