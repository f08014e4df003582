//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`, from the test
//! fixtures: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`, then minimize with
//! `cargo fuzz cmin` (see README.md, "Fuzzing"). Seeds are named after their content's hash, so
//! running this again adds nothing that is already there.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, EntityRef, KeyValueList};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use prost::Message;
use std::path::{Path, PathBuf};
use tailsift::fixtures::{encode, kv, kv_str, pipeline_trace, request, request_with, span};

fn write(dir: &Path, data: &[u8]) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("seed-{:016x}", h.finish())), data).unwrap();
}

/// Requests covering every part of the format ingest reads.
fn requests() -> Vec<ExportTraceServiceRequest> {
    let nested = Value::KvlistValue(KeyValueList {
        values: vec![
            kv_str("a", "b"),
            kv(
                "list",
                Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::IntValue(-1)),
                        },
                        AnyValue {
                            value: Some(Value::DoubleValue(0.5)),
                        },
                        AnyValue {
                            value: Some(Value::BoolValue(true)),
                        },
                        AnyValue {
                            value: Some(Value::BytesValue(vec![0, 0xff])),
                        },
                    ],
                }),
            ),
        ],
    });
    let mut rich = span(0x5b8efff798038103d269b633813fc60c, 2)
        .parent(1)
        .kind(SpanKind::Client)
        .attr("http.route", "/v1/generate")
        .attr_int("http.status_code", 503)
        .attr_value("nested", nested)
        .attr_value("ratio", Value::DoubleValue(f64::NAN))
        .error()
        .build();
    rich.trace_state = "vendor=abc,ot=th:8".into();
    rich.events.push(Event {
        time_unix_nano: 1,
        name: "exception".into(),
        attributes: vec![kv_str("exception.type", "Timeout")],
        dropped_attributes_count: 0,
    });
    rich.links.push(Link {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        trace_state: "k=v".into(),
        attributes: vec![kv_str("link", "x")],
        dropped_attributes_count: 0,
        flags: 0x100,
    });
    rich.flags = 0x301;
    let mut with_entity = request_with(
        "entity",
        vec![
            kv_str("deployment.environment", "prod"),
            kv_str("host.name", "h1"),
        ],
        vec![rich.clone()],
    );
    let res = with_entity.resource_spans[0].resource.as_mut().unwrap();
    res.entity_refs.push(EntityRef {
        schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
        r#type: "service".into(),
        id_keys: vec!["service.name".into()],
        description_keys: vec!["host.name".into()],
    });
    with_entity.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.30.0".into();
    let mut two = request("a", pipeline_trace(3, 2, false));
    two.resource_spans
        .extend(request("b", [span(4, 1).error(), span(4, 2).parent(1)]).resource_spans);
    let mut bad_ids = request("ids", [span(5, 1), span(5, 2)]);
    let spans = &mut bad_ids.resource_spans[0].scope_spans[0].spans;
    spans[0].trace_id = vec![0; 16];
    spans[1].span_id = vec![1, 2, 3];
    vec![
        ExportTraceServiceRequest::default(),
        request("svc", pipeline_trace(1, 4, true)),
        request("svc", [span(2, 1)]),
        with_entity,
        two,
        bad_ids,
    ]
}

fn ingest_seeds(dir: &Path) {
    for r in requests() {
        write(dir, &encode(&r));
    }
    // A span whose attribute value is not UTF-8 (no rule reads it).
    let mut body = encode(&request("svc", [span(6, 1).attr("note", "MARKER")])).to_vec();
    let at = body.windows(6).position(|w| w == b"MARKER").unwrap();
    body[at] = 0xff;
    write(dir, &body);
}

fn json_seeds(dir: &Path) {
    for r in requests() {
        write(dir, &serde_json::to_vec(&r).unwrap());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lines = std::fs::read_to_string(root.join("tests/fixtures/simulate/traces.jsonl")).unwrap();
    for l in lines.lines().take(3) {
        write(dir, l.as_bytes());
    }
    write(
        dir,
        br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},"scopeSpans":[{"scope":{"name":"manual"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"root","kind":2,"startTimeUnixNano":"1767225600000000000","endTimeUnixNano":1767225600500000000,"attributes":[{"key":"tokens","value":{"intValue":"812"}},{"key":"r","value":{"doubleValue":"NaN"}}],"futureField":{"nested":true}},{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"zz","parentSpanId":"EEE19B7EC3C1B174","name":"child","status":{"code":2,"message":"boom"}}]}]}],"anotherFutureField":1}"#,
    );
}

fn config_seeds(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = vec![
        root.join("config.example.yaml"),
        root.join("tests/fixtures/simulate/config.yaml"),
    ];
    for e in std::fs::read_dir(root.join("tests/collector_examples")).unwrap() {
        files.push(e.unwrap().path());
    }
    for f in files {
        write(dir, &std::fs::read(&f).unwrap());
    }
}

fn ottl_seeds(dir: &Path) {
    let conditions = [
        r#"attributes["test_attr_key_1"] == "test_attr_val_1""#,
        r#"attributes["http.status_code"] >= 500 and attributes["http.status_code"] < 600"#,
        r#"name == "GET /" or (kind == SPAN_KIND_SERVER and not status.code == STATUS_CODE_OK)"#,
        r#"IsMatch(attributes["url.path"], "^/api/v[0-9]+/") and resource.attributes["service.name"] != nil"#,
        r#"span.name == "x" and span.status.code == 2 and kind.string == "Server""#,
        r#"IsMatch(name, "health") == false"#,
        "true",
        r#"attributes["ratio"] > -0.5"#,
        r#"spanevent.name == "exception" and resource.attributes["env"] == "prod""#,
        r#"attributes["exception.type"] == "Timeout" and span.name == "call""#,
        r#"not (not (attributes["a"] == "\"q\"\n"))"#,
    ];
    for c in conditions {
        write(dir, c.as_bytes());
    }
}

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    ingest_seeds(&corpus.join("ingest"));
    json_seeds(&corpus.join("otlp_json"));
    config_seeds(&corpus.join("config"));
    ottl_seeds(&corpus.join("ottl"));
    // The Span message alone also reaches `validate::span` in the ingest target.
    let alone = requests()[3].resource_spans[0].scope_spans[0].spans[0].encode_to_vec();
    write(&corpus.join("ingest"), &alone);
}
