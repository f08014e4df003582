//! `simulate` predicts the daemon exactly: the same requests, decided by the same rules, give
//! byte-identical forwarded spans (annotation, `ot=th` accounting, adjusted count, fidelity)
//! from the daemon (read back from a real OTLP/HTTP backend's raw bodies) and from
//! `simulate::replay_forwarding`.

use crate::support;

use bytes::Bytes;
use opentelemetry_proto::tonic::trace::v1::Span as PbSpan;
use prost::Message;
use std::collections::BTreeMap;
use support::*;
use tailsift::fixtures::{encode, pipeline_trace, request, span, SpanBuilder};
use tailsift::otlp::{ingest, Interest};

const CONFIG: &str = r#"
sampling:
  decision_wait: 200ms
  root_wait: 50ms
  tick: 10ms
  adjusted_count_attribute: SampleRate
  rules:
    - name: errors
      when: { span: { status: error } }
      keep: true
    - name: healthz
      when: { root: { name: "GET /healthz" } }
      drop: true
    - name: premium
      when: { root: { attributes: { user.tier: premium } } }
      probability: 0.5
      fidelity: lite
    - name: free
      when: { root: { attributes: { user.tier: free } } }
      probability: 0.25
exporters:
  sink:
    protocol: otlp_http
    endpoint: "SINK"
    batch: { timeout: 20ms }
fidelity:
  lite:
    hash_attributes: [prompt]
    max_attribute_bytes: 32
"#;

/// Every forwarded span's encoding, by trace id and span id.
type Forwarded = BTreeMap<(Vec<u8>, Vec<u8>), Vec<Bytes>>;

fn add(out: &mut Forwarded, encoded: Bytes) {
    let s = PbSpan::decode(encoded.as_ref()).expect("a span");
    out.entry((s.trace_id, s.span_id))
        .or_default()
        .push(encoded);
}

/// The requests: error, premium (hashed prompts, probability 1/2), free (1/4), health checks,
/// traces without a rule (kept by default), spread over requests as clients send them.
fn requests() -> Vec<Bytes> {
    let mut reqs = Vec::new();
    for t in 1..=40u128 {
        // Trace ids whose low 56 bits spread over the whole randomness range.
        let id = (t << 64) | (t.wrapping_mul(0x0123_4567_89ab_cdef) & ((1 << 56) - 1));
        let mut spans = pipeline_trace(id, 4, t % 7 == 0);
        let tier = |spans: &mut Vec<SpanBuilder>, tier: &str| {
            for s in spans.iter_mut() {
                s.0.attributes.retain(|kv| kv.key != "user.tier");
                *s = s
                    .clone()
                    .attr("user.tier", tier)
                    .attr("note", &"n".repeat(100));
            }
        };
        match t % 4 {
            0 => spans[0] = spans[0].clone().name("GET /healthz"),
            1 => tier(&mut spans, "premium"),
            2 => {}
            _ => tier(&mut spans, "other"),
        }
        let (first, second) = spans.split_at(2);
        reqs.push(encode(&request("api", first.to_vec())));
        reqs.push(encode(&request("worker", second.to_vec())));
    }
    // A span whose trace has no root and no rule-relevant attributes: the default rule.
    reqs.push(encode(&request("api", [span(99 << 64 | 5, 1).name("x")])));
    reqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_forwards_the_same_bytes_as_the_daemon() {
    let sink = HttpSink::default();
    let endpoint = sink.serve().await;
    let yaml = CONFIG.replace("SINK", &endpoint);
    let requests = requests();

    // The daemon: every request sent, then shutdown decides what is left and flushes.
    let daemon = Daemon::start(&yaml).await;
    for body in &requests {
        let req =
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                body.as_ref(),
            )
            .unwrap();
        daemon.send_ok(Transport::HttpProtobuf, &req).await;
    }
    daemon.stop().await;
    let mut from_daemon = Forwarded::new();
    for (_, headers, body) in sink.received.lock().unwrap().iter() {
        let raw = match headers.get("content-encoding").map(|v| v.as_bytes()) {
            Some(b"gzip") => Bytes::from(sink::gunzip(body)),
            _ => body.clone(),
        };
        let got = ingest(&raw, &Interest::default()).expect("the exporter sends valid OTLP");
        for (_, s) in got.spans {
            add(&mut from_daemon, s.raw_bytes());
        }
    }

    // simulate, on the same requests and config.
    let config = tailsift::config::parse(&format!("{RECEIVERS}{yaml}"), "test config").unwrap();
    let decider = tailsift::server::decider(&config).unwrap();
    let mut from_simulate = Forwarded::new();
    let report = tailsift::simulate::replay_forwarding(&*decider, &config, &requests, &[], |out| {
        let mut b = out.raw.to_vec();
        b.extend_from_slice(&out.suffix);
        add(&mut from_simulate, Bytes::from(b));
    })
    .unwrap();

    assert!(
        report.totals.kept_spans > 20 && report.totals.kept_spans < 160,
        "the rules keep some and drop some: {} kept",
        report.totals.kept_spans
    );
    assert_eq!(
        from_daemon.values().map(Vec::len).sum::<usize>() as u64,
        report.totals.kept_spans,
        "the daemon forwarded as many spans as simulate predicted"
    );
    assert_eq!(
        from_daemon.keys().collect::<Vec<_>>(),
        from_simulate.keys().collect::<Vec<_>>(),
        "the same spans are forwarded"
    );
    for (id, daemon_bytes) in &from_daemon {
        assert_eq!(
            daemon_bytes, &from_simulate[id],
            "span {id:02x?}: the daemon and simulate forward different bytes"
        );
    }
    // The cases that touch every part of the output stage are all present.
    let decoded: Vec<PbSpan> = from_daemon
        .values()
        .flatten()
        .map(|b| PbSpan::decode(b.as_ref()).unwrap())
        .collect();
    let has_attr = |s: &PbSpan, k: &str| s.attributes.iter().any(|kv| kv.key == k);
    assert!(
        decoded.iter().any(|s| has_attr(s, "prompt.length")),
        "a hashed prompt"
    );
    assert!(
        decoded.iter().any(|s| s.trace_state.contains("ot=th:")),
        "an ot=th threshold"
    );
    assert!(
        decoded.iter().any(|s| has_attr(s, "SampleRate")),
        "an adjusted count"
    );
    assert!(
        decoded.iter().all(|s| has_attr(s, "sampling.rule")),
        "every span annotated"
    );
}
