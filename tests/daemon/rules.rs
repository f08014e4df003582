//! The shipped example configuration (`config.example.yaml`, read from the file) end to end over every transport: which traces reach the backend, with
//! which `sampling.rule`, in which order the rules apply, and what the fidelity profiles do.

use crate::support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use support::*;
use tailsift::fixtures::{attr_str, request, span, SpanBuilder};

/// The shipped `config.example.yaml` as the daemon runs it, with short waits, local receivers
/// and metrics (the test defaults) and the example's exporters replaced by `sink`.
fn example_config(sink: &str, annotate: bool) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let text = std::fs::read_to_string(&path).expect("config.example.yaml is readable");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("the example is YAML");
    let top = doc.as_mapping_mut().expect("the example is a mapping");
    top.remove("receivers");
    top.remove("telemetry");
    let exporters = format!(
        "sink: {{ protocol: otlp_grpc, endpoint: \"{sink}\", batch: {{ timeout: 20ms }} }}"
    );
    top.insert(
        "exporters".into(),
        serde_yaml::from_str(&exporters).unwrap(),
    );
    let sampling = top
        .get_mut("sampling")
        .and_then(|s| s.as_mapping_mut())
        .expect("the example has a sampling section");
    for (key, value) in [
        ("decision_wait", "300ms"),
        ("root_wait", "100ms"),
        ("tick", "10ms"),
    ] {
        sampling.insert(key.into(), value.into());
    }
    sampling.insert("annotate".into(), annotate.into());
    serde_yaml::to_string(&doc).unwrap()
}

async fn start_example() -> (Daemon, GrpcSink) {
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let daemon = Daemon::start(&example_config(&endpoint, true)).await;
    (daemon, sink)
}

/// A trace id: `tag` in the top byte, `case` in byte 8 (not part of the randomness), and the
/// randomness in bytes 9..16.
fn tid(tag: u8, case: u8, randomness: u64) -> u128 {
    assert!(randomness < 1 << 56);
    ((tag as u128) << 120) | ((case as u128) << 56) | randomness as u128
}

fn root(trace: u128, name: &str) -> SpanBuilder {
    span(trace, 1).name(name).kind(SpanKind::Server).at(0, 2000)
}

fn child(trace: u128, id: u64, name: &str) -> SpanBuilder {
    span(trace, id).name(name).parent(1).at(10, 20)
}

struct Case {
    name: &'static str,
    trace: u128,
    spans: Vec<SpanBuilder>,
    /// The rule expected in `sampling.rule`; `None` when the trace must be dropped.
    kept_by: Option<&'static str>,
}

fn example_cases(tag: u8) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name, randomness, kept_by, build: &dyn Fn(u128) -> Vec<SpanBuilder>| {
        let trace = tid(tag, cases.len() as u8 + 1, randomness);
        cases.push(Case {
            name,
            trace,
            spans: build(trace),
            kept_by,
        });
    };
    let r = 0x00ab_cdef_0123_4567; // any randomness: nothing below depends on it
    add("error in a child", r, Some("errors"), &|t| {
        vec![
            root(t, "POST /v1/generate"),
            child(t, 2, "generate").error(),
        ]
    });
    add("a stage over 5 minutes", r, Some("slow-stage"), &|t| {
        vec![
            root(t, "POST /v1/video").at(0, 400_000),
            child(t, 2, "video_synth").at(10, 301_000),
        ]
    });
    // `slower_than` needs 200 spans of the stage before it judges one: not yet.
    add(
        "a slow stage before its sketch is warm",
        r,
        Some("rest"),
        &|t| {
            vec![
                root(t, "POST /v1/generate"),
                child(t, 2, "rerank").at(10, 1500),
            ]
        },
    );
    add(
        "50,000 input tokens over two model calls",
        r,
        Some("big-spender"),
        &|t| {
            vec![
                root(t, "POST /v1/generate"),
                child(t, 2, "chat").attr_int("gen_ai.usage.input_tokens", 30_000),
                child(t, 3, "chat").attr_int("gen_ai.usage.input_tokens", 20_000),
            ]
        },
    );
    add("fewer tokens", r, Some("rest"), &|t| {
        vec![
            root(t, "POST /v1/generate"),
            child(t, 2, "chat").attr_int("gen_ai.usage.input_tokens", 30_000),
            child(t, 3, "chat").attr_int("gen_ai.usage.input_tokens", 19_999),
        ]
    });
    add("experiment", r, Some("flagged"), &|t| {
        vec![
            root(t, "POST /v1/generate"),
            child(t, 2, "generate").attr("experiment.id", "exp-42"),
        ]
    });
    add("premium root", r, Some("flagged"), &|t| {
        vec![
            root(t, "POST /v1/generate").attr("user.tier", "premium"),
            child(t, 2, "generate"),
        ]
    });
    add("premium only on a child span", r, Some("rest"), &|t| {
        vec![
            root(t, "POST /v1/generate").attr("user.tier", "free"),
            child(t, 2, "generate").attr("user.tier", "premium"),
        ]
    });
    add("healthz", r, None, &|t| vec![root(t, "GET /healthz")]);
    add(
        "erroring healthz (errors comes first)",
        r,
        Some("errors"),
        &|t| vec![root(t, "GET /healthz"), child(t, 2, "db.ping").error()],
    );
    add(
        "healthz in an experiment (flagged comes first)",
        r,
        Some("flagged"),
        &|t| vec![root(t, "GET /healthz").attr("experiment.id", "exp-7")],
    );
    // Far below the adaptive target (20 traces/s), `rest` keeps every trace it sees.
    add("free tier", r, Some("rest"), &|t| {
        vec![root(t, "POST /v1/generate").attr("user.tier", "free")]
    });
    cases
}

async fn check_example(transport: Transport, tag: u8) {
    let (daemon, sink) = start_example().await;
    let cases = example_cases(tag);
    let mut expected: BTreeMap<u128, (Vec<u64>, Vec<String>)> = BTreeMap::new();
    for c in &cases {
        daemon
            .send_ok(transport, &request("svc", c.spans.clone()))
            .await;
        if let Some(rule) = c.kept_by {
            let mut ids: Vec<u64> = c
                .spans
                .iter()
                .map(|s| u64::from_be_bytes(s.0.span_id.clone().try_into().unwrap()))
                .collect();
            ids.sort_unstable();
            expected.insert(c.trace, (ids, vec![rule.to_string()]));
        }
    }
    let kept_spans: usize = expected.values().map(|(ids, _)| ids.len()).sum();
    assert!(
        sink.wait_for_spans(kept_spans, PATIENCE).await,
        "{transport:?}: kept spans reach the sink after root_wait; got {:?}",
        summary(&sink.spans())
    );
    // Everything buffered is decided at shutdown: the sink's content is final after stop().
    daemon.stop().await;
    let got = summary(&sink.spans());
    for c in &cases {
        assert_eq!(
            got.get(&c.trace),
            expected.get(&c.trace),
            "{transport:?}, case `{}` (trace {:032x}): expected {}",
            c.name,
            c.trace,
            c.kept_by
                .map_or("dropped".to_string(), |r| format!("kept by {r}")),
        );
    }
    assert_eq!(
        got, expected,
        "{transport:?}: nothing else reached the sink"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_rules_over_grpc() {
    check_example(Transport::Grpc, 0x11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_rules_over_http_protobuf() {
    check_example(Transport::HttpProtobuf, 0x12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_rules_over_http_json() {
    check_example(Transport::HttpJson, 0x13).await;
}

fn sha256_16(s: &str) -> String {
    format!(
        "sha256:{}",
        &hex::encode(Sha256::digest(s.as_bytes()))[..16]
    )
}

/// A trace whose root carries payload attributes.
fn payload_trace(trace: u128, root_attr: (&str, &str)) -> ExportTraceServiceRequest {
    request(
        "svc",
        [
            root(trace, "POST /v1/generate")
                .attr(root_attr.0, root_attr.1)
                .attr("prompt", PROMPT)
                .attr("payload.input", "raw input bytes")
                .attr("caption", &caption())
                .attr("model", "llm-large")
                .attr_int("tokens", 812),
            child(trace, 2, "generate").attr("prompt", "second prompt"),
        ],
    )
}

const PROMPT: &str = "a watercolor of a lighthouse at dusk, seagulls, 4k";

/// 600 two-byte characters (1200 bytes): truncation must cut on a character boundary.
fn caption() -> String {
    "é".repeat(600)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_fidelity_hashes_and_truncates_payloads_and_full_keeps_them() {
    let (daemon, sink) = start_example().await;
    let mut traces = Vec::new();
    for (i, t) in [Transport::Grpc, Transport::HttpJson]
        .into_iter()
        .enumerate()
    {
        let ordinary = tid(0x21, i as u8, 1);
        let experiment = tid(0x22, i as u8, 1);
        daemon
            .send_ok(t, &payload_trace(ordinary, ("user.tier", "free")))
            .await;
        daemon
            .send_ok(t, &payload_trace(experiment, ("experiment.id", "exp-1")))
            .await;
        traces.push((t, ordinary, experiment));
    }
    assert!(sink.wait_for_spans(8, PATIENCE).await);
    daemon.stop().await;
    let spans = by_trace(&sink.spans());
    assert_eq!(spans.len(), 4, "{:?}", summary(&sink.spans()));

    for (t, ordinary, experiment) in traces {
        // the rest: the `light` profile.
        let lite = &spans[&ordinary];
        let root = lite.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
        assert_eq!(rule_of(root), Some("rest"), "{t:?}");
        assert_eq!(
            attr_str(root, "prompt"),
            Some(sha256_16(PROMPT).as_str()),
            "{t:?}"
        );
        assert_eq!(attr_int(root, "prompt.length"), Some(PROMPT.len() as i64));
        assert_eq!(
            attr_str(root, "payload.input"),
            Some(sha256_16("raw input bytes").as_str()),
            "`payload.*` matches payload.input"
        );
        assert_eq!(attr_int(root, "payload.input.length"), Some(15));
        let cut = attr_str(root, "caption").unwrap();
        assert!(cut.len() <= 256, "{t:?}: caption of {} bytes", cut.len());
        assert!(cut.len() >= 200, "{t:?}: a useful prefix is kept: {cut}");
        let kept = cut.strip_suffix('…').expect("truncation marker");
        assert!(
            caption().starts_with(kept),
            "{t:?}: a prefix of the original"
        );
        assert_eq!(
            attr_str(root, "model"),
            Some("llm-large"),
            "short values stay"
        );
        assert_eq!(attr_int(root, "tokens"), Some(812), "numbers stay");
        let second = lite.iter().find(|s| !s.parent_span_id.is_empty()).unwrap();
        assert_eq!(
            attr_str(second, "prompt"),
            Some(sha256_16("second prompt").as_str()),
            "{t:?}: every span of the trace is reduced"
        );
        assert_eq!(rule_of(second), Some("rest"));

        // experiments: full fidelity, nothing rewritten.
        let full = &spans[&experiment];
        let root = full.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
        assert_eq!(rule_of(root), Some("flagged"), "{t:?}");
        assert_eq!(attr_str(root, "prompt"), Some(PROMPT), "{t:?}");
        assert_eq!(attr_str(root, "payload.input"), Some("raw input bytes"));
        assert_eq!(attr_str(root, "caption"), Some(caption().as_str()));
        assert_eq!(attr_int(root, "prompt.length"), None);
        let second = full.iter().find(|s| !s.parent_span_id.is_empty()).unwrap();
        assert_eq!(attr_str(second, "prompt"), Some("second prompt"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_annotate_kept_spans_are_forwarded_unchanged() {
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let daemon = Daemon::start(&example_config(&endpoint, false)).await;
    let t = tid(0x31, 1, 1);
    let sent = request(
        "svc",
        [
            root(t, "POST /v1/generate").attr("prompt", PROMPT),
            child(t, 2, "generate").error(),
        ],
    );
    daemon.send_ok(Transport::HttpProtobuf, &sent).await;
    assert!(sink.wait_for_spans(2, PATIENCE).await);
    daemon.stop().await;
    let got = sink.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0], sent,
        "resource, scope and spans as sent, no sampling.rule"
    );
}
