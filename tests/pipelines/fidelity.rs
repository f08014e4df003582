//! The `gen_ai` preset and media reduction on spans the daemon forwards.

use crate::support::*;
use base64::Engine;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use tailsift::fixtures::{attr_str, kv_str, request_with, span};

const CONFIG: &str = r#"
sampling:
  decision_wait: 300ms
  root_wait: 50ms
  rules:
    - name: llm
      keep: true
      fidelity: light
fidelity:
  light:
    presets: [gen_ai]
    media: { min_bytes: 1KiB }
"#;

#[tokio::test]
async fn gen_ai_content_hashed_tokens_kept_and_a_frame_reduced() {
    let (daemon, sink) = crate::with_sink(CONFIG).await;
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0];
    jpeg.resize(20_000, 9);
    let frame = base64::engine::general_purpose::STANDARD.encode(&jpeg);
    let messages = r#"[{"role":"user","content":"my secret"}]"#;
    let mut s = span(7, 1)
        .name("chat")
        .attr("gen_ai.input.messages", messages)
        .attr("gen_ai.request.model", "m-large")
        .attr_int("gen_ai.usage.input_tokens", 812)
        .attr("thumbnail_b64", &frame)
        .build();
    s.events = vec![Event {
        name: "gen_ai.content.completion".into(),
        attributes: vec![kv_str("gen_ai.completion", "the secret reply")],
        ..Default::default()
    }];
    daemon
        .send_ok(Transport::HttpJson, &request_with("llm", vec![], vec![s]))
        .await;
    assert!(sink.wait_for_spans(1, PATIENCE).await);
    let got = &sink.spans()[0];
    assert!(attr_str(got, "gen_ai.input.messages")
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        attr_int(got, "gen_ai.input.messages.length"),
        Some(messages.len() as i64)
    );
    assert_eq!(attr_int(got, "gen_ai.usage.input_tokens"), Some(812));
    assert_eq!(attr_str(got, "gen_ai.request.model"), Some("m-large"));
    assert_eq!(
        attr_str(got, "thumbnail_b64.media_type"),
        Some("image/jpeg")
    );
    assert_eq!(
        attr_int(got, "thumbnail_b64.size"),
        Some(frame.len() as i64)
    );
    let completion = &got.events[0].attributes[0];
    let v = format!("{:?}", completion.value);
    assert!(v.contains("sha256:") && !v.contains("secret"), "{v}");
    let m = daemon.scrape().await;
    assert_eq!(
        m.get(
            "tailsift_fidelity_media_reduced_total",
            &[("profile", "light")]
        ),
        Some(1.0)
    );
    daemon.stop().await;
}
