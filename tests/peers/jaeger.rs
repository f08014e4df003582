//! Jaeger v2 as tailsift's backend: tailsift exports over OTLP gRPC and OTLP/HTTP to a real
//! Jaeger (in-memory store), and the test reads the traces back through Jaeger's query API.

use crate::bins::{free_ports, Peer, PeerProc};
use crate::support::*;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use tailsift::fixtures::{request, span, SpanBuilder};

/// Jaeger v2 with OTLP receivers and the query API on the given ports, spans kept in memory.
fn jaeger_config(grpc: u16, http: u16, query: u16, query_grpc: u16) -> String {
    format!(
        r#"
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: {{ level: none }}
    logs: {{ level: warn }}
extensions:
  jaeger_query:
    storage: {{ traces: memstore }}
    http: {{ endpoint: "127.0.0.1:{query}" }}
    grpc: {{ endpoint: "127.0.0.1:{query_grpc}" }}
  jaeger_storage:
    backends:
      memstore: {{ memory: {{ max_traces: 100000 }} }}
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"#
    )
}

/// A running Jaeger: its OTLP endpoints and its query API.
pub struct Jaeger {
    /// Killed when the test drops it.
    _proc: PeerProc,
    pub otlp_grpc: String,
    pub otlp_http: String,
    pub query: SocketAddr,
}

impl Jaeger {
    pub async fn start() -> Option<Jaeger> {
        let bin = Peer::Jaeger.binary()?;
        let p = free_ports(4);
        let proc = PeerProc::start(&bin, &jaeger_config(p[0], p[1], p[2], p[3]), &p[..3]).await;
        Some(Jaeger {
            _proc: proc,
            otlp_grpc: format!("http://127.0.0.1:{}", p[0]),
            otlp_http: format!("http://127.0.0.1:{}", p[1]),
            query: crate::bins::local(p[2]),
        })
    }

    /// The trace as Jaeger's query API returns it (`GET /api/traces/{id}`): its spans by span
    /// id, each with its tags (key to value), or `None` when Jaeger does not have it.
    pub async fn trace(&self, trace: u128) -> Option<BTreeMap<u64, BTreeMap<String, Value>>> {
        let r = http_get(self.query, &format!("/api/traces/{trace:032x}")).await;
        if r.status == 404 {
            return None;
        }
        assert_eq!(r.status, 200, "Jaeger query: {}", r.text());
        let body: Value = serde_json::from_slice(&r.body).expect("Jaeger answers JSON");
        let data = body["data"].as_array().cloned().unwrap_or_default();
        let t = data.first()?;
        let mut spans = BTreeMap::new();
        for s in t["spans"].as_array().expect("spans") {
            let id = u64::from_str_radix(s["spanID"].as_str().expect("spanID"), 16).unwrap();
            let tags = s["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|kv| (kv["key"].as_str().unwrap().to_string(), kv["value"].clone()))
                .collect();
            spans.insert(id, tags);
        }
        Some(spans)
    }

    /// Waits (bounded) until Jaeger holds `n` spans of `trace`.
    pub async fn wait_for_trace(
        &self,
        trace: u128,
        n: usize,
    ) -> Option<BTreeMap<u64, BTreeMap<String, Value>>> {
        let until = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.trace(trace).await;
            if got.as_ref().is_some_and(|t| t.len() >= n) || std::time::Instant::now() >= until {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

const PROMPT: &str = "Write a poem about the sea, in the style of a shipping forecast, 12 lines.";

fn tailsift_config(exporter: &str, endpoint: &str) -> String {
    format!(
        r#"
sampling:
  decision_wait: 1s
  root_wait: 200ms
  rules:
    - name: errors
      when: {{ span: {{ status: error }} }}
      keep: true
    - name: premium
      when: {{ span: {{ attributes: {{ user.tier: premium }} }} }}
      keep: true
      fidelity: lite
    - name: rest
      drop: true
fidelity:
  lite:
    hash_attributes: [prompt]
exporters:
  jaeger:
    protocol: {exporter}
    endpoint: "{endpoint}"
    batch: {{ timeout: 20ms }}
"#
    )
}

fn trace_of_n(trace: u128, n: u64) -> Vec<SpanBuilder> {
    let mut spans = vec![span(trace, 1)
        .name("POST /v1/generate")
        .kind(SpanKind::Server)
        .at(0, 900)];
    for i in 2..=n {
        spans.push(
            span(trace, i)
                .name("stage")
                .parent(1)
                .at(10 * i, 50)
                .attr("prompt", PROMPT),
        );
    }
    spans
}

/// The ids of every trace in a test run: `tag` in the high bits, so Jaeger prints all 32 hex
/// digits, and one id space per exporter protocol.
fn ids(tag: u128) -> [u128; 5] {
    [1, 2, 3, 4, 5].map(|n| id128(tag, n))
}

async fn run_against_jaeger(jaeger: &Jaeger, exporter: &str, endpoint: &str, tag: u128) {
    let daemon = Daemon::start(&tailsift_config(exporter, endpoint)).await;
    let [error, premium, premium2, plain, plain_late] = ids(tag);
    let mut error_spans = trace_of_n(error, 5);
    error_spans[3] = error_spans[3].clone().error();
    daemon
        .send_ok(Transport::Grpc, &request("gen", error_spans))
        .await;
    let premium_spans = |t| {
        trace_of_n(t, 3)
            .into_iter()
            .map(|s| s.attr("user.tier", "premium"))
    };
    daemon
        .send_ok(
            Transport::HttpProtobuf,
            &request("gen", premium_spans(premium)),
        )
        .await;
    daemon
        .send_ok(
            Transport::HttpJson,
            &request("gen", premium_spans(premium2)),
        )
        .await;
    daemon
        .send_ok(Transport::Grpc, &request("gen", trace_of_n(plain, 4)))
        .await;
    daemon
        .send_ok(Transport::Grpc, &request("gen", trace_of_n(plain_late, 2)))
        .await;

    // Kept: complete, with every span, each annotated with its rule.
    let got = jaeger
        .wait_for_trace(error, 5)
        .await
        .expect("the error trace is in Jaeger");
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5],
        "{exporter}"
    );
    for (id, tags) in &got {
        assert_eq!(
            tags.get("sampling.rule"),
            Some(&Value::from("errors")),
            "{exporter} span {id}"
        );
    }
    // The full-fidelity trace keeps its prompt as sent.
    assert_eq!(
        got[&2].get("prompt"),
        Some(&Value::from(PROMPT)),
        "{exporter}"
    );

    // Reduced fidelity: the prompt is hashed, its length recorded; equal prompts, equal hashes.
    let mut hashes = BTreeSet::new();
    for t in [premium, premium2] {
        let got = jaeger
            .wait_for_trace(t, 3)
            .await
            .expect("premium trace in Jaeger");
        assert_eq!(got.len(), 3, "{exporter}: every span of the premium trace");
        for (id, tags) in &got {
            assert_eq!(tags.get("sampling.rule"), Some(&Value::from("premium")));
            if *id == 1 {
                continue;
            }
            let hashed = tags["prompt"]
                .as_str()
                .expect("prompt is a string")
                .to_string();
            assert!(
                hashed.starts_with("sha256:") && hashed.len() == 7 + 16,
                "{exporter}: prompt hashed, got {hashed:?}"
            );
            assert_eq!(
                tags.get("prompt.length"),
                Some(&Value::from(PROMPT.len() as i64))
            );
            hashes.insert(hashed);
        }
    }
    assert_eq!(hashes.len(), 1, "one prompt, one hash: {hashes:?}");

    // Late spans: one for the kept error trace joins it; one for a dropped trace stays out.
    daemon
        .send_ok(
            Transport::Grpc,
            &request("gen", [span(error, 9).parent(1).name("late").at(950, 5)]),
        )
        .await;
    daemon
        .send_ok(
            Transport::Grpc,
            &request("gen", [span(plain_late, 9).parent(1).error()]),
        )
        .await;
    let got = jaeger.wait_for_trace(error, 6).await.expect("error trace");
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 9],
        "{exporter}: late span joined"
    );
    assert_eq!(got[&9].get("sampling.rule"), Some(&Value::from("errors")));

    // Dropped: absent. Checked after the kept ones arrived and the daemon flushed on shutdown,
    // so an absent trace is not merely slower.
    daemon.stop().await;
    for t in [plain, plain_late] {
        assert!(
            jaeger.trace(t).await.is_none(),
            "{exporter}: dropped trace {t:032x} is absent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_receives_kept_traces_over_otlp_grpc_and_http() {
    let Some(jaeger) = Jaeger::start().await else {
        return;
    };
    run_against_jaeger(
        &jaeger,
        "otlp_grpc",
        &jaeger.otlp_grpc,
        0xA1A1_0000_0000_0001,
    )
    .await;
    run_against_jaeger(
        &jaeger,
        "otlp_http",
        &jaeger.otlp_http,
        0xB2B2_0000_0000_0002,
    )
    .await;
}
