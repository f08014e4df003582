//! A slow stage caught without a threshold, and a token budget summed across spans.

use crate::support::*;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::collections::BTreeSet;
use std::time::Duration;
use tailsift::fixtures::{request, span, SpanBuilder};

const CONFIG: &str = r#"
sampling:
  decision_wait: 500ms
  root_wait: 100ms
  rules:
    - name: errors
      when: { span: { status: error } }
      keep: true
    - name: slow-stage
      when: { span: { slower_than: { quantile: 0.99, min_samples: 50, window: 10m } } }
      keep: true
    - name: token-budget
      when: { trace: { sum: { attribute: gen_ai.usage.input_tokens, min: 50000 } } }
      keep: true
    - name: chatty
      when: { trace: { count: { span: { name: chat }, min: 4 } } }
      keep: true
    - name: rest
      drop: true
"#;

fn video(trace: u128, synth_ms: u64) -> Vec<SpanBuilder> {
    vec![
        span(trace, 1)
            .name("POST /v1/video")
            .kind(SpanKind::Server)
            .at(0, synth_ms + 2000),
        span(trace, 2)
            .name("video_synth")
            .parent(1)
            .at(1000, synth_ms),
    ]
}

fn chat(trace: u128, id: u64, tokens: i64) -> SpanBuilder {
    span(trace, id)
        .name("chat")
        .parent(1)
        .attr("gen_ai.request.model", "m-large")
        .attr_int("gen_ai.usage.input_tokens", tokens)
}

#[tokio::test]
async fn slow_stage_and_token_budget_end_to_end() {
    let (daemon, sink) = crate::with_sink(CONFIG).await;

    // 80 ordinary video traces (8 s synthesis, give or take) warm the stage up.
    let ordinary: Vec<SpanBuilder> = (0..80u128)
        .flat_map(|t| video(0x100 + t, 7_800 + (t as u64 % 4) * 100))
        .collect();
    daemon
        .send_ok(Transport::Grpc, &request("video", ordinary))
        .await;
    // A 45 s synthesis: no threshold in the config, but far above the stage's p99.
    daemon
        .send_ok(Transport::Grpc, &request("video", video(0x900, 45_000)))
        .await;
    // 60000 tokens over three calls in two requests; and a trace of 30000.
    let root = |t: u128| {
        span(t, 1)
            .name("POST /v1/chat")
            .kind(SpanKind::Server)
            .at(0, 3000)
    };
    let first = vec![root(0xa00), chat(0xa00, 2, 25_000), chat(0xa00, 3, 5_000)];
    daemon
        .send_ok(Transport::HttpProtobuf, &request("llm", first))
        .await;
    daemon
        .send_ok(
            Transport::HttpJson,
            &request("llm", vec![chat(0xa00, 4, 30_000)]),
        )
        .await;
    let small = vec![root(0xb00), chat(0xb00, 2, 20_000), chat(0xb00, 3, 10_000)];
    daemon
        .send_ok(Transport::Grpc, &request("llm", small))
        .await;
    // Four calls of few tokens: kept by the call count.
    let mut many = vec![root(0xc00)];
    many.extend((2..6).map(|i| chat(0xc00, i, 10)));
    daemon.send_ok(Transport::Grpc, &request("llm", many)).await;

    // 2 + 4 + 5 spans are kept.
    assert!(sink.wait_for_spans(11, PATIENCE).await, "kept spans arrive");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let spans = sink.spans();
    let kept: BTreeSet<(u128, Option<String>)> = spans
        .iter()
        .map(|s| (trace_of(s), rule_of(s).map(str::to_string)))
        .collect();
    let want: BTreeSet<(u128, Option<String>)> = [
        (0x900, "slow-stage"),
        (0xa00, "token-budget"),
        (0xc00, "chatty"),
    ]
    .into_iter()
    .map(|(t, r)| (t, Some(r.to_string())))
    .collect();
    assert_eq!(
        kept, want,
        "only the slow stage, the big spender and the chatty trace"
    );
    assert_eq!(spans.len(), 11);

    // The stage's quantile is exported (published every few seconds).
    let published = wait_for_async(Duration::from_secs(8), || async {
        let m = daemon.scrape().await;
        m.get(
            "tailsift_stage_duration_quantile_seconds",
            &[
                ("service", "video"),
                ("name", "video_synth"),
                ("quantile", "0.99"),
            ],
        )
        .is_some_and(|v| (7.5..9.0).contains(&v))
    })
    .await;
    assert!(published, "p99 of video_synth is about 8 s");
    let m = daemon.scrape().await;
    assert_eq!(
        m.get("tailsift_stages", &[]),
        Some(4.0),
        "two stages per service: the roots, video_synth and chat"
    );
    daemon.stop().await;
}
